/** Where the repository, its fixtures and its executables are, from the test's point of view. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  // Works from test/interop/harness (tsx) and from dist/test/interop/harness (compiled).
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(pkg, 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === 'callrec') {
          return dir;
        }
      } catch {
        // not ours; keep climbing
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('repository root (package.json of callrec) not found');
    dir = parent;
  }
}

export const REPO_ROOT = findRepoRoot();
/** bin/callrec, or CALLREC_BIN from the environment (to test another build). */
export const CALLREC_BIN = process.env['CALLREC_BIN'] ?? path.join(REPO_ROOT, 'bin', 'callrec');
export const SIPP_FIXTURES = path.join(REPO_ROOT, 'fixtures', 'sipp');

/** A scenario name ('uac-basic' or 'uac-basic.xml') in fixtures/sipp, or a path (kept as it is). */
export function sippScenario(nameOrPath: string): string {
  if (nameOrPath.includes('/')) return path.resolve(REPO_ROOT, nameOrPath);
  const file = nameOrPath.endsWith('.xml') ? nameOrPath : `${nameOrPath}.xml`;
  return path.join(SIPP_FIXTURES, file);
}

/** Temp dirs are kept for inspection when CALLREC_KEEP_TMP=1. */
export const KEEP_TMP = process.env['CALLREC_KEEP_TMP'] === '1';

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

export function removeTempDir(dir: string): void {
  if (KEEP_TMP) return;
  fs.rmSync(dir, { recursive: true, force: true });
}

/** True when `cmd` is an executable on PATH. */
export function onPath(cmd: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}
