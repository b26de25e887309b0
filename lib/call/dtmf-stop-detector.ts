import { InbandDtmfDetector } from '../media/dtmf/inband-detector.js';
import { parseInfoDtmf } from '../media/dtmf/info-dtmf.js';
import { KeySequenceMatcher } from '../media/dtmf/key-sequence.js';
import { TelephoneEventDetector } from '../media/dtmf/telephone-event.js';
import { rtpPayloadOffset } from '../media/rtp-header.js';
import type { SipRequest } from '../sip/message/message.js';
import type { CallMedia } from './anchored-media.js';

/**
 * SPEC M5: watches the internal party's key presses, from RFC 4733
 * telephone-events when they were negotiated, from SIP INFO, and from
 * in-band tones in G.711 audio when no telephone-event was negotiated, and
 * reports when the configured stop sequence is complete.
 */
export class DtmfStopDetector {
  private readonly matcher: KeySequenceMatcher;
  private events: TelephoneEventDetector | undefined;
  private eventPt = -1;
  private inband: InbandDtmfDetector | undefined;
  private audioPt = -1;
  private codec: 'pcma' | 'pcmu' | undefined;

  constructor(sequence: string) {
    this.matcher = new KeySequenceMatcher(sequence);
  }

  /** Follows the negotiation (offer, answer, re-INVITE). */
  configure(media: CallMedia): void {
    const stream = media.answeredBy !== undefined ? media.streams[media.answeredBy] : media.streams[media.callerSide];
    const te = stream?.telephoneEventPayloadType;
    if (te !== undefined && te !== this.eventPt) {
      this.eventPt = te;
      this.events = new TelephoneEventDetector(te);
    }
    const codec = media.codec;
    const name = codec?.name === 'PCMA' ? 'pcma' : codec?.name === 'PCMU' ? 'pcmu' : undefined;
    this.audioPt = codec?.payloadType ?? -1;
    this.codec = name;
    // In-band detection only when no telephone-event was negotiated (it costs CPU per packet).
    this.inband = te === undefined && name !== undefined ? (this.inband ?? new InbandDtmfDetector()) : undefined;
  }

  /**
   * In-band detection looks at every audio packet. Otherwise only
   * telephone-events matter, and the engine's fast path may keep the
   * audio from onRtp: the press-end timeout check below then runs on the
   * packets that still come (at least one a second: each spool flush sends
   * the next packet through JavaScript).
   */
  get needsEveryPacket(): boolean {
    return this.inband !== undefined;
  }

  /** One RTP packet from the internal party; true when the stop sequence completed. */
  onRtp(packet: Buffer, arrivalMs: number): boolean {
    const pt = packet.length > 1 ? packet[1]! & 0x7f : -1;
    if (pt === this.eventPt && this.events !== undefined) {
      const key = this.events.push(packet, arrivalMs);
      return key !== undefined && this.matcher.push(key, arrivalMs, 'rfc4733');
    }
    // RFC 4733 §2.5.1.4: if every end packet of a press was lost, the press ends by timeout.
    const late = this.events?.poll(arrivalMs);
    if (late !== undefined && this.matcher.push(late, arrivalMs, 'rfc4733')) return true;
    if (pt === this.audioPt && this.inband !== undefined && this.codec !== undefined) {
      const start = rtpPayloadOffset(packet);
      const key = start > 0 ? this.inband.push(packet.subarray(start), this.codec, arrivalMs) : undefined;
      return key !== undefined && this.matcher.push(key, arrivalMs, 'inband');
    }
    return false;
  }

  onInfo(req: SipRequest, atMs: number): boolean {
    const key = parseInfoDtmf(req.get('Content-Type'), req.body);
    return key !== undefined && this.matcher.push(key, atMs, 'info');
  }
}
