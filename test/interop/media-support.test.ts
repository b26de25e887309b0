/**
 * Shared helpers of the media interop tests (test/interop/media-*.test.ts
 * and replay.test.ts import them): scenario templates, raw audio fixtures,
 * one call PBX -> callrec -> provider with SIPp on both sides, finding the
 * finished recording, reading WAV files and comparing a channel byte by byte
 * with what a party sent.
 *
 * Run as a test file itself, it verifies only these helpers, offline (no
 * callrec, no SIPp): WAV parsing of a hand-made header, channel
 * de-interleaving, the byte comparison (alignment, loops, mismatch
 * reporting) and template filling. It does not verify callrec.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import {
  type CallrecInstance,
  type LogLine,
  type SippProcess,
  type SippResult,
  type StartCallrecOptions,
  REPO_ROOT,
  CALLREC_BIN,
  SIPP_FIXTURES,
  cleanChildEnv,
  describeSipp,
  freePort,
  makeTempDir,
  nodeCommand,
  removeTempDir,
  runSipp,
  startCallrec,
  startSipp,
} from './harness/index.js';

export const AUDIO_DIR = path.join(REPO_ROOT, 'fixtures', 'audio');

export type CodecName = 'PCMA' | 'PCMU' | 'G722';

export interface CodecInfo {
  name: CodecName;
  pt: number;
  /** Extension of the raw fixture files in fixtures/audio. */
  ext: 'al' | 'ul' | 'g722';
  /** The byte callrec fills gaps with. */
  silence: number;
  /** ffprobe codec_name of the WAV. */
  ffprobe: string;
  /** Audio sample rate of the WAV (not the RTP clock). */
  sampleRate: number;
  /** WAV format tag. */
  formatTag: number;
}

export const CODECS: Record<CodecName, CodecInfo> = {
  PCMA: { name: 'PCMA', pt: 8, ext: 'al', silence: 0xd5, ffprobe: 'pcm_alaw', sampleRate: 8000, formatTag: 6 },
  PCMU: { name: 'PCMU', pt: 0, ext: 'ul', silence: 0xff, ffprobe: 'pcm_mulaw', sampleRate: 8000, formatTag: 7 },
  G722: { name: 'G722', pt: 9, ext: 'g722', silence: 0xfc, ffprobe: 'adpcm_g722', sampleRate: 16000, formatTag: 0x028f },
};

/** RTP bytes per second of every codec here (G.722 too: 64 kbit/s). */
export const BYTES_PER_SECOND = 8000;
/** One 20 ms packet. */
export const PACKET_BYTES = 160;
/** One packet in seconds, plus a millisecond of rounding. */
export const PACKET_SECONDS = PACKET_BYTES / BYTES_PER_SECOND + 0.001;

export function audioFile(name: string): string {
  return path.join(AUDIO_DIR, name);
}

export function readAudio(name: string): Buffer {
  return fs.readFileSync(audioFile(name));
}

/** SDP lines for `codec`, with telephone-event/8000 as PT 101 when asked. */
export function sdpFor(codec: CodecInfo, telephoneEvent: boolean): { MEDIA_PTS: string; RTPMAPS: string } {
  const lines = [`a=rtpmap:${codec.pt} ${codec.name}/8000`];
  if (telephoneEvent) lines.push('a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15');
  return { MEDIA_PTS: telephoneEvent ? `${codec.pt} 101` : String(codec.pt), RTPMAPS: lines.join('\n') };
}

/**
 * Fills the @KEY@ placeholders of fixtures/sipp/<template>.xml and writes the
 * result into `dir` (SIPp reads rtp_stream and pcap_play paths when it loads
 * a scenario, so they cannot be keywords). Throws on a placeholder left over.
 */
export function fillScenario(template: string, vars: Record<string, string | number>, dir: string, name = template): string {
  const text = fs.readFileSync(path.join(SIPP_FIXTURES, `${template}.xml`), 'utf8');
  const filled = fillText(text, vars);
  const out = path.join(dir, `${name}.xml`);
  fs.writeFileSync(out, filled);
  return out;
}

export function fillText(text: string, vars: Record<string, string | number>): string {
  // Placeholders in the leading comment are documentation, not to be filled.
  const body = text.replace(/<!--[\s\S]*?-->/g, '');
  const filled = body.replace(/@([A-Z_]+)@/g, (all, key: string) => {
    const value = vars[key];
    if (value === undefined) throw new Error(`no value for placeholder ${all}`);
    return String(value);
  });
  return filled;
}

