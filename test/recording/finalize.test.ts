/**
 * Finalizer (SPEC M6, E1-E5, E7): spools enqueued together are assembled
 * ahead of the chain, at most two at a time, and sealed and chained one at a
 * time in the order they came, even when a later one is assembled first. A
 * spool without metadata is logged and kept without holding up the rest;
 * recovery after a crash chains every spool left, in the order found.
 *
 * Real spools (RecordingSession), a real keystore and recording log; no SIP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { parseConfig, defaultConfig } from '../../lib/config/load-config.js';
import { loadOrCreateKeystore } from '../../lib/keys/keystore.js';
import { Finalizer } from '../../lib/recording/finalize.js';
import { RecordingSession, type RecordingFacts } from '../../lib/recording/recording-session.js';
import { RecordingLog } from '../../lib/store/index.js';

const T0 = Date.UTC(2026, 10, 25, 9, 0, 0);

function rtp(seq: number): Buffer {
  const p = Buffer.alloc(12 + 160, 0xd5);
  p[0] = 0x80;
  p[1] = 8;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((seq * 160) >>> 0, 4);
  p.writeUInt32BE(0xabcd, 8);
  return p;
}

async function setup(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-finalize-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'callrec.yaml');
  const config = parseConfig(defaultConfig(path.join(dir, 'data')), configFile);
  const log = RecordingLog.open(path.join(dir, 'callrec.db'));
  t.teardown(() => log.close());
  const keystore = await loadOrCreateKeystore(path.join(dir, 'keys'), config.instance);
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const spoolRoot = path.join(config.data.dir, 'spool');
  const make = () => new Finalizer({ config, logger, keystore, log, uploadTargets: () => [] });
  /** A closed spool of `seconds` of stereo audio. */
  const spool = async (i: number, seconds: number): Promise<string> => {
    const originMs = T0 + i * 1000;
    const facts: RecordingFacts = {
      key: `call-${i}`, originMs, direction: 'outbound',
      caller: { number: '100', name: undefined }, callee: { number: `2000${i}`, name: undefined },
      callIds: { caller: `a${i}`, callee: `b${i}` }, profile: config.profiles[0]!.name, channels: 'both-stereo',
      codec: 'PCMA', payloadType: 8, telephoneEventPayloadType: undefined,
      outputDir: path.join(config.data.dir, 'archive'), baseName: `rec-${i}`,
    };
    const s = new RecordingSession(path.join(spoolRoot, facts.key), facts);
    await s.open();
    for (let seq = 0; seq < seconds * 50; seq++) {
      s.onRtp('caller', rtp(seq), originMs + seq * 20);
      s.onRtp('callee', rtp(seq), originMs + seq * 20 + 3);
    }
    await s.stop({ reason: 'call ended (BYE)', atMs: originMs + seconds * 1000 });
    return s.dir;
  };
  return { config, log, lines, make, spool, spoolRoot };
}

const chained = (log: RecordingLog) => log.listChain().map((r) => ({ base: r.baseName, previous: r.previousBase }));

t.test('spools enqueued together are chained in the order they came, though a later one is assembled first', async (t) => {
  const { log, lines, make, spool } = await setup(t);
  // The first is long (its assembly takes longest), the others short.
  const dirs = [await spool(1, 120), await spool(2, 1), await spool(3, 1), await spool(4, 2)];
  const finalizer = make();
  const results = await Promise.allSettled(dirs.map((d) => finalizer.enqueue(d, false)));
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  t.same(chained(log), [
    { base: 'rec-1', previous: null },
    { base: 'rec-2', previous: 'rec-1' },
    { base: 'rec-3', previous: 'rec-2' },
    { base: 'rec-4', previous: 'rec-3' },
  ], 'chain positions in the order enqueued, each naming the one before');
  t.same(lines.filter((l) => l.event === 'recording.sealed').map((l) => l.base), ['rec-1', 'rec-2', 'rec-3', 'rec-4'], 'sealed in that order');
  for (const d of dirs) t.notOk(fs.existsSync(d), `${path.basename(d)}: spool removed`);
});

t.test('a spool without metadata is logged and kept; the ones after it are chained', async (t) => {
  const { log, lines, make, spool, spoolRoot } = await setup(t);
  const first = await spool(1, 1);
  const broken = path.join(spoolRoot, 'call-broken');
  fs.mkdirSync(broken, { recursive: true });
  fs.writeFileSync(path.join(broken, 'caller.payload'), Buffer.alloc(160));
  const last = await spool(3, 1);
  const finalizer = make();
  await Promise.all([finalizer.enqueue(first, false), finalizer.enqueue(broken, false), finalizer.enqueue(last, false)]);
  t.same(chained(log).map((r) => r.base), ['rec-1', 'rec-3']);
  t.ok(lines.some((l) => l.event === 'recording.unreadable-spool' && l.spool === broken), 'the unreadable spool is named in the log');
  t.ok(fs.existsSync(broken), 'and kept');
});

t.test('recovery chains every spool left, once, in the order found; a spool chained before the crash is not chained again', async (t) => {
  const { log, make, spool } = await setup(t);
  const dirs = [await spool(1, 3), await spool(2, 1), await spool(3, 2)];
  // rec-2 was chained before the crash, but its spool was not yet removed.
  await make().enqueue(dirs[1]!, false);
  fs.mkdirSync(dirs[1]!, { recursive: true });
  fs.cpSync(dirs[0]!, dirs[1]!, { recursive: true }); // stand-in files; meta.json rewritten below
  const meta = JSON.parse(fs.readFileSync(path.join(dirs[0]!, 'meta.json'), 'utf8'));
  meta.facts.key = 'call-2';
  meta.facts.baseName = 'rec-2';
  fs.writeFileSync(path.join(dirs[1]!, 'meta.json'), JSON.stringify(meta));
  const recovered = await make().recover();
  t.equal(recovered, 3, 'three spools found');
  t.same(chained(log).map((r) => r.base), ['rec-2', 'rec-1', 'rec-3'], 'rec-2 once; the others after it, in the order found');
  for (const d of dirs) t.notOk(fs.existsSync(d), `${path.basename(d)}: spool removed`);
});
