/**
 * lib/evidence/seal + verify, and verify.sh: SPEC E1-E3, E6 for one recording.
 *
 * Verifies: sealing writes info, hash and signature files; `sha256sum -c` and
 * `shasum -a 256 -c` pass in the folder; openssl alone (x509 -pubkey, base64
 * -d, dgst -sha256 -verify) accepts the signature; verifyRecording and
 * verify.sh (under dash and bash --posix, with either checksum tool) pass; a
 * flipped byte in the audio, the info file, the hash file or the signature
 * makes both fail and name that file; missing files, a foreign certificate
 * and a missing certificate are reported; verify.sh removes its temp files.
 * Not verified here: the chain between recordings (chain.test.ts).
 */
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseInfoFile } from '../../lib/evidence/info-file.js';
import { sealRecording, type SealResult } from '../../lib/evidence/seal.js';
import { verifyBytes } from '../../lib/evidence/signature.js';
import { verifyRecording } from '../../lib/evidence/verify.js';
import { loadOrCreateKeystore, type Keystore } from '../../lib/keys/keystore.js';
import { baseNameFor, fakeWav, flipByte, hasTool, run, sampleInfo, tempDir, VERIFY_SH } from './helpers.js';

const tools = { openssl: hasTool('openssl'), sha256sum: hasTool('sha256sum'), shasum: hasTool('shasum'), dash: hasTool('dash'), bash: hasTool('bash') };
const shells: Array<[string, string[]]> = [];
if (tools.dash) shells.push(['dash', []]);
if (tools.bash) shells.push(['bash', ['--posix']]);
const sumTools = (['sha256sum', 'shasum'] as const).filter((x) => tools[x]);

const base = baseNameFor(1);
const keystoreDir = tempDir(t, 'callrec-keys-');
const keystore: Keystore = await loadOrCreateKeystore(keystoreDir, 'rec-01');

/** A sealed stereo recording with certificate.pem beside it, in a fresh folder. */
async function sealed(t: Parameters<typeof tempDir>[0], audio: string[] = [`${base}.wav`]): Promise<{ dir: string; seal: SealResult }> {
  const dir = tempDir(t);
  audio.forEach((name, i) => fakeWav(path.join(dir, name), 0.5, audio.length === 1 ? 2 : 1, i + 1));
  copyFileSync(path.join(keystoreDir, 'certificate.pem'), path.join(dir, 'certificate.pem'));
  const seal = await sealRecording({ dir, baseName: base, audioFiles: audio, info: sampleInfo(1), keystore, previous: undefined });
  return { dir, seal };
}

const escapeRe = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function verifySh(shell: [string, string[]], args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): ReturnType<typeof run> {
  return run(shell[0], [...shell[1], VERIFY_SH, ...args], { cwd, env });
}

t.test('seal writes the three evidence files', async (t) => {
  const { dir, seal } = await sealed(t);
  t.same(readdirSync(dir).sort(), [`${base}.wav`, `${base}_hash.txt`, `${base}_hash.txt.SHA256withRSA.sig`, `${base}_info.txt`, 'certificate.pem'].sort(), 'no temp files left');
  const info = parseInfoFile(readFileSync(seal.infoFile, 'utf8'));
  t.same(info.audioFiles, [`${base}.wav`]);
  t.equal(info.previousRecording, null);
  t.same(seal.hashes.map((h) => h.name), [`${base}_info.txt`, `${base}.wav`]);
  const hashText = readFileSync(seal.hashFile);
  t.equal(hashText.toString(), seal.hashes.map((h) => `${h.sha256}  ${h.name}\n`).join(''));
  const sigText = readFileSync(seal.sigFile, 'utf8');
  t.match(sigText, /^[A-Za-z0-9+/]{342}==\n$/, 'one base64 line of a 256-byte signature, LF');
  t.equal(sigText.trim(), seal.signature);
  t.ok(verifyBytes(hashText, seal.signature, keystore.certificatePem), 'Node verifies with the certificate');
  const result = await verifyRecording(path.join(dir, base));
  t.ok(result.ok, result.failures.join('\n'));
  t.equal(result.signature, 'valid');
  t.equal(result.certificate?.sha256, keystore.certificateSha256);
  t.equal(result.signatureBase64, seal.signature);
});

