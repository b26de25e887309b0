/**
 * Simple IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5) for captures:
 * fragments are keyed by source, destination and identification; a datagram
 * is complete when the fragments cover 0..end without holes and the last one
 * (More Fragments clear) has been seen. Overlaps are resolved by keeping
 * the first bytes seen. Entries idle for REASSEMBLY_TIMEOUT_MS of capture time
 * are dropped (RFC 791 suggests a timer of 15 s; Linux uses 30 s).
 */
export const REASSEMBLY_TIMEOUT_MS = 30_000;
const MAX_PENDING = 1024;
const MAX_DATAGRAM = 65535;

interface Pending {
  parts: Array<{ offset: number; data: Buffer }>;
  /** Total payload length once the last fragment has been seen, else -1. */
  total: number;
  lastMs: number;
}

export class FragmentReassembler {
  private readonly pending = new Map<string, Pending>();
  /** Fragments given up on: expired, over the size limit, or left at clear(). */
  dropped = 0;

  /** Adds a fragment; returns the whole transport payload when complete. */
  add(key: string, offset: number, more: boolean, data: Buffer, timeMs: number): Buffer | undefined {
    this.expire(timeMs);
    let entry = this.pending.get(key);
    if (entry === undefined) {
      if (this.pending.size >= MAX_PENDING) {
        this.dropped++;
        return undefined;
      }
      entry = { parts: [], total: -1, lastMs: timeMs };
      this.pending.set(key, entry);
    }
    entry.lastMs = timeMs;
    if (offset + data.length > MAX_DATAGRAM) {
      this.dropped += entry.parts.length + 1;
      this.pending.delete(key);
      return undefined;
    }
    entry.parts.push({ offset, data });
    if (!more) entry.total = offset + data.length;
    if (entry.total < 0) return undefined;
    const parts = [...entry.parts].sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const p of parts) {
      if (p.offset > covered) return undefined;
      covered = Math.max(covered, p.offset + p.data.length);
    }
    if (covered < entry.total) return undefined;
    const out = Buffer.alloc(entry.total);
    const written = new Uint8Array(entry.total);
    for (const p of entry.parts) {
      for (let i = 0; i < p.data.length && p.offset + i < entry.total; i++) {
        if (written[p.offset + i] === 0) {
          out[p.offset + i] = p.data[i]!;
          written[p.offset + i] = 1;
        }
      }
    }
    this.pending.delete(key);
    return out;
  }

  /** Drops every pending datagram (end of capture); returns the total of dropped fragments. */
  clear(): number {
    for (const e of this.pending.values()) this.dropped += e.parts.length;
    this.pending.clear();
    return this.dropped;
  }

  private expire(nowMs: number): void {
    for (const [key, e] of this.pending) {
      if (nowMs - e.lastMs > REASSEMBLY_TIMEOUT_MS) {
        this.dropped += e.parts.length;
        this.pending.delete(key);
      }
    }
  }
}
