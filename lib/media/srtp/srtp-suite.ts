/**
 * The SRTP crypto suites callrec speaks, with the lengths their SDES
 * registrations fix:
 *
 *   suite                    master key  master salt  SRTP tag  SRTCP tag  auth key
 *   AES_CM_128_HMAC_SHA1_80  16          14           10        10         20   (RFC 4568 §6.2.1)
 *   AES_CM_128_HMAC_SHA1_32  16          14            4        10         20   (RFC 4568 §6.2.2)
 *   AEAD_AES_128_GCM         16          12           16        16          -   (RFC 7714 §12, §14.2)
 *
 * RFC 4568 §6.2.2: "AES_CM_128_HMAC_SHA1_32 is identical to
 * AES_CM_128_HMAC_SHA1_80 except that the authentication tag is 32 bits" -
 * for SRTP only; the SRTCP tag stays 80 bits.
 */
export type SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32' | 'AEAD_AES_128_GCM';

export interface SrtpSuite {
  readonly name: SrtpSuiteName;
  /** AEAD (RFC 7714): encryption and authentication in one AES-GCM pass, no HMAC key. */
  readonly aead: boolean;
  readonly masterKeyLength: number;
  readonly masterSaltLength: number;
  /** Session encryption key length (labels 0 and 3). */
  readonly sessionKeyLength: number;
  /** Session salt length (labels 2 and 5): 112 bits for AES-CM, 96 bits for GCM. */
  readonly sessionSaltLength: number;
  /** Session authentication key length (labels 1 and 4), 0 for AEAD. */
  readonly authKeyLength: number;
  readonly rtpTagLength: number;
  readonly rtcpTagLength: number;
}

export const SRTP_SUITES: Readonly<Record<SrtpSuiteName, SrtpSuite>> = {
  AES_CM_128_HMAC_SHA1_80: {
    name: 'AES_CM_128_HMAC_SHA1_80', aead: false, masterKeyLength: 16, masterSaltLength: 14,
    sessionKeyLength: 16, sessionSaltLength: 14, authKeyLength: 20, rtpTagLength: 10, rtcpTagLength: 10,
  },
  AES_CM_128_HMAC_SHA1_32: {
    name: 'AES_CM_128_HMAC_SHA1_32', aead: false, masterKeyLength: 16, masterSaltLength: 14,
    sessionKeyLength: 16, sessionSaltLength: 14, authKeyLength: 20, rtpTagLength: 4, rtcpTagLength: 10,
  },
  AEAD_AES_128_GCM: {
    name: 'AEAD_AES_128_GCM', aead: true, masterKeyLength: 16, masterSaltLength: 12,
    sessionKeyLength: 16, sessionSaltLength: 12, authKeyLength: 0, rtpTagLength: 16, rtcpTagLength: 16,
  },
};

/** Our preference when we offer, strongest first. */
export const SRTP_SUITE_PREFERENCE: readonly SrtpSuiteName[] = [
  'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32',
];

export function isSrtpSuiteName(name: string): name is SrtpSuiteName {
  return Object.prototype.hasOwnProperty.call(SRTP_SUITES, name);
}
