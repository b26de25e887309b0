#!/usr/bin/env node
/**
 * Media benchmark: N concurrent calls with G.711 RTP both ways through callrec,
 * plain RTP and SRTP side by side.
 *
 *   this driver (PBX + provider SIP, UDP)  <-- SIP -->  callrec
 *   rtpload (C, sendmmsg/recvmmsg)         <-- RTP -->  callrec (anchors and relays)
 *
 * Variants (BENCH_VARIANTS) run one after another for each N and repeat
 * (interleaved, so noise hits them alike), each step with a fresh callrec:
 *   plain         RTP/AVP both legs
 *   srtp          SDES-SRTP on both legs: the driver offers RTP/SAVP with an
 *                 a=crypto AES_CM_128_HMAC_SHA1_80 line (random key per call)
 *                 as PBX; the config sets provider srtp: sdes, so callrec offers
 *                 SRTP toward the provider, and the driver answers with its own
 *                 key. rtpload (built with -DRTPLOAD_SRTP, on OpenSSL
 *                 libcrypto) protects what each side sends with that side's
 *                 key and authenticates and decrypts what arrives with the key
 *                 callrec announced for that leg (RFC 3711), then counts loss
 *                 and latency as for plain. The step checks that callrec
 *                 logged srtp.keys for both legs of every call and dropped
 *                 nothing, and that rtpload unprotected every packet.
 *   plain-dgram, srtp-dgram
 *                 the same with CALLREC_MEDIA_IO=dgram in callrec's environment
 *                 (forces its old node:dgram packet I/O backend)
 *   plain-inline, srtp-inline
 *                 the same with CALLREC_MEDIA_SEND_THREAD=0: the batched engine
 *                 sends on the event-loop thread instead of its sender thread
 *   plain-js       the same with CALLREC_MEDIA_FAST_PATH=0: every packet is
 *                 relayed and spooled by JavaScript, not by the engine's
 *                 fast path (SRTP legs never take the fast path)
 *   plain-fswrites the same with CALLREC_SPOOL_WRITES=fs: the spool files are
 *                 written with fs.write on libuv's threadpool instead of by
 *                 the native writer thread
 *   plain-inband   the same with no telephone-event in either SDP: callrec
 *                 then detects the PBX's keys in-band (Goertzel over its
 *                 G.711 audio, read from the spool before each flush)
 *   plain-reader   the same with CALLREC_MEDIA_READER_THREAD=1: sockets are
 *                 read, and the fast path run, on the engine's reading
 *                 thread instead of the event-loop thread
 * A variant's environment is added to the driver's own for callrec. For an
 * SRTP variant the table shows its CPU per call-second over its plain
 * counterpart's at the same N (medians; srtp-dgram against plain-dgram),
 * and the summary checks the SRTP target: at most 1.5x, loss-free at N=500.
 *
 * Per step (one N, one variant, one repeat) it starts a fresh `callrec serve`
 * with a temp config (profile "all": every call recorded, local target), then
 *   1. runs rtpload with the same flows sent directly from socket to socket
 *      (no callrec) for BENCH_BASELINE_SECONDS: the loopback baseline latency
 *      (SRTP variants: protected and unprotected with the sender's key, so
 *      rtpload's own SRTP cost is in the baseline too);
 *   2. sets up N calls at BENCH_CPS calls/s, being both the PBX (sends INVITE,
 *      ACKs the 200, BYE at the end) and the provider (answers callrec's
 *      INVITE with 200 + SDP, answers BYE); from the SDPs it learns the
 *      callrec port each side must send to;
 *   3. runs rtpload: every call leg sends a 172-byte PCMA packet every 20 ms
 *      (100 packets/s into callrec per call, 100 out), spread over the 20 ms;
 *      rtpload sinks what callrec relays and counts loss per flow and latency;
 *   4. after BENCH_WARMUP seconds it reads utime+stime of callrec (and any
 *      child processes) from /proc/<pid>/stat, again BENCH_SECONDS later:
 *      CPU ms per call-second = CPU ms / (N x window seconds). VmRSS at the
 *      end of the window minus VmRSS before the calls, divided by N, is the
 *      memory per call;
 *   5. sends BYE for every call, then waits for the recordings and counts the
 *      complete ones in the local target (_info.txt + _hash.txt + .sig + WAV).
 * Added latency = latency through callrec - baseline latency (p50 and p99).
 * Steps run for each N in BENCH_N, BENCH_REPEAT times each per variant
 * (table: medians, a row per N and variant); after the list, N grows by
 * BENCH_STEP up to BENCH_MAX_N. A variant leaves the ladder at the first N
 * where a repeat loses packets (unless BENCH_KEEP_GOING=1); the ladder stops
 * when no variant is left. Results: bench/media/results-<date>.json.
 *
 * Needs gcc and a build (make bench-media builds first); SRTP variants need
 * OpenSSL's libcrypto headers (Debian libssl-dev; make bench-media installs
 * it when run as root).
 *
 * Environment:
 *   BENCH_N                 N list                          (default 100,250,500,1000,1500)
 *   BENCH_VARIANTS          variants per N and repeat       (default plain; e.g. plain,srtp;
 *                           known: plain, srtp, plain-dgram, srtp-dgram, plain-inline, srtp-inline, plain-js, plain-fswrites, plain-inband, plain-reader)
 *   BENCH_SECONDS           CPU measurement window, s       (default 15)
 *   BENCH_WARMUP            RTP before the window, s        (default 3)
 *   BENCH_REPEAT            repeats per N                   (default 3)
 *   BENCH_CPS               call set-up rate, calls/s       (default 200)
 *   BENCH_BASELINE_SECONDS  direct loopback baseline, s     (default 5; 0 = none)
 *   BENCH_GEN_SOCKETS       rtpload sockets per side        (default 4; 0 = one per call leg)
 *   BENCH_EXTEND            grow N after the list while it holds (default 1)
 *   BENCH_STEP / BENCH_MAX_N  growth step and cap           (default 500 / 4000)
 *   BENCH_KEEP_GOING=1      no variant leaves the ladder at an N with loss
 *   BENCH_FINALIZE_TIMEOUT  max wait for recordings, s      (default 60)
 *   BENCH_OUT               result file                     (default bench/media/results-<date>.json)
 *   BENCH_KEEP_TMP=1        keep the temp dir (configs, callrec logs, rtpload results)
 *   BENCH_CALLREC           path of the callrec launcher    (default bin/callrec of this tree)
 *   BENCH_NOISE_LIMIT       CPU (in cores) other jobs may use for a step to count as quiet
 *                           (default 0.25). Before each step the driver waits up to
 *                           BENCH_QUIET_WAIT seconds (default 30) for a quiet machine; a step
 *                           that loses packets while others used more than the limit is
 *                           repeated (at most twice) instead of ending the ladder. CPU time per
 *                           call-second is measured from callrec's own utime+stime and does not
 *                           need a quiet machine; loss and latency do.
 *   BENCH_RECORD=0          relay only: the profile covers inbound calls only, so these
 *                           (outbound) calls are not recorded; shows what recording costs
 *   BENCH_NODE_ARGS         extra node options for callrec, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   BENCH_PIN               <callrec cpu>:<rtpload cpu>, e.g. 0:1: callrec's threads on one CPU,
 *                           the generator on another (taskset; default: not pinned)
 *   BENCH_NICE              nice value for callrec and rtpload (default off; needs root). With
 *                           sched_autogroup it only orders processes within this session.
 *   CALLREC_ECHO=1          copy callrec's output to stderr
 * callrec inherits the driver's environment (e.g. CALLREC_LOG_LEVEL), plus
 * the variant's own (CALLREC_MEDIA_IO=dgram for the -dgram variants).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
/** BENCH_CALLREC: another tree's bin/callrec (e.g. to compare builds); default this repository's. */
const CALLREC_BIN = path.resolve(process.env.BENCH_CALLREC ?? path.join(ROOT, 'bin', 'callrec'));
const CALLREC_MAIN = path.join(path.dirname(CALLREC_BIN), '..', 'dist', 'lib', 'cli', 'main.js');
const HOST = '127.0.0.1';

const env = process.env;
const num = (name, def) => {
  const v = env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    console.error(`bench-media: ${name}=${v} is not a number`);
    process.exit(2);
  }
  return n;
};
const nList = (env.BENCH_N ?? '100,250,500,1000,1500')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const windowSeconds = num('BENCH_SECONDS', 15);
const warmupSeconds = num('BENCH_WARMUP', 3);
const repeats = Math.max(1, Math.floor(num('BENCH_REPEAT', 3)));
const cps = Math.max(1, num('BENCH_CPS', 200));
const baselineSeconds = num('BENCH_BASELINE_SECONDS', 5);
const genSocketsPerSide = Math.max(0, Math.floor(num('BENCH_GEN_SOCKETS', 4)));
const extend = env.BENCH_EXTEND !== '0';
const stepN = Math.max(1, Math.floor(num('BENCH_STEP', 500)));
const maxN = Math.floor(num('BENCH_MAX_N', 4000));
const keepGoing = env.BENCH_KEEP_GOING === '1';
const finalizeTimeout = num('BENCH_FINALIZE_TIMEOUT', 60);
const keepTmp = env.BENCH_KEEP_TMP === '1';
const echo = env.CALLREC_ECHO === '1';
const niceValue = env.BENCH_NICE === undefined || env.BENCH_NICE === 'off' || env.BENCH_NICE === '' ? null : num('BENCH_NICE', 0);
const record = env.BENCH_RECORD !== '0';
const pinSpec = (() => {
  const v = env.BENCH_PIN;
  if (v === undefined || v === '') return null;
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) {
    console.error(`bench-media: BENCH_PIN=${v}: expected <callrec cpu>:<rtpload cpu>, e.g. 0:1`);
    process.exit(2);
  }
  return { callrec: m[1], rtpload: m[2] };
})();
const noiseLimitCores = num('BENCH_NOISE_LIMIT', 0.25);
const quietWaitSeconds = num('BENCH_QUIET_WAIT', 30);

