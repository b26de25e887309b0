/**
 * One direction of an SRTP/SRTCP crypto context (RFC 3711 §3.2) for one
 * master key, independent of the SSRC: the session keys are derived once
 * (§4.3, key derivation rate 0) and shared; per-SSRC state - rollover
 * counter, highest sequence number, replay window, SRTCP index - is made
 * lazily, on the receiving side only once a packet authenticated, so a
 * flood of forged SSRCs creates nothing.
 *
 * SRTP packet (RFC 3711 §3.1), AES-CM suites:
 *
 *   +----------------------------+----------------------+-------+----------+
 *   | RTP header (12 + CSRC/ext) | encrypted payload    | [MKI] | auth tag |
 *   +----------------------------+----------------------+-------+----------+
 *   |<------- authenticated portion (+ ROC, §4.2) ----->|
 *
 * AEAD_AES_128_GCM (RFC 7714 §7): the tag follows the ciphertext and the MKI
 * follows the tag; the header is the AAD (§7.2).
 *
 *   | RTP header (AAD) | ciphertext | 16-octet tag | [MKI] |
 *
 * SRTCP packet (RFC 3711 §3.4; RFC 7714 §9 for GCM):
 *
 *   AES-CM: | RTCP header (8) | encrypted rest | E|SRTCP index (32) | [MKI] | auth tag (80) |
 *   GCM:    | RTCP header (8) | ciphertext | 16-octet tag | E|SRTCP index | [MKI] |
 *
 * Hot path: one Map lookup per packet, the payload XORed straight from the
 * input into the output (protect) or in place (unprotect). Unprotect
 * decrypts in place and returns a view of the input buffer; protect writes
 * a new buffer, or with `reuse` one the context owns (no allocation).
 *
 * The crypto itself, per session key set, is in srtp-transform.ts (native or
 * JavaScript, with the same results).
 */
import { inspect } from 'node:util';
import { rtpPayloadOffset } from '../rtp-header.js';
import {
  P_AAD_END, P_AAD_START, P_AUTH_END, P_COPY, P_ENC_END, P_ENC_START, P_HAS_TRAILER, P_IV0, P_IV1, P_IV2, P_IV3,
  P_TAG_AT, P_TAG_LEN, P_TRAILER, srtpCrypto, type SrtpCryptoAddon, type SrtpCryptoName, loadSrtpCryptoAddon,
} from './native-crypto.js';
import { deriveSessionKeys } from './key-derivation.js';
import { guessRoc } from './packet-index.js';
import { ReplayWindow } from './replay-window.js';
import { isClearRtcp } from './rtcp-compound.js';
import { SRTP_SUITES, type SrtpSuite, type SrtpSuiteName } from './srtp-suite.js';
import { SrtpTransform as Transform } from './srtp-transform.js';
import { RtcpStream, RtpStream, SrtpError, type SrtpContextOptions, type SrtpCounters, type SrtpFailure } from './srtp-types.js';

export { SrtpError, type SrtpContextOptions, type SrtpCounters, type SrtpFailure } from './srtp-types.js';

const GCM_TAG = 16;
const EMPTY = Buffer.alloc(0);
const RTCP_HEADER = 8;
const E_BIT = 0x80000000;

export class SrtpContext {
  readonly suite: SrtpSuite;
  /** Which implementation does the crypto. */
  readonly crypto: SrtpCryptoName;
  private readonly c: SrtpCounters = {
    rtpProtected: 0, rtpUnprotected: 0, rtcpProtected: 0, rtcpUnprotected: 0,
    authFailures: 0, replayed: 0, malformed: 0, unknownMki: 0,
  };
  private readonly rtp: Transform;
  private readonly rtcp: Transform;
  private readonly mki: Buffer | undefined;
  private readonly mkiLength: number;
  private readonly windowSize: 64 | 128;
  private readonly maxStreams: number;
  private readonly lifetime: number;
  private readonly rtpSend = new Map<number, RtpStream>();
  private readonly rtpRecv = new Map<number, RtpStream>();
  private readonly rtcpSend = new Map<number, RtcpStream>();
  private readonly rtcpRecv = new Map<number, RtcpStream>();
  /** SRTCP GCM AAD (RFC 7714 §9.2): header || E || index, gathered from both ends of the packet. */
  private readonly aad = Buffer.alloc(12);
  /** protect's output with `reuse`, and views of it by length (made once each). */
  private reused: Buffer | undefined;
  private reusedViews: (Buffer | undefined)[] = [];

