import type { Dialog } from '../sip/dialog/dialog.js';
import { TwoXxRetransmitter } from '../sip/dialog/two-xx-retransmitter.js';
import { createResponse, type SipRequest, type SipResponse } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/index.js';
import { isReliable } from '../sip/transport/transport.js';
import { sendAuthenticated } from './authenticated-request.js';
import type { CallContext } from './call-context.js';
import type { Call } from './call.js';
import { ALLOW_HEADER } from './allow.js';
import { CARRIED_DIALOG_HEADERS, CARRIED_RESPONSE_HEADERS, copyHeaders } from './identity-headers.js';
import { otherSide, type Side } from './trunk-peers.js';

/** A re-INVITE we answered with 2xx on one side and whose ACK we wait for. */
interface PendingReinvite {
  seq: number;
  retransmitter: TwoXxRetransmitter;
  /** Delayed offer: the ACK carries the answer that the other side's ACK needs. */
  awaitingAnswer: { side: Side; dialog: Dialog; response: SipResponse } | undefined;
}

/**
 * Relays in-dialog requests between the two legs of a Call: BYE, re-INVITE
 * and UPDATE (with 491 on glare, RFC 3261 §14.1 and RFC 3311 §5.2), INFO and
 * other methods; answers PRACK per leg (RFC 3262); keeps the ACKs for 2xx.
 */
export class DialogRelay {
  /** Sides with an offer/answer transaction (re-INVITE, UPDATE) in progress. */
  private readonly busy = new Set<Side>();
  private readonly acks = new Map<string, SipRequest>();
  private readonly pending = new Map<Side, PendingReinvite>();
  private readonly prackedRSeq = new Map<Dialog, number>();

  constructor(private readonly ctx: CallContext, private readonly call: Call) {}

