import dgram from 'node:dgram';
import type { Logger } from 'pino';
import { createResponse, SipRequest, type SipResponse } from '../sip/message/message.js';
import type { ClientTransactionDelegate, InviteServerTransaction, ServerTransaction } from '../sip/transaction/index.js';
import { TransportManager } from '../sip/transport/transport-manager.js';
import type { Address, Inbound } from '../sip/transport/transport.js';
import { UserAgent, type UserAgentDelegate } from '../sip/user-agent.js';
import { systemClock } from '../util/clock.js';

/** What a replay endpoint does with requests that reach it. */
export interface ReplayEndpointHandlers {
  onInvite?(tx: InviteServerTransaction, req: SipRequest): void;
  onRequest?(tx: ServerTransaction, req: SipRequest): void;
  onAck?(req: SipRequest): void;
  onCancel?(tx: InviteServerTransaction): void;
}

/**
 * One end of a replayed call (the PBX or the provider): a SIP user agent on
 * the address callrec knows that end by, plus one RTP socket. It uses the
 * same stack as callrec; the verdict comes from the recording, not from it.
 */
export class ReplayEndpoint implements UserAgentDelegate {
  readonly transports: TransportManager;
  readonly ua: UserAgent;
  handlers: ReplayEndpointHandlers = {};
  rtp: dgram.Socket | undefined;
  rtpReceived = 0;

  private constructor(readonly address: Address, logger: Logger) {
    let ua: UserAgent | undefined;
    this.transports = new TransportManager({
      onMessage: (i) => ua?.receive(i),
      onParseError: (e, s, l) => ua?.receiveParseError(e, s, l),
    }, logger);
    ua = new UserAgent({ transports: this.transports, clock: systemClock, logger, delegate: this, product: 'callrec-replay' });
    this.ua = ua;
  }

  static async open(address: Address, logger: Logger): Promise<ReplayEndpoint> {
    const ep = new ReplayEndpoint(address, logger);
    await ep.transports.listen([{ protocol: address.protocol, host: address.host, port: address.port }]);
    const rtp = dgram.createSocket({ type: address.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      rtp.once('error', reject);
      rtp.bind(0, address.host, () => resolve());
    });
    rtp.on('message', () => ep.rtpReceived++);
    ep.rtp = rtp;
    return ep;
  }

  get rtpPort(): number {
    return this.rtp?.address().port ?? 0;
  }

  onRequest(tx: ServerTransaction, inbound: Inbound): void {
    const req = inbound.message as SipRequest;
    if (req.method === 'INVITE' && req.toTag === undefined && this.handlers.onInvite !== undefined) {
      this.handlers.onInvite(tx as InviteServerTransaction, req);
      return;
    }
    if (this.handlers.onRequest !== undefined) this.handlers.onRequest(tx, req);
    else tx.respond(createResponse(req, 200, undefined, this.ua.newTag()));
  }

  onAck(inbound: Inbound): void {
    this.handlers.onAck?.(inbound.message as SipRequest);
  }

  onCancel(inviteTx: InviteServerTransaction): void {
    this.handlers.onCancel?.(inviteTx);
  }

  onStrayResponse(): void {}

  send(req: SipRequest, to: Address, delegate: Partial<ClientTransactionDelegate> = {}): void {
    this.ua.sendRequest(req, to, {
      onResponse: (res: SipResponse, inbound: Inbound) => delegate.onResponse?.(res, inbound),
      onTimeout: () => delegate.onTimeout?.(),
      onTransportError: (err: Error) => delegate.onTransportError?.(err),
    });
  }

  close(): void {
    this.ua.close();
    this.transports.close();
    this.rtp?.close();
    this.rtp = undefined;
  }
}
