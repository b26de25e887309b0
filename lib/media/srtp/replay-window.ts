/**
 * RFC 3711 §3.3.2 replay protection: a sliding window of the last `size`
 * packet indices below the highest authenticated one.
 *
 *   "Let Index be the index of the received packet ... If Index > the
 *   highest index received so far, the packet is new. If Index is within
 *   the window ... check the bit. If Index is to the left of the window,
 *   the packet is discarded."
 *
 * The bitmap is a ring: index i lives at bit (i mod size), so sliding the
 * window clears only the bits that enter it. Used for SRTP packet indices
 * (48 bits) and SRTCP indices (31 bits); no allocation after construction.
 * The window only moves in `accept`, called after the packet authenticated
 * ("the replay list ... is updated only after authentication", §3.3.2).
 */
export class ReplayWindow {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  /** Highest accepted index, -1 before the first. */
  private top = -1;

  /** RFC 3711 §3.3.2: "a minimum size of 64 MUST be supported". */
  constructor(readonly size: 64 | 128 | 256 | 512 | 1024 = 128) {
    this.bits = new Uint32Array(size >>> 5);
    this.mask = size - 1;
  }

  get highest(): number {
    return this.top;
  }

  /** True when `index` was not seen and is not left of the window. */
  check(index: number): boolean {
    if (index > this.top) return true;
    if (this.top - index >= this.size) return false;
    const p = index & this.mask; // ToInt32 keeps the low bits of any safe integer
    return (this.bits[p >>> 5]! & (1 << (p & 31))) === 0;
  }

  /** Records an authenticated `index`, sliding the window when it is the new highest. */
  accept(index: number): void {
    if (index > this.top) {
      const delta = index - this.top;
      if (this.top < 0 || delta >= this.size) {
        this.bits.fill(0);
      } else {
        for (let i = this.top + 1; i < index; i++) {
          const q = i & this.mask;
          this.bits[q >>> 5]! &= ~(1 << (q & 31));
        }
      }
      this.top = index;
    }
    const p = index & this.mask;
    this.bits[p >>> 5]! |= 1 << (p & 31);
  }
}