/**
 * BENCH_VARIANTS: what runs at each N and repeat, one after another, each
 * with a fresh callrec. `srtp`: SDES-SRTP (AES_CM_128_HMAC_SHA1_80) on both
 * legs; `env`: extra environment for callrec (over the driver's own);
 * `plain`: the variant whose CPU an SRTP variant is compared with.
 */
const VARIANTS = {
  plain: { srtp: false, env: {}, plain: 'plain' },
  srtp: { srtp: true, env: {}, plain: 'plain' },
  'plain-dgram': { srtp: false, env: { CALLREC_MEDIA_IO: 'dgram' }, plain: 'plain-dgram' },
  'srtp-dgram': { srtp: true, env: { CALLREC_MEDIA_IO: 'dgram' }, plain: 'plain-dgram' },
  'plain-inline': { srtp: false, env: { CALLREC_MEDIA_SEND_THREAD: '0' }, plain: 'plain-inline' },
  'srtp-inline': { srtp: true, env: { CALLREC_MEDIA_SEND_THREAD: '0' }, plain: 'plain-inline' },
  'plain-js': { srtp: false, env: { CALLREC_MEDIA_FAST_PATH: '0' }, plain: 'plain-js' },
  'plain-reader': { srtp: false, env: { CALLREC_MEDIA_READER_THREAD: '1' }, plain: 'plain-reader' },
  'plain-fswrites': { srtp: false, env: { CALLREC_SPOOL_WRITES: 'fs' }, plain: 'plain-fswrites' },
  'plain-inband': { srtp: false, env: {}, plain: 'plain', noEvents: true },
};
const variantNames = [...new Set((env.BENCH_VARIANTS || 'plain').split(',').map((s) => s.trim()).filter(Boolean))];
for (const v of variantNames) {
  if (!Object.hasOwn(VARIANTS, v)) {
    console.error(`bench-media: BENCH_VARIANTS: unknown variant "${v}" (known: ${Object.keys(VARIANTS).join(', ')})`);
    process.exit(2);
  }
}
if (!variantNames.length) {
  console.error('bench-media: BENCH_VARIANTS names no variant');
  process.exit(2);
}
/** The SRTP suite the driver offers and answers with, and its key||salt length (RFC 4568 inline). */
const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80';
const SRTP_KEY_BYTES = 30;
/** Target of the SRTP issue: CPU per call-second at most this times plain's, loss-free at this N. */
const SRTP_TARGETS = { maxCpuRatio: 1.5, lossFreeCalls: 500 };

/**
 * BENCH_PIN=<callrec cpu>:<rtpload cpu> (e.g. 0:1): every thread of callrec
 * on one CPU and the generator on another (taskset), so the generator's own
 * work never takes a core from callrec's threads; returns what was applied.
 */
function pinCpus(callrecPid, rtploadPid) {
  if (!pinSpec) return null;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', pinSpec.callrec, String(callrecPid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-p', '-c', pinSpec.rtpload, String(rtploadPid)], { stdio: 'ignore' });
    return pinSpec;
  } catch (err) {
    console.error(`bench-media: BENCH_PIN: taskset failed (${err.message}); not pinned`);
    return null;
  }
}

/** Applies BENCH_NICE to a child; returns the priority it got (or null). */
function prioritize(pid) {
  if (niceValue === null) return null;
  try {
    os.setPriority(pid, niceValue);
    return os.getPriority(pid);
  } catch {
    return null; // not permitted (not root): run at normal priority
  }
}
const PTIME_MS = 20;
const PAYLOAD_BYTES = 160;
/** Targets of the issue, checked in the summary. */
const TARGETS = { lossFreeCalls: 1000, cpuMsPerCallSecond: 1.0, addedP50Ms: 0.5, addedP99Ms: 5, kbPerCall: 200 };

if (!nList.length) {
  console.error('bench-media: BENCH_N has no positive integers');
  process.exit(2);
}
if (!fs.existsSync(CALLREC_MAIN)) {
  console.error(`bench-media: ${path.relative(ROOT, CALLREC_MAIN)} is missing; run make build (or npx tsc -p .) first`);
  process.exit(2);
}

// ---------------------------------------------------------------- processes

const children = new Set();
let tmpRoot;

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