  constructor(options: SrtpContextOptions) {
    this.suite = SRTP_SUITES[options.suite];
    if (this.suite === undefined) throw new RangeError(`unsupported SRTP suite ${String(options.suite)}`);
    const keys = 'sessionKeys' in options.key
      ? options.key.sessionKeys
      : deriveSessionKeys(this.suite, options.key.key, options.key.salt);
    let addon: SrtpCryptoAddon | undefined;
    if (options.crypto === 'native') {
      const loaded = loadSrtpCryptoAddon();
      if (loaded instanceof Error) throw new Error(`native SRTP crypto does not load: ${loaded.message}`);
      addon = loaded;
    } else if (options.crypto === undefined) {
      addon = srtpCrypto().addon;
    }
    this.crypto = addon === undefined ? 'js' : 'native';
    this.rtp = new Transform(this.suite, keys.rtp, addon);
    this.rtcp = new Transform(this.suite, keys.rtcp, addon);
    if (!('sessionKeys' in options.key)) {
      for (const k of [keys.rtp, keys.rtcp]) {
        k.encryptionKey.fill(0);
        k.authenticationKey.fill(0);
      }
    }
    this.mki = options.mki !== undefined && options.mki.length > 0 ? Buffer.from(options.mki) : undefined;
    this.mkiLength = this.mki?.length ?? 0;
    this.windowSize = options.replayWindow ?? 128;
    this.maxStreams = options.maxStreams ?? 64;
    this.lifetime = options.lifetime ?? 2 ** 48;
  }

  get counters(): Readonly<SrtpCounters> {
    return this.c;
  }

  /**
   * RFC 4568 §6.1 / RFC 3711 §9.2: the master key's packet budget is spent.
   * Deviation: we report it (for a re-key) instead of refusing packets, so a
   * long recorded call keeps its audio.
   */
  get lifetimeExceeded(): boolean {
    return this.c.rtpProtected + this.c.rtpUnprotected > this.lifetime
      || this.c.rtcpProtected + this.c.rtcpUnprotected > Math.min(this.lifetime, 2 ** 31);
  }

  /** Octets protect adds to an RTP packet. */
  get rtpOverhead(): number {
    return this.suite.rtpTagLength + this.mkiLength;
  }

  /** Octets protect adds to an RTCP packet (tag, E|index, MKI). */
  get rtcpOverhead(): number {
    return this.suite.rtcpTagLength + 4 + this.mkiLength;
  }

  /** The rollover counter of an SSRC as this context knows it, if it saw the SSRC. */
  rolloverCounter(ssrc: number, direction: 'send' | 'receive'): number | undefined {
    return (direction === 'send' ? this.rtpSend : this.rtpRecv).get(ssrc >>> 0)?.roc;
  }

