/**
 * SPEC M8 interop: real baresip (Debian baresip-core, its srtp module with
 * `mediaenc=srtp-mand`) as PBX and as provider, calling through a real
 * callrec, with SRTP on both legs, on one leg only each way, and an inbound
 * call. Each baresip plays its own tone (caller 600 Hz, callee 1000 Hz, PCMA)
 * with aufile and dumps what it decoded with sndfile.
 *
 * Verifies per call:
 *   - the call connects (CALL_ESTABLISHED on both baresips) and ends by the
 *     caller's BYE when its source file ends;
 *   - callrec negotiated SRTP exactly on the legs it should (`srtp.keys`),
 *     warned when an SRTP call went on as plain RTP (`srtp.plain-leg`), and
 *     logged no authentication or replay failure, and no key;
 *   - the recording has audio on both channels, non-silent, with the
 *     caller's tone on the left and the callee's on the right (garbage from
 *     a wrong key would not be a clean tone);
 *   - each baresip heard the other's tone (its sndfile decode dump), and
 *     reported no SRTP unprotect failure; SRTP sides report SRTP enabled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  type CallrecInstance, type LogLine, cleanChildEnv, freePort, freePortRange, makeTempDir, onPath, releasePorts, removeTempDir,
  startCallrec, terminate, trackChild,
} from './harness/index.js';

const MODULES = '/usr/lib/baresip/modules';
const CALLER_HZ = 600;
const CALLEE_HZ = 1000;
const CALL_SECONDS = 4;

function baresipAvailable(): boolean {
  return onPath('baresip') && ['srtp.so', 'sndfile.so', 'aufile.so', 'ctrl_tcp.so', 'g711.so'].every((m) => fs.existsSync(path.join(MODULES, m)));
}

/** 16-bit mono 8 kHz PCM WAV of a sine tone. */
function toneWav(file: string, hz: number, seconds: number): void {
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

// ---------------------------------------------------------------- WAV reading

interface Wav {
  formatTag: number;
  channels: number;
  bits: number;
  data: Buffer;
}

/** RIFF/RF64 chunks: fmt and data (a data size of 0xffffffff runs to the end). */
function readWav(file: string): Wav {
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
function alaw(byte: number): number {
  const a = byte ^ 0x55;
  const seg = (a & 0x70) >> 4;
  let t = (a & 0x0f) << 4;
  t = seg === 0 ? t + 8 : (t + 0x108) << (seg - 1);
  return (a & 0x80) !== 0 ? t : -t;
}

/** Linear samples of one channel (A-law or 16-bit PCM). */
function samples(wav: Wav, channel: number): number[] {
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
function tone(x: readonly number[]): { loudSeconds: number; hz: number } {
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

// ---------------------------------------------------------------- baresip

/** baresip's ctrl_tcp: netstring-framed JSON commands, responses and events. */
class BaresipControl {
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

interface Baresip {
  readonly sipPort: number;
  readonly user: string;
  readonly ctrl: BaresipControl;
  readonly sndDir: string;
  log(): string;
  stop(): Promise<void>;
}

interface BaresipOptions {
  name: string;
  user: string;
  srtp: boolean;
  autoAnswer: boolean;
  sourceWav: string;
}

async function startBaresip(dir: string, o: BaresipOptions): Promise<Baresip> {
  const home = path.join(dir, o.name);
  const sndDir = path.join(home, 'snd');
  fs.mkdirSync(sndDir, { recursive: true });
  // baresip binds the SIP port on UDP and TCP, and TLS on port + 1.
  const sipPort = await freePortRange(2, 'both', 2);
  const ctrlPort = await freePort('tcp');
  const rtpBase = await freePortRange(20, 'udp', 2);
  fs.writeFileSync(path.join(home, 'config'), [
    'poll_method epoll', `sip_listen 127.0.0.1:${sipPort}`, 'call_local_timeout 60', 'call_max_calls 4',
    'audio_player alsa,null', 'audio_alert alsa,null', `audio_source aufile,${o.sourceWav}`,
    'ausrc_srate 8000', 'auplay_srate 8000', `rtp_ports ${rtpBase}-${rtpBase + 19}`, `module_path ${MODULES}`,
    'module g711.so', 'module aufile.so', 'module alsa.so', 'module srtp.so', 'module sndfile.so',
    'module_app account.so', 'module_app menu.so', 'module_app ctrl_tcp.so', `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
    `snd_path ${sndDir}`, '',
  ].join('\n'));
  const params = ['regint=0', 'audio_codecs=PCMA', ...(o.autoAnswer ? ['answermode=auto'] : []), ...(o.srtp ? ['mediaenc=srtp-mand'] : [])];
  fs.writeFileSync(path.join(home, 'accounts'), `<sip:${o.user}@127.0.0.1>;${params.join(';')}\n`);
  const logFile = path.join(home, 'baresip.log');
  const out = fs.openSync(logFile, 'w');
  const child: ChildProcess = spawn('baresip', ['-n', '127.0.0.1', '-f', home], { env: cleanChildEnv(), stdio: ['ignore', out, out] });
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
  } catch (err) {
    await terminate(child, 1000);
    release();
    throw new Error(`baresip ${o.name} did not start: ${String(err)}\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  let stopping: Promise<void> | undefined;
  return {
    sipPort,
    user: o.user,
    ctrl,
    sndDir,
    log: () => fs.readFileSync(logFile, 'utf8'),
    stop: () => {
      stopping ??= (async () => {
        ctrl.close();
        await terminate(child, 2000);
        release();
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------- the calls

interface Scenario {
  /** baresip uses mediaenc=srtp-mand on that side. */
  pbxSrtp: boolean;
  providerSrtp: boolean;
  /** callrec's `srtp` setting per side. */
  modes: { pbx: 'off' | 'sdes'; provider: 'off' | 'sdes' };
  /** The provider calls the PBX (default: the PBX calls out). */
  inbound?: boolean;
}

/** The file `name` somewhere below `dir`. */
function findFile(dir: string, name: string): string | undefined {
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

/**
 * Free ports are probed, released and bound later by the child; other test
 * processes on the host can take one in between. Such a start is retried.
 */
async function retryOnPortClash<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|in use|did not start/i.test(String(err))) throw err;
    }
  }
}

function logsOf(rec: CallrecInstance, event: string): LogLine[] {
  return rec.logs.filter((l) => l.event === event);
}

async function srtpCall(t: Test, s: Scenario): Promise<void> {
  const dir = makeTempDir('callrec-srtp');
  t.teardown(() => removeTempDir(dir));
  const callerWav = path.join(dir, 'caller.wav');
  const calleeWav = path.join(dir, 'callee.wav');
  toneWav(callerWav, CALLER_HZ, CALL_SECONDS);
  toneWav(calleeWav, CALLEE_HZ, 30);
  const inbound = s.inbound === true;
  const pbx = await retryOnPortClash(() => startBaresip(dir, { name: 'pbx', user: 'alice', srtp: s.pbxSrtp, autoAnswer: inbound, sourceWav: inbound ? calleeWav : callerWav }));
  t.teardown(() => pbx.stop());
  const provider = await retryOnPortClash(() => startBaresip(dir, { name: 'provider', user: 'bob', srtp: s.providerSrtp, autoAnswer: !inbound, sourceWav: inbound ? callerWav : calleeWav }));
  t.teardown(() => provider.stop());
  const rec = await retryOnPortClash(() => startCallrec({
    pbx: { port: pbx.sipPort },
    provider: { port: provider.sipPort },
    overrides: { pbx: { srtp: s.modes.pbx }, provider: { srtp: s.modes.provider } },
  }));
  t.teardown(() => rec.dispose());
  const [caller, callee] = inbound ? [provider, pbx] : [pbx, provider];
  const [callerSide, calleeSide] = inbound ? ['provider', 'pbx'] : ['pbx', 'provider'];

  const dialed = await caller.ctrl.command('dial', `sip:${callee.user}@127.0.0.1:${rec.sipPort}`);
  t.equal(dialed['ok'], true, 'baresip took the dial command');
  await caller.ctrl.event('CALL_ESTABLISHED', 15_000);
  await callee.ctrl.event('CALL_ESTABLISHED', 5000);
  t.pass('the call connects');
  // The caller's source file ends after CALL_SECONDS: it hangs up.
  const closed = await caller.ctrl.event('CALL_CLOSED', (CALL_SECONDS + 15) * 1000);
  t.match(String(closed['param']), /end of file/, 'the caller hung up at the end of its audio');
  await callee.ctrl.event('CALL_CLOSED', 5000);

  const sealed = await rec.waitForLog((l) => l.event === 'recording.sealed', 30_000);
  const delivered = await rec.waitForLog((l) => (l.event === 'archive.delivered' || l.event === 'recording.delivered') && l['base'] === sealed['base'], 30_000);
  const name = String(delivered['base']);
  const infoFile = findFile(rec.archiveDir, `${name}_info.txt`);
  if (infoFile === undefined) throw new Error(`${name}_info.txt not found below ${rec.archiveDir}`);
  const base = infoFile.slice(0, -'_info.txt'.length);
  const info = fs.readFileSync(`${base}_info.txt`, 'utf8');
  t.match(info, /^Codec: PCMA$/m, 'metadata: PCMA');
  t.notMatch(info, /inline|crypto/i, 'no key material in the metadata');
  if (s.pbxSrtp) t.match(info, new RegExp(`^Encryption: .*SRTP \\S+ ${inbound ? 'callee' : 'caller'} leg`, 'm'), 'metadata names the PBX leg as SRTP');
  if (s.providerSrtp) t.match(info, new RegExp(`^Encryption: .*SRTP \\S+ ${inbound ? 'caller' : 'callee'} leg`, 'm'), 'metadata names the provider leg as SRTP');

  // callrec's negotiation, as logged (never with keys).
  const keyed = logsOf(rec, 'srtp.keys').map((l) => String(l['side'])).sort();
  const wantKeyed = [...(s.pbxSrtp ? ['pbx'] : []), ...(s.providerSrtp ? ['provider'] : [])].sort();
  t.same(keyed, wantKeyed, `SRTP negotiated on: ${wantKeyed.join(', ') || 'no leg'}`);
  for (const l of logsOf(rec, 'srtp.keys')) t.equal(l['suite'], 'AES_CM_128_HMAC_SHA1_80', `${String(l['side'])} leg suite`);
  const srtpCaller = inbound ? s.providerSrtp : s.pbxSrtp;
  const plainCallee = inbound ? !s.pbxSrtp : !s.providerSrtp;
  if (srtpCaller && plainCallee) t.ok(logsOf(rec, 'srtp.plain-leg').some((l) => l.level === 40), 'warned: SRTP call relayed as plain RTP');
  const failures = rec.logs.filter((l) => (l.event === 'srtp.drop' && l['reason'] !== 'malformed')
    || (l.event === 'srtp.dropped' && (Number(l['authFailures']) > 0 || Number(l['replayed']) > 0)));
  t.same(failures, [], 'no SRTP authentication or replay failures');
  t.notOk(rec.logs.some((l) => /inline:/.test(JSON.stringify(l))), 'no key in callrec\'s log');

  // The recording: caller left, callee right, each its own clean tone.
  const wav = readWav(`${base}.wav`);
  t.equal(wav.channels, 2, 'stereo');
  const left = tone(samples(wav, 0));
  const right = tone(samples(wav, 1));
  t.ok(left.loudSeconds > CALL_SECONDS - 1.5, `caller channel has audio (${left.loudSeconds.toFixed(2)} s)`);
  t.ok(right.loudSeconds > CALL_SECONDS - 1.5, `callee channel has audio (${right.loudSeconds.toFixed(2)} s)`);
  t.ok(Math.abs(left.hz - CALLER_HZ) < CALLER_HZ * 0.03, `caller channel: ${left.hz.toFixed(1)} Hz tone (${CALLER_HZ})`);
  t.ok(Math.abs(right.hz - CALLEE_HZ) < CALLEE_HZ * 0.03, `callee channel: ${right.hz.toFixed(1)} Hz tone (${CALLEE_HZ})`);

  // Each party heard the other (what its decoder produced).
  for (const [party, hz, who] of [[callee, CALLER_HZ, `callee (${calleeSide})`], [caller, CALLEE_HZ, `caller (${callerSide})`]] as const) {
    const dump = fs.readdirSync(party.sndDir).find((f) => f.endsWith('-dec.wav'));
    t.ok(dump !== undefined, `${who} dumped what it decoded`);
    if (dump === undefined) continue;
    const heard = tone(samples(readWav(path.join(party.sndDir, dump)), 0));
    t.ok(heard.loudSeconds > CALL_SECONDS - 1.5, `${who} heard ${heard.loudSeconds.toFixed(2)} s of audio`);
    t.ok(Math.abs(heard.hz - hz) < hz * 0.03, `${who} heard the ${hz} Hz tone (${heard.hz.toFixed(1)} Hz)`);
  }
  for (const [party, srtp, side] of [[pbx, s.pbxSrtp, 'pbx'], [provider, s.providerSrtp, 'provider']] as const) {
    const log = party.log();
    t.notMatch(log, /failed to unprotect|srtp.*(auth|replay).*fail/i, `${side} baresip: no SRTP failures`);
    if (srtp) t.match(log, /SRTP is Enabled/, `${side} baresip ran SRTP`);
  }
}

if (!baresipAvailable()) {
  t.plan(0, 'baresip with srtp, sndfile and ctrl_tcp modules is not installed (run `make install` as root)');
} else {
  t.test('SRTP on both legs (PBX and provider srtp-mand, provider srtp: sdes)', async (t) => {
    await srtpCall(t, { pbxSrtp: true, providerSrtp: true, modes: { pbx: 'off', provider: 'sdes' } });
  });
  t.test('SRTP from the PBX, plain RTP to the provider (provider srtp: off)', async (t) => {
    await srtpCall(t, { pbxSrtp: true, providerSrtp: false, modes: { pbx: 'off', provider: 'off' } });
  });
  t.test('plain RTP from the PBX, SRTP to the provider (provider srtp: sdes)', async (t) => {
    await srtpCall(t, { pbxSrtp: false, providerSrtp: true, modes: { pbx: 'off', provider: 'sdes' } });
  });
  t.test('inbound: SRTP from the provider, SRTP to the PBX (pbx srtp: sdes)', async (t) => {
    await srtpCall(t, { pbxSrtp: true, providerSrtp: true, modes: { pbx: 'sdes', provider: 'off' }, inbound: true });
  });
}
