#!/usr/bin/env node
/**
 * Calls-per-second benchmark of the trunk B2BUA (signalling only, no RTP).
 *
 *   SIPp UAC (PBX) --> callrec --> SIPp UAS (provider)
 *
 * At rising rates, each sustained for BENCH_SECONDS, SIPp places calls of
 * BENCH_CALL_MS length (bench/cps/uac-cps.xml against uas-cps.xml). Per rate
 * step it records SIPp's successful/failed calls (both sides), the achieved
 * rate, callrec's CPU time per call (utime+stime of /proc/<pid>/stat before
 * and after the step) and its largest VmRSS (sampled every 200 ms). A
 * repeat stops at the first rate with failures; the whole ladder runs
 * BENCH_REPEAT times with a fresh callrec, and the table shows medians.
 * Results go to bench/cps/results-<date>.json.
 *
 * Needs a build (make bench-cps does install + build first): it uses the
 * interop harness from dist/test/interop/harness.
 *
 * Environment:
 *   BENCH_RATES      rate ladder, calls/s             (default 100,200,300,500,700)
 *   BENCH_SECONDS    length of each step in seconds   (default 60)
 *   BENCH_REPEAT     repeats of the ladder            (default 3)
 *   BENCH_CALL_MS    call length in ms                (default 1000)
 *   BENCH_TRANSPORT  udp | tcp                        (default udp)
 *   BENCH_RECORD=1   record every call (default: calls are relayed and anchored, not recorded)
 *   BENCH_DIRECT=1   no callrec: the UAC calls the UAS directly, to measure
 *                    what SIPp itself sustains on this machine
 *   BENCH_OUT        result file                      (default bench/cps/results-<date>[-direct].json)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const HARNESS = path.join(ROOT, 'dist', 'test', 'interop', 'harness', 'index.js');
if (!fs.existsSync(HARNESS)) {
  console.error(`bench-cps: ${path.relative(ROOT, HARNESS)} is missing; run make build first`);
  process.exit(2);
}
const { freePort, freePortRange, startCallrec, startSipp, sippAvailable, describeSipp } = await import(HARNESS);

const env = process.env;
const rates = (env.BENCH_RATES ?? '100,200,300,500,700')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isFinite(n) && n > 0);
const seconds = Number(env.BENCH_SECONDS ?? 60);
const repeats = Math.max(1, Number(env.BENCH_REPEAT ?? 3));
const callMs = Number(env.BENCH_CALL_MS ?? 1000);
const transport = env.BENCH_TRANSPORT === 'tcp' ? 'tcp' : 'udp';
const direct = env.BENCH_DIRECT === '1';
const recordCalls = env.BENCH_RECORD === '1';
const UAC = path.join(HERE, 'uac-cps.xml');
const UAS = (() => {
  const file = path.join(HERE, 'uas-cps.xml');
  if (transport !== 'tcp') return file;
  // Over TCP: the same scenario without its timewait (see the comment in it).
  const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cps-')), 'uas-cps-tcp.xml');
  fs.writeFileSync(copy, fs.readFileSync(file, 'utf8').replace(/<timewait[^>]*>/, ''));
  return copy;
})();
/** A step counts as sustained when SIPp reached this share of the target rate. */
const RATE_TOLERANCE = 0.9;

