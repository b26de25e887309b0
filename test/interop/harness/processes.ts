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
 * Resolves when `child` has exited and its stdio streams are closed, i.e.
 * all of its output has been read.
 */
export function closeOf(child: ChildProcess): Promise<ExitInfo> {
  if ((child.exitCode !== null || child.signalCode !== null) && child.stdout?.readableEnded !== false) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
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

/**
 * The environment for a child process without what tap injects into test
 * processes (NODE_OPTIONS with its loaders, TAP_*, _TAPJS_*, TS_NODE_*):
 * a callrec started from a test must run as it runs in production.
 */
export function cleanChildEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key === 'TAP' || /^(TAP_|_TAPJS_|TS_NODE_)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Command and arguments that run `node <args>` free of tap's hooks. Under
 * tap, @tapjs/processinfo wraps every spawn and puts its loader into
 * NODE_OPTIONS whatever env is passed (and that loader cannot load the
 * extensionless ESM bin/callrec); `env -u NODE_OPTIONS` drops it again
 * right before node starts. `env` execs node, so the child's pid is node's.
 */
export function nodeCommand(args: string[]): { command: string; args: string[] } {
  return { command: 'env', args: ['-u', 'NODE_OPTIONS', process.execPath, ...args] };
}
