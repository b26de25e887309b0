import { FLAG, type SpoolRecord } from './spool-format.js';
import { TimelineSegment } from './timeline-segment.js';
import { COMFORT_NOISE_PAYLOAD_TYPE, type TimelineCodec } from './timeline-codec.js';
import type { LegTimelineOptions, TimelineStats } from './timeline-types.js';

/**
 * Turns one leg's spool records (in arrival order) into the contiguous codec
 * bytes of that leg from the recording's origin, silence wherever no audio
 * was received. Sans-I/O: `push()` records, `read()` chunks, `finish()`.
 * Both legs get the same origin, so position N of one leg is the same
 * instant as position N of the other.
 *
 * Rules (positions in RTP timestamp units, 1 byte each for G.711 and G.722):
 * - Every audio payload received is in the output, bit-exact and in
 *   timestamp order, except duplicates (same SSRC and sequence number, or the
 *   same timestamp already placed), packets whose place was already final
 *   (`late`) and audio past the end (`afterEnd`). Audio placed is never
 *   overwritten; corrections only take from or add to silence.
 * - Audio is placed by RTP timestamp within a segment (`TimelineSegment`),
 *   which starts at the first packet, at an SSRC change, or where the
 *   timestamp step disagrees with the arrival step by more than `jumpMs`.
 *   A segment's first packet lands at round((arrival - originMs) * rate / 1000),
 *   and never onto audio placed before it; where a segment's stragglers run
 *   into the next one, the next one moves later (while none of it is final).
 * - Reordering is repaired within `jitterMs` of media: output is final only
 *   `jitterMs` behind the furthest audio placed.
 * - Loss, silence suppression and jitter leave gaps, filled with the codec's
 *   silence. Comfort noise (PT 13) is silence too; telephone-events and other
 *   payload types are skipped.
 * - Drift between the sender's RTP clock and the wall clock, and the delay of
 *   a segment's first packet, are measured by a jitter-free estimate (the
 *   least delay over a sliding window, see `TimelineSegment`) and corrected
 *   only at gaps, and only where the estimate is more than `reanchorMs` off:
 *   within a talkspurt (packets back to back) audio is placed strictly by
 *   timestamp. At a gap the talkspurt after it moves later by adding silence,
 *   or earlier by taking silence that nothing can claim (the gap before the
 *   next sequence number; at a marker bit, the gap minus room for the packets
 *   missing before it). After loss the talkspurt may only move later, once
 *   the missing packets are overdue (half the jitter window), since a late
 *   copy may still come for the lost slot. A talkspurt whose start is not
 *   final yet moves as a whole, so a delayed first packet is caught up.
 *   An estimate asking for "earlier" in continuous audio waits for the next
 *   gap: the leg is lengthened rather than cut.
 *
 * Bounds (100 ppm is 0.8 units a second at 8 kHz):
 * - With a gap at least every T seconds a leg stays within `reanchorMs`
 *   (64 units) + the estimator's lag (window x drift, ~6 units at 100 ppm)
 *   + drift x T of wall-clock time. Test: 100 ppm either way over one hour,
 *   talkspurts of 1 to 4 s with 30 ms of jitter: within 76 units of wall
 *   clock, the two legs within 148 units (one packet is 160).
 * - Without gaps (continuous audio) a leg is off by the drift accumulated
 *   since its last gap, at most drift x duration: 2880 units (360 ms) after
 *   an hour at 100 ppm. A fast sender's audio runs late (the leg is longer
 *   than wall-clock time; what passes the end of the recording is cut, as
 *   `afterEnd`), a slow sender's runs early. Loss lets a slow sender catch up
 *   at its lost packets, not a fast one. The first gap with room corrects it.
 * - `clippedUnits` (audio not placed because other audio was there) stays 0
 *   but for senders whose payloads overlap in timestamp and arrive reordered,
 *   and segments (SSRCs) whose packets mix after one of them became final.
 *
 * Memory: one window of about 200 K units plus a fixed silence block, however
 * long the call; no allocation per packet.
 */

export { COMFORT_NOISE_PAYLOAD_TYPE, SILENCE_BYTE, STATIC_PAYLOAD_TYPE, timelineCodec, type TimelineCodec } from './timeline-codec.js';

export type { LegTimelineOptions, TimelineStats } from './timeline-types.js';

