import type { Clock, TimerHandle } from '../util/clock.js';
import { SipRequest, type SipResponse } from '../sip/message/message.js';
import { parseNameAddr } from '../sip/message/header-values.js';
import { formatHostPort } from '../sip/user-agent.js';
import { sendAuthenticated, type AuthContext } from './authenticated-request.js';

/** After a failed attempt, try again this much later unless the registrar says otherwise. */
const RETRY_AFTER_FAILURE_S = 60;

/**
 * SPEC S2: the optional REGISTER of the trunk at the provider (RFC 3261
 * §10.2), refreshed at half the granted interval so it never lapses, with
 * digest answers through the same path as calls.
 */
export class TrunkRegistration {
  private timer: TimerHandle | undefined;
  private seq = 0;
  private readonly callId: string;
  private readonly fromTag: string;
  private closed = false;
  /** Seconds granted by the registrar in the last 200, or undefined while not registered. */
  granted: number | undefined;

  constructor(
    private readonly ctx: AuthContext,
    private readonly clock: Clock,
    private readonly expires: number,
    private readonly username: string,
  ) {
    this.callId = ctx.ua.newCallId();
    this.fromTag = ctx.ua.newTag();
  }

  start(): void {
    this.send(this.expires);
  }

  private send(expires: number): void {
    const peer = this.ctx.peers.peer('provider');
    const scheme = peer.transport === 'tls' ? 'sips' : 'sip';
    const aor = `<${scheme}:${this.username}@${peer.host}>`;
    const req = new SipRequest('REGISTER', `${scheme}:${formatHostPort(peer)}`);
    req.append('From', `${aor};tag=${this.fromTag}`);
    req.append('To', aor);
    req.append('Call-ID', this.callId);
    req.append('CSeq', `${++this.seq} REGISTER`);
    req.append('Contact', this.ctx.ua.contact(peer.transport, this.username, scheme === 'sips'));
    req.append('Expires', String(expires));
    sendAuthenticated(this.ctx, 'provider', req, {
      onResponse: (res) => this.onResponse(res, expires),
      onTimeout: () => this.failed('timeout', RETRY_AFTER_FAILURE_S),
      onTransportError: (err) => this.failed(err.message, RETRY_AFTER_FAILURE_S),
    }, undefined, () => ++this.seq);
  }

  private onResponse(res: SipResponse, requested: number): void {
    if (res.status < 200 || this.closed) return;
    if (res.status === 423) {
      // RFC 3261 §10.2.8: Interval Too Brief names the minimum in Min-Expires.
      const min = Number(res.get('Min-Expires') ?? requested * 2);
      this.send(min);
      return;
    }
    if (res.status >= 300) {
      const retry = Number(res.get('Retry-After')?.split(/[ ;(]/)[0] ?? RETRY_AFTER_FAILURE_S);
      this.failed(`${res.status} ${res.reason}`, Number.isFinite(retry) && retry > 0 ? retry : RETRY_AFTER_FAILURE_S);
      return;
    }
    if (requested === 0) return;
    this.granted = grantedExpires(res, requested);
    this.ctx.logger.info({ event: 'register.ok', expires: this.granted }, 'trunk registered at provider');
    this.schedule(Math.max(1, Math.floor(this.granted / 2)));
  }

  private failed(reason: string, retryS: number): void {
    this.granted = undefined;
    this.ctx.logger.warn({ event: 'register.failed', reason, retrySeconds: retryS }, 'trunk registration failed');
    this.schedule(retryS);
  }

  private schedule(seconds: number): void {
    if (this.closed) return;
    this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.send(this.expires), seconds * 1000);
  }

  /** Stops refreshing and removes the binding (Expires: 0), best effort. */
  close(): void {
    if (this.closed) return;
    this.clock.clearTimeout(this.timer);
    if (this.granted !== undefined) this.send(0);
    this.closed = true;
  }
}

/** §10.2.4: the registrar's answer is the expires of our Contact, else Expires, else what we asked. */
function grantedExpires(res: SipResponse, requested: number): number {
  for (const c of res.getAll('Contact')) {
    try {
      const e = parseNameAddr(c).params.get('expires');
      if (e !== undefined && e !== null && /^\d+$/.test(e)) return Number(e);
    } catch {
      // an unreadable Contact of someone else's binding: ignore it
    }
  }
  const h = res.get('Expires');
  return h !== undefined && /^\d+$/.test(h) ? Number(h) : requested;
}
