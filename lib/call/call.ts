import { Dialog } from '../sip/dialog/dialog.js';
import { ReliableProvisionalSender } from '../sip/dialog/reliable-provisional-sender.js';
import { TwoXxRetransmitter } from '../sip/dialog/two-xx-retransmitter.js';
import { createResponse, SipRequest, type SipResponse } from '../sip/message/message.js';
import { buildCancel, type ClientTransaction, type InviteServerTransaction, type ServerTransaction } from '../sip/transaction/index.js';
import { formatAddress, isReliable, type Inbound } from '../sip/transport/transport.js';
import { TlsConnectError } from '../sip/message/errors.js';
import { formatHostPort } from '../sip/user-agent.js';
import { readAudioStream, restrictCodecs } from '../sdp/audio-stream.js';
import { dialogKey, type CallContext } from './call-context.js';
import { CARRIED_REQUEST_HEADERS, CARRIED_RESPONSE_HEADERS, copyHeaders, formatParty, partyOf, type PartyIdentity } from './identity-headers.js';
import { sendAuthenticated } from './authenticated-request.js';
import { DialogRelay } from './dialog-relay.js';
import { ALLOW_HEADER } from './allow.js';
import { directionFrom, otherSide, type Direction, type Side } from './trunk-peers.js';

export type CallState = 'setup' | 'early' | 'answered' | 'ended';

let callCounter = 0;

/** A process-unique key for a call (spool folder names, media sessions). */
export function newCallKey(random: (bytes: number) => string): string {
  return `c${(++callCounter).toString(36)}-${random(4)}`;
}

/**
 * One bridged call: the A-leg where the INVITE arrived (we are its UAS) and
 * the B-leg we create toward the other trunk side (we are its UAC), as two
 * independent dialogs with their own Call-ID, tags and CSeq. This file owns
 * call set-up and tear-down; in-dialog traffic goes through DialogRelay.
 */
export class Call {
  readonly direction: Direction;
  readonly bSide: Side;
  readonly caller: PartyIdentity;
  readonly callee: PartyIdentity;
  readonly startedAt: number;
  answeredAt: number | undefined;
  endedAt: number | undefined;
  state: CallState = 'setup';
  endReason: string | undefined;

  /** A-leg: our UAS dialog (early from the first response with our tag). */
  readonly aTag: string;
  readonly aDialog: Dialog;
  /** B-leg: the INVITE as last sent (it changes when we answer a challenge). */
  bInvite: SipRequest;
  readonly bCallId: string;
  readonly bFromTag: string;
  bDialog: Dialog | undefined;
  private readonly bEarly = new Map<string, Dialog>();
  private bTx: ClientTransaction | undefined;
  private bProvisional = false;
  private cancelWanted = false;
  private aFinal = false;
  private readonly aReliable: ReliableProvisionalSender | undefined;
  /** Our own SDP answer sent with a prompt: every later answer to the caller repeats it (RFC 3261 §13.2.1). */
  private aEarlyAnswer: Buffer | undefined;
  private aRetransmitter: TwoXxRetransmitter | undefined;
  /** A 2xx from B whose ACK must wait for A's ACK (delayed offer: the ACK carries the answer). */
  private bAckAwaitingAnswer: SipResponse | undefined;
  readonly relay: DialogRelay;
  /**
   * The caller asked for SIPS (a sips: Request-URI, RFC 3261 §19.1): the
   * B-leg is sips: too (B2bua refuses the call when that side is not TLS,
   * unless configured to downgrade), and our Contacts are sips: URIs.
   */
  readonly sips: boolean;