export class TimelineStateError extends Error {
  override name = 'TimelineStateError';
}

/** Output is emitted in blocks of this many bytes when possible. */
const BLOCK_BYTES = 64 * 1024;
/** Sequence numbers remembered for duplicate detection. */
const SEQ_RING = 1024;
/** Timestamps remembered for duplicate detection (power of two). */
const TS_TABLE = 4096;
const MAX_PAYLOAD = 0xffff;
/** At a marker bit, up to this many missing packets are assumed to end the talkspurt before. */
const MAX_MISSING_AT_MARKER = 16;

export class LegTimeline {
  private readonly bpu: number;
  private readonly rate: number;
  private readonly originMs: number;
  private endPos: number;
  private readonly jitterUnits: number;
  private readonly jumpMs: number;
  private readonly reanchorUnits: number;
  private readonly blockUnits: number;
  private readonly capUnits: number;

  /** Window: units [winStart, winStart + capUnits); everything before winStart is emitted. */
  private readonly win: Buffer;
  /** 1 where the window holds received audio. */
  private readonly filled: Uint8Array;
  private winStart = 0;
  /** End of the audio written; the window is silence from here on. */
  private dirtyEnd = 0;
  /** Output is final up to here. */
  private target = 0;
  private finished = false;

  private readonly silence: Buffer;
  private readonly silenceBlock: Buffer;
  private readonly silenceMaxUnits: number;

  private cur: TimelineSegment;
  private prev: TimelineSegment;
  private readonly seqSsrc = new Float64Array(SEQ_RING).fill(-1);
  private readonly seqNum = new Int32Array(SEQ_RING).fill(-1);
  private readonly tsValue = new Float64Array(TS_TABLE).fill(NaN);
  private readonly tsSegment = new Int32Array(TS_TABLE);

  private readonly queue: Buffer[] = [];
  private queueHead = 0;

  private maxEnd = -Infinity;
  private firstAudio = Infinity;
  private readonly s: Omit<TimelineStats, 'silenceUnits' | 'lostUnits' | 'lengthUnits'> = {
    placed: 0, duplicates: 0, late: 0, afterEnd: 0, events: 0, otherPayloadType: 0, comfortNoise: 0,
    empty: 0, segments: 0, reanchors: 0, audioUnits: 0, clippedUnits: 0,
  };

  constructor(readonly codec: TimelineCodec, options: LegTimelineOptions) {
    const bpu = codec.bytesPerTimestampUnit;
    if (!Number.isInteger(bpu) || bpu < 1) throw new RangeError(`bad bytesPerTimestampUnit ${bpu}`);
    if (codec.silence.length === 0 || codec.silence.length % bpu !== 0) {
      throw new RangeError(`silence must be whole units of ${bpu} bytes, got ${codec.silence.length}`);
    }
    this.bpu = bpu;
    this.rate = codec.clockRate;
    this.originMs = options.originMs;
    this.endPos = options.endMs === undefined ? Infinity : this.positionOf(options.endMs);
    this.jitterUnits = Math.round(((options.jitterMs ?? 500) * this.rate) / 1000);
    this.jumpMs = options.jumpMs ?? 1000;
    this.reanchorUnits = ((options.reanchorMs ?? 8) * this.rate) / 1000;
    const blockMs = (options.driftWindowMs ?? 8000) / 8;
    this.cur = new TimelineSegment(blockMs);
    this.prev = new TimelineSegment(blockMs);

    this.blockUnits = Math.ceil(BLOCK_BYTES / bpu);
    this.capUnits = 2 * this.blockUnits + Math.max(this.jitterUnits, Math.floor(MAX_PAYLOAD / bpu));
    this.win = Buffer.allocUnsafe(this.capUnits * bpu);
    this.filled = new Uint8Array(this.capUnits);

    this.silence = Buffer.from(codec.silence);
    const p = this.silence.length;
    this.silenceBlock = Buffer.allocUnsafe((Math.ceil(BLOCK_BYTES / p) + 1) * p);
    this.silenceBlock.fill(this.silence);
    this.silenceMaxUnits = (this.silenceBlock.length - p) / bpu;
    this.fillSilence(0, this.capUnits, 0);
  }

  /** Position (units) of a wall-clock time. */
  positionOf(ms: number): number {
    return Math.round(((ms - this.originMs) * this.rate) / 1000);
  }

