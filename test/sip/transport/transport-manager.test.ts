/**
 * Real sockets on 127.0.0.1: UDP, TCP (connection reuse, framing, responses
 * on the request's connection) and TLS (configured certificate; the peer's
 * certificate verified against a CA, failure reported, never plain text).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { parseMessage, serialize, SipRequest, type SipMessage } from '../../../lib/sip/message/index.js';
import { TransportManager } from '../../../lib/sip/transport/transport-manager.js';
import type { Address, Inbound } from '../../../lib/sip/transport/transport.js';
import { silentLogger } from '../../../lib/util/log.js';

function options(n: number): SipRequest {
  const r = new SipRequest('OPTIONS', 'sip:callrec@127.0.0.1');
  r.append('Via', `SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK${n}`);
  r.append('From', '<sip:a@127.0.0.1>;tag=1');
  r.append('To', '<sip:b@127.0.0.1>');
  r.append('Call-ID', `call-${n}`);
  r.append('CSeq', `${n} OPTIONS`);
  return r;
}

async function manager(specs: Parameters<TransportManager['listen']>[0], tlsClient?: (d: Address) => tls.ConnectionOptions) {
  const received: Inbound[] = [];
  const errors: string[] = [];
  const m = new TransportManager({
    onMessage: (i) => received.push(i),
    onParseError: (e) => errors.push(e.reason),
  }, silentLogger(), tlsClient);
  await m.listen(specs);
  return { m, received, errors };
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

t.test('UDP: a datagram in, a parse error reported, a message out', async (t) => {
  const { m, received, errors } = await manager([{ protocol: 'udp', host: '127.0.0.1', port: 0 }]);
  t.teardown(() => m.close());
  const port = m.localAddress('udp')!.port;
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
  t.teardown(() => peer.close());
  const got: SipMessage[] = [];
  peer.on('message', (b) => got.push(parseMessage(b)));
  peer.send(serialize(options(1)), port, '127.0.0.1');
  peer.send(Buffer.from('garbage\r\n\r\n'), port, '127.0.0.1');
  await until(() => received.length === 1 && errors.length === 1);
  t.equal(received[0]!.source.port, peer.address().port);
  m.send(options(2), received[0]!.source);
  await until(() => got.length === 1);
  t.equal(got[0]!.callId, 'call-2');
});

t.test('TCP: partial and pipelined input; replies reuse the connection', async (t) => {
  const { m, received } = await manager([{ protocol: 'tcp', host: '127.0.0.1', port: 0 }]);
  t.teardown(() => m.close());
  const port = m.localAddress('tcp')!.port;
  const sock = net.connect(port, '127.0.0.1');
  t.teardown(() => sock.destroy());
  await new Promise((r) => sock.once('connect', r));
  const bytes = Buffer.concat([serialize(options(1)), serialize(options(2))]);
  sock.write(bytes.subarray(0, 30));
  await new Promise((r) => setTimeout(r, 20));
  sock.write(bytes.subarray(30));
  await until(() => received.length === 2);
  t.same(received.map((r) => r.message.callId), ['call-1', 'call-2']);
  let reply = '';
  sock.on('data', (d) => (reply += d.toString()));
  m.send(options(3), received[0]!.source);
  await until(() => reply.includes('call-3'));
  t.pass('reply arrived on the same connection');
});

t.test('TLS: server with the configured certificate; client verifies the peer against the CA', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'callrec-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const { m, received } = await manager([{ protocol: 'tls', host: '127.0.0.1', port: 0, cert, key }],
    () => ({ ca: readFileSync(cert), rejectUnauthorized: true }));
  t.teardown(() => m.close());
  const port = m.localAddress('tls')!.port;
  // A TLS client talks to our listener.
  const client = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(cert), servername: 'localhost' });
  t.teardown(() => client.destroy());
  await new Promise((r) => client.once('secureConnect', r));
  client.write(serialize(options(7)));
  await until(() => received.length === 1);
  t.equal(received[0]!.source.protocol, 'tls');
  // Our client connects out to a TLS peer that has the trusted certificate.
  const peerGot: string[] = [];
  const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (s) => s.on('data', (d) => peerGot.push(d.toString())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const peerPort = (server.address() as net.AddressInfo).port;
  m.send(options(8), { protocol: 'tls', host: '127.0.0.1', port: peerPort });
  await until(() => peerGot.join('').includes('call-8'));
  t.pass('sent over a verified TLS connection');
  // The same peer with a CA that did not sign its certificate: the send fails, nothing goes out in plain text.
  const { m: strict } = await manager([{ protocol: 'udp', host: '127.0.0.1', port: 0 }], () => ({ rejectUnauthorized: true }));
  t.teardown(() => strict.close());
  const failure = await new Promise<Error | undefined>((resolve) => {
    strict.send(options(9), { protocol: 'tls', host: '127.0.0.1', port: peerPort }, resolve);
    setTimeout(() => resolve(undefined), 3000);
  });
  t.ok(failure instanceof Error, `handshake failure reported: ${failure?.message}`);
  t.notOk(peerGot.join('').includes('call-9'), 'nothing delivered');
});
