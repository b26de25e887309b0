/**
 * SpoolWriter on real files: every index record says what the RTP header
 * said and points at its payload, across many flushes that reuse the batch
 * buffers; a packet larger than a batch is kept whole; packets that come
 * before the files are open are written once they are; a spool that cannot
 * be opened keeps its error and never throws on the hot path. All of it with
 * the native writer thread and with fs.write; and a write that fails (a full
 * disk) is kept as the spool's error, with its code, by either.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FLAG, RECORD_BYTES, readRecord, type SpoolRecord } from '../../lib/recording/spool-format.js';
import { FsAppender, spoolAppender, type FileAppender } from '../../lib/recording/file-appender.js';
import { SpoolWriter } from '../../lib/recording/spool-writer.js';

const tmp = (t: Test): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-spool-writer-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** An RTP packet (RFC 3550 §5.1) with `csrc` CSRCs, a payload of `length` octets derived from `seq`. */
function rtp(seq: number, length: number, opts: { csrc?: number; marker?: boolean; pt?: number } = {}): { packet: Buffer; start: number } {
  const csrc = opts.csrc ?? 0;
  const start = 12 + 4 * csrc;
  const p = Buffer.alloc(start + length);
  p[0] = 0x80 | csrc;
  p[1] = (opts.marker ? 0x80 : 0) | (opts.pt ?? 8);
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((seq * 160 + 0xfffff000) >>> 0, 4); // wraps during the test
  p.writeUInt32BE(0xdeadbeef, 8);
  for (let i = 0; i < length; i++) p[start + i] = (seq * 7 + i) & 0xff;
  return { packet: p, start };
}

function records(file: string): SpoolRecord[] {
  const b = fs.readFileSync(file);
  const out: SpoolRecord[] = [];
  for (let at = 0; at + RECORD_BYTES <= b.length; at += RECORD_BYTES) out.push(readRecord(b, at));
  return out;
}

const native = spoolAppender({ CALLREC_SPOOL_WRITES: 'native' } as NodeJS.ProcessEnv).appender;
const appenders: FileAppender[] = [native, new FsAppender()];

for (const appender of appenders) {
  t.test(`${appender.name}: many flushes reusing batches: every record and payload as sent`, async (t) => {
    const dir = tmp(t);
    const w = new SpoolWriter(dir, 'caller', appender);
    await w.open();
    const sent: { packet: Buffer; start: number; arrival: number }[] = [];
    for (let seq = 0; seq < 1000; seq++) {
      const x = rtp(seq, seq % 50 === 0 ? 80 : 160, { csrc: seq % 3, marker: seq % 100 === 0, pt: seq % 250 === 7 ? 101 : 8 });
      const arrival = 1_700_000_000_000 + seq * 20 + 0.25;
      w.append(x.packet, x.start, x.packet.length, arrival, x.packet[1]! % 128 === 101 ? FLAG.event : 0);
      sent.push({ ...x, arrival });
      if (seq % 37 === 36) {
        w.flush();
        await new Promise((r) => setImmediate(r)); // let some writes finish, so batches are reused
      }
    }
    await w.close();
    const recs = records(w.indexPath);
    const payload = fs.readFileSync(w.payloadPath);
    t.equal(recs.length, 1000, 'one record per packet');
    t.equal(w.packets, 1000);
    let bad = 0;
    let offset = 0;
    recs.forEach((r, i) => {
      const { packet, start, arrival } = sent[i]!;
      const ok =
        r.arrival === arrival &&
        r.payloadOffset === offset &&
        r.timestamp === packet.readUInt32BE(4) &&
        r.ssrc === 0xdeadbeef &&
        r.seq === packet.readUInt16BE(2) &&
        r.marker === ((packet[1]! & 0x80) !== 0) &&
        r.payloadType === (packet[1]! & 0x7f) &&
        r.flags === (r.payloadType === 101 ? FLAG.event : 0) &&
        r.length === packet.length - start &&
        payload.subarray(offset, offset + r.length).equals(packet.subarray(start));
      if (!ok) bad++;
      offset += r.length;
    });
    t.equal(bad, 0, 'header fields, offsets and payload bytes all match');
    t.equal(payload.length, offset, 'nothing but payload in the payload file');
    t.equal(w.error, undefined);
  });

  t.test(`${appender.name}: a packet larger than a batch is kept whole`, async (t) => {
    const dir = tmp(t);
    const w = new SpoolWriter(dir, 'callee', appender);
    await w.open();
    const small = rtp(1, 160);
    const big = rtp(2, 40_000);
    w.append(small.packet, small.start, small.packet.length, 1, 0);
    w.append(big.packet, big.start, big.packet.length, 2, 0);
    w.append(small.packet, small.start, small.packet.length, 3, 0);
    await w.close();
    const recs = records(w.indexPath);
    t.same(recs.map((r) => [r.payloadOffset, r.length]), [[0, 160], [160, 40_000], [40_160, 160]]);
    t.ok(fs.readFileSync(w.payloadPath).subarray(160, 40_160).equals(big.packet.subarray(big.start)));
  });

  t.test(`${appender.name}: packets before the files are open are written once they are; close waits for the open`, async (t) => {
    const dir = tmp(t);
    const w = new SpoolWriter(dir, 'caller', appender);
    const x = rtp(5, 160);
    w.append(x.packet, x.start, x.packet.length, 10, 0);
    w.flush();
    const opened = w.open();
    w.append(x.packet, x.start, x.packet.length, 30, 0);
    const closed = w.close(); // before the open has finished
    await opened;
    await closed;
    t.same(records(w.indexPath).map((r) => r.arrival), [10, 30]);
    t.equal(fs.statSync(w.payloadPath).size, 320);
    await w.close();
    t.pass('closing again is harmless');
  });

  t.test(`${appender.name}: a spool that cannot be opened keeps the error; appends are dropped without throwing`, async (t) => {
    const dir = path.join(tmp(t), 'missing', 'folder');
    const w = new SpoolWriter(dir, 'caller', appender);
    const x = rtp(1, 160);
    w.append(x.packet, x.start, x.packet.length, 1, 0);
    await t.rejects(w.open());
    w.append(x.packet, x.start, x.packet.length, 2, 0);
    w.flush();
    await w.close();
    t.match(w.error?.message, /ENOENT/);
  });

  t.test(`${appender.name}: a failed write (full disk) reports its code; later jobs are still written, in order`, async (t) => {
    const dir = tmp(t);
    const file = path.join(dir, 'out');
    const fd = fs.openSync(file, 'a');
    const full = fs.openSync('/dev/full', 'w');
    t.teardown(() => {
      fs.closeSync(fd);
      fs.closeSync(full);
    });
    const run = (a: number, data: Buffer, b: number, data2: Buffer): Promise<NodeJS.ErrnoException | null> =>
      new Promise((resolve) => appender.append(a, data, data.length, b, data2, data2.length, resolve));
    // One job in flight at a time, as a spool writer has it.
    const results = [
      await run(full, Buffer.from('lost'), fd, Buffer.from('never')),
      await run(fd, Buffer.from('one,'), fd, Buffer.from('two,')),
      await run(fd, Buffer.from('three'), -1, Buffer.alloc(0)),
    ];
    t.equal(results[0]?.code, 'ENOSPC', 'the error keeps its code');
    t.same(results.slice(1), [null, null]);
    t.equal(fs.readFileSync(file, 'utf8'), 'one,two,three', 'the failed job wrote nothing after its failed chunk; the rest in order');
  });
}

