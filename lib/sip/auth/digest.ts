import { createHash } from 'node:crypto';
import { ParseError } from '../message/errors.js';

/**
 * HTTP Digest client authentication as SIP uses it (RFC 3261 §22.4, built on
 * RFC 2617; algorithms of RFC 7616 brought to SIP by RFC 8760).
 *
 * Sans-I/O: parse the WWW-Authenticate / Proxy-Authenticate value of a 401 or
 * 407, pick a challenge, build the Authorization / Proxy-Authorization value.
 * The caller owns the nonce count and the cnonce (randomness is injected).
 *
 *   challenge  = "Digest" LWS digest-cln *(COMMA digest-cln)      (RFC 3261 §25.1)
 *   digest-cln = realm / domain / nonce / opaque / stale / algorithm
 *                / qop-options / auth-param
 */

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';
export type DigestQop = 'auth' | 'auth-int';

/** Hash function and strength rank of each supported algorithm. */
const ALGORITHMS: Readonly<Record<DigestAlgorithm, { hash: string; rank: number }>> = {
  MD5: { hash: 'md5', rank: 1 },
  'MD5-sess': { hash: 'md5', rank: 1 },
  'SHA-256': { hash: 'sha256', rank: 2 },
  'SHA-256-sess': { hash: 'sha256', rank: 2 },
  'SHA-512-256': { hash: 'sha512-256', rank: 3 },
  'SHA-512-256-sess': { hash: 'sha512-256', rank: 3 },
};
const CANONICAL = new Map(Object.keys(ALGORITHMS).map((a) => [a.toLowerCase(), a as DigestAlgorithm]));

export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque?: string;
  readonly domain?: string;
  /**
   * Canonical spelling for a supported algorithm, else as received.
   * RFC 2617 §3.2.1: "If this is not present it is assumed to be 'MD5'."
   */
  readonly algorithm: string;
  /** Whether the challenge named the algorithm; only then is it echoed. */
  readonly algorithmGiven: boolean;
  /** qop-options, lower case; empty when absent (RFC 2069 compatibility, RFC 3261 §22.4). */
  readonly qop: readonly string[];
  /** RFC 2617 §3.2.1: the nonce was stale, the credentials were fine. */
  readonly stale: boolean;
  /** RFC 7616 §3.3: the server wants the username hashed. */
  readonly userhash: boolean;
  /** Every parameter as received: names lower case, values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

export interface DigestCredentials {
  username: string;
  password: string;
  /** The request method (the CSeq method for ACK/CANCEL is the request's own). */
  method: string;
  /** The Request-URI, exactly as sent (RFC 3261 §22.4: digest-uri-value). */
  uri: string;
  /** The message body; only used with qop=auth-int. */
  body?: Buffer | string;
  /** Client nonce (injected so that tests are deterministic). */
  cnonce: string;
  /** Nonce count: 1 for the first request with this nonce, then 2, 3, ... */
  nc: number;
}

/** A challenge we cannot answer (unknown algorithm or qop) or bad credentials input. */
export class DigestError extends Error {
  override readonly name = 'DigestError';
}

export function isSupportedAlgorithm(algorithm: string): algorithm is DigestAlgorithm {
  return Object.hasOwn(ALGORITHMS, algorithm);
}

/** Whether `buildAuthorization` can answer this challenge. */
export function isSupported(challenge: DigestChallenge): boolean {
  return isSupportedAlgorithm(challenge.algorithm) && chooseQop(challenge.qop) !== undefined;
}

// ---------------------------------------------------------------------------
// Parsing

/** One scheme with its parameters, before Digest-specific interpretation. */
interface RawChallenge {
  scheme: string;
  params: Map<string, string>;
}

