/**
 * lib/evidence/chain + verifyChain: SPEC E5 (hash chain), E6 (`verify
 * --chain`), A4 (retention keeps the chain verifiable).
 *
 * Verifies: five recordings sealed in a row, spread over date folders, verify
 * as one chain in order with the last as head; deleting the 3rd names it as a
 * gap (referenced by the 4th); the same deletion listed as "deleted by
 * retention" is reported as deleted and passes; a 4th whose Previous-Signature
 * line was changed (and then re-hashed and re-signed with the real key, so
 * the recording itself verifies) is a broken link; two successors of one
 * recording are a fork; an altered recording inside the chain is named with
 * its path; link loops are unreachable; a missing expected head is a gap; an
 * empty folder fails.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { analyzeChain, type ChainNode } from '../../lib/evidence/chain.js';
import { formatHashFile, sha256Bytes, sha256File } from '../../lib/evidence/hash-file.js';
import { evidenceFileNames, sealRecording, type PreviousLink } from '../../lib/evidence/seal.js';
import { formatSignatureFile, signBytes } from '../../lib/evidence/signature.js';
import { verifyChain, verifyRecording } from '../../lib/evidence/verify.js';
import { loadOrCreateKeystore, type Keystore } from '../../lib/keys/keystore.js';
import { baseNameFor, fakeWav, flipByte, sampleInfo, tempDir } from './helpers.js';

const keystoreDir = tempDir(t, 'callrec-keys-');
const keystore: Keystore = await loadOrCreateKeystore(keystoreDir, 'rec-01');

interface Sealed {
  folder: string;
  names: string[];
  dirs: string[];
  signatures: string[];
}

/** Seals `count` recordings in a row, each linking the previous; folders day1/ day1/ day2/ ... */
async function sealChain(t: Parameters<typeof tempDir>[0], count = 5, certInFolder = true): Promise<Sealed> {
  const folder = tempDir(t);
  if (certInFolder) writeFileSync(path.join(folder, 'certificate.pem'), keystore.certificatePem);
  const out: Sealed = { folder, names: [], dirs: [], signatures: [] };
  let previous: PreviousLink | undefined;
  for (let n = 1; n <= count; n++) {
    const dir = path.join(folder, '2026', '11', n <= 2 ? '22' : '23');
    mkdirSync(dir, { recursive: true });
    const baseName = baseNameFor(n);
    fakeWav(path.join(dir, `${baseName}.wav`), 0.2, 2, n);
    const seal = await sealRecording({ dir, baseName, audioFiles: [`${baseName}.wav`], info: sampleInfo(n), keystore, previous });
    previous = { baseName, signature: seal.signature };
    out.names.push(baseName);
    out.dirs.push(dir);
    out.signatures.push(seal.signature);
  }
  return out;
}

function removeRecording(chain: Sealed, i: number): void {
  const base = chain.names[i]!;
  const names = evidenceFileNames(base);
  for (const f of [names.info, names.hash, names.sig, `${base}.wav`]) rmSync(path.join(chain.dirs[i]!, f));
}

t.test('five recordings in a row verify as one chain', async (t) => {
  const chain = await sealChain(t);
  const result = await verifyChain(chain.folder);
  t.ok(result.ok, result.failures.join('\n'));
  t.same(result.order, chain.names);
  t.same(result.segments, [chain.names]);
  t.equal(result.head, chain.names[4]);
  t.same(result.gaps, []);
  t.same(result.brokenLinks, []);
  t.same(result.forks, []);
  t.same(result.unreachable, []);
  t.equal(result.recordings.length, 5);
  t.ok(result.recordings.every((r) => r.ok && r.certificate?.sha256 === keystore.certificateSha256));
  // Each info file names its predecessor and that one's signature.
  t.equal(result.recordings[0]!.info?.previousRecording, null);
  t.equal(result.recordings[3]!.info?.previousRecording, chain.names[2]);
  t.equal(result.recordings[3]!.info?.previousSignature, chain.signatures[2]);
});

t.test('a deleted recording is a named gap', async (t) => {
  const chain = await sealChain(t);
  removeRecording(chain, 2);
  const result = await verifyChain(chain.folder);
  t.notOk(result.ok);
  t.same(result.gaps, [{ missing: chain.names[2], referencedBy: chain.names[3] }]);
  t.same(result.segments, [chain.names.slice(0, 2), chain.names.slice(3)]);
  t.ok(result.failures.some((f) => f.includes(`gap: ${chain.names[2]} is missing`)), result.failures.join('\n'));
  t.same(result.brokenLinks, []);
  t.same(result.deleted, []);
});

t.test('a recording deleted by retention is reported as deleted, not missing', async (t) => {
  const chain = await sealChain(t);
  removeRecording(chain, 0);
  removeRecording(chain, 1);
  removeRecording(chain, 2);
  const result = await verifyChain(chain.folder, undefined, { deletedByRetention: [chain.names[0]!, chain.names[1]!, chain.names[2]!] });
  t.ok(result.ok, result.failures.join('\n'));
  t.same(result.deleted, [{ baseName: chain.names[2], referencedBy: chain.names[3] }]);
  t.same(result.gaps, []);
  t.same(result.order, chain.names.slice(3));
  // The same folder without the retention list: a gap.
  const strict = await verifyChain(chain.folder);
  t.notOk(strict.ok);
  t.same(strict.gaps, [{ missing: chain.names[2], referencedBy: chain.names[3] }]);
});

