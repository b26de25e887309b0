/** Paths and signal helpers shared by the DTMF tests. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { G711Codec } from '../../../lib/media/dtmf/g711.js';
import type { InbandDtmfDetector } from '../../../lib/media/dtmf/inband-detector.js';

function repoRoot(): string {
  // test/media/dtmf (source) or dist/test/media/dtmf (compiled): climb to callrec's package.json.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'callrec') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root not found');
    dir = parent;
  }
}

export const DTMF_FIXTURES = path.join(repoRoot(), 'fixtures', 'dtmf');
/** SIPp's captures (Debian package sip-tester). */
export const SIPP_PCAPS = '/usr/share/sip-tester';

export function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(DTMF_FIXTURES, name));
}

export interface Detection {
  key: string;
  atMs: number;
}

/**
 * Feeds G.711 audio to the detector in RTP-sized packets (`packetBytes`
 * samples, 20 ms by default), stamped with their media time.
 */
export function feed(detector: InbandDtmfDetector, audio: Buffer, codec: G711Codec, packetBytes = 160, startMs = 0): Detection[] {
  const found: Detection[] = [];
  for (let offset = 0; offset < audio.length; offset += packetBytes) {
    const atMs = startMs + offset / 8;
    const key = detector.push(audio.subarray(offset, offset + packetBytes), codec, atMs);
    if (key !== undefined) found.push({ key, atMs });
  }
  return found;
}

export const keysOf = (found: Detection[]): string => found.map((d) => d.key).join('');

const ROW: Record<string, number> = { '1': 697, '2': 697, '3': 697, A: 697, '4': 770, '5': 770, '6': 770, B: 770, '7': 852, '8': 852, '9': 852, C: 852, '*': 941, '0': 941, '#': 941, D: 941 };
const COLUMN: Record<string, number> = { '1': 1209, '4': 1209, '7': 1209, '*': 1209, '2': 1336, '5': 1336, '8': 1336, '0': 1336, '3': 1477, '6': 1477, '9': 1477, '#': 1477, A: 1633, B: 1633, C: 1633, D: 1633 };

/**
 * Synthesises 8 kHz G.711 audio: segments of [key or '' for silence, ms],
 * each tone at `amplitude` (of full scale) per frequency.
 */
export function synthesize(segments: Array<[string, number]>, encode: (sample: number) => number, amplitude = 0.25): Buffer {
  const total = segments.reduce((n, [, ms]) => n + ms * 8, 0);
  const out = Buffer.alloc(total);
  let i = 0;
  for (const [key, ms] of segments) {
    const row = ROW[key];
    const column = COLUMN[key];
    for (let n = 0; n < ms * 8; n++, i++) {
      const t = n / 8000;
      const x = row === undefined || column === undefined ? 0 : amplitude * 32767 * (Math.sin(2 * Math.PI * row * t) + Math.sin(2 * Math.PI * column * t));
      out[i] = encode(x);
    }
  }
  return out;
}
