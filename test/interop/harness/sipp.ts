/**
 * Runs SIPp 3.6 (package sip-tester) with a scenario of fixtures/sipp.
 *
 * runSipp() runs a UAC (or any scenario) to its end; startSipp() starts one
 * in the background (typically a UAS) and hands back a handle to stop it.
 * Both collect stdout and parse SIPp's final screens: "Successful call" /
 * "Failed call" (cumulative column) and the per-message counters of the
 * scenario screen. Each run gets its own temp dir as working directory, where
 * the error log (-trace_err) and, for small runs, the message log
 * (-trace_msg) are written and read back into the result.
 *
 * Every UAC scenario in fixtures/sipp uses the keyword [caller] (From user),
 * so `keys.caller` defaults to "100"; [service] (-s) is the called user.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, onPath, removeTempDir, sippScenario } from './paths.js';
import { freePort, freePortRange, waitForPortBound } from './ports.js';
import { type ExitInfo, cleanChildEnv, closeOf, terminate, trackChild } from './processes.js';

export type SippTransport = 'udp' | 'tcp';

export interface SippOptions {
  /** 'uac-basic', 'uac-basic.xml' (both in fixtures/sipp) or a path with a '/'. */
  scenario: string;
  /** Where a UAC sends its first request; omit for a UAS. */
  remote?: { host?: string; port: number };
  /** -p: local SIP port (default: a free one). */
  localPort?: number;
  /** -mp: local media port; SIPp binds it and the next ports (default: a free block of 4). */
  mediaPort?: number;
  /** -t u1 | t1 (default udp). */
  transport?: SippTransport;
  /** -m: stop after this many calls. */
  calls?: number;
  /** -r: calls per rate period. */
  rate?: number;
  /** -rp: rate period in ms (default 1000). */
  ratePeriodMs?: number;
  /** -l: at most this many simultaneous calls. */
  limit?: number;
  /** -d: length of a <pause/> without milliseconds (the call length), in ms. */
  durationMs?: number;
  /** -lost: drop this percentage of packets. */
  lost?: number;
  /** -au / -ap: digest credentials for [authentication]. */
  auth?: { username: string; password: string };
  /** -s: user part of the Request-URI ([service]); default "300". */
  service?: string;
  /** -key: scenario keywords; `caller` defaults to "100". */
  keys?: Record<string, string>;
  /** -set: global variables (declared with <Global variables="..."/>). */
  set?: Record<string, string>;
  /**
   * Global limit in seconds: passed as -timeout (with -timeout_error, so it
   * counts as failure) and enforced with SIGKILL 10 s later.
   * Default 60 for runSipp, none for startSipp.
   */
  timeoutSeconds?: number;
  /** -recv_timeout in ms: a call fails when an expected message does not come in time. */
  recvTimeoutMs?: number;
  /** -trace_msg into the run dir (default: when calls <= 20). */
  traceMsg?: boolean;
  /** More SIPp arguments, appended last. */
  extraArgs?: string[];
  /** Working directory (default: a fresh temp dir, removed after the run unless CALLREC_KEEP_TMP=1). */
  cwd?: string;
  /** Copy SIPp's stdout/stderr to this process's stderr (default: SIPP_ECHO=1). */
  echo?: boolean;
}

/** One line of SIPp's scenario screen. */
export interface SippMessageCount {
  /** Position in the scenario screen. */
  index: number;
  /** From the point of view of this SIPp instance. */
  direction: 'send' | 'recv' | 'pause';
  /** Method ("INVITE") or status code ("200"), or "Pause". */
  name: string;
  messages: number;
  retrans: number;
  timeouts: number;
  unexpected: number;
}

export interface SippResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Cumulative "Successful call" of the final statistics screen (-1 when not found). */
  successful: number;
  /** Cumulative "Failed call" (-1 when not found). */
  failed: number;
  counts: SippMessageCount[];
  stdout: string;
  stderr: string;
  /** Content of the -trace_err log ("" when none). */
  errors: string;
  /** Content of the -trace_msg log ("" when not traced). */
  messages: string;
  /** The command line, for failure messages. */
  command: string;
}

export interface SippProcess {
  readonly pid: number;
  readonly localPort: number;
  readonly mediaPort: number;
  readonly transport: SippTransport;
  /** Resolves when SIPp has exited by itself (e.g. after -m calls) or by stop(). */
  readonly done: Promise<SippResult>;
  /** SIGTERM (SIPp prints its final screens), SIGKILL after 5 s. Idempotent. */
  stop(): Promise<SippResult>;
}

/** True when the sipp binary is on PATH (a fresh machine needs `make install`). */
export function sippAvailable(): boolean {
  return onPath('sipp');
}

