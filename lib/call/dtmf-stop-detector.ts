import { InbandDtmfDetector } from '../media/dtmf/inband-detector.js';
import { parseInfoDtmf } from '../media/dtmf/info-dtmf.js';
import { KeySequenceMatcher } from '../media/dtmf/key-sequence.js';
import { TelephoneEventDetector } from '../media/dtmf/telephone-event.js';
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
   * In-band detection is on (no telephone-event negotiated, G.711): the
   * internal party's audio goes through onAudio as it is spooled.
   */
  get watchesAudio(): boolean {
    return this.inband !== undefined;
  }

  /**
   * A telephone-event (or any packet) from the internal party that reached
   * JavaScript; true when the stop sequence completed. The engine's fast
   * path keeps the audio from here: the press-end timeout check below runs
   * on the packets that still come (at least one a second: each spool
   * flush sends the next packet through JavaScript).
   */
  onRtp(packet: Buffer, arrivalMs: number): boolean {
    const pt = packet.length > 1 ? packet[1]! & 0x7f : -1;
    if (pt === this.eventPt && this.events !== undefined) {
      const key = this.events.push(packet, arrivalMs);
      return key !== undefined && this.matcher.push(key, arrivalMs, 'rfc4733');
    }
    // RFC 4733 §2.5.1.4: if every end packet of a press was lost, the press ends by timeout.
    const late = this.events?.poll(arrivalMs);
    return late !== undefined && this.matcher.push(late, arrivalMs, 'rfc4733');
  }

  /**
   * One spooled packet of the internal party (`payload[start, end)`), seen
   * off the relay's path (RecordingSession.watch): in-band tones in its
   * G.711 audio; true when the stop sequence completed with it.
   */
  onAudio(payload: Uint8Array, start: number, end: number, payloadType: number, arrivalMs: number): boolean {
    if (payloadType !== this.audioPt || this.inband === undefined || this.codec === undefined) return false;
    const key = this.inband.push(payload, this.codec, arrivalMs, start, end);
    return key !== undefined && this.matcher.push(key, arrivalMs, 'inband');
  }

  onInfo(req: SipRequest, atMs: number): boolean {
    const key = parseInfoDtmf(req.get('Content-Type'), req.body);
    return key !== undefined && this.matcher.push(key, atMs, 'info');
  }
}
