/**
 * The native SRTP crypto module (native/srtp_crypto.c, build/Release/
 * srtp_crypto.node) and the choice between it and the JavaScript classes.
 *
 * One N-API call does a packet's whole transform (AES-CM keystream XOR and
 * HMAC-SHA1 tag, or AES-GCM seal/open) on Node's own OpenSSL, writing into
 * the caller's buffers. The per-packet offsets and IV words go through a
 * small Int32Array shared with the session (JavaScript writes them, then
 * calls), not as arguments. The JavaScript implementation stays the
 * reference (the tests compare both) and the fallback when the module does
 * not load.
 *
 * CALLREC_SRTP_CRYPTO=js forces JavaScript (to compare, or to rule the
 * module out when diagnosing); =native makes a missing module an error.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque session handle (an N-API external). */
export type NativeSession = object & { readonly __nativeSrtpSession: unique symbol };

export interface SrtpCryptoAddon {
  cmCreate(encKey: Uint8Array, authKey: Uint8Array, params: ArrayBuffer): NativeSession;
  cmProtect(session: NativeSession, src: Uint8Array, dst: Uint8Array): void;
  cmUnprotect(session: NativeSession, buf: Uint8Array): boolean;
  gcmCreate(key: Uint8Array, params: ArrayBuffer): NativeSession;
  gcmSeal(session: NativeSession, src: Uint8Array, dst: Uint8Array, aad: Uint8Array): void;
  gcmOpen(session: NativeSession, buf: Uint8Array, aad: Uint8Array): boolean;
  constants: Record<'P_ENC_START' | 'P_ENC_END' | 'P_COPY' | 'P_AUTH_END' | 'P_HAS_TRAILER' | 'P_TRAILER'
    | 'P_TAG_AT' | 'P_TAG_LEN' | 'P_AAD_START' | 'P_AAD_END' | 'P_IV0' | 'P_IV1' | 'P_IV2' | 'P_IV3' | 'PARAM_BYTES', number>;
}

/** The parameter slots, as native/srtp_crypto.c's enum param numbers them (checked at load). */
export const P_ENC_START = 0;
export const P_ENC_END = 1;
export const P_COPY = 2;
export const P_AUTH_END = 3;
export const P_HAS_TRAILER = 4;
export const P_TRAILER = 5;
export const P_TAG_AT = 6;
export const P_TAG_LEN = 7;
export const P_AAD_START = 8;
export const P_AAD_END = 9;
export const P_IV0 = 10;
export const P_IV1 = 11;
export const P_IV2 = 12;
export const P_IV3 = 13;
export const PARAM_BYTES = 64;

const EXPECTED: Readonly<Record<keyof SrtpCryptoAddon['constants'], number>> = {
  P_ENC_START, P_ENC_END, P_COPY, P_AUTH_END, P_HAS_TRAILER, P_TRAILER, P_TAG_AT, P_TAG_LEN,
  P_AAD_START, P_AAD_END, P_IV0, P_IV1, P_IV2, P_IV3, PARAM_BYTES,
};

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const SRTP_ADDON_PATH = path.join(ROOT, 'build', 'Release', 'srtp_crypto.node');

const loaded = new Map<string, SrtpCryptoAddon | Error>();

/** The module at `addonPath`, or why it cannot be used; loaded once per path. */
export function loadSrtpCryptoAddon(addonPath = SRTP_ADDON_PATH): SrtpCryptoAddon | Error {
  let m = loaded.get(addonPath);
  if (m === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const addon = require(addonPath) as SrtpCryptoAddon;
      for (const [name, value] of Object.entries(EXPECTED)) {
        if (addon.constants?.[name as keyof typeof EXPECTED] !== value) throw new Error(`${path.basename(addonPath)}: ${name} is not ${value} (stale build?)`);
      }
      m = addon;
    } catch (err) {
      m = err instanceof Error ? err : new Error(String(err));
    }
    loaded.set(addonPath, m);
  }
  return m;
}

export type SrtpCryptoName = 'native' | 'js';

export interface SrtpCryptoChoice {
  name: SrtpCryptoName;
  addon: SrtpCryptoAddon | undefined;
  /** Why JavaScript is used, when it is. */
  reason?: string;
}

/** Native when the module loads, else JavaScript (see the header for CALLREC_SRTP_CRYPTO). */
export function selectSrtpCrypto(env: NodeJS.ProcessEnv = process.env, addonPath?: string): SrtpCryptoChoice {
  const wanted = env['CALLREC_SRTP_CRYPTO'];
  if (wanted === 'js') return { name: 'js', addon: undefined, reason: 'CALLREC_SRTP_CRYPTO=js' };
  const addon = loadSrtpCryptoAddon(addonPath);
  if (!(addon instanceof Error)) return { name: 'native', addon };
  if (wanted === 'native') throw new Error(`CALLREC_SRTP_CRYPTO=native but the native module does not load: ${addon.message}`);
  return { name: 'js', addon: undefined, reason: `native SRTP module not loaded (${addon.message}); run make build` };
}

let defaultChoice: SrtpCryptoChoice | undefined;

/** The process-wide choice, made on first use (SrtpContext's default). */
export function srtpCrypto(): SrtpCryptoChoice {
  return (defaultChoice ??= selectSrtpCrypto());
}

/**
 * AES-CM + HMAC-SHA1 for one session key set. Offsets are the same in
 * source and destination; see native/srtp_crypto.c for the exact transform.
 */
export class NativeAesCmHmac {
  /** The shared parameter slots (P_*); the session reads them during each call. */
  readonly p: Int32Array;
  private readonly session: NativeSession;

  constructor(private readonly addon: SrtpCryptoAddon, encryptionKey: Uint8Array, authenticationKey: Uint8Array) {
    // An explicit ArrayBuffer: its memory lives outside the V8 heap and never moves.
    const params = new ArrayBuffer(PARAM_BYTES);
    this.p = new Int32Array(params);
    this.session = addon.cmCreate(encryptionKey, authenticationKey, params);
  }

  /** With the slots set: copy the header, encrypt, sign. */
  protect(src: Uint8Array, dst: Uint8Array): void {
    this.addon.cmProtect(this.session, src, dst);
  }

  /** With the slots set: verify, and only if the tag is right decrypt in place. */
  unprotect(buf: Uint8Array): boolean {
    return this.addon.cmUnprotect(this.session, buf);
  }
}

/** AES-GCM for one session key. */
export class NativeAesGcm {
  readonly p: Int32Array;
  private readonly session: NativeSession;

  constructor(private readonly addon: SrtpCryptoAddon, key: Uint8Array) {
    const params = new ArrayBuffer(PARAM_BYTES);
    this.p = new Int32Array(params);
    this.session = addon.gcmCreate(key, params);
  }

  seal(src: Uint8Array, dst: Uint8Array, aad: Uint8Array): void {
    this.addon.gcmSeal(this.session, src, dst, aad);
  }

  /** False, with buf unchanged, when the tag does not verify. */
  open(buf: Uint8Array, aad: Uint8Array): boolean {
    return this.addon.gcmOpen(this.session, buf, aad);
  }
}
