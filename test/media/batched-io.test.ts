/**
 * The batched packet engine (native/media_io.c) on real loopback sockets:
 * bursts larger than one batch, many sockets at once, IPv6, a socket closed
 * while its packets are in the batch, sends outside a batch, oversized
 * datagrams and a throwing handler. Each check compares against what a
 * plain dgram socket sent or received. It runs once with the engine's sender
 * thread (the default) and once with inline sends (batched-io-inline.test).
 */
import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import { BatchedSocketFactory } from '../../lib/media/packet-io/batched-media-socket.js';
import type { MediaSocket } from '../../lib/media/packet-io/media-socket.js';
import { peer, socketOpener, until } from './loopback.js';
import { selectMediaIo } from '../../lib/media/packet-io/select-media-io.js';

// Through selectMediaIo, as serve does, so CALLREC_MEDIA_SEND_THREAD is read where it is in production.
const wantThread = process.env['CALLREC_MEDIA_SEND_THREAD'] !== '0';
const chosen = selectMediaIo({ ...process.env, CALLREC_MEDIA_IO: 'batched' }).factory;
if (!(chosen instanceof BatchedSocketFactory)) {
  t.fail('the batched engine was not chosen');
  process.exit();
}
const factory = chosen;
t.equal(factory.sendThread, wantThread, wantThread ? 'sends run on the sender thread' : 'sends are made inline (CALLREC_MEDIA_SEND_THREAD=0)');

// batched-io-inline.test runs this file again, in parallel: a port range of its own, or a port
// this file closes and opens again could be taken by the other meanwhile.
const open = socketOpener(factory, process.env['CALLREC_MEDIA_SEND_THREAD'] === '0' ? 47600 : 43600);

/** A batched socket on loopback and a dgram peer, both closed when the test ends. */
async function socketAndPeer(t: Test): Promise<{ s: MediaSocket; p: dgram.Socket }> {
  const s = await open();
  const p = await peer();
  t.teardown(() => {
    s.close();
    p.close();
  });
  return { s, p };
}