/** Sum of `messages` over the scenario lines of one direction and name, e.g. ('recv', 'BYE'). */
export function countOf(
  result: Pick<SippResult, 'counts'>,
  direction: SippMessageCount['direction'],
  name: string,
): number {
  return result.counts
    .filter((c) => c.direction === direction && c.name === name)
    .reduce((sum, c) => sum + c.messages, 0);
}

/** A short description for assertion messages. */
export function describeSipp(result: SippResult): string {
  const screen = result.counts
    .map((c) => `${c.direction} ${c.name}: ${c.messages} (retrans ${c.retrans}, timeout ${c.timeouts}, unexpected ${c.unexpected})`)
    .join('\n');
  return (
    `${result.command}\nexit ${result.exitCode} signal ${result.signal}, ` +
    `successful ${result.successful}, failed ${result.failed}\n${screen}` +
    (result.errors ? `\n--- errors ---\n${result.errors.slice(-4000)}` : '') +
    (result.stderr ? `\n--- stderr ---\n${result.stderr.slice(-2000)}` : '')
  );
}

const ARROW_RIGHT = /^-{10}>$/;
const ARROW_LEFT = /^<-{10}$/;

/** Parses the last "Scenario Screen" and "Statistics Screen" of SIPp's stdout. */
export function parseSippOutput(stdout: string): Pick<SippResult, 'successful' | 'failed' | 'counts'> {
  const cumulative = (label: string): number => {
    const re = new RegExp(`^\\s*${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`, 'gm');
    let value = -1;
    for (const m of stdout.matchAll(re)) value = Number(m[1]);
    return value;
  };
  const counts: SippMessageCount[] = [];
  const start = stdout.lastIndexOf('Scenario Screen');
  if (start >= 0) {
    const header = stdout.indexOf('Messages  Retrans', start);
    const end = stdout.indexOf('Statistics Screen', start);
    const block = header >= 0 ? stdout.slice(header, end >= 0 ? end : undefined) : '';
    for (const raw of block.split('\n').slice(1)) {
      const line = raw.trim();
      if (line.startsWith('---') && !/^-{10}>/.test(line)) break;
      if (!line) continue;
      // Tokens: "INVITE ---------->  1 0 0" (UAC style: name first) or
      // "----------> INVITE  1 0 0 0" (UAS style: arrow first); an optional
      // "E-RTD1"/"B-RTD1" marker precedes the numbers.
      const tokens = line.split(/\s+/).filter((tok) => !/^[BE]-RTD\d+$/.test(tok));
      let direction: SippMessageCount['direction'] | undefined;
      let name = '';
      let rest: string[] = [];
      const [a = '', b = ''] = tokens;
      if (ARROW_RIGHT.test(b)) {
        direction = 'send';
        name = a;
        rest = tokens.slice(2);
      } else if (ARROW_LEFT.test(b)) {
        direction = 'recv';
        name = a;
        rest = tokens.slice(2);
      } else if (ARROW_RIGHT.test(a)) {
        direction = 'recv';
        name = b;
        rest = tokens.slice(2);
      } else if (ARROW_LEFT.test(a)) {
        direction = 'send';
        name = b;
        rest = tokens.slice(2);
      } else if (line.includes('Pause')) {
        direction = 'pause';
        name = 'Pause';
        rest = line.replace(/\[[^\]]*\]/, '').split(/\s+/).filter((tok) => /^\d+$/.test(tok));
      }
      if (!direction) continue;
      const nums = rest.filter((tok) => /^\d+$/.test(tok)).map(Number);
      counts.push({
        index: counts.length,
        direction,
        name,
        messages: nums[0] ?? 0,
        retrans: direction === 'pause' ? 0 : nums[1] ?? 0,
        timeouts: direction === 'pause' ? 0 : nums[2] ?? 0,
        unexpected: direction === 'pause' ? nums[1] ?? 0 : nums[3] ?? 0,
      });
    }
  }
  return { successful: cumulative('Successful call'), failed: cumulative('Failed call'), counts };
}

interface Launched {
  handle: SippProcess;
  cleanup(): void;
}

