import { createResponse, type SipRequest } from '../sip/message/message.js';
import type { Dialog } from '../sip/dialog/dialog.js';
import type { InviteServerTransaction } from '../sip/transaction/index.js';
import type { Address } from '../sip/transport/transport.js';
import type { ExtractedCall, ReInvite } from './call-extractor.js';
import { reAnswerSdp, reOfferSdp, SdpVersion } from './re-invite-sdp.js';
import type { ReplayEndpoint } from './replay-endpoint.js';
import type { Side } from './rtp-streams.js';
import { sdpBodyOf, summarizeSdp, type SdpSummary } from './sdp-summary.js';

/** What a replayed re-INVITE got back. */
export interface ReInviteOutcome {
  /** Final status relayed by callrec; undefined on timeout or transport error. */
  status: number | undefined;
  /** The 2xx's SDP: where callrec now wants this end's RTP. */
  answerBody: Buffer | undefined;
  note?: string;
}

/**
 * Answers the re-INVITEs callrec relays to a replay end as the capture's far
 * end answered them: a re-INVITE arriving while the other end's captured
 * re-INVITE is being replayed (`expect`) is that one relayed; it gets the
 * captured final status and, for a 2xx, the captured answer's media
 * (RFC 3264 §6: one m= line per line of the offer received). One callrec
 * sends of its own is accepted as offered. Also keeps each end's SDP version.
 */
export class ReInviteAnswers {
  private readonly versions = new Map<ReplayEndpoint, SdpVersion>();
  private expected: ReInvite | undefined;

  /** `offerOf` gives an end's plain offer, for a re-INVITE that came without one (its 2xx must offer). */
  constructor(
    private readonly call: ExtractedCall,
    private readonly offerOf: (ep: ReplayEndpoint, version: number) => string,
  ) {}

  versionOf(ep: ReplayEndpoint): SdpVersion {
    let v = this.versions.get(ep);
    if (v === undefined) this.versions.set(ep, (v = new SdpVersion()));
    return v;
  }

  /** The captured re-INVITE being replayed now (undefined once it is over). */
  expect(re: ReInvite | undefined): void {
    this.expected = re;
  }

  answer(ep: ReplayEndpoint, side: Side, tx: InviteServerTransaction, req: SipRequest): void {
    const re = this.expected !== undefined && this.expected.by !== side ? this.expected : undefined;
    this.expected = undefined;
    const status = re?.status ?? 200;
    const res = createResponse(req, status);
    res.append('Contact', ep.ua.contact('udp'));
    if (status >= 200 && status < 300) {
      const text = sdpBodyOf(req.get('Content-Type'), req.body);
      const received = text !== undefined ? summarizeSdp(text) : undefined;
      const version = this.versionOf(ep).next();
      if (received === undefined) {
        res.setBody(this.offerOf(ep, version), 'application/sdp');
      } else {
        const captured = re === undefined ? undefined : this.call.sdp.find((x) => x.cseq === re.cseq && x.role === 'answer' && x.side === side && x.carriedBy.endsWith('INVITE'))?.sdp;
        res.setBody(reAnswerSdp(ep.address.host, ep.rtpPort, received, captured, version), 'application/sdp');
      }
    }
    try {
      tx.respond(res);
    } catch {
      // the transaction ended meanwhile: nothing more to say
    }
  }
}

/** Sends a captured re-INVITE from a replay end inside its dialog; ACKs a 2xx (RFC 3261 §13.2.2.4). */
export function sendReInvite(ep: ReplayEndpoint, dialog: Dialog, to: Address, offer: SdpSummary | undefined, version: SdpVersion, plainOffer: (version: number) => string): Promise<ReInviteOutcome> {
  const req = dialog.createRequest('INVITE');
  const cseq = dialog.localSeq;
  req.append('Contact', ep.ua.contact('udp'));
  // A re-INVITE captured without an offer is replayed with this end's plain offer (the 2xx then answers it).
  const v = version.next();
  req.setBody(offer !== undefined && offer.media.length > 0 ? reOfferSdp(ep.address.host, ep.rtpPort, offer, v) : plainOffer(v), 'application/sdp');
  return new Promise((resolve) => {
    ep.send(req, to, {
      onResponse: (res) => {
        if (res.status < 200) return;
        if (res.status < 300) ep.ua.sendAck(dialog.createRequest('ACK', cseq), to);
        resolve({ status: res.status, answerBody: res.status < 300 && res.body.length > 0 ? res.body : undefined });
      },
      onTimeout: () => resolve({ status: undefined, answerBody: undefined, note: 're-INVITE timed out' }),
      onTransportError: (err) => resolve({ status: undefined, answerBody: undefined, note: `re-INVITE transport error: ${err.message}` }),
    });
  });
}
