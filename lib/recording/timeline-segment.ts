/**
 * One continuous run of RTP audio of a leg (a "segment": one SSRC and one
 * timestamp clock) and how its timestamps map to positions on the
 * recording's timeline. Used by `LegTimeline`; sans-I/O, no allocation per
 * packet.
 *
 * Mapping. Within a segment a packet's position (in timestamp units from the
 * recording's origin) is
 *
 *     position = unwrapped RTP timestamp + base + correction(piece)
 *
 * `base` anchors the segment: its first packet's arrival position. The
 * timestamps are cut into "pieces" at gaps; each piece has one constant
 * correction, so within a piece (a talkspurt: packets back to back) audio is
 * placed strictly by RTP timestamp and nothing is ever moved apart or onto
 * each other. A piece starts at `at` (an unwrapped timestamp) and runs to the
 * next piece; the first piece covers everything before as well.
 *
 * Where a piece may start (decided by `LegTimeline`): only at a gap in the
 * timestamps (silence suppression, loss, a marker bit), so that a correction
 * only ever takes from or adds to silence. Moving later is always possible;
 * moving earlier only by the room the gap certainly has: the gap before a
 * packet whose sequence number follows the previous one (nothing can arrive
 * for it), or behind the missing packets before a marker bit. `gapAt` and
 * `gapFloor` remember the last such place (the start of the newest piece, or
 * of the piece that would start there) and the position its audio must not
 * go below; `LegTimeline` may revise that piece while its start is not yet
 * final (within the jitter window), so a talkspurt whose first packets were
 * delayed still lands where the estimate says.
 *
 * Drift estimate. For every packet, d = arrivalPosition - (unwrapped + base)
 * is how much later the packet arrived than its timestamp says. Network
 * jitter only ever delays a packet, so d = (true clock offset) + (delay >= 0),
 * and the minimum of d over a sliding window is the clock offset seen by the
 * least-delayed packet: a jitter-free estimate that follows drift (100 ppm is
 * 0.8 units/s at 8 kHz, far slower than the window). The window is kept as
 * the minima of a few fixed blocks of arrival time (no per-packet state).
 * The estimate is the correction the segment should have; `LegTimeline`
 * applies it at the next gap when it differs by more than its threshold.
 */

/** Number of blocks the drift window is split into. */
const DRIFT_BLOCKS = 8;
/**
 * Pieces remembered per segment. Pieces start only at gaps and only when the
 * correction changes by more than the threshold (or two sources collide), so
 * far fewer than this fall within one jitter window; a packet older than the
 * oldest piece remembered is late anyway.
 */
const PIECES = 64;

export class TimelineSegment {
  active = false;
  ssrc = 0;
  /** Distinguishes segments in duplicate detection. */
  id = 0;
  /** RTP timestamp (u32) and its unwrapped value of the last packet, in arrival order. */
  lastTs = 0;
  lastUnwrapped = 0;
  lastArrival = 0;
  /** Highest unwrapped timestamp seen. */
  maxUnwrapped = -Infinity;
  /** Unwrapped end (timestamp + units) and sequence number of the packet with the highest timestamp. */
  newestEnd = -Infinity;
  newestSeq = 0;
  /** Largest payload seen, in units. */
  maxUnits = 0;
  base = 0;
  /** Lowest position of the audio placed from this segment (Infinity before any). */
  minPosition = Infinity;

  /** The newest place where a piece starts or may start (see above); NaN when there is none. */
  gapAt = NaN;
  /** Audio of the piece at `gapAt` must stay at or after this position. */
  gapFloor = -Infinity;
  /** The place is the segment's start (the first piece, which also covers older timestamps). */
  gapFirst = false;
  /**
   * A gap left by missing packets (loss or reordering), `gapSpan` units long:
   * usable once the newest audio is `confirm` or more (a position) and nothing
   * arrived for it by then.
   */
  gapPending = false;
  gapSpan = 0;
  gapConfirm = 0;

  private readonly pieceAt = new Float64Array(PIECES);
  private readonly pieceCorrection = new Float64Array(PIECES);
  /** Index of the newest piece. */
  private pieceHead = 0;
  private pieceCount = 0;
  /** Pieces were forgotten: timestamps before the oldest one kept have no position. */
  private piecesDropped = false;

  private readonly blockMins = new Float64Array(DRIFT_BLOCKS);
  private blockCount = 0;
  private blockNext = 0;
  private blocksMin = Infinity;
  private blockStart = 0;
  private blockMin = Infinity;

  constructor(private readonly blockMs: number) {}

