import { buildAuthorization, selectChallenge } from '../sip/auth/digest.js';
import { SipRequest, type SipResponse } from '../sip/message/message.js';
import type { ClientTransaction, ClientTransactionDelegate } from '../sip/transaction/index.js';
import type { Inbound } from '../sip/transport/transport.js';
import type { CallContext } from './call-context.js';
import type { Side } from './trunk-peers.js';

/** A second challenge means the credentials are wrong, unless it only says the nonce went stale (RFC 2617 §3.2.1). */
const MAX_STALE_RETRIES = 1;

/**
 * Sends a request to a trunk side through a client transaction and, when
 * that side challenges with 401/407 and we hold credentials for it, repeats
 * the request with an Authorization (RFC 3261 §22.2, §8.1.3.5: same Call-ID
 * and tags, a new CSeq and branch). Other responses reach `delegate`.
 */
/** The part of the call context a signed-in request needs (trunk REGISTER uses it too). */
export type AuthContext = Pick<CallContext, 'ua' | 'peers' | 'credentials' | 'logger'>;

export function sendAuthenticated(
  ctx: AuthContext,
  side: Side,
  request: SipRequest,
  delegate: ClientTransactionDelegate,
  onRetry?: (retried: SipRequest, tx: ClientTransaction) => void,
  nextCSeq?: () => number,
): ClientTransaction {
  const destination = ctx.peers.address(side);
  const credentials = ctx.credentials[side];
  let attempts = 0;
  let current = request;
  let nc = 0;
  const wrapped: ClientTransactionDelegate = {
    onResponse(res: SipResponse, inbound: Inbound): void {
      if ((res.status === 401 || res.status === 407) && credentials !== undefined) {
        const header = res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
        const challenge = selectChallenge(res.getAll(header));
        if (challenge !== undefined && (attempts === 0 || (challenge.stale && attempts <= MAX_STALE_RETRIES))) {
          attempts++;
          const retried = cloneForRetry(current, nextCSeq?.() ?? current.cseq.seq + 1);
          retried.set(res.status === 401 ? 'Authorization' : 'Proxy-Authorization', buildAuthorization(challenge, {
            username: credentials.username,
            password: credentials.password,
            method: retried.method,
            uri: retried.uri,
            body: retried.body,
            cnonce: ctx.ua.random(8),
            nc: ++nc,
          }));
          current = retried;
          ctx.logger.debug({ event: 'sip.auth', side, method: retried.method, realm: challenge.realm }, 'answering digest challenge');
          const tx = ctx.ua.sendRequest(retried, destination, wrapped);
          onRetry?.(retried, tx);
          return;
        }
      }
      delegate.onResponse(res, inbound);
    },
    onTimeout: () => delegate.onTimeout(),
    onTransportError: (err) => delegate.onTransportError(err),
  };
  return ctx.ua.sendRequest(request, destination, wrapped);
}

/** The same request with a new CSeq; Via and old credentials are dropped (the UA adds a new Via). */
function cloneForRetry(req: SipRequest, seq: number): SipRequest {
  const copy = new SipRequest(req.method, req.uri);
  for (const h of req.headers) {
    if (h.name === 'Via' || h.name === 'Authorization' || h.name === 'Proxy-Authorization') continue;
    copy.headers.push(h.name === 'CSeq' ? { name: 'CSeq', value: `${seq} ${req.method}` } : { ...h });
  }
  copy.body = req.body;
  return copy;
}
