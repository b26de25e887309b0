import type { ChannelMode, Leg } from './recording-session.js';
import { SpoolReader, type LegSpoolPaths } from './spool-reader.js';
import { StereoInterleaver } from './stereo-interleaver.js';
import { LegTimeline, timelineCodec, type LegTimelineOptions, type TimelineStats } from './timeline.js';
import { WavWriter } from './wav-writer.js';
import type { WavCodec } from './wav-header.js';

export type { LegSpoolPaths } from './spool-reader.js';

/**
 * File-level glue from a call's spool to its WAV file(s): streams each
 * leg's spool through a `LegTimeline` and writes the result with
 * `WavWriter`. Memory stays bounded whatever the call length: the spool is
 * read in blocks and the two legs are advanced in step (always the one that
 * is behind), so the stereo interleaver never holds more than a few blocks.
 *
 * Output, all legs from `originMs` to `endMs` (equal lengths):
 *   caller | callee   one mono `<base>.wav`
 *   both-stereo       `<base>.wav`, caller = channel 0 (left), callee =
 *                     channel 1 (right), interleaved byte by byte, never mixed;
 *                     for G.722 two mono files instead (no reader decodes
 *                     stereo G.722, tech-facts-media §2), with a warning
 *   both-separate     `<base>_caller.wav` and `<base>_callee.wav`
 */

export interface AssembleOptions {
  /** Spool files of each leg; a missing leg or file is silence. */
  caller?: LegSpoolPaths | undefined;
  callee?: LegSpoolPaths | undefined;
  codec: WavCodec;
  /** The legs' audio payload type; default the codec's static one (PCMU 0, PCMA 8, G722 9). */
  payloadType?: number | undefined;
  channels: ChannelMode;
  /** Wall-clock ms of the recording's start and end. */
  originMs: number;
  endMs: number;
  /** Output path without `.wav`. */
  outputBase: string;
  /** Tuning of the timelines (jitter window, jump threshold, ...). */
  timeline?: Omit<LegTimelineOptions, 'originMs' | 'endMs'> | undefined;
}

export interface AssembledFile {
  path: string;
  /** Which leg the file holds; 'both' for stereo. */
  content: Leg | 'both';
  channels: 1 | 2;
  fileBytes: number;
  dataBytes: number;
  durationSec: number;
  rf64: boolean;
}

export interface AssembleResult {
  files: AssembledFile[];
  warnings: string[];
  stats: Partial<Record<Leg, TimelineStats>>;
}

/** Spool records pushed per step of a leg. */
const RECORDS_PER_STEP = 1024;
/** Output chunks drained per step of a finished leg. */
const CHUNKS_PER_STEP = 16;

export async function assembleRecording(o: AssembleOptions): Promise<AssembleResult> {
  if (!(o.endMs >= o.originMs)) throw new RangeError(`end ${o.endMs} before origin ${o.originMs}`);
  const warnings: string[] = [];
  const stats: Partial<Record<Leg, TimelineStats>> = {};
  const files: AssembledFile[] = [];
  let mode = o.channels;
  if (mode === 'both-stereo' && o.codec === 'g722') {
    warnings.push('G.722 cannot be stored as stereo WAV (no common decoder reads it): wrote one mono file per leg');
    mode = 'both-separate';
  }
  const legs: Leg[] = mode === 'caller' ? ['caller'] : mode === 'callee' ? ['callee'] : ['caller', 'callee'];
  const pumps = new Map<Leg, LegPump>();
  const writers: WavWriter[] = [];
  try {
    for (const leg of legs) pumps.set(leg, await LegPump.open(leg, o));
    if (mode === 'both-stereo') {
      const w = await WavWriter.create(`${o.outputBase}.wav`, { codec: o.codec, channels: 2 });
      writers.push(w);
      await runStereo(pumps.get('caller')!, pumps.get('callee')!, w);
      files.push(fileInfo(await w.close(), 'both', 2));
    } else {
      for (const leg of legs) {
        const path = mode === 'both-separate' ? `${o.outputBase}_${leg}.wav` : `${o.outputBase}.wav`;
        const w = await WavWriter.create(path, { codec: o.codec, channels: 1 });
        writers.push(w);
        await runMono(pumps.get(leg)!, w);
        files.push(fileInfo(await w.close(), leg, 1));
      }
    }
    for (const [leg, pump] of pumps) {
      const s = pump.timeline.stats;
      stats[leg] = s;
      if (s.placed === 0) warnings.push(`${leg} leg: no audio received; the ${leg} channel is silence`);
      if (pump.reader.missingPayload > 0) warnings.push(`${leg} leg: ${pump.reader.missingPayload} index records without payload skipped`);
    }
    return { files, warnings, stats };
  } catch (err) {
    for (const w of writers) await w.abort();
    throw err;
  } finally {
    for (const pump of pumps.values()) await pump.reader.close();
  }
}

function fileInfo(f: Awaited<ReturnType<WavWriter['close']>>, content: Leg | 'both', channels: 1 | 2): AssembledFile {
  return { path: f.path, content, channels, fileBytes: f.fileBytes, dataBytes: f.dataBytes, durationSec: f.durationSec, rf64: f.rf64 };
}

async function runMono(pump: LegPump, w: WavWriter): Promise<void> {
  while (!pump.drained) {
    await pump.step();
    for (const c of pump.out) await w.write(c);
    pump.out.length = 0;
  }
}

async function runStereo(caller: LegPump, callee: LegPump, w: WavWriter): Promise<void> {
  const il = new StereoInterleaver();
  while (!(caller.drained && callee.drained)) {
    // Advance the leg that is behind so the interleaver's backlog stays small.
    const pump = callee.drained || (!caller.drained && caller.emitted <= callee.emitted) ? caller : callee;
    await pump.step();
    for (const c of pump.out) {
      if (pump === caller) il.pushLeft(c);
      else il.pushRight(c);
    }
    pump.out.length = 0;
    for (let b = il.read(); b !== undefined; b = il.read()) await w.write(b);
  }
  for (let b = il.read(true); b !== undefined; b = il.read(true)) await w.write(b);
}

/** One leg: spool reader feeding a timeline, output collected per step. */
class LegPump {
  readonly out: Buffer[] = [];
  emitted = 0;
  drained = false;
  private ended = false;

  private constructor(readonly reader: SpoolReader, readonly timeline: LegTimeline) {}

  static async open(leg: Leg, o: AssembleOptions): Promise<LegPump> {
    const reader = await SpoolReader.open(o[leg]);
    const codec = timelineCodec(o.codec, o.payloadType);
    return new LegPump(reader, new LegTimeline(codec, { ...o.timeline, originMs: o.originMs, endMs: o.endMs }));
  }

  /** Pushes a batch of records (or, at the end of the spool, pads) and collects the output. */
  async step(): Promise<void> {
    const t = this.timeline;
    if (!this.ended) {
      const r = this.reader;
      for (let i = 0; i < RECORDS_PER_STEP; i++) {
        if (!r.nextBuffered() && !(await r.next())) {
          this.ended = true;
          t.finish();
          break;
        }
        t.push(r.record, r.payload, r.payloadAt);
      }
    }
    for (let i = 0; !this.ended || i < CHUNKS_PER_STEP; i++) {
      const c = t.read();
      if (c === undefined) {
        if (this.ended) this.drained = true;
        return;
      }
      this.out.push(c);
      this.emitted += c.length;
    }
  }
}