  /**
   * Starts the segment at its first packet: anchored at its arrival, but not
   * before `floorPosition` (where the audio placed before it ends).
   */
  start(id: number, ssrc: number, ts: number, arrival: number, arrivalPosition: number, floorPosition: number): void {
    this.active = true;
    this.id = id;
    this.ssrc = ssrc;
    this.lastTs = ts;
    this.lastUnwrapped = ts;
    this.lastArrival = arrival;
    this.maxUnwrapped = -Infinity;
    this.newestEnd = -Infinity;
    this.newestSeq = 0;
    this.maxUnits = 0;
    this.minPosition = Infinity;
    const anchor = Math.round(arrivalPosition);
    this.base = anchor - ts;
    this.pieceAt[0] = -Infinity;
    this.pieceCorrection[0] = Math.max(0, floorPosition - anchor);
    this.pieceHead = 0;
    this.pieceCount = 1;
    this.piecesDropped = false;
    this.gapAt = ts;
    this.gapFloor = floorPosition;
    this.gapFirst = true;
    this.gapPending = false;
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

  /** Records a packet as the latest in arrival order (and the newest in timestamp order if it is). */
  advance(ts: number, unwrapped: number, arrival: number, seq: number, units: number): void {
    this.lastTs = ts;
    this.lastUnwrapped = unwrapped;
    this.lastArrival = arrival;
    if (unwrapped > this.maxUnwrapped) {
      this.maxUnwrapped = unwrapped;
      this.newestEnd = unwrapped + units;
      this.newestSeq = seq;
    }
    if (units > this.maxUnits) this.maxUnits = units;
  }

  /** Feeds the drift estimator with one packet. */
  observe(unwrapped: number, arrival: number, arrivalPosition: number): void {
    const d = arrivalPosition - (unwrapped + this.base);
    if (arrival - this.blockStart >= this.blockMs) this.closeBlock(arrival);
    if (d < this.blockMin) this.blockMin = d;
  }

  /** The correction the drift estimate asks for (NaN before any packet was observed). */
  estimate(): number {
    const m = Math.min(this.blockMin, this.blocksMin);
    return m === Infinity ? NaN : Math.round(m);
  }

  /** Correction of the newest piece (which also applies to any timestamp after it). */
  get correction(): number {
    return this.pieceCorrection[this.pieceHead]!;
  }

  /** Start of the newest piece (-Infinity for the first). */
  get pieceStart(): number {
    return this.pieceAt[this.pieceHead]!;
  }

  /** Position of an unwrapped timestamp; NaN if older than every piece remembered. */
  position(unwrapped: number): number {
    let i = this.pieceHead;
    for (let k = 0; k < this.pieceCount; k++) {
      if (this.pieceAt[i]! <= unwrapped) return unwrapped + this.base + this.pieceCorrection[i]!;
      i = i === 0 ? PIECES - 1 : i - 1;
    }
    return this.piecesDropped ? NaN : unwrapped + this.base + this.pieceCorrection[(this.pieceHead - this.pieceCount + 1 + PIECES) % PIECES]!;
  }

  /**
   * Gives the timestamps from `at` on the correction `correction`: a new
   * piece, or the newest one revised when it starts at `at`.
   * `at` must not be before the newest piece's start.
   */
  setCorrection(at: number, correction: number): void {
    if (at === this.pieceAt[this.pieceHead]) {
      this.pieceCorrection[this.pieceHead] = correction;
      return;
    }
    this.pieceHead = (this.pieceHead + 1) % PIECES;
    if (this.pieceCount === PIECES) this.piecesDropped = true;
    else this.pieceCount++;
    this.pieceAt[this.pieceHead] = at;
    this.pieceCorrection[this.pieceHead] = correction;
  }

  /** Moves the whole segment `k` units later (to make room for audio before it). */
  shift(k: number): void {
    let i = this.pieceHead;
    for (let n = 0; n < this.pieceCount; n++) {
      this.pieceCorrection[i] = this.pieceCorrection[i]! + k;
      i = i === 0 ? PIECES - 1 : i - 1;
    }
    this.minPosition += k;
    this.gapFloor += k;
    this.gapConfirm += k;
  }

  /** Records where a piece may start: timestamps from `at` on, not below position `floor`. */
  setGap(at: number, floor: number): void {
    this.gapAt = at;
    this.gapFloor = floor;
    this.gapFirst = false;
    this.gapPending = false;
  }

  /** Records a gap of missing packets at `at`, `span` units long, usable from `confirm` on. */
  setPendingGap(at: number, floor: number, span: number, confirm: number): void {
    this.setGap(at, floor);
    this.gapPending = true;
    this.gapSpan = span;
    this.gapConfirm = confirm;
  }

  closeGap(): void {
    this.gapAt = NaN;
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