  constructor(
    private readonly ctx: CallContext,
    readonly key: string,
    readonly aSide: Side,
    readonly aInvite: SipRequest,
    readonly aTx: InviteServerTransaction,
    private readonly aInbound: Inbound,
  ) {
    this.direction = directionFrom(aSide);
    this.sips = /^sips:/i.test(aInvite.uri);
    this.bSide = otherSide(aSide);
    this.startedAt = ctx.ua.clock.wallNow();
    this.caller = partyOf(aInvite.get('P-Asserted-Identity') !== undefined ? aInvite.getAll('P-Asserted-Identity')[0] : aInvite.get('From'));
    this.callee = { ...partyOf(aInvite.get('To')), user: requestUser(aInvite) ?? partyOf(aInvite.get('To')).user };
    this.aTag = ctx.ua.newTag();
    this.aDialog = Dialog.asUas(aInvite, this.aTag, 'early');
    this.bCallId = ctx.ua.newCallId();
    this.bFromTag = ctx.ua.newTag();
    this.bInvite = this.buildBInvite();
    this.relay = new DialogRelay(ctx, this);
    if (supports100rel(aInvite)) {
      this.aReliable = new ReliableProvisionalSender(
        (res) => this.aTx.respond(res), aInvite.cseq.seq, ctx.ua.clock, ctx.timers, isReliable(aInbound.source.protocol),
        () => this.failA(500, 'no PRACK for reliable provisional response'), 1 + (parseInt(ctx.ua.random(3), 16) % 0x7fffff),
      );
    }
    aTx.delegate = { onTransportError: () => this.hangUp('A-leg transport error') };
  }

  get aCallId(): string {
    return this.aInvite.callId;
  }

  /** The dialog on a side, once it exists (B before answer: undefined or early). */
  dialogOf(side: Side): Dialog | undefined {
    return side === this.aSide ? this.aDialog : this.bDialog;
  }

  /** RFC 3261 §16.6 step 3 applies to B2BUAs in practice: Max-Forwards is decremented. */
  private buildBInvite(): SipRequest {
    const peer = this.ctx.peers.peer(this.bSide);
    const hostPort = formatHostPort(peer);
    const local = this.ctx.ua.localAddress(peer.transport);
    // RFC 3261 §26.2.2: sips: only carries on a SIPS request (over TLS); a TLS leg of a sip: call says
    // transport=tls instead (RFC 5630: sips: is a promise about the rest of the path).
    const scheme = peer.transport === 'tls' && this.sips ? 'sips' : 'sip';
    const user = requestUser(this.aInvite);
    const transportParam = peer.transport === 'udp' || scheme === 'sips' ? '' : `;transport=${peer.transport}`;
    const req = new SipRequest('INVITE', `${scheme}:${user !== undefined ? `${user}@` : ''}${hostPort}${transportParam}`);
    req.append('From', `${formatParty(partyOf(this.aInvite.get('From')), formatHostPort(local), scheme)};tag=${this.bFromTag}`);
    req.append('To', formatParty(partyOf(this.aInvite.get('To')), hostPort, scheme));
    req.append('Call-ID', this.bCallId);
    req.append('CSeq', '1 INVITE');
    req.append('Max-Forwards', String(Number(this.aInvite.get('Max-Forwards') ?? '70') - 1));
    req.append('Contact', this.ctx.ua.contact(peer.transport, 'callrec', this.sips));
    copyHeaders(this.aInvite, req, CARRIED_REQUEST_HEADERS);
    req.append('Allow', ALLOW_HEADER);
    // 100rel is negotiated per leg: we PRACK the B-leg ourselves (RFC 3262 §4).
    req.append('Supported', '100rel');
    if (this.aInvite.body.length > 0) {
      const type = this.aInvite.get('Content-Type');
      req.setBody(this.ctx.sdp.rewrite(this.key, this.aSide, 'offer', this.aInvite.body, type), type);
    }
    return req;
  }

