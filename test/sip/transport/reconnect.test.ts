/**
 * Outbound stream connections the peer closed (SPEC S1 "reconnect"; RFC
 * 3261 §18): real sockets on 127.0.0.1.
 * Verifies:
 * - a peer that closed the connection between messages (FIN): the next
 *   message opens a new connection and arrives;
 * - a peer that reset the connection just before a message was written (the
 *   write fails): the message is sent once more on a new connection and
 *   arrives, and the sender sees no error;
 * - a peer that is gone altogether: the error reaches the sender (no loop).
 */
import t from 'tap';
import net from 'node:net';
import { SipRequest } from '../../../lib/sip/message/index.js';
import { StreamFramer } from '../../../lib/sip/transport/stream-framer.js';
import { TransportManager } from '../../../lib/sip/transport/transport-manager.js';
import type { Address } from '../../../lib/sip/transport/transport.js';
import { silentLogger } from '../../../lib/util/log.js';

function options(n: number): SipRequest {
  const r = new SipRequest('OPTIONS', 'sip:peer@127.0.0.1');
  r.append('Via', `SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK${n}`);
  r.append('From', '<sip:a@127.0.0.1>;tag=1');
  r.append('To', '<sip:b@127.0.0.1>');
  r.append('Call-ID', `call-${n}`);
  r.append('CSeq', `${n} OPTIONS`);
  return r;
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A TCP peer that records which connection each Call-ID arrived on. */
async function peer() {
  const got: { callId: string; connection: number }[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    const n = sockets.push(s) - 1;
    const framer = new StreamFramer();
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      for (const f of framer.push(d)) got.push({ callId: /Call-ID: (\S+)/.exec(f.toString())?.[1] ?? '', connection: n });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address: Address = { protocol: 'tcp', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  return { got, sockets, server, address };
}

async function manager(): Promise<TransportManager> {
  const m = new TransportManager({ onMessage: () => {}, onParseError: () => {} }, silentLogger());
  await m.listen([{ protocol: 'udp', host: '127.0.0.1', port: 0 }]);
  return m;
}

t.test('closed by the peer between messages: the next one opens a new connection', async (t) => {
  const p = await peer();
  t.teardown(() => p.server.close());
  const m = await manager();
  t.teardown(() => m.close());
  m.send(options(1), p.address);
  await until(() => p.got.length === 1);
  p.sockets[0]!.end();
  await new Promise((r) => setTimeout(r, 100));
  const errors: Error[] = [];
  m.send(options(2), p.address, (e) => errors.push(e));
  await until(() => p.got.length === 2);
  t.same(p.got, [{ callId: 'call-1', connection: 0 }, { callId: 'call-2', connection: 1 }]);
  t.same(errors, []);
});

t.test('reset by the peer as the message is written: sent again on a new connection', async (t) => {
  const p = await peer();
  t.teardown(() => p.server.close());
  const m = await manager();
  t.teardown(() => m.close());
  m.send(options(1), p.address);
  await until(() => p.got.length === 1);
  // The reset is in our kernel before we write; the event loop has not seen it yet.
  p.sockets[0]!.resetAndDestroy();
  const errors: Error[] = [];
  m.send(options(2), p.address, (e) => errors.push(e));
  await until(() => p.got.some((g) => g.callId === 'call-2'));
  t.same(p.got.find((g) => g.callId === 'call-2'), { callId: 'call-2', connection: 1 }, 'arrived on a new connection');
  t.same(errors, [], 'the sender saw no error');
});

t.test('a peer that is gone: the error reaches the sender', async (t) => {
  const p = await peer();
  const m = await manager();
  t.teardown(() => m.close());
  m.send(options(1), p.address);
  await until(() => p.got.length === 1);
  p.sockets[0]!.resetAndDestroy();
  await new Promise<void>((r) => p.server.close(() => r()));
  const errors: Error[] = [];
  m.send(options(2), p.address, (e) => errors.push(e));
  await until(() => errors.length > 0);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(errors.length, 1, `one error (${errors[0]?.message})`);
});
