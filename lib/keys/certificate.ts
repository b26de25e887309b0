import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/** SPEC E4: the verification certificate is valid for 100 years from its creation. */
export const CERTIFICATE_YEARS = 100;

/** The subject common name of an installation's certificate: "callrec <instance id>". */
export function certificateCommonName(instanceId: string): string {
  return `callrec ${instanceId}`;
}

/**
 * A random positive serial number of 16 bytes as hex (RFC 5280 §4.1.2.2:
 * positive, at most 20 octets). The top bit is cleared so the DER INTEGER is
 * positive without a leading zero byte, and the first byte is never zero.
 */
export function randomSerialHex(): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial.toString('hex');
}

/** Node key objects -> node-forge RSA keys (through PEM; forge signs the certificate). */
export function toForgeKeys(privateKey: KeyObject, publicKey: KeyObject): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const priv = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
  const pub = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) as forge.pki.rsa.PublicKey;
  return { privateKey: priv, publicKey: pub };
}

/**
 * Makes the self-signed signing certificate of an installation: subject =
 * issuer = CN "callrec <instanceId>", valid from now (whole seconds) for 100
 * years, keyUsage digitalSignature + nonRepudiation (critical), not a CA,
 * signed with SHA-256. Years from 2050 on are written as GeneralizedTime
 * (RFC 5280 §4.1.2.5), which forge and openssl handle.
 */
export function createSelfSignedCertificate(
  keys: { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey },
  instanceId: string,
  now: Date = new Date(),
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERTIFICATE_YEARS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const attrs = [{ name: 'commonName', value: certificateCommonName(instanceId) }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, nonRepudiation: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return cert;
}

/** DER bytes of a forge certificate. */
export function certificateDer(cert: forge.pki.Certificate): Buffer {
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

/** SHA-256 of the certificate's DER as lowercase hex without colons (what `openssl x509 -fingerprint -sha256` shows, normalised). */
export function certificateSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** The subject common name of a forge certificate, or '' when it has none. */
export function subjectCommonName(cert: forge.pki.Certificate): string {
  const field = cert.subject.getField('CN') as { value?: unknown } | null;
  return typeof field?.value === 'string' ? field.value : '';
}
