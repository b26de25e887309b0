/**
 * Starts `callrec serve` as a child process for an interop test.
 *
 * The config follows SPEC "Interface / Config file": sip.listen on UDP and
 * TCP on one free port of 127.0.0.1, pbx and provider on 127.0.0.1 with the
 * given ports and transports, media on 127.0.0.1 with a free port range,
 * data.dir and one profile "all" (both directions, local target) inside a
 * temp dir. `overrides` are deep-merged over that config.
 *
 * callrec logs one JSON object per line on stdout (pino); every line is
 * parsed into `logs`. Start-up waits for the line with `event: "ready"`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { stringify } from 'yaml';
import { CALLREC_BIN, REPO_ROOT, makeTempDir, removeTempDir } from './paths.js';
import { freePort, freePortRange, releasePorts } from './ports.js';
import { type ExitInfo, cleanChildEnv, closeOf, nodeCommand, terminate, trackChild } from './processes.js';

export type SipTransport = 'udp' | 'tcp' | 'tls';

/** One parsed stdout line of callrec (pino JSON; `unparsed` for anything else). */
export interface LogLine {
  level?: number;
  time?: number | string;
  msg?: string;
  event?: string;
  unparsed?: boolean;
  [key: string]: unknown;
}

export interface PeerOptions {
  port: number;
  host?: string;
  transport?: SipTransport;
}

export interface ProviderOptions extends PeerOptions {
  auth?: { username: string; password: string };
  register?: { expires: number };
}

export interface StartCallrecOptions {
  pbx: PeerOptions;
  provider: ProviderOptions;
  /** Adds a tls entry to sip.listen (after the UDP and TCP ones). */
  tlsListen?: { port: number; cert: string; key: string };
  /** Deep-merged over the generated config: objects merge, arrays and scalars replace, `undefined` deletes. */
  overrides?: Record<string, unknown>;
  /** Size of the media port range (default 400). */
  mediaPorts?: number;
  /** Wait this long for `event: "ready"` (default 10 s). */
  readyTimeoutMs?: number;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Keep parsed log lines (default true). When false only lines up to `ready` and errors (level >= 50) are kept. */
  keepLogs?: boolean;
  /** Copy callrec's stdout/stderr to this process's stderr (default: CALLREC_ECHO=1). */
  echo?: boolean;
}

