import { open } from 'node:fs/promises';

/**
 * Microsoft's QuickXorHash, the content hash OneDrive for Business reports
 * in `driveItem.file.hashes.quickXorHash` (base64 of 20 bytes). Reference:
 * https://learn.microsoft.com/onedrive/developer/code-snippets/quickxorhash
 *
 * Byte i of the input is XORed into a 160-bit circular register at bit
 * (i * 11) mod 160; the register's bits map to bytes little-endian (bit p
 * is bit p % 8 of byte p / 8). Finally the input length, as a 64-bit
 * little-endian integer, is XORed into the last 8 bytes.
 *
 * Because 160 * 11 is a multiple of 160, byte i and byte i + 160 land on
 * the same bits: `update` only XORs bytes into 160 accumulators (one per
 * position modulo 160), and `digest` spreads them once. That keeps hashing
 * a one-hour WAV cheap.
 */
export class QuickXorHash {
  private static readonly WIDTH_BITS = 160;
  private static readonly SHIFT = 11;
  private readonly acc = new Uint8Array(QuickXorHash.WIDTH_BITS);
  private length = 0;

  update(data: Uint8Array): this {
    const acc = this.acc;
    let j = this.length % QuickXorHash.WIDTH_BITS;
    for (let i = 0; i < data.length; i++) {
      acc[j]! ^= data[i]!;
      if (++j === QuickXorHash.WIDTH_BITS) j = 0;
    }
    this.length += data.length;
    return this;
  }

  digest(): Buffer {
    const W = QuickXorHash.WIDTH_BITS;
    const out = new Uint8Array(W / 8);
    for (let j = 0; j < W; j++) {
      const b = this.acc[j]!;
      if (b === 0) continue;
      const start = (j * QuickXorHash.SHIFT) % W;
      for (let k = 0; k < 8; k++) {
        if (((b >> k) & 1) === 0) continue;
        const p = (start + k) % W;
        out[p >> 3]! ^= 1 << (p & 7);
      }
    }
    let len = BigInt(this.length);
    for (let k = 0; k < 8; k++) {
      out[W / 8 - 8 + k]! ^= Number(len & 0xffn);
      len >>= 8n;
    }
    return Buffer.from(out);
  }
}

/** QuickXorHash of a file, base64 as Graph reports it. */
export async function quickXorHashFile(file: string): Promise<string> {
  const h = new QuickXorHash();
  const fd = await open(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await fd.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fd.close();
  }
  return h.digest().toString('base64');
}
