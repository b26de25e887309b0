/**
 * baresip (Debian baresip-core 1.0.0) as a scripted SIP peer for interop
 * tests: headless through ctrl_tcp, its own tone as the audio source
 * (aufile), what it decoded dumped by sndfile, SRTP with mediaenc=srtp-mand
 * and SIP over TLS with sip_certificate/sip_cafile (it listens for TLS on
 * its SIP port + 1). Also the WAV and tone helpers the tests check audio with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { onPath } from './paths.js';
import { freePort, freePortRange, releasePorts } from './ports.js';
import { cleanChildEnv, terminate, trackChild } from './processes.js';

export const BARESIP_MODULES = '/usr/lib/baresip/modules';
const MODULES = BARESIP_MODULES;

/** baresip with the modules these tests use. */
export function baresipAvailable(): boolean {
  return onPath('baresip') && ['srtp.so', 'sndfile.so', 'aufile.so', 'ctrl_tcp.so', 'g711.so'].every((m) => fs.existsSync(path.join(MODULES, m)));
}

/** 16-bit mono 8 kHz PCM WAV of a sine tone. */
export function toneWav(file: string, hz: number, seconds: number): void {
  const n = 8000 * seconds;
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) data.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * hz * i) / 8000)), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, data]));
}


export interface Wav {
  formatTag: number;
  channels: number;
  bits: number;
  data: Buffer;
}

/** RIFF/RF64 chunks: fmt and data (a data size of 0xffffffff runs to the end). */
export function readWav(file: string): Wav {
  const b = fs.readFileSync(file);
  let at = 12;
  let fmt: Buffer | undefined;
  let data: Buffer | undefined;
  while (at + 8 <= b.length) {
    const id = b.toString('latin1', at, at + 4);
    let size = b.readUInt32LE(at + 4);
    if (id === 'data' && (size === 0xffffffff || at + 8 + size > b.length)) size = b.length - at - 8;
    if (id === 'fmt ') fmt = b.subarray(at + 8, at + 8 + size);
    if (id === 'data') data = b.subarray(at + 8, at + 8 + size);
    at += 8 + size + (size & 1);
  }
  if (fmt === undefined || data === undefined) throw new Error(`${file}: no fmt or data chunk`);
  return { formatTag: fmt.readUInt16LE(0), channels: fmt.readUInt16LE(2), bits: fmt.readUInt16LE(14), data };
}

/** ITU-T G.711 A-law to linear. */
export function alaw(byte: number): number {
  const a = byte ^ 0x55;
  const seg = (a & 0x70) >> 4;
  let t = (a & 0x0f) << 4;
  t = seg === 0 ? t + 8 : (t + 0x108) << (seg - 1);
  return (a & 0x80) !== 0 ? t : -t;
}

/** Linear samples of one channel (A-law or 16-bit PCM). */
export function samples(wav: Wav, channel: number): number[] {
  const out: number[] = [];
  if (wav.formatTag === 6) {
    for (let i = channel; i < wav.data.length; i += wav.channels) out.push(alaw(wav.data[i]!));
  } else if (wav.formatTag === 1 && wav.bits === 16) {
    for (let i = channel * 2; i + 1 < wav.data.length; i += wav.channels * 2) out.push(wav.data.readInt16LE(i));
  } else {
    throw new Error(`unexpected WAV format ${wav.formatTag}/${wav.bits}`);
  }
  return out;
}

/** Seconds of loud audio and its frequency by zero crossings (over the loud samples only). */
export function tone(x: readonly number[]): { loudSeconds: number; hz: number } {
  const loud = 2000;
  let first = x.findIndex((v) => Math.abs(v) > loud);
  if (first < 0) return { loudSeconds: 0, hz: 0 };
  let last = x.length - 1;
  while (last > first && Math.abs(x[last]!) <= loud) last--;
  first = Math.min(first + 400, last);
  last = Math.max(last - 400, first);
  let crossings = 0;
  let loudCount = 0;
  for (let i = first + 1; i <= last; i++) {
    if ((x[i - 1]! < 0) !== (x[i]! < 0)) crossings++;
  }
  for (const v of x) if (Math.abs(v) > loud) loudCount++;
  const seconds = (last - first) / 8000;
  return { loudSeconds: loudCount / 8000, hz: seconds > 0 ? crossings / 2 / seconds : 0 };
}


