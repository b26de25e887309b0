/** Shared helpers of the recording tests: synthetic RTP streams, spool files, real tools. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { RECORD_BYTES, writeRecord, type SpoolRecord } from '../../lib/recording/spool-format.js';

const run = promisify(execFile);

export interface Packet {
  record: SpoolRecord;
  payload: Buffer;
}

/** Deterministic PRNG (mulberry32), so "random" streams are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(n: number, rand: () => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

export interface StreamOptions {
  /** Audio bytes, cut into packets of `ptime` ms (8 bytes per ms). */
  audio: Buffer;
  startMs: number;
  ssrc?: number;
  ts0?: number;
  seq0?: number;
  pt?: number;
  ptimeMs?: number;
}

/** An in-order, loss-free stream: one packet per ptime, arriving exactly on time. */
export function stream(o: StreamOptions): Packet[] {
  const ptime = o.ptimeMs ?? 20;
  const size = ptime * 8;
  const out: Packet[] = [];
  for (let i = 0; i * size < o.audio.length; i++) {
    const payload = o.audio.subarray(i * size, Math.min(o.audio.length, (i + 1) * size));
    out.push({
      record: {
        arrival: o.startMs + i * ptime,
        payloadOffset: 0,
        timestamp: ((o.ts0 ?? 1000) + i * size) >>> 0,
        ssrc: o.ssrc ?? 0x1234,
        seq: ((o.seq0 ?? 100) + i) & 0xffff,
        marker: i === 0,
        payloadType: o.pt ?? 8,
        flags: 0,
        length: payload.length,
      },
      payload,
    });
  }
  return out;
}

/** Writes packets as one leg's spool (`<dir>/<leg>.index` and `.payload`), assigning payload offsets. */
export async function writeSpool(dir: string, leg: string, packets: Packet[]): Promise<{ index: string; payload: string }> {
  const index = Buffer.alloc(packets.length * RECORD_BYTES);
  const payloads: Buffer[] = [];
  let offset = 0;
  packets.forEach((p, i) => {
    writeRecord(index, i * RECORD_BYTES, { ...p.record, payloadOffset: offset, length: p.payload.length });
    payloads.push(p.payload);
    offset += p.payload.length;
  });
  const paths = { index: path.join(dir, `${leg}.index`), payload: path.join(dir, `${leg}.payload`) };
  await writeFile(paths.payload, Buffer.concat(payloads));
  await writeFile(paths.index, index);
  return paths;
}

export async function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'callrec-rec-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function tool(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
}

export async function toolBuffer(cmd: string, args: string[]): Promise<Buffer> {
  const r = await promisify(execFile)(cmd, args, { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  return r.stdout;
}

export interface Probe {
  codec_name: string;
  channels: number;
  sample_rate: string;
  duration: string;
}

export async function ffprobe(file: string): Promise<Probe> {
  const { stdout } = await tool('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,channels,sample_rate,duration', '-of', 'json', file]);
  const streams = (JSON.parse(stdout) as { streams: Probe[] }).streams;
  if (streams.length !== 1 || streams[0] === undefined) throw new Error(`ffprobe: ${streams.length} streams in ${file}`);
  return streams[0];
}

/** Decodes any file ffmpeg reads to interleaved s16le samples. */
export async function decodeS16(file: string, inputFormat?: string): Promise<Int16Array> {
  const args = ['-v', 'error', ...(inputFormat === undefined ? [] : ['-f', inputFormat]), '-i', file, '-f', 's16le', '-acodec', 'pcm_s16le', '-'];
  const b = await toolBuffer('ffmpeg', args);
  return new Int16Array(b.buffer, b.byteOffset, b.length >> 1);
}

/** Zero crossings of one channel of interleaved samples (2 per period of a tone). */
export function zeroCrossings(s: Int16Array, channels: number, channel: number): number {
  let n = 0;
  let prev = 0;
  for (let i = channel; i < s.length; i += channels) {
    const v = s[i]!;
    if (v === 0) continue;
    if (prev !== 0 && (v > 0) !== (prev > 0)) n++;
    prev = v;
  }
  return n;
}

/** A raw A-law / µ-law tone made by SoX (`sox -n -r 8000 -c 1 -t al x.al synth 1 sine 1000`). */
export async function soxTone(dir: string, type: 'al' | 'ul', hz: number, seconds: number): Promise<Buffer> {
  const file = path.join(dir, `tone-${hz}-${seconds}.${type}`);
  await tool('sox', ['-n', '-r', '8000', '-c', '1', '-t', type, file, 'synth', String(seconds), 'sine', String(hz)]);
  return readFile(file);
}

/** Raw G.722 of a tone made by ffmpeg (8000 bytes per second). */
export async function g722Tone(dir: string, hz: number, seconds: number): Promise<Buffer> {
  const file = path.join(dir, `tone-${hz}.g722`);
  await tool('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=16000:duration=${seconds}`, '-c:a', 'g722', '-f', 'g722', file]);
  return readFile(file);
}
