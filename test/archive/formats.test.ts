/**
 * Pure formats used by the targets.
 *
 * Verifies:
 * - QuickXorHash (OneDrive for Business content hash) against the published
 *   vector and against a literal port of Microsoft's C# reference, for
 *   lengths around the 160-byte period and split updates;
 * - smbclient `ls` output parsing (names with spaces, folders skipped) and
 *   NT_STATUS explanations.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { explainStatus, parseListing, QuickXorHash } from '../../lib/archive/index.js';

/**
 * Line-by-line port of the C# sample in Microsoft's docs
 * (onedrive-api-docs/docs/code-snippets/quickxorhash.md): 64-bit cells with
 * BigInt, the last cell 32 bits wide.
 */
function referenceQuickXor(data: Uint8Array): Buffer {
  const WIDTH = 160;
  const SHIFT = 11;
  const cells = Math.floor((WIDTH - 1) / 64) + 1;
  const bitsInLastCell = WIDTH % 64;
  const d: bigint[] = new Array<bigint>(cells).fill(0n);
  const mask = (1n << 64n) - 1n;
  let shiftSoFar = 0;
  let vectorArrayIndex = Math.floor(shiftSoFar / 64);
  let vectorOffset = shiftSoFar % 64;
  const iterations = Math.min(data.length, WIDTH);
  for (let i = 0; i < iterations; i++) {
    const isLastCell = vectorArrayIndex === cells - 1;
    const bitsInVectorCell = isLastCell ? bitsInLastCell : 64;
    if (vectorOffset <= bitsInVectorCell - 8) {
      for (let j = i; j < data.length; j += WIDTH) {
        d[vectorArrayIndex] = (d[vectorArrayIndex]! ^ (BigInt(data[j]!) << BigInt(vectorOffset))) & mask;
      }
    } else {
      const index1 = vectorArrayIndex;
      const index2 = isLastCell ? 0 : vectorArrayIndex + 1;
      const low = bitsInVectorCell - vectorOffset;
      let xoredByte = 0;
      for (let j = i; j < data.length; j += WIDTH) xoredByte ^= data[j]!;
      d[index1] = (d[index1]! ^ (BigInt(xoredByte) << BigInt(vectorOffset))) & mask;
      d[index2] = (d[index2]! ^ (BigInt(xoredByte) >> BigInt(low))) & mask;
    }
    vectorOffset += SHIFT;
    while (vectorOffset >= bitsInVectorCell) {
      vectorArrayIndex = isLastCell ? 0 : vectorArrayIndex + 1;
      vectorOffset -= bitsInVectorCell;
    }
  }
  shiftSoFar = (shiftSoFar + SHIFT * (data.length % WIDTH)) % WIDTH;
  const out = Buffer.alloc(WIDTH / 8);
  for (let i = 0; i < cells - 1; i++) out.writeBigUInt64LE(d[i]!, i * 8);
  const last = Buffer.alloc(8);
  last.writeBigUInt64LE(d[cells - 1]!, 0);
  last.copy(out, (cells - 1) * 8, 0, WIDTH / 8 - (cells - 1) * 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length), 0);
  for (let k = 0; k < 8; k++) out[WIDTH / 8 - 8 + k]! ^= len[k]!;
  return out;
}

t.test('QuickXorHash matches the published vector', async (t) => {
  const hw = new QuickXorHash().update(Buffer.from('hello world')).digest();
  t.same([...hw], [104, 40, 3, 27, 216, 240, 6, 16, 220, 225, 13, 114, 107, 3, 25, 0, 0, 0, 0, 0]);
  t.equal(new QuickXorHash().digest().toString('base64'), 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=', 'empty input');
});

t.test('QuickXorHash equals the C# reference for many lengths and split updates', async (t) => {
  for (const n of [1, 7, 15, 19, 20, 159, 160, 161, 320, 1000, 4096, 100_003]) {
    const data = randomBytes(n);
    const ref = referenceQuickXor(data).toString('base64');
    t.equal(new QuickXorHash().update(data).digest().toString('base64'), ref, `${n} bytes in one update`);
    const h = new QuickXorHash();
    for (let off = 0; off < n; off += 97) h.update(data.subarray(off, Math.min(n, off + 97)));
    t.equal(h.digest().toString('base64'), ref, `${n} bytes in 97-byte updates`);
  }
});

t.test('smbclient ls output is parsed into sizes', async (t) => {
  const out = [
    '  .                                   D        0  Tue Nov 24 09:13:22 2026',
    '  ..                                  D        0  Tue Nov 24 09:13:01 2026',
    '  sp ace.txt                          A        6  Tue Nov 24 09:13:22 2026',
    '  20261122-141503_+49891_0301_ab12cd.wav      A  3600044  Sun Nov 22 14:15:03 2026',
    '  big.wav                             N 4294967396  Mon Jan  5 01:02:03 2026',
    '  sub                                 D        0  Tue Nov 24 09:13:01 2026',
    '',
    '\t\t264212084 blocks of size 1024. 82783516 blocks available',
  ].join('\n');
  const sizes = parseListing(out);
  t.same([...sizes], [
    ['sp ace.txt', 6],
    ['20261122-141503_+49891_0301_ab12cd.wav', 3600044],
    ['big.wav', 4294967396],
  ]);
  t.match(explainStatus('NT_STATUS_LOGON_FAILURE'), /wrong user name, password or domain \[NT_STATUS_LOGON_FAILURE\]/);
  t.match(explainStatus('NT_STATUS_SOMETHING_NEW'), /server error \[NT_STATUS_SOMETHING_NEW\]/);
});