  start(): void {
    this.ctx.bindDialog(dialogKey(this.aCallId, this.aTag), this, this.aSide);
    this.ctx.bindDialog(dialogKey(this.bCallId, this.bFromTag), this, this.bSide);
    this.ctx.logger.info({
      event: 'call.start', callId: this.aCallId, bCallId: this.bCallId, direction: this.direction,
      from: this.caller.user, to: this.callee.user, source: this.aInbound.source, aUri: this.aInvite.uri, bUri: this.bInvite.uri,
    }, 'call start');
    const prompt = this.ctx.observer.promptFor?.(this);
    if (prompt === undefined) {
      this.proceed();
      return;
    }
    void this.playPrompt(prompt).then((goOn) => {
      if (goOn) this.proceed();
    }, (err: unknown) => {
      this.ctx.logger.warn({ event: 'prompt.error', callId: this.aCallId, err: err instanceof Error ? err.message : String(err) }, 'prompt failed; call goes on');
      this.proceed();
    });
  }

  private proceed(): void {
    if (this.state === 'ended') return;
    this.ctx.observer.onCallStart?.(this);
    this.sendBInvite();
  }

  /**
   * SPEC P6: the prompt goes to the caller only, as early media from
   * callrec (183 with our own answer), before the call is offered onward;
   * the onward offer keeps only the codec the prompt was played in, so the
   * callee's answer matches what the caller already has. False when the
   * caller hung up during the prompt.
   */
  private async playPrompt(prompt: { pcma: Buffer; pcmu: Buffer }): Promise<boolean> {
    let offer;
    try {
      offer = this.aInvite.body.length > 0 ? readAudioStream(this.aInvite.body.toString('utf8')) : undefined;
    } catch {
      offer = undefined;
    }
    const codec = offer?.codecs.find((c) => c.name === 'PCMA' || c.name === 'PCMU');
    if (offer === undefined || codec === undefined) {
      this.ctx.logger.warn({ event: 'prompt.skipped', callId: this.aCallId }, 'prompt not played: the caller offers no G.711');
      return true;
    }
    const keep = [codec.payloadType, ...(offer.telephoneEventPayloadType !== undefined ? [offer.telephoneEventPayloadType] : [])];
    const answer = this.ctx.sdp.answerLocally?.(this.key, this.aSide, this.aInvite.body, keep);
    if (answer === undefined || this.ctx.sdp.play === undefined) return true;
    this.aEarlyAnswer = answer;
    const res = createResponse(this.aInvite, 183, 'Session Progress', this.aTag);
    for (const rr of this.aInvite.getAll('Record-Route')) res.append('Record-Route', rr);
    res.append('Contact', this.ctx.ua.contact(this.aInbound.local.protocol, 'callrec', this.sips));
    res.setBody(answer, 'application/sdp');
    this.state = 'early';
    if (this.aReliable !== undefined) this.aReliable.sendReliably(res);
    else this.aTx.respond(res);
    this.ctx.logger.info({ event: 'prompt.start', callId: this.aCallId, codec: codec.name }, 'playing prompt to the caller');
    await this.ctx.sdp.play(this.key, this.aSide, codec.name === 'PCMA' ? prompt.pcma : prompt.pcmu, codec.payloadType);
    if (this.aFinal || this.endedAt !== undefined) return false;
    const type = this.bInvite.get('Content-Type');
    if (this.bInvite.body.length > 0) this.bInvite.setBody(restrictCodecs(this.bInvite.body.toString('utf8'), keep), type);
    return true;
  }

  private sendBInvite(): void {
    this.bTx = sendAuthenticated(this.ctx, this.bSide, this.bInvite, {
      onResponse: (res) => this.onBResponse(res),
      onTimeout: () => this.onBFailure(408, 'Request Timeout'),
      onTransportError: (err) => {
        // A TLS peer whose certificate does not verify is unreachable like any other: 503 to the
        // caller, and never a retry in plain text (RFC 3261 §26.2.2, RFC 5922 §7.2).
        const peer = this.ctx.peers.address(this.bSide);
        this.ctx.logger.warn({
          event: 'call.peer-unreachable', callId: this.aCallId, side: this.bSide, peer, reason: err.message,
          ...(err instanceof TlsConnectError ? { tlsCode: err.code, verification: err.verification } : {}),
        }, `${this.bSide} unreachable (${formatAddress(peer)}): ${err.message}; caller gets 503`);
        this.onBFailure(503, 'Service Unavailable');
      },
    }, (retried, tx) => {
      this.bInvite = retried;
      this.bTx = tx;
    });
  }

