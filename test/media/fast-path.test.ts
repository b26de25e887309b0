/**
 * The batched engine's fast path (native/fast_path.c) on real loopback
 * sockets: plain RTP relayed without the handler, bit-exact and in order;
 * whatever is not plain RTP, the slow payload type, and packets that find
 * no room in the capture area reach the handler; captured records and
 * payloads are what the packets said (CSRCs, extension, padding); a rule
 * ends with unforward and with either socket's close; the reading thread
 * relays while the event loop is blocked. Then the relay with
 * a real recording spool: every packet of both legs recorded exactly once,
 * in order, telephone-events flagged, most of them without JavaScript.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RECORD_BYTES, type CaptureArea } from '../../lib/media/capture-format.js';
import { MediaRelay } from '../../lib/media/media-relay.js';
import { BatchedSocketFactory } from '../../lib/media/packet-io/batched-media-socket.js';
import type { MediaSocket } from '../../lib/media/packet-io/media-socket.js';
import { peer, socketOpener, until } from './loopback.js';
import { PortPool } from '../../lib/media/port-pool.js';
import { RelayEndpoint } from '../../lib/media/relay-endpoint.js';
import { RecordingSession, type RecordingFacts } from '../../lib/recording/recording-session.js';
import { FLAG, readRecord, type SpoolRecord } from '../../lib/recording/spool-format.js';

// reader-thread.test runs this file again with CALLREC_MEDIA_READER_THREAD=1, in parallel: its ports are offset.
const readerThread = process.env['CALLREC_MEDIA_READER_THREAD'] === '1';
const PORTS = readerThread ? 4000 : 0;
const loaded = BatchedSocketFactory.load(undefined, { readerThread });
if (loaded instanceof Error) {
  t.fail(`batched engine does not load: ${loaded.message}`);
  process.exit();
}
const factory = loaded;
t.ok(factory.fastPath, 'the fast path is on by default');

const open = socketOpener(factory, 44600 + PORTS);

interface RtpOptions { pt?: number; csrc?: number; extensionWords?: number; padding?: number; marker?: boolean; payload?: number }

/** An RTP packet (RFC 3550 §5.1); the payload is derived from seq. */
function rtp(seq: number, o: RtpOptions = {}): { packet: Buffer; payload: Buffer } {
  const csrc = o.csrc ?? 0;
  const ext = o.extensionWords === undefined ? 0 : 4 + 4 * o.extensionWords;
  const start = 12 + 4 * csrc + ext;
  const size = o.payload ?? 160;
  const pad = o.padding ?? 0;
  const p = Buffer.alloc(start + size + pad, 0x5a);
  p[0] = 0x80 | csrc | (ext > 0 ? 0x10 : 0) | (pad > 0 ? 0x20 : 0);
  p[1] = (o.marker ? 0x80 : 0) | (o.pt ?? 8);
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((seq * 160 + 0xffff0000) >>> 0, 4);
  p.writeUInt32BE(0xcafe0000 + csrc, 8);
  if (ext > 0) p.writeUInt16BE(o.extensionWords!, 12 + 4 * csrc + 2);
  for (let i = 0; i < size; i++) p[start + i] = (seq * 13 + i) & 0xff;
  if (pad > 0) p[p.length - 1] = pad;
  return { packet: p, payload: p.subarray(start, start + size) };
}

/** A capture area as the spool writer makes one. */
function area(records: number, payloadBytes: number, baseOffset = 0): CaptureArea {
  return { payload: Buffer.alloc(payloadBytes), index: Buffer.alloc(records * RECORD_BYTES), cursor: new Int32Array(new ArrayBuffer(8)), baseOffset };
}

function recordsOf(a: CaptureArea): SpoolRecord[] {
  const index = Buffer.from(a.index.buffer, a.index.byteOffset, a.index.length);
  return Array.from({ length: a.cursor[1]! }, (_, i) => readRecord(index, i * RECORD_BYTES));
}

