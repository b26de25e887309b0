/**
 * callrec verifies the provider's TLS certificate (RFC 5922 §7.2, SPEC
 * config `provider.tls`): a SIPp PBX (UDP) calls out; the provider is a TLS
 * server on 127.0.0.1 (Node's TLS, OpenSSL underneath) whose certificate the
 * test swaps between calls. callrec trusts only `provider.tls.ca`.
 *
 *   1. certificate signed by another CA          -> 503 to the PBX
 *   2. certificate of the right CA for another name -> 503 to the PBX
 *   3. certificate of the right CA for 127.0.0.1 -> the INVITE arrives over
 *      TLS; the provider answers 486, which reaches the PBX
 *   4. `tls.verify: false` (another callrec): the untrusted certificate is
 *      accepted, still over TLS, and the start-up log warns about it
 *
 * Verifies for 1 and 2: the PBX gets 503 (and ACKs it); callrec logs one
 * sip.tls-failed line with the reason (not trusted / does not name the host)
 * and a call.peer-unreachable line naming the provider and the reason; the
 * provider never got a SIP byte, neither over TLS nor in plain text (a UDP
 * socket on the provider's port number stays silent, and no plain TCP
 * client reached the TLS server). For 3: the same path works once the
 * certificate verifies.
 * Does not verify: expired certificates (same code path, reason "expired").
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { createResponse, parseMessage, serialize, type SipRequest } from '../../lib/sip/message/index.js';
import { StreamFramer } from '../../lib/sip/transport/stream-framer.js';
import { freePort, makeTempDir, removeTempDir, runSipp, sippAvailable, startCallrec } from './harness/index.js';
import { issueCert, makeCa } from './harness/tls-certs.js';

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('the provider\'s certificate is verified: wrong CA or wrong name gives 503, never plain text', async (t) => {
    const dir = makeTempDir('callrec-tls-verify');
    t.teardown(() => removeTempDir(dir));
    const ca = makeCa(dir, 'trusted-ca');
    const otherCa = makeCa(dir, 'other-ca');
    const good = issueCert(dir, ca, 'provider-good', ['IP:127.0.0.1']);
    const foreign = issueCert(dir, otherCa, 'provider-foreign', ['IP:127.0.0.1']);
    const misnamed = issueCert(dir, ca, 'provider-misnamed', ['DNS:provider.example']);
    const context = (c: { cert: string; key: string }): tls.SecureContextOptions => ({ cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key) });

    // The provider: a TLS server that answers each INVITE with 486 (and takes the ACK).
    const received: string[] = [];
    const handshakeErrors: string[] = [];
    const server = tls.createServer(context(foreign), (socket) => {
      const framer = new StreamFramer();
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        for (const frame of framer.push(chunk)) {
          const msg = parseMessage(frame);
          if (msg.kind !== 'request') continue;
          received.push(`${msg.method} ${msg.uri}`);
          if (msg.method === 'INVITE') socket.write(serialize(createResponse(msg as SipRequest, 486, 'Busy Here', 'prov1')));
        }
      });
    });
    server.on('tlsClientError', (err) => handshakeErrors.push(err.message));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => server.close());
    const providerPort = (server.address() as AddressInfo).port;
    // Plain-text fallback over UDP would land here.
    const udp = dgram.createSocket('udp4');
    const udpGot: Buffer[] = [];
    udp.on('message', (m) => udpGot.push(m));
    await new Promise<void>((r, j) => {
      udp.once('error', j);
      udp.bind(providerPort, '127.0.0.1', () => r());
    }).catch(() => t.comment(`UDP port ${providerPort} is taken; the UDP fallback check is skipped`));
    t.teardown(() => udp.close());

    const pbxPort = await freePort('both');
    const rec = await startCallrec({
      pbx: { port: pbxPort },
      provider: { port: providerPort, transport: 'tls' },
      overrides: { provider: { tls: { ca: ca.cert } } },
    });
    t.teardown(() => rec.dispose());
    const callOnce = (scenario: string): ReturnType<typeof runSipp> => runSipp({
      scenario, remote: { port: rec.sipPort }, localPort: pbxPort, calls: 1, service: '0301234567', keys: { caller: '201' }, timeoutSeconds: 20,
    });
    const failuresSoFar = (): number => rec.logs.filter((l) => l.event === 'sip.tls-failed').length;

    for (const [label, cert, reason] of [
      ['certificate of an untrusted CA', foreign, /^certificate not trusted: not signed by a configured CA/],
      ['certificate for another host name', misnamed, /^certificate does not name 127\.0\.0\.1/],
    ] as const) {
      await t.test(label, async (t) => {
        server.setSecureContext(context(cert));
        const before = failuresSoFar();
        const pbx = await callOnce('test/interop/scenarios/uac-expect-503.xml');
        t.equal(pbx.exitCode, 0, 'the PBX got 503 Service Unavailable and acknowledged it');
        t.equal(pbx.successful, 1, 'one call ended as expected');
        const failure = rec.logs.filter((l) => l.event === 'sip.tls-failed')[before];
        t.ok(failure !== undefined, 'sip.tls-failed logged');
        t.match(String(failure?.['reason']), reason, `the reason is named: ${String(failure?.['reason'])}`);
        t.equal(failure?.level, 40, 'at warn level');
        t.equal(failure?.['peer'], 'provider', 'naming the provider');
        t.match(String(failure?.['msg']), /^TLS connection to the provider \(127\.0\.0\.1:\d+\) failed: certificate/, 'in words');
        const unreachable = await rec.waitForLog((l) => l.event === 'call.peer-unreachable' && rec.logs.filter((x) => x.event === 'call.peer-unreachable').indexOf(l) === before, 3000);
        t.equal(unreachable['side'], 'provider', 'the call log line names the provider');
        t.match(String(unreachable['msg']), /^provider unreachable \(tls:127\.0\.0\.1:\d+\): TLS to 127\.0\.0\.1:\d+ failed: certificate/, 'and the reason');
        t.same(received, [], 'the provider got no SIP message');
        t.same(udpGot, [], 'nothing was sent in plain text over UDP');
        t.notOk(handshakeErrors.some((e) => /wrong version|http request|unknown protocol/i.test(e)), 'no plain TCP client at the TLS port');
      });
    }

    await t.test('certificate that verifies: the same provider is reached over TLS', async (t) => {
      server.setSecureContext(context(good));
      const pbx = await callOnce('uac-busy');
      t.equal(pbx.exitCode, 0, 'the PBX got the provider\'s 486 through callrec');
      t.match(received, [/^INVITE sip:0301234567@127\.0\.0\.1:\d+;transport=tls$/, /^ACK /], 'INVITE (and ACK) arrived over TLS');
      t.ok(rec.logs.some((l) => l.event === 'sip.tls-connected'), 'callrec logged the verified connection');
    });

    await t.test('tls.verify: false accepts any certificate, and says so at start', async (t) => {
      server.setSecureContext(context(foreign));
      received.length = 0;
      const loosePbxPort = await freePort('both');
      const loose = await startCallrec({
        pbx: { port: loosePbxPort },
        provider: { port: providerPort, transport: 'tls' },
        overrides: { provider: { tls: { verify: false } } },
      });
      t.teardown(() => loose.dispose());
      const warned = await loose.waitForLog((l) => l.event === 'config.tls-unverified', 1000);
      t.equal(warned.level, 40, 'warned at start that the provider is not verified');
      const pbx = await runSipp({
        scenario: 'uac-busy', remote: { port: loose.sipPort }, localPort: loosePbxPort, calls: 1, service: '0301234567', keys: { caller: '201' }, timeoutSeconds: 20,
      });
      t.equal(pbx.exitCode, 0, 'the call reached the provider despite its untrusted certificate');
      t.match(received, [/^INVITE /, /^ACK /], 'over TLS all the same');
    });
  });
}
