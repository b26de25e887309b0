/**
 * True when packet[0..length) is exactly a compound of RTCP packets
 * (RFC 3550 §6.1: version 2, packet types 192-223 per RFC 5761 §4, each
 * length field in 32-bit words minus one, the last ending at the datagram's
 * end). An SRTCP packet does not parse so: its trailer (E||index, MKI, tag)
 * follows the last RTCP packet.
 */
export function isClearRtcp(packet: Buffer, length: number): boolean {
  let off = 0;
  while (off + 4 <= length) {
    if ((packet[off]! & 0xc0) !== 0x80) return false;
    const pt = packet[off + 1]!;
    if (pt < 192 || pt > 223) return false;
    off += (packet.readUInt16BE(off + 2) + 1) * 4;
  }
  return off === length;
}