/** Two engine sockets (in, out) and two peers (sender, receiver), closed when the test ends. */
async function pair(t: Test, family: 'udp4' | 'udp6' = 'udp4') {
  const host = family === 'udp4' ? '127.0.0.1' : '::1';
  const inSocket = await open(host);
  const outSocket = await open(host);
  const sender = await peer(family);
  const receiver = await peer(family);
  const got: Buffer[] = [];
  const from = new Set<number>();
  receiver.on('message', (m, r) => {
    got.push(m);
    from.add(r.port);
  });
  const handled: Buffer[] = [];
  inSocket.onPacket = (p) => {
    handled.push(Buffer.from(p));
    outSocket.send(p, receiver.address().port, host); // what the relay does with a packet the fast path left
  };
  t.teardown(() => {
    inSocket.close();
    outSocket.close();
    sender.close();
    receiver.close();
  });
  const send = (p: Buffer) => sender.send(p, inSocket.port, host);
  return { host, inSocket, outSocket, sender, receiver, got, from, handled, send };
}

t.test('plain RTP is relayed by the engine, bit-exact, in order, from the out socket; counters add up', async (t) => {
  const { host, inSocket, outSocket, receiver, got, from, handled, send } = await pair(t);
  const before = factory.stats.forwarded;
  t.ok(inSocket.forward!({ to: outSocket, port: receiver.address().port, host, slowPayloadType: -1, captureRequired: false }), 'rule in place');
  const sent = Array.from({ length: 600 }, (_, i) => rtp(i).packet);
  for (const p of sent) send(p);
  await until(() => got.length === 600);
  t.ok(got.every((g, i) => g.equals(sent[i]!)), 'every packet as sent, in order');
  t.same([...from], [outSocket.port], 'sent from the out socket');
  t.equal(handled.length, 0, 'the handler saw none');
  t.same(inSocket.forwarded!(), { packets: 600, octets: 600 * 172 });
  t.equal(factory.stats.forwarded - before, 600, 'engine counter');
});

t.test('not plain RTP, or the slow payload type: the handler gets it (and relays it)', async (t) => {
  const { host, inSocket, outSocket, receiver, got, handled, send } = await pair(t);
  inSocket.forward!({ to: outSocket, port: receiver.address().port, host, slowPayloadType: 101, captureRequired: false });
  const slow = [
    Buffer.from('80c80006deadbeef0000000000000000000000000000000000000000', 'hex'), // RTCP SR
    Buffer.from('hello, not RTP'),
    Buffer.from([0x40, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]), // version 1
    Buffer.from([0x80, 8, 0, 1]), // shorter than the fixed header
    (() => { const p = rtp(7, { padding: 4 }).packet; p[p.length - 1] = 0; return p; })(), // padding count 0
    (() => { const p = rtp(8, { csrc: 15, payload: 10 }).packet; return p.subarray(0, 40); })(), // CSRC list beyond the end
    rtp(9, { pt: 101, payload: 4 }).packet, // telephone-event
  ];
  for (const p of slow) {
    send(p);
    await until(() => handled.length > 0 && handled.at(-1)!.equals(p));
  }
  t.equal(handled.length, slow.length, 'each reached the handler');
  send(rtp(10).packet);
  await until(() => got.length === slow.length + 1);
  t.equal(handled.length, slow.length, 'plain RTP after them did not');
  t.same(inSocket.forwarded!().packets, 1);
});

t.test('capture: records and payloads as the packets say (CSRCs, extension, padding, marker)', async (t) => {
  const { host, inSocket, outSocket, receiver, got, handled, send } = await pair(t);
  inSocket.forward!({ to: outSocket, port: receiver.address().port, host, slowPayloadType: 101, captureRequired: true });
  const a = area(16, 4096, 1_000_000);
  t.ok(inSocket.capture!(a), 'area in place');
  const shapes: RtpOptions[] = [{}, { csrc: 2 }, { extensionWords: 3 }, { padding: 7 }, { marker: true, pt: 0, payload: 80 }, { csrc: 1, extensionWords: 1, padding: 1 }];
  const sent = shapes.map((o, i) => rtp(100 + i, o));
  const t0 = Date.now();
  for (const s of sent) send(s.packet);
  await until(() => got.length === sent.length);
  t.equal(handled.length, 0);
  const recs = recordsOf(a);
  t.equal(recs.length, sent.length);
  let offset = 0;
  for (const [i, s] of sent.entries()) {
    const r = recs[i]!;
    const p = s.packet;
    t.match(r, {
      seq: p.readUInt16BE(2), timestamp: p.readUInt32BE(4), ssrc: p.readUInt32BE(8), marker: (p[1]! & 0x80) !== 0,
      payloadType: p[1]! & 0x7f, flags: 0, length: s.payload.length, payloadOffset: 1_000_000 + offset,
    }, `record ${i}`);
    t.ok(r.arrival >= t0 - 1 && r.arrival <= Date.now() && Number.isInteger(r.arrival), 'arrival: wall-clock ms');
    t.ok(Buffer.from(a.payload.subarray(offset, offset + s.payload.length)).equals(s.payload), `payload ${i} without header and padding`);
    offset += s.payload.length;
  }
  t.equal(a.cursor[0], offset, 'payload cursor');
});

