/**
 * On-disk format of one leg's spool. The relay appends, in batches, the RTP
 * payload bytes to `<leg>.payload` and one fixed-size record per packet to
 * `<leg>.index`. A crash loses at most the last unflushed batch; a torn last
 * record (file length not a multiple of RECORD_BYTES) is ignored on reading.
 *
 *   index record, little-endian, 32 bytes:
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-------------------------------------------------------------+
 *   |        arrival: wall-clock ms since the epoch (f64)          |  0
 *   +-------------------------------------------------------------+
 *   |        payload offset in <leg>.payload (f64, integral)       |  8
 *   +-------------------------------+-----------------------------+
 *   |        RTP timestamp (u32)    |        SSRC (u32)           | 16
 *   +---------------+-------+-------+-----------------------------+
 *   |  seq (u16)    |M|PT(7)| flags |  payload length (u16) | pad | 24
 *   +---------------+-------+-------+-----------------------+-----+
 */
export const RECORD_BYTES = 32;

export const OFFSET = {
  arrival: 0,
  payloadOffset: 8,
  timestamp: 16,
  ssrc: 20,
  seq: 24,
  /** marker bit (0x80) | payload type (0x7f) */
  markerPt: 26,
  flags: 27,
  length: 28,
} as const;

/** Flag bits of a record. */
export const FLAG = {
  /** The packet was a telephone-event (RFC 4733): kept in the index, never audio. */
  event: 1,
} as const;

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