  /**
   * RFC 3711 §3.3: encrypts the payload and appends MKI and tag. Returns a
   * new buffer; `packet` is left unchanged. The sender's ROC follows the
   * sequence numbers with the same estimate a receiver uses (reordered input
   * from the other leg keeps its index).
   *
   * `reuse`: the result is instead a view of a buffer this context owns,
   * overwritten by its next protect call (RTP or RTCP): for a caller that
   * hands it on at once to something that copies it synchronously.
   */
  protectRtp(packet: Buffer, length = packet.length, reuse = false): Buffer {
    const hdr = rtpPayloadOffset(packet, length);
    if (hdr < 0) {
      this.c.malformed++;
      throw new SrtpError('malformed', 'not an RTP version 2 packet');
    }
    const seq = (packet[2]! << 8) | packet[3]!;
    const ssrc = packet.readUInt32BE(8);
    let s = this.rtpSend.get(ssrc);
    let roc = 0;
    if (s === undefined) {
      this.remember(this.rtpSend, ssrc, new RtpStream(0, seq, undefined));
    } else {
      roc = guessRoc(seq, s.seq, s.roc);
      if (roc < 0) roc = 0;
      if (roc * 65536 + seq > s.roc * 65536 + s.seq) {
        s.roc = roc;
        s.seq = seq;
      }
    }
    const t = this.rtp;
    const tagLength = this.suite.rtpTagLength;
    const outLength = length + tagLength + this.mkiLength;
    const out = reuse ? this.reusable(outLength) : Buffer.allocUnsafe(outLength);
    if (t.cm !== undefined) {
      // As below, natively: header copy, keystream XOR, tag over out[0..length) || ROC.
      const p = t.cm.p;
      p[P_COPY] = hdr;
      p[P_ENC_START] = hdr;
      p[P_ENC_END] = length;
      p[P_IV0] = t.s0;
      p[P_IV1] = t.s1 ^ ssrc;
      p[P_IV2] = t.s2 ^ roc;
      p[P_IV3] = t.s3 ^ (seq << 16);
      p[P_AUTH_END] = length;
      p[P_HAS_TRAILER] = 1;
      p[P_TRAILER] = roc;
      p[P_TAG_AT] = length + this.mkiLength;
      p[P_TAG_LEN] = tagLength;
      t.cm.protect(packet, out);
      if (this.mki !== undefined) this.mki.copy(out, length);
    } else if (t.ngcm !== undefined) {
      const p = t.ngcm.p;
      p[P_COPY] = hdr;
      p[P_AAD_START] = 0;
      p[P_AAD_END] = hdr;
      p[P_ENC_START] = hdr;
      p[P_ENC_END] = length;
      p[P_IV0] = t.s0 ^ (ssrc >>> 16);
      p[P_IV1] = t.s1 ^ ((ssrc << 16) | (roc >>> 16));
      p[P_IV2] = t.s2 ^ ((roc << 16) | seq);
      p[P_TAG_AT] = length;
      t.ngcm.seal(packet, out, packet);
      if (this.mki !== undefined) this.mki.copy(out, length + GCM_TAG);
    } else if (t.keystream !== undefined && t.hmac !== undefined) {
      packet.copy(out, 0, 0, hdr);
      // RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), i * 2^16 = ROC || SEQ || 0x0000.
      t.keystream.xor(t.s0, t.s1 ^ ssrc, t.s2 ^ roc, t.s3 ^ (seq << 16), packet, hdr, length, out, hdr);
      if (this.mki !== undefined) this.mki.copy(out, length);
      // §4.2: M = Authenticated Portion || ROC; the MKI is not authenticated.
      t.hmac.sign(out, 0, length, roc, out, length + this.mkiLength, tagLength);
    } else {
      // RFC 7714 §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt; §7.2: AAD = the RTP header.
      packet.copy(out, 0, 0, hdr);
      t.gcm!.seal(t.s0 ^ (ssrc >>> 16), t.s1 ^ ((ssrc << 16) | (roc >>> 16)), t.s2 ^ ((roc << 16) | seq),
        packet, 0, hdr, packet, hdr, length, out, hdr, out, length);
      if (this.mki !== undefined) this.mki.copy(out, length + GCM_TAG);
    }
    this.c.rtpProtected++;
    return out;
  }