t.test('capture required but no room (or no area): the handler gets the packet, and the rest of that read', async (t) => {
  const { host, inSocket, outSocket, receiver, got, handled, send } = await pair(t);
  inSocket.forward!({ to: outSocket, port: receiver.address().port, host, slowPayloadType: -1, captureRequired: true });
  send(rtp(1).packet);
  await until(() => handled.length === 1);
  t.pass('no area: handled in JavaScript');
  // As the spool writer: a full area is replaced from the handler, and the handler's packet goes into the new one.
  const areas: CaptureArea[] = [];
  const handledSeqs: number[] = [];
  const fresh = () => {
    const a = area(20, 20 * 172);
    areas.push(a);
    inSocket.capture!(a);
  };
  inSocket.onPacket = (p) => {
    handledSeqs.push(p.readUInt16BE(2));
    const a = areas.at(-1)!;
    if (a.cursor[1]! >= 20) fresh();
    const b = areas.at(-1)!;
    const r = b.cursor[1]!;
    const index = Buffer.from(b.index.buffer, b.index.byteOffset, b.index.length);
    index.writeUInt16LE(p.readUInt16BE(2), r * RECORD_BYTES + 24); // the seq is all this test reads
    b.cursor[1] = r + 1;
    outSocket.send(p, receiver.address().port, host);
  };
  fresh();
  // Paced as RTP is (each burst relayed before the next is sent): a datagram that waits behind
  // one the handler has not had yet goes the handler's way too, to keep the order.
  const total = 400;
  for (let i = 2; i < total + 2; i++) {
    send(rtp(i).packet);
    if (i % 10 === 1) await until(() => got.length === i);
  }
  await until(() => got.length === total + 1);
  t.same(got.slice(1).map((g) => g.readUInt16BE(2)), Array.from({ length: total }, (_, i) => i + 2), 'relayed in order across the hand-overs');
  const captured = areas.flatMap((a) => recordsOf(a).map((r) => r.seq));
  t.same(captured, Array.from({ length: total }, (_, i) => i + 2), 'every packet captured once, in order');
  t.ok(handledSeqs.length >= areas.length - 1, 'each full area sent a packet to the handler');
  t.ok(handledSeqs.length < total / 2, `most packets went the fast path (${total - handledSeqs.length} of ${total})`);
});

t.test('unforward, and closing the out socket, end the rule', async (t) => {
  const { host, inSocket, outSocket, receiver, got, handled, send } = await pair(t);
  const rule = { to: outSocket, port: receiver.address().port, host, slowPayloadType: -1, captureRequired: false };
  inSocket.forward!(rule);
  send(rtp(1).packet);
  await until(() => got.length === 1);
  t.equal(handled.length, 0);
  inSocket.forward!(undefined);
  send(rtp(2).packet);
  await until(() => handled.length === 1);
  t.pass('after unforward: handler');
  const out2 = await open();
  inSocket.forward!({ ...rule, to: out2 });
  inSocket.onPacket = (p) => handled.push(Buffer.from(p));
  send(rtp(3).packet);
  await until(() => got.length === 3);
  out2.close();
  send(rtp(4).packet);
  await until(() => handled.length === 2);
  t.equal(handled[1]!.readUInt16BE(2), 4, 'after the out socket closed: handler');
  const reused = await open(); // may get the closed descriptor's number: no rule comes with it
  t.same(reused.forwarded!(), { packets: 0, octets: 0 });
  reused.close();
});

