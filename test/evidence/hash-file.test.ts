/**
 * lib/evidence/hash-file: SPEC E2, `<base>_hash.txt`.
 *
 * Verifies: `<hex>  <name>` lines with LF; GNU `sha256sum -c` and Perl
 * `shasum -a 256 -c` both accept the file in the recording's folder and both
 * reject it after a change; streaming hashing equals one-shot hashing on a
 * file larger than one read chunk; the parser accepts what the tools accept
 * (binary `*` lines, uppercase hex, CRLF) and refuses names with folders.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { formatHashFile, HashFileError, hashFiles, parseHashFile, sha256File } from '../../lib/evidence/hash-file.js';
import { fakeWav, flipByte, hasTool, run, tempDir } from './helpers.js';

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

t.test('format: hex, two spaces, name, LF', async (t) => {
  t.equal(formatHashFile([{ name: 'a_info.txt', sha256: EMPTY }, { name: 'a.wav', sha256: EMPTY }]),
    `${EMPTY}  a_info.txt\n${EMPTY}  a.wav\n`);
  t.throws(() => formatHashFile([{ name: 'x', sha256: EMPTY.toUpperCase() }]), HashFileError);
  t.throws(() => formatHashFile([{ name: 'sub/x', sha256: EMPTY }]));
  t.throws(() => formatHashFile([{ name: 'x', sha256: EMPTY }, { name: 'x', sha256: EMPTY }]), { message: /twice/ });
});

t.test('streaming hash equals one-shot hash', async (t) => {
  const dir = tempDir(t);
  const data = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(path.join(dir, 'big.wav'), data);
  writeFileSync(path.join(dir, 'empty.wav'), '');
  t.equal(await sha256File(path.join(dir, 'big.wav')), createHash('sha256').update(data).digest('hex'));
  t.same(await hashFiles(dir, ['empty.wav', 'big.wav']), [
    { name: 'empty.wav', sha256: EMPTY },
    { name: 'big.wav', sha256: createHash('sha256').update(data).digest('hex') },
  ]);
  await t.rejects(sha256File(path.join(dir, 'missing.wav')), { code: 'ENOENT' });
});

for (const [tool, args] of [['sha256sum', ['-c']], ['shasum', ['-a', '256', '-c']]] as const) {
  t.test(`${tool} -c accepts the file in the recording's folder`, { skip: hasTool(tool) ? false : `${tool} missing` }, async (t) => {
    const dir = tempDir(t);
    fakeWav(path.join(dir, 'rec.wav'));
    writeFileSync(path.join(dir, 'rec_info.txt'), 'Format: callrec-info/1\n');
    writeFileSync(path.join(dir, 'rec_hash.txt'), formatHashFile(await hashFiles(dir, ['rec_info.txt', 'rec.wav'])));
    const ok = run(tool, [...args, 'rec_hash.txt'], { cwd: dir });
    t.equal(ok.status, 0, ok.stderr);
    t.equal(ok.stdout, 'rec_info.txt: OK\nrec.wav: OK\n');
    flipByte(path.join(dir, 'rec.wav'), -1);
    const bad = run(tool, [...args, 'rec_hash.txt'], { cwd: dir });
    t.equal(bad.status, 1);
    t.match(bad.stdout, /^rec\.wav: FAILED$/m);
  });
}

t.test('parser', async (t) => {
  t.same(parseHashFile(`${EMPTY}  a.wav\n${EMPTY.toUpperCase()} *b.wav\r\n\n`), [
    { name: 'a.wav', sha256: EMPTY },
    { name: 'b.wav', sha256: EMPTY },
  ]);
  t.same(parseHashFile(`${EMPTY}  name with spaces.wav`), [{ name: 'name with spaces.wav', sha256: EMPTY }]);
  t.throws(() => parseHashFile(`${EMPTY}  ../etc/passwd\n`), { message: /line 1: file name/ });
  t.throws(() => parseHashFile(`${EMPTY}  /abs.wav\n`), HashFileError);
  t.throws(() => parseHashFile(`${EMPTY.slice(1)}  a.wav\n`), { message: /line 1: not a/ });
  t.throws(() => parseHashFile(`${EMPTY}  a.wav\n${EMPTY}  a.wav\n`), { message: /line 2: a\.wav listed twice/ });
  t.throws(() => parseHashFile('\n'), { message: 'no checksum lines' });
});
