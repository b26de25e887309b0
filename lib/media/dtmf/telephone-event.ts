/**
 * RFC 4733 telephone-event payload (§2.3), one 4-octet block per event:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     event     |E|R| volume    |          duration             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   event     §3.2 code: 0-9 digits, 10 "*", 11 "#", 12-15 A-D, 16 flash
 *   E         end of event
 *   R         reserved, ignored
 *   volume    0-63, the power level in -dBm0
 *   duration  in RTP timestamp units since the event began (unsigned, network order)
 *
 * Counting each key press once (the RTP timestamp is the event's start, the
 * same in every packet of one event, §2.5.1): a press is the triple
 * (SSRC, RTP timestamp, event code). It is reported on its first E=1
 * packet; RFC 4733 §2.5.1.4: "The final packet for each event and for each
 * segment SHOULD be sent a total of three times", and "Once the sender has
 * set the E bit for a packet, it MUST continue to set the E bit for any
 * further retransmissions of that packet", so the other E=1 copies are
 * ignored. When every end packet was lost, the press is reported when a
 * packet of another press arrives or when no update has come for
 * `flushAfterMs` (checked by `push` and by `poll`). The last few presses are
 * remembered, so late or reordered copies are not counted again.
 *
 * Deviation: only the first event block of a payload is read. RFC 4733
 * §2.5.1.5 lets a sender pack several consecutive events into one packet
 * (and RFC 2198 redundancy uses another payload type); the PBXs and phones
 * callrec serves send one event per packet.
 */
import { rtpPayloadEnd, rtpPayloadOffset } from '../rtp-header.js';
import { KeyQueue } from './key-queue.js';
import type { DtmfKey } from './keys.js';

/** Octets of one event block. */
export const TELEPHONE_EVENT_SIZE = 4;

const EVENT = 0;
const FLAGS_VOLUME = 1;
const DURATION = 2;
const END_BIT = 0x80;
const VOLUME_MASK = 0x3f;
/** RFC 4733 §2.5.1.3: longer events are split into segments of at most 0xFFFF units. */
const MAX_SEGMENT_DURATION = 0xffff;

export interface TelephoneEvent {
  /** §3.2 event code (0-255; 0-15 are DTMF keys, 16 is flash). */
  event: number;
  /** The E bit: this packet ends the event. */
  end: boolean;
  /** 0-63, -dBm0. */
  volume: number;
  /** Timestamp units since the event began. */
  duration: number;
}

/**
 * Reads the first event block of a telephone-event payload (not the whole
 * RTP packet), or undefined when it is shorter than 4 octets. For control
 * paths and tests; the detector reads the fields in place.
 */
export function parseTelephoneEvent(payload: Buffer): TelephoneEvent | undefined {
  if (payload.length < TELEPHONE_EVENT_SIZE) return undefined;
  return {
    event: payload[EVENT]!,
    end: (payload[FLAGS_VOLUME]! & END_BIT) !== 0,
    volume: payload[FLAGS_VOLUME]! & VOLUME_MASK,
    duration: payload.readUInt16BE(DURATION),
  };
}

export interface TelephoneEventDetectorOptions {
  /** Report a press whose end packets were all lost after this long without updates (default 1000 ms). */
  flushAfterMs?: number;
  /** How many counted presses are remembered against late copies (default 8). */
  remember?: number;
}

/**
 * Sans-I/O detector of key presses in one direction's telephone-event
 * packets. Allocates nothing per packet.
 */
export class TelephoneEventDetector {
  private readonly flushAfterMs: number;
  private readonly out = new KeyQueue(4);

  // The press being received.
  private active = false;
  private ssrc = 0;
  private timestamp = 0;
  private event = 0;
  private duration = 0;
  private reported = false;
  private lastUpdateMs = 0;

  // Ring of counted presses (SSRC, timestamp, event).
  private readonly seenSsrc: Uint32Array;
  private readonly seenTimestamp: Uint32Array;
  private readonly seenEvent: Int16Array;
  private seenNext = 0;

