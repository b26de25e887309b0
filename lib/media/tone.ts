import { linearToAlaw, linearToUlaw } from './dtmf/g711.js';

/** Sine tones and pauses, as 8 kHz G.711 (for confirmations when no prompt file is configured). */
export function g711Tones(codec: 'pcma' | 'pcmu', parts: readonly { hz: number; ms: number }[]): Buffer {
  const encode = codec === 'pcma' ? linearToAlaw : linearToUlaw;
  const samples = parts.reduce((n, p) => n + (p.ms * 8), 0);
  const out = Buffer.alloc(samples);
  let i = 0;
  for (const p of parts) {
    const n = p.ms * 8;
    for (let k = 0; k < n; k++, i++) {
      const v = p.hz === 0 ? 0 : Math.round(8000 * Math.sin((2 * Math.PI * p.hz * k) / 8000));
      out[i] = encode(v);
    }
  }
  return out;
}
