import type { Logger } from 'pino';
import { createResponse, type SipRequest, type SipResponse } from '../sip/message/message.js';
import { parseUri } from '../sip/message/uri.js';
import type { InviteServerTransaction, ServerTransaction } from '../sip/transaction/index.js';
import type { Inbound } from '../sip/transport/transport.js';
import type { UserAgent, UserAgentDelegate } from '../sip/user-agent.js';
import { ALLOW_HEADER } from './allow.js';
import { dialogKey, type CallContext, type CallObserver, type Credentials } from './call-context.js';
import { Call, newCallKey } from './call.js';
import { passThroughSdp, type SessionDescriptionHandler } from './session-description-handler.js';
import { describeDowngrade, onwardSecurity } from './transport-security.js';
import { otherSide, type Side, type TrunkPeers } from './trunk-peers.js';

export interface B2buaOptions {
  peers: TrunkPeers;
  logger: Logger;
  credentials?: Partial<Record<Side, Credentials>>;
  sdp?: SessionDescriptionHandler;
  observer?: CallObserver;
  timers?: { t1: number; t2: number };
  /** Calls callrec answers itself (feature codes); true when handled. */
  localService?: (ua: UserAgent, side: Side, tx: InviteServerTransaction, req: SipRequest, inbound: Inbound) => boolean;
}

/** Option tags we implement; a Require naming any other gets 420 (RFC 3261 §8.2.2.3). */
const SUPPORTED_OPTIONS = new Set(['100rel']);

/**
 * The trunk B2BUA: takes every request the UA core receives, refuses what
 * does not come from the PBX or the provider (SPEC S4), answers OPTIONS
 * locally, turns each new INVITE into a Call and hands in-dialog requests to
 * the call whose dialog they name.
 */
export class B2bua implements UserAgentDelegate {
  private readonly dialogs = new Map<string, { call: Call; side: Side }>();
  private readonly calls = new Set<Call>();
  private readonly byInviteTx = new WeakMap<InviteServerTransaction, Call>();
  private readonly preparing = new WeakMap<InviteServerTransaction, { cancelled: boolean }>();
  private ctx: CallContext | undefined;

  constructor(private readonly options: B2buaOptions) {}

  /** Connects the B2BUA to its UA core (the UA is created with this object as delegate). */
  attach(ua: UserAgent): void {
    this.ctx = {
      ua,
      peers: this.options.peers,
      sdp: this.options.sdp ?? passThroughSdp,
      logger: this.options.logger,
      credentials: this.options.credentials ?? {},
      observer: this.options.observer ?? {},
      timers: this.options.timers ?? { t1: 500, t2: 4000 },
      bindDialog: (key, call, side) => this.dialogs.set(key, { call, side }),
      unbindCall: (call) => {
        this.calls.delete(call);
        this.dialogs.delete(dialogKey(call.aCallId, call.aTag));
        this.dialogs.delete(dialogKey(call.bCallId, call.bFromTag));
      },
    };
  }

  private get context(): CallContext {
    if (this.ctx === undefined) throw new Error('B2bua used before attach()');
    return this.ctx;
  }

  get activeCalls(): readonly Call[] {
    return [...this.calls];
  }

  onRequest(tx: ServerTransaction, inbound: Inbound): void {
    const req = inbound.message as SipRequest;
    const side = this.options.peers.classify(inbound.source);
    if (side === undefined) {
      this.refuse(tx, req, inbound);
      return;
    }
    const toTag = req.toTag;
    if (toTag !== undefined) {
      const entry = this.dialogs.get(dialogKey(req.callId, toTag));
      if (entry === undefined || entry.side !== side) {
        tx.respond(createResponse(req, 481));
        return;
      }
      entry.call.relay.onRequest(side, tx, req);
      return;
    }
    switch (req.method) {
      case 'INVITE':
        this.newCall(side, tx as InviteServerTransaction, req, inbound);
        return;
      case 'OPTIONS': {
        // SPEC S1: out-of-dialog OPTIONS (keep-alive) is answered locally.
        const res = createResponse(req, 200, undefined, this.context.ua.newTag());
        res.set('Allow', ALLOW_HEADER).set('Accept', 'application/sdp').set('Supported', '100rel');
        tx.respond(res);
        return;
      }
      default: {
        const res = createResponse(req, 405, undefined, this.context.ua.newTag());
        res.set('Allow', ALLOW_HEADER);
        tx.respond(res);
      }
    }
  }

  /** SPEC S4: a recorder that relays anyone's calls is a toll-fraud hole. */
  private refuse(tx: ServerTransaction, req: SipRequest, inbound: Inbound): void {
    this.options.logger.warn(
      { event: 'sip.refused', status: 403, method: req.method, source: inbound.source, callId: req.callId },
      'request from an address that is neither PBX nor provider refused',
    );
    tx.respond(createResponse(req, 403, 'Forbidden', this.context.ua.newTag()));
  }

