/**
 * A minimal libpcap file reader for the tests: the classic format (not
 * pcapng), microsecond or nanosecond timestamps, either byte order, link
 * type 1 (Ethernet, with optional 802.1Q tags) carrying IPv4/UDP.
 */

export const LINKTYPE_ETHERNET = 1;

export interface PcapRecord {
  /** Capture time in ms since the epoch (fractional). */
  timeMs: number;
  data: Buffer;
}

export interface PcapFile {
  linkType: number;
  records: PcapRecord[];
}

export interface UdpDatagram {
  timeMs: number;
  source: string;
  destination: string;
  payload: Buffer;
}

const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export function readPcap(file: Buffer): PcapFile {
  if (file.length < GLOBAL_HEADER) throw new Error('pcap: shorter than the global header');
  const magicLE = file.readUInt32LE(0);
  const magicBE = file.readUInt32BE(0);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    littleEndian = true;
    nanoseconds = magicLE === 0xa1b23c4d;
  } else if (magicBE === 0xa1b2c3d4 || magicBE === 0xa1b23c4d) {
    littleEndian = false;
    nanoseconds = magicBE === 0xa1b23c4d;
  } else throw new Error(`pcap: unknown magic 0x${magicBE.toString(16)} (pcapng is not supported)`);
  const u32 = (offset: number): number => (littleEndian ? file.readUInt32LE(offset) : file.readUInt32BE(offset));
  const linkType = u32(20) & 0x0fffffff; // the top bits may carry FCS information
  const records: PcapRecord[] = [];
  for (let offset = GLOBAL_HEADER; offset + RECORD_HEADER <= file.length; ) {
    const seconds = u32(offset);
    const fraction = u32(offset + 4);
    const included = u32(offset + 8);
    const start = offset + RECORD_HEADER;
    if (start + included > file.length) throw new Error(`pcap: record at ${offset} runs past the end`);
    records.push({
      timeMs: seconds * 1000 + (nanoseconds ? fraction / 1e6 : fraction / 1e3),
      data: file.subarray(start, start + included),
    });
    offset = start + included;
  }
  return { linkType, records };
}

/** The UDP payloads of an Ethernet capture (IPv4 only; fragments and other traffic skipped). */
export function udpDatagrams(pcap: PcapFile): UdpDatagram[] {
  if (pcap.linkType !== LINKTYPE_ETHERNET) throw new Error(`pcap: link type ${pcap.linkType} is not Ethernet`);
  const out: UdpDatagram[] = [];
  for (const { timeMs, data } of pcap.records) {
    let offset = 12;
    if (data.length < offset + 2) continue;
    let etherType = data.readUInt16BE(offset);
    while (etherType === 0x8100 || etherType === 0x88a8) {
      offset += 4;
      if (data.length < offset + 2) break;
      etherType = data.readUInt16BE(offset);
    }
    offset += 2;
    if (etherType !== 0x0800 || data.length < offset + 20) continue;
    const ip = offset;
    if (data[ip]! >> 4 !== 4) continue;
    const headerLength = (data[ip]! & 0x0f) * 4;
    const totalLength = data.readUInt16BE(ip + 2);
    const fragment = data.readUInt16BE(ip + 6);
    if (data[ip + 9] !== 17 || (fragment & 0x3fff) !== 0) continue; // not UDP, or a fragment
    const udp = ip + headerLength;
    const end = Math.min(data.length, ip + totalLength);
    if (udp + 8 > end) continue;
    const udpLength = data.readUInt16BE(udp + 4);
    const address = (at: number): string => `${data[at]}.${data[at + 1]}.${data[at + 2]}.${data[at + 3]}`;
    out.push({
      timeMs,
      source: `${address(ip + 12)}:${data.readUInt16BE(udp)}`,
      destination: `${address(ip + 16)}:${data.readUInt16BE(udp + 2)}`,
      payload: data.subarray(udp + 8, Math.min(end, udp + udpLength)),
    });
  }
  return out;
}