t.test('the reading thread relays while JavaScript is busy', { skip: readerThread ? false : 'the reading thread runs in reader-thread.test' }, async (t) => {
  t.ok(factory.readerThread, 'sockets are read on a thread of their own');
  const inSocket = await open();
  const outSocket = await open();
  t.teardown(() => {
    inSocket.close();
    outSocket.close();
  });
  // Sender and receiver in a child process: this one's event loop is about to be blocked.
  const script = `
    const dgram = require('node:dgram');
    const rx = dgram.createSocket('udp4');
    const tx = dgram.createSocket('udp4');
    const sentAt = new Map();
    const delays = [];
    rx.on('message', (m) => delays.push(Number(process.hrtime.bigint() - sentAt.get(m.readUInt16BE(2))) / 1e6));
    rx.bind(0, '127.0.0.1', () => {
      process.send({ port: rx.address().port });
      process.on('message', (inPort) => {
        let seq = 0;
        const timer = setInterval(() => {
          const p = Buffer.alloc(172, 0x5a);
          p[0] = 0x80; p[1] = 8; p.writeUInt16BE(seq, 2);
          sentAt.set(seq, process.hrtime.bigint());
          tx.send(p, inPort, '127.0.0.1');
          if (++seq === 40) {
            clearInterval(timer);
            setTimeout(() => { process.send({ delays }); process.exit(0); }, 300);
          }
        }, 10);
      });
    });`;
  const { fork } = await import('node:child_process');
  const child = fork('-e', [script], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => child.kill());
  const messages: { port?: number; delays?: number[] }[] = [];
  child.on('message', (m) => messages.push(m as { port?: number; delays?: number[] }));
  await until(() => messages.length === 1, 10000);
  t.ok(inSocket.forward!({ to: outSocket, port: messages[0]!.port!, host: '127.0.0.1', slowPayloadType: -1, captureRequired: false }));
  inSocket.onPacket = () => t.fail('the handler saw a packet');
  child.send(inSocket.port);
  // The whole sending time and more, with the event loop blocked (as by a long garbage collection).
  const end = Date.now() + 600;
  while (Date.now() < end) { /* busy */ }
  await until(() => messages.length === 2, 10000);
  const delays = messages[1]!.delays!;
  t.equal(delays.length, 40, 'every packet relayed');
  t.ok(Math.max(...delays) < 100, `none waited for the blocked event loop (worst ${Math.max(...delays).toFixed(2)} ms)`);
});

t.test('IPv6', async (t) => {
  const { host, inSocket, outSocket, receiver, got, handled, send } = await pair(t, 'udp6');
  t.ok(inSocket.forward!({ to: outSocket, port: receiver.address().port, host, slowPayloadType: -1, captureRequired: false }));
  for (let i = 0; i < 50; i++) send(rtp(i).packet);
  await until(() => got.length === 50);
  t.equal(handled.length, 0);
});

const facts = (dir: string): RecordingFacts => ({
  key: 'k', originMs: Date.now(), direction: 'outbound', caller: { number: '1', name: undefined }, callee: { number: '2', name: undefined },
  callIds: { caller: 'a', callee: 'b' }, profile: 'p', channels: 'both-stereo', codec: 'PCMA', payloadType: 8, telephoneEventPayloadType: 101,
  outputDir: dir, baseName: 'x',
});

function spooled(dir: string, leg: string): { records: SpoolRecord[]; payload: Buffer } {
  const index = fs.readFileSync(path.join(dir, `${leg}.index`));
  const records = Array.from({ length: index.length / RECORD_BYTES }, (_, i) => readRecord(index, i * RECORD_BYTES));
  return { records, payload: fs.readFileSync(path.join(dir, `${leg}.payload`)) };
}

/** Two relay endpoints on engine sockets (a pool of 100 ports from `firstPort`) and a peer for each party; all closed when the test ends. */
async function parties(t: Test, firstPort: number) {
  const pool = new PortPool('127.0.0.1', firstPort + PORTS, firstPort + 99 + PORTS, factory);
  const a = new RelayEndpoint(await pool.allocate(), '127.0.0.1');
  const b = new RelayEndpoint(await pool.allocate(), '127.0.0.1');
  const pa = await peer();
  const pb = await peer();
  t.teardown(() => {
    pa.close();
    pb.close();
    pool.release(a.pair);
    pool.release(b.pair);
  });
  return { a, b, pa, pb };
}

