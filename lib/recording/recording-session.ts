import { mkdir, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { looksLikeRtcp, rtpPayloadEnd, rtpPayloadOffset } from '../media/rtp-header.js';
import { FLAG } from './spool-format.js';
import { SpoolWriter, type RecordVisitor } from './spool-writer.js';

export type Leg = 'caller' | 'callee';
export type ChannelMode = 'caller' | 'callee' | 'both-stereo' | 'both-separate';

/** What is known of a recording when it starts; kept in the spool as meta.json for crash recovery. */
export interface RecordingFacts {
  key: string;
  /** Wall-clock ms of the recording's time origin (both legs are aligned to it). */
  originMs: number;
  direction: 'inbound' | 'outbound';
  caller: { number: string; name: string | undefined };
  callee: { number: string; name: string | undefined };
  callIds: { caller: string; callee: string };
  profile: string;
  channels: ChannelMode;
  /** Audio codec as negotiated (PCMA, PCMU, G722, ...) and its payload type; may be filled in at answer. */
  codec: string | undefined;
  payloadType: number | undefined;
  telephoneEventPayloadType: number | undefined;
  /** How the legs were protected, e.g. "SRTP AES_CM_128_HMAC_SHA1_80 caller leg" (never keys). */
  encryption?: string;
  /** Every payload type either side's SDP named, with its codec name (for what is actually sent). */
  payloadTypes?: Record<string, string>;
  /** Where the finished files go (already expanded from the target's template). */
  outputDir: string;
  baseName: string;
}

/** Why and when a recording ended (stop reason of the metadata, SPEC E1). */
export interface RecordingStop {
  reason: string;
  atMs: number;
  answeredAtMs?: number | undefined;
}

/**
 * Looks at one leg's packets as they are spooled, off the relay's path
 * (in-band key detection, SPEC M5), and may end the recording at one.
 */
export interface SpoolWatcher {
  leg: Leg;
  /** Whether it wants packets now (e.g. only while no telephone-event was negotiated). */
  active(): boolean;
  visit: RecordVisitor;
  /** The spools were ended at `atMs` (a visit returned true); told once, after the current task. */
  ended(atMs: number): void;
  /** The stop reason of a recording it ended, whatever stopped the session then (e.g. a hangup right after the keys). */
  reason(atMs: number): string;
}

/** Flush spool batches at least this often, so a crash loses at most this much audio. */
export const SPOOL_FLUSH_MS = 1000;

/**
 * The spool of one recording: a folder with `caller.payload/.index`,
 * `callee.payload/.index` and `meta.json`. It takes RTP packets per leg
 * (parsing only the header, in place) and appends them in batches; it knows
 * nothing of SIP. `stop()` closes the spool and leaves it for finalization.
 */
export class RecordingSession {
  private readonly writers: Record<Leg, SpoolWriter>;
  private flushTimer: NodeJS.Timeout | undefined;
  private opening: Promise<void> | undefined;
  private stopped = false;
  private watcher: SpoolWatcher | undefined;
  /** When a watcher ended the spools. */
  private endedAtMs: number | undefined;
  garbage = 0;

  constructor(readonly dir: string, readonly facts: RecordingFacts) {
    this.writers = { caller: new SpoolWriter(dir, 'caller'), callee: new SpoolWriter(dir, 'callee') };
    this.markEvents();
  }

  /**
   * The leg's spool writer as a capture sink for the engine's fast path:
   * it appends audio packets to the current batch directly; telephone-events
   * still come through onRtp (they are flagged in the index).
   */
  capture(leg: Leg): SpoolWriter | undefined {
    return this.stopped ? undefined : this.writers[leg];
  }

  /**
   * Shows `watcher` every packet of its leg, in order, once, before it is
   * written: at each flush (at least every SPOOL_FLUSH_MS) and at stop. The
   * packets go on being relayed and spooled by the engine without
   * JavaScript. When a visit returns true, both legs' spools end at that
   * packet's arrival: what either leg spooled after it is dropped before it
   * reaches the disk (SPEC M5: audio up to the key press is kept).
   */
  watch(watcher: SpoolWatcher): void {
    this.watcher = watcher;
    const run = (): void => this.runWatcher();
    this.writers.caller.beforeFlush = run;
    this.writers.callee.beforeFlush = run;
  }

  private runWatcher(): void {
    const w = this.watcher;
    if (w === undefined || this.endedAtMs !== undefined || !w.active()) return;
    const at = this.writers[w.leg].visitNew(w.visit);
    if (at === undefined) return;
    this.endedAtMs = at;
    this.writers.caller.endAt(at);
    this.writers.callee.endAt(at);
    // Not from inside a flush: the listener stops the recording, which closes the writers.
    queueMicrotask(() => w.ended(at));
  }

  private markEvents(): void {
    const pt = this.facts.telephoneEventPayloadType ?? -1;
    this.writers.caller.slowPayloadType = pt;
    this.writers.callee.slowPayloadType = pt;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  packets(leg: Leg): number {
    return this.writers[leg].packets;
  }

  /** Of a leg's packets, those the media engine's fast path spooled without JavaScript. */
  capturedByEngine(leg: Leg): number {
    return this.writers[leg].capturedByEngine;
  }

  /** Creates the spool folder and files; the same promise on every call. */
  open(): Promise<void> {
    this.opening ??= this.openSpool();
    return this.opening;
  }

  private async openSpool(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.writeMeta(undefined);
    await this.writers.caller.open();
    await this.writers.callee.open();
    this.flushTimer = setInterval(() => {
      this.writers.caller.flush();
      this.writers.callee.flush();
    }, SPOOL_FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Hot path: one RTP packet of a leg. Garbage and RTCP are counted and dropped. */
  onRtp(leg: Leg, packet: Buffer, arrivalMs: number): void {
    if (this.stopped) return;
    const start = rtpPayloadOffset(packet);
    if (start < 0 || looksLikeRtcp(packet)) {
      this.garbage++;
      return;
    }
    const end = rtpPayloadEnd(packet, start);
    if (end < 0) {
      this.garbage++;
      return;
    }
    const pt = packet[1]! & 0x7f;
    const flags = pt === this.facts.telephoneEventPayloadType ? FLAG.event : 0;
    this.writers[leg].append(packet, start, end, arrivalMs, flags);
  }

  /**
   * Updates what became known after start (codec at answer): at once for
   * the packets that follow; meta.json once the spool is open.
   */
  async update(patch: Partial<RecordingFacts>): Promise<void> {
    Object.assign(this.facts, patch);
    this.markEvents();
    if (this.opening !== undefined) await this.opening;
    if (!this.stopped) await this.writeMeta(undefined);
  }

  /** Closes the spool; the stop is recorded in meta.json. Idempotent. */
  async stop(stop: RecordingStop): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
    this.runWatcher(); // the last packets, while both writers can still be ended
    await Promise.all([this.writers.caller.close(), this.writers.callee.close()]);
    const at = this.endedAtMs;
    await this.writeMeta(at !== undefined && this.watcher !== undefined ? { ...stop, reason: this.watcher.reason(at), atMs: at } : stop);
  }

  /** Write errors of the spool (disk full ...), if any. */
  get errors(): Error[] {
    return [this.writers.caller.error, this.writers.callee.error].filter((e): e is Error => e !== undefined);
  }

  private async writeMeta(stop: RecordingStop | undefined): Promise<void> {
    const file = path.join(this.dir, 'meta.json');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify({ facts: this.facts, stop: stop ?? null }, null, 1));
    await rename(tmp, file);
  }
}
