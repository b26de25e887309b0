/**
 * One continuous run of RTP audio of a leg (a "segment") and how its
 * timestamps map to positions on the recording's timeline. Used by
 * `LegTimeline`; sans-I/O, no allocation per packet.
 *
 * Mapping. Within a segment a packet's position (in timestamp units from the
 * recording's origin) is
 *
 *     position = unwrapped RTP timestamp + base + correction
 *
 * `base` anchors the segment: its first packet lands at the wall-clock
 * position of its arrival. `correction` follows the drift between the
 * sender's RTP clock and our wall clock (below).
 *
 * Drift. For every packet, d = arrivalPosition - (unwrapped + base) is how
 * much later the packet arrived than its timestamp says. Network jitter only
 * ever delays a packet, so d = (true clock offset) + (delay >= 0), and the
 * minimum of d over a sliding window is the clock offset seen by the
 * least-delayed packet: a jitter-free estimate that follows drift (100 ppm is
 * 0.8 units/s at 8 kHz, far slower than the window). The window is kept as
 * the minima of a few fixed blocks of arrival time (no per-packet state).
 * When the estimate has moved more than the re-anchor threshold (a bit
 * under half a 20 ms packet) away from `correction`, the correction takes
 * the estimate, starting at the next packet in timestamp order (a packet
 * boundary): the packets from then on are placed later (the gap before them
 * is filled with silence) or earlier (they overwrite the tail of the audio
 * before them: those samples are dropped, and the audio keeps its order).
 * Older packets still in flight keep the old correction, so reordering
 * across the switch does not tear a hole.
 */

/** Number of blocks the drift window is split into. */
const DRIFT_BLOCKS = 8;

export class TimelineSegment {
  active = false;
  ssrc = 0;
  /** RTP timestamp (u32) and its unwrapped value of the last packet, in arrival order. */
  lastTs = 0;
  lastUnwrapped = 0;
  lastArrival = 0;
  /** Highest unwrapped timestamp seen. */
  maxUnwrapped = -Infinity;
  base = 0;
  correction = 0;
  prevCorrection = 0;
  /** Unwrapped timestamp from which `correction` applies (older ones use `prevCorrection`). */
  switchAt = -Infinity;
  /** A segment never moves onto audio placed before it began: positions stay at or after this. */
  floorPosition = -Infinity;
  /** Distinguishes segments in duplicate detection. */
  id = 0;

  private readonly blockMins = new Float64Array(DRIFT_BLOCKS);
  private blockCount = 0;
  private blockNext = 0;
  private blocksMin = Infinity;
  private blockStart = 0;
  private blockMin = Infinity;

  constructor(private readonly blockMs: number) {}

  /** Starts the segment at its first packet; `floorPosition` is where audio already placed ends. */
  start(id: number, ssrc: number, ts: number, arrival: number, arrivalPosition: number, floorPosition: number): void {
    this.active = true;
    this.id = id;
    this.ssrc = ssrc;
    this.lastTs = ts;
    this.lastUnwrapped = ts;
    this.lastArrival = arrival;
    this.maxUnwrapped = -Infinity;
    const anchor = Math.round(arrivalPosition);
    this.base = anchor - ts;
    this.floorPosition = floorPosition;
    this.correction = Math.max(0, floorPosition - anchor);
    this.prevCorrection = this.correction;
    this.switchAt = -Infinity;
    this.blockCount = 0;
    this.blockNext = 0;
    this.blocksMin = Infinity;
    this.blockStart = arrival;
    this.blockMin = Infinity;
  }

  /** Signed 32-bit distance from the last packet's timestamp: handles wrap-around at 2^32. */
  unwrap(ts: number): number {
    return this.lastUnwrapped + ((ts - this.lastTs) | 0);
  }

  /**
   * True when the timestamp step from the last packet agrees with the
   * arrival-time step within `jumpMs`; otherwise the sender restarted its
   * clock (re-INVITE, hold, another sender) and a new segment begins.
   */
  consistent(ts: number, arrival: number, clockRate: number, jumpMs: number): boolean {
    const tsMs = (((ts - this.lastTs) | 0) * 1000) / clockRate;
    return Math.abs(tsMs - (arrival - this.lastArrival)) <= jumpMs;
  }

  /** Records a packet as the latest in arrival order. */
  advance(ts: number, unwrapped: number, arrival: number): void {
    this.lastTs = ts;
    this.lastUnwrapped = unwrapped;
    this.lastArrival = arrival;
    if (unwrapped > this.maxUnwrapped) this.maxUnwrapped = unwrapped;
  }

  /**
   * Feeds the drift estimator with one packet and re-anchors when the
   * estimate moved more than `thresholdUnits`; true when it re-anchored.
   * Call before `advance()` so that `maxUnwrapped` still excludes the packet.
   */
  track(unwrapped: number, arrival: number, arrivalPosition: number, thresholdUnits: number): boolean {
    const d = arrivalPosition - (unwrapped + this.base);
    if (arrival - this.blockStart >= this.blockMs) this.closeBlock(arrival);
    if (d < this.blockMin) this.blockMin = d;
    // Only a packet that is new in timestamp order may move the anchor: it is the packet boundary.
    if (unwrapped <= this.maxUnwrapped) return false;
    const estimate = Math.min(this.blockMin, this.blocksMin);
    const target = Math.max(Math.round(estimate), this.floorPosition - (unwrapped + this.base));
    if (Math.abs(target - this.correction) <= thresholdUnits) return false;
    this.prevCorrection = this.correction;
    this.correction = target;
    this.switchAt = unwrapped;
    return true;
  }

  position(unwrapped: number): number {
    return unwrapped + this.base + (unwrapped >= this.switchAt ? this.correction : this.prevCorrection);
  }

  private closeBlock(arrival: number): void {
    if (this.blockMin !== Infinity) {
      this.blockMins[this.blockNext] = this.blockMin;
      this.blockNext = (this.blockNext + 1) % DRIFT_BLOCKS;
      if (this.blockCount < DRIFT_BLOCKS) this.blockCount++;
      let m = Infinity;
      for (let i = 0; i < this.blockCount; i++) m = Math.min(m, this.blockMins[i]!);
      this.blocksMin = m;
    }
    this.blockStart = arrival;
    this.blockMin = Infinity;
  }
}