/** baresip's ctrl_tcp: netstring-framed JSON commands, responses and events. */
export class BaresipControl {
  readonly events: Array<Record<string, unknown>> = [];
  private buffer = Buffer.alloc(0);
  private readonly waiters = new Set<{ pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }>();

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => {});
  }

  static async connect(port: number, timeoutMs = 8000): Promise<BaresipControl> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        return new BaresipControl(socket);
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private onData(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d]);
    for (;;) {
      const colon = this.buffer.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.buffer.toString('latin1', 0, colon));
      if (this.buffer.length < colon + 1 + len + 1) return;
      const text = this.buffer.toString('utf8', colon + 1, colon + 1 + len);
      this.buffer = this.buffer.subarray(colon + 2 + len);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      this.events.push(msg);
      for (const w of [...this.waiters]) {
        if (w.pred(msg)) {
          this.waiters.delete(w);
          w.resolve(msg);
        }
      }
    }
  }

  command(command: string, params?: string): Promise<Record<string, unknown>> {
    const json = JSON.stringify(params === undefined ? { command } : { command, params });
    const reply = this.waitFor((m) => m['response'] === true, 5000);
    this.socket.write(`${Buffer.byteLength(json)}:${json},`);
    return reply;
  }

  /** The first message (seen or future) that matches. */
  waitFor(pred: (m: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const seen = this.events.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`baresip: no matching event within ${timeoutMs} ms; got ${this.events.map((e) => e['type'] ?? 'response').join(', ')}`));
      }, timeoutMs);
      timer.unref();
      this.waiters.add(w);
    });
  }

  event(type: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return this.waitFor((m) => m['event'] === true && m['type'] === type, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface Baresip {
  readonly sipPort: number;
  /** The TLS port (SIP port + 1) and the address bound. */
  readonly tlsPort: number;
  readonly host: string;
  readonly ports: { sip: number; ctrl: number; rtp: number };
  readonly user: string;
  readonly ctrl: BaresipControl;
  readonly sndDir: string;
  log(): string;
  /** Stops baresip; its ports stay reserved when `keepPorts` (for a restart on them). */
  stop(keepPorts?: boolean): Promise<void>;
}

export interface BaresipOptions {
  name: string;
  user: string;
  srtp: boolean;
  autoAnswer: boolean;
  sourceWav: string;
  /** Local address to bind SIP and RTP to (default 127.0.0.1; another loopback address keeps peers apart by host). */
  host?: string;
  /**
   * SIP over TLS (baresip listens on its SIP port + 1): `certificate` is
   * certificate and key in one PEM (the server side), `ca` the CA it trusts.
   */
  tls?: { certificate: string; ca: string };
  /** Extra account parameters (after `;`). */
  accountParams?: string[];
  /** Use these ports instead of free ones (a restart on the same address). */
  ports?: { sip: number; ctrl: number; rtp: number };
}

export async function startBaresip(dir: string, o: BaresipOptions): Promise<Baresip> {
  const home = path.join(dir, o.name);
  const sndDir = path.join(home, 'snd');
  fs.mkdirSync(sndDir, { recursive: true });
  const host = o.host ?? '127.0.0.1';
  // baresip binds the SIP port on UDP and TCP, and TLS on port + 1.
  const sipPort = o.ports?.sip ?? await freePortRange(2, 'both', 2);
  const ctrlPort = o.ports?.ctrl ?? await freePort('tcp');
  const rtpBase = o.ports?.rtp ?? await freePortRange(20, 'udp', 2);
  fs.writeFileSync(path.join(home, 'config'), [
    'poll_method epoll', `sip_listen ${host}:${sipPort}`, 'call_local_timeout 60', 'call_max_calls 4',
    ...(o.tls !== undefined ? [`sip_certificate ${o.tls.certificate}`, `sip_cafile ${o.tls.ca}`] : []),
    'audio_player alsa,null', 'audio_alert alsa,null', `audio_source aufile,${o.sourceWav}`,
    'ausrc_srate 8000', 'auplay_srate 8000', `rtp_ports ${rtpBase}-${rtpBase + 19}`, `module_path ${MODULES}`,
    'module g711.so', 'module aufile.so', 'module alsa.so', 'module srtp.so', 'module sndfile.so',
    'module_app account.so', 'module_app menu.so', 'module_app ctrl_tcp.so', `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
    `snd_path ${sndDir}`, '',
  ].join('\n'));
  const params = ['regint=0', 'audio_codecs=PCMA', ...(o.autoAnswer ? ['answermode=auto'] : []), ...(o.srtp ? ['mediaenc=srtp-mand'] : []), ...(o.accountParams ?? [])];
  fs.writeFileSync(path.join(home, 'accounts'), `<sip:${o.user}@${host}>;${params.join(';')}\n`);
  const logFile = path.join(home, 'baresip.log');
  const out = fs.openSync(logFile, 'w');
  const child: ChildProcess = spawn('baresip', ['-n', host, '-f', home], { env: cleanChildEnv(), stdio: ['ignore', out, out] });
  fs.closeSync(out);
  trackChild(child);
  const release = (): void => {
    releasePorts(sipPort, 2);
    releasePorts(ctrlPort);
    releasePorts(rtpBase, 20);
  };
  let ctrl: BaresipControl;
  try {
    ctrl = await BaresipControl.connect(ctrlPort);
    if (o.tls !== undefined) await tcpReachable(host, sipPort + 1, 5000);
  } catch (err) {
    await terminate(child, 1000);
    release();
    throw new Error(`baresip ${o.name} did not start: ${String(err)}\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  let stopping: Promise<void> | undefined;
  return {
    sipPort,
    tlsPort: sipPort + 1,
    host,
    ports: { sip: sipPort, ctrl: ctrlPort, rtp: rtpBase },
    user: o.user,
    ctrl,
    sndDir,
    log: () => fs.readFileSync(logFile, 'utf8'),
    stop: (keepPorts = false) => {
      stopping ??= (async () => {
        ctrl.close();
        await terminate(child, 2000);
        if (!keepPorts) release();
      })();
      return stopping;
    },
  };
}


/** Resolves once a TCP connection to host:port succeeds (a listener is up); rejects after `timeoutMs`. */
export async function tcpReachable(host: string, port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Free ports are probed, released and bound later by the child; other test
 * processes on the host can take one in between. Such a start is retried.
 */
export async function retryOnPortClash<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|in use|did not start/i.test(String(err))) throw err;
    }
  }
}

/** The file `name` somewhere below `dir`. */
export function findFile(dir: string, name: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return full;
    if (entry.isDirectory()) {
      const found = findFile(full, name);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The tone each party heard, from its sndfile decode dump (undefined when it dumped nothing). */
export function heardTone(party: Baresip): { loudSeconds: number; hz: number } | undefined {
  const dump = fs.readdirSync(party.sndDir).find((f) => f.endsWith('-dec.wav'));
  return dump === undefined ? undefined : tone(samples(readWav(path.join(party.sndDir, dump)), 0));
}