t.test('stock checksum tools pass in the recording folder', async (t) => {
  const { dir } = await sealed(t, [`${base}_caller.wav`, `${base}_callee.wav`]);
  for (const tool of sumTools) {
    const r = run(tool, [...(tool === 'shasum' ? ['-a', '256'] : []), '-c', `${base}_hash.txt`], { cwd: dir });
    t.equal(r.status, 0, `${tool}: ${r.stderr}`);
    t.equal(r.stdout, `${base}_info.txt: OK\n${base}_caller.wav: OK\n${base}_callee.wav: OK\n`, tool);
  }
});

t.test('openssl alone verifies the signature', { skip: tools.openssl ? false : 'openssl missing' }, async (t) => {
  const { dir } = await sealed(t);
  const sh = (script: string): ReturnType<typeof run> => run('sh', ['-c', script], { cwd: dir });
  t.equal(sh('openssl x509 -in certificate.pem -pubkey -noout > pub.pem').status, 0);
  t.equal(sh(`openssl base64 -d -A -in "${base}_hash.txt.SHA256withRSA.sig" -out sig.bin`).status, 0);
  t.equal(readFileSync(path.join(dir, 'sig.bin')).length, 256);
  const ok = sh(`openssl dgst -sha256 -verify pub.pem -signature sig.bin "${base}_hash.txt"`);
  t.equal(ok.status, 0);
  t.match(ok.stdout, /Verified OK/);
  // coreutils base64 and plain `openssl base64 -d` (the line ends in LF) read it too.
  t.equal(sh(`base64 -d "${base}_hash.txt.SHA256withRSA.sig" | cmp - sig.bin`).status, 0, 'base64 -d');
  t.equal(sh(`openssl base64 -d -in "${base}_hash.txt.SHA256withRSA.sig" | cmp - sig.bin`).status, 0, 'openssl base64 -d');
  flipByte(path.join(dir, `${base}_hash.txt`), 0);
  const bad = sh(`openssl dgst -sha256 -verify pub.pem -signature sig.bin "${base}_hash.txt"`);
  t.equal(bad.status, 1);
  t.match(bad.stdout, /Verification failure/);
});

t.test('verify.sh passes on an intact recording', { skip: tools.openssl && shells.length > 0 ? false : 'openssl or a shell missing' }, async (t) => {
  const { dir } = await sealed(t);
  const parent = path.dirname(dir);
  for (const shell of shells) {
    for (const tool of sumTools) {
      const env = { ...process.env, CALLREC_SUM_TOOL: tool };
      const here = verifySh(shell, [base, 'certificate.pem'], dir, env);
      t.equal(here.status, 0, `${shell[0]} ${tool}: ${here.stdout}${here.stderr}`);
      t.match(here.stdout, /RESULT: intact/);
      t.match(here.stdout, new RegExp(`OK +${escapeRe(`${base}.wav`)}: checksum matches \\(${tool}\\)`));
      t.match(here.stdout, /SHA256withRSA\.sig: valid signature/);
      // From elsewhere, the certificate found beside the recording.
      const away = verifySh(shell, [path.join(path.basename(dir), base)], parent, env);
      t.equal(away.status, 0, `${shell[0]} ${tool} from the parent folder: ${away.stdout}${away.stderr}`);
    }
  }
  const usage = verifySh(shells[0]!, [], dir);
  t.equal(usage.status, 2, 'usage error exits 2');
});

const tamperCases: Array<[string, string, number]> = [
  ['audio', `${base}.wav`, -1],
  ['info file', `${base}_info.txt`, 10],
  ['hash file', `${base}_hash.txt`, 3],
  ['signature', `${base}_hash.txt.SHA256withRSA.sig`, 100],
];

for (const [what, file, offset] of tamperCases) {
  t.test(`one flipped byte in the ${what} fails and names ${file}`, async (t) => {
    const { dir } = await sealed(t);
    flipByte(path.join(dir, file), offset);
    const result = await verifyRecording(path.join(dir, base));
    t.notOk(result.ok);
    t.ok(result.failures.some((f) => f.startsWith(`${file}: `)), `named: ${result.failures.join(' | ')}`);
    // A flipped base64 character may leave the alphabet: then the file is malformed rather than altered.
    t.match(result.files.find((c) => c.file === file)?.status, /^(altered|malformed)$/);
    if (what === 'hash file') t.equal(result.signature, 'hash-file-altered');
    if (what === 'signature') t.match(result.signature, /^(signature-altered|malformed)$/);
    if (what === 'audio' || what === 'info file') {
      t.equal(result.failures.length, 1, 'only that file');
      t.equal(result.signature, 'valid');
    }
    if (!tools.openssl) return;
    for (const shell of shells) {
      const r = verifySh(shell, [base], dir);
      t.equal(r.status, 1, `${shell[0]} exits 1`);
      t.match(r.stdout, new RegExp(`^FAILED +${escapeRe(file)}: `, 'm'), `${shell[0]} names ${file}`);
      t.match(r.stdout, /RESULT: NOT INTACT/);
    }
  });
}

