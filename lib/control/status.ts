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
  }[];
  recordingsToday: number;
  chainHead: string | null;
  certificateSha256: string | null;
  disk: { path: string; freeBytes: number; usedPercent: number };
  backlog: { target: string; pending: number; oldest: string | null }[];
  groups: { id: string; activeMembers: string[] }[];
}
