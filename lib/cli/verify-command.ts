import { readFileSync } from 'node:fs';
import path from 'node:path';
import { verifyChain, verifyRecording } from '../evidence/verify.js';
import { describeChainFindings } from '../evidence/chain.js';
import type { Config } from '../config/index.js';
import { RecordingLog } from '../store/recording-log.js';

/**
 * `callrec verify <recording-base>` and `callrec verify --chain <folder>`
 * (SPEC E6): exit 0 only when everything checked is intact, else 1 with one
 * line per failing file or link. The certificate is `--cert`, else one found
 * beside the recordings, else the installation's (when a config is known).
 */
export async function verifyCommand(target: string, chain: boolean, certFile: string | undefined, config: Config | undefined): Promise<number> {
  let pem: string | undefined;
  if (certFile !== undefined) pem = readFileSync(certFile, 'utf8');
  const installationCert = config !== undefined ? path.join(config.data.dir, 'keys', 'certificate.pem') : undefined;
  let log: RecordingLog | undefined;
  try {
    log = config !== undefined ? RecordingLog.open(path.join(config.data.dir, 'callrec.db')) : undefined;
  } catch {
    log = undefined;
  }
  try {
    if (chain) {
      const deleted = new Set(log?.listDeletedByRetention().map((r) => r.baseName) ?? []);
      let result = await verifyChain(target, pem, { deletedByRetention: deleted });
      if (!result.ok && pem === undefined && installationCert !== undefined && result.recordings.some((r) => r.signature === 'no-certificate')) {
        result = await verifyChain(target, readFileSync(installationCert, 'utf8'), { deletedByRetention: deleted });
      }
      for (const r of result.recordings) process.stdout.write(`${r.ok ? 'OK    ' : 'FAILED'} ${path.join(path.relative(process.cwd(), r.dir) || '.', r.baseName)}\n`);
      for (const d of result.deleted) process.stdout.write(`DELETED ${d.baseName} (retention; named by ${d.referencedBy})\n`);
      for (const line of describeChainFindings(result)) process.stdout.write(`${line}\n`);
      for (const f of result.failures) process.stderr.write(`${f}\n`);
      process.stdout.write(result.ok ? `chain intact: ${result.recordings.length} recording(s)\n` : `chain NOT intact: ${result.failures.length} problem(s)\n`);
      log?.verifications.add({ at: Date.now(), scope: 'chain', target, result: result.ok ? 'ok' : 'failed', details: result.failures.join('\n') });
      return result.ok ? 0 : 1;
    }
    let result = await verifyRecording(target, pem);
    if (result.signature === 'no-certificate' && installationCert !== undefined) result = await verifyRecording(target, readFileSync(installationCert, 'utf8'));
    for (const f of result.files) process.stdout.write(`${f.status === 'ok' ? 'OK    ' : 'FAILED'} ${f.file}${f.detail !== undefined ? `: ${f.detail}` : ''}\n`);
    process.stdout.write(`signature: ${result.signature}${result.certificate !== undefined ? ` (certificate ${result.certificate.sha256} from ${result.certificate.source})` : ''}\n`);
    for (const f of result.failures) process.stderr.write(`${f}\n`);
    process.stdout.write(result.ok ? 'recording intact\n' : 'recording NOT intact\n');
    log?.verifications.add({ at: Date.now(), scope: 'recording', target, result: result.ok ? 'ok' : 'failed', details: result.failures.join('\n') });
    return result.ok ? 0 : 1;
  } finally {
    log?.close();
  }
}