t.test('relay with a recording spool: both legs recorded exactly once, in order, bit-exact; events flagged', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-fast-path-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { a, b, pa, pb } = await parties(t, 44800);
  a.setRemote('127.0.0.1', pa.address().port, 0, false);
  b.setRemote('127.0.0.1', pb.address().port, 0, false);
  const relay = new MediaRelay([a, b]);
  const session = new RecordingSession(dir, facts(dir));
  await session.open();
  let tapped = 0;
  relay.tap = {
    onRtp: (from, p, at) => {
      tapped++;
      session.onRtp(from === 0 ? 'caller' : 'callee', p, at);
    },
    capture: (from) => session.capture(from === 0 ? 'caller' : 'callee'),
  };
  const atA: Buffer[] = [];
  const atB: Buffer[] = [];
  pa.on('message', (m) => atA.push(m));
  pb.on('message', (m) => atB.push(m));
  const fromA: Buffer[] = [];
  const fromB: Buffer[] = [];
  const forwardedBefore = factory.stats.forwarded;
  // 1,500 packets a leg, paced in bursts (each relayed before the next is sent, as RTP's 20 ms
  // spacing does); every 100th of A's a telephone-event.
  for (let i = 0; i < 1500; i++) {
    const pa1 = rtp(i, i % 100 === 50 ? { pt: 101, payload: 4 } : {}).packet;
    const pb1 = rtp(i, { payload: 80 }).packet;
    fromA.push(pa1);
    fromB.push(pb1);
    pa.send(pa1, a.localPort, '127.0.0.1');
    pb.send(pb1, b.localPort, '127.0.0.1');
    if (i % 10 === 9) await until(() => atA.length === i + 1 && atB.length === i + 1);
  }
  await until(() => atA.length === 1500 && atB.length === 1500, 10000);
  t.ok(atB.every((m, i) => m.equals(fromA[i]!)), 'A to B bit-exact, in order');
  t.ok(atA.every((m, i) => m.equals(fromB[i]!)), 'B to A bit-exact, in order');
  t.equal(a.packetsIn, 1500, 'packetsIn counts the fast path too');
  t.equal(b.bytesIn, 1500 * 92);
  const forwarded = factory.stats.forwarded - forwardedBefore;
  t.ok(forwarded > 2500, `the engine relayed most packets (${forwarded} of 3000; JavaScript ${tapped})`);
  t.ok(relay.idleMs() < 1000, 'idle time sees fast-path packets');
  await session.stop({ reason: 'test', atMs: Date.now() });
  for (const [leg, sent] of [['caller', fromA], ['callee', fromB]] as const) {
    const { records, payload } = spooled(dir, leg);
    t.equal(records.length, 1500, `${leg}: a record per packet`);
    t.same(records.map((r) => r.seq), sent.map((p) => p.readUInt16BE(2)), `${leg}: in order`);
    const bad = records.findIndex((r, i) => {
      const p = sent[i]!;
      const body = p.subarray(12);
      return r.length !== body.length || !payload.subarray(r.payloadOffset, r.payloadOffset + r.length).equals(body)
        || r.flags !== ((p[1]! & 0x7f) === 101 ? FLAG.event : 0);
    });
    t.equal(bad, -1, `${leg}: payloads bit-exact, events flagged`);
  }
  relay.close();
  t.notOk(a.pair.rtp.forward!(undefined), 'rule ended with the relay');
});

t.test('relay: the rule follows a new address, stops while SRTP is negotiated, and leaves a tap that needs every packet', async (t) => {
  const { a, b, pa, pb } = await parties(t, 44900);
  const pb2 = await peer();
  t.teardown(() => pb2.close());
  a.setRemote('127.0.0.1', pa.address().port, 0, false);
  b.setRemote('127.0.0.1', pb.address().port, 0, false);
  const relay = new MediaRelay([a, b]);
  t.teardown(() => relay.close());
  const atB: number[] = [];
  const atB2: number[] = [];
  pb.on('message', (m) => atB.push(m.readUInt16BE(2)));
  pb2.on('message', (m) => atB2.push(m.readUInt16BE(2)));
  const fromA = (seq: number) => pa.send(rtp(seq).packet, a.localPort, '127.0.0.1');
  const viaEngine = () => a.pair.rtp.forwarded!().packets;

  const handled: number[] = [];
  const jsHandler = a.pair.rtp.onPacket!;
  a.pair.rtp.onPacket = (p, source) => {
    handled.push(p.readUInt16BE(2));
    jsHandler(p, source);
  };
  fromA(0); // the first packet: relayed by the engine, which reports its source for the latch
  await until(() => atB.length === 1 && a.rtpLatched);
  t.same(handled, [], 'the first packet went on without JavaScript');
  t.equal(a.remotePort, pa.address().port, 'and latched its source');
  for (let i = 1; i < 20; i++) fromA(i);
  await until(() => atB.length === 20);
  t.equal(viaEngine(), 20, 'the engine relays from the first packet on');

  b.setRemote('127.0.0.1', pb2.address().port, 0, false); // a re-INVITE moves the other party
  for (let i = 20; i < 40; i++) fromA(i);
  await until(() => atB2.length === 20);
  t.same(atB2, Array.from({ length: 20 }, (_, i) => 20 + i), 'the rule sends to the new address at once');
  t.equal(viaEngine(), 40);

  a.srtpPending = true; // SRTP being negotiated: nothing relayed in clear, nothing by the engine
  for (let i = 40; i < 45; i++) fromA(i);
  await until(() => a.srtpDrops.unkeyed === 5);
  t.equal(viaEngine(), 40, 'the engine took none while keys were pending');
  a.setSrtp(undefined); // the answer made the leg plain RTP again
  for (let i = 45; i < 50; i++) fromA(i);
  await until(() => atB2.length === 25);
  t.equal(viaEngine(), 45, 'plain again: the engine relays');

  const tapped: number[] = [];
  relay.tap = { onRtp: (_from, p) => tapped.push(p.readUInt16BE(2)), capture: () => undefined }; // e.g. in-band DTMF detection
  for (let i = 50; i < 60; i++) fromA(i);
  await until(() => atB2.length === 35);
  t.same(tapped, Array.from({ length: 10 }, (_, i) => 50 + i), 'a tap without a capture sink sees every packet');
  t.equal(viaEngine(), 45);
  t.equal(a.packetsIn, 60 - 5, 'packetsIn: engine and JavaScript together (the unkeyed ones dropped)');
});

