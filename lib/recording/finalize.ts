import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { isoTimestamp } from '../evidence/info-file.js';
import { sealRecording } from '../evidence/seal.js';
import { sha256File } from '../evidence/hash-file.js';
import type { Keystore } from '../keys/keystore.js';
import type { RecordingLog } from '../store/recording-log.js';
import { VERSION } from '../util/version.js';
import { assembleRecording } from './assemble.js';
import type { ChannelMode, Leg, RecordingSession } from './recording-session.js';
import { dominantPayloadType, STATIC_CODECS } from './leg-codec.js';
import { lastArrival, listSpools, readSpoolMeta, type SpoolMeta } from './spool-meta.js';
import type { WavCodec } from './wav-header.js';

/** The stop reason of a spool found after a crash (SPEC E1, E7). */
export const RECOVERED = 'recovered after crash';

/** Room after the last packet's arrival for its own duration and placement. */
const TAIL_MS = 60;

const WAV_CODECS: Record<string, WavCodec> = { PCMA: 'pcma', PCMU: 'pcmu', G722: 'g722' };

export interface FinalizerOptions {
  config: Config;
  logger: Logger;
  keystore: Keystore;
  log: RecordingLog;
  /** Archive target ids of a profile; their upload rows are queued with the chain commit (SPEC A3). */
  uploadTargets: (profile: string) => string[];
  /** Called after each commit so delivery starts at once. */
  onSealed?: (baseName: string, profile: string) => void;
}

/**
 * From a closed spool to archived evidence (SPEC M6, E1-E5, E7):
 * assemble the WAV file(s) in the outbox, write the metadata naming the
 * chain head, hash and sign, commit the recording row and the new chain
 * head in one transaction, deliver to the profile's local folders, then
 * remove the spool. Finalizations run one at a time (the chain is a
 * sequence), and each step can be redone after a crash: a spool whose key
 * is already chained is only delivered again, never chained twice.
 */
export class Finalizer {
  private queue: Promise<void> = Promise.resolve();
  private readonly outbox: string;
  private readonly spoolRoot: string;

  constructor(private readonly o: FinalizerOptions) {
    this.outbox = path.join(o.config.data.dir, 'outbox');
    this.spoolRoot = path.join(o.config.data.dir, 'spool');
  }

  /** For CallRecorder: a stopped session goes into the queue. */
  readonly finalizeSession = (session: RecordingSession): Promise<void> => this.enqueue(session.dir, false);

