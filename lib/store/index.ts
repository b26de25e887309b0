/** lib/store: the SQLite recording log (SPEC E7). */
export { RecordingLog, LATEST_SCHEMA_VERSION, type OpenOptions } from './recording-log.js';
export { StoreError, ChainConflictError, type StoreErrorCode } from './errors.js';
export { MIGRATIONS, APPLICATION_ID, migrate, schemaVersion, type Migration, type MigrationResult } from './migrations.js';
export { CallLog } from './call-log.js';
export { UploadQueue } from './upload-queue.js';
export { GroupMembership } from './group-membership.js';
export { VerificationLog } from './verification-log.js';
export { EventLog } from './event-log.js';
export type * from './types.js';
