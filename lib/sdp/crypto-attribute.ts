/**
 * SDES `a=crypto` attributes (RFC 4568 §9.1 grammar, §6 SRTP parameters):
 *
 *   a=crypto:<tag> <crypto-suite> <key-params> [<session-param> ...]
 *   key-params = key-param *(";" key-param)
 *   key-param  = "inline:" <base64 key||salt> ["|" lifetime] ["|" MKI ":" length]
 *   lifetime   = ["2^"] 1*DIGIT          (packets)
 *   tag        = 1*9DIGIT
 *
 * e.g. `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4`
 *
 * Keys are never logged: a parsed attribute holds them in SrtpMasterKey
 * (redacted in JSON, inspect and string form), the attribute's own
 * toString/toJSON/inspect redact too, and `redactCryptoKeys` blanks the
 * inline keys of an SDP text before it goes to a log. Only
 * `formatCryptoAttribute` writes a key, for the SDP we send.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { SrtpMasterKey } from '../media/srtp/master-key.js';
import { isSrtpSuiteName, SRTP_SUITES, type SrtpSuite, type SrtpSuiteName } from '../media/srtp/srtp-suite.js';

export class CryptoAttributeError extends Error {
  override readonly name = 'CryptoAttributeError';
}

/** RFC 4568 §6.1 MKI: a decimal value sent as `length` big-endian octets (1-128). */
export class CryptoMki {
  constructor(readonly value: bigint, readonly length: number) {}