const datagram = (i: number, length = 172): Buffer => {
  const b = Buffer.alloc(length, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
};

t.test('a burst of 1,000 datagrams (four batches) arrives complete, in order, bit-exact', async (t) => {
  const { s, p } = await socketAndPeer(t);
  const got: Buffer[] = [];
  s.onPacket = (packet) => got.push(Buffer.from(packet));
  for (let i = 0; i < 1000; i++) p.send(datagram(i), s.port, '127.0.0.1');
  await until(() => got.length === 1000);
  t.ok(got.every((b, i) => b.equals(datagram(i))), 'every datagram as sent, in order');
});

t.test('300 sockets each relaying to a peer: every datagram echoed from its own port, unchanged', async (t) => {
  const sockets: MediaSocket[] = [];
  for (let i = 0; i < 300; i++) sockets.push(await open());
  const p = await peer();
  t.teardown(() => {
    for (const s of sockets) s.close();
    p.close();
  });
  for (const s of sockets) s.onPacket = (packet, source) => s.send(packet, source.port, source.address);
  const echoed = new Map<number, Buffer[]>();
  p.on('message', (m, rinfo) => {
    const list = echoed.get(rinfo.port) ?? [];
    list.push(m);
    echoed.set(rinfo.port, list);
  });
  for (let round = 0; round < 3; round++) for (const [i, s] of sockets.entries()) p.send(datagram(i * 10 + round), s.port, '127.0.0.1');
  await until(() => [...echoed.values()].reduce((n, l) => n + l.length, 0) === 900);
  t.equal(echoed.size, 300, 'an answer from each socket');
  t.ok(sockets.every((s, i) => echoed.get(s.port)!.every((m, round) => m.equals(datagram(i * 10 + round)))), 'each from its own port, bit-exact, in order');
});

t.test('IPv6: the source address is reported and sends reach it', async (t) => {
  const s = await open('::1');
  const p = await peer('udp6');
  t.teardown(() => {
    s.close();
    p.close();
  });
  const sources: string[] = [];
  s.onPacket = (packet, source) => {
    sources.push(`[${source.address}]:${source.port}`);
    s.send(packet, source.port, source.address);
  };
  const back: Buffer[] = [];
  p.on('message', (m) => back.push(m));
  p.send(datagram(7), s.port, '::1');
  await until(() => back.length === 1);
  t.same(sources, [`[::1]:${p.address().port}`]);
  t.same(back[0], datagram(7));
});

t.test('sends outside a batch (prompts, tones) go out at once; packets built elsewhere are copied', async (t) => {
  const { s, p } = await socketAndPeer(t);
  const got: Buffer[] = [];
  p.on('message', (m) => got.push(m));
  const own = datagram(42, 300);
  s.send(own, p.address().port, '127.0.0.1');
  own.fill(0); // the engine copied it when queued
  await until(() => got.length === 1);
  t.same(got[0], datagram(42, 300));
  s.send(datagram(1), p.address().port, 'not-an-address');
  t.pass('a non-IP destination is dropped without throwing');
});

t.test('what a handler sends just before it closes the socket still goes out, in order, from that port', async (t) => {
  const a = await open();
  const p = await peer();
  t.teardown(() => p.close());
  const got: { data: Buffer; port: number }[] = [];
  p.on('message', (m, rinfo) => got.push({ data: m, port: rinfo.port }));
  a.onPacket = () => {
    for (let i = 0; i < 600; i++) a.send(datagram(i), p.address().port, '127.0.0.1'); // more than two send batches
    a.close();
  };
  p.send(datagram(0), a.port, '127.0.0.1');
  await until(() => got.length === 600);
  t.ok(got.every((g, i) => g.data.equals(datagram(i)) && g.port === a.port), 'all 600, in order, from the closed socket\'s port');
  // The port is free at once: the sender thread was done with the descriptor before it was closed.
  const again = await factory.open('127.0.0.1', a.port, 1 << 20);
  again.close();
});

t.test('a socket closed by a handler gets no more of the batch; the others go on', async (t) => {
  const a = await open();
  const b = await open();
  const p = await peer();
  t.teardown(() => {
    b.close();
    p.close();
  });
  let toA = 0;
  let toB = 0;
  a.onPacket = () => {
    toA++;
    a.close();
  };
  b.onPacket = () => toB++;
  for (let i = 0; i < 5; i++) {
    p.send(datagram(i), a.port, '127.0.0.1');
    p.send(datagram(i), b.port, '127.0.0.1');
  }
  await until(() => toB === 5);
  t.equal(toA, 1, 'nothing after the close');
  a.close();
  t.pass('closing twice is harmless');
});

t.test('oversized datagrams are dropped and counted; a throwing handler does not stop the batch', async (t) => {
  const { s, p } = await socketAndPeer(t);
  const before = factory.stats;
  const reported: unknown[] = [];
  factory.onHandlerError = (err) => reported.push(err);
  t.teardown(() => (factory.onHandlerError = undefined));
  const got: number[] = [];
  s.onPacket = (packet) => {
    const i = packet.readUInt32BE(0);
    if (i === 2) throw new Error('handler bug');
    got.push(i);
  };
  p.send(datagram(1), s.port, '127.0.0.1');
  p.send(Buffer.alloc(9000, 1), s.port, '127.0.0.1');
  p.send(datagram(2), s.port, '127.0.0.1');
  p.send(datagram(3), s.port, '127.0.0.1');
  await until(() => got.length === 2);
  t.same(got, [1, 3]);
  const after = factory.stats;
  t.equal(after.truncated - before.truncated, 1, 'the 9,000-byte datagram counted as truncated');
  t.equal(after.handlerErrors - before.handlerErrors, 1, 'the throwing handler counted');
  t.match(reported, [/handler bug/], 'and reported (the first one at least)');
});

t.test('a port in use is refused with EADDRINUSE', async (t) => {
  const s = await open();
  t.teardown(() => s.close());
  await t.rejects(factory.open('127.0.0.1', s.port, 0), { code: 'EADDRINUSE' });
});

t.test('large audio datagrams (L16 48 kHz stereo, 40 ms: 7,692 octets) are received and echoed whole', async (t) => {
  const { s, p } = await socketAndPeer(t);
  s.onPacket = (packet, source) => s.send(packet, source.port, source.address);
  const back: Buffer[] = [];
  p.on('message', (m) => back.push(m));
  const big = datagram(9, 7692);
  p.send(big, s.port, '127.0.0.1');
  await until(() => back.length === 1);
  t.same(back[0], big);
});