  /**
   * One spool record in arrival order; its payload is `record.length` bytes
   * of `payload` from `payloadAt`. Neither is kept: the bytes are copied.
   */
  push(record: SpoolRecord, payload: Buffer, payloadAt = 0): void {
    if (this.finished) throw new TimelineStateError('push() after finish()');
    const s = this.s;
    if ((record.flags & FLAG.event) !== 0) {
      s.events++;
      return;
    }
    if (record.payloadType !== this.codec.payloadType) {
      if (record.payloadType === COMFORT_NOISE_PAYLOAD_TYPE) s.comfortNoise++;
      else s.otherPayloadType++;
      return;
    }
    const bytes = Math.min(record.length, payload.length - payloadAt);
    const units = Math.floor(bytes / this.bpu);
    if (units <= 0) {
      s.empty++;
      return;
    }
    const ssrc = record.ssrc;
    const seqSlot = record.seq & (SEQ_RING - 1);
    if (this.seqSsrc[seqSlot] === ssrc && this.seqNum[seqSlot] === record.seq) {
      s.duplicates++;
      return;
    }
    this.seqSsrc[seqSlot] = ssrc;
    this.seqNum[seqSlot] = record.seq;

    const ts = record.timestamp;
    const arrival = record.arrival;
    const arrivalPos = ((arrival - this.originMs) * this.rate) / 1000;
    let seg = this.cur;
    if (!(seg.active && seg.ssrc === ssrc && seg.consistent(ts, arrival, this.rate, this.jumpMs))) {
      const p = this.prev;
      if (p.active && p.ssrc === ssrc && p.consistent(ts, arrival, this.rate, this.jumpMs)) {
        seg = p; // a straggler of the segment before
      } else {
        this.prev = seg;
        this.cur = p;
        seg = p;
        s.segments++;
        // Not onto the audio before it, nor into output already final.
        seg.start(s.segments, ssrc, ts, arrival, arrivalPos, this.maxEnd === -Infinity ? -Infinity : Math.max(this.maxEnd, this.target));
      }
    }
    const unwrapped = seg.unwrap(ts);
    const newest = unwrapped > seg.maxUnwrapped;
    if (seg === this.cur) {
      seg.observe(unwrapped, arrival, arrivalPos);
      if (newest) {
        this.findGap(seg, unwrapped, record.seq, record.marker);
        if (this.revise(seg)) s.reanchors++;
      }
    }
    seg.advance(ts, unwrapped, arrival, record.seq, units);

    const tsSlot = unwrapped & (TS_TABLE - 1);
    if (this.tsValue[tsSlot] === unwrapped && this.tsSegment[tsSlot] === seg.id) {
      s.duplicates++;
      return;
    }
    this.tsValue[tsSlot] = unwrapped;
    this.tsSegment[tsSlot] = seg.id;

    const pos = seg.position(unwrapped);
    // Output up to `target` is final (whether or not read() has taken it yet), so the
    // result does not depend on how the caller interleaves push() and read().
    if (!(pos >= this.target && pos >= this.winStart)) {
      s.late++;
      return;
    }
    if (pos >= this.endPos) {
      s.afterEnd++;
      return;
    }
    this.place(seg, unwrapped, newest, pos, units, payload, payloadAt);
  }

  /** The next chunk of output, or undefined when none is final yet. Chunks must not be modified. */
  read(): Buffer | undefined {
    if (this.queueHead === this.queue.length && this.winStart < this.target) {
      this.produce(Math.min(this.target, this.endPos), this.finished, 1);
    }
    if (this.queueHead === this.queue.length) return undefined;
    const chunk = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = EMPTY;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    return chunk;
  }

  /**
   * No more records: the output ends at `endMs` (or the end given up front,
   * or the end of the audio), padded with silence. Drain it with `read()`.
   * Output already emitted is never taken back, so an `endMs` earlier than
   * that is raised to it; give `endMs` to the constructor to cut exactly.
   */
  finish(endMs?: number): void {
    if (this.finished) return;
    this.finished = true;
    let end = endMs !== undefined ? this.positionOf(endMs) : this.endPos;
    if (end === Infinity) end = Math.max(this.maxEnd, 0);
    this.endPos = Math.max(end, this.winStart);
    this.target = this.endPos;
    // Audio placed past the end is never emitted.
    for (let i = this.endPos - this.winStart; i < this.dirtyEnd - this.winStart; i++) this.s.audioUnits -= this.filled[i]!;
  }

