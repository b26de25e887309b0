import { DTMF_KEYS, type DtmfKey } from './keys.js';

/**
 * A fixed ring of detected keys for detectors whose `push` returns at most
 * one key: a key found while another is still waiting is handed out by the
 * next call. Stores event codes in a typed array, so queueing allocates
 * nothing. When full, the oldest key is dropped (a detector producing more
 * keys than it is asked for is already far beyond 10 keys per second).
 */
export class KeyQueue {
  private readonly codes: Uint8Array;
  private head = 0;
  private count = 0;

  constructor(capacity = 8) {
    this.codes = new Uint8Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends the key of an event code 0-15. */
  put(code: number): void {
    const capacity = this.codes.length;
    if (this.count === capacity) {
      this.head = (this.head + 1) % capacity;
      this.count--;
    }
    this.codes[(this.head + this.count) % capacity] = code;
    this.count++;
  }

  take(): DtmfKey | undefined {
    if (this.count === 0) return undefined;
    const code = this.codes[this.head]!;
    this.head = (this.head + 1) % this.codes.length;
    this.count--;
    return DTMF_KEYS[code];
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