  /**
   * RFC 3711 §3.3: estimates the index (§3.3.1), checks replay (§3.3.2),
   * verifies the tag, then decrypts in place. Returns the plain RTP packet
   * as a view of `packet`, or why it was dropped.
   */
  unprotectRtp(packet: Buffer, length = packet.length): Buffer | SrtpFailure {
    const tagLength = this.suite.rtpTagLength;
    const aead = this.suite.aead;
    // AES-CM: | ... | MKI | tag |; GCM: | ... | tag | MKI |
    const plainEnd = length - tagLength - this.mkiLength;
    const mkiAt = aead ? length - this.mkiLength : plainEnd;
    const tagAt = aead ? plainEnd : length - tagLength;
    if (plainEnd < 12) return this.malformed();
    const hdr = rtpPayloadOffset(packet, plainEnd);
    if (hdr < 0) return this.malformed();
    if (this.mki !== undefined && !this.mkiMatches(packet, mkiAt)) return this.unknownMki();
    const seq = (packet[2]! << 8) | packet[3]!;
    const ssrc = packet.readUInt32BE(8);
    const s = this.rtpRecv.get(ssrc);
    let roc = 0;
    let index = seq;
    if (s !== undefined) {
      roc = guessRoc(seq, s.seq, s.roc);
      index = roc * 65536 + seq;
      if (roc < 0 || !s.window!.check(index)) {
        this.c.replayed++;
        return 'replay';
      }
    }
    const t = this.rtp;
    if (t.cm !== undefined) {
      const p = t.cm.p;
      p[P_ENC_START] = hdr;
      p[P_ENC_END] = plainEnd;
      p[P_IV0] = t.s0;
      p[P_IV1] = t.s1 ^ ssrc;
      p[P_IV2] = t.s2 ^ roc;
      p[P_IV3] = t.s3 ^ (seq << 16);
      p[P_AUTH_END] = plainEnd;
      p[P_HAS_TRAILER] = 1;
      p[P_TRAILER] = roc;
      p[P_TAG_AT] = tagAt;
      p[P_TAG_LEN] = tagLength;
      if (!t.cm.unprotect(packet)) return this.authFailure();
    } else if (t.ngcm !== undefined) {
      const p = t.ngcm.p;
      p[P_AAD_START] = 0;
      p[P_AAD_END] = hdr;
      p[P_ENC_START] = hdr;
      p[P_ENC_END] = plainEnd;
      p[P_IV0] = t.s0 ^ (ssrc >>> 16);
      p[P_IV1] = t.s1 ^ ((ssrc << 16) | (roc >>> 16));
      p[P_IV2] = t.s2 ^ ((roc << 16) | seq);
      p[P_TAG_AT] = tagAt;
      if (!t.ngcm.open(packet, packet)) return this.authFailure();
    } else if (t.keystream !== undefined && t.hmac !== undefined) {
      if (!t.hmac.verify(packet, 0, plainEnd, roc, packet, tagAt, tagLength)) return this.authFailure();
      t.keystream.xor(t.s0, t.s1 ^ ssrc, t.s2 ^ roc, t.s3 ^ (seq << 16), packet, hdr, plainEnd, packet, hdr);
    } else {
      if (!t.gcm!.open(t.s0 ^ (ssrc >>> 16), t.s1 ^ ((ssrc << 16) | (roc >>> 16)), t.s2 ^ ((roc << 16) | seq),
        packet, 0, hdr, packet, hdr, plainEnd, packet, hdr, packet, tagAt)) return this.authFailure();
    }
    // §3.3.1: ROC and s_l are updated only after authentication.
    if (s === undefined) {
      const w = new ReplayWindow(this.windowSize);
      w.accept(index);
      this.remember(this.rtpRecv, ssrc, new RtpStream(roc, seq, w));
    } else {
      if (index > s.roc * 65536 + s.seq) {
        s.roc = roc;
        s.seq = seq;
      }
      s.window!.accept(index);
    }
    this.c.rtpUnprotected++;
    return packet.subarray(0, plainEnd);
  }