  get stats(): TimelineStats {
    const length = this.finished ? this.endPos : this.winStart;
    const audio = this.s.audioUnits;
    const span = this.maxEnd > this.firstAudio ? Math.min(this.maxEnd, this.endPos) - this.firstAudio : 0;
    return { ...this.s, silenceUnits: Math.max(0, length - audio), lostUnits: Math.max(0, span - audio), lengthUnits: length };
  }

  /**
   * At a packet newer in timestamp order than all before it: when there is a
   * gap in the timestamps before it, remembers where a piece may start and
   * how far back its audio may go (see `TimelineSegment`).
   */
  private findGap(seg: TimelineSegment, unwrapped: number, seq: number, marker: boolean): void {
    if (seg.maxUnwrapped === -Infinity) return; // the segment's start is its first gap
    const end = seg.newestEnd;
    const gap = unwrapped - end;
    if (gap <= 0 && !marker) return; // back to back: the same talkspurt
    const endPos = end + seg.base + seg.correction;
    const step = (seq - seg.newestSeq) & 0xffff;
    const missing = step >= 1 && step < 0x8000 ? step - 1 : Infinity;
    if (gap > 0 && missing === 0) {
      // The next packet sent: the gap is silence (suppressed), nothing can arrive for it.
      seg.setGap(unwrapped, endPos);
    } else if (marker && gap >= 0 && missing <= MAX_MISSING_AT_MARKER) {
      // A new talkspurt: the missing packets belong to the one before and follow its end.
      seg.setGap(unwrapped, endPos + missing * seg.maxUnits);
    } else if (gap > 0) {
      // Missing packets: lost, or reordered and still to come. Such a gap may only grow
      // (from its start, so that they land next to the audio after them), and only once
      // they are overdue; an older such gap still waiting is kept.
      const open = this.gapStart(seg);
      if (open >= Math.max(this.target, this.winStart) && (!seg.gapPending || this.firstFilled(open, open + seg.gapSpan) < 0)) return;
      seg.setPendingGap(end, endPos, gap, endPos + (this.jitterUnits >> 1));
    }
  }

  /**
   * Moves the newest piece (the one at the last gap) to the drift estimate when
   * they differ by more than the threshold and the piece's start is not final
   * yet: later freely, earlier only into silence that nothing can claim.
   * Audio of the piece already placed moves with it. True when it moved.
   */
  private revise(seg: TimelineSegment): boolean {
    const at = seg.gapAt;
    const estimate = seg.estimate();
    if (Number.isNaN(at) || Number.isNaN(estimate)) return false;
    const c = seg.correction;
    let delta = estimate - c;
    if (Math.abs(delta) <= this.reanchorUnits) return false;
    const start = this.gapStart(seg);
    if (seg.gapPending) {
      if (this.maxEnd < seg.gapConfirm) return false;
      if (this.firstFilled(start, start + seg.gapSpan) >= 0) {
        seg.closeGap(); // they arrived: no gap
        return false;
      }
      seg.gapPending = false; // lost: silence from here on, which may grow
    }
    const final = Math.max(this.target, this.winStart);
    if (start < final) {
      seg.closeGap(); // emitted: the correction waits for the next gap
      return false;
    }
    const placed = start < this.dirtyEnd;
    if (delta < 0) {
      const room = this.freeBefore(start, Math.min(-delta, start - Math.max(seg.gapFloor, final)));
      if (room <= 0) return false;
      delta = -room;
    } else if (placed && !this.ensureCapacity(this.dirtyEnd + delta)) {
      return false;
    }
    if (placed) this.moveTail(start, delta);
    seg.setCorrection(seg.gapFirst ? seg.pieceStart : at, c + delta);
    if (seg.gapFirst && seg.minPosition !== Infinity) seg.minPosition += delta;
    return true;
  }

  /** Where the audio of the piece at the segment's last gap starts (or will start); NaN without one. */
  private gapStart(seg: TimelineSegment): number {
    const start = seg.gapAt + seg.base + seg.correction;
    return seg.gapFirst && seg.minPosition < start ? seg.minPosition : start;
  }

