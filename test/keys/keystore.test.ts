/**
 * lib/keys/keystore: SPEC E4, the installation's signing key.
 *
 * Verifies: first start makes keystore.p12 + keystore.pass (mode 0600) and
 * certificate.pem; openssl reads the 3DES PKCS#12 with the password file
 * (OpenSSL 3 without -legacy) and the certificate (CN "callrec <instance>",
 * 100 years, keyUsage digitalSignature + nonRepudiation, positive serial,
 * SHA-256 fingerprint as reported); a later start loads the same key; a
 * damaged, incomplete or wrongly-passworded keystore throws KeystoreError and
 * never makes a new key; a lost certificate.pem is rewritten from the keystore.
 * Not verified here: two processes creating a keystore at the same moment.
 */
import { sign, verify } from 'node:crypto';
import { existsSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { KeystoreError, loadOrCreateKeystore, type Keystore } from '../../lib/keys/keystore.js';
import { hasTool, run, tempDir } from '../evidence/helpers.js';

const haveOpenssl = hasTool('openssl');

t.test('first start creates the keystore, password file and certificate', async (t) => {
  const dir = path.join(tempDir(t), 'var', 'keys');
  const ks = await loadOrCreateKeystore(dir, 'rec-01');
  t.equal(ks.created, true);
  t.equal(statSync(path.join(dir, 'keystore.p12')).mode & 0o777, 0o600, 'keystore.p12 is 0600');
  t.equal(statSync(path.join(dir, 'keystore.pass')).mode & 0o777, 0o600, 'keystore.pass is 0600');
  t.equal(statSync(path.join(dir, 'certificate.pem')).mode & 0o777, 0o644, 'certificate.pem is public');
  t.equal(readFileSync(path.join(dir, 'certificate.pem'), 'utf8'), ks.certificatePem);
  t.match(readFileSync(path.join(dir, 'keystore.pass'), 'utf8'), /^[A-Za-z0-9_-]{32}\n$/, 'one-line random password');
  t.equal(ks.subjectCn, 'callrec rec-01');
  t.match(ks.certificateSha256, /^[0-9a-f]{64}$/);
  t.equal(ks.privateKey.type, 'private');
  t.equal(ks.privateKey.asymmetricKeyType, 'rsa');
  t.equal(ks.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.equal(ks.notAfter.getUTCFullYear() - ks.notBefore.getUTCFullYear(), 100);
  t.ok(Math.abs(ks.notBefore.getTime() - Date.now()) < 60_000, 'valid from now');
  t.same(ks.warnings, []);
  const data = Buffer.from('hash file bytes');
  t.ok(verify('sha256', data, ks.publicKey, sign('sha256', data, ks.privateKey)), 'key pair signs and verifies');
});

t.test('openssl reads the keystore and the certificate', { skip: haveOpenssl ? false : 'openssl missing' }, async (t) => {
  const dir = tempDir(t);
  const ks = await loadOrCreateKeystore(dir, 'rec-01');

  const info = run('openssl', ['pkcs12', '-info', '-in', 'keystore.p12', '-passin', 'file:keystore.pass', '-nokeys'], { cwd: dir });
  t.equal(info.status, 0, `openssl pkcs12 -info without -legacy: ${info.stderr}`);
  t.match(info.stdout, /subject=CN ?= ?callrec rec-01/);
  t.match(info.stdout, /-----BEGIN CERTIFICATE-----/);
  t.match(info.stderr, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/, 'the key bag is 3DES');
  t.match(info.stderr, /MAC: sha1/);

  const key = run('openssl', ['pkcs12', '-in', 'keystore.p12', '-passin', 'file:keystore.pass', '-nocerts', '-nodes'], { cwd: dir });
  t.equal(key.status, 0, 'the password file opens the private key');
  t.match(key.stdout, /-----BEGIN PRIVATE KEY-----/);
  const wrong = run('openssl', ['pkcs12', '-info', '-in', 'keystore.p12', '-passin', 'pass:wrong', '-nokeys'], { cwd: dir });
  t.not(wrong.status, 0, 'a wrong password is refused');

  const x = run('openssl', ['x509', '-in', 'certificate.pem', '-noout', '-subject', '-enddate', '-serial', '-fingerprint', '-sha256', '-ext', 'keyUsage'], { cwd: dir });
  t.equal(x.status, 0, x.stderr);
  t.match(x.stdout, /subject=CN ?= ?callrec rec-01/);
  const end = /notAfter=(.+)/.exec(x.stdout)?.[1] ?? '';
  t.equal(new Date(end).getUTCFullYear(), new Date().getUTCFullYear() + 100, `end date ${end}`);
  t.match(x.stdout, /Digital Signature, Non Repudiation/);
  const serial = /serial=([0-9A-F]+)/.exec(x.stdout)?.[1] ?? '';
  t.ok(serial.length >= 2 && parseInt(serial.slice(0, 2), 16) < 0x80, `serial ${serial} is positive`);
  const fp = /Fingerprint=([0-9A-F:]+)/i.exec(x.stdout)?.[1] ?? '';
  t.equal(fp.replace(/:/g, '').toLowerCase(), ks.certificateSha256, 'fingerprint as openssl computes it');
});

t.test('a later start loads the same key', async (t) => {
  const dir = tempDir(t);
  const first = await loadOrCreateKeystore(dir, 'rec-01');
  const p12 = readFileSync(path.join(dir, 'keystore.p12'));
  const second: Keystore = await loadOrCreateKeystore(dir, 'another-id');
  t.equal(second.created, false);
  t.equal(second.certificateSha256, first.certificateSha256);
  t.equal(second.certificatePem, first.certificatePem);
  t.equal(second.subjectCn, 'callrec rec-01', 'the CN stays; the instance id only names a new key');
  t.equal(second.serialNumber, first.serialNumber);
  t.same(second.notAfter, first.notAfter);
  t.ok(readFileSync(path.join(dir, 'keystore.p12')).equals(p12), 'keystore untouched');
  const data = Buffer.from('x');
  t.ok(verify('sha256', data, first.publicKey, sign('sha256', data, second.privateKey)), 'same private key');
});

t.test('a damaged keystore throws KeystoreError and no new key is made', async (t) => {
  const dir = tempDir(t);
  await loadOrCreateKeystore(dir, 'rec-01');
  const file = path.join(dir, 'keystore.p12');
  const size = statSync(file).size;
  truncateSync(file, Math.floor(size / 2));
  const truncated = readFileSync(file);
  await t.rejects(loadOrCreateKeystore(dir, 'rec-01'), KeystoreError);
  await t.rejects(loadOrCreateKeystore(dir, 'rec-01'), { name: 'KeystoreError', reason: 'damaged', file });
  t.ok(readFileSync(file).equals(truncated), 'the damaged file is left for the operator');

  writeFileSync(file, Buffer.from('not a pkcs12 file at all'));
  await t.rejects(loadOrCreateKeystore(dir, 'rec-01'), { reason: 'damaged', message: /keystore\.p12/ });
});

t.test('a missing password file with an existing keystore throws', async (t) => {
  const dir = tempDir(t);
  await loadOrCreateKeystore(dir, 'rec-01');
  unlinkSync(path.join(dir, 'keystore.pass'));
  await t.rejects(loadOrCreateKeystore(dir, 'rec-01'), { name: 'KeystoreError', reason: 'incomplete', message: /keystore\.pass is missing/ });
  t.notOk(existsSync(path.join(dir, 'keystore.pass')), 'no new password made');
});

t.test('a missing keystore with an existing password file throws', async (t) => {
  const dir = tempDir(t);
  await loadOrCreateKeystore(dir, 'rec-01');
  unlinkSync(path.join(dir, 'keystore.p12'));
  await t.rejects(loadOrCreateKeystore(dir, 'rec-01'), { name: 'KeystoreError', reason: 'incomplete', message: /keystore\.p12 is missing/ });
  t.notOk(existsSync(path.join(dir, 'keystore.p12')), 'no new key made');
});

t.test('a wrong or empty password throws', async (t) => {
  const dir = tempDir(t);
  await loadOrCreateKeystore(dir, 'rec-01');
  writeFileSync(path.join(dir, 'keystore.pass'), 'not-the-password\n', { mode: 0o600 });
  await t.rejects(loadOrCreateKeystore(dir, 'rec-01'), { name: 'KeystoreError', reason: 'password' });
  writeFileSync(path.join(dir, 'keystore.pass'), '');
  await t.rejects(loadOrCreateKeystore(dir, 'rec-01'), { name: 'KeystoreError', reason: 'damaged', message: /one-line password/ });
});

t.test('certificate.pem is rewritten from the keystore when lost or changed', async (t) => {
  const dir = tempDir(t);
  const ks = await loadOrCreateKeystore(dir, 'rec-01');
  const certFile = path.join(dir, 'certificate.pem');
  unlinkSync(certFile);
  const again = await loadOrCreateKeystore(dir, 'rec-01');
  t.equal(readFileSync(certFile, 'utf8'), ks.certificatePem);
  t.same(again.warnings, []);
  writeFileSync(certFile, 'tampered');
  const third = await loadOrCreateKeystore(dir, 'rec-01');
  t.equal(readFileSync(certFile, 'utf8'), ks.certificatePem);
  t.match(third.warnings.join('\n'), /certificate\.pem differed/);
});

t.test('secret files readable by others give a warning', async (t) => {
  const dir = tempDir(t);
  await loadOrCreateKeystore(dir, 'rec-01');
  const { chmodSync } = await import('node:fs');
  chmodSync(path.join(dir, 'keystore.pass'), 0o644);
  const ks = await loadOrCreateKeystore(dir, 'rec-01');
  t.match(ks.warnings.join('\n'), /keystore\.pass has mode 644/);
});