t.test('a changed Previous-Signature, re-hashed and re-signed, is a broken link', async (t) => {
  const chain = await sealChain(t);
  const dir = chain.dirs[3]!;
  const base = chain.names[3]!;
  const names = evidenceFileNames(base);
  const infoPath = path.join(dir, names.info);
  const forged = chain.signatures[1]!; // a real signature, but of the 2nd recording
  const text = readFileSync(infoPath, 'utf8').replace(/^Previous-Signature: .*$/m, `Previous-Signature: ${forged}`);
  writeFileSync(infoPath, text);
  // Someone with the key re-seals the 4th so that the recording itself verifies.
  const hashText = formatHashFile([
    { name: names.info, sha256: sha256Bytes(text) },
    { name: `${base}.wav`, sha256: await sha256File(path.join(dir, `${base}.wav`)) },
  ]);
  writeFileSync(path.join(dir, names.hash), hashText);
  const newSignature = signBytes(Buffer.from(hashText), keystore.privateKey);
  writeFileSync(path.join(dir, names.sig), formatSignatureFile(newSignature));
  t.ok((await verifyRecording(path.join(dir, base), keystore.certificatePem)).ok, 'the 4th alone verifies');

  // Re-signing the 4th changes its signature, so the 5th's link breaks as well.
  const cascade = await verifyChain(chain.folder);
  t.notOk(cascade.ok);
  t.same(cascade.brokenLinks.map((b) => [b.recording, b.previous]), [[base, chain.names[2]], [chain.names[4], base]]);

  // With the 5th re-sealed onto the new 4th, only the altered link remains.
  const fifth = chain.names[4]!;
  await sealRecording({ dir: chain.dirs[4]!, baseName: fifth, audioFiles: [`${fifth}.wav`], info: sampleInfo(5), keystore, previous: { baseName: base, signature: newSignature } });
  const result = await verifyChain(chain.folder);
  t.notOk(result.ok);
  t.equal(result.brokenLinks.length, 1);
  t.match(result.brokenLinks[0], { recording: base, previous: chain.names[2] });
  t.ok(result.failures.some((f) => f.startsWith(`broken link: ${base} -> ${chain.names[2]}`)), result.failures.join('\n'));
  t.same(result.gaps, []);
  t.ok(result.recordings.every((r) => r.ok), 'every recording is intact on its own');
});

t.test('two successors of one recording are a fork', async (t) => {
  const chain = await sealChain(t, 3);
  const dir = chain.dirs[2]!;
  const baseName = `${baseNameFor(3)}b`;
  fakeWav(path.join(dir, `${baseName}.wav`), 0.2, 2, 9);
  await sealRecording({ dir, baseName, audioFiles: [`${baseName}.wav`], info: sampleInfo(3), keystore, previous: { baseName: chain.names[1]!, signature: chain.signatures[1]! } });
  const result = await verifyChain(chain.folder);
  t.notOk(result.ok);
  t.same(result.forks, [{ previous: chain.names[1], recordings: [chain.names[2], baseName] }]);
  t.match(result.failures.join('\n'), /fork: .* all name .* as previous/);
  t.same(result.unreachable, []);
  t.equal(result.order.length, 4, 'both branches listed');
});

t.test('an altered recording in the chain is named with its path', async (t) => {
  const chain = await sealChain(t);
  flipByte(path.join(chain.dirs[1]!, `${chain.names[1]}.wav`), -3);
  const result = await verifyChain(chain.folder);
  t.notOk(result.ok);
  const rel = path.join('2026', '11', '22', chain.names[1]!);
  t.same(result.failures, [`${rel}: ${chain.names[1]}.wav: altered (SHA-256 differs from the hash file)`]);
  t.same(result.gaps, [], 'the chain itself is whole');
});

t.test('the certificate: given, in the folder, or beside each recording', async (t) => {
  const chain = await sealChain(t, 2, false);
  const none = await verifyChain(chain.folder);
  t.notOk(none.ok);
  t.ok(none.recordings.every((r) => r.signature === 'no-certificate'));
  t.ok((await verifyChain(chain.folder, keystore.certificatePem)).ok, 'given');
  writeFileSync(path.join(chain.folder, '2026', 'certificate.pem'), keystore.certificatePem);
  t.ok((await verifyChain(chain.folder)).ok, 'in a folder between');
});

t.test('an empty folder fails', async (t) => {
  const result = await verifyChain(tempDir(t));
  t.notOk(result.ok);
  t.match(result.failures[0], /no recordings/);
});

t.test('analyzeChain: loops, several firsts, expected head, unknown links', async (t) => {
  const node = (baseName: string, previous: string | null | undefined, signature = `sig-${baseName}`): ChainNode => ({
    baseName,
    previous,
    previousSignature: previous === null || previous === undefined ? previous : `sig-${previous}`,
    signature,
  });
  const loop = analyzeChain([node('a', null), node('b', 'a'), node('x', 'y'), node('y', 'x')]);
  t.same(loop.unreachable, ['x', 'y']);
  t.same(loop.order, ['a', 'b']);

  const twoFirsts = analyzeChain([node('a', null), node('b', null)]);
  t.same(twoFirsts.forks, [{ previous: 'none', recordings: ['a', 'b'] }]);

  const head = analyzeChain([node('a', null), node('b', 'a')], { expectedHead: 'c' });
  t.same(head.gaps, [{ missing: 'c', referencedBy: 'the recording log (chain head)' }]);
  t.equal(head.head, 'b');

  const unknown = analyzeChain([node('a', null), node('b', undefined), node('c', 'b')]);
  t.same(unknown.segments, [['a'], ['b', 'c']], 'an unreadable info file starts a segment; its own check fails');
  t.same(unknown.unreachable, []);

  const noSig = analyzeChain([{ baseName: 'a', previous: null, previousSignature: null, signature: undefined }, node('b', 'a')]);
  t.match(noSig.brokenLinks, [{ recording: 'b', previous: 'a', reason: /missing or unreadable/ }]);
});
