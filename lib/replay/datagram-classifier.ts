import { parseMessage, ParseError, type SipMessage } from '../sip/message/index.js';
import { rtpPayloadEnd, rtpPayloadOffset } from '../media/rtp-header.js';

export type DatagramKind = 'sip' | 'rtp' | 'rtcp' | 'other';

export type Classification =
  | { kind: 'sip'; message: SipMessage }
  | { kind: 'rtp' }
  | { kind: 'rtcp' }
  | { kind: 'other'; sipError?: string };

/**
 * A start line of RFC 3261 §7.1/§7.2 after optional leading CRLFs: a quick
 * test so that binary payloads never reach the SIP parser.
 */
const SIP_START = /^(?:\r?\n)*(?:[A-Za-z!%*_+`'~.-]+ \S+ SIP\/2\.0\r?\n|SIP\/2\.0 \d{3} )/;

/**
 * Classifies one UDP payload: SIP if it parses as a SIP message, else RTCP,
 * else RTP, else other. A SIP-looking payload that fails to parse is "other"
 * with the parse error, so callers can count it.
 */
export function classifyPayload(payload: Buffer, srcPort: number, dstPort: number): Classification {
  if (SIP_START.test(payload.toString('latin1', 0, Math.min(payload.length, 256)))) {
    try {
      return { kind: 'sip', message: parseMessage(payload, true) };
    } catch (err) {
      // ParseError is the expected failure; anything else from the parser is still bad input here.
      return { kind: 'other', sipError: err instanceof ParseError ? err.message : String(err) };
    }
  }
  if (isRtcp(payload)) return { kind: 'rtcp' };
  if (isRtp(payload, srcPort, dstPort)) return { kind: 'rtp' };
  return { kind: 'other' };
}

/**
 * RTP header check (RFC 3550 §5.1, §A.1 validity checks that apply to a
 * single packet): version 2; payload type outside 72-76, which collide with
 * RTCP SR/RR/SDES/BYE/APP when the marker is set (RFC 5761 §4); CSRC list,
 * extension and padding inside the packet. Both ports must be unprivileged:
 * RTP runs on dynamic ports (RFC 3550 §11), and this keeps DNS, NetBIOS and
 * DHCP, whose first octet may look like version 2, out.
 */
export function isRtp(p: Buffer, srcPort = 1024, dstPort = 1024): boolean {
  if (srcPort < 1024 || dstPort < 1024) return false;
  const payloadOffset = rtpPayloadOffset(p);
  if (payloadOffset < 0) return false;
  const pt = p[1]! & 0x7f;
  if (pt >= 72 && pt <= 76) return false;
  return rtpPayloadEnd(p, payloadOffset) >= payloadOffset;
}

/**
 * RTCP compound packet (RFC 3550 §6.1): every packet has version 2, a
 * packet type 200-207 (SR, RR, SDES, BYE, APP, RTPFB, PSFB, XR), and a
 * length in 32-bit words minus one; the lengths add up to the datagram.
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |V=2|P|    RC   |   PT=200-207  |             length            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export function isRtcp(p: Buffer): boolean {
  if (p.length < 8 || p.length % 4 !== 0) return false;
  let off = 0;
  while (off < p.length) {
    if (p.length - off < 4) return false;
    if ((p[off]! & 0xc0) !== 0x80) return false;
    const type = p[off + 1]!;
    if (type < 200 || type > 207) return false;
    off += (p.readUInt16BE(off + 2) + 1) * 4;
  }
  return off === p.length;
}

/**
 * RFC 4733 §2.3 named telephone event payload:
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     event     |E|R| volume    |          duration             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * True when the RTP payload has exactly that shape with a DTMF event (0-16).
 * Deviation: the R bit "MUST be zero" but is not checked; senders vary.
 */
export function looksLikeTelephoneEvent(rtp: Buffer): boolean {
  const off = rtpPayloadOffset(rtp);
  if (off < 0) return false;
  const end = rtpPayloadEnd(rtp, off);
  if (end - off !== 4) return false;
  return rtp[off]! <= 16;
}

/** RFC 3551 §6 Table 4: static audio payload types, name and clock rate. */
export const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, { name: string; clockRate: number; channels: number }> = new Map([
  [0, { name: 'PCMU', clockRate: 8000, channels: 1 }],
  [3, { name: 'GSM', clockRate: 8000, channels: 1 }],
  [4, { name: 'G723', clockRate: 8000, channels: 1 }],
  [5, { name: 'DVI4', clockRate: 8000, channels: 1 }],
  [6, { name: 'DVI4', clockRate: 16000, channels: 1 }],
  [7, { name: 'LPC', clockRate: 8000, channels: 1 }],
  [8, { name: 'PCMA', clockRate: 8000, channels: 1 }],
  // RFC 3551 §4.5.2: G722's RTP clock rate is 8000 although it samples at 16 kHz.
  [9, { name: 'G722', clockRate: 8000, channels: 1 }],
  [10, { name: 'L16', clockRate: 44100, channels: 2 }],
  [11, { name: 'L16', clockRate: 44100, channels: 1 }],
  [12, { name: 'QCELP', clockRate: 8000, channels: 1 }],
  [13, { name: 'CN', clockRate: 8000, channels: 1 }],
  [14, { name: 'MPA', clockRate: 90000, channels: 1 }],
  [15, { name: 'G728', clockRate: 8000, channels: 1 }],
  [16, { name: 'DVI4', clockRate: 11025, channels: 1 }],
  [17, { name: 'DVI4', clockRate: 22050, channels: 1 }],
  [18, { name: 'G729', clockRate: 8000, channels: 1 }],
]);