function cleanupTmp() {
  if (tmpRoot && !keepTmp) fs.rmSync(tmpRoot, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nbench-media: ${sig}, stopping`);
    killChildren();
    cleanupTmp();
    process.exit(130);
  });
}
process.on('exit', () => {
  killChildren();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves when the child exits (code, signal). */
function exitOf(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function terminate(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return exitOf(child);
  const done = exitOf(child);
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    // gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, graceMs);
  const info = await done;
  clearTimeout(timer);
  children.delete(child);
  return info;
}

/** Line reader with waiters: `wait(pred, ms)` resolves with the first line (seen or future) that matches. */
function lineWaiter(stream, onLine) {
  const lines = [];
  const waiters = new Set();
  readline.createInterface({ input: stream }).on('line', (text) => {
    onLine?.(text);
    lines.push(text);
    if (lines.length > 200) lines.shift();
    for (const w of [...waiters]) {
      if (w.pred(text)) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(text);
      }
    }
  });
  return {
    lines,
    wait(pred, ms, what) {
      const seen = lines.find(pred);
      if (seen !== undefined) {
        lines.splice(lines.indexOf(seen), 1);
        return Promise.resolve(seen);
      }
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (t) => {
            lines.splice(lines.indexOf(t), 1);
            resolve(t);
          },
          timer: setTimeout(() => {
            waiters.delete(w);
            reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
          }, ms),
        };
        waiters.add(w);
      });
    },
  };
}

// ---------------------------------------------------------------- /proc

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function statFields(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after ") ": state (3), ppid (4), ..., utime (14), stime (15).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU ticks (utime+stime) of a process and all its descendants; NaN when it is gone. */
function cpuTicksTree(rootPid) {
  const own = statFields(rootPid);
  if (!own) return Number.NaN;
  let ticks = Number(own[11]) + Number(own[12]);
  let pids = [];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return ticks;
  }
  const parent = new Map();
  const cpu = new Map();
  for (const p of pids) {
    const f = statFields(p);
    if (!f) continue;
    parent.set(Number(p), Number(f[1]));
    cpu.set(Number(p), Number(f[11]) + Number(f[12]));
  }
  for (const [p, c] of cpu) {
    if (p === rootPid) continue;
    for (let q = parent.get(p), hops = 0; q !== undefined && q > 1 && hops < 64; q = parent.get(q), hops++) {
      if (q === rootPid) {
        ticks += c;
        break;
      }
    }
  }
  return ticks;
}

function cpuTicks(pid) {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : Number.NaN;
}

/** VmRSS and VmHWM in KiB. */
function memKiB(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(s);
    return { rss: rss ? Number(rss[1]) : Number.NaN, hwm: hwm ? Number(hwm[1]) : Number.NaN };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

/** Machine-wide CPU jiffies: busy, idle (incl. iowait), steal, total. */
function machineCpu() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
    return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal: steal || 0, total };
  } catch {
    return null;
  }
}

function udpCounters() {
  try {
    const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0].split(/\s+/).slice(1);
    const vals = lines[1].split(/\s+/).slice(1).map(Number);
    return Object.fromEntries(names.map((n, i) => [n, vals[i]]));
  } catch {
    return {};
  }
}

/** CPU ticks of this process and its descendants (the benchmark's own load). */
function ownTicks() {
  return cpuTicksTree(process.pid);
}

/** Cores used by other jobs over `ms` (machine busy minus this benchmark's processes). */
async function othersCores(ms) {
  const m0 = machineCpu();
  const o0 = ownTicks();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const m1 = machineCpu();
  const o1 = ownTicks();
  const secs = (performance.now() - t0) / 1000;
  if (!m0 || !m1) return 0;
  return Math.max(0, (m1.busy - m0.busy - (o1 - o0)) / CLK_TCK / secs);
}

/** Waits (bounded) until other jobs use less than the noise limit; returns what it saw. */
async function waitQuiet() {
  const t0 = performance.now();
  let others = await othersCores(2000);
  let announced = false;
  while (others > noiseLimitCores && performance.now() - t0 < quietWaitSeconds * 1000) {
    if (!announced) {
      process.stdout.write(`(others use ${fmt(others, 2)} cores, waiting up to ${quietWaitSeconds} s for quiet) `);
      announced = true;
    }
    others = await othersCores(2000);
  }
  return { othersCores: others, waitedSeconds: (performance.now() - t0) / 1000, quiet: others <= noiseLimitCores };
}

// ---------------------------------------------------------------- helpers

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function percentile(values, p) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return Number.NaN;
  return v[Math.min(v.length - 1, Math.floor(p * v.length))];
}

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

/** A port that is free on 127.0.0.1 for UDP right now (kernel-chosen). */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function bindUdp(port = 0) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    s.once('error', reject);
    s.bind(port, HOST, () => {
      s.removeListener('error', reject);
      resolve(s);
    });
  });
}

// ---------------------------------------------------------------- rtpload

/**
 * Where the latency tail lies in time: packets over 5 ms per second of the
 * run (by send time, from rtpload), so a transient (every call's media
 * starting at once) is told apart from stalls all run long.
 */
function overFiveNote(perSecond) {
  if (!perSecond?.over5ms?.length) return '';
  const over = perSecond.over5ms;
  const total = over.reduce((a, b) => a + b, 0);
  const seconds = over.filter((c) => c > 0).length;
  const worst = Math.max(...perSecond.maxUs) / 1000;
  return `over 5 ms: ${total} pkts in ${seconds}/${over.length} s (first second ${over[0]}, worst ${fmt(worst, 1)} ms), `;
}

/** The plain build; with `srtp` also the SRTP build (OpenSSL libcrypto), which only SRTP variants use. */
function compileRtpload(dir, srtp) {
  const build = (name, extra, hint) => {
    const out = path.join(dir, name);
    try {
      execFileSync('gcc', ['-O2', '-Wall', ...extra.cflags, '-o', out, path.join(HERE, 'rtpload.c'), ...extra.libs],
        { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const msg = err.code === 'ENOENT' ? 'gcc is not installed' : String(err.stderr ?? err.message);
      console.error(`bench-media: cannot compile rtpload.c${hint}: ${msg}`);
      process.exit(2);
    }
    return out;
  };
  return {
    plain: build('rtpload', { cflags: [], libs: [] }, ''),
    srtp: srtp
      ? build('rtpload-srtp', { cflags: ['-DRTPLOAD_SRTP'], libs: ['-lcrypto'] },
        ' with SRTP (needs OpenSSL libcrypto headers: Debian libssl-dev; make bench-media installs it when run as root)')
      : null,
  };
}

async function startRtpload(bin, sockets) {
  const child = spawn(bin, ['--sockets', String(sockets)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(String(d)));
  const out = lineWaiter(child.stdout);
  const portsLine = await out.wait((l) => l.startsWith('PORTS') || l.startsWith('ERR'), 10000, 'rtpload PORTS');
  if (!portsLine.startsWith('PORTS')) throw new Error(`rtpload: ${portsLine} ${stderr.join('')}`);
  const ports = portsLine.split(' ').slice(1).map(Number);
  return {
    child,
    ports,
    /**
     * Sends flows (socket index, destination port[, SRTP key it sends with, key it receives with])
     * and runs; calls onStart when the first packet is due.
     */
    async run(flows, durationMs, drainMs, outFile, onStart, window) {
      const lines = ['CLEAR'];
      for (const [sock, port, txKey, rxKey] of flows) lines.push(txKey ? `FLOW ${sock} ${port} ${txKey} ${rxKey}` : `FLOW ${sock} ${port}`);
      lines.push(`RUN ${durationMs} ${drainMs} ${outFile}${window ? ` ${window.fromMs} ${window.ms}` : ''}`);
      child.stdin.write(`${lines.join('\n')}\n`);
      await out.wait((l) => l === 'START' || l.startsWith('ERR'), 30000, 'rtpload START');
      const started = performance.now();
      const during = onStart ? onStart(started) : Promise.resolve();
      const done = await out.wait((l) => l.startsWith('DONE') || l.startsWith('ERR'), durationMs + drainMs + 30000, 'rtpload DONE');
      await during;
      if (!done.startsWith('DONE')) throw new Error(`rtpload: ${done}`);
      return JSON.parse(fs.readFileSync(outFile, 'utf8'));
    },
    async stop() {
      try {
        child.stdin.end('QUIT\n');
      } catch {
        // closed
      }
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitOf(child);
      clearTimeout(t);
      children.delete(child);
    },
  };
}

// ---------------------------------------------------------------- callrec

async function startCallrec(dir, { sipPort, pbxPort, providerPort, n, variant }) {
  // Four ports per call (RTP+RTCP facing each side), with room because released pairs go to the back.
  const count = Math.min(22000, Math.ceil(n * 4 * 1.25) + 200);
  const portMin = 10000 + 2 * Math.floor((Math.random() * Math.max(0, 22700 - count)) / 2);
  const config = {
    instance: 'bench-media',
    sip: { listen: [{ transport: 'udp', host: HOST, port: sipPort }] },
    pbx: { host: HOST, port: pbxPort, transport: 'udp' },
    // srtp variants: callrec offers SRTP toward the provider; the PBX's SRTP offer is answered in kind.
    provider: { host: HOST, port: providerPort, transport: 'udp', ...(variant.srtp ? { srtp: 'sdes' } : {}) },
    media: { host: HOST, portMin, portMax: portMin + count - 1, timeout: 600 },
    data: { dir: path.join(dir, 'var') },
    // The driver's calls come from the PBX: outbound. BENCH_RECORD=0 records inbound calls only (none here).
    profiles: [{ name: 'all', direction: record ? 'both' : 'inbound', targets: [{ type: 'local', path: path.join(dir, 'archive', '$Y', '$M', '$D') }] }],
  };
  const configPath = path.join(dir, 'callrec.yaml');
  fs.writeFileSync(configPath, `# bench/media/run.mjs (JSON is YAML)\n${JSON.stringify(config, null, 2)}\n`);
  const nodeArgs = (env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CALLREC_BIN, 'serve', '--config', configPath], {
    cwd: path.dirname(configPath),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...variant.env },
  });
  children.add(child);
  const events = {};
  const errors = [];
  let mediaIo; // the packet I/O backend callrec reports (media.io event), if it does
  let stopRequested = false;
  let externalStop;
  const logFile = keepTmp ? fs.createWriteStream(path.join(dir, 'callrec.log')) : null;
  const out = lineWaiter(child.stdout, (text) => {
    logFile?.write(`${text}\n`);
    if (echo) process.stderr.write(`[callrec] ${text}\n`);
    const m = /"event":"([^"]+)"/.exec(text);
    if (m) events[m[1]] = (events[m[1]] ?? 0) + 1;
    if (m?.[1] === 'media.io') mediaIo = /"io":"([^"]+)"/.exec(text)?.[1];
    if (m?.[1] === 'srtp.keys') {
      // SRTP legs by side: srtp.keys.pbx, srtp.keys.provider.
      const key = `srtp.keys.${/"side":"([^"]+)"/.exec(text)?.[1] ?? 'unknown'}`;
      events[key] = (events[key] ?? 0) + 1;
    }
    if (/"level":(50|60)/.test(text) && errors.length < 10) errors.push(text.slice(0, 500));
    // A shutdown we did not ask for (another process signalled it): the step is void, not a result.
    if (m?.[1] === 'stopping' && !stopRequested) externalStop ??= /"signal":"([^"]+)"/.exec(text)?.[1] ?? 'unknown signal';
  });
  const stderr = [];
  readline.createInterface({ input: child.stderr }).on('line', (t) => {
    if (echo) process.stderr.write(`[callrec:err] ${t}\n`);
    if (stderr.length < 50) stderr.push(t);
  });
  let exit = null;
  void exitOf(child).then((info) => {
    exit = info;
  });
  try {
    await Promise.race([
      out.wait((l) => /"event":"ready"/.test(l), 60000, 'callrec ready'),
      exitOf(child).then((info) => {
        throw new Error(`callrec exited (code ${info.code}, signal ${info.signal}): ${stderr.slice(-10).join('\n')} ${out.lines.slice(-5).join('\n')}`);
      }),
    ]);
  } catch (err) {
    await terminate(child);
    throw err;
  }
  return {
    child,
    pid: child.pid,
    config,
    events,
    errors,
    stderr,
    get exit() {
      return exit;
    },
    get mediaIo() {
      return mediaIo;
    },
    /** The signal of a shutdown someone else caused, if any. */
    get externalStop() {
      return externalStop;
    },
    async stop() {
      stopRequested = true;
      const info = await terminate(child);
      logFile?.end();
      return info;
    },
  };
}

// ---------------------------------------------------------------- SIP (PBX and provider)

const COMPACT = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', k: 'supported' };

function parseSip(buf) {
  const text = buf.toString('latin1');
  const sep = text.indexOf('\r\n\r\n');
  const head = sep < 0 ? text : text.slice(0, sep);
  const lines = head.split('\r\n');
  const start = lines[0] ?? '';
  const headers = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (/^[ \t]/.test(line) && headers.length) {
      headers[headers.length - 1][1] += ` ${line.trim()}`;
      continue;
    }
    const idx = line.indexOf(':');
    if (idx <= 0) continue;
    const raw = line.slice(0, idx).trim().toLowerCase();
    headers.push([COMPACT[raw] ?? raw, line.slice(idx + 1).trim()]);
  }
  const get = (name) => headers.find((h) => h[0] === name)?.[1];
  const len = Number(get('content-length') ?? '0');
  const body = sep < 0 ? '' : text.slice(sep + 4, sep + 4 + (Number.isFinite(len) ? len : 0));
  const status = /^SIP\/2\.0 (\d{3})/.exec(start);
  const req = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(start);
  const cseq = /^(\d+)\s+([A-Z]+)/.exec(get('cseq') ?? '');
  return {
    status: status ? Number(status[1]) : 0,
    method: req ? req[1] : undefined,
    uri: req ? req[2] : undefined,
    headers,
    get,
    all: (name) => headers.filter((h) => h[0] === name).map((h) => h[1]),
    body,
    callId: get('call-id'),
    cseqNum: cseq ? Number(cseq[1]) : 0,
    cseqMethod: cseq ? cseq[2] : undefined,
  };
}

function tagOf(value) {
  if (!value) return undefined;
  const tail = value.includes('>') ? value.slice(value.lastIndexOf('>')) : value;
  return /;\s*tag=([^;\s]+)/i.exec(tail)?.[1];
}

function uriOf(value) {
  if (!value) return undefined;
  const m = /<([^>]+)>/.exec(value);
  return m ? m[1] : value.split(';')[0].trim();
}

