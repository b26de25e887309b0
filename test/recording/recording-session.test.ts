/**
 * RecordingSession.watch (SPEC M5, in-band keys read off the spool): the
 * watcher sees its leg's packets before they are written; when it ends the
 * recording at a packet, both legs keep what arrived up to that packet only,
 * the listener is told once, and the stop reason is the watcher's.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RECORD_BYTES, readRecord } from '../../lib/recording/spool-format.js';
import { RecordingSession, type RecordingFacts, type SpoolWatcher } from '../../lib/recording/recording-session.js';

const facts = (dir: string): RecordingFacts => ({
  key: 'k1', originMs: 1000, direction: 'outbound',
  caller: { number: '100', name: undefined }, callee: { number: '200', name: undefined },
  callIds: { caller: 'a', callee: 'b' }, profile: 'all', channels: 'both-stereo',
  codec: 'PCMA', payloadType: 8, telephoneEventPayloadType: undefined, outputDir: dir, baseName: 'x',
});

function packet(seq: number, marker: number): Buffer {
  const p = Buffer.alloc(12 + 160, marker);
  p[0] = 0x80;
  p[1] = 8;
  p.writeUInt16BE(seq, 2);
  p.writeUInt32BE(seq * 160, 4);
  p.writeUInt32BE(0x1234, 8);
  return p;
}

const arrivals = (file: string): number[] => {
  const b = fs.readFileSync(file);
  const out: number[] = [];
  for (let at = 0; at + RECORD_BYTES <= b.length; at += RECORD_BYTES) out.push(readRecord(b, at).arrival);
  return out;
};

async function session(t: Test, active = true) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-session-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const s = new RecordingSession(dir, facts(dir));
  await s.open();
  const ended: number[] = [];
  const visited: number[] = [];
  const watcher: SpoolWatcher = {
    leg: 'callee',
    active: () => active,
    visit: (payload, start, _end, _pt, arrival) => {
      visited.push(arrival);
      return payload[start] === 0xee; // the "key"
    },
    ended: (at) => ended.push(at),
    reason: (at) => `stopped by *1 at ${((at - 1000) / 1000).toFixed(1)} s`,
  };
  s.watch(watcher);
  return { s, dir, ended, visited };
}

t.test('a key in the watched leg ends both legs at its arrival; what came later never reaches the disk', async (t) => {
  const { s, dir, ended, visited } = await session(t);
  for (let seq = 0; seq < 120; seq++) {
    const at = 1000 + seq * 20;
    s.onRtp('caller', packet(seq, 0x11), at + 5); // the other party, 5 ms later each time
    s.onRtp('callee', packet(seq, seq === 70 ? 0xee : 0x22), at);
    if (seq === 40 || seq === 100) {
      s.capture('caller')!.flush(); // a flush of the other leg shows the watched leg's packets first
    }
  }
  await new Promise((r) => setImmediate(r));
  t.same(ended, [1000 + 70 * 20], 'the listener is told once, with the key packet\'s arrival');
  t.equal(visited.length, 71, 'nothing after the key was shown');
  await s.stop({ reason: 'call ended (BYE)', atMs: 99_999 });
  t.same(arrivals(path.join(dir, 'callee.index')), Array.from({ length: 71 }, (_, i) => 1000 + i * 20), 'watched leg: up to the key packet');
  t.same(arrivals(path.join(dir, 'caller.index')), Array.from({ length: 70 }, (_, i) => 1005 + i * 20), 'other leg: what arrived up to it');
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  t.same(meta.stop, { reason: 'stopped by *1 at 1.4 s', atMs: 2400 }, 'the stop reason and time are the key\'s');
});

t.test('keys in the last packets before a hangup are found at stop and still end the audio there', async (t) => {
  const { s, dir, ended } = await session(t);
  for (let seq = 0; seq < 40; seq++) {
    s.onRtp('callee', packet(seq, seq === 30 ? 0xee : 0x22), 1000 + seq * 20);
    s.onRtp('caller', packet(seq, 0x11), 1000 + seq * 20);
  }
  await s.stop({ reason: 'call ended (BYE)', atMs: 5000 });
  t.equal(arrivals(path.join(dir, 'callee.index')).length, 31);
  t.equal(arrivals(path.join(dir, 'caller.index')).length, 31);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  t.equal(meta.stop.reason, 'stopped by *1 at 0.6 s');
  await new Promise((r) => setImmediate(r));
  t.same(ended, [1600]);
});

t.test('an inactive watcher sees nothing and ends nothing', async (t) => {
  const { s, dir, ended, visited } = await session(t, false);
  for (let seq = 0; seq < 40; seq++) s.onRtp('callee', packet(seq, 0xee), 1000 + seq * 20);
  await s.stop({ reason: 'call ended (BYE)', atMs: 5000 });
  t.equal(visited.length, 0);
  t.same(ended, []);
  t.equal(arrivals(path.join(dir, 'callee.index')).length, 40);
  t.equal(JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')).stop.reason, 'call ended (BYE)');
});

t.test('a key found by the flush of a full batch: the packet that filled it is not kept either', async (t) => {
  const { s, dir, ended } = await session(t);
  // 130 packets without a timer flush: the batch (128 records) fills; the flush shows the key at 100.
  for (let seq = 0; seq < 130; seq++) s.onRtp('callee', packet(seq, seq === 100 ? 0xee : 0x22), 1000 + seq * 20);
  await new Promise((r) => setImmediate(r));
  t.same(ended, [3000]);
  await s.stop({ reason: 'call ended (BYE)', atMs: 9000 });
  t.same(arrivals(path.join(dir, 'callee.index')), Array.from({ length: 101 }, (_, i) => 1000 + i * 20));
});
