import { readFileSync } from 'node:fs';
import { ALAW_TO_LINEAR, linearToAlaw, linearToUlaw, ULAW_TO_LINEAR } from './dtmf/g711.js';

/** A prompt ready to play, in every codec callrec can play it in (SPEC P6: encoded once at start). */
export interface EncodedPrompt {
  file: string;
  pcma: Buffer;
  pcmu: Buffer;
  durationMs: number;
}

export class PromptError extends Error {
  override readonly name = 'PromptError';
}

/**
 * Reads a WAV prompt (PCM 8/16-bit at any rate, A-law or mu-law; mono or
 * the first channel of stereo), converts it to 8 kHz and encodes it as
 * A-law and mu-law. G.722 calls get no prompt (no encoder here); the caller
 * logs that.
 */
export function loadPrompt(file: string): EncodedPrompt {
  const b = readFileSync(file);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') {
    throw new PromptError(`${file}: not a WAV file`);
  }
  let fmt: { tag: number; channels: number; rate: number; bits: number } | undefined;
  let data: Buffer | undefined;
  for (let at = 12; at + 8 <= b.length;) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    const body = b.subarray(at + 8, Math.min(b.length, at + 8 + size));
    if (id === 'fmt ' && body.length >= 16) {
      fmt = { tag: body.readUInt16LE(0), channels: body.readUInt16LE(2), rate: body.readUInt32LE(4), bits: body.readUInt16LE(14) };
      if (fmt.tag === 0xfffe && body.length >= 26) fmt.tag = body.readUInt16LE(24);
    } else if (id === 'data') data = body;
    at += 8 + size + (size % 2);
  }
  if (fmt === undefined || data === undefined) throw new PromptError(`${file}: WAV without fmt or data chunk`);
  const f = fmt;
  const frame = (f.bits / 8) * f.channels;
  if (frame <= 0 || f.rate <= 0) throw new PromptError(`${file}: bad WAV format`);
  const n = Math.floor(data.length / frame);
  const linear = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * frame; // first channel only
    if (f.tag === 1 && f.bits === 16) linear[i] = data.readInt16LE(at);
    else if (f.tag === 1 && f.bits === 8) linear[i] = (data[at]! - 128) << 8;
    else if (f.tag === 6 && f.bits === 8) linear[i] = ALAW_TO_LINEAR[data[at]!]!;
    else if (f.tag === 7 && f.bits === 8) linear[i] = ULAW_TO_LINEAR[data[at]!]!;
    else throw new PromptError(`${file}: WAV format ${f.tag}/${f.bits} bit not supported (use PCM or G.711)`);
  }
  const at8k = resample(linear, f.rate, 8000);
  const pcma = Buffer.alloc(at8k.length);
  const pcmu = Buffer.alloc(at8k.length);
  for (let i = 0; i < at8k.length; i++) {
    pcma[i] = linearToAlaw(at8k[i]!);
    pcmu[i] = linearToUlaw(at8k[i]!);
  }
  return { file, pcma, pcmu, durationMs: (at8k.length / 8000) * 1000 };
}

/** Linear interpolation; prompts are speech, and 8 kHz is the telephone band anyway. */
function resample(input: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return input;
  const out = new Int16Array(Math.floor((input.length * to) / from));
  for (let i = 0; i < out.length; i++) {
    const x = (i * from) / to;
    const k = Math.floor(x);
    const a = input[k] ?? 0;
    const b2 = input[k + 1] ?? a;
    out[i] = Math.round(a + (b2 - a) * (x - k));
  }
  return out;
}