function sdpMedia(body) {
  const c = /^c=IN IP4 (\S+)/m.exec(body);
  const m = /^m=audio (\d+) (\S+)/m.exec(body);
  if (!m) return undefined;
  // a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|MKI:length] (RFC 4568), of the audio stream.
  const crypto = [];
  for (const a of body.slice(m.index).matchAll(/^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)(\S*)/gm)) {
    crypto.push({ tag: Number(a[1]), suite: a[2], key: a[3], mki: /\|\d+:\d+/.test(a[4]) });
  }
  return { host: c ? c[1] : HOST, port: Number(m[1]), protocol: m[2], crypto };
}

/** The crypto line of ours we can use (our suite, 30 octets, no MKI), or undefined. */
function usableCrypto(media) {
  if (!media || !/^RTP\/SAVPF?$/.test(media.protocol)) return undefined;
  return media.crypto.find((c) => c.suite === SRTP_SUITE && !c.mki && Buffer.from(c.key, 'base64').length === SRTP_KEY_BYTES);
}

/** A fresh SRTP master key||salt, base64 (an SDES inline key). */
const newSrtpKey = () => randomBytes(SRTP_KEY_BYTES).toString('base64');

/**
 * Our SDP; with `crypto` ({ tag, key }) RTP/SAVP with that a=crypto line;
 * `events` false: no telephone-event (callrec then listens for in-band keys).
 */
