/**
 * Known-answer SRTP/SRTCP packets, protect and unprotect, through SrtpContext.
 *
 * Verifies:
 * - libsrtp's reference packets (cisco/libsrtp test/srtp_driver.c:
 *   srtp_validate, srtp_validate_gcm, srtp_test_empty_payload): master key
 *   E1F9.../0EC6... with AES_CM_128_HMAC_SHA1_80, SSRC 0xcafebabe, SEQ
 *   0x1234, SRTP and SRTCP (index 1, E set); master key 0001...0f / salt
 *   A0A1...AB with AEAD_AES_128_GCM (16-octet tag), SRTP and SRTCP. These go
 *   through our key derivation, so they also pin the 96-bit GCM salt's
 *   alignment in the PRF (RFC 7714 §11)
 * - RFC 7714 §16.1.1 / §16.1.2 (SRTP AEAD_AES_128_GCM encryption and
 *   decryption), §17.1 (SRTCP encryption, index 0x5d4) and §17.3 (SRTCP
 *   tag only, E=0), given with session key 0001...0f and session salt
 *   "Quid pro quo"; the IVs of §16.1 (51753c6580c2726f20718414) and §17.1
 *   follow from them
 * Each with both crypto implementations (JavaScript and native/srtp_crypto.c).
 * Does not verify: AES-256 and AEAD_AES_256_GCM (not offered by callrec).
 */
import t, { type Test } from 'tap';
import { SrtpMasterKey } from '../../../lib/media/srtp/master-key.js';
import type { SrtpCryptoName } from '../../../lib/media/srtp/native-crypto.js';
import { SrtpContext } from '../../../lib/media/srtp/srtp-context.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const LIBSRTP_KEY = new SrtpMasterKey(hex('e1f97a0d3e018be0d64fa32c06de4139'), hex('0ec675ad498afeebb6960b3aabe6'));
const LIBSRTP_GCM_KEY = new SrtpMasterKey(hex('000102030405060708090a0b0c0d0e0f'), hex('a0a1a2a3a4a5a6a7a8a9aaab'));
const RTP_PLAIN = hex('800f1234decafbadcafebabe abababababababababababababababab');
const RTCP_PLAIN = hex('81c8000bcafebabe abababababababababababababababab');

function roundTrip(t: Test, make: () => SrtpContext, protect: 'protectRtp' | 'protectRtcp',
  plain: Buffer, cipher: Buffer): void {
  const unprotect = protect === 'protectRtp' ? 'unprotectRtp' : 'unprotectRtcp';
  t.equal(make()[protect](plain).toString('hex'), cipher.toString('hex'), `${protect} gives the reference packet`);
  const back = make()[unprotect](Buffer.from(cipher));
  t.equal(typeof back === 'string' ? back : back.toString('hex'), plain.toString('hex'), `${unprotect} gives the plain packet`);
}

