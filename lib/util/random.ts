import { randomBytes } from 'node:crypto';

/** Source of random identifiers, injected so tests are deterministic. */
export type RandomHex = (bytes: number) => string;

export const cryptoRandomHex: RandomHex = (bytes) => randomBytes(bytes).toString('hex');

/** A deterministic generator for tests: counts upward, zero-padded. */
export function sequentialHex(prefix = ''): RandomHex {
  let n = 0;
  return (bytes) => (prefix + (++n).toString(16)).padStart(bytes * 2, '0').slice(-bytes * 2);
}