  private newCall(side: Side, tx: InviteServerTransaction, req: SipRequest, inbound: Inbound): void {
    const tag = this.context.ua.newTag();
    const mf = Number(req.get('Max-Forwards') ?? '70');
    if (mf <= 0) {
      // RFC 3261 §16.3 step 3, applied by the B2BUA as by a proxy.
      tx.respond(createResponse(req, 483, undefined, tag));
      return;
    }
    let scheme: string;
    try {
      scheme = parseUri(req.uri).scheme;
    } catch {
      scheme = '';
    }
    if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
      tx.respond(createResponse(req, 416, undefined, tag));
      return;
    }
    const unsupported = req.getAll('Require').map((o) => o.trim().toLowerCase()).filter((o) => !SUPPORTED_OPTIONS.has(o));
    if (unsupported.length > 0) {
      tx.respond(createResponse(req, 420, undefined, tag).set('Unsupported', unsupported.join(', ')));
      return;
    }
    const type = (req.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (req.body.length > 0 && type !== 'application/sdp') {
      tx.respond(createResponse(req, 415, undefined, tag).set('Accept', 'application/sdp'));
      return;
    }
    if (this.options.localService?.(this.context.ua, side, tx, req, inbound) === true) return;
    const onwardSide = otherSide(side);
    const verdict = onwardSecurity(req, inbound.source.protocol, this.options.peers.peer(onwardSide));
    if (verdict.kind === 'refuse') {
      this.options.logger.warn(
        { event: 'call.refused', status: verdict.status, callId: req.callId, side, onward: onwardSide, reason: verdict.explanation },
        `call refused with ${verdict.status}: ${verdict.explanation}`,
      );
      tx.respond(createResponse(req, verdict.status, verdict.reason, tag).set('Warning', verdict.warning));
      return;
    }
    if (verdict.downgrade !== undefined) {
      this.options.logger.warn(
        { event: 'call.downgraded', callId: req.callId, side: onwardSide, arrivedOver: inbound.source.protocol, ...verdict.downgrade },
        describeDowngrade(onwardSide, verdict.downgrade),
      );
    }
    void this.prepareAndStart(side, tx, req, inbound, tag);
  }

  /**
   * Media ports are bound before the first SDP is rewritten; a CANCEL that
   * arrives meanwhile is remembered and ends the call before it starts.
   */
  private async prepareAndStart(side: Side, tx: InviteServerTransaction, req: SipRequest, inbound: Inbound, tag: string): Promise<void> {
    const key = newCallKey(this.context.ua.random);
    const pending = { cancelled: false };
    this.preparing.set(tx, pending);
    try {
      await this.context.sdp.prepare(key, side);
    } catch (err) {
      this.preparing.delete(tx);
      this.options.logger.error({ event: 'call.refused', callId: req.callId, err: err instanceof Error ? err.message : String(err) }, 'cannot allocate media');
      tx.respond(createResponse(req, 503, undefined, tag).set('Retry-After', '5'));
      return;
    }
    this.preparing.delete(tx);
    if (pending.cancelled) {
      this.context.sdp.release(key);
      tx.respond(createResponse(req, 487, undefined, tag));
      return;
    }
    const call = new Call(this.context, key, side, req, tx, inbound);
    this.calls.add(call);
    this.byInviteTx.set(tx, call);
    call.start();
  }

  onAck(inbound: Inbound): void {
    const ack = inbound.message as SipRequest;
    const side = this.options.peers.classify(inbound.source);
    const toTag = ack.toTag;
    if (side === undefined || toTag === undefined) return;
    const entry = this.dialogs.get(dialogKey(ack.callId, toTag));
    if (entry === undefined || entry.side !== side) return;
    if (side === entry.call.aSide) entry.call.onAckFromA(ack);
    else entry.call.relay.onAck(side, ack);
  }

  onCancel(inviteTx: InviteServerTransaction): void {
    const pending = this.preparing.get(inviteTx);
    if (pending !== undefined) pending.cancelled = true;
    this.byInviteTx.get(inviteTx)?.cancelFromA();
  }

  onStrayResponse(inbound: Inbound): void {
    const res = inbound.message as SipResponse;
    const fromTag = res.fromTag;
    if (fromTag === undefined || res.status < 200 || res.status >= 300 || res.cseq.method !== 'INVITE') return;
    const entry = this.dialogs.get(dialogKey(res.callId, fromTag));
    if (entry === undefined) return;
    if (entry.side === entry.call.bSide) entry.call.onStrayResponse(res);
    else entry.call.relay.resendAck(entry.side, res);
  }

  /** Ends every call (shutdown). */
  close(): void {
    for (const call of [...this.calls]) call.hangUp('recorder shutting down');
  }
}