function sdp(port, id, crypto, events = true) {
  return [
    'v=0',
    `o=bench ${id} 1 IN IP4 ${HOST}`,
    's=-',
    `c=IN IP4 ${HOST}`,
    't=0 0',
    `m=audio ${port} ${crypto ? 'RTP/SAVP' : 'RTP/AVP'} ${events ? '8 101' : '8'}`,
    ...(crypto ? [`a=crypto:${crypto.tag} ${SRTP_SUITE} inline:${crypto.key}`] : []),
    'a=rtpmap:8 PCMA/8000',
    ...(events ? ['a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15'] : []),
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

let branchCounter = 0;
const rnd = () => Math.random().toString(36).slice(2, 10);
const newBranch = () => `z9hG4bK-bm${(++branchCounter).toString(36)}${rnd()}`;

function message(startLine, headers, body = '') {
  return Buffer.from(`${startLine}\r\n${headers.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'latin1');
}

/** Copies Via, From, To, Call-ID, CSeq of a request into a response (RFC 3261 §8.2.6.2). */
function responseTo(req, status, reason, extra = [], body = '', toTag) {
  const h = [];
  for (const [n, v] of req.headers) if (n === 'via') h.push(`Via: ${v}`);
  h.push(`From: ${req.get('from')}`);
  const to = req.get('to') ?? '';
  h.push(`To: ${to}${toTag && !tagOf(to) ? `;tag=${toTag}` : ''}`);
  h.push(`Call-ID: ${req.callId}`);
  h.push(`CSeq: ${req.get('cseq')}`);
  h.push(...extra);
  return message(`SIP/2.0 ${status} ${reason}`, h, body);
}

/**
 * Both trunk peers of callrec: `pbx` places the calls, `provider` answers
 * them. Retransmissions (INVITE and BYE until a response, our 200 until
 * ACK) run from one 50 ms timer; every wait is bounded.
 */
class SipPeers {
  /**
   * `keys(i)`: call i's SRTP keys { pbx, provider } (what each side sends with), or undefined for plain RTP;
   * `events`: whether both sides offer telephone-event.
   */
  constructor(pbx, provider, callrecPort, runTag, keys = () => undefined, events = true) {
    this.keys = keys;
    this.events = events;
    this.pbx = pbx;
    this.provider = provider;
    this.callrecPort = callrecPort;
    this.runTag = runTag;
    this.calls = [];
    this.byCallId = new Map(); // our A-leg Call-ID -> call
    this.byBCallId = new Map(); // callrec's B-leg Call-ID -> call
    this.pending = new Set(); // retransmission entries
    this.unexpected = {};
    /** Calls with an INVITE / a BYE of ours not yet answered (for pacing back-pressure). */
    this.inviting = 0;
    this.byeing = 0;
    pbx.on('message', (buf) => this.onPbx(buf));
    provider.on('message', (buf) => this.onProvider(buf));
    this.timer = setInterval(() => this.retransmit(), 50);
  }

  note(what) {
    this.unexpected[what] = (this.unexpected[what] ?? 0) + 1;
  }

  close() {
    clearInterval(this.timer);
    this.pending.clear();
  }

  sendPbx(buf) {
    this.pbx.send(buf, this.callrecPort, HOST);
  }

  sendProvider(buf, port) {
    this.provider.send(buf, port, HOST);
  }

  /** Retransmit `buf` via `send` (T1 = 500 ms, doubling, capped at 4 s) until `entry.done` or 32 s. */
  track(send, buf, onTimeout) {
    const now = performance.now();
    const entry = { send, buf, interval: 500, next: now + 500, deadline: now + 32000, onTimeout, done: false };
    this.pending.add(entry);
    send(buf);
    return entry;
  }

  retransmit() {
    const now = performance.now();
    for (const e of this.pending) {
      if (e.done) {
        this.pending.delete(e);
      } else if (now >= e.deadline) {
        this.pending.delete(e);
        e.onTimeout?.();
      } else if (now >= e.next) {
        e.interval = Math.min(e.interval * 2, 4000);
        e.next = now + e.interval;
        e.send(e.buf);
      }
    }
  }

  pbxPort() {
    return this.pbx.address().port;
  }

  providerPort() {
    return this.provider.address().port;
  }

  /** Starts call `i`; the PBX offers media on `pbxMediaPort`, the provider will answer with `providerMediaPort`. */
  invite(i, pbxMediaPort, providerMediaPort) {
    const callee = `0301${String(i).padStart(6, '0')}`;
    const call = {
      i,
      callee,
      callId: `bm-${this.runTag}-${i}@${HOST}`,
      fromTag: `bm${rnd()}`,
      pbxMediaPort,
      providerMediaPort,
      state: 'new', // new | inviting | answered | failed | bye-sent | ended
      t0: performance.now(),
      setupMs: Number.NaN,
      toTag: undefined,
      remoteTarget: undefined,
      callrecPbxMedia: undefined,
      callrecProviderMedia: undefined,
      keys: this.keys(i), // our SRTP keys { pbx, provider }, or undefined
      callrecPbxKey: undefined, // SRTP key callrec sends to the PBX with (from its answer)
      callrecProviderKey: undefined, // SRTP key callrec sends to the provider with (from its offer)
      ack: undefined,
      b: undefined, // provider leg: { callId, invite, response, acked, byeAnswered }
      failure: undefined,
    };
    this.calls[i] = call;
    this.byCallId.set(call.callId, call);
    this.setState(call, 'inviting');
    const pbxPort = this.pbxPort();
    const body = sdp(pbxMediaPort, i, call.keys && { tag: 1, key: call.keys.pbx }, this.events);
    const buf = message(
      `INVITE sip:${callee}@${HOST}:${this.callrecPort} SIP/2.0`,
      [
        `Via: SIP/2.0/UDP ${HOST}:${pbxPort};branch=${newBranch()};rport`,
        'Max-Forwards: 70',
        `From: "Bench" <sip:201@${HOST}:${pbxPort}>;tag=${call.fromTag}`,
        `To: <sip:${callee}@${HOST}:${this.callrecPort}>`,
        `Call-ID: ${call.callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:201@${HOST}:${pbxPort}>`,
        'Allow: INVITE, ACK, BYE, CANCEL, OPTIONS',
        'Content-Type: application/sdp',
      ],
      body,
    );
    call.inviteBuf = buf;
    call.inviteTx = this.track((b) => this.sendPbx(b), buf, () => this.fail(call, 'INVITE timeout'));
  }

  setState(call, state) {
    if (call.state === state) return;
    if (call.state === 'inviting') this.inviting--;
    if (call.state === 'bye-sent') this.byeing--;
    if (state === 'inviting') this.inviting++;
    if (state === 'bye-sent') this.byeing++;
    call.state = state;
  }

  fail(call, why) {
    if (call.state === 'failed') return;
    this.setState(call, 'failed');
    call.failure = why;
  }

  bye(call) {
    if (call.state !== 'answered') return;
    this.setState(call, 'bye-sent');
    const pbxPort = this.pbxPort();
    const buf = message(
      `BYE ${call.remoteTarget} SIP/2.0`,
      [
        `Via: SIP/2.0/UDP ${HOST}:${pbxPort};branch=${newBranch()};rport`,
        'Max-Forwards: 70',
        `From: "Bench" <sip:201@${HOST}:${pbxPort}>;tag=${call.fromTag}`,
        `To: <sip:${call.callee}@${HOST}:${this.callrecPort}>;tag=${call.toTag}`,
        `Call-ID: ${call.callId}`,
        'CSeq: 2 BYE',
      ],
    );
    call.byeTx = this.track((b) => this.sendPbx(b), buf, () => {
      call.byeFailure = 'BYE timeout';
      this.setState(call, 'ended');
    });
  }

  onPbx(buf) {
    let msg;
    try {
      msg = parseSip(buf);
    } catch {
      this.note('pbx: unparsable');
      return;
    }
    if (msg.method) return this.onPbxRequest(msg);
    const call = this.byCallId.get(msg.callId);
    if (!call) return this.note('pbx: response for unknown call');
    if (msg.cseqMethod === 'INVITE') {
      if (call.inviteTx) call.inviteTx.done = true;
      if (msg.status < 200) return;
      if (msg.status >= 300) {
        // ACK for a non-2xx final response: same branch as the INVITE (§17.1.1.3).
        const via = msg.get('via');
        this.sendPbx(message(`ACK sip:${call.callee}@${HOST}:${this.callrecPort} SIP/2.0`, [
          `Via: ${via}`, 'Max-Forwards: 70', `From: ${msg.get('from')}`, `To: ${msg.get('to')}`,
          `Call-ID: ${call.callId}`, 'CSeq: 1 ACK',
        ]));
        this.fail(call, `INVITE ${msg.status}`);
        return;
      }
      if (call.ack) {
        this.sendPbx(call.ack); // 200 retransmitted: our ACK was lost
        return;
      }
      const media = sdpMedia(msg.body);
      call.toTag = tagOf(msg.get('to'));
      call.remoteTarget = uriOf(msg.get('contact')) ?? `sip:${call.callee}@${HOST}:${this.callrecPort}`;
      call.callrecPbxMedia = media?.port;
      call.callrecPbxProtocol = media?.protocol;
      // callrec's answer to our SRTP offer: our tag (1) and suite, its own key.
      const answered = call.keys ? usableCrypto(media) : undefined;
      call.callrecPbxKey = answered?.tag === 1 ? answered.key : undefined;
      const pbxPort = this.pbxPort();
      call.ack = message(`ACK ${call.remoteTarget} SIP/2.0`, [
        `Via: SIP/2.0/UDP ${HOST}:${pbxPort};branch=${newBranch()};rport`,
        'Max-Forwards: 70',
        `From: ${msg.get('from')}`,
        `To: ${msg.get('to')}`,
        `Call-ID: ${call.callId}`,
        'CSeq: 1 ACK',
      ]);
      this.sendPbx(call.ack);
      call.setupMs = performance.now() - call.t0;
      if (call.state === 'inviting') {
        if (media) this.setState(call, 'answered');
        else this.fail(call, '200 without SDP');
      }
    } else if (msg.cseqMethod === 'BYE') {
      if (msg.status < 200) return;
      if (call.byeTx) call.byeTx.done = true;
      call.byeStatus = msg.status;
      this.setState(call, 'ended');
    }
  }

  onPbxRequest(msg) {
    if (msg.method === 'ACK') return;
    const call = this.byCallId.get(msg.callId);
    if (msg.method === 'BYE' && call) {
      call.byeFromCallrec = true;
      this.setState(call, 'ended');
      this.note('pbx: BYE from callrec');
    } else {
      this.note(`pbx: ${msg.method}`);
    }
    this.sendPbx(responseTo(msg, 200, 'OK'));
  }

  onProvider(buf) {
    let msg;
    try {
      msg = parseSip(buf);
    } catch {
      this.note('provider: unparsable');
      return;
    }
    if (!msg.method) return; // no requests of our own on this side
    // Responses go back where the request came from: callrec's SIP port (rport/sent-by are the same here).
    const reply = (b) => this.sendProvider(b, this.callrecPort);
    let call = this.byBCallId.get(msg.callId);
    if (msg.method === 'INVITE') {
      if (!call) {
        const user = /^sips?:([^@;]+)@/.exec(msg.uri ?? '')?.[1];
        const i = user && user.startsWith('0301') ? Number(user.slice(4)) : Number.NaN;
        call = this.calls[i];
        if (!call || call.b) {
          this.note('provider: INVITE for unknown call');
          reply(responseTo(msg, 404, 'Not Found', [], '', `bp${rnd()}`));
          return;
        }
        const media = sdpMedia(msg.body);
        call.callrecProviderMedia = media?.port;
        call.callrecProviderProtocol = media?.protocol;
        // An SRTP offer from callrec is answered with its first usable line's tag and our key (RFC 4568 §7.1.2).
        const offered = call.keys ? usableCrypto(media) : undefined;
        call.callrecProviderKey = offered?.key;
        call.providerCrypto = offered && { tag: offered.tag, key: call.keys.provider };
        const tag = `bp${rnd()}`;
        const providerPort = this.providerPort();
        const response = responseTo(
          msg, 200, 'OK',
          [`Contact: <sip:provider@${HOST}:${providerPort}>`, 'Content-Type: application/sdp'],
          sdp(call.providerMediaPort, call.i, call.providerCrypto, this.events), tag,
        );
        call.b = { callId: msg.callId, acked: false, byeAnswered: false, response };
        this.byBCallId.set(msg.callId, call);
        call.b.tx = this.track(reply, response, () => {
          call.b.noAck = true;
        });
      } else if (tagOf(msg.get('to')) === undefined) {
        reply(call.b.response); // INVITE retransmission
      } else {
        this.note('provider: re-INVITE');
        reply(responseTo(msg, 200, 'OK', [`Contact: <sip:provider@${HOST}:${this.providerPort()}>`, 'Content-Type: application/sdp'], sdp(call.providerMediaPort, call.i, call.providerCrypto, this.events)));
      }
      return;
    }
    if (msg.method === 'ACK') {
      if (call?.b) {
        call.b.acked = true;
        if (call.b.tx) call.b.tx.done = true;
      } else {
        this.note('provider: stray ACK');
      }
      return;
    }
    if (msg.method === 'BYE') {
      if (call?.b) call.b.byeAnswered = true;
      else this.note('provider: BYE for unknown call');
      reply(responseTo(msg, call ? 200 : 481, call ? 'OK' : 'Call/Transaction Does Not Exist'));
      return;
    }
    if (msg.method === 'CANCEL') this.note('provider: CANCEL');
    else this.note(`provider: ${msg.method}`);
    reply(responseTo(msg, 200, 'OK'));
  }
}

/** Calls `fn(i)` for i in 0..n-1 at `rate` per second, at most `maxOpen()` unfinished; bounded by `timeoutMs`. */
async function paced(n, rate, fn, open, maxOpen, timeoutMs) {
  const t0 = performance.now();
  let next = 0;
  while (next < n) {
    const elapsed = performance.now() - t0;
    if (elapsed > timeoutMs) break;
    const due = Math.min(n, Math.floor((elapsed / 1000) * rate) + 1);
    while (next < due && open() < maxOpen) fn(next++);
    await sleep(5);
  }
  return next;
}

async function waitUntil(pred, timeoutMs, stepMs = 50) {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) return false;
    await sleep(stepMs);
  }
  return true;
}

// ---------------------------------------------------------------- recordings

function walk(dir, out = []) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * Counts recordings in the local target: a recording is complete when its
 * base has `_info.txt`, `_hash.txt`, a `.sig` and at least one `.wav`; its
 * audio is "full" when its WAV data (file size minus a 44-byte header) holds
 * at least both legs' payload that was sent.
 */
function scanRecordings(stepDir, payloadBytesPerLeg) {
  const files = walk(path.join(stepDir, 'archive'));
  const bases = new Map();
  const base = (f) => {
    const name = path.basename(f);
    const b = name.replace(/(_info\.txt|_hash\.txt\.SHA256withRSA\.sig|_hash\.txt|\.sig|\.wav)$/, '');
    return path.join(path.dirname(f), b);
  };
  const infos = files.filter((f) => f.endsWith('_info.txt'));
  for (const f of infos) bases.set(base(f), { info: true, hash: false, sig: false, wavs: 0, wavBytes: 0 });
  for (const f of files) {
    if (f.endsWith('_info.txt')) continue;
    // WAV names may carry a channel suffix (_caller, _callee): attach to the longest info base that prefixes it.
    let rec = bases.get(base(f));
    if (!rec) {
      const b = base(f);
      const owner = [...bases.keys()].filter((k) => b.startsWith(k)).sort((x, y) => y.length - x.length)[0];
      rec = owner ? bases.get(owner) : undefined;
    }
    if (!rec) continue;
    if (f.endsWith('_hash.txt')) rec.hash = true;
    else if (f.endsWith('.sig')) rec.sig = true;
    else if (f.endsWith('.wav')) {
      rec.wavs++;
      try {
        rec.wavBytes += Math.max(0, fs.statSync(f).size - 44);
      } catch {
        // vanished
      }
    }
  }
  const recs = [...bases.values()];
  const complete = recs.filter((r) => r.info && r.hash && r.sig && r.wavs > 0);
  let spool = 0;
  try {
    spool = fs.readdirSync(path.join(stepDir, 'var', 'spool')).length;
  } catch {
    // no spool
  }
  return {
    files: files.length,
    wavFiles: files.filter((f) => f.endsWith('.wav')).length,
    infoFiles: infos.length,
    complete: complete.length,
    fullAudio: complete.filter((r) => r.wavBytes >= 2 * payloadBytesPerLeg * 0.99).length,
    spoolLeft: spool,
  };
}

// ---------------------------------------------------------------- one step

async function runStep(n, repeat, rtploadBins, variantName) {
  const variant = VARIANTS[variantName];
  const stepDir = path.join(tmpRoot, `n${n}-r${repeat}-${variantName}`);
  fs.mkdirSync(stepDir, { recursive: true });
  const problems = [];
  const result = { n, repeat, variant: variantName, srtp: variant.srtp, callrecEnv: variant.env, ok: false, problems };
  // srtp: per call a fresh key for what the PBX sends and one for what the provider sends.
  const keys = variant.srtp ? Array.from({ length: n }, () => ({ pbx: newSrtpKey(), provider: newSrtpKey() })) : null;
  const perSide = genSocketsPerSide === 0 ? n : Math.min(genSocketsPerSide, n);
  const pbxSock = (i) => (genSocketsPerSide === 0 ? i : i % perSide);
  const provSock = (i) => perSide + (genSocketsPerSide === 0 ? i : i % perSide);

  const pbxSip = await bindUdp();
  const providerSip = await bindUdp();
  const sipPort = await freeUdpPort();
  let callrec;
  let gen;
  let peers;
  try {
    callrec = await startCallrec(stepDir, { sipPort, pbxPort: pbxSip.address().port, providerPort: providerSip.address().port, n, variant });
    gen = await startRtpload(variant.srtp ? rtploadBins.srtp : rtploadBins.plain, perSide * 2);
    result.nice = { callrec: prioritize(callrec.pid), rtpload: prioritize(gen.child.pid) };
    result.pinned = pinCpus(callrec.pid, gen.child.pid);
    const genPort = (sock) => gen.ports[sock];

    // 1. Direct loopback baseline (no callrec): the same flows, socket to socket (SRTP: the
    //    receiver uses the sender's key, so rtpload's own protect/unprotect cost is in the baseline).
    const perFlowDuration = (warmupSeconds + windowSeconds + 1) * 1000;
    if (baselineSeconds > 0) {
      const flows = [];
      for (let i = 0; i < n; i++) {
        const k = keys?.[i];
        flows.push([pbxSock(i), genPort(provSock(i)), ...(k ? [k.pbx, k.pbx] : [])]);
        flows.push([provSock(i), genPort(pbxSock(i)), ...(k ? [k.provider, k.provider] : [])]);
      }
      result.baseline = await gen.run(flows, baselineSeconds * 1000, 500, path.join(stepDir, 'baseline.json'));
    }
    await sleep(500);
    const rssBase = memKiB(callrec.pid);

    // 2. Calls.
    peers = new SipPeers(pbxSip, providerSip, sipPort, `${process.pid}${repeat}${n}${rnd()}`, (i) => keys?.[i], !variant.noEvents);
    const setupStart = performance.now();
    const placed = await paced(
      n, cps,
      (i) => peers.invite(i, genPort(pbxSock(i)), genPort(provSock(i))),
      () => peers.inviting,
      Math.max(100, cps * 2),
      n / cps * 1000 * 3 + 30000,
    );
    const settled = () => peers.calls.every((c) => c.state !== 'inviting' && (c.state === 'failed' || c.b?.acked || c.b?.noAck));
    await waitUntil(settled, 40000);
    const established = peers.calls.filter((c) => c.state === 'answered' && c.callrecPbxMedia && c.callrecProviderMedia);
    // srtp: only calls that callrec keyed on both legs carry media (the others count as not set up).
    const srtpComplete = (c) => c.callrecPbxKey !== undefined && c.callrecProviderKey !== undefined;
    const answered = variant.srtp ? established.filter(srtpComplete) : established;
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const setupMs = peers.calls.map((c) => c.setupMs);
    result.setup = {
      placed,
      answered: answered.length,
      failed: n - answered.length,
      seconds: setupSeconds,
      cps: answered.length / setupSeconds,
      setupMsP50: percentile(setupMs, 0.5),
      setupMsP99: percentile(setupMs, 0.99),
      failures: Object.entries(
        peers.calls.filter((c) => !answered.includes(c)).reduce((acc, c) => {
          const k = c.failure ?? (c.state !== 'answered' ? c.state
            : c.callrecPbxKey === undefined ? `callrec answered the PBX's SRTP offer with ${c.callrecPbxProtocol} and no usable key`
              : `callrec offered the provider ${c.callrecProviderProtocol} without a usable ${SRTP_SUITE} key`);
          acc[k] = (acc[k] ?? 0) + 1;
          return acc;
        }, {}),
      ),
      providerNoAck: peers.calls.filter((c) => c.b?.noAck).length,
    };
    if (answered.length < n) problems.push(`${n - answered.length}/${n} calls not set up`);
    if (!answered.length) throw new Error('no call was set up');

    // 3. RTP through callrec; 4. CPU window.
    // SRTP: each side sends with its own key; what arrives was protected by callrec with the key it
    // announced toward that side (to the PBX in its answer, to the provider in its offer).
    const flows = [];
    for (const c of answered) {
      const k = c.keys;
      flows.push([pbxSock(c.i), c.callrecPbxMedia, ...(k ? [k.pbx, c.callrecProviderKey] : [])]);
      flows.push([provSock(c.i), c.callrecProviderMedia, ...(k ? [k.provider, c.callrecPbxKey] : [])]);
    }
    const udp0 = udpCounters();
    let window;
    result.rtp = await gen.run(flows, perFlowDuration, 1000, path.join(stepDir, 'rtp.json'), async () => {
      await sleep(20 + warmupSeconds * 1000);
      const s0 = {
        t: performance.now(),
        callrec: cpuTicksTree(callrec.pid),
        gen: cpuTicks(gen.child.pid),
        self: process.cpuUsage(),
        machine: machineCpu(),
      };
      // Sample RSS through the window; the value at its end counts. (rtpload keeps the latency of
      // the packets sent in the same window apart: the steady state.)
      let rssMax = memKiB(callrec.pid).rss;
      const sampler = setInterval(() => {
        const r = memKiB(callrec.pid).rss;
        if (r > rssMax) rssMax = r;
      }, 1000);
      await sleep(windowSeconds * 1000);
      clearInterval(sampler);
      const s1 = {
        t: performance.now(),
        callrec: cpuTicksTree(callrec.pid),
        gen: cpuTicks(gen.child.pid),
        self: process.cpuUsage(s0.self),
        machine: machineCpu(),
      };
      const mem = memKiB(callrec.pid);
      window = { s0, s1, mem, rssMax };
    }, { fromMs: warmupSeconds * 1000, ms: windowSeconds * 1000 });
    const udp1 = udpCounters();
    const secs = (window.s1.t - window.s0.t) / 1000;
    const calls = answered.length;
    const callrecCpuMs = ((window.s1.callrec - window.s0.callrec) / CLK_TCK) * 1000;
    const genCpuMs = ((window.s1.gen - window.s0.gen) / CLK_TCK) * 1000;
    const m0 = window.s0.machine;
    const m1 = window.s1.machine;
    result.cpu = {
      windowSeconds: secs,
      callrecCpuMs,
      msPerCallSecond: callrecCpuMs / (calls * secs),
      callrecCorePercent: (callrecCpuMs / (secs * 1000)) * 100,
      rtploadCorePercent: (genCpuMs / (secs * 1000)) * 100,
      driverCorePercent: ((window.s1.self.user + window.s1.self.system) / 1000 / (secs * 1000)) * 100,
      machineBusyPercent: m0 && m1 ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : Number.NaN,
      machineStealPercent: m0 && m1 ? ((m1.steal - m0.steal) / (m1.total - m0.total)) * 100 : Number.NaN,
      cpus: os.cpus().length,
      loadAverage1m: os.loadavg()[0],
    };
    // CPU used by everything else on the machine (other jobs): noise that competes with callrec.
    result.cpu.otherCorePercent = result.cpu.machineBusyPercent * result.cpu.cpus
      - result.cpu.callrecCorePercent - result.cpu.rtploadCorePercent - result.cpu.driverCorePercent;
    result.memory = {
      rssBaseMiB: rssBase.rss / 1024,
      rssMiB: window.mem.rss / 1024,
      rssMaxMiB: window.rssMax / 1024,
      hwmMiB: window.mem.hwm / 1024,
      kbPerCall: (window.mem.rss - rssBase.rss) / calls,
    };
    result.udp = {
      rcvbufErrors: (udp1.RcvbufErrors ?? 0) - (udp0.RcvbufErrors ?? 0),
      inErrors: (udp1.InErrors ?? 0) - (udp0.InErrors ?? 0),
      sndbufErrors: (udp1.SndbufErrors ?? 0) - (udp0.SndbufErrors ?? 0),
      noPorts: (udp1.NoPorts ?? 0) - (udp0.NoPorts ?? 0),
    };
    const base = result.baseline?.latencyUs;
    const via = result.rtp.latencyUs;
    result.addedLatencyMs = {
      p50: (via.p50 - (base?.p50 ?? 0)) / 1000,
      p99: (via.p99 - (base?.p99 ?? 0)) / 1000,
      p999: (via.p999 - (base?.p999 ?? 0)) / 1000,
    };
    // The same over the CPU window only (steady state: every call's media already flowing).
    const inWindow = result.rtp.windowLatencyUs;
    if (inWindow?.count > 0) {
      result.addedLatencyMs.window = {
        p50: (inWindow.p50 - (base?.p50 ?? 0)) / 1000,
        p99: (inWindow.p99 - (base?.p99 ?? 0)) / 1000,
        p999: (inWindow.p999 - (base?.p999 ?? 0)) / 1000,
      };
    }
    if (result.rtp.lost > 0) problems.push(`${result.rtp.lost} of ${result.rtp.sent} packets lost`);
    if (result.rtp.generatorSocketDrops > 0) problems.push(`rtpload's own sockets dropped ${result.rtp.generatorSocketDrops} packets (generator too slow)`);
    if (result.rtp.lateSends > 0) problems.push(`rtpload sent ${result.rtp.lateSends} packets > 5 ms late`);

    // 5. Tear down, then wait for the recordings.
    const byeStart = performance.now();
    await paced(established.length, cps * 2, (k) => peers.bye(established[k]), () => peers.byeing, Math.max(200, cps * 4),
      established.length / cps * 1000 * 3 + 30000);
    await waitUntil(() => established.every((c) => c.state === 'ended' && c.b?.byeAnswered), 40000);
    result.teardown = {
      seconds: (performance.now() - byeStart) / 1000,
      byeOk: established.filter((c) => c.byeStatus === 200).length,
      providerByes: established.filter((c) => c.b?.byeAnswered).length,
      byeFromCallrec: peers.calls.filter((c) => c.byeFromCallrec).length,
    };
    if (result.teardown.byeOk < established.length) problems.push(`${established.length - result.teardown.byeOk} BYEs not answered 200`);
    if (result.teardown.providerByes < established.length) problems.push(`${established.length - result.teardown.providerByes} BYEs not relayed to the provider`);
    if (result.teardown.byeFromCallrec) problems.push(`callrec ended ${result.teardown.byeFromCallrec} calls itself`);

    const payloadPerLeg = result.rtp.packetsPerFlow * PAYLOAD_BYTES;
    const finStart = performance.now();
    let rec = scanRecordings(stepDir, payloadPerLeg);
    let stableSince = performance.now();
    let last = JSON.stringify(rec);
    while (record && rec.complete < n && performance.now() - finStart < finalizeTimeout * 1000) {
      // Nothing being recorded (no recording.start and an empty spool): no point waiting long.
      const recordingOn = (callrec.events['recording.start'] ?? 0) > 0 || rec.spoolLeft > 0 || rec.files > 0;
      if (!recordingOn && performance.now() - finStart > 2000) break;
      if (performance.now() - stableSince > 10000) break; // nothing has moved for 10 s: stuck or not implemented
      const started = callrec.events['recording.start'] ?? 0;
      if (started > 0 && rec.complete + (callrec.events['recording.error'] ?? 0) >= started && performance.now() - stableSince > 1000) break;
      await sleep(250);
      rec = scanRecordings(stepDir, payloadPerLeg);
      const now = JSON.stringify(rec);
      if (now !== last) {
        last = now;
        stableSince = performance.now();
      }
    }
    result.recordings = {
      expected: n,
      ...rec,
      waitedSeconds: (performance.now() - finStart) / 1000,
      events: {
        'recording.start': callrec.events['recording.start'] ?? 0,
        'recording.stop': callrec.events['recording.stop'] ?? 0,
        'recording.error': callrec.events['recording.error'] ?? 0,
      },
    };
    if (record && rec.complete < n) {
      const errs = result.recordings.events['recording.error'];
      problems.push(`recordings complete ${rec.complete}/${n}${errs ? `, ${errs} recording.error` : ''}`);
    }
    if (variant.srtp) {
      // callrec's own word that both legs ran SRTP (srtp.keys per leg), and what it or rtpload dropped.
      const ev = (k) => callrec.events[k] ?? 0;
      const gs = result.rtp.srtp ?? {};
      result.srtpCheck = {
        callsKeyed: answered.length,
        callrecPbxLegs: ev('srtp.keys.pbx'),
        callrecProviderLegs: ev('srtp.keys.provider'),
        callrecDropEvents: ev('srtp.drop') + ev('srtp.dropped'),
        callrecPlainOrRefused: ev('srtp.plain-leg') + ev('srtp.refused') + ev('srtp.unsupported') + ev('srtp.off'),
        rtploadFlows: gs.flows ?? 0,
        rtploadUnprotected: gs.unprotected ?? 0,
        rtploadFailures: (gs.authFailures ?? 0) + (gs.replayFailures ?? 0) + (gs.noContext ?? 0) + (gs.otherErrors ?? 0) + (gs.protectErrors ?? 0),
      };
      const sc = result.srtpCheck;
      if (sc.callrecPbxLegs < answered.length || sc.callrecProviderLegs < answered.length) {
        problems.push(`callrec logged SRTP on ${sc.callrecPbxLegs} PBX and ${sc.callrecProviderLegs} provider legs of ${answered.length} calls`);
      }
      if (sc.callrecPlainOrRefused) problems.push(`callrec logged ${sc.callrecPlainOrRefused} plain/refused SRTP legs`);
      if (sc.callrecDropEvents) problems.push(`callrec dropped SRTP packets (${sc.callrecDropEvents} srtp.drop/srtp.dropped events)`);
      if (sc.rtploadFlows !== 2 * answered.length) problems.push(`rtpload ran ${sc.rtploadFlows} SRTP flows, not ${2 * answered.length}`);
      if (sc.rtploadFailures) problems.push(`rtpload could not unprotect ${sc.rtploadFailures} packets`);
    }
    result.callrecMediaIo = callrec.mediaIo ?? null;
    result.callrecEvents = { ...callrec.events };
    result.callrecErrors = callrec.errors;
    result.sipUnexpected = peers.unexpected;
    if (callrec.exit) problems.push(`callrec exited (code ${callrec.exit.code}, signal ${callrec.exit.signal})`);
    result.lossFree = result.rtp.lost === 0 && answered.length === n && !callrec.exit;
    result.ok = problems.length === 0;
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
    result.lossFree = false;
  } finally {
    peers?.close();
    if (gen) await gen.stop();
    if (callrec) {
      if (callrec.stderr.length) result.callrecStderr = callrec.stderr.slice(-20);
      if (callrec.externalStop) result.void = `callrec was shut down from outside (${callrec.externalStop}) during the step`;
      else if (callrec.exit && callrec.exit.signal) result.void = `callrec was killed from outside (${callrec.exit.signal})`;
      await callrec.stop();
    }
    pbxSip.close();
    providerSip.close();
    if (!keepTmp) fs.rmSync(stepDir, { recursive: true, force: true });
  }
  return result;
}