  /**
   * RFC 3711 §3.4: encrypts everything after the first 8 octets, appends
   * E=1 and the SRTCP index, the MKI and the tag. The index counts per SSRC
   * from 1, as libsrtp does (RFC 3711 does not fix the first value).
   */
  protectRtcp(packet: Buffer, length = packet.length, reuse = false): Buffer {
    if (length < RTCP_HEADER || (packet[0]! & 0xc0) !== 0x80) {
      this.c.malformed++;
      throw new SrtpError('malformed', 'not an RTCP version 2 packet');
    }
    const ssrc = packet.readUInt32BE(4);
    let s = this.rtcpSend.get(ssrc);
    if (s === undefined) s = this.remember(this.rtcpSend, ssrc, new RtcpStream(undefined));
    const index = (s.index = (s.index + 1) & 0x7fffffff);
    const eIndex = (E_BIT | index) >>> 0;
    const t = this.rtcp;
    const tagLength = this.suite.rtcpTagLength;
    const outLength = length + 4 + tagLength + this.mkiLength;
    const out = reuse ? this.reusable(outLength) : Buffer.allocUnsafe(outLength);
    if (t.cm !== undefined) {
      const p = t.cm.p;
      p[P_COPY] = RTCP_HEADER;
      p[P_ENC_START] = RTCP_HEADER;
      p[P_ENC_END] = length;
      p[P_IV0] = t.s0;
      p[P_IV1] = t.s1 ^ ssrc;
      p[P_IV2] = t.s2 ^ (index >>> 16);
      p[P_IV3] = t.s3 ^ ((index & 0xffff) << 16);
      // E || index first: it ends the authenticated portion (§3.4).
      out.writeUInt32BE(eIndex, length);
      p[P_AUTH_END] = length + 4;
      p[P_HAS_TRAILER] = 0;
      p[P_TAG_AT] = length + 4 + this.mkiLength;
      p[P_TAG_LEN] = tagLength;
      t.cm.protect(packet, out);
      if (this.mki !== undefined) this.mki.copy(out, length + 4);
    } else if (t.ngcm !== undefined) {
      packet.copy(this.aad, 0, 0, RTCP_HEADER);
      this.aad.writeUInt32BE(eIndex, RTCP_HEADER);
      const p = t.ngcm.p;
      p[P_COPY] = RTCP_HEADER;
      p[P_AAD_START] = 0;
      p[P_AAD_END] = 12;
      p[P_ENC_START] = RTCP_HEADER;
      p[P_ENC_END] = length;
      p[P_IV0] = t.s0 ^ (ssrc >>> 16);
      p[P_IV1] = t.s1 ^ (ssrc << 16);
      p[P_IV2] = t.s2 ^ index;
      p[P_TAG_AT] = length;
      t.ngcm.seal(packet, out, this.aad);
      out.writeUInt32BE(eIndex, length + GCM_TAG);
      if (this.mki !== undefined) this.mki.copy(out, length + GCM_TAG + 4);
    } else if (t.keystream !== undefined && t.hmac !== undefined) {
      packet.copy(out, 0, 0, RTCP_HEADER);
      // §4.1.1 with the 31-bit SRTCP index as i: i * 2^16 = 00 00 || index || 00 00.
      t.keystream.xor(t.s0, t.s1 ^ ssrc, t.s2 ^ (index >>> 16), t.s3 ^ ((index & 0xffff) << 16),
        packet, RTCP_HEADER, length, out, RTCP_HEADER);
      out.writeUInt32BE(eIndex, length);
      if (this.mki !== undefined) this.mki.copy(out, length + 4);
      // §3.4: the authenticated portion ends with E || SRTCP index.
      t.hmac.sign(out, 0, length + 4, undefined, out, length + 4 + this.mkiLength, tagLength);
    } else {
      // RFC 7714 §9.1: IV = (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt;
      // §9.2: AAD = header (8 octets) || E || SRTCP index.
      packet.copy(out, 0, 0, RTCP_HEADER);
      packet.copy(this.aad, 0, 0, RTCP_HEADER);
      this.aad.writeUInt32BE(eIndex, RTCP_HEADER);
      t.gcm!.seal(t.s0 ^ (ssrc >>> 16), t.s1 ^ (ssrc << 16), t.s2 ^ index,
        this.aad, 0, 12, packet, RTCP_HEADER, length, out, RTCP_HEADER, out, length);
      out.writeUInt32BE(eIndex, length + GCM_TAG);
      if (this.mki !== undefined) this.mki.copy(out, length + GCM_TAG + 4);
    }
    this.c.rtcpProtected++;
    return out;
  }

