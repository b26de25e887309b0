import { createPrivateKey, generateKeyPair, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { writeFileAtomic } from './atomic-file.js';
import {
  certificateDer,
  certificateSha256,
  createSelfSignedCertificate,
  subjectCommonName,
  toForgeKeys,
} from './certificate.js';

/**
 * SPEC E4: one RSA-2048 signing key per installation, made on first start,
 * kept for good.
 *
 *   <dir>/keystore.p12      PKCS#12: private key (pbeWithSHA1And3-KeyTripleDES-CBC)
 *                           + certificate, MAC'd; mode 0600
 *   <dir>/keystore.pass     the random per-installation password, one line; mode 0600
 *   <dir>/certificate.pem   the public verification certificate (PEM); mode 0644
 *
 * Check by hand: `openssl pkcs12 -info -in keystore.p12 -passin file:keystore.pass -nokeys`.
 *
 * The key is never replaced silently: a new one is made only when neither
 * keystore.p12 nor keystore.pass exists. Anything else that is wrong (one of
 * the two missing, unreadable, damaged, password mismatch, key and
 * certificate not matching) throws KeystoreError, because a new key would
 * break the recording chain and the published certificate.
 */

export const KEYSTORE_FILE = 'keystore.p12';
export const PASSWORD_FILE = 'keystore.pass';
export const CERTIFICATE_FILE = 'certificate.pem';
const FRIENDLY_NAME = 'callrec signing key';

export type KeystoreErrorReason = 'incomplete' | 'unreadable' | 'damaged' | 'password' | 'mismatch';

export class KeystoreError extends Error {
  override readonly name = 'KeystoreError';
  constructor(
    readonly reason: KeystoreErrorReason,
    /** The file at fault. */
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface Keystore {
  readonly dir: string;
  readonly keystoreFile: string;
  readonly passwordFile: string;
  readonly certificateFile: string;
  /** The verification certificate, PEM (what `callrec cert` prints). */
  readonly certificatePem: string;
  /** SHA-256 of the certificate's DER, lowercase hex, no colons. */
  readonly certificateSha256: string;
  /** For `crypto.sign('sha256', data, privateKey)`: RSASSA-PKCS1-v1_5. */
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Subject common name, "callrec <instanceId>". */
  readonly subjectCn: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** True when this call made the key (first start). */
  readonly created: boolean;
  /** Non-fatal findings, e.g. a secret file readable by others, certificate.pem rewritten. */
  readonly warnings: readonly string[];
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * Loads the installation's keystore from `dir`, or makes it when neither
 * keystore.p12 nor keystore.pass exists there. `instanceId` only goes into a
 * new certificate's CN; an existing keystore is loaded whatever its CN.
 */
export async function loadOrCreateKeystore(dir: string, instanceId: string): Promise<Keystore> {
  const keystoreFile = path.join(dir, KEYSTORE_FILE);
  const passwordFile = path.join(dir, PASSWORD_FILE);
  const [hasKeystore, hasPassword] = await Promise.all([exists(keystoreFile), exists(passwordFile)]);
  if (!hasKeystore && !hasPassword) return createKeystore(dir, instanceId);
  if (!hasKeystore) {
    throw new KeystoreError('incomplete', keystoreFile,
      `${keystoreFile} is missing but ${passwordFile} exists. Restore ${KEYSTORE_FILE} from a backup; ` +
      `only if this installation never signed a recording (an interrupted first start) remove ${passwordFile} to make a new key`);
  }
  if (!hasPassword) {
    throw new KeystoreError('incomplete', passwordFile,
      `${passwordFile} is missing but ${keystoreFile} exists: the key cannot be opened. Restore ${PASSWORD_FILE} from a backup`);
  }
  return loadKeystore(dir);
}

/** Loads an existing keystore; throws KeystoreError when anything is missing or wrong. */
export async function loadKeystore(dir: string): Promise<Keystore> {
  const keystoreFile = path.join(dir, KEYSTORE_FILE);
  const passwordFile = path.join(dir, PASSWORD_FILE);
  const warnings: string[] = [];
  const p12 = await readOrThrow(keystoreFile);
  const passwordText = (await readOrThrow(passwordFile)).toString('utf8');
  const password = passwordText.replace(/\r?\n$/, '');
  if (password === '' || /[\r\n]/.test(password)) {
    throw new KeystoreError('damaged', passwordFile, `${passwordFile} does not hold a one-line password`);
  }
  for (const file of [keystoreFile, passwordFile]) {
    const mode = (await stat(file)).mode & 0o777;
    if ((mode & 0o077) !== 0) warnings.push(`${file} has mode ${mode.toString(8)}; it should be 600`);
  }

  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(forge.util.createBuffer(p12.toString('binary')));
  } catch (err) {
    throw new KeystoreError('damaged', keystoreFile, `${keystoreFile} is not a readable PKCS#12 file (${errorText(err)})`, { cause: err });
  }
  let pfx: forge.pkcs12.Pkcs12Pfx;
  try {
    pfx = forge.pkcs12.pkcs12FromAsn1(asn1, true, password);
  } catch (err) {
    const text = errorText(err);
    const reason: KeystoreErrorReason = /MAC could not be verified|Invalid password/i.test(text) ? 'password' : 'damaged';
    const message = reason === 'password'
      ? `${keystoreFile} cannot be opened with the password in ${passwordFile} (wrong password, or the file is damaged)`
      : `${keystoreFile} is damaged (${text})`;
    throw new KeystoreError(reason, keystoreFile, message, { cause: err });
  }
  const keyBags = pfx.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? [];
  const certBags = pfx.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  const forgeKey = keyBags[0]?.key;
  const cert = certBags[0]?.cert;
  if (forgeKey === undefined || keyBags.length !== 1) {
    throw new KeystoreError('damaged', keystoreFile, `${keystoreFile} holds ${keyBags.length} private keys; expected exactly 1`);
  }
  if (cert === undefined || certBags.length !== 1) {
    throw new KeystoreError('damaged', keystoreFile, `${keystoreFile} holds ${certBags.length} certificates; expected exactly 1`);
  }

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(forge.pki.privateKeyToPem(forgeKey));
  } catch (err) {
    throw new KeystoreError('damaged', keystoreFile, `the private key in ${keystoreFile} is unusable (${errorText(err)})`, { cause: err });
  }
  const certificatePem = forge.pki.certificateToPem(cert);
  const x509 = new X509Certificate(certificatePem);
  if (!x509.checkPrivateKey(privateKey)) {
    throw new KeystoreError('mismatch', keystoreFile, `the certificate in ${keystoreFile} does not belong to its private key`);
  }
  const certFile = path.join(dir, CERTIFICATE_FILE);
  const onDisk = await readFile(certFile, 'utf8').catch(() => undefined);
  if (onDisk === undefined || normalisePem(onDisk) !== normalisePem(certificatePem)) {
    // The keystore is authoritative; certificate.pem is a public copy for auditors.
    if (onDisk !== undefined) warnings.push(`${certFile} differed from the keystore's certificate and was rewritten`);
    await writeFileAtomic(certFile, certificatePem, { mode: 0o644 });
  }
  return describe(dir, privateKey, x509.publicKey, cert, certificatePem, false, warnings);
}

async function createKeystore(dir: string, instanceId: string): Promise<Keystore> {
  if (instanceId.trim() === '' || /[\r\n]/.test(instanceId)) throw new TypeError(`instance id must be one non-empty line, got ${JSON.stringify(instanceId)}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Native key generation (forge's pure-JS prime search would block for seconds).
  const pair = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const keys = toForgeKeys(pair.privateKey, pair.publicKey);
  const cert = createSelfSignedCertificate(keys, instanceId);
  // 24 random bytes as base64url: 32 characters, no shell or openssl specials.
  const password = randomBytes(24).toString('base64url');
  const p12Asn1 = forge.pkcs12.toPkcs12Asn1(keys.privateKey, [cert], password, {
    algorithm: '3des',
    friendlyName: FRIENDLY_NAME,
  });
  const p12 = Buffer.from(forge.asn1.toDer(p12Asn1).getBytes(), 'binary');
  const certificatePem = forge.pki.certificateToPem(cert);

  // Password first: a crash before the keystore lands leaves only keystore.pass,
  // which names no key that ever signed anything. `exclusive`: never overwrite a
  // keystore another process made meanwhile.
  await writeFileAtomic(path.join(dir, PASSWORD_FILE), `${password}\n`, { mode: 0o600, exclusive: true });
  await writeFileAtomic(path.join(dir, KEYSTORE_FILE), p12, { mode: 0o600, exclusive: true });
  await writeFileAtomic(path.join(dir, CERTIFICATE_FILE), certificatePem, { mode: 0o644 });
  // Read back what was written: a key that cannot be reopened must fail now, not after signing.
  const loaded = await loadKeystore(dir);
  if (loaded.certificateSha256 !== certificateSha256(certificateDer(cert))) {
    throw new KeystoreError('mismatch', loaded.keystoreFile, `${loaded.keystoreFile} does not hold the key just made (another process made one at the same time?)`);
  }
  return { ...loaded, created: true };
}

function describe(
  dir: string,
  privateKey: KeyObject,
  publicKey: KeyObject,
  cert: forge.pki.Certificate,
  certificatePem: string,
  created: boolean,
  warnings: string[],
): Keystore {
  return {
    dir,
    keystoreFile: path.join(dir, KEYSTORE_FILE),
    passwordFile: path.join(dir, PASSWORD_FILE),
    certificateFile: path.join(dir, CERTIFICATE_FILE),
    certificatePem,
    certificateSha256: certificateSha256(certificateDer(cert)),
    privateKey,
    publicKey,
    subjectCn: subjectCommonName(cert),
    serialNumber: cert.serialNumber,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    created,
    warnings,
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new KeystoreError('unreadable', file, `${file} cannot be checked (${errorText(err)})`, { cause: err });
  }
}

async function readOrThrow(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new KeystoreError('unreadable', file, `${file} cannot be read (${errorText(err)})`, { cause: err });
  }
}

function normalisePem(pem: string): string {
  return pem.replace(/\r\n/g, '\n').trim();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
