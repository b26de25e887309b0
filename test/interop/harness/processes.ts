/**
 * Child processes started by interop tests (callrec, SIPp). Every child is
 * killed when the test process ends, also when tap ends it with a signal on
 * a timeout, so no server outlives its test.
 */
import type { ChildProcess } from 'node:child_process';
import { onExit } from 'signal-exit';

const live = new Set<ChildProcess>();
let hooked = false;

export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    onExit(() => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when `child` has exited (at once if it already has). */
export function exitOf(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * SIGTERM, and SIGKILL when the child is still there after `graceMs`.
 * Resolves with how it ended. Idempotent.
 */
export async function terminate(child: ChildProcess, graceMs = 5000): Promise<ExitInfo> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