if (!sippAvailable()) {
  console.error('bench-cps: sipp is not installed (apt-get install sip-tester, or make install as root)');
  process.exit(2);
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in seconds, or NaN when it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** VmRSS in MiB, or NaN. */
function rssMiB(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

function sippVersion() {
  try {
    const out = execFileSync('sipp', ['-v'], { encoding: 'utf8' });
    return /SIPp v[^\s]+/.exec(out)?.[0]?.replace(/\.$/, '') ?? 'unknown';
  } catch (err) {
    return /SIPp v[^\s]+/.exec(String(err?.stdout ?? ''))?.[0] ?? 'unknown';
  }
}

/** One rate step; `ctx` holds the fixed ports and the callrec (if any). */
async function runStep(rate, ctx) {
  const calls = Math.round(rate * seconds);
  // Enough room for the calls in progress at the target rate (rate x call
  // length) twice over; beyond it SIPp stops creating calls, so a stalling
  // B2BUA shows as a missed rate instead of an unbounded pile-up.
  const limit = Math.ceil(rate * (callMs / 1000) * 2) + 20;
  const quietLogs = ['-ringbuffer_files', '1', '-ringbuffer_size', '20000000'];

  // The UAS ends by itself after `calls` calls (-m): through a B2BUA the UAC
  // can finish while the last BYEs are still on their way to the UAS.
  const uas = await startSipp({
    scenario: UAS,
    localPort: ctx.providerPort,
    mediaPort: ctx.uasMediaPort,
    transport,
    calls,
    traceMsg: false,
    extraArgs: [...quietLogs, ...(transport === 'tcp' ? ['-max_socket', '10000'] : [])],
  });
  const target = direct ? ctx.providerPort : ctx.callrec.sipPort;
  const pids = { callrec: ctx.callrec?.pid, uas: uas.pid };
  const cpu0 = { callrec: pids.callrec ? cpuSeconds(pids.callrec) : Number.NaN, uas: cpuSeconds(uas.pid) };
  const rssStart = pids.callrec ? rssMiB(pids.callrec) : Number.NaN;
  let rssMax = rssStart;
  const t0 = performance.now();
  const uac = await startSipp({
    scenario: UAC,
    remote: { port: target },
    localPort: ctx.pbxPort,
    mediaPort: ctx.uacMediaPort,
    transport,
    calls,
    rate,
    limit,
    durationMs: callMs,
    service: '0301234567',
    keys: { caller: '201' },
    traceMsg: false,
    timeoutSeconds: Math.ceil(seconds * 2 + callMs / 1000 + 60),
    extraArgs: quietLogs,
  });
  const cpuUac0 = cpuSeconds(uac.pid);
  let cpuUacLast = cpuUac0;
  let cpuCallrecLast = cpu0.callrec;
  let cpuUasLast = cpu0.uas;
  const sampler = setInterval(() => {
    if (pids.callrec) {
      const r = rssMiB(pids.callrec);
      if (r > rssMax || !Number.isFinite(rssMax)) rssMax = r;
      const c = cpuSeconds(pids.callrec);
      if (Number.isFinite(c)) cpuCallrecLast = c;
    }
    const u = cpuSeconds(uac.pid);
    if (Number.isFinite(u)) cpuUacLast = u;
    const v = cpuSeconds(uas.pid);
    if (Number.isFinite(v)) cpuUasLast = v;
  }, 200);
  const uacResult = await uac.done;
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  // SIPp may be gone by now: then the last sample (200 ms old at most) counts.
  const uasCpuNow = () => {
    const v = cpuSeconds(uas.pid);
    return Number.isFinite(v) ? v : cpuUasLast;
  };
  let cpuUas = uasCpuNow();
  const drained = await Promise.race([
    uas.done.then(() => true),
    new Promise((r) => setTimeout(() => r(false), 15000 + callMs)),
  ]);
  if (!drained) cpuUas = uasCpuNow();
  // After the drain, so that the last BYEs callrec relayed are counted too.
  const cpuCallrec = pids.callrec ? cpuSeconds(pids.callrec) : Number.NaN;
  const uasResult = drained ? await uas.done : await uas.stop();

  const successful = Math.max(0, uacResult.successful);
  const failed = Math.max(0, uacResult.failed);
  // Calls are created over (elapsed - one call length).
  const achieved = successful / Math.max(0.001, elapsed - callMs / 1000);
  const callrecCpu = (Number.isFinite(cpuCallrec) ? cpuCallrec : cpuCallrecLast) - cpu0.callrec;
  const sippCpu = (cpuUas - cpu0.uas) + (cpuUacLast - cpuUac0);
  const problems = [];
  if (uacResult.exitCode !== 0) problems.push(`UAC exit code ${uacResult.exitCode}`);
  if (failed > 0) problems.push(`${failed} failed calls (UAC)`);
  if (uasResult.failed > 0) problems.push(`${uasResult.failed} failed calls (UAS)`);
  if (!drained) problems.push(`UAS still had calls 15 s after the UAC finished (${uasResult.successful} completed)`);
  if (successful < calls) problems.push(`${successful}/${calls} calls succeeded`);
  if (achieved < rate * RATE_TOLERANCE) problems.push(`rate ${achieved.toFixed(1)}/s < ${RATE_TOLERANCE * 100}% of ${rate}/s`);
  if (ctx.callrecExit) problems.push(`callrec exited (code ${ctx.callrecExit.code}, signal ${ctx.callrecExit.signal})`);
  const step = {
    rate,
    calls,
    limit,
    successful,
    failed,
    uasSuccessful: uasResult.successful,
    uasFailed: uasResult.failed,
    elapsedSeconds: elapsed,
    achievedCps: achieved,
    callrecCpuSeconds: callrecCpu,
    callrecCpuMsPerCall: successful ? (callrecCpu * 1000) / successful : Number.NaN,
    callrecRssStartMiB: rssStart,
    callrecRssMaxMiB: rssMax,
    sippCpuMsPerCall: successful ? (sippCpu * 1000) / successful : Number.NaN,
    ok: problems.length === 0,
    problems,
  };
  if (!step.ok && process.env.BENCH_VERBOSE === '1') {
    console.error(describeSipp(uacResult));
    console.error(describeSipp(uasResult));
  }
  return step;
}

async function runRepeat(index) {
  const ctx = {
    pbxPort: await freePort('both'),
    providerPort: await freePort('both'),
    uacMediaPort: await freePortRange(4, 'both', 2),
    uasMediaPort: await freePortRange(4, 'both', 2),
    callrec: undefined,
    callrecExit: undefined,
  };
  if (!direct) {
    const maxRate = Math.max(...rates);
    // RTP + RTCP for both legs of every call in progress at the top rate
    // (rate x call length), with half as much again for ports not yet reused.
    const mediaPorts = Math.min(8000, Math.max(2000, Math.ceil(maxRate * (callMs / 1000) * 1.5 + 50) * 4));
    try {
      ctx.callrec = await startCallrec({
        pbx: { port: ctx.pbxPort, transport },
        provider: { port: ctx.providerPort, transport },
        keepLogs: false,
        mediaPorts,
        // The SIP core is measured: outbound bench calls match no recording
        // profile unless BENCH_RECORD=1 (then every call is recorded and sealed).
        ...(recordCalls ? {} : { overrides: { profiles: [{ name: 'inbound-only', direction: 'inbound' }] } }),
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      process.stdout.write(`repeat ${index + 1}/${repeats}: callrec did not start: ${message}\n`);
      return { repeat: index + 1, error: message.split('\n').slice(0, 8).join('\n'), steps: [] };
    }
    void ctx.callrec.exited.then((info) => {
      ctx.callrecExit = info;
    });
  }
  const steps = [];
  try {
    for (const rate of rates) {
      process.stdout.write(`repeat ${index + 1}/${repeats}: ${rate} cps for ${seconds} s ... `);
      const step = await runStep(rate, ctx);
      steps.push(step);
      process.stdout.write(
        step.ok
          ? `ok (${step.successful} calls, ${fmt(step.achievedCps)} cps)\n`
          : `FAILED: ${step.problems.join('; ')}\n`,
      );
      if (!step.ok || ctx.callrecExit) break;
      await new Promise((r) => setTimeout(r, 2000)); // let retransmission timers and ports settle
    }
  } finally {
    if (ctx.callrec) {
      const errors = ctx.callrec.logs.filter((l) => (l.level ?? 0) >= 50).length;
      if (errors) process.stdout.write(`callrec logged ${errors} error line(s) in repeat ${index + 1}\n`);
      await ctx.callrec.dispose();
    }
  }
  return { repeat: index + 1, steps };
}

const started = new Date();
const loadAtStart = os.loadavg();
console.log(
  `bench-cps: ${direct ? 'SIPp UAC -> SIPp UAS directly (BENCH_DIRECT=1)' : 'SIPp UAC -> callrec -> SIPp UAS'}, ` +
    `${transport}, rates ${rates.join(',')} cps, ${seconds} s per step, calls of ${callMs} ms, ${repeats} repeat(s)`,
);
if (loadAtStart[0] > os.cpus().length * 0.5) {
  console.log(`warning: load average ${loadAtStart[0].toFixed(2)} on ${os.cpus().length} CPUs: other work will skew the figures`);
}
const runs = [];
for (let i = 0; i < repeats; i++) runs.push(await runRepeat(i));

const medians = rates
  .map((rate) => {
    const steps = runs.map((r) => r.steps.find((s) => s.rate === rate)).filter(Boolean);
    if (!steps.length) return null;
    return {
      rate,
      repeats: steps.length,
      okRepeats: steps.filter((s) => s.ok).length,
      successful: median(steps.map((s) => s.successful)),
      failed: median(steps.map((s) => s.failed)),
      achievedCps: median(steps.map((s) => s.achievedCps)),
      callrecCpuMsPerCall: median(steps.map((s) => s.callrecCpuMsPerCall)),
      callrecRssMaxMiB: median(steps.map((s) => s.callrecRssMaxMiB)),
      sippCpuMsPerCall: median(steps.map((s) => s.sippCpuMsPerCall)),
    };
  })
  .filter(Boolean);

const header = ['rate', 'ok/runs', 'successful', 'failed', 'achieved cps', 'callrec CPU ms/call', 'callrec max RSS MiB', 'SIPp CPU ms/call'];
const rows = medians.map((m) => [
  String(m.rate),
  `${m.okRepeats}/${m.repeats}`,
  fmt(m.successful, 0),
  fmt(m.failed, 0),
  fmt(m.achievedCps),
  fmt(m.callrecCpuMsPerCall, 3),
  fmt(m.callrecRssMaxMiB),
  fmt(m.sippCpuMsPerCall, 3),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
console.log(`\nmedians over ${repeats} repeat(s):`);
console.log(line(header));
for (const r of rows) console.log(line(r));
const sustained = medians.filter((m) => m.okRepeats === m.repeats && m.repeats === repeats).map((m) => m.rate);
console.log(`highest rate sustained in every repeat: ${sustained.length ? Math.max(...sustained) : 'none'} cps`);

const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
const outFile = env.BENCH_OUT ?? path.join(HERE, `results-${stamp}${direct ? '-direct' : ''}.json`);
const result = {
  benchmark: 'cps',
  mode: direct ? 'direct' : 'callrec',
  date: started.toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 1048576),
    node: process.version,
    sipp: sippVersion(),
    // Other work on the machine skews every figure: compare with the CPU count.
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: os.loadavg(),
  },
  params: { rates, seconds, repeats, callMs, transport, rateTolerance: RATE_TOLERANCE },
  runs,
  medians,
  highestSustainedCps: sustained.length ? Math.max(...sustained) : null,
};
fs.writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
console.log(`results: ${path.relative(process.cwd(), outFile)}`);
