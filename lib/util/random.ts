import { randomFillSync } from 'node:crypto';

/** Source of random identifiers, injected so tests are deterministic. */
export type RandomHex = (bytes: number) => string;

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let used = POOL_BYTES;

/**
 * Cryptographically random hex (tags, branches, Call-IDs must be unguessable:
 * RFC 3261 §19.3). Drawn from a pool refilled 4 KiB at a time, because one
 * getrandom call per identifier showed up in the call-rate profile.
 */
export const cryptoRandomHex: RandomHex = (bytes) => {
  if (bytes > POOL_BYTES) return randomFillSync(Buffer.allocUnsafe(bytes)).toString('hex');
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const out = pool.toString('hex', used, used + bytes);
  used += bytes;
  return out;
};

/** A deterministic generator for tests: counts upward, zero-padded. */
export function sequentialHex(prefix = ''): RandomHex {
  let n = 0;
  return (bytes) => (prefix + (++n).toString(16)).padStart(bytes * 2, '0').slice(-bytes * 2);
}
