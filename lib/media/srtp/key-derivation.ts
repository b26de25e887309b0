/**
 * RFC 3711 §4.3 key derivation with the AES-CM PRF (§4.3.3), key derivation
 * rate 0: the session keys are derived once per master key ("index DIV 0"
 * is taken as 0), never per packet.
 *
 *   key_id = <label> || r            r = index DIV key_derivation_rate = 0 (48 bits)
 *   x      = key_id XOR master_salt  (right-aligned, 112 bits)
 *   PRF_n(k_master, x) = AES-CM(k_master, x * 2^16) keystream, first n bits
 *
 * RFC 7714 §11 uses the same PRF for AEAD_AES_128_GCM with its 96-bit master
 * salt; like libsrtp we place the 12 salt octets at the left of the 112-bit
 * field (zero-padded on the right), which the libsrtp GCM reference packets
 * (test/media/srtp/srtp-context.test.ts) confirm.
 */
import { createCipheriv } from 'node:crypto';
import type { SrtpSuite } from './srtp-suite.js';

/** RFC 3711 §4.3.1 / §4.3.2 labels. */
export const SrtpLabel = {
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
} as const;
export type SrtpLabel = (typeof SrtpLabel)[keyof typeof SrtpLabel];

export class KeyDerivationError extends Error {
  override readonly name = 'KeyDerivationError';
}

/** One session key, `length` octets, for `label` (RFC 3711 §4.3.1, kdr 0). */
export function deriveSessionKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  if (masterKey.length !== 16 && masterKey.length !== 24 && masterKey.length !== 32) {
    throw new KeyDerivationError(`master key of ${masterKey.length} octets (AES needs 16, 24 or 32)`);
  }
  if (masterSalt.length > 14) throw new KeyDerivationError(`master salt of ${masterSalt.length} octets (at most 14)`);
  if (!Number.isInteger(label) || label < 0 || label > 0xff) throw new KeyDerivationError(`label ${label}`);
  // x * 2^16: the 112-bit x followed by two zero octets is the first counter block.
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  // key_id = label || r with r = 0: the label is octet 7 of the right-aligned 14-octet field.
  iv[7]! ^= label;
  const cipher = createCipheriv(`aes-${masterKey.length * 8}-ctr`, masterKey, iv);
  const out = cipher.update(Buffer.alloc(length));
  cipher.final();
  return out;
}

export interface SessionKeys {
  readonly encryptionKey: Buffer;
  /** Empty for AEAD suites (RFC 7714 needs no authentication key). */
  readonly authenticationKey: Buffer;
  readonly salt: Buffer;
}

/** The six session keys of one master key: SRTP with labels 0-2, SRTCP with labels 3-5. */
export function deriveSessionKeys(
  suite: SrtpSuite,
  masterKey: Buffer,
  masterSalt: Buffer,
): { readonly rtp: SessionKeys; readonly rtcp: SessionKeys } {
  if (masterKey.length !== suite.masterKeyLength) {
    throw new KeyDerivationError(`${suite.name} needs a ${suite.masterKeyLength}-octet master key, got ${masterKey.length}`);
  }
  if (masterSalt.length !== suite.masterSaltLength) {
    throw new KeyDerivationError(`${suite.name} needs a ${suite.masterSaltLength}-octet master salt, got ${masterSalt.length}`);
  }
  const derive = (enc: number, auth: number, salt: number): SessionKeys => ({
    encryptionKey: deriveSessionKey(masterKey, masterSalt, enc, suite.sessionKeyLength),
    authenticationKey: suite.authKeyLength > 0 ? deriveSessionKey(masterKey, masterSalt, auth, suite.authKeyLength) : Buffer.alloc(0),
    salt: deriveSessionKey(masterKey, masterSalt, salt, suite.sessionSaltLength),
  });
  return {
    rtp: derive(SrtpLabel.rtpEncryption, SrtpLabel.rtpAuthentication, SrtpLabel.rtpSalt),
    rtcp: derive(SrtpLabel.rtcpEncryption, SrtpLabel.rtcpAuthentication, SrtpLabel.rtcpSalt),
  };
}
