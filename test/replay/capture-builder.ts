/**
 * Writes small synthetic captures for the replay tests: pcap and pcapng in
 * either byte order, and the link-layer, IP and UDP headers around a payload.
 * Checksums are left zero (the reader never checks them).
 */
import { isIPv4 } from 'node:net';

export interface Frame {
  timeMs: number;
  data: Buffer;
}

export interface PcapOptions {
  linkType: number;
  littleEndian?: boolean;
  nanos?: boolean;
  snapLen?: number;
}

export function writePcap(frames: Frame[], o: PcapOptions): Buffer {
  const le = o.littleEndian ?? true;
  const head = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, off: number): number => (le ? b.writeUInt32LE(v, off) : b.writeUInt32BE(v, off));
  const w16 = (b: Buffer, v: number, off: number): number => (le ? b.writeUInt16LE(v, off) : b.writeUInt16BE(v, off));
  w32(head, o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(head, 2, 4);
  w16(head, 4, 6);
  w32(head, o.snapLen ?? 65535, 16);
  w32(head, o.linkType, 20);
  const parts: Buffer[] = [head];
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    const sec = Math.floor(f.timeMs / 1000);
    const frac = o.nanos ? Math.round((f.timeMs - sec * 1000) * 1e6) : Math.round((f.timeMs - sec * 1000) * 1e3);
    w32(rec, sec, 0);
    w32(rec, frac, 4);
    w32(rec, f.data.length, 8);
    w32(rec, f.data.length, 12);
    parts.push(rec, f.data);
  }
  return Buffer.concat(parts);
}

export interface PcapngOptions {
  linkType: number;
  littleEndian?: boolean;
  /** if_tsresol byte; undefined writes no option (microseconds). */
  tsresol?: number;
  /** Write Simple Packet Blocks instead of Enhanced ones. */
  simple?: boolean;
  /** Insert a Name Resolution and a custom block, which the reader must skip. */
  extraBlocks?: boolean;
}

export function writePcapng(frames: Frame[], o: PcapngOptions): Buffer {
  const le = o.littleEndian ?? true;
  const block = (type: number, body: Buffer): Buffer => {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const b = Buffer.alloc(12 + padded.length);
    const len = b.length;
    if (le) {
      b.writeUInt32LE(type, 0);
      b.writeUInt32LE(len, 4);
      b.writeUInt32LE(len, len - 4);
    } else {
      b.writeUInt32BE(type, 0);
      b.writeUInt32BE(len, 4);
      b.writeUInt32BE(len, len - 4);
    }
    padded.copy(b, 8);
    return b;
  };
  const u16 = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  };
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(v);
    else b.writeUInt32BE(v);
    return b;
  };
  const shb = Buffer.concat([u32(0x1a2b3c4d), u16(1), u16(0), Buffer.alloc(8, 0xff)]);
  const idbOptions =
    o.tsresol === undefined ? Buffer.alloc(0) : Buffer.concat([u16(9), u16(1), Buffer.from([o.tsresol, 0, 0, 0]), u16(0), u16(0)]);
  const idb = Buffer.concat([u16(o.linkType), u16(0), u32(0), idbOptions]);
  const parts: Buffer[] = [block(0x0a0d0d0a, shb), block(1, idb)];
  if (o.extraBlocks) parts.push(block(4, Buffer.concat([u16(0), u16(0)])), block(0x00000bad, Buffer.alloc(8)));
  const resol = o.tsresol ?? 6;
  const unitsPerSecond = (resol & 0x80) === 0 ? 10n ** BigInt(resol) : 1n << BigInt(resol & 0x7f);
  for (const f of frames) {
    if (o.simple) {
      parts.push(block(3, Buffer.concat([u32(f.data.length), f.data])));
      continue;
    }
    const units = (BigInt(Math.round(f.timeMs * 1000)) * unitsPerSecond) / 1_000_000n;
    parts.push(
      block(6, Buffer.concat([
        u32(0), u32(Number(units >> 32n)), u32(Number(units & 0xffffffffn)), u32(f.data.length), u32(f.data.length), f.data,
      ])),
    );
  }
  return Buffer.concat(parts);
}

function ipv4Bytes(host: string): Buffer {
  return Buffer.from(host.split('.').map(Number));
}

