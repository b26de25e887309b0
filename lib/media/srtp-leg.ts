/**
 * The SRTP crypto contexts of one leg (SPEC M8): `inbound` authenticates and
 * decrypts what the party sends (its key, from its SDP), `outbound` protects
 * what callrec sends to it (callrec's own key for that leg). Made once per
 * offer/answer that changes the keys; a re-INVITE with new keys gets a new
 * SrtpLeg, so no state (ROC, replay window, SRTCP index) carries over to a
 * new key, and a key that stays keeps its context.
 */
import type { CryptoAttribute } from '../sdp/crypto-attribute.js';
import { sameKey } from '../sdp/srtp-offer.js';
import { SrtpContext } from './srtp/srtp-context.js';
import type { SrtpSuiteName } from './srtp/srtp-suite.js';

export class SrtpLeg {
  readonly inbound: SrtpContext;
  readonly outbound: SrtpContext;

  /**
   * `remote`: the party's crypto attribute; `local`: ours toward it (same tag
   * and suite). A key that stays the same across a re-INVITE keeps its
   * context from `previous`: a fresh context for a key already used would
   * start the packet index again and so reuse keystream (RFC 3711 §9.1).
   */
  constructor(readonly remote: CryptoAttribute, readonly local: CryptoAttribute, previous?: SrtpLeg) {
    this.inbound = previous !== undefined && sameKey(previous.remote, remote) ? previous.inbound : srtpContextFor(remote);
    this.outbound = previous !== undefined && sameKey(previous.local, local) ? previous.outbound : srtpContextFor(local);
  }

  get suite(): SrtpSuiteName {
    return this.inbound.suite.name;
  }

  /** Suite and counters of both directions; never keys. */
  toJSON(): { suite: SrtpSuiteName; inbound: ReturnType<SrtpContext['toJSON']>; outbound: ReturnType<SrtpContext['toJSON']> } {
    return { suite: this.suite, inbound: this.inbound.toJSON(), outbound: this.outbound.toJSON() };
  }
}

/** A context for one SDES crypto attribute (single inline key, optional MKI and lifetime). */
export function srtpContextFor(attr: CryptoAttribute): SrtpContext {
  const suite = attr.srtpSuite;
  const key = attr.keys[0];
  if (suite === undefined || key === undefined) throw new RangeError(`no SRTP context for crypto suite ${attr.suite}`);
  return new SrtpContext({ suite: suite.name, key: key.masterKey, mki: attr.mkiBytes, lifetime: key.lifetime });
}
