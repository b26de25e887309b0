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

/**
 * Spools whose audio is assembled at once, ahead of the chain. Two: their
 * WAV writes and fsyncs overlap with each other and with the sealing, while
 * a mass hangup does not start a thousand assemblies beside the calls still
 * being relayed.
 */
const PREPARED_AHEAD = 2;

/** The audio files a spool became, with what the metadata says of them. */
interface AudioFiles {
  names: string[];
  warnings: string[];
  codec: string;
}

/** A spool's finalization up to the chain (Finalizer.prepare). */
interface Prepared {
  spoolDir: string;
  facts: SpoolMeta['facts'];
  /** Undefined when the spool's recording is chained already (redelivered only). */
  audio: { stage: string; files: AudioFiles; reason: string; audioEnd: number; answeredAt: number | null } | undefined;
}

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
 * remove the spool. Sealing and chaining run one at a time, in the order
 * the spools came (the chain is a sequence); the assembly of the next
 * spools runs ahead of it. Each step can be redone after a crash: a spool
 * whose key is already chained is only delivered again, never chained twice.
 */
export class Finalizer {
  private queue: Promise<void> = Promise.resolve();
  private preparing = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly outbox: string;
  private readonly spoolRoot: string;

  constructor(private readonly o: FinalizerOptions) {
    this.outbox = path.join(o.config.data.dir, 'outbox');
    this.spoolRoot = path.join(o.config.data.dir, 'spool');
  }

  /** For CallRecorder: a stopped session goes into the queue. */
  readonly finalizeSession = (session: RecordingSession): Promise<void> => this.enqueue(session.dir, false);

  /**
   * Finalizes a closed spool: its audio is assembled at once (at most
   * PREPARED_AHEAD spools at a time, so their file writes and fsyncs
   * overlap), and it is sealed and chained after every spool enqueued before
   * it. Rejects if it fails; the spool is then kept.
   */
  enqueue(spoolDir: string, recovered: boolean): Promise<void> {
    const prepared = this.ahead(() => this.prepare(spoolDir, recovered));
    prepared.catch(() => {}); // reported through `run`, in order
    const run = this.queue.then(() => prepared).then((p) => (p === undefined ? undefined : this.commit(p)));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Finalizes every spool left by a previous run (kill -9, power cut): call before taking calls. */
  async recover(): Promise<number> {
    const spools = await listSpools(this.spoolRoot);
    await Promise.all(spools.map((dir) => this.enqueue(dir, true).catch((err: unknown) => {
      this.o.logger.error({ event: 'recording.recovery-failed', spool: dir, err: err instanceof Error ? err.message : String(err) }, 'spool could not be recovered; kept');
    })));
    return spools.length;
  }

  /** Runs `task` once fewer than PREPARED_AHEAD run, in the order asked. */
  private async ahead<T>(task: () => Promise<T>): Promise<T> {
    // A finished task hands its slot to the next waiting one directly, so a task asked for
    // meanwhile cannot take it first and make one too many.
    if (this.preparing >= PREPARED_AHEAD) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.preparing++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.preparing--;
    }
  }

  /**
   * Everything of a finalization that does not depend on the chain: the
   * spool's metadata and the audio files in the outbox. Undefined for a
   * spool without readable metadata (logged, kept).
   */
  private async prepare(spoolDir: string, recovered: boolean): Promise<Prepared | undefined> {
    const { logger, log } = this.o;
    let meta: SpoolMeta;
    try {
      meta = await readSpoolMeta(spoolDir);
    } catch (err) {
      // A spool whose meta.json never reached the disk holds nothing we could name: say so, keep it.
      logger.error({ event: 'recording.unreadable-spool', spool: spoolDir, err: err instanceof Error ? err.message : String(err) }, 'spool without metadata kept');
      return undefined;
    }
    const f = meta.facts;
    // Chained already (a crash after the commit): only delivered again, never chained twice.
    if (log.findRecordingBySpoolKey(f.key) !== undefined) return { spoolDir, facts: f, audio: undefined };
    const stage = path.join(this.outbox, f.baseName);
    const stop = meta.stop ?? { reason: RECOVERED, atMs: await endOfSpool(spoolDir, f.originMs), answeredAtMs: undefined };
    const reason = recovered && meta.stop === null ? RECOVERED : stop.reason;
    await rm(stage, { recursive: true, force: true });
    await mkdir(stage, { recursive: true });
    // The last packet's audio lasts beyond its arrival (one packet, plus any placement
    // offset of its talkspurt): the files run on to cover it rather than cut it off.
    const audioEnd = Math.max(stop.atMs, (await endOfSpool(spoolDir, f.originMs)) + TAIL_MS);
    const files = await this.writeAudio(spoolDir, stage, meta, audioEnd);
    return { spoolDir, facts: f, audio: { stage, files, reason, audioEnd, answeredAt: stop.answeredAtMs ?? null } };
  }

  /** Seals the prepared recording on the chain's head and commits it (one at a time, in order). */
  private async commit(p: Prepared): Promise<void> {
    const { config, logger, keystore, log } = this.o;
    const f = p.facts;
    const a = p.audio;
    // Asked again at the chain itself (prepare asked only to skip the assembly): what decides
    // whether this spool is chained is the chain as it is now, once the spools before it are.
    if (a !== undefined && log.findRecordingBySpoolKey(f.key) === undefined) {
      const { stage, files: audioFiles, reason, audioEnd, answeredAt } = a;
      const profile = config.profiles.find((x) => x.name === f.profile);
      const head = log.chainHead();
      const previous = head.baseName !== null && head.signature !== null ? { baseName: head.baseName, signature: head.signature } : undefined;
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
    await rm(p.spoolDir, { recursive: true, force: true });
    this.o.onSealed?.(f.baseName, f.profile);
  }

  /**
   * Assembles WAV files from what each leg actually carried (SPEC M3, M6);
   * legs with different codecs go to one file each; codecs a WAV cannot hold
   * unchanged are kept as raw RTP payload with its index.
   */
  private async writeAudio(spoolDir: string, stage: string, meta: SpoolMeta, endMs: number): Promise<AudioFiles> {
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
