import { formatIpv4, formatIpv6 } from './ip-address.js';
import { FragmentReassembler } from './fragment-reassembler.js';

/** A transport address as it appears in a capture. */
export interface Endpoint {
  host: string;
  port: number;
}

/** One UDP datagram read from a capture; timeMs is epoch milliseconds (fractional). */
export interface UdpDatagram {
  timeMs: number;
  src: Endpoint;
  dst: Endpoint;
  payload: Buffer;
}

/** What was seen and not turned into a datagram, by reason. */
export interface DecodeStats {
  /** Frames handed to the decoder. */
  frames: number;
  /** UDP datagrams produced (reassembled ones counted once). */
  udp: number;
  /** TCP segments: counted and ignored (Deviation: SIP over TCP is not replayed). */
  tcp: number;
  /** IP packets of other protocols (ICMP, SCTP, ESP, ...). */
  otherIp: number;
  /** Frames without IP (ARP, LLDP, STP, ...). */
  nonIp: number;
  /** Frames of a link type the decoder does not know. */
  unsupportedLinkType: number;
  /** Headers cut short by the snapshot length or malformed: skipped. */
  malformed: number;
  /** IP fragments seen, datagrams rebuilt from them, fragments left over. */
  fragments: number;
  reassembled: number;
  fragmentsDropped: number;
}

export function emptyDecodeStats(): DecodeStats {
  return {
    frames: 0, udp: 0, tcp: 0, otherIp: 0, nonIp: 0, unsupportedLinkType: 0,
    malformed: 0, fragments: 0, reassembled: 0, fragmentsDropped: 0,
  };
}

/** LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) the decoder reads. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  /** DLT_RAW as written by some BSDs; in pcap files 12 and 14 carry raw IP. */
  RAW_12: 12,
  RAW_14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100]);
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
/** IPv6 extension headers walked to reach the transport (RFC 8200 §4). */
const IPV6_HOP_BY_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_AH = 51;
const IPV6_DEST_OPTS = 60;
const IPV6_MOBILITY = 135;

/**
 * Turns captured frames into UDP datagrams: link layer, then IPv4/IPv6,
 * then UDP. Stateful only for IP fragment reassembly; call finish() at the
 * end to count fragments never completed.
 */
export class PacketDecoder {
  readonly stats: DecodeStats = emptyDecodeStats();
  private readonly reassembler = new FragmentReassembler();

  decode(linkType: number, frame: Buffer, timeMs: number): UdpDatagram | undefined {
    this.stats.frames++;
    const ip = this.linkPayload(linkType, frame);
    if (ip === undefined) return undefined;
    return this.decodeIp(ip, timeMs);
  }

  finish(): void {
    this.stats.fragmentsDropped = this.reassembler.clear();
  }

  /** The IP packet inside a frame, or undefined (counted). */
  private linkPayload(linkType: number, f: Buffer): Buffer | undefined {
    switch (linkType) {
      case LinkType.ETHERNET:
        // dst MAC (6) | src MAC (6) | EtherType or 802.3 length (2)
        return f.length < 14 ? this.malformed() : this.byEtherType(f.readUInt16BE(12), f, 14);
      case LinkType.LINUX_SLL:
        // packet type (2) | ARPHRD (2) | address length (2) | address (8) | protocol (2)
        return f.length < 16 ? this.malformed() : this.byEtherType(f.readUInt16BE(14), f, 16);
      case LinkType.LINUX_SLL2:
        // protocol (2) | reserved (2) | ifindex (4) | ARPHRD (2) | packet type (1) | addr len (1) | address (8)
        return f.length < 20 ? this.malformed() : this.byEtherType(f.readUInt16BE(0), f, 20);
      case LinkType.NULL:
      case LinkType.LOOP:
        return f.length < 4 ? this.malformed() : this.byAddressFamily(linkType, f);
      case LinkType.RAW:
      case LinkType.RAW_12:
      case LinkType.RAW_14:
      case LinkType.IPV4:
      case LinkType.IPV6:
        return f;
      default:
        this.stats.unsupportedLinkType++;
        return undefined;
    }
  }