// ---------------------------------------------------------------- main

function summarize(n, variant, steps) {
  const pick = (f) => median(steps.map(f));
  return {
    n,
    variant,
    srtp: VARIANTS[variant].srtp,
    callrecMediaIo: [...new Set(steps.map((s) => s.callrecMediaIo).filter(Boolean))].join(',') || null,
    repeats: steps.length,
    lossFreeRepeats: steps.filter((s) => s.lossFree).length,
    okRepeats: steps.filter((s) => s.ok).length,
    noisyRepeats: steps.filter((s) => s.noisy).length,
    answered: pick((s) => s.setup?.answered),
    lost: pick((s) => s.rtp?.lost),
    lossRatio: pick((s) => s.rtp?.lossRatio),
    latencyP50Ms: pick((s) => s.rtp?.latencyUs.p50 / 1000),
    latencyP99Ms: pick((s) => s.rtp?.latencyUs.p99 / 1000),
    baselineP50Ms: pick((s) => s.baseline?.latencyUs.p50 / 1000),
    baselineP99Ms: pick((s) => s.baseline?.latencyUs.p99 / 1000),
    addedP50Ms: pick((s) => s.addedLatencyMs?.p50),
    addedP99Ms: pick((s) => s.addedLatencyMs?.p99),
    addedWindowP50Ms: pick((s) => s.addedLatencyMs?.window?.p50),
    addedWindowP99Ms: pick((s) => s.addedLatencyMs?.window?.p99),
    cpuMsPerCallSecond: pick((s) => s.cpu?.msPerCallSecond),
    callrecCorePercent: pick((s) => s.cpu?.callrecCorePercent),
    rtploadCorePercent: pick((s) => s.cpu?.rtploadCorePercent),
    machineBusyPercent: pick((s) => s.cpu?.machineBusyPercent),
    machineStealPercent: pick((s) => s.cpu?.machineStealPercent),
    otherCorePercent: pick((s) => s.cpu?.otherCorePercent),
    rssMiB: pick((s) => s.memory?.rssMiB),
    kbPerCall: pick((s) => s.memory?.kbPerCall),
    recordingsComplete: pick((s) => s.recordings?.complete),
    recordingsFullAudio: pick((s) => s.recordings?.fullAudio),
    recordingErrors: pick((s) => s.recordings?.events['recording.error']),
    recordingsWaitSeconds: pick((s) => s.recordings?.waitedSeconds),
    generatorSocketDrops: pick((s) => s.rtp?.generatorSocketDrops),
    // Filled in by addCpuRatios for SRTP variants and plain-inband: median CPU per call-second / plain's at the same N.
    cpuRatioToPlain: null,
  };
}

