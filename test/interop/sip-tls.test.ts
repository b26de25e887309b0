/**
 * SIP over TLS end to end (SPEC S1, M8): real baresip as PBX and as
 * provider, both speaking only TLS to callrec, with SRTP on both legs. The
 * PBX dials callrec's tls listener; callrec verifies the
 * provider's certificate against `provider.tls.ca` and its address (baresip
 * 1.0 cannot dial sips: URIs, so it dials sip:...;transport=tls; sips:
 * Request-URIs are covered by sip-sips.test.ts). The
 * provider runs on 127.0.0.2 so that callrec tells the two TLS peers apart
 * by host (their connections come from ephemeral ports).
 *
 * Verifies:
 *   - the call connects, both parties hear each other's tone, the caller
 *     hangs up; the recording is sealed and `callrec verify` accepts it; its
 *     metadata names both legs as SRTP;
 *   - the call arrived over TLS and went on over TLS as sip:...;transport=tls
 *     (a sip: call is not turned into a sips: one), no downgrade, no TLS
 *     failure logged;
 *   - the provider restarts (it closes its TLS connections): the next call
 *     opens a new verified connection and is recorded as well;
 *   - an inbound call (SIPp provider on UDP -> baresip PBX on TLS): callrec
 *     opens a TLS connection to the PBX, verified against `pbx.tls.ca`, and
 *     records the call.
 * Does not verify: certificate failures (sip-tls-verify.test.ts), mutual
 * TLS (callrec does not ask the PBX for a client certificate).
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  type CallrecInstance, freePort, makeTempDir, removeTempDir, runSipp, startCallrec,
} from './harness/index.js';
import {
  type Baresip, type BaresipControl, baresipAvailable, findFile, heardTone, retryOnPortClash, startBaresip, toneWav,
} from './harness/baresip.js';
import { cli } from './harness/operator.js';
import { issueCert, makeCa } from './harness/tls-certs.js';

const CALLER_HZ = 600;
const CALLEE_HZ = 1000;
const CALL_SECONDS = 3;

/** The first event of `type` that is not in `before` (the events seen before the call). */
function nextEvent(ctrl: BaresipControl, before: Set<unknown>, type: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return ctrl.waitFor((m) => !before.has(m) && m['event'] === true && m['type'] === type, timeoutMs);
}

/** One call PBX -> provider; resolves with the recording's base path once it is archived. */
async function call(t: Test, rec: CallrecInstance, pbx: Baresip, provider: Baresip, uri: string, sealedBefore: number): Promise<string> {
  const pbxBefore = new Set<unknown>(pbx.ctrl.events);
  const providerBefore = new Set<unknown>(provider.ctrl.events);
  const dialed = await pbx.ctrl.command('dial', uri);
  t.equal(dialed['ok'], true, `baresip dials ${uri}`);
  await nextEvent(pbx.ctrl, pbxBefore, 'CALL_ESTABLISHED', 15_000);
  await nextEvent(provider.ctrl, providerBefore, 'CALL_ESTABLISHED', 5000);
  t.pass('the call connects over TLS on both legs');
  const end = await nextEvent(pbx.ctrl, pbxBefore, 'CALL_CLOSED', (CALL_SECONDS + 20) * 1000);
  t.match(String(end['param']), /end of file/, 'the caller hung up at the end of its audio');
  await nextEvent(provider.ctrl, providerBefore, 'CALL_CLOSED', 5000);
  const sealed = await rec.waitForLog((l) => l.event === 'recording.sealed' && rec.logs.filter((x) => x.event === 'recording.sealed').indexOf(l) >= sealedBefore, 30_000);
  const delivered = await rec.waitForLog((l) => (l.event === 'archive.delivered' || l.event === 'recording.delivered') && l['base'] === sealed['base'], 30_000);
  const name = String(delivered['base']);
  const info = findFile(rec.archiveDir, `${name}_info.txt`);
  if (info === undefined) throw new Error(`${name}_info.txt not found below ${rec.archiveDir}`);
  return info.slice(0, -'_info.txt'.length);
}

