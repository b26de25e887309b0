/**
 * Recognises a configured key sequence (the stop sequence, "*1" by default)
 * in a stream of key presses, and drops the second report of one press that
 * reaches callrec by two routes.
 *
 * Matching: each key must follow the previous one within `timeoutMs`
 * (default 3 s), else the partial match is dropped and the key starts over.
 * On a wrong key the match falls back to the longest prefix of the sequence
 * that still ends with the keys seen (Knuth-Morris-Pratt), so a repeated
 * start key restarts the match ("**1" completes "*1") and "*1*1*2"
 * completes "*1*2".
 *
 * Deduplication: many gateways send RFC 4733 events and leave the tones in
 * the audio, and some also send SIP INFO. The same key from a different
 * source within `windowMs` (default 100 ms) is one press. Repeats from the
 * same source are always separate presses (each detector already counts a
 * press once).
 */
import { normalizeKey, type DtmfKey } from './keys.js';

export type KeySource = 'rfc4733' | 'info' | 'inband';

export interface KeyDeduplicatorOptions {
  /** Same key from another source within this many ms is the same press (default 100). */
  windowMs?: number;
}

/** Drops a key already accepted from another source moments ago. */
export class KeyDeduplicator {
  private readonly windowMs: number;
  // The last few accepted keys; a ring, oldest overwritten.
  private readonly keys: Array<DtmfKey | undefined> = [undefined, undefined, undefined, undefined];
  private readonly sources: Array<KeySource | undefined> = [undefined, undefined, undefined, undefined];
  private readonly times = new Float64Array(4);
  private next = 0;

  constructor(options: KeyDeduplicatorOptions = {}) {
    this.windowMs = options.windowMs ?? 100;
  }

  /** True when the key is a new press (and remembers it), false for a duplicate. */
  accept(key: DtmfKey, atMs: number, source: KeySource): boolean {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] === key && this.sources[i] !== source && Math.abs(atMs - this.times[i]!) <= this.windowMs) return false;
    }
    const i = this.next;
    this.keys[i] = key;
    this.sources[i] = source;
    this.times[i] = atMs;
    this.next = (i + 1) % this.keys.length;
    return true;
  }

  reset(): void {
    this.keys.fill(undefined);
    this.sources.fill(undefined);
  }
}

export interface KeySequenceMatcherOptions extends KeyDeduplicatorOptions {
  /** Most ms allowed between two keys of the sequence (default 3000). */
  timeoutMs?: number;
}

export class KeySequenceError extends Error {
  override readonly name = 'KeySequenceError';
}

export class KeySequenceMatcher {
  readonly sequence: readonly DtmfKey[];
  private readonly timeoutMs: number;
  private readonly dedupe: KeyDeduplicator;
  /** KMP failure function: fallback[i] = length of the longest proper border of sequence[0..i]. */
  private readonly fallback: Int32Array;
  private matched = 0;
  private lastKeyMs = 0;

  /** @throws KeySequenceError when `sequence` is empty or holds a character that is no DTMF key */
  constructor(sequence: string, options: KeySequenceMatcherOptions = {}) {
    const keys: DtmfKey[] = [];
    for (const ch of sequence) {
      const key = normalizeKey(ch);
      if (key === undefined) throw new KeySequenceError(`not a DTMF key: ${JSON.stringify(ch)} in ${JSON.stringify(sequence)}`);
      keys.push(key);
    }
    if (keys.length === 0) throw new KeySequenceError('empty key sequence');
    this.sequence = keys;
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.dedupe = new KeyDeduplicator(options);
    this.fallback = new Int32Array(keys.length);
    for (let i = 1, k = 0; i < keys.length; i++) {
      while (k > 0 && keys[i] !== keys[k]) k = this.fallback[k - 1]!;
      if (keys[i] === keys[k]) k++;
      this.fallback[i] = k;
    }
  }

  /** Keys of the sequence matched so far. */
  get progress(): number {
    return this.matched;
  }

  /**
   * One key press at `atMs`. With a `source`, a press already seen from
   * another source within the dedupe window is ignored. True when it
   * completes the sequence (the match then starts afresh).
   */
  push(key: string, atMs: number, source?: KeySource): boolean {
    const k = normalizeKey(key);
    if (k === undefined) return false;
    if (source !== undefined && !this.dedupe.accept(k, atMs, source)) return false;
    if (this.matched > 0 && atMs - this.lastKeyMs > this.timeoutMs) this.matched = 0;
    this.lastKeyMs = atMs;
    let m = this.matched;
    while (m > 0 && this.sequence[m] !== k) m = this.fallback[m - 1]!;
    if (this.sequence[m] === k) m++;
    if (m === this.sequence.length) {
      this.matched = 0;
      return true;
    }
    this.matched = m;
    return false;
  }

  reset(): void {
    this.matched = 0;
    this.dedupe.reset();
  }
}
