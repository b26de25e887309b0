import type { WavCodec } from './wav-header.js';

/** What the timeline needs to know of a leg's codec: its payload type, clock and silence. */
export interface TimelineCodec {
  /** The leg's audio payload type; others are skipped (PT 13 is comfort noise). */
  payloadType: number;
  /** RTP clock rate: 8000 for G.711 and G.722 (RFC 3551 §4.5.2). */
  clockRate: number;
  /** Payload bytes per RTP timestamp unit: 1 for G.711 and G.722. */
  bytesPerTimestampUnit: number;
  /** Silence: one unit, or a frame of whole units repeated in phase with the timeline. */
  silence: Buffer;
}

/**
 * Silence bytes per codec.
 * - A-law 0xD5 and µ-law 0xFF are the codes nearest to zero (ITU-T G.711).
 * - G.722 0xFC: `ffmpeg -f lavfi -i anullsrc=r=16000:cl=mono -t 0.02 -c:a g722
 *   -f g722 -` emits 0xFA for the first ~44 bytes, then a varying idle pattern
 *   (0xF7, 0xF8, 0xFA, 0xDB, 0xDE, ...) that depends on encoder state, so no
 *   encoder output repeats as a constant. Decoding each of the 256 constant
 *   byte streams with ffmpeg (adpcm_g722) found 0xFC and 0xFD decode to
 *   exact zeros from a fresh decoder (0xFA gives a DC of 200, 0xFF of 2).
 *   After speech, 0xFC settles within 5 ms to a constant of |38| (-59 dBFS)
 *   and stays there: inaudible, no clicks.
 */
export const SILENCE_BYTE: Readonly<Record<WavCodec, number>> = { pcma: 0xd5, pcmu: 0xff, g722: 0xfc };

/** Static payload types (RFC 3551 table 4). */
export const STATIC_PAYLOAD_TYPE: Readonly<Record<WavCodec, number>> = { pcmu: 0, pcma: 8, g722: 9 };

export const COMFORT_NOISE_PAYLOAD_TYPE = 13;

export function timelineCodec(codec: WavCodec, payloadType: number = STATIC_PAYLOAD_TYPE[codec]): TimelineCodec {
  return { payloadType, clockRate: 8000, bytesPerTimestampUnit: 1, silence: Buffer.from([SILENCE_BYTE[codec]]) };
}