  /** @param payloadType the dynamic payload type of `a=rtpmap:<pt> telephone-event/<rate>` */
  constructor(
    readonly payloadType: number,
    options: TelephoneEventDetectorOptions = {},
  ) {
    this.flushAfterMs = options.flushAfterMs ?? 1000;
    const remember = Math.max(1, options.remember ?? 8);
    this.seenSsrc = new Uint32Array(remember);
    this.seenTimestamp = new Uint32Array(remember);
    this.seenEvent = new Int16Array(remember).fill(-1);
  }

  /**
   * One RTP packet (header included) as received. Packets of another payload
   * type, malformed packets and non-key events (flash, > 15) yield nothing
   * for themselves. Returns the key of a completed press, at most one per
   * call; a second one found at the same moment comes with the next call.
   */
  push(packet: Buffer, arrivalMs: number): DtmfKey | undefined {
    this.expire(arrivalMs);
    const offset = rtpPayloadOffset(packet);
    if (offset >= 0 && (packet[1]! & 0x7f) === this.payloadType) {
      const end = rtpPayloadEnd(packet, offset);
      if (end >= offset + TELEPHONE_EVENT_SIZE) {
        this.onEvent(
          packet.readUInt32BE(8),
          packet.readUInt32BE(4),
          packet[offset + EVENT]!,
          (packet[offset + FLAGS_VOLUME]! & END_BIT) !== 0,
          packet.readUInt16BE(offset + DURATION),
          arrivalMs,
        );
      }
    }
    return this.out.take();
  }

  /**
   * Call now and then (e.g. every 250 ms) while no telephone-event packets
   * come: reports a press whose end packets were all lost once it has had no
   * update for `flushAfterMs`, and hands out a key left waiting by `push`.
   */
  poll(nowMs: number): DtmfKey | undefined {
    this.expire(nowMs);
    return this.out.take();
  }

  /** Forget everything (new stream after a re-INVITE). */
  reset(): void {
    this.active = false;
    this.seenEvent.fill(-1);
    this.out.clear();
  }

  private onEvent(ssrc: number, timestamp: number, event: number, end: boolean, duration: number, atMs: number): void {
    if (this.active && ssrc === this.ssrc && timestamp === this.timestamp && event === this.event) {
      this.lastUpdateMs = atMs;
      if (duration > this.duration) this.duration = duration;
      if (end && !this.reported) this.report();
      return;
    }
    // A copy of a press counted before (late, reordered or retransmitted).
    if (this.wasSeen(ssrc, timestamp, event)) return;

    // Another press begins, so the current one is over.
    const continuation =
      this.active &&
      ssrc === this.ssrc &&
      event === this.event &&
      this.duration === MAX_SEGMENT_DURATION &&
      ((timestamp - this.timestamp) >>> 0) === MAX_SEGMENT_DURATION;
    if (this.active && !this.reported) this.report();
    if (event > 15) {
      this.active = false;
      return;
    }
    this.active = true;
    this.ssrc = ssrc;
    this.timestamp = timestamp;
    this.event = event;
    this.duration = duration;
    this.lastUpdateMs = atMs;
    // RFC 4733 §2.5.1.3: the next segment of a long event is the same press.
    this.reported = continuation;
    if (continuation) this.remember();
    else if (end) this.report();
  }

  private expire(nowMs: number): void {
    if (this.active && !this.reported && nowMs - this.lastUpdateMs >= this.flushAfterMs) this.report();
  }

  private report(): void {
    this.reported = true;
    this.remember();
    this.out.put(this.event);
  }

  private remember(): void {
    const i = this.seenNext;
    this.seenSsrc[i] = this.ssrc;
    this.seenTimestamp[i] = this.timestamp;
    this.seenEvent[i] = this.event;
    this.seenNext = (i + 1) % this.seenEvent.length;
  }

  private wasSeen(ssrc: number, timestamp: number, event: number): boolean {
    for (let i = 0; i < this.seenEvent.length; i++) {
      if (this.seenEvent[i] === event && this.seenTimestamp[i] === timestamp && this.seenSsrc[i] === ssrc) return true;
    }
    return false;
  }
}