if (!baresipAvailable()) {
  t.plan(0, 'baresip with srtp, sndfile and ctrl_tcp modules is not installed (run `make install` as root)');
} else {
  t.test('PBX -> callrec -> provider, TLS and SRTP on both legs, reconnect after the provider closed', async (t) => {
    const dir = makeTempDir('callrec-tls');
    t.teardown(() => removeTempDir(dir));
    const ca = makeCa(dir, 'test-ca');
    const callrecCert = issueCert(dir, ca, 'callrec', ['IP:127.0.0.1']);
    const pbxCert = issueCert(dir, ca, 'pbx', ['IP:127.0.0.1']);
    const providerCert = issueCert(dir, ca, 'provider', ['IP:127.0.0.2']);
    const callerWav = path.join(dir, 'caller.wav');
    const calleeWav = path.join(dir, 'callee.wav');
    toneWav(callerWav, CALLER_HZ, CALL_SECONDS);
    toneWav(calleeWav, CALLEE_HZ, 60);

    const pbx = await retryOnPortClash(() => startBaresip(dir, {
      name: 'pbx', user: 'alice', srtp: true, autoAnswer: false, sourceWav: callerWav,
      tls: { certificate: pbxCert.bundle, ca: ca.cert },
    }));
    t.teardown(() => pbx.stop());
    const providerOptions = {
      name: 'provider', user: 'bob', srtp: true, autoAnswer: true, sourceWav: calleeWav, host: '127.0.0.2',
      tls: { certificate: providerCert.bundle, ca: ca.cert },
    };
    let provider = await retryOnPortClash(() => startBaresip(dir, providerOptions));
    t.teardown(() => provider.stop());
    const tlsPort = await freePort('tcp');
    const rec = await retryOnPortClash(() => startCallrec({
      pbx: { port: pbx.tlsPort, transport: 'tls' },
      provider: { host: '127.0.0.2', port: provider.tlsPort, transport: 'tls' },
      tlsListen: { port: tlsPort, cert: callrecCert.cert, key: callrecCert.key },
      overrides: { pbx: { tls: { ca: ca.cert } }, provider: { srtp: 'sdes', tls: { ca: ca.cert } } },
    }));
    t.teardown(() => rec.dispose());
    // baresip 1.0 dials sip: URIs only (it prefixes anything else with sip:); transport=tls makes it use TLS.
    const uri = `sip:bob@127.0.0.1:${tlsPort};transport=tls`;

    // ---- call 1
    const base1 = await call(t, rec, pbx, provider, uri, 0);
    const start1 = await rec.waitForLog((l) => l.event === 'call.start', 1000);
    t.equal(start1['source'] !== undefined && (start1['source'] as { protocol?: string }).protocol, 'tls', 'the call arrived over TLS');
    t.match(String(start1['bUri']), /^sip:bob@127\.0\.0\.2:\d+;transport=tls$/, 'callrec went on to the provider over TLS (a sip: call stays sip:)');
    const toProvider = (): number => rec.logs.filter((l) => l.event === 'sip.tls-connected' && (l['destination'] as { host?: string }).host === '127.0.0.2').length;
    t.equal(toProvider(), 1, 'one verified TLS connection to the provider');
    t.same(rec.logs.filter((l) => l.event === 'call.downgraded' || l.event === 'sip.tls-failed' || l.event === 'call.refused'), [],
      'no downgrade, no TLS failure, nothing refused');
    const v1 = await cli(['verify', base1, '--config', rec.configPath]);
    t.equal(v1.status, 0, `callrec verify accepts the recording\n${v1.stdout}${v1.stderr}`);
    const info1 = fs.readFileSync(`${base1}_info.txt`, 'utf8');
    t.match(info1, /^Encryption: SRTP \S+ caller leg.*; SRTP \S+ callee leg/m, 'metadata: both legs SRTP');
    for (const [party, hz, who] of [[provider, CALLER_HZ, 'provider'], [pbx, CALLEE_HZ, 'PBX']] as const) {
      const heard = heardTone(party);
      t.ok(heard !== undefined && heard.loudSeconds > CALL_SECONDS - 1.5 && Math.abs(heard.hz - hz) < hz * 0.03,
        `${who} heard the ${hz} Hz tone (${heard?.hz.toFixed(1)} Hz, ${heard?.loudSeconds.toFixed(2)} s)`);
    }

    // ---- the provider goes away and comes back: its TLS connections are closed
    await provider.stop(true);
    await rec.waitForLog((l) => l.event === 'call.end', 1000);
    provider = await startBaresip(dir, { ...providerOptions, name: 'provider2', ports: provider.ports });
    const base2 = await call(t, rec, pbx, provider, uri, 1);
    t.not(base2, base1, 'a second recording');
    const v2 = await cli(['verify', base2, '--config', rec.configPath]);
    t.equal(v2.status, 0, `the call after the reconnect is recorded and verifies\n${v2.stdout}${v2.stderr}`);
    t.same(rec.logs.filter((l) => l.event === 'sip.tls-failed' || l.event === 'call.peer-unreachable'), [], 'reconnected without a failure');
    t.equal(toProvider(), 2, 'a new TLS connection to the provider after it closed the first');

  });

  t.test('inbound to a PBX on TLS: callrec connects to the PBX and verifies it against pbx.tls.ca', async (t) => {
    // baresip connects out from 127.0.0.1 whatever address it is bound to, so the calling provider
    // here is SIPp on UDP: callrec tells the two sides apart by transport.
    const dir = makeTempDir('callrec-tls-in');
    t.teardown(() => removeTempDir(dir));
    const ca = makeCa(dir, 'test-ca');
    const callrecCert = issueCert(dir, ca, 'callrec', ['IP:127.0.0.1']);
    const pbxCert = issueCert(dir, ca, 'pbx', ['IP:127.0.0.1']);
    const calleeWav = path.join(dir, 'callee.wav');
    toneWav(calleeWav, CALLEE_HZ, 60);
    const pbx = await retryOnPortClash(() => startBaresip(dir, {
      name: 'pbx', user: 'alice', srtp: false, autoAnswer: true, sourceWav: calleeWav,
      tls: { certificate: pbxCert.bundle, ca: ca.cert },
    }));
    t.teardown(() => pbx.stop());
    const providerPort = await freePort('both');
    const tlsPort = await freePort('tcp');
    const rec = await retryOnPortClash(() => startCallrec({
      pbx: { port: pbx.tlsPort, transport: 'tls' },
      provider: { port: providerPort },
      tlsListen: { port: tlsPort, cert: callrecCert.cert, key: callrecCert.key },
      overrides: { pbx: { tls: { ca: ca.cert } } },
    }));
    t.teardown(() => rec.dispose());
    const provider = await runSipp({
      scenario: 'uac-basic', remote: { port: rec.sipPort }, localPort: providerPort, calls: 1, durationMs: 1500,
      service: 'alice', keys: { caller: '01721234567' }, timeoutSeconds: 30,
    });
    t.equal(provider.exitCode, 0, 'the provider\'s call was answered by the PBX and ended by its BYE');
    const start = await rec.waitForLog((l) => l.event === 'call.start', 1000);
    t.equal(start['direction'], 'inbound', 'inbound');
    t.match(String(start['bUri']), new RegExp(`^sip:alice@127\\.0\\.0\\.1:${pbx.tlsPort};transport=tls$`), 'went on to the PBX over TLS');
    const up = rec.logs.find((l) => l.event === 'sip.tls-connected');
    t.match(up, { destination: { port: pbx.tlsPort }, authorized: true }, 'over a connection whose certificate verified');
    const sealed = await rec.waitForLog((l) => l.event === 'recording.sealed', 30_000);
    const info = findFile(rec.archiveDir, `${String(sealed['base'])}_info.txt`) ?? findFile(path.join(rec.dir, 'var'), `${String(sealed['base'])}_info.txt`);
    t.ok(info !== undefined, 'the call is recorded');
  });
}
