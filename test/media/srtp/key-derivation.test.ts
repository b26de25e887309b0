/**
 * RFC 3711 §4.3 key derivation (AES-CM PRF, key_derivation_rate 0).
 *
 * Verifies:
 * - Appendix B.3 exactly: cipher key (label 0), cipher salt (label 2) and the
 *   full 94-octet auth key (label 1) of master key E1F9.../salt 0EC6...
 * - the SRTP session lengths of each suite (16/20/14, GCM 16/-/12) and that
 *   SRTCP labels 3-5 give keys other than labels 0-2
 * - wrong master key or salt lengths are refused
 * Does not verify: key_derivation_rate > 0 (not supported; SDES KDR lines are
 * declined by chooseCryptoAttribute).
 */
import t from 'tap';
import { deriveSessionKey, deriveSessionKeys, KeyDerivationError, SrtpLabel } from '../../../lib/media/srtp/key-derivation.js';
import { SRTP_SUITES } from '../../../lib/media/srtp/srtp-suite.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 3711 Appendix B.3 "Key Derivation Test Vectors".
const MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');

t.test('RFC 3711 B.3: cipher key, label 0x00', async (t) => {
  t.equal(deriveSessionKey(MASTER_KEY, MASTER_SALT, SrtpLabel.rtpEncryption, 16).toString('hex').toUpperCase(),
    'C61E7A93744F39EE10734AFE3FF7A087');
});

t.test('RFC 3711 B.3: cipher salt, label 0x02 (AES-CM output 30CB...7AC6 cut to 14 octets)', async (t) => {
  t.equal(deriveSessionKey(MASTER_KEY, MASTER_SALT, SrtpLabel.rtpSalt, 16).toString('hex').toUpperCase(),
    '30CBBC08863D8C85D49DB34A9AE17AC6');
  t.equal(deriveSessionKey(MASTER_KEY, MASTER_SALT, SrtpLabel.rtpSalt, 14).toString('hex').toUpperCase(),
    '30CBBC08863D8C85D49DB34A9AE1');
});

t.test('RFC 3711 B.3: the 94-octet auth key, label 0x01', async (t) => {
  const expected = hex(`
    CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
    E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
    6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2`);
  t.equal(expected.length, 94);
  t.same(deriveSessionKey(MASTER_KEY, MASTER_SALT, SrtpLabel.rtpAuthentication, 94), expected);
});

t.test('deriveSessionKeys: per-suite lengths; SRTCP labels differ from SRTP', async (t) => {
  const cm = deriveSessionKeys(SRTP_SUITES.AES_CM_128_HMAC_SHA1_80, MASTER_KEY, MASTER_SALT);
  t.equal(cm.rtp.encryptionKey.toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087');
  t.equal(cm.rtp.authenticationKey.toString('hex'), 'cebe321f6ff7716b6fd4ab49af256a156d38baa4');
  t.equal(cm.rtp.salt.toString('hex'), '30cbbc08863d8c85d49db34a9ae1');
  t.same([cm.rtcp.encryptionKey.length, cm.rtcp.authenticationKey.length, cm.rtcp.salt.length], [16, 20, 14]);
  t.notSame(cm.rtcp.encryptionKey, cm.rtp.encryptionKey);
  t.same(cm.rtcp.encryptionKey, deriveSessionKey(MASTER_KEY, MASTER_SALT, SrtpLabel.rtcpEncryption, 16));
  t.same(cm.rtcp.authenticationKey, deriveSessionKey(MASTER_KEY, MASTER_SALT, SrtpLabel.rtcpAuthentication, 20));
  t.same(cm.rtcp.salt, deriveSessionKey(MASTER_KEY, MASTER_SALT, SrtpLabel.rtcpSalt, 14));
  const gcm = deriveSessionKeys(SRTP_SUITES.AEAD_AES_128_GCM, MASTER_KEY, MASTER_SALT.subarray(0, 12));
  t.same([gcm.rtp.encryptionKey.length, gcm.rtp.authenticationKey.length, gcm.rtp.salt.length], [16, 0, 12]);
});

t.test('wrong lengths are refused', async (t) => {
  t.throws(() => deriveSessionKeys(SRTP_SUITES.AES_CM_128_HMAC_SHA1_80, MASTER_KEY.subarray(0, 15), MASTER_SALT), KeyDerivationError);
  t.throws(() => deriveSessionKeys(SRTP_SUITES.AES_CM_128_HMAC_SHA1_80, MASTER_KEY, MASTER_SALT.subarray(0, 12)), KeyDerivationError);
  t.throws(() => deriveSessionKeys(SRTP_SUITES.AEAD_AES_128_GCM, MASTER_KEY, MASTER_SALT), KeyDerivationError);
  t.throws(() => deriveSessionKey(MASTER_KEY, Buffer.alloc(15), 0, 16), KeyDerivationError);
  t.throws(() => deriveSessionKey(MASTER_KEY, MASTER_SALT, 256, 16), KeyDerivationError);
});
