import { controlRequest, RecorderNotRunningError } from '../control/control-client.js';
import type { SrtpLegStatus, StatusDocument } from '../control/status.js';

/** `callrec status [--json]`: exit 0 with the status, 2 when no recorder runs. */
export async function statusCommand(socketPath: string, json: boolean): Promise<number> {
  let doc: StatusDocument;
  try {
    const res = await controlRequest<StatusDocument>(socketPath, 'GET', '/status');
    doc = res.body;
  } catch (err) {
    if (err instanceof RecorderNotRunningError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  process.stdout.write(json ? `${JSON.stringify(doc, null, 2)}\n` : formatStatus(doc));
  return 0;
}

/** One short line per SRTP leg: suite, traffic, and the drops an operator must notice. */
export function formatSrtpLeg(leg: 'caller' | 'callee', s: SrtpLegStatus): string {
  return `SRTP ${leg} leg: ${s.suite ?? 'off now'}, ${s.unprotected} decrypted, ${s.protected} encrypted; dropped: `
    + `${s.authFailures} auth failures, ${s.replayed} replayed, ${s.malformed} malformed, ${s.unkeyed} before keys`;
}

function formatStatus(s: StatusDocument): string {
  const lines = [
    `callrec ${s.version} instance ${s.instance}, up ${s.uptimeSeconds} s`,
    `active calls: ${s.activeCalls.length}`,
  ];
  for (const c of s.activeCalls) {
    lines.push(`  ${c.direction.padEnd(8)} ${c.caller} -> ${c.callee}  ${c.codec ?? '-'}  ${c.durationSeconds} s  recording ${c.recording}  packets ${c.packets.caller}/${c.packets.callee}  (${c.callId})`);
    for (const leg of ['caller', 'callee'] as const) {
      const s = c.srtp?.[leg];
      if (s !== undefined) lines.push(`    ${formatSrtpLeg(leg, s)}`);
    }
  }
  lines.push(`recordings today: ${s.recordingsToday}`);
  lines.push(`chain head: ${s.chainHead ?? 'none'}`);
  lines.push(`certificate SHA-256: ${s.certificateSha256 ?? 'none'}`);
  lines.push(`disk: ${(s.disk.freeBytes / 1e9).toFixed(1)} GB free under ${s.disk.path} (${s.disk.usedPercent}% used)`);
  for (const b of s.backlog) lines.push(`backlog ${b.target}: ${b.pending} pending, oldest ${b.oldest ?? '-'}`);
  for (const g of s.groups) lines.push(`group ${g.id}: active ${g.activeMembers.join(', ') || 'nobody'}`);
  return `${lines.join('\n')}\n`;
}