for (const crypto of ['js', 'native'] as SrtpCryptoName[]) {
  t.test(`${crypto}: libsrtp srtp_validate: AES_CM_128_HMAC_SHA1_80 SRTP and SRTCP`, async (t) => {
    const make = (): SrtpContext => new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', key: LIBSRTP_KEY, crypto });
    roundTrip(t, make, 'protectRtp', RTP_PLAIN,
      hex('800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb'));
    roundTrip(t, make, 'protectRtcp', RTCP_PLAIN,
      hex('81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798'));
  });

  t.test(`${crypto}: libsrtp srtp_test_empty_payload: header only`, async (t) => {
    const make = (): SrtpContext => new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', key: LIBSRTP_KEY, crypto });
    roundTrip(t, make, 'protectRtp', hex('800f1234decafbadcafebabe'), hex('800f1234decafbadcafebabe 773c2e1cd91d590d16e5'));
  });

  t.test(`${crypto}: libsrtp srtp_validate_gcm: AEAD_AES_128_GCM SRTP and SRTCP from a master key`, async (t) => {
    const make = (): SrtpContext => new SrtpContext({ suite: 'AEAD_AES_128_GCM', key: LIBSRTP_GCM_KEY, crypto });
    roundTrip(t, make, 'protectRtp', RTP_PLAIN,
      hex('800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392'));
    roundTrip(t, make, 'protectRtcp', RTCP_PLAIN,
      hex('81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001'));
  });

  // RFC 7714 §16: "The 16-octet (128-bit) key is 00 01 02 ... 0f", the salt "Quid pro quo".
  const RFC7714_KEY = hex('000102030405060708090a0b0c0d0e0f');
  const RFC7714_SALT = hex('517569642070726f2071756f');
  const rfc7714 = (): SrtpContext => new SrtpContext({
    suite: 'AEAD_AES_128_GCM',
    crypto,
    key: {
      sessionKeys: {
        rtp: { encryptionKey: RFC7714_KEY, authenticationKey: Buffer.alloc(0), salt: RFC7714_SALT },
        rtcp: { encryptionKey: RFC7714_KEY, authenticationKey: Buffer.alloc(0), salt: RFC7714_SALT },
      },
    },
  });

  t.test(`${crypto}: RFC 7714 §16.1.1 / §16.1.2: SRTP AEAD_AES_128_GCM`, async (t) => {
    // SSRC 0x5501a0b2, SEQ 0xf17b, ROC 0, payload "Gallia est omnis divisa in partes tres".
    const rtp = hex('8040f17b8041f8d35501a0b2 47616c6c696120657374206f6d6e697320646976697361 20696e2070617274657320747265 73');
    t.equal(rtp.subarray(12).toString('latin1'), 'Gallia est omnis divisa in partes tres');
    roundTrip(t, rfc7714, 'protectRtp', rtp, hex(`
      8040f17b8041f8d35501a0b2f24de3a3 fb34de6cacba861c9d7e4bcabe633bd5
      0d294e6f42a5f47a51c7d19b36de3adf 8833899d7f27beb16a9152cf765ee439 0cce`));
  });

  // RFC 7714 §17 (as its subsections encrypt it): SSRC "Mars", SRTCP index 0x5d4.
  const RFC7714_RTCP = hex(`81c8000d4d6172734e5450314e545032 525450200000042a0000e9304c756e61
    deadbeefdeadbeefdeadbeefdeadbeef deadbeef`);

  t.test(`${crypto}: RFC 7714 §17.1: SRTCP AEAD_AES_128_GCM encryption and tagging`, async (t) => {
    const srtcp = hex(`81c8000d4d61727363e94885dcdab67c a727d7662f6b7e997ff5c0f76c06f32d
      c676a5f1730d6fda4ce09b4686303ded 0bb9275bc84aa45896cf4d2fc5abf872 45d9eade800005d4`);
    const back = rfc7714().unprotectRtcp(Buffer.from(srtcp));
    t.equal(typeof back === 'string' ? back : back.toString('hex'), RFC7714_RTCP.toString('hex'), 'decrypts');
    const sender = rfc7714();
    for (let i = 1; i < 0x5d4; i++) sender.protectRtcp(RFC7714_RTCP);
    t.equal(sender.protectRtcp(RFC7714_RTCP).toString('hex'), srtcp.toString('hex'), 'the 0x5d4th packet encrypts to §17.1');
  });

  t.test(`${crypto}: RFC 7714 §17.3: SRTCP tagged, not encrypted (E=0)`, async (t) => {
    const tagged = hex(`81c8000d4d6172734e5450314e545032 525450200000042a0000e9304c756e61
      deadbeefdeadbeefdeadbeefdeadbeef deadbeef841dd9683dd78ec92ae58790 125f62b3000005d4`);
    const back = rfc7714().unprotectRtcp(Buffer.from(tagged));
    t.equal(typeof back === 'string' ? back : back.toString('hex'), RFC7714_RTCP.toString('hex'));
    tagged[20]! ^= 1;
    t.equal(rfc7714().unprotectRtcp(tagged), 'auth', 'authenticated although not encrypted');
  });
}