t.test('visitNew shows every spooled packet once, in order, across flushes, with its payload in place', async (t) => {
  const dir = tmp(t);
  const w = new SpoolWriter(dir, 'caller');
  await w.open();
  const seen: { seq: number; pt: number; arrival: number; same: boolean }[] = [];
  const visit = (payload: Buffer, start: number, end: number, pt: number, arrival: number): boolean => {
    const seq = Math.round((arrival - 1000) / 20);
    seen.push({ seq, pt, arrival, same: payload.subarray(start, end).equals(rtp(seq, 160 + (seq % 3)).packet.subarray(12)) });
    return false;
  };
  w.beforeFlush = () => w.visitNew(visit);
  for (let seq = 0; seq < 300; seq++) {
    const x = rtp(seq, 160 + (seq % 3), { pt: seq % 50 === 9 ? 101 : 8 });
    w.append(x.packet, x.start, x.packet.length, 1000 + seq * 20, 0);
    if (seq % 40 === 39) w.flush();
    if (seq % 17 === 3) w.visitNew(visit); // visits between flushes see only what is new
  }
  await w.close();
  t.equal(seen.length, 300, 'each packet once');
  t.same(seen.map((s) => s.seq), [...Array(300).keys()], 'in order');
  t.equal(seen.filter((s) => !s.same).length, 0, 'each payload as sent');
  t.same(seen.filter((s) => s.pt === 101).map((s) => s.seq), [9, 59, 109, 159, 209, 259], 'payload types as sent');
});

t.test('endAt drops what arrived later before it is written, takes no more packets, and close writes the rest', async (t) => {
  const dir = tmp(t);
  const w = new SpoolWriter(dir, 'callee');
  await w.open();
  let areaChanges = 0;
  w.onAreaChange = () => areaChanges++;
  for (let seq = 0; seq < 130; seq++) {
    const x = rtp(seq, 160);
    w.append(x.packet, x.start, x.packet.length, 1000 + seq * 20, 0);
    if (seq === 59) w.flush();
  }
  t.equal(w.visitNew((_p, _s, _e, _pt, arrival) => arrival === 1000 + 100 * 20), 1000 + 100 * 20, 'the visit that returns true names its packet');
  const before = areaChanges;
  w.endAt(1000 + 100 * 20);
  t.equal(w.area, undefined, 'the engine may not append any more');
  t.ok(areaChanges > before, 'and is told so');
  const late = rtp(500, 160);
  w.append(late.packet, late.start, late.packet.length, 9_999_999, 0);
  await w.close();
  const recs = records(w.indexPath);
  t.equal(recs.length, 101, 'packets 0-100 are kept, the 29 after the moment and the late one are not');
  t.equal(recs.at(-1)!.seq, 100);
  t.equal(fs.readFileSync(w.payloadPath).length, 101 * 160, 'nor their payload');
  t.equal(w.visitNew(() => true), undefined, 'an ended spool shows nothing more');
});
