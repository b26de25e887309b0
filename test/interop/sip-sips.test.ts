/**
 * sips: and downgrades (RFC 3261 §19.1, §26.2.2; RFC 5630; SPEC S1, M8).
 *
 *   1. sips: Request-URI over TLS, provider on TLS (baresip on 127.0.0.2):
 *      the call goes on as sips: over TLS; callrec's Contact toward the
 *      caller is a sips: URI (RFC 3261 §12.1.1). The caller is a small TLS
 *      UAC of the test (baresip 1.0 cannot dial sips:, Debian's SIPp has no
 *      TLS).
 *   2. sips: Request-URI, provider on UDP (SIPp): refused with 480 and
 *      Warning 380 "SIPS Not Allowed" (RFC 5630), logged as call.refused;
 *      the provider never sees the INVITE.
 *   3. the same with `provider.sips: downgrade`: relayed to the provider as
 *      sip: over UDP, and a warn-level call.downgraded line says so.
 *   4. a TLS call with SRTP (baresip, srtp-mand) to a provider configured
 *      `transport: udp`, `srtp: off` (SIPp): relayed, warn-level
 *      call.downgraded naming the signalling (UDP) and the media (RTP).
 * Does not verify: sips: in To/From/Contact alone (accepted as any URI).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  freePort, makeTempDir, removeTempDir, runSipp, sippAvailable, startCallrec, startSipp,
} from './harness/index.js';
import { count, expectCalls, finished } from './harness/checks.js';
import { baresipAvailable, retryOnPortClash, startBaresip, toneWav } from './harness/baresip.js';
import { issueCert, makeCa } from './harness/tls-certs.js';
import { TlsUac } from './harness/tls-uac.js';

const SDP = ['v=0', 'o=uac 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000', 'a=sendrecv', ''].join('\r\n');

if (!sippAvailable() || !baresipAvailable()) {
  t.plan(0, 'sipp and baresip (with srtp, sndfile, ctrl_tcp) are needed (run `make install` as root)');
} else {
  const dir = makeTempDir('callrec-sips');
  t.teardown(() => removeTempDir(dir));
  const ca = makeCa(dir, 'test-ca');
  const callrecCert = issueCert(dir, ca, 'callrec', ['IP:127.0.0.1']);
  const providerCert = issueCert(dir, ca, 'provider', ['IP:127.0.0.2']);
  const pbxCert = issueCert(dir, ca, 'pbx', ['IP:127.0.0.1']);
  const wav = path.join(dir, 'tone.wav');
  toneWav(wav, 800, 30);
  const shortWav = path.join(dir, 'short.wav');
  toneWav(shortWav, 600, 2);

  t.test('sips: over TLS goes on as sips: over TLS', async (t) => {
    const provider = await retryOnPortClash(() => startBaresip(dir, {
      name: 'provider1', user: 'bob', srtp: false, autoAnswer: true, sourceWav: wav, host: '127.0.0.2',
      tls: { certificate: providerCert.bundle, ca: ca.cert },
    }));
    t.teardown(() => provider.stop());
    const tlsPort = await freePort('tcp');
    const pbxPort = await freePort('tcp');
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'tls' },
      provider: { host: '127.0.0.2', port: provider.tlsPort, transport: 'tls' },
      tlsListen: { port: tlsPort, cert: callrecCert.cert, key: callrecCert.key },
      overrides: { provider: { tls: { ca: ca.cert } } },
    });
    t.teardown(() => rec.dispose());
    const uac = await TlsUac.connect({ host: '127.0.0.1', port: tlsPort, ca: fs.readFileSync(ca.cert) });
    t.teardown(() => uac.close());
    const uri = `sips:bob@127.0.0.1:${tlsPort}`;
    const res = await uac.invite(uri, SDP);
    t.equal(res.status, 200, 'the call is answered', {
      diagnostic: res.status !== 200, details: rec.logs.filter((l) => (l.level ?? 0) >= 40).map((l) => JSON.stringify(l)).join('\n'),
    });
    t.match(res.get('Contact') ?? '', /^<sips:callrec@127\.0\.0\.1:\d+>$/, 'callrec\'s Contact toward the SIPS caller is a sips: URI');
    await provider.ctrl.event('CALL_ESTABLISHED', 5000);
    const start = await rec.waitForLog((l) => l.event === 'call.start', 2000);
    t.match(String(start['bUri']), new RegExp(`^sips:bob@127\\.0\\.0\\.2:${provider.tlsPort}$`), 'the provider got a sips: Request-URI');
    t.ok(rec.logs.some((l) => l.event === 'sip.tls-connected' && (l['destination'] as { host?: string }).host === '127.0.0.2'), 'over a verified TLS connection');
    const bye = await uac.bye(uri);
    t.equal(bye.status, 200, 'BYE answered');
    await provider.ctrl.event('CALL_CLOSED', 5000);
    t.same(rec.logs.filter((l) => l.event === 'call.downgraded' || l.event === 'call.refused'), [], 'no downgrade, nothing refused');
  });

  for (const downgrade of [false, true]) {
    t.test(downgrade ? 'sips: to a UDP provider with sips: downgrade goes on as sip:, with a warning'
      : 'sips: that could only go on over UDP is refused with 480 / Warning 380', async (t) => {
      const pbxPort = await freePort('both');
      const provider = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 40 });
      t.teardown(() => provider.stop());
      const rec = await startCallrec({
        pbx: { port: pbxPort }, provider: { port: provider.localPort },
        ...(downgrade ? { overrides: { provider: { sips: 'downgrade' } } } : {}),
      });
      t.teardown(() => rec.dispose());
      const pbx = await runSipp({
        scenario: downgrade ? 'test/interop/scenarios/uac-sips-basic.xml' : 'test/interop/scenarios/uac-sips-expect-480.xml',
        remote: { port: rec.sipPort }, localPort: pbxPort, calls: 1, durationMs: 300, service: '0301234567', keys: { caller: '201' }, timeoutSeconds: 20,
      });
      expectCalls(t, pbx, 'PBX', 1);
      if (!downgrade) {
        const refused = await rec.waitForLog((l) => l.event === 'call.refused', 2000);
        t.equal(refused['status'], 480, 'call.refused with 480');
        t.match(String(refused['msg']), /sips: request, but the onward side is configured UDP/, 'the log line says why');
        t.equal(refused.level, 40, 'at warn level');
        const uas = await provider.stop();
        t.equal(count(uas, 'recv', 'INVITE'), 0, 'the provider never saw the INVITE');
        t.notOk(rec.logs.some((l) => l.event === 'call.start'), 'no call was set up');
        return;
      }
      const uas = await finished(t, provider, 'provider');
      expectCalls(t, uas, 'provider', 1);
      t.match(uas.messages, /^INVITE sip:0301234567@127\.0\.0\.1:\d+ SIP\/2\.0$/m, 'the provider got a sip: Request-URI over UDP');
      const warned = await rec.waitForLog((l) => l.event === 'call.downgraded', 2000);
      t.equal(warned.level, 40, 'call.downgraded at warn level');
      t.match(warned, { side: 'provider', sips: true, signalling: 'udp' }, 'names the leg and what it lost');
      t.match(String(warned['msg']), /call downgraded on the provider leg: sips: relayed as sip:, signalling over UDP instead of TLS/, 'in words');
    });
  }

  t.test('a TLS call with SRTP to a provider configured udp and srtp: off goes on, with a warning', async (t) => {
    const pbx = await retryOnPortClash(() => startBaresip(dir, {
      name: 'pbx4', user: 'alice', srtp: true, autoAnswer: false, sourceWav: shortWav,
      tls: { certificate: pbxCert.bundle, ca: ca.cert },
    }));
    t.teardown(() => pbx.stop());
    const provider = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 40 });
    t.teardown(() => provider.stop());
    const tlsPort = await freePort('tcp');
    const rec = await startCallrec({
      pbx: { port: pbx.tlsPort, transport: 'tls' },
      provider: { port: provider.localPort, transport: 'udp' },
      tlsListen: { port: tlsPort, cert: callrecCert.cert, key: callrecCert.key },
      overrides: { pbx: { tls: { ca: ca.cert } }, provider: { srtp: 'off' } },
    });
    t.teardown(() => rec.dispose());
    await pbx.ctrl.command('dial', `sip:0301234567@127.0.0.1:${tlsPort};transport=tls`);
    await pbx.ctrl.event('CALL_ESTABLISHED', 10_000);
    t.pass('the call connects (SRTP toward the PBX, plain toward the provider)');
    await pbx.ctrl.event('CALL_CLOSED', 15_000);
    const uas = await finished(t, provider, 'provider');
    expectCalls(t, uas, 'provider', 1);
    const warned = await rec.waitForLog((l) => l.event === 'call.downgraded', 2000);
    t.equal(warned.level, 40, 'call.downgraded at warn level');
    t.match(warned, { side: 'provider', arrivedOver: 'tls', signalling: 'udp', media: 'RTP' }, 'names the leg, its transport and its media');
    t.match(String(warned['msg']), /call downgraded on the provider leg: signalling over UDP instead of TLS, media plain RTP instead of SRTP \(as the provider config says\)/, 'in words');
    t.ok(rec.logs.some((l) => l.event === 'srtp.keys' && l['side'] === 'pbx'), 'the PBX leg ran SRTP');
  });
}
