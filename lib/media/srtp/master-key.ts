import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * An SRTP master key and master salt (RFC 3711 §8.2). Keys are never logged:
 * the bytes live in private fields, so neither JSON.stringify, util.inspect,
 * string conversion nor object spread shows them; only `key` and `salt`
 * read them, for key derivation and for writing our own SDP.
 */
export class SrtpMasterKey {
  readonly #key: Buffer;
  readonly #salt: Buffer;

  constructor(key: Buffer, salt: Buffer) {
    this.#key = Buffer.from(key);
    this.#salt = Buffer.from(salt);
  }

  get key(): Buffer {
    return this.#key;
  }

  get salt(): Buffer {
    return this.#salt;
  }

  /** key || salt, as carried after `inline:` (RFC 4568 §6.1). */
  concat(): Buffer {
    return Buffer.concat([this.#key, this.#salt]);
  }

  equals(other: SrtpMasterKey): boolean {
    return this.#key.equals(other.#key) && this.#salt.equals(other.#salt);
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return `SrtpMasterKey ${REDACTED}`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