  /**
   * RFC 3711 §3.4: replay check on the explicit SRTCP index, tag, then
   * decryption in place when E is set (E=0 packets are authenticated only).
   */
  unprotectRtcp(packet: Buffer, length = packet.length): Buffer | SrtpFailure {
    const tagLength = this.suite.rtcpTagLength;
    const aead = this.suite.aead;
    // AES-CM: | hdr | rest | E|index | MKI | tag |;  GCM: | hdr | rest | tag | E|index | MKI |
    const trailer = tagLength + 4 + this.mkiLength;
    const plainEnd = length - trailer;
    if (plainEnd < RTCP_HEADER || (packet[0]! & 0xc0) !== 0x80) return this.malformed();
    const eIndexAt = aead ? plainEnd + GCM_TAG : plainEnd;
    const mkiAt = eIndexAt + 4;
    const tagAt = aead ? plainEnd : mkiAt + this.mkiLength;
    if (this.mki !== undefined && !this.mkiMatches(packet, mkiAt)) return this.unknownMki();
    const eIndex = packet.readUInt32BE(eIndexAt);
    const encrypted = eIndex >= E_BIT;
    const index = eIndex & 0x7fffffff;
    const ssrc = packet.readUInt32BE(4);
    const s = this.rtcpRecv.get(ssrc);
    if (s !== undefined && !s.window!.check(index)) {
      if (isClearRtcp(packet, length)) return this.malformed();
      this.c.replayed++;
      return 'replay';
    }
    const t = this.rtcp;
    if (t.cm !== undefined) {
      const p = t.cm.p;
      p[P_ENC_START] = RTCP_HEADER;
      p[P_ENC_END] = encrypted ? plainEnd : RTCP_HEADER;
      p[P_IV0] = t.s0;
      p[P_IV1] = t.s1 ^ ssrc;
      p[P_IV2] = t.s2 ^ (index >>> 16);
      p[P_IV3] = t.s3 ^ ((index & 0xffff) << 16);
      p[P_AUTH_END] = eIndexAt + 4;
      p[P_HAS_TRAILER] = 0;
      p[P_TAG_AT] = tagAt;
      p[P_TAG_LEN] = tagLength;
      if (!t.cm.unprotect(packet)) return this.rtcpAuthFailure(packet, length);
    } else if (t.ngcm !== undefined) {
      const p = t.ngcm.p;
      p[P_IV0] = t.s0 ^ (ssrc >>> 16);
      p[P_IV1] = t.s1 ^ (ssrc << 16);
      p[P_IV2] = t.s2 ^ index;
      p[P_TAG_AT] = tagAt;
      let aad = this.aad;
      if (encrypted) {
        packet.copy(aad, 0, 0, RTCP_HEADER);
        packet.copy(aad, RTCP_HEADER, eIndexAt, eIndexAt + 4);
        p[P_ENC_START] = RTCP_HEADER;
        p[P_ENC_END] = plainEnd;
      } else {
        // RFC 7714 §9.3 (E=0): the whole RTCP packet and E || index are the AAD, nothing is encrypted.
        aad = Buffer.concat([packet.subarray(0, plainEnd), packet.subarray(eIndexAt, eIndexAt + 4)]);
        p[P_ENC_START] = 0;
        p[P_ENC_END] = 0;
      }
      p[P_AAD_START] = 0;
      p[P_AAD_END] = aad.length;
      if (!t.ngcm.open(packet, aad)) return this.rtcpAuthFailure(packet, length);
    } else if (t.keystream !== undefined && t.hmac !== undefined) {
      if (!t.hmac.verify(packet, 0, eIndexAt + 4, undefined, packet, tagAt, tagLength)) return this.rtcpAuthFailure(packet, length);
      if (encrypted) {
        t.keystream.xor(t.s0, t.s1 ^ ssrc, t.s2 ^ (index >>> 16), t.s3 ^ ((index & 0xffff) << 16),
          packet, RTCP_HEADER, plainEnd, packet, RTCP_HEADER);
      }
    } else {
      const iv0 = t.s0 ^ (ssrc >>> 16), iv1 = t.s1 ^ (ssrc << 16), iv2 = t.s2 ^ index;
      let ok: boolean;
      if (encrypted) {
        packet.copy(this.aad, 0, 0, RTCP_HEADER);
        packet.copy(this.aad, RTCP_HEADER, eIndexAt, eIndexAt + 4);
        ok = t.gcm!.open(iv0, iv1, iv2, this.aad, 0, 12, packet, RTCP_HEADER, plainEnd, packet, RTCP_HEADER, packet, tagAt);
      } else {
        // RFC 7714 §9.3 (E=0): the whole RTCP packet and E || index are the AAD, nothing is encrypted.
        const aad = Buffer.concat([packet.subarray(0, plainEnd), packet.subarray(eIndexAt, eIndexAt + 4)]);
        ok = t.gcm!.open(iv0, iv1, iv2, aad, 0, aad.length, EMPTY, 0, 0, EMPTY, 0, packet, tagAt);
      }
      if (!ok) return this.rtcpAuthFailure(packet, length);
    }
    if (s === undefined) {
      const w = new ReplayWindow(this.windowSize);
      w.accept(index);
      this.remember(this.rtcpRecv, ssrc, new RtcpStream(w));
    } else {
      s.window!.accept(index);
    }
    this.c.rtcpUnprotected++;
    return packet.subarray(0, plainEnd);
  }