  /** Responses to the initial B-leg INVITE (through its client transaction). */
  private onBResponse(res: SipResponse): void {
    if (res.status < 200) this.onBProvisional(res);
    else if (res.status < 300) this.onB2xx(res);
    else this.onBFinal(res);
  }

  private onBProvisional(res: SipResponse): void {
    this.bProvisional = true;
    // RFC 3261 §9.1: a CANCEL waits for the first provisional response.
    if (this.cancelWanted) {
      this.sendBCancel();
      return;
    }
    if (res.status === 100 || this.state === 'ended') return;
    const tag = res.toTag;
    let early: Dialog | undefined;
    if (tag !== undefined) {
      early = this.bEarly.get(tag);
      if (early === undefined) {
        early = Dialog.asUac(this.bInvite, res);
        this.bEarly.set(tag, early);
      }
    }
    const reliable = res.get('RSeq') !== undefined && /\b100rel\b/i.test(res.get('Require') ?? '');
    if (reliable && early !== undefined) {
      if (!this.relay.prackB(early, res)) return; // a retransmission: already relayed
    }
    if (this.aFinal) return;
    this.state = 'early';
    const out = this.responseToA(res);
    if (this.aReliable !== undefined && (reliable || res.body.length > 0)) this.aReliable.sendReliably(out);
    else this.aTx.respond(out);
  }

  /** Builds the A-leg copy of a B-leg response to the initial INVITE (RFC 3261 §12.1.1). */
  private responseToA(res: SipResponse): SipResponse {
    const out = createResponse(this.aInvite, res.status, res.reason, this.aTag);
    copyHeaders(res, out, CARRIED_RESPONSE_HEADERS);
    if (res.status < 300) {
      for (const rr of this.aInvite.getAll('Record-Route')) out.append('Record-Route', rr);
      out.append('Contact', this.ctx.ua.contact(this.aInbound.local.protocol, 'callrec', this.sips));
      out.append('Allow', ALLOW_HEADER);
    }
    if (res.status >= 300 && res.status < 400) copyHeaders(res, out, ['Contact']);
    if (res.body.length > 0 && res.status < 300) {
      const type = res.get('Content-Type');
      const role = this.aInvite.body.length > 0 ? 'answer' : 'offer';
      const rewritten = this.ctx.sdp.rewrite(this.key, this.bSide, role, res.body, type);
      out.setBody(this.aEarlyAnswer ?? rewritten, this.aEarlyAnswer !== undefined ? 'application/sdp' : type);
    }
    return out;
  }

  private onB2xx(res: SipResponse): void {
    const tag = res.toTag ?? '';
    if (this.bDialog !== undefined) {
      if (this.bDialog.remoteTag === tag) {
        this.resendBAck(res);
        return;
      }
      // RFC 3261 §13.2.2.4: a 2xx from a second fork is acknowledged and ended with BYE.
      const stray = Dialog.asUac(this.bInvite, res);
      this.ackB(stray, res, Buffer.alloc(0));
      this.relay.byeDialog(this.bSide, stray, 'forked 2xx after answer');
      return;
    }
    const dialog = this.bEarly.get(tag) ?? Dialog.asUac(this.bInvite, res);
    dialog.confirm(res);
    this.bDialog = dialog;
    this.bEarly.clear();
    if (this.state === 'ended' || this.aFinal) {
      // CANCEL lost the race against the 2xx (RFC 3261 §9.1): acknowledge and hang up.
      this.ackB(dialog, res, Buffer.alloc(0));
      this.relay.byeDialog(this.bSide, dialog, 'answered after cancel');
      return;
    }
    if (this.bInvite.body.length > 0) this.ackB(dialog, res, Buffer.alloc(0));
    else this.bAckAwaitingAnswer = res;
    this.answeredAt = this.ctx.ua.clock.wallNow();
    this.state = 'answered';
    this.aFinal = true;
    const out = this.responseToA(res);
    this.aDialog.state = 'confirmed';
    const send = (): void => this.sendA2xx(out);
    if (this.aReliable !== undefined) this.aReliable.whenIdle(send);
    else send();
    this.ctx.logger.debug({ event: 'call.answered', callId: this.aCallId, bCallId: this.bCallId }, 'call answered');
    this.ctx.observer.onCallAnswered?.(this);
  }

