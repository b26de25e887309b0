import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer } from 'smtp-server';
import type { AlertsConfig, ArchiveConfig, ProfileConfig, TargetConfig } from '../../lib/config/index.js';
import { formatHashFile, sha256Bytes } from '../../lib/evidence/hash-file.js';
import { evidenceFileNames } from '../../lib/evidence/seal.js';
import { formatSignatureFile } from '../../lib/evidence/signature.js';
import { recordingBaseName } from '../../lib/recording/naming.js';
import type { RecordingLog } from '../../lib/store/recording-log.js';
import type { RecordingRow } from '../../lib/store/types.js';

/** Anything with tap's teardown. */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** A fresh temp folder removed at teardown. */
export function tempDir(t: Teardown, prefix = 'callrec-archive-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const T0 = Date.UTC(2026, 10, 22, 14, 15, 3);

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256OfFile(file: string): string {
  return sha256(readFileSync(file));
}

export interface TestConfig {
  instance: string;
  data: { dir: string };
  archive: ArchiveConfig;
  alerts: AlertsConfig;
  profiles: ProfileConfig[];
}

export function profile(name: string, targets: TargetConfig[], retentionSeconds: number | null = null): ProfileConfig {
  return {
    name,
    direction: 'both',
    users: [],
    groups: [],
    directCallsToActiveMembers: false,
    channels: 'both-stereo',
    recordFrom: 'setup',
    prompts: {},
    retention: retentionSeconds,
    targets,
  };
}

export function testConfig(dataDir: string, profiles: ProfileConfig[], over: { retry?: ArchiveConfig['retry']; alerts?: Partial<AlertsConfig> } = {}): TestConfig {
  return {
    instance: 'rec-test',
    data: { dir: dataDir },
    archive: { retry: over.retry ?? { firstSeconds: 30, maxSeconds: 3600 } },
    alerts: { diskWarnPercent: 90, ...over.alerts },
    profiles,
  };
}

/**
 * A sealed recording as the finalizer leaves it: audio, info, hash and
 * signature files in `<data.dir>/outbox/<base>/`, and its row appended to
 * the chain. `audioBytes` of random audio (two files for `separate`).
 */
export function makeRecording(
  log: RecordingLog,
  dataDir: string,
  i: number,
  o: { profile?: string; audioBytes?: number; separate?: boolean; retentionUntil?: number | null; startedAt?: number } = {},
): RecordingRow {
  const start = o.startedAt ?? T0 + i * 60_000;
  const base = recordingBaseName(start, '0891234567', `03012345${String(i).padStart(2, '0')}`, i.toString(16).padStart(6, '0'));
  const dir = path.join(dataDir, 'outbox', base);
  mkdirSync(dir, { recursive: true });
  const ev = evidenceFileNames(base);
  const audio = o.separate ? [`${base}_caller.wav`, `${base}_callee.wav`] : [`${base}.wav`];
  const files: Array<{ name: string; size: number; sha256: string }> = [];
  const info = Buffer.from(`Start: ${new Date(start).toISOString()}\nRecording: ${i}\n`, 'utf8');
  writeFileSync(path.join(dir, ev.info), info);
  files.push({ name: ev.info, size: info.length, sha256: sha256(info) });
  for (const name of audio) {
    const data = randomBytes(o.audioBytes ?? 4096 + i);
    writeFileSync(path.join(dir, name), data);
    files.push({ name, size: data.length, sha256: sha256(data) });
  }
  const hashText = formatHashFile(files.map((f) => ({ name: f.name, sha256: f.sha256 })));
  writeFileSync(path.join(dir, ev.hash), hashText);
  const signature = randomBytes(256).toString('base64');
  writeFileSync(path.join(dir, ev.sig), formatSignatureFile(signature));
  const head = log.chainHead();
  return log.appendToChain({
    baseName: base,
    folder: '2026/11/22',
    profile: o.profile ?? 'traders',
    startedAt: start,
    answeredAt: start + 1000,
    endedAt: start + 30_000,
    durationMs: 30_000,
    codec: 'PCMA',
    channelMode: o.separate ? 'both-separate' : 'both-stereo',
    stopReason: 'bye-caller',
    files,
    hashSha256: sha256Bytes(hashText),
    signature,
    previousBase: head.baseName,
    previousSignature: head.signature,
    spoolKey: `spool-${base}`,
    sealedAt: start + 31_000,
    retentionUntil: o.retentionUntil ?? null,
  }).recording;
}

/** name -> sha256 of every file of the recording's outbox folder (taken before delivery removes it). */
export function snapshotOutbox(dataDir: string, base: string): Map<string, string> {
  const dir = path.join(dataDir, 'outbox', base);
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    out.set(name, sha256OfFile(path.join(dir, name)));
  }
  return out;
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when something accepts TCP connections on the port; rejects after `ms` or when `alive()` turns false. */
export async function waitForPort(port: number, ms: number, alive: () => boolean = () => true): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive()) throw new Error(`server for port ${port} exited before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

/** Whether a binary is found (PATH plus the sbin folders, where sshd and smbd live). */
export function findBinary(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin']) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    try {
      execFileSync('test', ['-x', p]);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * A dedicated system user for a test server, created when missing
 * (idempotent; no home, no login shell). Retries while another test holds
 * the lock on /etc/passwd.
 */
export async function ensureSystemUser(name: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      execFileSync('getent', ['passwd', name], { stdio: 'ignore' });
      return;
    } catch {
      /* missing: create */
    }
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { stdio: 'pipe' });
      return;
    } catch (err) {
      if (i >= 20) throw err;
      await sleep(250);
    }
  }
}

/** A child process of a test, killed (with its process group) at teardown. */
export class ServerProcess {
  readonly output: Buffer[] = [];
  exited = false;

  constructor(
    readonly child: ChildProcess,
    private readonly group: boolean,
  ) {
    child.stdout?.on('data', (b: Buffer) => this.output.push(b));
    child.stderr?.on('data', (b: Buffer) => this.output.push(b));
    child.on('exit', () => {
      this.exited = true;
    });
  }

  /**
   * `group`: the process leads its own process group, and stop() signals the
   * whole group. 'spawn' makes it one (setsid at spawn); 'self' is for
   * servers that call setsid() themselves (smbd fails when already a leader).
   */
  static start(cmd: string, args: string[], o: { group: 'spawn' | 'self' | false; cwd?: string }): ServerProcess {
    const child = spawn(cmd, args, { detached: o.group === 'spawn', stdio: ['ignore', 'pipe', 'pipe'], cwd: o.cwd });
    return new ServerProcess(child, o.group !== false);
  }

  text(): string {
    return Buffer.concat(this.output).toString('utf8');
  }

  /** SIGTERM to the process (group), SIGKILL after 5 s; resolves once it has exited. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(this.group ? -pid : pid, sig);
      } catch {
        /* already gone */
      }
    };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    // Children of the group (per-connection workers) may outlive the leader briefly.
    if (this.group) {
      await sleep(100);
      signal('SIGKILL');
    }
  }
}

export interface Mail {
  from: string;
  to: string[];
  user: string | undefined;
  raw: string;
  subject: string;
}

/** A real SMTP server (npm smtp-server) on 127.0.0.1 with AUTH; every message is kept. */
export async function startSmtp(t: Teardown, auth = { user: 'alerts', pass: 'smtp-pw' }): Promise<{ port: number; mails: Mail[]; waitFor(n: number, ms?: number): Promise<Mail[]> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(a, _session, cb) {
      if (a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
      else cb(new Error('invalid credentials'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
        const from = session.envelope.mailFrom;
        mails.push({
          from: from === false ? '' : from.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
          raw,
          subject,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as net.AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    port,
    mails,
    async waitFor(n: number, ms = 10_000): Promise<Mail[]> {
      const end = Date.now() + ms;
      while (mails.length < n && Date.now() < end) await sleep(20);
      return mails;
    },
  };
}

/** alerts.email for the test SMTP server. */
export function emailConfig(port: number): NonNullable<AlertsConfig['email']> {
  return {
    to: ['compliance@example.test'],
    from: 'callrec@example.test',
    smtp: { host: '127.0.0.1', port, secure: false, username: 'alerts', password: 'smtp-pw' },
  };
}
