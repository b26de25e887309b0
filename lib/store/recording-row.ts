import { checkOneOf, checkText, checkTime } from './context.js';
import { StoreError } from './errors.js';
import type { NewRecording, RecordedFile, RecordingRow, RecordingStatus, StoredChannelMode } from './types.js';

/** Mapping between `recordings` rows and `RecordingRow`, and the checks on a new recording. */

export interface RecordingRecord {
  id: number;
  base_name: string;
  folder: string;
  call_ref: number | null;
  profile: string;
  started_at: number;
  answered_at: number | null;
  ended_at: number;
  duration_ms: number;
  codec: string;
  channel_mode: StoredChannelMode;
  stop_reason: string;
  files: string;
  hash_sha256: string;
  signature: string;
  chain_position: number;
  previous_base: string | null;
  previous_signature: string | null;
  spool_key: string;
  sealed_at: number;
  status: RecordingStatus;
  retention_until: number | null;
  deleted_at: number | null;
}

export type RecordingInsert = Omit<RecordingRecord, 'id' | 'status' | 'deleted_at'>;

export const RECORDING_COLUMNS =
  'id, base_name, folder, call_ref, profile, started_at, answered_at, ended_at, duration_ms, codec, channel_mode, ' +
  'stop_reason, files, hash_sha256, signature, chain_position, previous_base, previous_signature, spool_key, ' +
  'sealed_at, status, retention_until, deleted_at';

export function toRecording(r: RecordingRecord): RecordingRow {
  return {
    id: r.id,
    baseName: r.base_name,
    folder: r.folder,
    callRef: r.call_ref,
    profile: r.profile,
    startedAt: r.started_at,
    answeredAt: r.answered_at,
    endedAt: r.ended_at,
    durationMs: r.duration_ms,
    codec: r.codec,
    channelMode: r.channel_mode,
    stopReason: r.stop_reason,
    files: JSON.parse(r.files) as RecordedFile[],
    hashSha256: r.hash_sha256,
    signature: r.signature,
    chainPosition: r.chain_position,
    previousBase: r.previous_base,
    previousSignature: r.previous_signature,
    spoolKey: r.spool_key,
    sealedAt: r.sealed_at,
    status: r.status,
    retentionUntil: r.retention_until,
    deletedAt: r.deleted_at,
  };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function checkSha256(value: string, name: string): string {
  if (typeof value !== 'string' || !SHA256_HEX.test(value)) {
    throw new StoreError('invalid', `${name}: expected 64 lower-case hex digits`);
  }
  return value;
}

function checkFiles(files: readonly RecordedFile[]): RecordedFile[] {
  if (!Array.isArray(files)) throw new StoreError('invalid', 'files: expected an array');
  return files.map((f, i) => {
    checkText(f.name, `files[${i}].name`);
    if (f.name.includes('/') || f.name.includes('\\')) {
      throw new StoreError('invalid', `files[${i}].name: a file name, not a path: ${f.name}`);
    }
    if (!Number.isSafeInteger(f.size) || f.size < 0) {
      throw new StoreError('invalid', `files[${i}].size: expected a byte count, got ${f.size}`);
    }
    return { name: f.name, size: f.size, sha256: checkSha256(f.sha256, `files[${i}].sha256`) };
  });
}

/** Validates a new recording and turns it into the row to insert at `position`. */
export function recordingInsert(r: NewRecording, position: number): RecordingInsert {
  checkText(r.baseName, 'baseName');
  if (typeof r.folder !== 'string') throw new StoreError('invalid', 'folder: expected a relative path');
  checkText(r.profile, 'profile');
  checkTime(r.startedAt, 'startedAt');
  if (r.answeredAt !== null) checkTime(r.answeredAt, 'answeredAt');
  checkTime(r.endedAt, 'endedAt');
  if (r.endedAt < r.startedAt) throw new StoreError('invalid', 'endedAt: before startedAt');
  checkTime(r.durationMs, 'durationMs');
  checkText(r.codec, 'codec');
  checkOneOf(r.channelMode, ['caller', 'callee', 'both-stereo', 'both-separate'], 'channelMode');
  checkText(r.stopReason, 'stopReason');
  checkSha256(r.hashSha256, 'hashSha256');
  checkText(r.signature, 'signature');
  checkText(r.spoolKey, 'spoolKey');
  checkTime(r.sealedAt, 'sealedAt');
  if (r.retentionUntil != null) checkTime(r.retentionUntil, 'retentionUntil');
  return {
    base_name: r.baseName,
    folder: r.folder,
    call_ref: r.callRef ?? null,
    profile: r.profile,
    started_at: r.startedAt,
    answered_at: r.answeredAt,
    ended_at: r.endedAt,
    duration_ms: r.durationMs,
    codec: r.codec,
    channel_mode: r.channelMode,
    stop_reason: r.stopReason,
    files: JSON.stringify(checkFiles(r.files)),
    hash_sha256: r.hashSha256,
    signature: r.signature,
    chain_position: position,
    previous_base: r.previousBase,
    previous_signature: r.previousSignature,
    spool_key: r.spoolKey,
    sealed_at: r.sealedAt,
    retention_until: r.retentionUntil ?? null,
  };
}