async function launch(options: SippOptions, defaultTimeout: number | undefined): Promise<Launched> {
  if (!sippAvailable()) {
    throw new Error('sipp is not installed (Debian package sip-tester; run `make install` as root)');
  }
  const scenario = sippScenario(options.scenario);
  if (!fs.existsSync(scenario)) throw new Error(`SIPp scenario ${scenario} not found`);
  const transport = options.transport ?? 'udp';
  const localPort = options.localPort ?? (await freePort('both'));
  const mediaPort = options.mediaPort ?? (await freePortRange(4, 'both', 2));
  const ownDir = options.cwd === undefined;
  const cwd = options.cwd ?? makeTempDir('callrec-sipp');
  const errorFile = path.join(cwd, 'errors.log');
  const messageFile = path.join(cwd, 'messages.log');
  const traceMsg = options.traceMsg ?? (options.calls ?? 1) <= 20;
  const timeoutSeconds = options.timeoutSeconds ?? defaultTimeout;

  const args: string[] = [];
  if (options.remote) args.push(`${options.remote.host ?? '127.0.0.1'}:${options.remote.port}`);
  args.push('-sf', scenario);
  args.push('-i', '127.0.0.1', '-p', String(localPort));
  args.push('-mi', '127.0.0.1', '-mp', String(mediaPort));
  args.push('-t', transport === 'tcp' ? 't1' : 'u1');
  args.push('-nostdin', '-trace_err', '-error_file', errorFile);
  if (traceMsg) args.push('-trace_msg', '-message_file', messageFile);
  args.push('-s', options.service ?? '300');
  const keys = { caller: '100', ...options.keys };
  for (const [k, v] of Object.entries(keys)) args.push('-key', k, v);
  for (const [k, v] of Object.entries(options.set ?? {})) args.push('-set', k, v);
  if (options.calls !== undefined) args.push('-m', String(options.calls));
  if (options.rate !== undefined) args.push('-r', String(options.rate));
  if (options.ratePeriodMs !== undefined) args.push('-rp', String(options.ratePeriodMs));
  if (options.limit !== undefined) args.push('-l', String(options.limit));
  if (options.durationMs !== undefined) args.push('-d', String(options.durationMs));
  if (options.lost !== undefined) args.push('-lost', String(options.lost));
  if (options.auth) args.push('-au', options.auth.username, '-ap', options.auth.password);
  if (options.recvTimeoutMs !== undefined) args.push('-recv_timeout', String(options.recvTimeoutMs));
  if (timeoutSeconds !== undefined) args.push('-timeout', `${timeoutSeconds}s`, '-timeout_error');
  args.push(...(options.extraArgs ?? []));
  const command = `sipp ${args.join(' ')}`;

  const echo = options.echo ?? process.env['SIPP_ECHO'] === '1';
  const child = spawn('sipp', args, { cwd, env: cleanChildEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    // Only the final screens matter; keep long runs from growing without bound.
    if (stdout.length > 4_000_000) stdout = stdout.slice(-1_000_000);
    if (echo) process.stderr.write(chunk);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (echo) process.stderr.write(chunk);
  });
  let spawnFailure: Error | undefined;
  child.once('error', (err) => {
    spawnFailure = err;
  });
  const killer =
    timeoutSeconds !== undefined
      ? setTimeout(() => child.kill('SIGKILL'), (timeoutSeconds + 10) * 1000)
      : undefined;

  const readLog = (file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const collect = (info: ExitInfo): SippResult => {
    if (killer) clearTimeout(killer);
    return {
      exitCode: info.code,
      signal: info.signal,
      ...parseSippOutput(stdout),
      stdout,
      stderr: spawnFailure ? `${stderr}\n${spawnFailure.message}` : stderr,
      errors: readLog(errorFile),
      messages: readLog(messageFile),
      command,
    };
  };
  const done = closeOf(child).then(collect);
  let stopping: Promise<SippResult> | undefined;
  const handle: SippProcess = {
    pid: child.pid ?? -1,
    localPort,
    mediaPort,
    transport,
    done,
    stop: () => {
      stopping ??= terminate(child, 5000).then(() => done);
      return stopping;
    },
  };
  return {
    handle,
    cleanup: () => {
      if (ownDir) removeTempDir(cwd);
    },
  };
}

/** Runs SIPp to its end (default global timeout 60 s) and resolves with its result. */
export async function runSipp(options: SippOptions): Promise<SippResult> {
  const { handle, cleanup } = await launch(options, 60);
  try {
    return await handle.done;
  } finally {
    cleanup();
  }
}

/**
 * Starts SIPp in the background (a UAS, or a UAC to be awaited later) and
 * resolves once its SIP port is bound, or rejects when SIPp exits first.
 */
export async function startSipp(options: SippOptions): Promise<SippProcess> {
  const { handle, cleanup } = await launch(options, undefined);
  void handle.done.then(cleanup, cleanup);
  const bound = waitForPortBound(handle.localPort, handle.transport, 5000, handle.pid);
  const early = handle.done.then((r) => r);
  const first = await Promise.race([bound.then((ok) => ({ ok })), early.then((r) => ({ exited: r }))]);
  if ('exited' in first) {
    // A short UAC may be done before the first poll; 0 and 1 are results
    // (all calls / some calls failed), anything else a start failure (254:
    // a socket could not be bound).
    if (first.exited.exitCode === 0 || first.exited.exitCode === 1) return handle;
    throw new Error(`SIPp exited before it listened:\n${describeSipp(first.exited)}`);
  }
  if (!first.ok) {
    const result = await handle.stop();
    throw new Error(`SIPp did not bind port ${handle.localPort} within 5 s:\n${describeSipp(result)}`);
  }
  return handle;
}