  /** The octets carried in each packet, big-endian. */
  toBuffer(): Buffer {
    const out = Buffer.alloc(this.length);
    let v = this.value;
    for (let i = this.length - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  }

  /** `value:length`, as in the attribute (JSON cannot carry a bigint). */
  toString(): string {
    return `${this.value}:${this.length}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

export interface CryptoKeyParams {
  readonly masterKey: SrtpMasterKey;
  /** Packets the master key may protect (`|2^20` -> 1048576); undefined when not given. */
  readonly lifetime: number | undefined;
  readonly mki: CryptoMki | undefined;
}

/** Injected randomness, so tests can fix the keys. */
export type RandomBytes = (size: number) => Buffer;

const REDACTED = '[redacted]';

export class CryptoAttribute {
  constructor(
    readonly tag: number,
    /** The suite as written (unknown suites are kept, with no keys). */
    readonly suite: string,
    /** Empty for suites we do not know (their key-params are not parsed). */
    readonly keys: readonly CryptoKeyParams[],
    readonly sessionParams: readonly string[] = [],
  ) {}

  /** Our suite description, when we support the suite. */
  get srtpSuite(): SrtpSuite | undefined {
    return isSrtpSuiteName(this.suite) ? SRTP_SUITES[this.suite] : undefined;
  }

  /** The first key's MKI as the octets carried in each packet. */
  get mkiBytes(): Buffer | undefined {
    const mki = this.keys[0]?.mki;
    return mki?.toBuffer();
  }

  toString(): string {
    return `a=crypto:${this.tag} ${this.suite} inline:${REDACTED}`;
  }

  toJSON(): { tag: number; suite: string; keys: string; sessionParams: readonly string[] } {
    return { tag: this.tag, suite: this.suite, keys: `${this.keys.length} ${REDACTED}`, sessionParams: this.sessionParams };
  }

  [inspect.custom](): string {
    return `CryptoAttribute ${this.toString()}`;
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses one attribute: `a=crypto:...`, `crypto:...` or the value alone.
 * Throws CryptoAttributeError for a malformed line, or a known suite with
 * keys of the wrong length.
 */
export function parseCryptoAttribute(text: string): CryptoAttribute {
  const value = text.trim().replace(/^a=/, '').replace(/^crypto:/, '');
  const fields = value.split(/[ \t]+/);
  if (fields.length < 3) throw new CryptoAttributeError('crypto attribute needs a tag, a suite and key parameters');
  const [tagText, suite, keyParamsText, ...sessionParams] = fields as [string, string, string, ...string[]];
  if (!/^\d{1,9}$/.test(tagText)) throw new CryptoAttributeError(`crypto tag "${tagText}" is not 1-9 digits`);
  if (!/^[A-Za-z0-9_]+$/.test(suite)) throw new CryptoAttributeError('crypto suite is not a token');
  const known = isSrtpSuiteName(suite) ? SRTP_SUITES[suite] : undefined;
  const keys = known === undefined ? [] : keyParamsText.split(';').map((p) => parseKeyParam(p, known));
  return new CryptoAttribute(Number(tagText), suite, keys, sessionParams);
}

function parseKeyParam(text: string, suite: SrtpSuite): CryptoKeyParams {
  if (!text.startsWith('inline:')) throw new CryptoAttributeError('only the inline key method is supported');
  const [keySalt = '', ...rest] = text.slice('inline:'.length).split('|');
  if (!BASE64.test(keySalt)) throw new CryptoAttributeError('inline key is not base64');
  const bytes = Buffer.from(keySalt, 'base64');
  const want = suite.masterKeyLength + suite.masterSaltLength;
  if (bytes.length !== want) {
    throw new CryptoAttributeError(`${suite.name} needs ${want} octets of key and salt, got ${bytes.length}`);
  }
  const masterKey = new SrtpMasterKey(bytes.subarray(0, suite.masterKeyLength), bytes.subarray(suite.masterKeyLength));
  bytes.fill(0);
  let lifetime: number | undefined;
  let mki: CryptoMki | undefined;
  if (rest.length > 2) throw new CryptoAttributeError('too many "|" fields in inline key');
  for (const field of rest) {
    if (field.includes(':')) {
      if (mki !== undefined) throw new CryptoAttributeError('two MKI fields');
      mki = parseMki(field);
    } else {
      if (lifetime !== undefined || mki !== undefined) throw new CryptoAttributeError('lifetime must come before the MKI, once');
      lifetime = parseLifetime(field);
    }
  }
  return { masterKey, lifetime, mki };
}

function parseLifetime(text: string): number {
  const m = /^(2\^)?(\d{1,15})$/.exec(text);
  if (m === null) throw new CryptoAttributeError(`lifetime "${text}" is neither 2^n nor a number`);
  const n = Number(m[2]);
  const packets = m[1] === undefined ? n : 2 ** n;
  if (packets < 1 || packets > 2 ** 48) throw new CryptoAttributeError(`lifetime ${text} out of range`);
  return packets;
}

function parseMki(text: string): CryptoMki {
  const m = /^(\d+):(\d{1,3})$/.exec(text);
  if (m === null) throw new CryptoAttributeError(`MKI "${text}" is not value:length`);
  const value = BigInt(m[1]!);
  const length = Number(m[2]);
  if (length < 1 || length > 128) throw new CryptoAttributeError(`MKI length ${length} not in 1-128`);
  if (value >= 1n << BigInt(8 * length)) throw new CryptoAttributeError(`MKI ${value} does not fit ${length} octets`);
  return new CryptoMki(value, length);
}

/** Every well-formed `a=crypto` line of an SDP (or of one media section); malformed lines are skipped. */
export function readCryptoAttributes(sdp: string): CryptoAttribute[] {
  const out: CryptoAttribute[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (!line.startsWith('a=crypto:')) continue;
    try {
      out.push(parseCryptoAttribute(line));
    } catch (err) {
      if (!(err instanceof CryptoAttributeError)) throw err;
    }
  }
  return out;
}

/**
 * RFC 4568 §7.1.2 answerer: the first attribute, in offer order, that we can
 * use - a supported suite, exactly one inline key, and no session parameter
 * we do not implement (UNENCRYPTED_*, UNAUTHENTICATED_SRTP, KDR, FEC_*).
 * WSH (window size hint, §6.3.7) is accepted: our window is 128 regardless.
 * Deviation: several keys with MKIs (§6.1) are not supported; such a line is
 * skipped, as for an unsupported suite.
 */
export function chooseCryptoAttribute(
  offered: readonly CryptoAttribute[],
  suites: readonly SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'],
): CryptoAttribute | undefined {
  return offered.find((a) => isSrtpSuiteName(a.suite) && suites.includes(a.suite) && a.keys.length === 1
    && a.sessionParams.every((p) => /^WSH=\d+$/.test(p)));
}

export interface CreateCryptoOptions {
  tag: number;
  suite: SrtpSuiteName;
  /** Key and salt source; crypto.randomBytes unless a test fixes it. */
  random?: RandomBytes | undefined;
  lifetime?: number | undefined;
  mki?: { readonly value: bigint; readonly length: number } | undefined;
}

/** A fresh master key and salt of our own for `suite` (never the other party's). */
export function createCryptoAttribute(options: CreateCryptoOptions): CryptoAttribute {
  const suite = SRTP_SUITES[options.suite];
  const random = options.random ?? randomBytes;
  const bytes = random(suite.masterKeyLength + suite.masterSaltLength);
  if (bytes.length !== suite.masterKeyLength + suite.masterSaltLength) throw new RangeError('random source returned the wrong length');
  const masterKey = new SrtpMasterKey(bytes.subarray(0, suite.masterKeyLength), bytes.subarray(suite.masterKeyLength));
  const mki = options.mki === undefined ? undefined : new CryptoMki(options.mki.value, options.mki.length);
  return new CryptoAttribute(options.tag, suite.name, [{ masterKey, lifetime: options.lifetime, mki }]);
}

/** Our answer to the chosen offered attribute: same tag and suite (RFC 4568 §7.1.2), our own key. */
export function answerCryptoAttribute(chosen: CryptoAttribute, random?: RandomBytes): CryptoAttribute {
  if (!isSrtpSuiteName(chosen.suite)) throw new CryptoAttributeError(`cannot answer suite ${chosen.suite}`);
  return createCryptoAttribute({ tag: chosen.tag, suite: chosen.suite, random });
}

/** The `a=crypto:` line (without CRLF), keys included: only for the SDP we send. */
export function formatCryptoAttribute(attr: CryptoAttribute): string {
  if (attr.keys.length === 0) throw new CryptoAttributeError(`no keys to format for ${attr.suite}`);
  const keyParams = attr.keys.map((k) => {
    let s = `inline:${k.masterKey.concat().toString('base64')}`;
    if (k.lifetime !== undefined) s += `|${formatLifetime(k.lifetime)}`;
    if (k.mki !== undefined) s += `|${k.mki.toString()}`;
    return s;
  }).join(';');
  return [`a=crypto:${attr.tag}`, attr.suite, keyParams, ...attr.sessionParams].join(' ');
}

function formatLifetime(packets: number): string {
  const log = Math.log2(packets);
  return Number.isInteger(log) ? `2^${log}` : String(packets);
}

/** Blanks every inline key of an SDP (or a single line) for logging. */
export function redactCryptoKeys(sdp: string): string {
  return sdp.replace(/inline:[A-Za-z0-9+/=]+/g, `inline:${REDACTED}`);
}
