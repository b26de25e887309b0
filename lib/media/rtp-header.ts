/**
 * RTP fixed header (RFC 3550 §5.1), read in place from the datagram:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                           timestamp                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           synchronization source (SSRC) identifier            |
 *   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *   |            contributing source (CSRC) identifiers             |
 *   |                             ....                              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  header extension (X=1): profile (16) | length in words (16)  |
 */
export const RTP_FIXED_HEADER = 12;

/**
 * Offset of the payload, or -1 when the packet is not valid RTP version 2
 * (too short, CSRC list or extension beyond the end, bad padding).
 */
export function rtpPayloadOffset(p: Buffer, length = p.length): number {
  if (length < RTP_FIXED_HEADER || (p[0]! & 0xc0) !== 0x80) return -1;
  let offset = RTP_FIXED_HEADER + (p[0]! & 0x0f) * 4;
  if ((p[0]! & 0x10) !== 0) {
    if (offset + 4 > length) return -1;
    offset += 4 + ((p[offset + 2]! << 8) | p[offset + 3]!) * 4;
  }
  return offset <= length ? offset : -1;
}

/** Payload end, excluding RFC 3550 §5.1 padding (last octet counts the padding). */
export function rtpPayloadEnd(p: Buffer, payloadOffset: number, length = p.length): number {
  if ((p[0]! & 0x20) === 0) return length;
  const pad = p[length - 1]!;
  return pad === 0 || length - pad < payloadOffset ? -1 : length - pad;
}

export const rtpPayloadType = (p: Buffer): number => p[1]! & 0x7f;
export const rtpMarker = (p: Buffer): boolean => (p[1]! & 0x80) !== 0;
export const rtpSequence = (p: Buffer): number => (p[2]! << 8) | p[3]!;
export const rtpTimestamp = (p: Buffer): number => p.readUInt32BE(4);
export const rtpSsrc = (p: Buffer): number => p.readUInt32BE(8);

/** RTCP packet types 192-223 share the second octet with RTP marker+PT 64-95 (RFC 5761 §4). */
export function looksLikeRtcp(p: Buffer): boolean {
  return p.length >= 8 && (p[0]! & 0xc0) === 0x80 && p[1]! >= 192 && p[1]! <= 223;
}
