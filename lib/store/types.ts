/**
 * Row types of the recording log as callers see them: camelCase, times as
 * milliseconds since the Unix epoch (UTC), `null` where the column is empty.
 */
export type CallDirection = 'inbound' | 'outbound';
export type CallDecision = 'recorded' | 'not-recorded';
export type StoredChannelMode = 'caller' | 'callee' | 'both-stereo' | 'both-separate';
export type RecordingStatus = 'sealed' | 'deleted-by-retention';
export type UploadState = 'pending' | 'done' | 'failed';
export type VerificationScope = 'recording' | 'chain';
export type VerificationResult = 'ok' | 'failed';
export type EventLevel = 'info' | 'warn' | 'error';

// ---- calls_considered -----------------------------------------------------

export interface NewConsideredCall {
  /** When the initial INVITE was seen. */
  startedAt: number;
  aCallId: string;
  bCallId?: string | null;
  direction: CallDirection;
  caller: string;
  callee: string;
  decision: CallDecision;
  /** Why, in words: "profile traders: alice is an active member of traders", "no profile matches". */
  reason: string;
  /** Required when decision is 'recorded'. */
  profile?: string | null;
}

export interface ConsideredCall {
  id: number;
  startedAt: number;
  aCallId: string;
  bCallId: string | null;
  direction: CallDirection;
  caller: string;
  callee: string;
  decision: CallDecision;
  reason: string;
  profile: string | null;
  /** End reason ("bye-caller", "cancelled", "486 Busy Here", "media-timeout", ...); null while the call runs. */
  outcome: string | null;
  endedAt: number | null;
}

// ---- recordings and the chain --------------------------------------------

export interface RecordedFile {
  name: string;
  size: number;
  /** Lower-case hex. */
  sha256: string;
}

export interface NewRecording {
  baseName: string;
  /** Output folder relative to the spool/archive root. */
  folder: string;
  /** The calls_considered row this recording belongs to, when known. */
  callRef?: number | null;
  profile: string;
  startedAt: number;
  answeredAt: number | null;
  endedAt: number;
  durationMs: number;
  codec: string;
  channelMode: StoredChannelMode;
  stopReason: string;
  files: readonly RecordedFile[];
  /** SHA-256 (hex) of `<base>_hash.txt`. */
  hashSha256: string;
  /** Base64 signature of `<base>_hash.txt`. */
  signature: string;
  /** What the metadata names as the previous recording: must be the chain head (null on an empty chain). */
  previousBase: string | null;
  previousSignature: string | null;
  /** Identifies the spool the recording was made from; a spool is chained at most once. */
  spoolKey: string;
  sealedAt: number;
  /** Delete after this time (SPEC A4); null keeps forever. */
  retentionUntil?: number | null;
}

export interface RecordingRow {
  id: number;
  baseName: string;
  folder: string;
  callRef: number | null;
  profile: string;
  startedAt: number;
  answeredAt: number | null;
  endedAt: number;
  durationMs: number;
  codec: string;
  channelMode: StoredChannelMode;
  stopReason: string;
  files: RecordedFile[];
  hashSha256: string;
  signature: string;
  chainPosition: number;
  previousBase: string | null;
  previousSignature: string | null;
  spoolKey: string;
  sealedAt: number;
  status: RecordingStatus;
  retentionUntil: number | null;
  deletedAt: number | null;
}

export interface ChainHead {
  /** 0 for an empty chain. */
  position: number;
  baseName: string | null;
  signature: string | null;
}

export interface AppendResult {
  position: number;
  /** false when the spool key was already chained: `recording` is the existing row, nothing was written. */
  created: boolean;
  recording: RecordingRow;
}

export interface AppendOptions {
  /** Upload rows enqueued in the same transaction (SPEC A3: never a sealed recording without its queue). */
  uploadTargets?: readonly string[];
}

// ---- uploads -------------------------------------------------------------

/** Names one upload: a recording and an archive target. An `UploadRow` is one. */
export interface UploadKey {
  recordingBase: string;
  target: string;
}

export interface UploadRow extends UploadKey {
  id: number;
  /** The recording's folder, so the uploader finds the files without another query. */
  folder: string;
  state: UploadState;
  attempts: number;
  enqueuedAt: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastError: string | null;
  firstFailedAt: number | null;
  doneAt: number | null;
}

export interface TargetBacklog {
  target: string;
  /** Uploads not done yet (pending or failed). */
  pending: number;
  /** Of those, the ones whose last attempt failed. */
  failed: number;
  /** Enqueue time of the oldest upload not done; null when none is pending. */
  oldest: number | null;
}

// ---- groups ----------------------------------------------------------------

export interface GroupMembers {
  id: string;
  members: readonly string[];
}

export interface MembershipRow {
  groupId: string;
  userId: string;
  active: boolean;
  changedAt: number;
}

export type MembershipChange = 'changed' | 'unchanged' | 'not-a-member';

export interface SyncResult {
  added: number;
  removed: number;
}

// ---- verifications and events -----------------------------------------------

export interface NewVerification {
  at: number;
  scope: VerificationScope;
  /** A recording base, or the folder of a chain. */
  target: string;
  result: VerificationResult;
  details?: string;
}

export interface VerificationRow extends Required<NewVerification> {
  id: number;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface NewEvent {
  at: number;
  level: EventLevel;
  kind: string;
  message: string;
  recordingBase?: string | null;
  details?: JsonValue;
}

export interface EventRow {
  id: number;
  at: number;
  level: EventLevel;
  kind: string;
  message: string;
  recordingBase: string | null;
  details: JsonValue | null;
}