/**
 * For each variant with another plain counterpart at N (SRTP variants,
 * plain-inband): its median CPU per call-second over that of its plain
 * counterpart (srtp -> plain, srtp-dgram -> plain-dgram) at the same N,
 * and the median of the per-repeat ratios (the variants of one repeat ran
 * back to back).
 */
function addCpuRatios(rows, stepsOf) {
  for (const m of rows) {
    const plainName = VARIANTS[m.variant].plain;
    if (plainName === m.variant) continue;
    const p = rows.find((x) => x.n === m.n && x.variant === plainName);
    if (!p) continue;
    m.cpuRatioPlainVariant = plainName;
    m.cpuRatioToPlain = m.cpuMsPerCallSecond / p.cpuMsPerCallSecond;
    const mine = stepsOf(m.variant);
    const theirs = stepsOf(plainName);
    m.cpuRatioPerRepeat = mine.map((s, k) => (theirs[k] ? s.cpu?.msPerCallSecond / theirs[k].cpu?.msPerCallSecond : Number.NaN));
    m.cpuRatioPairedMedian = median(m.cpuRatioPerRepeat);
  }
}

function printTable(rows) {
  const header = ['N', 'variant', 'loss-free', 'calls up', 'lost pkts', 'loss %', 'added p50 ms', 'added p99 ms', 'window p50', 'window p99', 'CPU ms/call-s',
    'x plain', 'callrec core %', 'rtpload core %', 'others core %', 'RSS MiB', 'KB/call', 'recordings ok'];
  const cells = rows.map((m) => [
    String(m.n),
    m.variant,
    `${m.lossFreeRepeats}/${m.repeats}`,
    fmt(m.answered, 0),
    fmt(m.lost, 0),
    fmt(m.lossRatio * 100, 3),
    fmt(m.addedP50Ms, 3),
    fmt(m.addedP99Ms, 3),
    fmt(m.addedWindowP50Ms, 3),
    fmt(m.addedWindowP99Ms, 3),
    fmt(m.cpuMsPerCallSecond, 3),
    m.cpuRatioToPlain === null ? '' : fmt(m.cpuRatioToPlain, 2),
    fmt(m.callrecCorePercent, 0),
    fmt(m.rtploadCorePercent, 0),
    fmt(m.otherCorePercent, 0),
    fmt(m.rssMiB, 0),
    fmt(m.kbPerCall, 0),
    `${fmt(m.recordingsComplete, 0)}/${m.n}${m.recordingErrors > 0 ? ` (${fmt(m.recordingErrors, 0)} err)` : ''}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (c) => c.map((x, i) => (i === 1 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  console.log(line(header));
  for (const c of cells) console.log(line(c));
}

const started = new Date();
tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-bench-media-'));
const rtploadBins = compileRtpload(tmpRoot, variantNames.some((v) => VARIANTS[v].srtp));
console.log(
  `bench-media: rtpload -> callrec -> rtpload, N ${nList.join(',')}${extend ? ` (then +${stepN} while loss-free, max ${maxN})` : ''}, ` +
    `variants ${variantNames.join(',')}, ` +
    `${warmupSeconds} s warm-up + ${windowSeconds} s window, ${repeats} repeat(s), set-up ${cps} calls/s, ` +
    `rtpload sockets ${genSocketsPerSide === 0 ? 'one per call leg' : `${genSocketsPerSide} per side`}, ` +
    `nice ${niceValue ?? 'off'}, ${pinSpec ? `callrec on CPU ${pinSpec.callrec}, rtpload on CPU ${pinSpec.rtpload}` : 'not pinned'}, recording ${record ? 'on' : 'OFF (BENCH_RECORD=0)'}, ${os.cpus().length} CPUs`,
);

const allSteps = [];
const summaries = [];
const queue = [...nList];
/** Variants still on the ladder: one that loses packets at some N leaves it (unless BENCH_KEEP_GOING=1). */
let active = [...variantNames];
const leftLadder = [];
let stoppedBecause = null;
for (let qi = 0; qi < queue.length; qi++) {
  const n = queue[qi];
  const running = [...active];
  const stepsBy = new Map(running.map((v) => [v, []]));
  // Interleaved: repeat r of every variant, one after another, before repeat r + 1.
  for (let r = 1; r <= repeats; r++) {
    for (const v of running) {
      process.stdout.write(`N=${n} ${v} repeat ${r}/${repeats} ... `);
      const attempt = async () => {
        const before = await waitQuiet();
        const st = await runStep(n, r, rtploadBins, v);
        st.before = before;
        const noisy = (st.cpu?.otherCorePercent ?? 0) / 100 > noiseLimitCores;
        st.noisy = noisy;
        if (!st.void && noisy && !st.lossFree && st.rtp) {
          st.void = `packets lost while other jobs used ${fmt(st.cpu.otherCorePercent / 100, 2)} cores`;
        }
        return st;
      };
      let step = await attempt();
      for (let retry = 1; step.void && retry <= 2; retry++) {
        allSteps.push(step); // kept in the JSON, not counted
        process.stdout.write(`VOID (${step.void}); again ... `);
        step = await attempt();
      }
      if (step.void) step.problems.push(`void after 3 attempts: ${step.void}`);
      stepsBy.get(v).push(step);
      allSteps.push(step);
      const s = step;
      const srtpNote = s.srtpCheck
        ? `SRTP legs ${s.srtpCheck.callrecPbxLegs}+${s.srtpCheck.callrecProviderLegs}, ${s.srtpCheck.rtploadUnprotected} pkts unprotected, `
        : '';
      process.stdout.write(
        s.rtp
          ? `${s.setup.answered}/${n} calls, lost ${s.rtp.lost}/${s.rtp.sent}, added p50 ${fmt(s.addedLatencyMs.p50, 3)} ms ` +
              `p99 ${fmt(s.addedLatencyMs.p99, 3)} ms (window p50 ${fmt(s.addedLatencyMs.window?.p50, 3)} p99 ${fmt(s.addedLatencyMs.window?.p99, 3)}), CPU ${fmt(s.cpu.msPerCallSecond, 3)} ms/call-s ` +
              `(${fmt(s.cpu.callrecCorePercent, 0)} % core; others ${fmt(s.cpu.otherCorePercent, 0)} %), ${fmt(s.memory.kbPerCall, 0)} KB/call, ` +
              srtpNote + overFiveNote(s.rtp.perSecond) +
              `recordings ${s.recordings?.complete ?? 0}/${n} (${fmt(s.recordings?.waitedSeconds, 1)} s after BYE)${s.problems.length ? ` [${s.problems.join('; ')}]` : ''}\n`
          : `FAILED: ${s.problems.join('; ')}\n`,
      );
    }
  }
  const rows = running.map((v) => summarize(n, v, stepsBy.get(v)));
  addCpuRatios(rows, (v) => stepsBy.get(v) ?? []);
  summaries.push(...rows);
  for (const m of rows) {
    if (m.lossFreeRepeats === m.repeats || keepGoing) continue;
    active = active.filter((v) => v !== m.variant);
    leftLadder.push({ variant: m.variant, n, why: `loss or failed calls at N=${n} (${m.lossFreeRepeats}/${m.repeats} repeats loss-free)` });
  }
  if (!active.length) {
    stoppedBecause = variantNames.length > 1 ? 'every variant has left the ladder' : leftLadder[0].why;
    break;
  }
  if (extend && qi === queue.length - 1 && n + stepN <= maxN) queue.push(n + stepN);
}

console.log(`\nmedians over ${repeats} repeat(s) per N and variant (added latency = through callrec - direct loopback baseline,`
  + ' over the whole run and over the CPU window only (steady state);'
  + ' x plain = CPU per call-second over the plain variant\'s at that N):');
printTable(summaries);
if (variantNames.length > 1) for (const x of leftLadder) console.log(`${x.variant} left the ladder: ${x.why}`);
if (stoppedBecause) console.log(`stopped: ${stoppedBecause}`);
const largestLossFree = {};
for (const v of variantNames) {
  const held = summaries.filter((m) => m.variant === v && m.lossFreeRepeats === m.repeats).map((m) => m.n);
  largestLossFree[v] = held.length ? Math.max(...held) : null;
}
console.log(`largest N loss-free in every repeat: ${variantNames.map((v) => `${v} ${largestLossFree[v] ?? 'none'}`).join(', ')}`);
const maxHeld = largestLossFree[variantNames[0]];
const at = summaries.find((m) => m.n === TARGETS.lossFreeCalls && m.variant === 'plain');
const targets = at
  ? {
      lossFreeAt1000: at.lossFreeRepeats === at.repeats,
      cpuMsPerCallSecond: at.cpuMsPerCallSecond <= TARGETS.cpuMsPerCallSecond,
      addedP50: at.addedP50Ms < TARGETS.addedP50Ms,
      addedP99: at.addedP99Ms < TARGETS.addedP99Ms,
      // The same over the CPU window (steady state), without the transient of every call's media starting at once.
      addedP50Window: at.addedWindowP50Ms < TARGETS.addedP50Ms,
      addedP99Window: at.addedWindowP99Ms < TARGETS.addedP99Ms,
      memoryPerCall: at.kbPerCall < TARGETS.kbPerCall,
      recordingsComplete: at.recordingsComplete === at.n,
    }
  : null;
if (targets) {
  console.log(
    `targets at N=1000 (plain): ${Object.entries(targets).map(([k, v]) => `${k} ${v ? 'met' : 'MISSED'}`).join(', ')}`,
  );
}
// SRTP targets: CPU per call-second at most 1.5x plain's at every N measured, no loss at N=500.
const srtpTargets = {};
for (const v of variantNames.filter((x) => VARIANTS[x].srtp)) {
  const rows = summaries.filter((m) => m.variant === v);
  const ratios = rows.filter((m) => Number.isFinite(m.cpuRatioToPlain)).map((m) => ({ n: m.n, ratio: m.cpuRatioToPlain }));
  const at500 = rows.find((m) => m.n === SRTP_TARGETS.lossFreeCalls);
  srtpTargets[v] = {
    cpuRatios: ratios,
    cpuRatioMet: ratios.length ? ratios.every((x) => x.ratio <= SRTP_TARGETS.maxCpuRatio) : null,
    lossFreeAt500: at500 ? at500.lossFreeRepeats === at500.repeats : null,
  };
  const t = srtpTargets[v];
  const verdict = (x) => (x === null ? 'not measured' : x ? 'met' : 'MISSED');
  console.log(
    `SRTP target (${v}): CPU per call-second <= ${SRTP_TARGETS.maxCpuRatio}x ${VARIANTS[v].plain}'s ` +
      `${verdict(t.cpuRatioMet)}${ratios.length ? ` (${ratios.map((x) => `x${fmt(x.ratio, 2)} at N=${x.n}`).join(', ')})` : ''}; ` +
      `loss-free at N=${SRTP_TARGETS.lossFreeCalls} ${verdict(t.lossFreeAt500)}`,
  );
}

const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
const outFile = env.BENCH_OUT ?? path.join(HERE, `results-${stamp}.json`);
const report = {
  benchmark: 'media',
  date: started.toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 1048576),
    kernel: os.release(),
    node: process.version,
    clkTck: CLK_TCK,
    rmemMax: (() => {
      try {
        return Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
      } catch {
        return null;
      }
    })(),
  },
  params: {
    callrec: CALLREC_BIN,
    nList, windowSeconds, warmupSeconds, repeats, cps, baselineSeconds, genSocketsPerSide, extend, stepN, maxN, nice: niceValue, record,
    variants: Object.fromEntries(variantNames.map((v) => [v, VARIANTS[v]])),
    noiseLimitCores, quietWaitSeconds,
    ptimeMs: PTIME_MS, packetBytes: 172,
  },
  targets: { ...TARGETS, metAt1000: targets, srtp: { ...SRTP_TARGETS, byVariant: srtpTargets } },
  summaries,
  largestLossFreeN: maxHeld, // of the first variant
  largestLossFreeByVariant: largestLossFree,
  variantsLeftLadder: leftLadder,
  stoppedBecause,
  steps: allSteps,
};
fs.writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
console.log(`results: ${path.relative(process.cwd(), outFile)}`);
if (keepTmp) console.log(`temp dir kept: ${tmpRoot}`);
cleanupTmp();
process.exit(0);
