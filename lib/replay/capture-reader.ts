import { readFile } from 'node:fs/promises';
import { CaptureError } from './capture-error.js';
import { PacketDecoder, type DecodeStats, type UdpDatagram } from './packet-decoder.js';

export { CaptureError } from './capture-error.js';
export type { DecodeStats, Endpoint, UdpDatagram } from './packet-decoder.js';

/** One captured frame before link-layer decoding. */
export interface CaptureFrame {
  /** Epoch milliseconds, fractional (microsecond precision survives a double). */
  timeMs: number;
  linkType: number;
  data: Buffer;
  /** Length on the wire; larger than data.length when the snapshot length cut the frame. */
  originalLength: number;
}

export type CaptureFormat = 'pcap' | 'pcapng';

export interface Capture {
  format: CaptureFormat;
  /** Link types met, in order of first appearance. */
  linkTypes: number[];
  datagrams: UdpDatagram[];
  stats: DecodeStats & { skippedBlocks: number };
}

/**
 * Classic pcap (https://www.tcpdump.org/manpages/pcap-savefile.5.html):
 *
 *   file header, 24 bytes:
 *   +----------------+---------+---------+----------+---------+----------+----------+
 *   | magic (4)      | major(2)| minor(2)| zone (4) | sigfigs | snaplen  | linktype |
 *   +----------------+---------+---------+----------+---------+----------+----------+
 *   record header, 16 bytes (24 in the "modified" Kuznetsov format), then data:
 *   +-----------+-------------------+--------------+---------------+
 *   | ts_sec (4)| ts_usec/nsec (4)  | incl_len (4) | orig_len (4)  |
 *   +-----------+-------------------+--------------+---------------+
 *
 * The magic, read in the writer's byte order, tells the byte order and
 * whether the sub-second field counts micro- or nanoseconds.
 */
const PCAP_MAGIC: Record<number, { le: boolean; nanos: boolean; modified: boolean }> = {
  0xa1b2c3d4: { le: true, nanos: false, modified: false },
  0xd4c3b2a1: { le: false, nanos: false, modified: false },
  0xa1b23c4d: { le: true, nanos: true, modified: false },
  0x4d3cb2a1: { le: false, nanos: true, modified: false },
  0xa1b2cd34: { le: true, nanos: false, modified: true },
  0x34cdb2a1: { le: false, nanos: false, modified: true },
};
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Largest record accepted; Wireshark's own limit for most link types is 256 KiB. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

export interface ReadCaptureOptions {
  /**
   * A file whose last record is cut short (capture killed while writing) is
   * an error by default; with true, the records before it are returned.
   */
  allowTruncatedTail?: boolean;
}

/** Decodes a whole capture held in memory. Throws CaptureError, nothing else, on bad input. */
export function readCapture(buf: Buffer, options: ReadCaptureOptions = {}): Capture {
  const decoder = new PacketDecoder();
  const datagrams: UdpDatagram[] = [];
  const linkTypes: number[] = [];
  const counters = { skippedBlocks: 0 };
  const format = detectFormat(buf);
  const frames = format === 'pcap' ? readPcapFrames(buf, options) : readPcapngFrames(buf, options, counters);
  try {
    for (const frame of frames) {
      if (!linkTypes.includes(frame.linkType)) linkTypes.push(frame.linkType);
      const d = decoder.decode(frame.linkType, frame.data, frame.timeMs);
      if (d !== undefined) datagrams.push(d);
    }
  } catch (err) {
    if (err instanceof CaptureError) throw err;
    // A bounds check missed somewhere: still a bad file to the caller, never a crash.
    throw new CaptureError(`unreadable capture: ${(err as Error).message}`);
  }
  decoder.finish();
  return { format, linkTypes, datagrams, stats: { ...decoder.stats, skippedBlocks: counters.skippedBlocks } };
}

/** Reads and decodes a capture file (captures are small: the whole file is read). */
export async function readCaptureFile(path: string, options: ReadCaptureOptions = {}): Promise<Capture> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new CaptureError(`cannot read ${path}: ${(err as Error).message}`);
  }
  return readCapture(buf, options);
}

export function detectFormat(buf: Buffer): CaptureFormat {
  if (buf.length < 4) throw new CaptureError(`not a capture: ${buf.length} bytes, too short for a file header`, 0);
  if (buf.readUInt32LE(0) === PCAPNG_SHB) return 'pcapng';
  if (PCAP_MAGIC[buf.readUInt32LE(0)] !== undefined) return 'pcap';
  throw new CaptureError(`not a pcap or pcapng file: unknown magic 0x${buf.readUInt32BE(0).toString(16).padStart(8, '0')}`, 0);
}

