/**
 * SRTP of one leg of a call (SPEC M8): suite, packets decrypted from and
 * encrypted toward the party, and what was dropped from the party, by
 * reason. Never keys.
 */
export interface SrtpLegStatus {
  /** The suite in use; null when the leg went back to plain RTP. */
  suite: string | null;
  /** Packets (RTP and RTCP) authenticated and decrypted. */
  unprotected: number;
  /** Packets (RTP and RTCP) encrypted toward the party. */
  protected: number;
  /** Dropped: the authentication tag did not verify (tampered, or a wrong key). */
  authFailures: number;
  /** Dropped: replayed, or older than the replay window. */
  replayed: number;
  /** Dropped: not SRTP/SRTCP at all. */
  malformed: number;
  /** Dropped: arrived before the leg's keys were negotiated. */
  unkeyed: number;
}

/** The `callrec status --json` document (SPEC Interface); extend, never rename. */
export interface StatusDocument {
  instance: string;
  version: string;
  uptimeSeconds: number;
  activeCalls: {
    callId: string;
    direction: 'inbound' | 'outbound';
    caller: string;
    callee: string;
    codec: string | null;
    durationSeconds: number;
    recording: 'on' | 'off' | 'stopped';
    packets: { caller: number; callee: number };
    /** SRTP per leg; null for a call without SRTP on either leg. */
    srtp: { caller?: SrtpLegStatus; callee?: SrtpLegStatus } | null;
  }[];
  recordingsToday: number;
  chainHead: string | null;
  certificateSha256: string | null;
  disk: { path: string; freeBytes: number; usedPercent: number };
  backlog: { target: string; pending: number; oldest: string | null }[];
  groups: { id: string; activeMembers: string[] }[];
}
