/** lib/archive: delivery of sealed recordings to archive targets, alerts and retention (SPEC A1-A4). */
export {
  ArchiveError,
  TargetPool,
  createTarget,
  defaultTargetDeps,
  errorText,
  targetId,
  targetsById,
  type ArchiveFile,
  type ArchiveTarget,
  type TargetDeps,
  type TargetFactory,
} from './target.js';
export { LocalTarget, sha256Of } from './local-target.js';
export { SftpTarget } from './sftp-target.js';
export { SmbTarget, explainStatus, parseListing } from './smb-target.js';
export { OneDriveTarget, CHUNK_UNIT, type OneDriveOptions } from './onedrive-target.js';
export { QuickXorHash, quickXorHashFile } from './quick-xor-hash.js';
export { collectRecordingFiles, loggedRecordingFiles, outboxFolder, recordingFileNames, OutboxMissingError } from './recording-files.js';
export { ArchiveDelivery, type DeliveryOptions, type DeliverySummary } from './delivery.js';
export { Alerts, type AlertSink, type AlertsOptions, type DiskStatus, type TargetRecovery, type UploadFailure } from './alerts.js';
export { Retention, type RetentionOptions, type RetentionResult } from './retention.js';