  enqueue(spoolDir: string, recovered: boolean): Promise<void> {
    const run = this.queue.then(() => this.finalize(spoolDir, recovered));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Finalizes every spool left by a previous run (kill -9, power cut): call before taking calls. */
  async recover(): Promise<number> {
    const spools = await listSpools(this.spoolRoot);
    for (const dir of spools) {
      await this.enqueue(dir, true).catch((err: unknown) => {
        this.o.logger.error({ event: 'recording.recovery-failed', spool: dir, err: err instanceof Error ? err.message : String(err) }, 'spool could not be recovered; kept');
      });
    }
    return spools.length;
  }

  private async finalize(spoolDir: string, recovered: boolean): Promise<void> {
    const { config, logger, keystore, log } = this.o;
    let meta: SpoolMeta;
    try {
      meta = await readSpoolMeta(spoolDir);
    } catch (err) {
      // A spool whose meta.json never reached the disk holds nothing we could name: say so, keep it.
      logger.error({ event: 'recording.unreadable-spool', spool: spoolDir, err: err instanceof Error ? err.message : String(err) }, 'spool without metadata kept');
      return;
    }
    const f = meta.facts;
    const profile = config.profiles.find((p) => p.name === f.profile);
    const stage = path.join(this.outbox, f.baseName);
    const existing = log.findRecordingBySpoolKey(f.key);
    if (existing === undefined) {
      const stop = meta.stop ?? { reason: RECOVERED, atMs: await endOfSpool(spoolDir, f.originMs), answeredAtMs: undefined };
      const reason = recovered && meta.stop === null ? RECOVERED : stop.reason;
      await rm(stage, { recursive: true, force: true });
      await mkdir(stage, { recursive: true });
      // The last packet's audio lasts beyond its arrival (one packet, plus any placement
      // offset of its talkspurt): the files run on to cover it rather than cut it off.
      const audioEnd = Math.max(stop.atMs, (await endOfSpool(spoolDir, f.originMs)) + TAIL_MS);
      const audioFiles = await this.writeAudio(spoolDir, stage, meta, audioEnd);
      const head = log.chainHead();
      const previous = head.baseName !== null && head.signature !== null ? { baseName: head.baseName, signature: head.signature } : undefined;
      const answeredAt = stop.answeredAtMs ?? null;
      const sealed = await sealRecording({
        dir: stage,
        baseName: f.baseName,
        audioFiles: audioFiles.names,
        keystore,
        previous,
        info: {
          start: isoTimestamp(f.originMs),
          answer: answeredAt !== null ? isoTimestamp(answeredAt) : null,
          end: isoTimestamp(audioEnd),
          durationSeconds: Math.max(0, (audioEnd - f.originMs) / 1000),
          callerCallId: f.callIds.caller,
          calleeCallId: f.callIds.callee,
          callerNumber: f.caller.number,
          callerName: f.caller.name ?? '',
          calleeNumber: f.callee.number,
          calleeName: f.callee.name ?? '',
          direction: f.direction,
          profile: f.profile,
          instance: config.instance,
          softwareVersion: VERSION,
          codec: audioFiles.codec,
          channels: f.channels,
          stopReason: reason,
          extra: {
            ...(audioFiles.warnings.length > 0 ? { Warnings: audioFiles.warnings.join('; ') } : {}),
            // SPEC M8: the metadata says how each leg was protected, never with which keys.
            Encryption: f.encryption ?? 'none',
          },
        },
      });
      const files = await Promise.all(sealed.hashes.map(async (h) => ({ name: h.name, sha256: h.sha256, size: (await stat(path.join(stage, h.name))).size })));
      const hashSha256 = await sha256File(sealed.hashFile);
      const appended = log.appendToChain({
        baseName: f.baseName,
        folder: path.relative(config.data.dir, f.outputDir),
        profile: f.profile,
        startedAt: f.originMs,
        answeredAt,
        endedAt: audioEnd,
        durationMs: Math.max(0, Math.round(audioEnd - f.originMs)),
        codec: audioFiles.codec,
        channelMode: f.channels,
        stopReason: reason,
        files,
        hashSha256,
        signature: sealed.signature,
        previousBase: previous?.baseName ?? null,
        previousSignature: previous?.signature ?? null,
        spoolKey: f.key,
        sealedAt: Date.now(),
        retentionUntil: profile?.retention != null ? f.originMs + profile.retention * 1000 : null,
      }, { uploadTargets: this.o.uploadTargets(f.profile) });
      logger.info({ event: 'recording.sealed', base: f.baseName, position: appended.position, files: files.map((x) => x.name), reason }, 'recording sealed and chained');
    }
    // The outbox copy now waits for the archive queue; the spool is no longer needed.
    await rm(spoolDir, { recursive: true, force: true });
    this.o.onSealed?.(f.baseName, f.profile);
  }

  /**
   * Assembles WAV files from what each leg actually carried (SPEC M3, M6);
   * legs with different codecs go to one file each; codecs a WAV cannot hold
   * unchanged are kept as raw RTP payload with its index.
   */
  private async writeAudio(spoolDir: string, stage: string, meta: SpoolMeta, endMs: number): Promise<{ names: string[]; warnings: string[]; codec: string }> {
    const f = meta.facts;
    const legPaths = (leg: Leg) => ({ index: path.join(spoolDir, `${leg}.index`), payload: path.join(spoolDir, `${leg}.payload`) });
    const wanted: Leg[] = f.channels === 'caller' ? ['caller'] : f.channels === 'callee' ? ['callee'] : ['caller', 'callee'];
    const legs = new Map<Leg, { pt: number; name: string } | undefined>();
    for (const leg of wanted) {
      const pt = (await dominantPayloadType(legPaths(leg).index, f.telephoneEventPayloadType)) ?? f.payloadType;
      const name = pt === undefined ? undefined : (f.payloadTypes?.[String(pt)] ?? STATIC_CODECS[pt] ?? (pt === f.payloadType ? f.codec : undefined));
      legs.set(leg, pt !== undefined && name !== undefined ? { pt, name: name.toUpperCase() } : undefined);
    }
    const known = [...legs.values()].filter((x): x is { pt: number; name: string } => x !== undefined);
    const names: string[] = [];
    const warnings: string[] = [];
    const assemble = async (leg: Leg | undefined, codec: WavCodec, pt: number, channels: ChannelMode, base: string): Promise<void> => {
      const result = await assembleRecording({
        caller: leg === 'callee' ? undefined : legPaths('caller'),
        callee: leg === 'caller' ? undefined : legPaths('callee'),
        codec, payloadType: pt, channels, originMs: f.originMs, endMs: Math.max(endMs, f.originMs), outputBase: path.join(stage, base),
      });
      names.push(...result.files.map((x) => path.basename(x.path)));
      warnings.push(...result.warnings);
    };
    const same = known.length > 0 && known.every((k) => k.name === known[0]!.name && k.pt === known[0]!.pt);
    if (same && WAV_CODECS[known[0]!.name] !== undefined) {
      await assemble(undefined, WAV_CODECS[known[0]!.name]!, known[0]!.pt, f.channels, f.baseName);
    } else if (known.length === 0) {
      // Nothing was received at all: an empty (silent) file of the call's length still documents it.
      const codec = WAV_CODECS[(f.codec ?? 'PCMA').toUpperCase()] ?? 'pcma';
      await assemble(undefined, codec, f.payloadType ?? 8, f.channels, f.baseName);
      warnings.push('no audio packets were received');
    } else {
      for (const leg of wanted) {
        const c = legs.get(leg);
        const codec = c !== undefined ? WAV_CODECS[c.name] : undefined;
        if (c !== undefined && codec !== undefined) {
          await assemble(leg, codec, c.pt, leg, `${f.baseName}_${leg}`);
          continue;
        }
        warnings.push(`${leg} leg codec ${c?.name ?? 'unknown'} cannot be written to WAV unchanged: kept as raw RTP payload with index`);
        for (const [ext, file] of [['rtp', `${leg}.payload`], ['rtpidx', `${leg}.index`]] as const) {
          const name = `${f.baseName}_${leg}.${ext}`;
          await copyFile(path.join(spoolDir, file), path.join(stage, name)).then(() => names.push(name), () => {});
        }
      }
      if (known.length > 1 && !same) warnings.push('the legs carried different codecs: one file per leg');
    }
    for (const w of warnings) this.o.logger.warn({ event: 'recording.warning', base: f.baseName }, w);
    const codec = same || known.length <= 1 ? (known[0]?.name ?? f.codec ?? 'unknown') : wanted.map((l) => `${l} ${legs.get(l)?.name ?? 'none'}`).join(', ');
    return { names, warnings, codec };
  }

  /** Waits for every queued finalization (shutdown, tests). */
  async drain(): Promise<void> {
    await this.queue;
  }
}

/** The end of a recording found after a crash: the last packet either leg spooled. */
async function endOfSpool(dir: string, originMs: number): Promise<number> {
  const ends = await Promise.all([lastArrival(dir, 'caller'), lastArrival(dir, 'callee')]);
  return Math.max(originMs, ...ends.filter((x): x is number => x !== undefined));
}
