#!/usr/bin/env node
/**
 * Recording tap benchmark: what the spool costs per relayed RTP packet on
 * the event-loop thread, and how much garbage it leaves for the collector.
 *
 * It opens BENCH_LEGS/2 real recording sessions (spool files in a temp dir)
 * and feeds them 172-byte PCMA packets as the relay does at 20 ms ptime,
 * second by second: every leg gets 50 packets per simulated second, then
 * the event loop runs (the spool's 1 s flush timers and its file writes are
 * real; the simulated second is sped up, so flush timers are called by hand).
 * Reported per run: ns per packet for onRtp (the hot path only), and the
 * collector's pauses (minor and major, count and ms) per million packets,
 * from perf_hooks 'gc' entries. Runs BENCH_REPEAT times; medians.
 *
 *   BENCH_TREE     tree whose dist/ is measured (default this repository; e.g. a
 *                  git worktree of an older commit, to compare side by side)
 *   BENCH_LEGS     recorded legs (default 2000: 1,000 calls)
 *   BENCH_SECONDS  simulated seconds per run (default 20)
 *   BENCH_REPEAT   runs (default 5)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TREE = path.resolve(process.env.BENCH_TREE ?? path.join(HERE, '..', '..'));
const LEGS = Number(process.env.BENCH_LEGS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const { RecordingSession } = await import(pathToFileURL(path.join(TREE, 'dist', 'lib', 'recording', 'recording-session.js')).href);

const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = e.detail?.kind ?? e.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.major++;
      gc.majorMs += e.duration;
    } else {
      gc.minor++;
      gc.minorMs += e.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const tick = () => new Promise((r) => setImmediate(r));

async function run() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-bench-tap-'));
  const sessions = [];
  for (let i = 0; i < LEGS / 2; i++) {
    const facts = {
      key: `k${i}`, originMs: Date.now(), direction: 'outbound', caller: { number: '1', name: undefined }, callee: { number: '2', name: undefined },
      callIds: { caller: `a${i}`, callee: `b${i}` }, profile: 'all', channels: 'both-stereo', codec: 'PCMA', payloadType: 8,
      telephoneEventPayloadType: 101, outputDir: dir, baseName: `r${i}`,
    };
    const s = new RecordingSession(path.join(dir, `s${i}`), facts);
    await s.open();
    sessions.push(s);
  }
  // One packet buffer per leg, rewritten in place like the relay's receive slot.
  const packets = sessions.map(() => [Buffer.alloc(172, 0xd5), Buffer.alloc(172, 0xd5)]);
  for (const pair of packets) for (const p of pair) { p[0] = 0x80; p[1] = 8; p.writeUInt32BE(Math.random() * 2 ** 32, 8); }
  const before = { ...gc };
  let hotNs = 0n;
  let count = 0;
  for (let sec = 0; sec < SECONDS; sec++) {
    for (let k = 0; k < 50; k++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < sessions.length; i++) {
        const seq = sec * 50 + k;
        for (let leg = 0; leg < 2; leg++) {
          const p = packets[i][leg];
          p[2] = (seq >> 8) & 0xff; p[3] = seq & 0xff;
          p.writeUInt32BE((seq * 160) >>> 0, 4);
          sessions[i].onRtp(leg === 0 ? 'caller' : 'callee', p, Date.now());
        }
      }
      hotNs += process.hrtime.bigint() - t0;
      count += sessions.length * 2;
      await tick(); // let file writes complete as they would between batches
    }
    for (const s of sessions) for (const w of Object.values(s.writers)) w.flush(); // the 1 s flush timers
    await tick();
  }
  for (const s of sessions) await s.stop({ reason: 'bench', atMs: Date.now() });
  fs.rmSync(dir, { recursive: true, force: true });
  const perM = 1e6 / count;
  return {
    nsPerPacket: Number(hotNs) / count,
    minorPerM: (gc.minor - before.minor) * perM, minorMsPerM: (gc.minorMs - before.minorMs) * perM,
    majorPerM: (gc.major - before.major) * perM, majorMsPerM: (gc.majorMs - before.majorMs) * perM,
  };
}

const runs = [];
for (let r = 0; r < REPEAT; r++) {
  const x = await run();
  runs.push(x);
  console.log(`run ${r + 1}: ${x.nsPerPacket.toFixed(0)} ns/packet; per million packets: minor GC ${x.minorPerM.toFixed(1)} (${x.minorMsPerM.toFixed(1)} ms), major GC ${x.majorPerM.toFixed(2)} (${x.majorMsPerM.toFixed(1)} ms)`);
}
const m = (k) => median(runs.map((x) => x[k]));
console.log(`tap ${TREE}: median ${m('nsPerPacket').toFixed(0)} ns/packet (${LEGS} legs, ${SECONDS} s x ${REPEAT}); per million packets minor GC ${m('minorPerM').toFixed(1)} / ${m('minorMsPerM').toFixed(1)} ms, major GC ${m('majorPerM').toFixed(2)} / ${m('majorMsPerM').toFixed(1)} ms`);
