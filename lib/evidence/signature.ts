import { constants, createHash, createPublicKey, publicDecrypt, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';

/**
 * SPEC E3: `<base>_hash.txt.SHA256withRSA.sig`, the RSASSA-PKCS1-v1_5
 * SHA-256 signature (Java's "SHA256withRSA") of the hash file's bytes, as
 * base64 on one line plus LF (344 characters for RSA-2048).
 *
 * Decoding with stock tools (OpenSSL 3.0.22, checked):
 *   `base64 -d` (coreutils)          single line, with or without the LF: ok
 *   `openssl base64 -d`              ok only WITH the trailing LF; without it the
 *                                    output is silently empty
 *   `openssl base64 -d -A`           one line, with or without LF: ok (needs the
 *                                    whole text on one line; verify.sh strips
 *                                    line breaks first)
 * Then: `openssl dgst -sha256 -verify pub.pem -signature sig.bin <base>_hash.txt`.
 */

export const SIGNATURE_SUFFIX = '.SHA256withRSA.sig';

export class SignatureFileError extends Error {
  override readonly name = 'SignatureFileError';
}

/** Signs `data` (PKCS#1 v1.5, SHA-256) and returns the signature as base64. */
export function signBytes(data: Uint8Array, privateKey: KeyObject): string {
  return sign('sha256', data, privateKey).toString('base64');
}

/** The text of a signature file: the base64 on one line, then LF. */
export function formatSignatureFile(signatureBase64: string): string {
  return `${signatureBase64}\n`;
}

/**
 * The base64 of a signature file: whitespace and line breaks removed (a file
 * re-wrapped or given CRLF by a copy still reads). Throws SignatureFileError
 * when what is left is not base64.
 */
export function parseSignatureFile(text: string): string {
  const b64 = text.replace(/\s+/g, '');
  if (b64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new SignatureFileError('not a base64 signature');
  }
  return b64;
}

/** A public key from a PEM certificate, a PEM public key, or a key object. */
export function publicKeyOf(key: string | KeyObject | X509Certificate): KeyObject {
  if (key instanceof X509Certificate) return key.publicKey;
  if (typeof key !== 'string') return key.type === 'private' ? createPublicKey(key) : key;
  return key.includes('BEGIN CERTIFICATE') ? new X509Certificate(key).publicKey : createPublicKey(key);
}

/** True when `signatureBase64` is a valid signature of `data` under `key`. */
export function verifyBytes(data: Uint8Array, signatureBase64: string, key: string | KeyObject | X509Certificate): boolean {
  const signature = Buffer.from(signatureBase64, 'base64');
  try {
    return verify('sha256', data, publicKeyOf(key), signature);
  } catch {
    return false;
  }
}

/**
 * Why a signature does not verify. PKCS#1 v1.5 signatures can be opened with
 * the public key: when the result is a well-padded SHA-256 DigestInfo, the
 * signature is genuine and it is the data that changed ('data-altered');
 * otherwise the signature bytes were changed or another key signed
 * ('signature-altered'). A forged signature that decodes to valid padding is
 * as hard to make as a real one, so the split is reliable.
 */
export type SignatureDiagnosis = 'valid' | 'data-altered' | 'signature-altered';

/** DER prefix of DigestInfo { sha256, NULL } (RFC 8017 §9.2, note 1). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export function diagnoseSignature(data: Uint8Array, signatureBase64: string, key: string | KeyObject | X509Certificate): SignatureDiagnosis {
  if (verifyBytes(data, signatureBase64, key)) return 'valid';
  let opened: Buffer;
  try {
    opened = publicDecrypt({ key: publicKeyOf(key), padding: constants.RSA_PKCS1_PADDING }, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return 'signature-altered';
  }
  const wellFormed = opened.length === SHA256_DIGEST_INFO.length + 32 && opened.subarray(0, SHA256_DIGEST_INFO.length).equals(SHA256_DIGEST_INFO);
  if (!wellFormed) return 'signature-altered';
  // Genuine signature of something else: of the data as it was when signed.
  const digest = createHash('sha256').update(data).digest();
  return opened.subarray(SHA256_DIGEST_INFO.length).equals(digest) ? 'valid' : 'data-altered';
}
