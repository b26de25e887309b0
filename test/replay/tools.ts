/** Wireshark command-line tools the replay tests use when installed. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PCAP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../pcap');

export function hasTool(name: string): boolean {
  const r = spawnSync(name, ['-v'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

export const HAS_TSHARK = hasTool('tshark');
export const HAS_EDITCAP = hasTool('editcap');

/** Runs a tool, returning stdout; stderr (tshark warns when run as root) is dropped. */
export function run(tool: string, args: string[]): string {
  return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
}

/** A temporary directory removed when `done` runs. */
export function tempDir(): { dir: string; done: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'callrec-replay-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}