/** Frames of a classic pcap file. */
export function* readPcapFrames(buf: Buffer, options: ReadCaptureOptions = {}): Generator<CaptureFrame> {
  const magic = PCAP_MAGIC[buf.length >= 4 ? buf.readUInt32LE(0) : 0];
  if (magic === undefined) throw new CaptureError('not a pcap file: unknown magic', 0);
  if (buf.length < 24) throw new CaptureError(`truncated pcap file header: ${buf.length} of 24 bytes`, 0);
  const u16 = (o: number): number => (magic.le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (magic.le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const major = u16(4);
  const minor = u16(6);
  if (major !== 2) throw new CaptureError(`unsupported pcap version ${major}.${minor}`, 4);
  // The upper bits of the link-type field carry FCS information (pcap-savefile(5)).
  const linkType = u32(20) & 0xffff;
  const recordHeader = magic.modified ? 24 : 16;
  const fraction = magic.nanos ? 1e6 : 1e3;
  let off = 24;
  let index = 0;
  while (off < buf.length) {
    index++;
    if (buf.length - off < recordHeader) {
      if (options.allowTruncatedTail) return;
      throw new CaptureError(`truncated pcap record header of packet ${index}: ${buf.length - off} of ${recordHeader} bytes`, off);
    }
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    if (inclLen > MAX_RECORD_BYTES) {
      throw new CaptureError(`packet ${index}: implausible captured length ${inclLen} (corrupt file?)`, off);
    }
    const start = off + recordHeader;
    if (start + inclLen > buf.length) {
      if (options.allowTruncatedTail) return;
      throw new CaptureError(`truncated pcap record of packet ${index}: ${buf.length - start} of ${inclLen} bytes`, off);
    }
    const timeMs = u32(off) * 1000 + u32(off + 4) / fraction;
    yield { timeMs, linkType, data: buf.subarray(start, start + inclLen), originalLength: origLen };
    off = start + inclLen;
  }
}

interface Interface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per second (if_tsresol) and offset in seconds (if_tsoffset). */
  unitsPerSecond: bigint;
  offsetSeconds: bigint;
}

/**
 * Frames of a pcapng file (draft-ietf-opsawg-pcapng). Every block:
 *
 *   +---------------------------------------------------------------+
 *   |                      Block Type (32)                          |
 *   |                      Block Total Length (32)                  |
 *   /                      Block Body (variable, padded to 32 bits) /
 *   |                      Block Total Length (32)                  |
 *   +---------------------------------------------------------------+
 *
 * Section Header (0x0A0D0D0A) sets the byte order through its byte-order
 * magic and resets the interfaces; Interface Description (1) gives link
 * type, snaplen and if_tsresol/if_tsoffset; Enhanced (6), Simple (3) and the
 * obsolete Packet block (2) carry frames. Other blocks are skipped.
 */
export function* readPcapngFrames(
  buf: Buffer,
  options: ReadCaptureOptions = {},
  counters: { skippedBlocks: number } = { skippedBlocks: 0 },
): Generator<CaptureFrame> {
  let le = true;
  let interfaces: Interface[] = [];
  let off = 0;
  let index = 0;
  let lastTimeMs = 0;
  const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  while (off < buf.length) {
    index++;
    const truncated = (what: string): CaptureError => new CaptureError(`truncated pcapng ${what} (block ${index})`, off);
    if (buf.length - off < 12) {
      if (options.allowTruncatedTail && index > 1) return;
      throw truncated('block header');
    }
    // The SHB type reads the same in both byte orders; every other block is in the section's order.
    const isShb = buf.readUInt32LE(off) === PCAPNG_SHB;
    if (isShb) {
      const bom = buf.readUInt32LE(off + 8);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new CaptureError(`pcapng section header with bad byte-order magic 0x${bom.toString(16)}`, off + 8);
      interfaces = [];
    } else if (index === 1) {
      throw new CaptureError('pcapng file does not start with a section header block', 0);
    }
    const type = isShb ? PCAPNG_SHB : u32(off);
    const length = u32(off + 4);
    if (length < 12 || length % 4 !== 0) throw new CaptureError(`pcapng block ${index}: bad block length ${length}`, off + 4);
    if (off + length > buf.length) {
      if (options.allowTruncatedTail && index > 1) return;
      throw truncated(`block body: ${buf.length - off} of ${length} bytes`);
    }
    if (u32(off + length - 4) !== length) {
      throw new CaptureError(`pcapng block ${index}: trailing length ${u32(off + length - 4)} differs from ${length}`, off + length - 4);
    }
    const body = off + 8;
    const bodyEnd = off + length - 4;
    const need = (n: number): void => {
      if (bodyEnd - body < n) throw new CaptureError(`pcapng block ${index} (type ${type}): body of ${bodyEnd - body} bytes, need ${n}`, off);
    };
    const iface = (id: number): Interface => {
      const i = interfaces[id];
      if (i === undefined) throw new CaptureError(`pcapng block ${index}: packet on undeclared interface ${id}`, off);
      return i;
    };
    switch (type) {
      case PCAPNG_SHB:
        need(16);
        break;
      case 1: {
        // IDB: LinkType (16) | Reserved (16) | SnapLen (32) | options
        need(8);
        const i: Interface = { linkType: u16(body), snapLen: u32(body + 4), unitsPerSecond: 1_000_000n, offsetSeconds: 0n };
        readOptions(buf, body + 8, bodyEnd, le, (code, value) => {
          if (code === 9 && value.length >= 1) {
            // if_tsresol: MSB clear, 10^-n; MSB set, 2^-n.
            const v = value[0]!;
            const exp = BigInt(v & 0x7f);
            i.unitsPerSecond = (v & 0x80) === 0 ? 10n ** exp : 1n << exp;
          } else if (code === 14 && value.length >= 8) {
            i.offsetSeconds = le ? value.readBigInt64LE(0) : value.readBigInt64BE(0);
          }
        });
        if (i.unitsPerSecond === 0n) throw new CaptureError(`pcapng block ${index}: bad if_tsresol`, off);
        interfaces.push(i);
        break;
      }
      case 6:
      case 2: {
        // EPB: Interface ID (32) | Timestamp high (32) | low (32) | Captured len (32) | Original len (32) | data
        // Obsolete PB: Interface ID (16) | Drops count (16) | then as EPB.
        need(20);
        const i = iface(type === 6 ? u32(body) : u16(body));
        const capLen = u32(body + 12);
        if (capLen > bodyEnd - (body + 20)) {
          throw new CaptureError(`pcapng block ${index}: captured length ${capLen} exceeds the block`, off);
        }
        lastTimeMs = pcapngTime(u32(body + 4), u32(body + 8), i);
        yield {
          timeMs: lastTimeMs,
          linkType: i.linkType,
          data: buf.subarray(body + 20, body + 20 + capLen),
          originalLength: u32(body + 16),
        };
        break;
      }
      case 3: {
        // SPB: Original len (32) | data; captured length is implied (min of block, snaplen, original).
        need(4);
        const i = iface(0);
        const origLen = u32(body);
        let capLen = Math.min(origLen, bodyEnd - (body + 4));
        if (i.snapLen > 0) capLen = Math.min(capLen, i.snapLen);
        // Deviation: an SPB has no timestamp; the frame gets the time of the frame before it.
        yield { timeMs: lastTimeMs, linkType: i.linkType, data: buf.subarray(body + 4, body + 4 + capLen), originalLength: origLen };
        break;
      }
      default:
        counters.skippedBlocks++;
    }
    off += length;
  }
}

function pcapngTime(high: number, low: number, i: Interface): number {
  const units = (BigInt(high) << 32n) | BigInt(low);
  const seconds = units / i.unitsPerSecond + i.offsetSeconds;
  const rest = units % i.unitsPerSecond;
  return Number(seconds) * 1000 + (Number(rest) * 1000) / Number(i.unitsPerSecond);
}

/** Walks pcapng options: Option Code (16) | Option Length (16) | value padded to 32 bits; opt_endofopt is 0. */
function readOptions(buf: Buffer, from: number, end: number, le: boolean, each: (code: number, value: Buffer) => void): void {
  let off = from;
  while (off + 4 <= end) {
    const code = le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
    const len = le ? buf.readUInt16LE(off + 2) : buf.readUInt16BE(off + 2);
    if (code === 0) return;
    if (off + 4 + len > end) return;
    each(code, buf.subarray(off + 4, off + 4 + len));
    off += 4 + Math.ceil(len / 4) * 4;
  }
}
