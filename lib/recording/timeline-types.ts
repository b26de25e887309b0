/** The options and counters of LegTimeline (timeline.ts). */

export interface LegTimelineOptions {
  /** Wall-clock ms of position 0, shared by both legs. */
  originMs: number;
  /** Wall-clock ms of the end, if known up front: nothing past it is placed or emitted. */
  endMs?: number | undefined;
  /** Reordering window in ms of media (default 500). */
  jitterMs?: number;
  /** A timestamp step that disagrees with the arrival step by more than this starts a new segment (default 1000). */
  jumpMs?: number;
  /**
   * Correct (at the next gap) when the drift estimate is more than this many
   * ms off (default 8). A bit under half a 20 ms packet: with the estimator's
   * lag (window x drift, about 7 units at 100 ppm) each leg stays within ~72
   * units of wall clock plus the drift between gaps, so two legs drifting in
   * opposite directions and talking in talkspurts stay within one packet (160).
   */
  reanchorMs?: number;
  /** Length of the drift estimator's sliding window in ms of arrival time (default 8000). */
  driftWindowMs?: number;
}

export interface TimelineStats {
  /** Packets whose audio was placed (at least partly). */
  placed: number;
  duplicates: number;
  /** Packets that arrived after their place was emitted (or before the origin). */
  late: number;
  /** Packets at or after the end (one crossing the end is cut there). */
  afterEnd: number;
  events: number;
  otherPayloadType: number;
  comfortNoise: number;
  empty: number;
  segments: number;
  /** Corrections: a talkspurt moved to the drift estimate at a gap, or audio moved later to make room. */
  reanchors: number;
  /** Units of received audio in the output. */
  audioUnits: number;
  /** Units of the output filled with silence (everything not audio). */
  silenceUnits: number;
  /** Silence between the first and the last audio placed: loss, silence suppression, hold, late packets, silence added by corrections. */
  lostUnits: number;
  /**
   * Units of received audio not placed because other audio was already there:
   * payloads overlapping in timestamp arriving reordered, or segments mixing
   * after one became final. Never from drift correction; end cuts are `afterEnd`.
   */
  clippedUnits: number;
  /** Output length so far, in units. */
  lengthUnits: number;
}