  private byEtherType(etherType: number, f: Buffer, offset: number): Buffer | undefined {
    let type = etherType;
    let off = offset;
    // IEEE 802.1Q / 802.1ad: TPID (2) | TCI (2), then the inner EtherType; tags may stack.
    while (VLAN_TAGS.has(type)) {
      if (f.length < off + 4) return this.malformed();
      type = f.readUInt16BE(off + 2);
      off += 4;
    }
    // IEEE 802.3 length field with LLC/SNAP: AA AA 03 | OUI (3) | EtherType (2).
    if (type <= 1500) {
      if (f.length >= off + 8 && f[off] === 0xaa && f[off + 1] === 0xaa && f[off + 2] === 0x03) {
        type = f.readUInt16BE(off + 6);
        off += 8;
      } else {
        this.stats.nonIp++;
        return undefined;
      }
    }
    if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6) return f.subarray(off);
    this.stats.nonIp++;
    return undefined;
  }

  /**
   * BSD loopback: a 4-byte address family, host byte order for NULL (0),
   * network byte order for LOOP (108). AF_INET is 2 everywhere; AF_INET6 is
   * 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS) or 10 (Linux).
   */
  private byAddressFamily(linkType: number, f: Buffer): Buffer | undefined {
    const be = f.readUInt32BE(0);
    const le = f.readUInt32LE(0);
    const af = linkType === LinkType.LOOP ? be : be < 256 ? be : le;
    if (af === 2 || af === 24 || af === 28 || af === 30 || af === 10) return f.subarray(4);
    this.stats.nonIp++;
    return undefined;
  }

  private decodeIp(p: Buffer, timeMs: number): UdpDatagram | undefined {
    if (p.length < 1) return this.malformed();
    const version = p[0]! >> 4;
    if (version === 4) return this.decodeIpv4(p, timeMs);
    if (version === 6) return this.decodeIpv6(p, timeMs);
    this.stats.nonIp++;
    return undefined;
  }

  /**
   * IPv4 header (RFC 791 §3.1):
   *
   *    0                   1                   2                   3
   *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
   *   |Version|  IHL  |Type of Service|          Total Length         |
   *   |         Identification        |Flags|      Fragment Offset    |
   *   |  Time to Live |    Protocol   |         Header Checksum       |
   *   |                       Source Address                          |
   *   |                    Destination Address                        |
   *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
   */
  private decodeIpv4(p: Buffer, timeMs: number): UdpDatagram | undefined {
    if (p.length < 20) return this.malformed();
    const ihl = (p[0]! & 0x0f) * 4;
    const totalLength = p.readUInt16BE(2);
    if (ihl < 20 || p.length < ihl || totalLength < ihl) return this.malformed();
    const src = formatIpv4(p, 12);
    const dst = formatIpv4(p, 16);
    const protocol = p[9]!;
    // Ethernet pads short frames: the IP total length is what counts.
    let payload = p.subarray(ihl, Math.min(totalLength, p.length));
    const flagsOffset = p.readUInt16BE(6);
    const moreFragments = (flagsOffset & 0x2000) !== 0;
    const fragmentOffset = (flagsOffset & 0x1fff) * 8;
    if (moreFragments || fragmentOffset > 0) {
      if (protocol !== IPPROTO_UDP) return this.count(protocol);
      this.stats.fragments++;
      if (totalLength > p.length) return this.malformed();
      const key = `4|${src}|${dst}|${p.readUInt16BE(4)}`;
      const whole = this.reassembler.add(key, fragmentOffset, moreFragments, payload, timeMs);
      if (whole === undefined) return undefined;
      this.stats.reassembled++;
      payload = whole;
    }
    return this.transport(protocol, payload, src, dst, timeMs);
  }

  /**
   * IPv6 fixed header (RFC 8200 §3): version (4) | traffic class (8) |
   * flow label (20) | payload length (16) | next header (8) | hop limit (8) |
   * source (128) | destination (128). Extension headers are walked to UDP.
   */
  private decodeIpv6(p: Buffer, timeMs: number): UdpDatagram | undefined {
    if (p.length < 40) return this.malformed();
    const payloadLength = p.readUInt16BE(4);
    const end = Math.min(40 + payloadLength, p.length);
    const src = formatIpv6(p, 8);
    const dst = formatIpv6(p, 24);
    let next = p[6]!;
    let off = 40;
    for (;;) {
      if (next === IPV6_HOP_BY_HOP || next === IPV6_ROUTING || next === IPV6_DEST_OPTS || next === IPV6_MOBILITY) {
        // next header (8) | header extension length in 8-octet units, not counting the first (8) | ...
        if (end < off + 2) return this.malformed();
        const len = (p[off + 1]! + 1) * 8;
        next = p[off]!;
        off += len;
      } else if (next === IPV6_AH) {
        // RFC 4302 §2.2: payload length in 4-octet units, minus 2.
        if (end < off + 2) return this.malformed();
        const len = (p[off + 1]! + 2) * 4;
        next = p[off]!;
        off += len;
      } else if (next === IPV6_FRAGMENT) {
        // next header (8) | reserved (8) | fragment offset (13) | res (2) | M (1) | identification (32)
        if (end < off + 8) return this.malformed();
        const proto = p[off]!;
        const offsetFlags = p.readUInt16BE(off + 2);
        const ident = p.readUInt32BE(off + 4);
        off += 8;
        if (proto !== IPPROTO_UDP) return this.count(proto);
        this.stats.fragments++;
        if (40 + payloadLength > p.length) return this.malformed();
        const key = `6|${src}|${dst}|${ident}`;
        const whole = this.reassembler.add(key, offsetFlags & 0xfff8, (offsetFlags & 1) !== 0, p.subarray(off, end), timeMs);
        if (whole === undefined) return undefined;
        this.stats.reassembled++;
        return this.transport(proto, whole, src, dst, timeMs);
      } else break;
      if (off > end) return this.malformed();
    }
    return this.transport(next, p.subarray(off, end), src, dst, timeMs);
  }

  /** UDP header (RFC 768): source port | destination port | length | checksum, 16 bits each. */
  private transport(protocol: number, t: Buffer, src: string, dst: string, timeMs: number): UdpDatagram | undefined {
    if (protocol !== IPPROTO_UDP) return this.count(protocol);
    if (t.length < 8) return this.malformed();
    const length = t.readUInt16BE(4);
    // A length beyond the bytes captured means the snapshot length cut the datagram.
    if (length < 8 || length > t.length) return this.malformed();
    this.stats.udp++;
    return {
      timeMs,
      src: { host: src, port: t.readUInt16BE(0) },
      dst: { host: dst, port: t.readUInt16BE(2) },
      payload: t.subarray(8, length),
    };
  }

  private count(protocol: number): undefined {
    if (protocol === IPPROTO_TCP) this.stats.tcp++;
    else this.stats.otherIp++;
    return undefined;
  }

  private malformed(): undefined {
    this.stats.malformed++;
    return undefined;
  }
}