  private place(seg: TimelineSegment, unwrapped: number, newest: boolean, pos: number, units: number, payload: Buffer, payloadAt: number): void {
    const s = this.s;
    const cur = this.cur;
    // Where two segments meet, all audio of the one before comes before the current one's
    // (including its holes: packets may still come for them). Where they would mix, the
    // current segment yields: it moves later as a whole, while none of it is final.
    let k = 0;
    if (seg !== cur) {
      // A straggler of the segment before running into the current one.
      if (pos + units > cur.minPosition && this.firstFilled(pos, Math.min(pos + units, cur.minPosition)) < 0) k = pos + units - cur.minPosition;
    } else if (pos < cur.minPosition && cur.minPosition !== Infinity) {
      // An old packet of the current segment with audio of the one before between it and the
      // rest of the segment: it goes after that audio, the rest after it.
      const last = this.lastFilled(pos, cur.minPosition);
      if (last >= 0) k = last + 1 - pos;
    }
    if (k > 0 && this.shiftCurrent(k) && seg === cur) pos += k;
    if (seg === cur && newest && this.firstFilled(pos, pos + units) >= 0) {
      // It overlaps audio before it in timestamp order (the sender's payloads overlap):
      // it and what follows go after that audio, as a new piece.
      const b = this.dirtyEnd - pos;
      seg.setCorrection(unwrapped, seg.correction + b);
      seg.closeGap();
      s.reanchors++;
      pos += b;
    }
    if (pos >= this.endPos) {
      s.afterEnd++;
      return;
    }
    if (pos + units > this.endPos) units = this.endPos - pos;
    this.makeRoom(pos, pos + units);
    const bpu = this.bpu;
    const off = pos - this.winStart;
    const f = this.filled;
    let written = 0;
    for (let i = off; i < off + units; ) {
      // Only holes are written: audio already placed is never overwritten.
      if (f[i] === 1) {
        i++;
        continue;
      }
      let j = i;
      while (j < off + units && f[j] === 0) j++;
      const from = payloadAt + (i - off) * bpu;
      payload.copy(this.win, i * bpu, from, from + (j - i) * bpu);
      f.fill(1, i, j);
      written += j - i;
      i = j;
    }
    s.clippedUnits += units - written;
    if (written === 0) {
      s.duplicates++;
      return;
    }
    s.placed++;
    s.audioUnits += written;
    const end = pos + units;
    if (pos < this.firstAudio) this.firstAudio = pos;
    if (pos < seg.minPosition) seg.minPosition = pos;
    if (end > this.dirtyEnd) this.dirtyEnd = end;
    if (end > this.maxEnd) {
      this.maxEnd = end;
      const t = end - this.jitterUnits;
      if (t > this.target) this.target = t;
    }
  }

  /** Makes the window reach `end`: what falls out before `pos` is final anyway once this packet is placed. */
  private makeRoom(pos: number, end: number): void {
    if (end - this.winStart > this.capUnits) {
      const limit = Math.min(Math.max(this.maxEnd, end) - this.jitterUnits, pos);
      this.produce(limit, true, Infinity);
    }
  }

  /** Makes the window reach `end` by emitting what is final; false if it still cannot. */
  private ensureCapacity(end: number): boolean {
    if (end - this.winStart > this.capUnits) this.produce(Math.min(this.target, this.endPos), true, Infinity);
    return end - this.winStart <= this.capUnits;
  }

  /** Moves the whole current segment `k` units later, if none of it is final; true when it did. */
  private shiftCurrent(k: number): boolean {
    const cur = this.cur;
    const from = cur.minPosition;
    if (!(from >= Math.max(this.target, this.winStart)) || !this.ensureCapacity(this.dirtyEnd + k)) return false;
    this.moveTail(from, k);
    cur.shift(k);
    if (cur.gapFirst) cur.gapFloor = Math.max(cur.gapFloor, cur.minPosition);
    this.s.reanchors++;
    return true;
  }

