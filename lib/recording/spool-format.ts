import { OFFSET } from '../media/capture-format.js';

export { FLAG, OFFSET, RECORD_BYTES } from '../media/capture-format.js';

/**
 * On-disk format of one leg's spool. The relay appends, in batches, the RTP
 * payload bytes to `<leg>.payload` and one fixed-size record per packet to
 * `<leg>.index`, in the capture layout (lib/media/capture-format.ts). A
 * crash loses at most the last unflushed batch; a torn last record (file
 * length not a multiple of RECORD_BYTES) is ignored on reading.
 */
export interface SpoolRecord {
  arrival: number;
  payloadOffset: number;
  timestamp: number;
  ssrc: number;
  seq: number;
  marker: boolean;
  payloadType: number;
  flags: number;
  length: number;
}

export function writeRecord(buf: Buffer, at: number, r: SpoolRecord): void {
  buf.writeDoubleLE(r.arrival, at + OFFSET.arrival);
  buf.writeDoubleLE(r.payloadOffset, at + OFFSET.payloadOffset);
  buf.writeUInt32LE(r.timestamp >>> 0, at + OFFSET.timestamp);
  buf.writeUInt32LE(r.ssrc >>> 0, at + OFFSET.ssrc);
  buf.writeUInt16LE(r.seq & 0xffff, at + OFFSET.seq);
  buf[at + OFFSET.markerPt] = (r.marker ? 0x80 : 0) | (r.payloadType & 0x7f);
  buf[at + OFFSET.flags] = r.flags & 0xff;
  buf.writeUInt16LE(r.length & 0xffff, at + OFFSET.length);
  buf.writeUInt16LE(0, at + 30);
}

export function readRecord(buf: Buffer, at: number): SpoolRecord {
  const mpt = buf[at + OFFSET.markerPt]!;
  return {
    arrival: buf.readDoubleLE(at + OFFSET.arrival),
    payloadOffset: buf.readDoubleLE(at + OFFSET.payloadOffset),
    timestamp: buf.readUInt32LE(at + OFFSET.timestamp),
    ssrc: buf.readUInt32LE(at + OFFSET.ssrc),
    seq: buf.readUInt16LE(at + OFFSET.seq),
    marker: (mpt & 0x80) !== 0,
    payloadType: mpt & 0x7f,
    flags: buf[at + OFFSET.flags]!,
    length: buf.readUInt16LE(at + OFFSET.length),
  };
}
