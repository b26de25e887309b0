#!/usr/bin/env node
/**
 * Finalization benchmark (issue: one-hour call from spool to sealed evidence
 * in well under a second): a one-hour stereo G.711 call (two legs of
 * 180,000 20-ms packets, 57.6 MB of WAV) goes through the real Finalizer:
 * WAV assembly, _info.txt, SHA-256 hash file, RSA signature, chain commit in
 * SQLite with its upload rows. The spool is written before the clock starts.
 * Median of BENCH_REPEAT (default 5) runs. Needs `npx tsc -p .` first.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lib = (p) => import(path.join(ROOT, 'dist', 'lib', p));
const { Finalizer } = await lib('recording/finalize.js');
const { RECORD_BYTES, writeRecord } = await lib('recording/spool-format.js');
const { loadOrCreateKeystore } = await lib('keys/keystore.js');
const { RecordingLog } = await lib('store/recording-log.js');
const { parseConfig } = await lib('config/index.js');

const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3600);
const PACKETS = SECONDS * 50;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-finalize-'));
const config = parseConfig(`instance: bench
sip: { listen: [ { transport: udp, host: 127.0.0.1, port: 5999 } ] }
pbx: { host: 127.0.0.1, port: 5998 }
provider: { host: 127.0.0.1, port: 5997 }
media: { host: 127.0.0.1, portMin: 40000, portMax: 40100 }
data: { dir: ./var }
profiles: [ { name: all, targets: [ { type: local, path: ./archive } ] } ]
`, path.join(dir, 'callrec.yaml'));
fs.mkdirSync(config.data.dir, { recursive: true });
const keystore = await loadOrCreateKeystore(path.join(config.data.dir, 'keys'), 'bench');
const log = RecordingLog.open(path.join(config.data.dir, 'callrec.db'));
const finalizer = new Finalizer({ config, logger: pino({ level: 'silent' }), keystore, log, uploadTargets: () => [] });

function writeLeg(spool, leg, origin, payloadByte) {
  const payload = Buffer.alloc(PACKETS * 160, payloadByte);
  const index = Buffer.alloc(PACKETS * RECORD_BYTES);
  for (let i = 0; i < PACKETS; i++) {
    writeRecord(index, i * RECORD_BYTES, { arrival: origin + 20 + i * 20, payloadOffset: i * 160, timestamp: i * 160, ssrc: leg === 'caller' ? 1 : 2, seq: i & 0xffff, marker: i === 0, payloadType: 8, flags: 0, length: 160 });
  }
  fs.writeFileSync(path.join(spool, `${leg}.payload`), payload);
  fs.writeFileSync(path.join(spool, `${leg}.index`), index);
}

const times = [];
for (let r = 0; r < REPEAT; r++) {
  const origin = Date.now() - SECONDS * 1000 - 1000;
  const key = `bench-${r}`;
  const spool = path.join(config.data.dir, 'spool', key);
  fs.mkdirSync(spool, { recursive: true });
  writeLeg(spool, 'caller', origin, 0x55);
  writeLeg(spool, 'callee', origin, 0x2a);
  const facts = { key, originMs: origin, direction: 'outbound', caller: { number: '201', name: 'A' }, callee: { number: '0301234567', name: 'B' },
    callIds: { caller: `a${r}`, callee: `b${r}` }, profile: 'all', channels: 'both-stereo', codec: 'PCMA', payloadType: 8, telephoneEventPayloadType: undefined,
    payloadTypes: { 8: 'PCMA' }, outputDir: path.join(dir, 'archive'), baseName: `20260101-000000_201_0301234567_b${r}` };
  fs.writeFileSync(path.join(spool, 'meta.json'), JSON.stringify({ facts, stop: { reason: 'BYE from pbx', atMs: origin + SECONDS * 1000 + 40, answeredAtMs: origin + 10 } }));
  const t0 = performance.now();
  await finalizer.enqueue(spool, false);
  const ms = performance.now() - t0;
  times.push(ms);
  console.log(`run ${r + 1}: ${ms.toFixed(0)} ms`);
  fs.rmSync(path.join(config.data.dir, 'outbox'), { recursive: true, force: true });
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`finalize one-hour stereo G.711 call (${PACKETS} packets per leg): median ${median.toFixed(0)} ms of ${REPEAT} runs`);
log.close();
fs.rmSync(dir, { recursive: true, force: true });
