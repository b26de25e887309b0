/** What an operator does from the shell, for the interop tests: the callrec CLI, the archive folder. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { CallrecInstance } from './callrec.js';
import { CALLREC_BIN, REPO_ROOT } from './paths.js';
import { cleanChildEnv, nodeCommand } from './processes.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `callrec <args>` as an operator runs it (no tap hooks in NODE_OPTIONS), without blocking the event loop. */
export function cli(args: string[], timeoutMs = 30000): Promise<CliResult> {
  const run = nodeCommand([CALLREC_BIN, ...args]);
  return new Promise((resolve) => {
    const child = spawn(run.command, run.args, { cwd: REPO_ROOT, env: cleanChildEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ status: null, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stdout, stderr });
    });
  });
}

export async function activeMembers(rec: CallrecInstance, group: string): Promise<string[] | undefined> {
  const r = await cli(['status', '--json', '--config', rec.configPath]);
  if (r.status !== 0) throw new Error(`status --json exited ${r.status}: ${r.stderr}`);
  const doc = JSON.parse(r.stdout) as { groups?: Array<{ id: string; activeMembers: string[] }> };
  const members = doc.groups?.find((g) => g.id === group)?.activeMembers;
  return members === undefined ? undefined : [...members].sort();
}

export function recordingsBelow(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('_info.txt')) out.push(p.slice(0, -'_info.txt'.length));
    }
  };
  walk(root);
  return out.sort();
}

export async function waitForRecordings(root: string, count: number, timeoutMs: number): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  let found = recordingsBelow(root);
  while (found.length < count && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    found = recordingsBelow(root);
  }
  return found;
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref()),
  ]);
}