// ---------------------------------------------------------------- processes

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (never throws on a non-zero exit). */
export function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd ?? REPO_ROOT, env: cleanChildEnv(), timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
        resolve({ code, stdout, stderr: stderr + (err !== null && code === null ? `\n${err.message}` : '') });
      },
    );
  });
}

/** `callrec <args>` as a child process, free of tap's loaders. */
export function runCallrec(args: string[], timeoutMs = 60_000): Promise<Run> {
  const cmd = nodeCommand([CALLREC_BIN, ...args]);
  return run(cmd.command, cmd.args, { timeoutMs });
}

// ---------------------------------------------------------------- recordings

export interface Recording {
  /** Full path without suffixes. */
  base: string;
  folder: string;
  name: string;
  info: Record<string, string>;
  /** Every file of the folder that starts with the base name. */
  files: string[];
  /** Audio-Files of the metadata. */
  audioFiles: string[];
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 2);
  }
  return out;
}

export function loadRecording(folder: string, name: string): Recording {
  const base = path.join(folder, name);
  const info = parseInfo(fs.readFileSync(`${base}_info.txt`, 'utf8'));
  const files = fs.readdirSync(folder).filter((f) => f.startsWith(name)).sort();
  const audioFiles = (info['Audio-Files'] ?? '').split(', ').filter(Boolean);
  return { base, folder, name, info, files, audioFiles };
}

/** Files named `name` below `dir` (recursive). */
export function findFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findFiles(full, name));
    else if (entry.name === name) out.push(full);
  }
  return out;
}

const DELIVERED = new Set(['recording.delivered', 'archive.delivered']);

/**
 * The finished recording of the `nth` (0-based) recording.sealed line, or,
 * when `callId` is given, of the recording whose recording.start names it:
 * waits until it is delivered and its info file is in `archiveDir` (default:
 * the archive folder of the harness profile "all").
 */