function ipv6Bytes(host: string): Buffer {
  const [head, tail] = host.includes('::') ? host.split('::') : [host, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export function udpHeader(srcPort: number, dstPort: number, payload: Buffer): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(srcPort, 0);
  u.writeUInt16BE(dstPort, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([u, payload]);
}

/** IPv4 packet carrying `transport` (protocol 17 by default); fragment fields optional. */
export function ipv4(src: string, dst: string, transport: Buffer, o: { protocol?: number; id?: number; offset?: number; more?: boolean } = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + transport.length, 2);
  h.writeUInt16BE(o.id ?? 1, 4);
  h.writeUInt16BE(((o.more ? 1 : 0) << 13) | ((o.offset ?? 0) / 8), 6);
  h[8] = 64;
  h[9] = o.protocol ?? 17;
  ipv4Bytes(src).copy(h, 12);
  ipv4Bytes(dst).copy(h, 16);
  return Buffer.concat([h, transport]);
}

/** A UDP datagram split into IPv4 fragments of at most `size` payload bytes (a multiple of 8). */
export function ipv4Fragments(src: string, dst: string, udp: Buffer, size: number, id: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < udp.length; off += size) {
    out.push(ipv4(src, dst, udp.subarray(off, off + size), { id, offset: off, more: off + size < udp.length }));
  }
  return out;
}

/** IPv6 packet; `ext` is a list of extension headers (next-header codes) put before UDP. */
export function ipv6(src: string, dst: string, transport: Buffer, ext: number[] = [], protocol = 17): Buffer {
  const chain: Buffer[] = [];
  ext.forEach((code, i) => {
    const next = i + 1 < ext.length ? ext[i + 1]! : protocol;
    const e = Buffer.alloc(8);
    e[0] = next;
    e[1] = 0; // 8 octets in total, the minimum (RFC 8200 §4.3)
    if (code === 44) e.writeUInt16BE(0, 2); // fragment offset 0, M clear: an atomic fragment (RFC 6946)
    chain.push(e);
  });
  const body = Buffer.concat([...chain, transport]);
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(body.length, 4);
  h[6] = ext.length > 0 ? ext[0]! : protocol;
  h[7] = 64;
  ipv6Bytes(src).copy(h, 8);
  ipv6Bytes(dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

export function ethernet(ip: Buffer, vlanIds: number[] = []): Buffer {
  const macs = Buffer.from('00112233445566778899aabb', 'hex');
  const tags = vlanIds.map((id, i) => {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(i === 0 && vlanIds.length > 1 ? 0x88a8 : 0x8100, 0);
    t.writeUInt16BE(id, 2);
    return t;
  });
  const type = Buffer.alloc(2);
  type.writeUInt16BE((ip[0]! >> 4) === 6 ? 0x86dd : 0x0800);
  // The TPID of each tag sits where the EtherType would be; the real EtherType comes last.
  return Buffer.concat([macs, ...tags.map((t) => t), type, ip]);
}

/** Linux cooked v1 (LINKTYPE_LINUX_SLL, 113) header before an IP packet. */
export function sll(ip: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0); // to us
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  Buffer.from('001122334455', 'hex').copy(h, 6);
  h.writeUInt16BE((ip[0]! >> 4) === 6 ? 0x86dd : 0x0800, 14);
  return Buffer.concat([h, ip]);
}

/** Linux cooked v2 (LINKTYPE_LINUX_SLL2, 276) header before an IP packet. */
export function sll2(ip: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE((ip[0]! >> 4) === 6 ? 0x86dd : 0x0800, 0);
  h.writeUInt32BE(2, 4); // ifindex
  h.writeUInt16BE(1, 8); // ARPHRD_ETHER
  h[10] = 0;
  h[11] = 6;
  return Buffer.concat([h, ip]);
}

/** BSD loopback (LINKTYPE_NULL, 0): address family in the writer's byte order. */
export function nullLoopback(ip: Buffer, af: number, littleEndian: boolean): Buffer {
  const h = Buffer.alloc(4);
  if (littleEndian) h.writeUInt32LE(af);
  else h.writeUInt32BE(af);
  return Buffer.concat([h, ip]);
}

export function ipPacket(src: string, dst: string, srcPort: number, dstPort: number, payload: Buffer): Buffer {
  const udp = udpHeader(srcPort, dstPort, payload);
  return isIPv4(src) ? ipv4(src, dst, udp) : ipv6(src, dst, udp);
}

/** A minimal RTP packet (RFC 3550 §5.1) with the given fields and payload. */
export function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | pt;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}
