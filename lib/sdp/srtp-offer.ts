/**
 * SDES-SRTP offer/answer for one leg (RFC 4568 §7.1, RFC 3264), as pure
 * functions over parsed audio streams and crypto attributes; AnchoredMedia
 * keeps the per-call state and applies the result to the relay.
 *
 * callrec terminates SRTP per leg: every key it sends is its own, made
 * fresh per leg and direction (createCryptoAttribute); a party's key is
 * used only to decrypt what that party sends and never leaves callrec.
 *
 *   offer from X  -> answerPlan(X's stream): the tag and suite X will get
 *                    in its answer, with our key for them
 *                 -> cryptoOffer(): our own lines toward Y when Y's leg is SRTP
 *   answer from Y -> matchCryptoAnswer(our lines, Y's lines): Y's key and ours
 *                 -> X's answer from answerPlan
 */
import {
  answerCryptoAttribute, chooseCryptoAttribute, createCryptoAttribute, type CryptoAttribute, type RandomBytes,
} from './crypto-attribute.js';
import type { AudioStream } from './audio-stream.js';
import type { SrtpSuiteName } from '../media/srtp/srtp-suite.js';

/** `srtp` of a pbx/provider entry: what callrec offers toward that side. */
export type SrtpMode = 'off' | 'sdes';

/** What callrec offers toward an SRTP side, in preference order (tags 1, 2, 3). */
export const OFFERED_SUITES: readonly SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'];

/** The SRTP profiles with SDES (RFC 3711 §12, RFC 5124): RTP/SAVP and RTP/SAVPF. */
export function isSavp(protocol: string): boolean {
  return /^RTP\/SAVPF?$/i.test(protocol);
}

/** The keys of one SRTP leg: the party sends with `remote`, callrec sends to it with `local`. */
export interface LegKeys {
  readonly remote: CryptoAttribute;
  readonly local: CryptoAttribute;
}

/** How callrec will answer an offer from a side. */
export type AnswerPlan =
  | { readonly kind: 'plain'; readonly protocol: string }
  | { readonly kind: 'srtp'; readonly protocol: 'RTP/SAVP'; readonly keys: LegKeys }
  /** RTP/SAVP without any crypto line we can use: the audio stream is refused (RFC 4568 §7.1.2). */
  | { readonly kind: 'refuse'; readonly protocol: string; readonly offeredSuites: readonly string[] };

/**
 * RFC 4568 §7.1.2: to an RTP/SAVP(F) offer, the first supported crypto line,
 * its tag and suite, and a fresh key of ours. When the chosen line carries
 * the key the party already uses (a re-INVITE that keeps its keys), our
 * current key is kept too, so nothing changes on the wire.
 */
export function answerPlan(stream: AudioStream, current: LegKeys | undefined, random?: RandomBytes): AnswerPlan {
  if (!isSavp(stream.protocol)) return { kind: 'plain', protocol: stream.protocol };
  const chosen = chooseCryptoAttribute(stream.crypto);
  if (chosen === undefined) return { kind: 'refuse', protocol: stream.protocol, offeredSuites: stream.crypto.map((c) => c.suite) };
  const local = current !== undefined && sameKey(current.remote, chosen) && current.local.tag === chosen.tag
    ? current.local
    : answerCryptoAttribute(chosen, random);
  return { kind: 'srtp', protocol: 'RTP/SAVP', keys: { remote: chosen, local } };
}

/**
 * Our crypto lines toward an SRTP side: tags 1.. in OFFERED_SUITES order,
 * each with a fresh key. `keep` (the key we already send with on that leg)
 * is offered again first under its own tag, so a re-offer need not re-key.
 */
export function cryptoOffer(keep?: CryptoAttribute, random?: RandomBytes): CryptoAttribute[] {
  const out: CryptoAttribute[] = [];
  if (keep !== undefined) out.push(keep);
  let tag = 1;
  for (const suite of OFFERED_SUITES) {
    if (keep?.suite === suite) continue;
    while (out.some((a) => a.tag === tag)) tag++;
    out.push(createCryptoAttribute({ tag, suite, random }));
  }
  return out;
}

/**
 * RFC 4568 §7.1.3 offerer: the answer's crypto line must carry the tag and
 * suite of one of ours; that line's key is the party's, ours is the one we
 * offered under the tag. Undefined when the answer has no usable line.
 */
export function matchCryptoAnswer(offered: readonly CryptoAttribute[], answered: readonly CryptoAttribute[]): LegKeys | undefined {
  for (const remote of answered) {
    const local = offered.find((o) => o.tag === remote.tag && o.suite === remote.suite);
    if (local !== undefined && chooseCryptoAttribute([remote]) !== undefined) return { remote, local };
  }
  return undefined;
}

/** Same suite, master key, salt and MKI: the same SRTP crypto context. */
export function sameKey(a: CryptoAttribute, b: CryptoAttribute): boolean {
  const ka = a.keys[0];
  const kb = b.keys[0];
  if (a.suite !== b.suite || ka === undefined || kb === undefined) return false;
  if (!ka.masterKey.equals(kb.masterKey)) return false;
  const ma = ka.mki?.toString();
  const mb = kb.mki?.toString();
  return ma === mb;
}

/** Both keys of a leg unchanged. */
export function sameLegKeys(a: LegKeys | undefined, b: LegKeys | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return sameKey(a.remote, b.remote) && sameKey(a.local, b.local);
}
