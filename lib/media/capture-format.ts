/**
 * Layout of captured RTP: the payload bytes of each packet, appended, and
 * one fixed-size index record per packet. The engine's fast path
 * (native/fast_path.c) appends in this layout without calling JavaScript;
 * the recording spool (lib/recording/spool-format.ts) is stored in it.
 *
 *   index record, little-endian, 32 bytes:
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-------------------------------------------------------------+
 *   |        arrival: wall-clock ms since the epoch (f64)          |  0
 *   +-------------------------------------------------------------+
 *   |        payload offset in the payload file (f64, integral)    |  8
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

/**
 * A place the engine appends captured packets to, owned by its user: the
 * engine writes a packet's payload at `payload[cursor[0]]` and its record
 * at `index[cursor[1] * RECORD_BYTES]`, with payload offset `baseOffset +
 * cursor[0]`, and advances both cursors, as long as the whole packet fits
 * in what is left of `payload` and a record in `index`; the user appends
 * the same way through the same cursors.
 */
export interface CaptureArea {
  readonly payload: Uint8Array;
  readonly index: Uint8Array;
  /** [payload octets used, records used] */
  readonly cursor: Int32Array;
  /** Offset of payload[0] in the payload file. */
  readonly baseOffset: number;
}