  private sendA2xx(out: SipResponse): void {
    this.aReliable?.close();
    this.aRetransmitter = new TwoXxRetransmitter(
      (r) => this.aTx.respond(r), out, this.ctx.ua.clock, this.ctx.timers, isReliable(this.aInbound.source.protocol),
      () => {
        // RFC 3261 §13.3.1.4: no ACK within 64*T1: confirm, then end the session with BYE.
        this.ctx.logger.warn({ event: 'call.no-ack', callId: this.aCallId }, 'no ACK for 2xx, ending call');
        this.hangUp('no ACK from caller');
      },
    );
    this.aRetransmitter.start();
  }

  private ackB(dialog: Dialog, res: SipResponse, body: Buffer, contentType?: string): void {
    this.relay.ack(this.bSide, dialog, res, body, contentType);
  }

  /** A retransmitted 2xx on the B-leg gets the same ACK again. */
  resendBAck(res: SipResponse): void {
    this.relay.resendAck(this.bSide, res);
  }

  /** RFC 3262 §3: the caller acknowledges our reliable provisional response. */
  onPrack(side: Side, tx: ServerTransaction, req: SipRequest): void {
    const ok = side === this.aSide && this.aReliable !== undefined && this.aReliable.prack(req);
    tx.respond(createResponse(req, ok ? 200 : 481));
  }

  private onBFinal(res: SipResponse): void {
    if (this.aFinal) {
      this.finish(this.state === 'ended' ? this.endReason ?? 'cancelled' : `B-leg ${res.status}`);
      return;
    }
    let status = res.status;
    let reason = res.reason;
    if (status === 401 || status === 407) {
      // The provider's challenge cannot be answered by the PBX (other Call-ID and URI): refuse.
      this.ctx.logger.warn({ event: 'call.auth-failed', callId: this.aCallId, status }, 'challenge from the other side not satisfied');
      status = 403;
      reason = 'Forbidden';
    }
    const out = this.responseToA(res);
    out.status = status;
    out.reason = reason;
    this.aFinal = true;
    this.aReliable?.close();
    this.aTx.respond(out);
    this.finish(`B-leg ${res.status} ${res.reason}`);
  }

  private onBFailure(status: number, reason: string): void {
    if (!this.aFinal) {
      this.aFinal = true;
      this.aReliable?.close();
      this.aTx.respond(createResponse(this.aInvite, status, reason, this.aTag));
    }
    this.finish(`B-leg ${status} ${reason}`);
  }

  /** The caller cancelled (RFC 3261 §9.2): 487 to the INVITE, CANCEL toward the callee. */
  cancelFromA(): void {
    if (this.aFinal) return;
    this.aFinal = true;
    this.aReliable?.close();
    this.aTx.respond(createResponse(this.aInvite, 487, undefined, this.aTag));
    this.state = 'ended';
    this.endReason = 'cancelled by caller';
    this.cancelWanted = true;
    if (this.bProvisional) this.sendBCancel();
    else if (this.bTx === undefined) this.finish('cancelled by caller');
  }