const TOKEN_CHAR = /[A-Za-z0-9!#$%&'*+\-.^_`|~]/;

/**
 * Splits a challenge list (RFC 7235 §4.1: `1#challenge`) into schemes and
 * parameters. Tolerant of blanks around `=` and `,`, empty list elements,
 * quoted or unquoted values, and a missing comma between parameters.
 */
function parseRaw(value: string): RawChallenge[] {
  const out: RawChallenge[] = [];
  let i = 0;
  const fail = (reason: string): never => {
    throw new ParseError(`bad authentication challenge: ${reason} in ${JSON.stringify(value)}`, i);
  };
  const skipBlanks = (): void => {
    while (i < value.length && /\s/.test(value[i]!)) i++;
  };
  const skipSeparators = (): void => {
    while (i < value.length && (/\s/.test(value[i]!) || value[i] === ',')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < value.length && TOKEN_CHAR.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  const quoted = (): string => {
    i++; // opening quote
    let s = '';
    while (i < value.length && value[i] !== '"') {
      if (value[i] === '\\') i++; // quoted-pair
      if (i < value.length) s += value[i++];
    }
    if (i >= value.length) fail('unterminated quoted string');
    i++; // closing quote
    return s;
  };

  skipSeparators();
  while (i < value.length) {
    const scheme = token();
    if (scheme === '') fail('expected an authentication scheme');
    const params = new Map<string, string>();
    out.push({ scheme, params });
    for (;;) {
      skipSeparators();
      if (i >= value.length) break;
      const start = i;
      const name = token();
      if (name === '') fail('expected a parameter name');
      skipBlanks();
      if (value[i] !== '=') {
        i = start; // the next challenge's scheme
        break;
      }
      i++;
      skipBlanks();
      let v: string;
      if (value[i] === '"') v = quoted();
      else {
        const vStart = i;
        while (i < value.length && !/[\s,"]/.test(value[i]!)) i++;
        v = value.slice(vStart, i);
        if (v === '') fail(`parameter ${name} has no value`);
      }
      const key = name.toLowerCase();
      if (params.has(key)) fail(`parameter ${name} given twice`);
      params.set(key, v);
      skipBlanks();
      if (i < value.length && value[i] !== ',' && !TOKEN_CHAR.test(value[i]!)) fail(`unexpected ${JSON.stringify(value[i])}`);
    }
  }
  return out;
}

function toDigestChallenge(raw: RawChallenge, value: string): DigestChallenge {
  const p = raw.params;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined) throw new ParseError(`Digest challenge without realm in ${JSON.stringify(value)}`);
  if (nonce === undefined || nonce === '') throw new ParseError(`Digest challenge without nonce in ${JSON.stringify(value)}`);
  const givenAlgorithm = p.get('algorithm');
  const algorithm = givenAlgorithm === undefined ? 'MD5' : (CANONICAL.get(givenAlgorithm.toLowerCase()) ?? givenAlgorithm);
  const qop = (p.get('qop') ?? '')
    .split(',')
    .map((q) => q.trim().toLowerCase())
    .filter((q) => q !== '');
  const challenge: DigestChallenge = {
    realm,
    nonce,
    algorithm,
    algorithmGiven: givenAlgorithm !== undefined,
    qop,
    stale: p.get('stale')?.toLowerCase() === 'true',
    userhash: p.get('userhash')?.toLowerCase() === 'true',
    params: p,
  };
  const opaque = p.get('opaque');
  const domain = p.get('domain');
  return {
    ...challenge,
    ...(opaque === undefined ? {} : { opaque }),
    ...(domain === undefined ? {} : { domain }),
  };
}

/**
 * Every Digest challenge in one WWW-Authenticate / Proxy-Authenticate value
 * (other schemes are skipped). Throws `ParseError` on malformed text.
 */
export function parseChallenges(headerValue: string): DigestChallenge[] {
  return parseRaw(headerValue)
    .filter((c) => c.scheme.toLowerCase() === 'digest')
    .map((c) => toDigestChallenge(c, headerValue));
}

/** The (first) Digest challenge of a header value; throws `ParseError` when there is none. */
export function parseChallenge(headerValue: string): DigestChallenge {
  const first = parseChallenges(headerValue)[0];
  if (first === undefined) throw new ParseError(`no Digest challenge in ${JSON.stringify(headerValue)}`);
  return first;
}

/**
 * Picks the strongest challenge we support among all WWW-Authenticate (or
 * all Proxy-Authenticate) values of a response: SHA-512-256 over SHA-256
 * over MD5; among equals, the topmost. Malformed values are skipped.
 *
 * Deviation: RFC 8760 §2.4 has the UAC use "the topmost header field that it
 * supports"; we prefer the strongest, so a server listing MD5 first for old
 * clients still gets SHA-256 from us.
 */
export function selectChallenge(headerValues: readonly string[]): DigestChallenge | undefined {
  let best: DigestChallenge | undefined;
  for (const value of headerValues) {
    let challenges: DigestChallenge[];
    try {
      challenges = parseChallenges(value);
    } catch (err) {
      if (err instanceof ParseError) continue;
      throw err;
    }
    for (const c of challenges) {
      if (!isSupported(c)) continue;
      if (best === undefined || rank(c) > rank(best)) best = c;
    }
  }
  return best;
}

function rank(c: DigestChallenge): number {
  return isSupportedAlgorithm(c.algorithm) ? ALGORITHMS[c.algorithm].rank : 0;
}

// ---------------------------------------------------------------------------
// Answering

/**
 * RFC 2617 §3.2.2: qop "auth" is preferred when offered; "auth-int" only when
 * it is the sole option we know; `null` means no qop (RFC 2069 compatibility).
 */
function chooseQop(offered: readonly string[]): DigestQop | null | undefined {
  if (offered.length === 0) return null;
  if (offered.includes('auth')) return 'auth';
  if (offered.includes('auth-int')) return 'auth-int';
  return undefined;
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The value of the Authorization (for a 401) or Proxy-Authorization (for a
 * 407) header answering `challenge`. Throws `DigestError` for an algorithm or
 * qop we do not support and for an invalid nonce count.
 *
 * RFC 2617 §3.2.2.1-3 (RFC 7616 §3.4.1-3 with H = the algorithm's hash):
 *   A1       = unq(username) ":" unq(realm) ":" passwd
 *   A1 -sess = H(unq(username) ":" unq(realm) ":" passwd) ":" unq(nonce) ":" unq(cnonce)
 *   A2       = Method ":" digest-uri                      (qop auth or none)
 *   A2       = Method ":" digest-uri ":" H(entity-body)   (qop auth-int)
 *   response = KD(H(A1), unq(nonce) ":" nc ":" unq(cnonce) ":" qop ":" H(A2))
 *   response = KD(H(A1), unq(nonce) ":" H(A2))           (no qop, RFC 2069)
 */
export function buildAuthorization(challenge: DigestChallenge, credentials: DigestCredentials): string {
  const { algorithm } = challenge;
  if (!isSupportedAlgorithm(algorithm)) throw new DigestError(`unsupported digest algorithm ${JSON.stringify(algorithm)}`);
  const qop = chooseQop(challenge.qop);
  if (qop === undefined) throw new DigestError(`unsupported qop ${JSON.stringify(challenge.qop.join(','))}`);
  const { nc, cnonce } = credentials;
  if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) throw new DigestError(`nonce count out of range: ${nc}`);
  const sess = algorithm.endsWith('-sess');
  if ((qop !== null || sess) && cnonce === '') throw new DigestError('empty cnonce');

  const hashName = ALGORITHMS[algorithm].hash;
  const H = (data: string | Buffer): string => createHash(hashName).update(data).digest('hex');
  const { username, password, method, uri } = credentials;
  const { realm, nonce } = challenge;

  let ha1 = H(`${username}:${realm}:${password}`);
  if (sess) ha1 = H(`${ha1}:${nonce}:${cnonce}`);
  const a2 = qop === 'auth-int' ? `${method}:${uri}:${H(credentials.body ?? '')}` : `${method}:${uri}`;
  const ha2 = H(a2);
  // RFC 2617 §3.2.2: nc-value = 8LHEX.
  const ncValue = nc.toString(16).padStart(8, '0');
  const response = qop === null ? H(`${ha1}:${nonce}:${ha2}`) : H(`${ha1}:${nonce}:${ncValue}:${cnonce}:${qop}:${ha2}`);

  // RFC 7616 §3.4.4: username = H(unq(username) ":" unq(realm)) when userhash.
  const sentUser = challenge.userhash ? H(`${username}:${realm}`) : username;
  // Quoted: username, realm, nonce, uri, response, cnonce, opaque.
  // Unquoted: algorithm, qop, nc (RFC 2617 §3.2.2, RFC 3261 §25.1).
  const parts = [
    `username=${quote(sentUser)}`,
    `realm=${quote(realm)}`,
    `nonce=${quote(nonce)}`,
    `uri=${quote(uri)}`,
    `response=${quote(response)}`,
  ];
  if (challenge.algorithmGiven) parts.push(`algorithm=${algorithm}`);
  if (qop !== null || sess) parts.push(`cnonce=${quote(cnonce)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  if (qop !== null) parts.push(`qop=${qop}`, `nc=${ncValue}`);
  if (challenge.userhash) parts.push('userhash=true');
  return `Digest ${parts.join(', ')}`;
}