  /** Moves the window's content from `from` to dirtyEnd by `delta` units; the caller checked there is room. */
  private moveTail(from: number, delta: number): void {
    const bpu = this.bpu;
    const w = this.winStart;
    const a = from - w;
    const b = this.dirtyEnd - w;
    if (b <= a) return;
    this.win.copyWithin((a + delta) * bpu, a * bpu, b * bpu);
    this.filled.copyWithin(a + delta, a, b);
    const c0 = delta < 0 ? Math.max(a, b + delta) : a;
    const c1 = delta < 0 ? b : Math.min(a + delta, b);
    this.fillSilence(c0, c1, w + c0);
    this.filled.fill(0, c0, c1);
    this.dirtyEnd += delta;
    if (this.maxEnd > from) this.maxEnd += delta;
    if (this.firstAudio >= from) this.firstAudio += delta;
  }

  /** How many units right before `start` (at most `max`) hold no audio. */
  private freeBefore(start: number, max: number): number {
    if (!(max > 0)) return 0;
    let n = 0;
    let p = start;
    if (p > this.dirtyEnd) {
      n = Math.min(max, p - this.dirtyEnd);
      p -= n;
    }
    const f = this.filled;
    const w = this.winStart;
    while (n < max && p > w && f[p - 1 - w] === 0) {
      n++;
      p--;
    }
    return n;
  }

  /** First position in [from, to) holding audio, or -1. */
  private firstFilled(from: number, to: number): number {
    if (from >= this.dirtyEnd) return -1;
    const w = this.winStart;
    const f = this.filled;
    const end = Math.min(to, this.dirtyEnd);
    for (let p = from; p < end; p++) if (f[p - w] === 1) return p;
    return -1;
  }

  /** Last position in [from, to) holding audio, or -1. */
  private lastFilled(from: number, to: number): number {
    const w = this.winStart;
    const f = this.filled;
    for (let p = Math.min(to, this.dirtyEnd) - 1; p >= from; p--) if (f[p - w] === 1) return p;
    return -1;
  }

  /**
   * Emits output from winStart up to `limit`: window data as copied blocks,
   * pure silence past the audio as views of the silence block. Without
   * `force`, window data goes out only in blocks of BLOCK_BYTES or more.
   */
  private produce(limit: number, force: boolean, maxChunks: number): void {
    let chunks = 0;
    while (this.winStart < limit && chunks < maxChunks) {
      if (this.dirtyEnd <= this.winStart) {
        const n = Math.min(limit - this.winStart, this.silenceMaxUnits);
        const phase = (this.winStart * this.bpu) % this.silence.length;
        this.queue.push(this.silenceBlock.subarray(phase, phase + n * this.bpu));
        this.winStart += n;
        this.dirtyEnd = this.winStart;
        // The window is all silence; only a multi-unit pattern must be re-phased.
        if (this.silence.length > this.bpu) this.fillSilence(0, this.capUnits, this.winStart);
        chunks++;
        continue;
      }
      const n = Math.min(limit, this.dirtyEnd) - this.winStart;
      if (!force && n < this.blockUnits && limit < this.dirtyEnd) return;
      this.emitWindow(n);
      chunks++;
    }
  }

  /** Copies out the first n units of the window and slides it on. */
  private emitWindow(n: number): void {
    const bpu = this.bpu;
    const out = Buffer.allocUnsafe(n * bpu);
    this.win.copy(out, 0, 0, n * bpu);
    this.queue.push(out);
    const dataLen = this.dirtyEnd - this.winStart;
    this.win.copyWithin(0, n * bpu, dataLen * bpu);
    this.filled.copyWithin(0, n, dataLen);
    const from = Math.max(0, dataLen - n);
    this.winStart += n;
    this.fillSilence(from, dataLen, this.winStart + from);
    this.filled.fill(0, from, dataLen);
  }

  /** Fills window units [from, to) with silence in phase with absolute position `absFrom`. */
  private fillSilence(from: number, to: number, absFrom: number): void {
    if (to <= from) return;
    const bpu = this.bpu;
    const p = this.silence.length;
    if (p === 1) {
      this.win.fill(this.silence[0]!, from * bpu, to * bpu);
      return;
    }
    let at = from * bpu;
    const end = to * bpu;
    let phase = (absFrom * bpu) % p;
    while (at < end) {
      const n = Math.min(end - at, this.silenceBlock.length - phase);
      this.silenceBlock.copy(this.win, at, phase, phase + n);
      at += n;
      phase = (phase + n) % p;
    }
  }
}

const EMPTY = Buffer.alloc(0);