export interface CallrecInstance {
  readonly pid: number;
  readonly sipPort: number;
  readonly configPath: string;
  /** The config written to `configPath`. */
  readonly config: Record<string, unknown>;
  /** Temp dir holding config, data dir and archive. */
  readonly dir: string;
  /** Local archive folder of the profile "all" (before the $Y/$M/$D template). */
  readonly archiveDir: string;
  readonly logs: LogLine[];
  /** stderr of callrec, line by line. */
  readonly stderr: string[];
  /** Number of stdout lines seen (also when `keepLogs` is false). */
  readonly lineCount: () => number;
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when callrec has exited (by itself or by stop()) and its output is read. */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM, SIGKILL after 5 s. Idempotent. */
  stop(): Promise<ExitInfo>;
  /** stop() and remove the temp dir (kept when CALLREC_KEEP_TMP=1). */
  dispose(): Promise<ExitInfo>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge for config overrides. */
export function mergeConfig(
  base: Record<string, unknown>,
  overrides: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) {
      delete out[key];
    } else if (isPlainObject(value) && isPlainObject(out[key])) {
      out[key] = mergeConfig(out[key] as Record<string, unknown>, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The config startCallrec writes, before overrides. */
export function baseConfig(
  dir: string,
  sipPort: number,
  mediaMin: number,
  mediaMax: number,
  options: Pick<StartCallrecOptions, 'pbx' | 'provider' | 'tlsListen'>,
): Record<string, unknown> {
  const provider: Record<string, unknown> = {
    host: options.provider.host ?? '127.0.0.1',
    port: options.provider.port,
    transport: options.provider.transport ?? 'udp',
  };
  if (options.provider.auth) provider['auth'] = { ...options.provider.auth };
  if (options.provider.register) provider['register'] = { ...options.provider.register };
  return {
    instance: `test-${path.basename(dir)}`,
    sip: {
      listen: [
        { transport: 'udp', host: '127.0.0.1', port: sipPort },
        { transport: 'tcp', host: '127.0.0.1', port: sipPort },
        ...(options.tlsListen !== undefined ? [{ transport: 'tls', host: '127.0.0.1', ...options.tlsListen }] : []),
      ],
    },
    pbx: {
      host: options.pbx.host ?? '127.0.0.1',
      port: options.pbx.port,
      transport: options.pbx.transport ?? 'udp',
    },
    provider,
    media: { host: '127.0.0.1', portMin: mediaMin, portMax: mediaMax },
    data: { dir: path.join(dir, 'var') },
    profiles: [
      {
        name: 'all',
        direction: 'both',
        targets: [{ type: 'local', path: path.join(dir, 'archive', '$Y', '$M', '$D') }],
      },
    ],
  };
}

interface Waiter {
  predicate: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

function parseLine(text: string): LogLine {
  try {
    const parsed: unknown = JSON.parse(text);
    if (isPlainObject(parsed)) return parsed as LogLine;
  } catch {
    // not JSON
  }
  return { msg: text, unparsed: true };
}

export async function startCallrec(options: StartCallrecOptions): Promise<CallrecInstance> {
  if (!fs.existsSync(CALLREC_BIN)) {
    throw new Error(`${CALLREC_BIN} does not exist: callrec is not built into this tree yet`);
  }
  const dir = makeTempDir('callrec-test');
  const sipPort = await freePort('both');
  const mediaCount = options.mediaPorts ?? 400;
  const mediaMin = await freePortRange(mediaCount, 'udp', 2);
  let config = baseConfig(dir, sipPort, mediaMin, mediaMin + mediaCount - 1, options);
  if (options.overrides) config = mergeConfig(config, options.overrides);
  const configPath = path.join(dir, 'callrec.yaml');
  fs.writeFileSync(configPath, stringify(config));

  const echo = options.echo ?? process.env['CALLREC_ECHO'] === '1';
  const keepLogs = options.keepLogs ?? true;
  const run = nodeCommand([CALLREC_BIN, 'serve', '--config', configPath]);
  const child = spawn(run.command, run.args, {
    cwd: REPO_ROOT,
    env: cleanChildEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  // 'close' comes after 'exit' once stdout and stderr are drained: only then
  // are the logs complete.
  const exited = closeOf(child);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const logs: LogLine[] = [];
  const stderr: string[] = [];
  let lines = 0;
  let ready = false;
  const waiters = new Set<Waiter>();

  const onLine = (line: LogLine): void => {
    for (const w of [...waiters]) {
      if (w.predicate(line)) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(line);
      }
    }
  };

  readline.createInterface({ input: child.stdout }).on('line', (text) => {
    lines++;
    if (echo) process.stderr.write(`[callrec] ${text}\n`);
    // Under load (keepLogs false) skip parsing unless someone waits or it is an error line.
    if (!keepLogs && ready && waiters.size === 0 && !/"level":[56]0/.test(text)) return;
    const line = parseLine(text);
    if (line.event === 'ready') ready = true;
    if (keepLogs || !ready || line.event === 'ready' || (line.level ?? 0) >= 50) logs.push(line);
    onLine(line);
  });
  readline.createInterface({ input: child.stderr }).on('line', (text) => {
    if (echo) process.stderr.write(`[callrec:err] ${text}\n`);
    stderr.push(text);
  });

  const describeEnd = (info: ExitInfo): string => {
    const tail = stderr.slice(-15).join('\n');
    const lastLogs = logs
      .slice(-5)
      .map((l) => JSON.stringify(l))
      .join('\n');
    return (
      `callrec exited (code ${info.code}, signal ${info.signal})` +
      (tail ? `\n--- stderr ---\n${tail}` : '') +
      (lastLogs ? `\n--- last log lines ---\n${lastLogs}` : '')
    );
  };

  void exited.then((info) => {
    for (const w of [...waiters]) {
      waiters.delete(w);
      clearTimeout(w.timer);
      w.reject(new Error(`${describeEnd(info)}\n(no log line matched before it ended)`));
    }
  });

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> => {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    if (child.exitCode !== null || child.signalCode !== null) {
      return Promise.reject(
        new Error(describeEnd({ code: child.exitCode, signal: child.signalCode })),
      );
    }
    return new Promise<LogLine>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching callrec log line within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      waiters.add(waiter);
    });
  };

  let stopping: Promise<ExitInfo> | undefined;
  const stop = (): Promise<ExitInfo> => {
    stopping ??= terminate(child, 5000).then(async () => {
      const info = await exited;
      releasePorts(sipPort);
      releasePorts(mediaMin, mediaCount);
      return info;
    });
    return stopping;
  };

  const startFailure = await Promise.race([
    waitForLog((l) => l.event === 'ready', options.readyTimeoutMs ?? 10000).then(
      () => null,
      (err: Error) => err,
    ),
    spawnError,
  ]);
  if (startFailure) {
    await stop();
    removeTempDir(dir);
    const context = child.exitCode === null && child.signalCode === null
      ? [
          stderr.length ? `--- stderr ---\n${stderr.slice(-15).join('\n')}` : '',
          logs.length ? `--- last log lines ---\n${logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}` : '',
        ].filter(Boolean).join('\n')
      : '';
    throw new Error(`callrec did not become ready: ${startFailure.message}${context ? `\n${context}` : ''}`);
  }

  return {
    pid: child.pid ?? -1,
    sipPort,
    configPath,
    config,
    dir,
    archiveDir: path.join(dir, 'archive'),
    logs,
    stderr,
    lineCount: () => lines,
    waitForLog,
    exited,
    stop,
    dispose: async () => {
      const info = await stop();
      removeTempDir(dir);
      return info;
    },
  };
}