  onRequest(side: Side, tx: ServerTransaction, req: SipRequest): void {
    const dialog = this.call.dialogOf(side);
    if (dialog === undefined || dialog.state === 'terminated') {
      tx.respond(createResponse(req, 481));
      return;
    }
    // RFC 3261 §12.2.2: a request with a lower CSeq than the last is out of order.
    if (!dialog.acceptRemoteSeq(req)) {
      tx.respond(createResponse(req, 500, 'Out of Order'));
      return;
    }
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200));
        this.ctx.logger.debug({ event: 'sip.bye', callId: this.call.aCallId, from: side }, 'BYE received');
        this.call.hangUp(`BYE from ${side}`, side);
        return;
      case 'PRACK':
        this.call.onPrack(side, tx, req);
        return;
      case 'INVITE':
      case 'UPDATE':
        if (req.method === 'INVITE' && this.call.state !== 'answered') {
          // RFC 3261 §14.2: a re-INVITE while the initial INVITE is pending gets 500 with Retry-After.
          tx.respond(createResponse(req, 500, 'Server Internal Error').set('Retry-After', '1'));
          return;
        }
        if (this.busy.has(side)) {
          tx.respond(createResponse(req, 491));
          return;
        }
        this.relay(side, tx, req, true);
        return;
      default:
        if (req.method === 'INFO') this.ctx.observer.onInfo?.(this.call, side, req);
        this.relay(side, tx, req, false);
    }
  }

  private relay(fromSide: Side, tx: ServerTransaction, req: SipRequest, offerAnswer: boolean): void {
    const toSide = otherSide(fromSide);
    const toDialog = this.call.dialogOf(toSide);
    if (toDialog === undefined || toDialog.state === 'terminated') {
      tx.respond(createResponse(req, 481));
      return;
    }
    const mf = Number(req.get('Max-Forwards') ?? '70');
    if (mf <= 0) {
      tx.respond(createResponse(req, 483));
      return;
    }
    const out = toDialog.createRequest(req.method);
    out.set('Max-Forwards', String(mf - 1));
    copyHeaders(req, out, CARRIED_DIALOG_HEADERS);
    if (offerAnswer) {
      out.append('Contact', this.ctx.ua.contact(this.ctx.peers.peer(toSide).transport, 'callrec', this.call.sips));
      out.append('Allow', ALLOW_HEADER);
    }
    const type = req.get('Content-Type');
    if (req.body.length > 0) {
      out.setBody(offerAnswer ? this.ctx.sdp.rewrite(this.call.key, fromSide, 'offer', req.body, type) : req.body, type);
    }
    if (offerAnswer) {
      this.busy.add(fromSide);
      this.busy.add(toSide);
    }
    let answered = false;
    const done = (): void => {
      answered = true;
      if (offerAnswer) {
        this.busy.delete(fromSide);
        this.busy.delete(toSide);
      }
    };
    sendAuthenticated(this.ctx, toSide, out, {
      onResponse: (res) => {
        if (answered) {
          if (res.status < 300 && req.method === 'INVITE') this.resendAck(toSide, res);
          return;
        }
        if (res.status < 200) {
          if (res.status > 100) tx.respond(createResponse(req, res.status, res.reason));
          return;
        }
        done();
        this.answerRelayed(fromSide, tx, req, toSide, toDialog, out, res);
      },
      onTimeout: () => {
        done();
        tx.respond(createResponse(req, 408));
      },
      onTransportError: () => {
        done();
        tx.respond(createResponse(req, 503));
      },
    }, undefined, () => ++toDialog.localSeq);
  }

  /** The final response of the other side goes back to the sender of the request. */
  private answerRelayed(fromSide: Side, tx: ServerTransaction, req: SipRequest, toSide: Side, toDialog: Dialog, sent: SipRequest, res: SipResponse): void {
    const out = createResponse(req, res.status, res.reason);
    copyHeaders(res, out, CARRIED_RESPONSE_HEADERS);
    const success = res.status < 300;
    const offerAnswer = req.method === 'INVITE' || req.method === 'UPDATE';
    if (success && offerAnswer) {
      toDialog.confirm(res); // §12.2.1.2: target refresh
      out.append('Contact', this.ctx.ua.contact(this.ctx.peers.peer(fromSide).transport, 'callrec', this.call.sips));
    }
    if (res.body.length > 0) {
      const type = res.get('Content-Type');
      const role = sent.body.length > 0 ? 'answer' : 'offer';
      out.setBody(offerAnswer && success ? this.ctx.sdp.rewrite(this.call.key, toSide, role, res.body, type) : res.body, type);
    }
    if (!(success && req.method === 'INVITE')) {
      tx.respond(out);
      return;
    }
    let awaitingAnswer: PendingReinvite['awaitingAnswer'];
    if (sent.body.length > 0) this.ack(toSide, toDialog, res, Buffer.alloc(0));
    else awaitingAnswer = { side: toSide, dialog: toDialog, response: res };
    this.pending.get(fromSide)?.retransmitter.close();
    const retransmitter = new TwoXxRetransmitter(
      (r) => tx.respond(r), out, this.ctx.ua.clock, this.ctx.timers, isReliable(this.ctx.peers.peer(fromSide).transport),
      () => this.call.hangUp(`no ACK for re-INVITE from ${fromSide}`),
    );
    this.pending.set(fromSide, { seq: req.cseq.seq, retransmitter, awaitingAnswer });
    retransmitter.start();
  }

  /** ACK for a 2xx to a re-INVITE that we relayed. */
  onAck(side: Side, ack: SipRequest): void {
    const p = this.pending.get(side);
    if (p === undefined || p.seq !== ack.cseq.seq) return;
    p.retransmitter.close();
    this.pending.delete(side);
    if (p.awaitingAnswer !== undefined) {
      const type = ack.get('Content-Type');
      const body = ack.body.length > 0 ? this.ctx.sdp.rewrite(this.call.key, side, 'answer', ack.body, type) : ack.body;
      this.ack(p.awaitingAnswer.side, p.awaitingAnswer.dialog, p.awaitingAnswer.response, body, type);
    }
  }

  /** §13.2.2.4: the ACK for a 2xx is built from the dialog with the INVITE's CSeq number. */
  ack(side: Side, dialog: Dialog, res: SipResponse, body: Buffer, contentType?: string): void {
    const seq = res.cseq.seq;
    const ack = dialog.createRequest('ACK', seq);
    if (body.length > 0) ack.setBody(body, contentType);
    this.acks.set(`${side}|${dialog.remoteTag}|${seq}`, ack);
    this.ctx.ua.sendAck(ack, this.ctx.peers.address(side));
  }

  /** A retransmitted 2xx gets the same ACK again (§13.2.2.4). */
  resendAck(side: Side, res: SipResponse): void {
    const ack = this.acks.get(`${side}|${res.toTag ?? ''}|${res.cseq.seq}`);
    if (ack !== undefined) this.ctx.ua.sendAck(ack, this.ctx.peers.address(side));
  }

  /** RFC 3262 §4: PRACK each new reliable provisional response once; false for a retransmission. */
  prackB(early: Dialog, res: SipResponse): boolean {
    const rseq = Number(res.get('RSeq'));
    const last = this.prackedRSeq.get(early);
    if (last !== undefined && rseq <= last) return false;
    this.prackedRSeq.set(early, rseq);
    const prack = early.createRequest('PRACK');
    prack.set('RAck', `${rseq} ${res.cseq.seq} INVITE`);
    sendAuthenticated(this.ctx, this.call.bSide, prack, ignoreResponses, undefined, () => ++early.localSeq);
    return true;
  }

  byeDialog(side: Side, dialog: Dialog, reason: string): void {
    const bye = dialog.createRequest('BYE');
    bye.set('Reason', `SIP;cause=200;text="${reason.replace(/"/g, "'")}"`);
    dialog.terminate();
    sendAuthenticated(this.ctx, side, bye, ignoreResponses, undefined, () => ++dialog.localSeq);
  }

  close(): void {
    for (const p of this.pending.values()) p.retransmitter.close();
    this.pending.clear();
  }
}

const ignoreResponses = { onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };
