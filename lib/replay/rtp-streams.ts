import { rtpPayloadType, rtpSequence, rtpSsrc } from '../media/rtp-header.js';
import { looksLikeTelephoneEvent, STATIC_PAYLOAD_TYPES } from './datagram-classifier.js';
import type { Endpoint, UdpDatagram } from './packet-decoder.js';
import type { SdpCodec } from './sdp-summary.js';

export type Side = 'caller' | 'callee';
export type StreamDirection = 'caller->callee' | 'callee->caller' | 'unknown';

/** A captured packet kept for replay: when it was seen and its UDP payload. */
export interface PacketRecord {
  timeMs: number;
  data: Buffer;
}

/** What a payload type of a stream is, and how that was learned. */
export interface StreamCodec {
  payloadType: number;
  name: string;
  clockRate: number;
  /**
   * sdp: a=rtpmap or m= of the call; configured: the telephone-event type given
   * for an RTP-only capture; static: RFC 3551 table; detected: RFC 4733 payload shape.
   */
  source: 'sdp' | 'configured' | 'static' | 'detected' | 'unknown';
}

/** The RTP packets of one UDP flow (source and destination address:port). */
export interface RtpStream {
  src: Endpoint;
  dst: Endpoint;
  direction: StreamDirection;
  /** Which end of the flow matched an SDP address of the call. */
  matchedBy: 'destination' | 'source' | 'none';
  /** SSRCs in order of first appearance (an SSRC change keeps the flow). */
  ssrcs: number[];
  /** Payload types in order of first appearance, with packet counts. */
  payloadTypes: number[];
  packetsByPayloadType: Record<number, number>;
  codecs: StreamCodec[];
  packetCount: number;
  /** RFC 3550 §A.3 per SSRC: extended highest minus base sequence + 1, minus received; summed. */
  lostPackets: number;
  firstMs: number;
  lastMs: number;
  packets: PacketRecord[];
}

/** RTCP packets of one UDP flow. */
export interface RtcpFlow {
  src: Endpoint;
  dst: Endpoint;
  direction: StreamDirection;
  packets: PacketRecord[];
}

interface SeqState {
  extLast: number;
  extMax: number;
  extMin: number;
  received: number;
}

/** Accumulates one flow; a sans-I/O builder, fed in capture order. */
export class RtpStreamBuilder {
  readonly packets: PacketRecord[] = [];
  private readonly seq = new Map<number, SeqState>();
  private readonly byPt = new Map<number, number>();
  /** Payload types whose every packet had the RFC 4733 shape. */
  private readonly eventShaped = new Map<number, boolean>();

  constructor(
    readonly src: Endpoint,
    readonly dst: Endpoint,
    readonly direction: StreamDirection,
    readonly matchedBy: RtpStream['matchedBy'],
  ) {}

  push(d: UdpDatagram): void {
    const p = d.payload;
    this.packets.push({ timeMs: d.timeMs, data: p });
    const pt = rtpPayloadType(p);
    this.byPt.set(pt, (this.byPt.get(pt) ?? 0) + 1);
    this.eventShaped.set(pt, (this.eventShaped.get(pt) ?? true) && looksLikeTelephoneEvent(p));
    const ssrc = rtpSsrc(p);
    const seq = rtpSequence(p);
    const s = this.seq.get(ssrc);
    if (s === undefined) {
      this.seq.set(ssrc, { extLast: seq, extMax: seq, extMin: seq, received: 1 });
      return;
    }
    // RFC 3550 §A.1: a forward step below 2^15 advances, anything else is late or duplicate.
    const delta = (seq - (s.extLast & 0xffff) + 0x10000) & 0xffff;
    s.extLast += delta < 0x8000 ? delta : delta - 0x10000;
    s.extMax = Math.max(s.extMax, s.extLast);
    s.extMin = Math.min(s.extMin, s.extLast);
    s.received++;
  }

  /** The stream; `codecOf` names payload types (from SDP), undefined when it cannot. */
  build(codecOf: (pt: number) => SdpCodec | undefined, telephoneEventPt?: number): RtpStream {
    const payloadTypes = [...this.byPt.keys()];
    let lost = 0;
    for (const s of this.seq.values()) lost += Math.max(0, s.extMax - s.extMin + 1 - s.received);
    const codecs = payloadTypes.map((pt): StreamCodec => {
      const c = codecOf(pt);
      if (c !== undefined) return { payloadType: pt, name: c.name, clockRate: c.clockRate, source: 'sdp' };
      if (pt === telephoneEventPt) return { payloadType: pt, name: 'telephone-event', clockRate: 8000, source: 'configured' };
      const st = STATIC_PAYLOAD_TYPES.get(pt);
      if (st !== undefined) return { payloadType: pt, name: st.name, clockRate: st.clockRate, source: 'static' };
      if (pt >= 96 && pt <= 127 && this.eventShaped.get(pt) === true) {
        return { payloadType: pt, name: 'telephone-event', clockRate: 8000, source: 'detected' };
      }
      return { payloadType: pt, name: `PT${pt}`, clockRate: 8000, source: 'unknown' };
    });
    return {
      src: this.src,
      dst: this.dst,
      direction: this.direction,
      matchedBy: this.matchedBy,
      ssrcs: [...this.seq.keys()],
      payloadTypes,
      packetsByPayloadType: Object.fromEntries(this.byPt) as Record<number, number>,
      codecs,
      packetCount: this.packets.length,
      lostPackets: lost,
      firstMs: this.packets[0]?.timeMs ?? 0,
      lastMs: this.packets[this.packets.length - 1]?.timeMs ?? 0,
      packets: this.packets,
    };
  }
}

export const endpointKey = (e: Endpoint): string => `${e.host}|${e.port}`;
export const flowKey = (src: Endpoint, dst: Endpoint): string => `${endpointKey(src)}>${endpointKey(dst)}`;