t.test('missing files are named', async (t) => {
  const { dir } = await sealed(t);
  unlinkSync(path.join(dir, `${base}.wav`));
  let result = await verifyRecording(path.join(dir, base));
  t.same(result.failures, [`${base}.wav: missing`]);
  if (tools.openssl && shells.length > 0) {
    const r = verifySh(shells[0]!, [base], dir);
    t.equal(r.status, 1);
    t.match(r.stdout, new RegExp(`FAILED +${escapeRe(`${base}.wav`)}: missing or unreadable`));
  }
  unlinkSync(path.join(dir, `${base}_hash.txt.SHA256withRSA.sig`));
  result = await verifyRecording(path.join(dir, base));
  t.equal(result.signature, 'missing');
  t.ok(result.failures.includes(`${base}_hash.txt.SHA256withRSA.sig: missing`));
});

t.test('a foreign certificate or none', async (t) => {
  const { dir } = await sealed(t);
  const otherDir = tempDir(t, 'callrec-other-keys-');
  const other = await loadOrCreateKeystore(otherDir, 'rec-99');
  const foreign = await verifyRecording(path.join(dir, base), other.certificatePem);
  t.notOk(foreign.ok);
  t.equal(foreign.signature, 'signature-altered', 'cannot tell another key from an altered signature');
  t.equal(foreign.certificate?.sha256, other.certificateSha256);
  if (tools.openssl && shells.length > 0) {
    const r = verifySh(shells[0]!, [base, path.join(otherDir, 'certificate.pem')], dir);
    t.equal(r.status, 1);
    t.match(r.stdout, /SHA256withRSA\.sig: not a signature/);
  }
  unlinkSync(path.join(dir, 'certificate.pem'));
  const none = await verifyRecording(path.join(dir, base));
  t.notOk(none.ok);
  t.equal(none.signature, 'no-certificate');
  t.match(none.failures.join('\n'), /no certificate\.pem beside the recording/);
  // Found in a folder above when allowed.
  const nested = path.join(dir, 'a', 'b');
  mkdirSync(nested, { recursive: true });
  for (const f of readdirSync(dir)) if (f.startsWith(base)) cpSync(path.join(dir, f), path.join(nested, f));
  copyFileSync(path.join(keystoreDir, 'certificate.pem'), path.join(dir, 'certificate.pem'));
  t.ok((await verifyRecording(path.join(nested, base), undefined, { searchCertificateUpTo: dir })).ok);
});

t.test('a re-wrapped or CRLF signature file still verifies', async (t) => {
  const { dir, seal } = await sealed(t);
  writeFileSync(seal.sigFile, `${seal.signature.replace(/(.{64})/g, '$1\r\n')}\r\n`);
  t.ok((await verifyRecording(path.join(dir, base))).ok);
  if (tools.openssl && shells.length > 0) t.equal(verifySh(shells[0]!, [base], dir).status, 0);
});

t.test('the recording base may be given as one of its files', async (t) => {
  const { dir } = await sealed(t);
  for (const suffix of ['_info.txt', '_hash.txt', '_hash.txt.SHA256withRSA.sig']) {
    const r = await verifyRecording(path.join(dir, `${base}${suffix}`));
    t.ok(r.ok, suffix);
    t.equal(r.baseName, base);
  }
});

t.test('verify.sh cleans up its temp files', { skip: tools.openssl && shells.length > 0 ? false : 'openssl or a shell missing' }, async (t) => {
  const { dir } = await sealed(t);
  const tmp = tempDir(t, 'callrec-tmp-');
  for (const shell of shells) {
    t.equal(verifySh(shell, [base], dir, { ...process.env, TMPDIR: tmp }).status, 0);
    flipByte(path.join(dir, `${base}_hash.txt.SHA256withRSA.sig`), 50);
    t.equal(verifySh(shell, [base], dir, { ...process.env, TMPDIR: tmp }).status, 1);
    flipByte(path.join(dir, `${base}_hash.txt.SHA256withRSA.sig`), 50);
    t.same(readdirSync(tmp), [], `${shell[0]}: nothing left in TMPDIR`);
  }
});
