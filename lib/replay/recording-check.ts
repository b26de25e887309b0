import type { SentPacket } from './call-replay.js';

/** How one direction of a replayed call compares with its recorded channel. */
export interface DirectionCheck {
  /** Distinct audio packets sent (duplicates removed). */
  sent: number;
  /** Packets whose payload is in the recording, byte for byte, where its timestamp puts it. */
  matched: number;
  /** Packets whose place holds other bytes. */
  mismatched: number;
  /** Packets of a run (same SSRC, continuous timestamps) the recording does not contain at all. */
  missing: number;
  /** Runs that had to be located again inside the recording (jitter, drift correction). */
  relocations: number;
  /** Matched packets of one repeated byte (silence), which carry no position of their own. */
  silent: number;
  verdict: 'pass' | 'fail' | 'empty';
}

/** Byte distance within which a packet is looked for when it is not at its expected place. */
const SEARCH_WINDOW = 640;

/**
 * Compares what the replay sent in one direction with the recording's
 * channel for it. The recorder places audio by RTP timestamp and fills gaps
 * with silence (SPEC M6), so within a run of packets each payload must sit
 * at `anchor + (timestamp - first timestamp)` bytes (G.711/G.722: one byte
 * per timestamp unit). Each run is anchored by finding its first distinctive
 * payload in the channel.
 */
export function checkDirection(sentPackets: readonly SentPacket[], audioPayloadType: number | undefined, channel: Buffer): DirectionCheck {
  const seen = new Set<string>();
  const audio = sentPackets.filter((p) => {
    if (p.payloadType !== audioPayloadType || p.payload.length === 0) return false;
    const key = `${p.ssrc}:${p.seq}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const check: DirectionCheck = { sent: audio.length, matched: 0, mismatched: 0, missing: 0, relocations: 0, silent: 0, verdict: 'empty' };
  if (audio.length === 0) return check;
  let searchFrom = 0;
  for (const run of runs(audio)) {
    const base = run[0]!.unwrapped;
    // Anchor the run at its first distinctive payload that the recording holds.
    let offset = searchFrom; // a run of pure silence is compared in place
    let anchored = run.every((p) => uniform(p.payload));
    for (const p of run) {
      if (uniform(p.payload)) continue;
      const found = channel.indexOf(p.payload, searchFrom);
      if (found >= 0) {
        offset = found - (p.unwrapped - base);
        anchored = true;
        break;
      }
    }
    if (!anchored) {
      check.missing += run.length;
      continue;
    }
    for (const p of run) {
      const pos = offset + (p.unwrapped - base);
      if (uniform(p.payload) && !matchesAt(channel, p.payload, pos)) {
        // A payload of one repeated byte (digital silence) carries no position: it
        // passes when the recording holds that silence further on.
        if (channel.indexOf(p.payload, Math.min(searchFrom, Math.max(0, pos))) >= 0) {
          check.matched++;
          check.silent++;
        } else check.mismatched++;
        continue;
      }
      if (matchesAt(channel, p.payload, pos)) {
        check.matched++;
        searchFrom = pos + p.payload.length;
        continue;
      }
      // Drift correction or jitter may have moved the rest of the run a little: look nearby.
      const lo = Math.max(0, pos - SEARCH_WINDOW);
      const near = uniform(p.payload) ? -1 : channel.subarray(lo, pos + SEARCH_WINDOW + p.payload.length).indexOf(p.payload);
      // A timestamp jump the recorder re-anchored at arrival: find the payload further on.
      const far = near >= 0 || uniform(p.payload) ? -1 : channel.indexOf(p.payload, searchFrom);
      const at = near >= 0 ? lo + near : far;
      if (at >= 0) {
        offset += at - pos;
        check.relocations++;
        check.matched++;
        searchFrom = at + p.payload.length;
      } else check.mismatched++;
    }
  }
  check.verdict = check.mismatched === 0 && check.missing === 0 ? 'pass' : 'fail';
  return check;
}

interface Unwrapped extends SentPacket {
  unwrapped: number;
}

/** Splits packets into runs of one SSRC with plausible timestamp steps, sorted by timestamp. */
function runs(packets: readonly SentPacket[]): Unwrapped[][] {
  const bySsrc = new Map<number, SentPacket[]>();
  for (const p of packets) {
    const list = bySsrc.get(p.ssrc) ?? [];
    list.push(p);
    bySsrc.set(p.ssrc, list);
  }
  const out: Unwrapped[][] = [];
  for (const list of bySsrc.values()) {
    let run: Unwrapped[] = [];
    let last: Unwrapped | undefined;
    for (const p of list) {
      // 32-bit wrap-around: take the signed distance from the previous packet.
      const unwrapped = last === undefined ? p.timestamp : last.unwrapped + (((p.timestamp - last.timestamp) << 0) | 0);
      const u: Unwrapped = { ...p, unwrapped };
      // A timestamp step that the sequence numbers do not explain by more than a second
      // starts a new run (re-INVITE, hold, a new source): the recorder anchors it anew.
      const dseq = last === undefined ? 0 : (((p.seq - last.seq) << 16) >> 16);
      if (last !== undefined && Math.abs(unwrapped - last.unwrapped - dseq * p.payload.length) > 8000) {
        out.push(run);
        run = [];
        u.unwrapped = p.timestamp;
      }
      run.push(u);
      last = u;
    }
    if (run.length > 0) out.push(run);
  }
  for (const r of out) r.sort((a, b) => a.unwrapped - b.unwrapped);
  return out;
}

function uniform(b: Buffer): boolean {
  for (let i = 1; i < b.length; i++) if (b[i] !== b[0]) return false;
  return true;
}

function matchesAt(channel: Buffer, payload: Buffer, pos: number): boolean {
  if (pos < 0 || pos + payload.length > channel.length) return false;
  return channel.compare(payload, 0, payload.length, pos, pos + payload.length) === 0;
}

/** One channel of byte-interleaved stereo (G.711: one byte per sample). */
export function deinterleave(stereo: Buffer, channel: 0 | 1): Buffer {
  const out = Buffer.allocUnsafe(Math.floor(stereo.length / 2));
  for (let i = 0, j = channel; i < out.length; i++, j += 2) out[i] = stereo[j]!;
  return out;
}