export async function waitForRecording(
  rec: CallrecInstance,
  options: { timeoutMs?: number; callId?: string; nth?: number; archiveDir?: string } = {},
): Promise<Recording> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let base: string;
  if (options.callId !== undefined) {
    const start = await rec.waitForLog((l) => l.event === 'recording.start' && l['callId'] === options.callId, timeoutMs);
    base = String(start['base']);
  } else {
    const nth = options.nth ?? 0;
    const line = await rec.waitForLog((l: LogLine) => l.event === 'recording.sealed' && rec.logs.filter((x) => x.event === 'recording.sealed').indexOf(l) === nth, timeoutMs);
    base = String(line['base']);
  }
  await rec.waitForLog((l) => DELIVERED.has(l.event ?? '') && l['base'] === base, Math.max(1, deadline - Date.now()));
  const archive = options.archiveDir ?? rec.archiveDir;
  for (;;) {
    const found = findFiles(archive, `${base}_info.txt`);
    if (found.length > 0) {
      const folder = path.dirname(found[0]!);
      if (fs.existsSync(path.join(folder, `${base}_hash.txt.SHA256withRSA.sig`))) return loadRecording(folder, base);
    }
    if (Date.now() > deadline) throw new Error(`recording ${base} was not found complete below ${archive}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Seconds between two ISO timestamps of the metadata. */
export function secondsBetween(from: string, to: string): number {
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

// ---------------------------------------------------------------- WAV

export interface Wav {
  riff: string;
  formatTag: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
  /** fact dwSampleLength, when there is a fact chunk. */
  factSamples: number | undefined;
  chunks: string[];
  dataOffset: number;
  data: Buffer;
}

export function parseWav(buf: Buffer): Wav {
  const riff = buf.toString('latin1', 0, 4);
  if ((riff !== 'RIFF' && riff !== 'RF64') || buf.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let pos = 12;
  const chunks: string[] = [];
  let fmt: Buffer | undefined;
  let factSamples: number | undefined;
  let data: Buffer | undefined;
  let dataOffset = -1;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    let size = buf.readUInt32LE(pos + 4);
    chunks.push(id);
    if (id === 'data') {
      if (size === 0xffffffff || pos + 8 + size > buf.length) size = buf.length - pos - 8;
      dataOffset = pos + 8;
      data = buf.subarray(pos + 8, pos + 8 + size);
      break;
    }
    const body = buf.subarray(pos + 8, pos + 8 + size);
    if (id === 'fmt ') fmt = body;
    if (id === 'fact') factSamples = body.readUInt32LE(0);
    pos += 8 + size + (size & 1);
  }
  if (fmt === undefined || data === undefined) throw new Error(`WAV without fmt or data chunk (chunks: ${chunks.join(',')})`);
  return {
    riff,
    formatTag: fmt.readUInt16LE(0),
    channels: fmt.readUInt16LE(2),
    sampleRate: fmt.readUInt32LE(4),
    byteRate: fmt.readUInt32LE(8),
    blockAlign: fmt.readUInt16LE(12),
    bitsPerSample: fmt.readUInt16LE(14),
    factSamples,
    chunks,
    dataOffset,
    data,
  };
}

export function readWav(file: string): Wav {
  return parseWav(fs.readFileSync(file));
}

/** Bytes of channel `index` of byte-interleaved data. */
export function channelOf(wav: Pick<Wav, 'channels' | 'data'>, index: number): Buffer {
  if (wav.channels === 1) return wav.data;
  const n = Math.floor(wav.data.length / wav.channels);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = wav.data[i * wav.channels + index]!;
  return out;
}

// ---------------------------------------------------------------- byte comparison

export interface SourceMatch {
  /** Index in the channel where byte 0 of the source would lie. */
  origin: number;
  /** First and last (exclusive) channel index compared. */
  from: number;
  to: number;
  /** Bytes compared. */
  compared: number;
  /** Channel index of the first byte that differs, or -1. */
  firstMismatch: number;
  mismatches: number;
}

export function firstNonSilence(buf: Buffer, silence: number, from = 0): number {
  for (let i = from; i < buf.length; i++) if (buf[i] !== silence) return i;
  return -1;
}

export function lastNonSilence(buf: Buffer, silence: number): number {
  for (let i = buf.length - 1; i >= 0; i--) if (buf[i] !== silence) return i;
  return -1;
}

/**
 * Compares a channel with the bytes a party sent from `source` (looped when
 * the stream looped): the first non-silence byte of the channel is aligned
 * with the first non-silence byte of the source, and every byte from there
 * to the channel's last non-silence byte must equal the source at the same
 * distance (modulo its length).
 */
export function matchSource(channel: Buffer, source: Buffer, silence: number): SourceMatch {
  const c0 = firstNonSilence(channel, silence);
  const s0 = firstNonSilence(source, silence);
  if (c0 < 0 || s0 < 0) return { origin: -1, from: 0, to: 0, compared: 0, firstMismatch: -1, mismatches: 0 };
  const origin = c0 - s0;
  const from = c0;
  const to = lastNonSilence(channel, silence) + 1;
  let firstMismatch = -1;
  let mismatches = 0;
  for (let i = from; i < to; i++) {
    const expected = source[(((i - origin) % source.length) + source.length) % source.length]!;
    if (channel[i] !== expected) {
      mismatches++;
      if (firstMismatch < 0) firstMismatch = i;
    }
  }
  return { origin, from, to, compared: to - from, firstMismatch, mismatches };
}

export interface StreamMatch {
  /** Channel index of byte 0 of the stream, -1 when no audio was found. */
  origin: number;
  /** Bytes of the stream that lie inside the channel and were compared. */
  compared: number;
  mismatches: number;
  firstMismatch: number;
  /** Bytes of the stream that would lie past the end of the channel (cut off). */
  missingAtEnd: number;
}

/**
 * Like matchSource, but for a stream of exactly `bytes` bytes (packets sent x
 * payload size) taken from the start of `source` (looped): every one of them
 * must be in the channel, in place; bytes past the channel's end are counted
 * as `missingAtEnd`.
 */
export function matchStream(channel: Buffer, source: Buffer, silence: number, bytes: number): StreamMatch {
  const c0 = firstNonSilence(channel, silence);
  const s0 = firstNonSilence(source, silence);
  if (c0 < 0 || s0 < 0) return { origin: -1, compared: 0, mismatches: 0, firstMismatch: -1, missingAtEnd: bytes };
  const origin = c0 - s0;
  let compared = 0;
  let mismatches = 0;
  let firstMismatch = -1;
  let missingAtEnd = 0;
  for (let i = 0; i < bytes; i++) {
    const at = origin + i;
    if (at >= channel.length) {
      missingAtEnd = bytes - i;
      break;
    }
    compared++;
    if (at < 0 || channel[at] !== source[i % source.length]) {
      mismatches++;
      if (firstMismatch < 0) firstMismatch = at;
    }
  }
  return { origin, compared, mismatches, firstMismatch, missingAtEnd };
}

/** Packets per leg that callrec counted for the recording (its recording.stop line). */
export async function packetsOf(rec: CallrecInstance, timeoutMs = 10_000): Promise<{ caller: number; callee: number }> {
  const line = await rec.waitForLog((l) => l.event === 'recording.stop', timeoutMs);
  const p = line['packets'] as { caller?: number; callee?: number } | undefined;
  return { caller: Number(p?.caller ?? NaN), callee: Number(p?.callee ?? NaN) };
}

/** Of those, the packets the media engine's fast path spooled (recording.stop's `engine`). */
export async function enginePacketsOf(rec: CallrecInstance, timeoutMs = 10_000): Promise<{ caller: number; callee: number }> {
  const line = await rec.waitForLog((l) => l.event === 'recording.stop', timeoutMs);
  const p = line['engine'] as { caller?: number; callee?: number } | undefined;
  return { caller: Number(p?.caller ?? NaN), callee: Number(p?.callee ?? NaN) };
}

/** Runs of audio in a channel, split where at least `minGap` silence bytes lie between. */
export function audioRuns(channel: Buffer, silence: number, minGap: number): Array<{ from: number; to: number }> {
  const runs: Array<{ from: number; to: number }> = [];
  let i = firstNonSilence(channel, silence);
  while (i >= 0) {
    let end = i;
    let j = i;
    while (j < channel.length) {
      if (channel[j] !== silence) {
        end = j + 1;
        j++;
        continue;
      }
      let k = j;
      while (k < channel.length && channel[k] === silence) k++;
      if (k - j >= minGap || k === channel.length) break;
      j = k;
    }
    runs.push({ from: i, to: end });
    i = firstNonSilence(channel, silence, end);
  }
  return runs;
}

/**
 * Where `segment` lies in `source` (looped), found by its first 64 bytes,
 * and how many of its bytes differ from the source from there on.
 */
export function locateInSource(segment: Buffer, source: Buffer): { offset: number; mismatches: number } {
  const doubled = Buffer.concat([source, source]);
  const offset = doubled.indexOf(segment.subarray(0, Math.min(64, segment.length)));
  if (offset < 0) return { offset: -1, mismatches: segment.length };
  let mismatches = 0;
  for (let i = 0; i < segment.length; i++) if (segment[i] !== source[(offset + i) % source.length]) mismatches++;
  return { offset: offset % source.length, mismatches };
}

/** A hex dump of `len` bytes around `at` for failure messages. */
export function hexAround(buf: Buffer, at: number, len = 16): string {
  const from = Math.max(0, at - len / 2);
  return `@${at}: ${buf.subarray(from, from + len).toString('hex')}`;
}

// ---------------------------------------------------------------- tools

export interface ProbeStream {
  codec_name: string;
  channels: number;
  sample_rate: string;
  duration?: string;
}

export async function ffprobe(file: string): Promise<{ stream: ProbeStream | undefined; duration: number; raw: Run }> {
  const raw = await run('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file]);
  try {
    const parsed = JSON.parse(raw.stdout) as { streams?: ProbeStream[]; format?: { duration?: string } };
    const stream = parsed.streams?.[0];
    const duration = Number(stream?.duration ?? parsed.format?.duration ?? NaN);
    return { stream, duration, raw };
  } catch {
    return { stream: undefined, duration: NaN, raw };
  }
}

/** The certificate callrec signs with. */
export function certificateOf(rec: CallrecInstance): string {
  const data = (rec.config['data'] as { dir: string }).dir;
  return path.join(data, 'keys', 'certificate.pem');
}

// ---------------------------------------------------------------- one call

export interface CallSetup {
  /** Scenario (path or fixtures/sipp name) of the PBX side (UAC). */
  uac: string;
  /** Scenario of the provider side (UAS). */
  uas: string;
  /** -d of the UAC (pause length). */
  durationMs?: number;
  overrides?: Record<string, unknown>;
  uacTimeoutSeconds?: number;
  uasExtraArgs?: string[];
  uacExtraArgs?: string[];
  service?: string;
  caller?: string;
}

export interface CallResult {
  rec: CallrecInstance;
  uac: SippResult;
  uas: SippResult;
}

/**
 * One outbound call, SIPp UAC (as PBX) -> callrec -> SIPp UAS (as provider).
 * callrec and SIPp are torn down with `t`.
 */
export async function callThrough(t: Test, setup: CallSetup): Promise<CallResult> {
  const pbxPort = await freePort('both');
  const provider: SippProcess = await withPortRetry(() =>
    startSipp({
      scenario: setup.uas,
      calls: 1,
      timeoutSeconds: (setup.uacTimeoutSeconds ?? 60) + 30,
      extraArgs: setup.uasExtraArgs ?? [],
    }),
  );
  t.teardown(() => provider.stop());
  const rec = await startCallrecRetrying({
    pbx: { port: pbxPort, transport: 'udp' },
    provider: { port: provider.localPort, transport: 'udp' },
    ...(setup.overrides ? { overrides: setup.overrides } : {}),
  });
  t.teardown(() => rec.dispose());
  const uac = await runSipp({
    scenario: setup.uac,
    remote: { port: rec.sipPort },
    localPort: pbxPort,
    calls: 1,
    ...(setup.durationMs !== undefined ? { durationMs: setup.durationMs } : {}),
    service: setup.service ?? '0301234567',
    keys: { caller: setup.caller ?? '201' },
    timeoutSeconds: setup.uacTimeoutSeconds ?? 60,
    extraArgs: setup.uacExtraArgs ?? [],
  });
  const uas = await Promise.race([
    provider.done,
    new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 20_000).unref()),
  ]).then((r) => (r === 'late' ? provider.stop() : r));
  return { rec, uac, uas };
}

/**
 * Retries a start that failed because a port picked as free was taken in
 * the meantime (other test processes on the machine pick from the same
 * ranges): EADDRINUSE from callrec, "Unable to bind" from SIPp.
 */
export async function withPortRetry<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (i >= attempts || !/EADDRINUSE|Unable to bind|errno = 98|did not bind/.test(text)) throw err;
    }
  }
}

export function startCallrecRetrying(options: StartCallrecOptions): Promise<CallrecInstance> {
  return withPortRetry(() => startCallrec(options));
}

/** Standard checks that both SIPp sides completed their one call. */
export function assertSippOk(t: Test, call: Pick<CallResult, 'uac' | 'uas'>): void {
  t.equal(call.uac.exitCode, 0, 'PBX-side SIPp completes its call', { diagnostic: call.uac.exitCode !== 0, details: describeSipp(call.uac) });
  t.equal(call.uac.successful, 1, 'PBX side: 1 successful call');
  t.equal(call.uas.exitCode, 0, 'provider-side SIPp completes its call', { diagnostic: call.uas.exitCode !== 0, details: describeSipp(call.uas) });
  t.equal(call.uas.successful, 1, 'provider side: 1 successful call');
}

/** A temp dir removed with `t`. */
export function tempDir(t: Test, prefix = 'callrec-media'): string {
  const dir = makeTempDir(prefix);
  t.teardown(() => removeTempDir(dir));
  return dir;
}

// ---------------------------------------------------------------- self-test

const self = fileURLToPath(import.meta.url);
const isMain = process.argv[1] !== undefined && fs.existsSync(process.argv[1]) && fs.realpathSync(process.argv[1]) === fs.realpathSync(self);

if (isMain) {
  t.test('parseWav and channelOf on a hand-made stereo A-law WAV', async (t) => {
    const data = Buffer.from([1, 0xa1, 2, 0xa2, 3, 0xa3]);
    const h = Buffer.alloc(94);
    h.write('RIFF', 0, 'latin1');
    h.writeUInt32LE(94 - 8 + data.length, 4);
    h.write('WAVE', 8, 'latin1');
    h.write('JUNK', 12, 'latin1');
    h.writeUInt32LE(28, 16);
    h.write('fmt ', 48, 'latin1');
    h.writeUInt32LE(18, 52);
    h.writeUInt16LE(6, 56);
    h.writeUInt16LE(2, 58);
    h.writeUInt32LE(8000, 60);
    h.writeUInt32LE(16000, 64);
    h.writeUInt16LE(2, 68);
    h.writeUInt16LE(8, 70);
    h.writeUInt16LE(0, 72);
    h.write('fact', 74, 'latin1');
    h.writeUInt32LE(4, 78);
    h.writeUInt32LE(3, 82);
    h.write('data', 86, 'latin1');
    h.writeUInt32LE(data.length, 90);
    const wav = parseWav(Buffer.concat([h, data]));
    t.same(wav.chunks, ['JUNK', 'fmt ', 'fact', 'data']);
    t.equal(wav.dataOffset, 94);
    t.equal(wav.formatTag, 6);
    t.equal(wav.channels, 2);
    t.equal(wav.factSamples, 3);
    t.same([...channelOf(wav, 0)], [1, 2, 3]);
    t.same([...channelOf(wav, 1)], [0xa1, 0xa2, 0xa3]);
  });

  t.test('matchSource aligns on the first non-silence byte and follows loops', async (t) => {
    const src = Buffer.from([0xd5, 10, 11, 12, 13]);
    const chan = Buffer.from([0xd5, 0xd5, 0xd5, 10, 11, 12, 13, 0xd5, 10, 11, 0xd5, 0xd5]);
    const m = matchSource(chan, src, 0xd5);
    t.equal(m.origin, 2);
    t.equal(m.from, 3);
    t.equal(m.to, 10);
    t.equal(m.mismatches, 0);
    const bad = Buffer.from(chan);
    bad[5] = 99;
    const mb = matchSource(bad, src, 0xd5);
    t.equal(mb.firstMismatch, 5);
    t.equal(mb.mismatches, 1);
    t.equal(matchSource(Buffer.alloc(4, 0xd5), src, 0xd5).compared, 0, 'all silence: nothing compared');
  });

  t.test('matchStream compares exactly the bytes sent and counts what is cut off', async (t) => {
    const src = Buffer.from([10, 11, 12, 13]);
    const chan = Buffer.from([0xd5, 10, 11, 12, 13, 10, 11]);
    const whole = matchStream(chan, src, 0xd5, 6);
    t.same([whole.origin, whole.compared, whole.mismatches, whole.missingAtEnd], [1, 6, 0, 0]);
    const cut = matchStream(chan, src, 0xd5, 8);
    t.same([cut.compared, cut.mismatches, cut.missingAtEnd], [6, 0, 2]);
    const bad = matchStream(Buffer.from([0xd5, 10, 11, 99, 13]), src, 0xd5, 4);
    t.same([bad.mismatches, bad.firstMismatch], [1, 3]);
  });

  t.test('audioRuns splits at long silences only; locateInSource finds looped slices', async (t) => {
    const S = 0xd5;
    const chan = Buffer.from([S, 1, 2, S, 3, S, S, S, S, 4, 5, S]);
    t.same(audioRuns(chan, S, 3), [{ from: 1, to: 5 }, { from: 9, to: 11 }]);
    const src = Buffer.from([...Array(100).keys()].map((i) => (i * 7) % 251));
    const seg = Buffer.concat([src.subarray(90), src.subarray(0, 80)]);
    t.same(locateInSource(seg, src), { offset: 90, mismatches: 0 });
  });

  t.test('fillText fills placeholders outside comments and refuses missing ones', async (t) => {
    t.equal(fillText('<!-- @X@ -->a @PT@ b', { PT: 8 }), 'a 8 b');
    t.throws(() => fillText('@NOPE@', {}));
  });

  t.test('every scenario template and audio fixture is there', async (t) => {
    for (const f of ['uac-media-stream', 'uas-media-stream', 'uas-media-early', 'uac-media-dtmf2833', 'uac-media-info-dtmf', 'uas-media-info', 'uac-media-recv-bye', 'uac-media-hold', 'uas-media-hold']) {
      t.ok(fs.existsSync(path.join(SIPP_FIXTURES, `${f}.xml`)), `fixtures/sipp/${f}.xml`);
    }
    for (const f of ['tone-long.al', 'dtmf-star-1.al']) t.ok(fs.existsSync(audioFile(f)), `fixtures/audio/${f}`);
    for (const c of Object.values(CODECS)) {
      for (const who of ['caller', 'callee']) {
        const size = fs.statSync(audioFile(`${who}.${c.ext}`)).size;
        t.equal(size, 4 * BYTES_PER_SECOND, `${who}.${c.ext}: 4 s`);
      }
    }
  });
}
