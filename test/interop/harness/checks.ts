/** Assertions shared by the SIPp interop tests. */
import type t from 'tap';
import { countOf, describeSipp, type SippProcess, type SippResult } from './sipp.js';

export type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/** A background SIPp's result once it has finished by itself; stopped (and a failure) after `ms`. */
export async function finished(tt: Tap, p: SippProcess, label: string, ms = 20000): Promise<SippResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  const result = await Promise.race([p.done, timeout]);
  clearTimeout(timer);
  if (result !== null) return result;
  tt.fail(`${label} SIPp did not finish within ${ms} ms`);
  return p.stop();
}

/** Messages of one kind SIPp sent or received, from its scenario screen (UAC and UAS layouts). */
export function count(r: SippResult, direction: 'send' | 'recv', name: string): number {
  return countOf(r, direction, name);
}

/** Exit code and call statistics of one SIPp run. */
export function expectCalls(
  tt: Tap,
  r: SippResult,
  label: string,
  successful: number,
  { exit = 0, failed = 0 }: { exit?: number; failed?: number } = {},
): void {
  tt.equal(r.exitCode, exit, `${label}: SIPp exits ${exit}`, { diagnostic: r.exitCode !== exit, details: describeSipp(r) });
  tt.equal(r.successful, successful, `${label}: ${successful} successful call(s)`);
  tt.equal(r.failed, failed, `${label}: ${failed} failed call(s)`);
}