t.test('relay: a party behind NAT is latched from the first packet the engine relays', async (t) => {
  const { a, b, pa, pb } = await parties(t, 45000); // pa: where A really sends from
  const elsewhere = await peer(); // what A's SDP said (a private address behind NAT, say)
  t.teardown(() => elsewhere.close());
  const relay = new MediaRelay([a, b]);
  t.teardown(() => relay.close());
  a.setRemote('127.0.0.1', elsewhere.address().port, 0, false);
  b.setRemote('127.0.0.1', pb.address().port, 0, false);
  const atA: number[] = [];
  const atElsewhere: number[] = [];
  const atB: number[] = [];
  pa.on('message', (m) => atA.push(m.readUInt16BE(2)));
  elsewhere.on('message', (m) => atElsewhere.push(m.readUInt16BE(2)));
  pb.on('message', (m) => atB.push(m.readUInt16BE(2)));
  pa.send(rtp(1).packet, a.localPort, '127.0.0.1');
  await until(() => atB.length === 1 && a.rtpLatched);
  t.equal(a.pair.rtp.forwarded!().packets, 1, 'A\'s first packet went through the engine');
  for (let i = 0; i < 10; i++) pb.send(rtp(100 + i).packet, b.localPort, '127.0.0.1');
  await until(() => atA.length === 10);
  t.same(atA, Array.from({ length: 10 }, (_, i) => 100 + i), 'B\'s packets go to where A sends from');
  t.same(atElsewhere, [], 'not to the address A\'s SDP named');
});

t.test('relay: a first source the engine reported is latched without installing the rule again', async (t) => {
  const { a, b, pa, pb } = await parties(t, 45100);
  a.setRemote('127.0.0.1', pa.address().port, 0, false);
  b.setRemote('127.0.0.1', pb.address().port, 0, false);
  const relay = new MediaRelay([a, b]);
  t.teardown(() => relay.close());
  // Count what the relay asks of the engine from here on.
  const installs: string[] = [];
  for (const [name, ep] of [['A', a], ['B', b]] as const) {
    const socket = ep.pair.rtp;
    const forward = socket.forward!.bind(socket);
    socket.forward = (rule) => {
      installs.push(name);
      return forward(rule);
    };
  }
  let reports = 0;
  const onRelayed = a.pair.rtp.onRelayed!;
  a.pair.rtp.onRelayed = (source) => {
    reports++;
    onRelayed(source);
  };
  const atB: number[] = [];
  pb.on('message', (m) => atB.push(m.readUInt16BE(2)));
  for (let i = 0; i < 5; i++) pa.send(rtp(i).packet, a.localPort, '127.0.0.1');
  await until(() => atB.length === 5 && a.rtpLatched);
  t.equal(reports, 1, 'the engine reported the first source once');
  t.same(installs, [], 'the latch installed no rule again (the source is where the SDP said)');
  t.equal(a.pair.rtp.forwarded!().packets, 5, 'all five relayed by the engine');
  t.same(atB, [0, 1, 2, 3, 4]);
});
