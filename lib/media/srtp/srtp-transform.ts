/**
 * The per-kind (SRTP or SRTCP) transform state of an SRTP context: the
 * session keys (RFC 3711 §4.3) in the form the packet path uses.
 *
 * The crypto, per session key set, is one of two implementations
 * with the same results (the tests compare them packet by packet):
 *   native  native/srtp_crypto.c on Node's OpenSSL: one N-API call per
 *           packet does keystream and tag (or GCM seal/open), writing into
 *           the buffers given; offsets and IV go through a shared Int32Array
 *           (native-crypto.ts). The default when the module loads.
 *   js      AES-CM and GCM run their counter blocks through one reused
 *           AES-ECB cipher per session key (Node's CTR and GCM ciphers take
 *           the IV only at creation, so they would cost a cipher object per
 *           packet); HMAC-SHA1 uses precomputed pads, GHASH per-key tables.
 *           The keystream buffer cipher.update returns is a per-packet
 *           allocation. The reference, and the fallback.
 */
import { AesCmKeystream } from './aes-cm-keystream.js';
import { AesGcm } from './aes-gcm.js';
import { HmacSha1 } from './hmac-sha1.js';
import type { SessionKeys } from './key-derivation.js';
import { NativeAesCmHmac, NativeAesGcm, type SrtpCryptoAddon } from './native-crypto.js';
import type { SrtpSuite } from './srtp-suite.js';

export class SrtpTransform {
  readonly keystream: AesCmKeystream | undefined;
  readonly hmac: HmacSha1 | undefined;
  readonly gcm: AesGcm | undefined;
  /** Native AES-CM + HMAC-SHA1 (then keystream and hmac are undefined). */
  readonly cm: NativeAesCmHmac | undefined;
  /** Native AES-GCM (then gcm is undefined). */
  readonly ngcm: NativeAesGcm | undefined;
  /**
   * The salt as big-endian words: AES-CM k_s * 2^16 (14 octets, 00 00);
   * GCM the 12-octet salt in s0-s2 (s3 unused).
   */
  readonly s0: number;
  readonly s1: number;
  readonly s2: number;
  readonly s3: number;

  constructor(suite: SrtpSuite, keys: SessionKeys, addon: SrtpCryptoAddon | undefined) {
    const salt = Buffer.concat([keys.salt, Buffer.alloc(16 - keys.salt.length)]);
    this.s0 = salt.readUInt32BE(0);
    this.s1 = salt.readUInt32BE(4);
    this.s2 = salt.readUInt32BE(8);
    this.s3 = salt.readUInt32BE(12);
    if (addon !== undefined) {
      if (suite.aead) this.ngcm = new NativeAesGcm(addon, keys.encryptionKey);
      else this.cm = new NativeAesCmHmac(addon, keys.encryptionKey, keys.authenticationKey);
    } else if (suite.aead) {
      this.gcm = new AesGcm(keys.encryptionKey);
    } else {
      this.keystream = new AesCmKeystream(keys.encryptionKey);
      this.hmac = new HmacSha1(keys.authenticationKey);
    }
    salt.fill(0);
  }
}