  /** Never the keys: suite and counters only. */
  toJSON(): { suite: SrtpSuiteName; mki: boolean; counters: SrtpCounters } {
    return { suite: this.suite.name, mki: this.mki !== undefined, counters: { ...this.c } };
  }

  [inspect.custom](): string {
    return `SrtpContext ${JSON.stringify(this.toJSON())}`;
  }

  /** A view of `length` octets of the reused output buffer (grown when too small). */
  private reusable(length: number): Buffer {
    let buf = this.reused;
    if (buf === undefined || buf.length < length) {
      buf = this.reused = Buffer.alloc(Math.max(2048, length));
      this.reusedViews = [];
    }
    if (length > 4096) return buf.subarray(0, length);
    let view = this.reusedViews[length];
    if (view === undefined) view = this.reusedViews[length] = buf.subarray(0, length);
    return view;
  }

  private mkiMatches(packet: Buffer, at: number): boolean {
    const mki = this.mki!;
    for (let i = 0; i < mki.length; i++) if (packet[at + i] !== mki[i]) return false;
    return true;
  }

  private remember<S>(map: Map<number, S>, ssrc: number, state: S): S {
    if (map.size >= this.maxStreams) {
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
    }
    map.set(ssrc, state);
    return state;
  }

  private malformed(): SrtpFailure {
    this.c.malformed++;
    return 'malformed';
  }

  private authFailure(): SrtpFailure {
    this.c.authFailures++;
    return 'auth';
  }

  /**
   * An SRTCP packet that failed its tag (or replay) check but parses as a
   * whole plain RTCP compound packet is RTCP sent in the clear, not a forgery:
   * some endpoints (baresip among them) send their final RTCP BYE unprotected
   * after closing their SRTP session, others send clear APP keep-alives. It
   * is dropped all the same (RFC 3711 §3.4: SRTCP is always authenticated)
   * but counted as malformed, so authFailures keeps meaning "wrong key or
   * tampered".
   */
  private rtcpAuthFailure(packet: Buffer, length: number): SrtpFailure {
    return isClearRtcp(packet, length) ? this.malformed() : this.authFailure();
  }

  private unknownMki(): SrtpFailure {
    this.c.unknownMki++;
    this.c.authFailures++;
    return 'auth';
  }
}