  private sendBCancel(): void {
    if (this.bTx === undefined || !this.cancelWanted) return;
    this.cancelWanted = false;
    const cancel = buildCancel(this.bInvite);
    // The CANCEL must carry the INVITE's branch (§9.1), so it bypasses the UA's new Via.
    this.ctx.ua.transactions.sendRequest(cancel, this.ctx.peers.address(this.bSide), {
      onResponse: () => {},
      onTimeout: () => this.finish(this.endReason ?? 'cancelled'),
      onTransportError: () => this.finish(this.endReason ?? 'cancelled'),
    });
  }

  /** ACK for our 2xx on the A-leg (a matching CSeq stops retransmission). */
  onAckFromA(ack: SipRequest): void {
    const seq = ack.cseq.seq;
    if (seq === this.aInvite.cseq.seq) {
      this.aRetransmitter?.close();
      const pending = this.bAckAwaitingAnswer;
      if (pending !== undefined && this.bDialog !== undefined) {
        this.bAckAwaitingAnswer = undefined;
        const type = ack.get('Content-Type');
        const body = ack.body.length > 0 ? this.ctx.sdp.rewrite(this.key, this.aSide, 'answer', ack.body, type) : ack.body;
        this.ackB(this.bDialog, pending, body, type);
      }
      return;
    }
    this.relay.onAck(this.aSide, ack);
  }

  /** A 2xx that no transaction claimed (retransmission after Timer M). */
  onStrayResponse(res: SipResponse): void {
    if (res.status >= 200 && res.status < 300 && res.cseq.method === 'INVITE') this.resendBAck(res);
  }

  /** A final answer to the caller without B having answered (e.g. PRACK timeout). */
  private failA(status: number, reason: string): void {
    if (!this.aFinal) {
      this.aFinal = true;
      this.aTx.respond(createResponse(this.aInvite, status, reason, this.aTag));
    }
    this.hangUp(reason);
  }

  /**
   * Ends the call from our side: BYE on confirmed legs, CANCEL on a ringing
   * B-leg, a final response to an unanswered A-leg.
   */
  hangUp(reason: string, except?: Side): void {
    if (this.endedAt !== undefined) return;
    if (!this.aFinal) {
      this.aFinal = true;
      this.aReliable?.close();
      this.aTx.respond(createResponse(this.aInvite, 487, undefined, this.aTag));
    }
    if (this.bDialog === undefined) {
      this.cancelWanted = true;
      if (this.bProvisional) this.sendBCancel();
    }
    for (const side of [this.aSide, this.bSide]) {
      const dialog = this.dialogOf(side);
      if (side !== except && dialog !== undefined && dialog.state === 'confirmed') this.relay.byeDialog(side, dialog, reason);
    }
    this.finish(reason);
  }

  /** Frees everything the call holds; idempotent, reached on every end path. */
  finish(reason: string): void {
    if (this.endedAt !== undefined) return;
    this.endedAt = this.ctx.ua.clock.wallNow();
    this.state = 'ended';
    this.endReason = reason;
    this.aReliable?.close();
    this.aRetransmitter?.close();
    this.relay.close();
    this.aDialog.terminate();
    this.bDialog?.terminate();
    this.ctx.sdp.release(this.key);
    this.ctx.unbindCall(this);
    this.ctx.logger.info({
      event: 'call.end', callId: this.aCallId, bCallId: this.bCallId, reason,
      durationSeconds: this.answeredAt !== undefined ? Math.round((this.endedAt - this.answeredAt) / 1000) : 0,
    }, 'call end');
    this.ctx.observer.onCallEnd?.(this, reason);
  }
}

function supports100rel(req: SipRequest): boolean {
  return [...req.getAll('Supported'), ...req.getAll('Require')].some((v) => v.trim().toLowerCase() === '100rel');
}

/** The called number: the Request-URI user part (SPEC: else To). */
function requestUser(req: SipRequest): string | undefined {
  const m = /^[a-z]+:([^@;?]+)@/i.exec(req.uri);
  return m?.[1] ?? partyOf(req.get('To')).user;
}
