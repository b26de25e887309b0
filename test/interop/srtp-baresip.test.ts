/**
 * SPEC M8 interop: real baresip (Debian baresip-core, its srtp module with
 * `mediaenc=srtp-mand`) as PBX and as provider, calling through a real
 * callrec, with SRTP on both legs, on one leg only each way, and an inbound
 * call. Each baresip plays its own tone (caller 600 Hz, callee 1000 Hz, PCMA)
 * with aufile and dumps what it decoded with sndfile.
 *
 * Verifies per call:
 *   - the call connects (CALL_ESTABLISHED on both baresips) and ends by the
 *     caller's BYE when its source file ends;
 *   - callrec negotiated SRTP exactly on the legs it should (`srtp.keys`),
 *     warned when an SRTP call went on as plain RTP (`srtp.plain-leg`), and
 *     logged no authentication or replay failure, and no key;
 *   - the recording has audio on both channels, non-silent, with the
 *     caller's tone on the left and the callee's on the right (garbage from
 *     a wrong key would not be a clean tone);
 *   - each baresip heard the other's tone (its sndfile decode dump), and
 *     reported no SRTP unprotect failure; SRTP sides report SRTP enabled.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { type CallrecInstance, type LogLine, makeTempDir, removeTempDir, startCallrec } from './harness/index.js';
import { baresipAvailable, findFile, readWav, retryOnPortClash, samples, startBaresip, tone, toneWav } from './harness/baresip.js';

const CALLER_HZ = 600;
const CALLEE_HZ = 1000;
const CALL_SECONDS = 4;

interface Scenario {
  /** baresip uses mediaenc=srtp-mand on that side. */
  pbxSrtp: boolean;
  providerSrtp: boolean;
  /** callrec's `srtp` setting per side. */
  modes: { pbx: 'off' | 'sdes'; provider: 'off' | 'sdes' };
  /** The provider calls the PBX (default: the PBX calls out). */
  inbound?: boolean;
}

function logsOf(rec: CallrecInstance, event: string): LogLine[] {
  return rec.logs.filter((l) => l.event === event);
}

async function srtpCall(t: Test, s: Scenario): Promise<void> {
  const dir = makeTempDir('callrec-srtp');
  t.teardown(() => removeTempDir(dir));
  const callerWav = path.join(dir, 'caller.wav');
  const calleeWav = path.join(dir, 'callee.wav');
  toneWav(callerWav, CALLER_HZ, CALL_SECONDS);
  toneWav(calleeWav, CALLEE_HZ, 30);
  const inbound = s.inbound === true;
  const pbx = await retryOnPortClash(() => startBaresip(dir, { name: 'pbx', user: 'alice', srtp: s.pbxSrtp, autoAnswer: inbound, sourceWav: inbound ? calleeWav : callerWav }));
  t.teardown(() => pbx.stop());
  const provider = await retryOnPortClash(() => startBaresip(dir, { name: 'provider', user: 'bob', srtp: s.providerSrtp, autoAnswer: !inbound, sourceWav: inbound ? callerWav : calleeWav }));
  t.teardown(() => provider.stop());
  const rec = await retryOnPortClash(() => startCallrec({
    pbx: { port: pbx.sipPort },
    provider: { port: provider.sipPort },
    overrides: { pbx: { srtp: s.modes.pbx }, provider: { srtp: s.modes.provider } },
  }));
  t.teardown(() => rec.dispose());
  const [caller, callee] = inbound ? [provider, pbx] : [pbx, provider];
  const [callerSide, calleeSide] = inbound ? ['provider', 'pbx'] : ['pbx', 'provider'];

  const dialed = await caller.ctrl.command('dial', `sip:${callee.user}@127.0.0.1:${rec.sipPort}`);
  t.equal(dialed['ok'], true, 'baresip took the dial command');
  await caller.ctrl.event('CALL_ESTABLISHED', 15_000);
  await callee.ctrl.event('CALL_ESTABLISHED', 5000);
  t.pass('the call connects');
  // The caller's source file ends after CALL_SECONDS: it hangs up.
  const closed = await caller.ctrl.event('CALL_CLOSED', (CALL_SECONDS + 15) * 1000);
  t.match(String(closed['param']), /end of file/, 'the caller hung up at the end of its audio');
  await callee.ctrl.event('CALL_CLOSED', 5000);

  const sealed = await rec.waitForLog((l) => l.event === 'recording.sealed', 30_000);
  const delivered = await rec.waitForLog((l) => (l.event === 'archive.delivered' || l.event === 'recording.delivered') && l['base'] === sealed['base'], 30_000);
  const name = String(delivered['base']);
  const infoFile = findFile(rec.archiveDir, `${name}_info.txt`);
  if (infoFile === undefined) throw new Error(`${name}_info.txt not found below ${rec.archiveDir}`);
  const base = infoFile.slice(0, -'_info.txt'.length);
  const info = fs.readFileSync(`${base}_info.txt`, 'utf8');
  t.match(info, /^Codec: PCMA$/m, 'metadata: PCMA');
  t.notMatch(info, /inline|crypto/i, 'no key material in the metadata');
  if (s.pbxSrtp) t.match(info, new RegExp(`^Encryption: .*SRTP \\S+ ${inbound ? 'callee' : 'caller'} leg`, 'm'), 'metadata names the PBX leg as SRTP');
  if (s.providerSrtp) t.match(info, new RegExp(`^Encryption: .*SRTP \\S+ ${inbound ? 'caller' : 'callee'} leg`, 'm'), 'metadata names the provider leg as SRTP');

  // callrec's negotiation, as logged (never with keys).
  const keyed = logsOf(rec, 'srtp.keys').map((l) => String(l['side'])).sort();
  const wantKeyed = [...(s.pbxSrtp ? ['pbx'] : []), ...(s.providerSrtp ? ['provider'] : [])].sort();
  t.same(keyed, wantKeyed, `SRTP negotiated on: ${wantKeyed.join(', ') || 'no leg'}`);
  for (const l of logsOf(rec, 'srtp.keys')) t.equal(l['suite'], 'AES_CM_128_HMAC_SHA1_80', `${String(l['side'])} leg suite`);
  const srtpCaller = inbound ? s.providerSrtp : s.pbxSrtp;
  const plainCallee = inbound ? !s.pbxSrtp : !s.providerSrtp;
  if (srtpCaller && plainCallee) t.ok(logsOf(rec, 'srtp.plain-leg').some((l) => l.level === 40), 'warned: SRTP call relayed as plain RTP');
  const failures = rec.logs.filter((l) => (l.event === 'srtp.drop' && l['reason'] !== 'malformed')
    || (l.event === 'srtp.dropped' && (Number(l['authFailures']) > 0 || Number(l['replayed']) > 0)));
  t.same(failures, [], 'no SRTP authentication or replay failures');
  t.notOk(rec.logs.some((l) => /inline:/.test(JSON.stringify(l))), 'no key in callrec\'s log');

  // The recording: caller left, callee right, each its own clean tone.
  const wav = readWav(`${base}.wav`);
  t.equal(wav.channels, 2, 'stereo');
  const left = tone(samples(wav, 0));
  const right = tone(samples(wav, 1));
  t.ok(left.loudSeconds > CALL_SECONDS - 1.5, `caller channel has audio (${left.loudSeconds.toFixed(2)} s)`);
  t.ok(right.loudSeconds > CALL_SECONDS - 1.5, `callee channel has audio (${right.loudSeconds.toFixed(2)} s)`);
  t.ok(Math.abs(left.hz - CALLER_HZ) < CALLER_HZ * 0.03, `caller channel: ${left.hz.toFixed(1)} Hz tone (${CALLER_HZ})`);
  t.ok(Math.abs(right.hz - CALLEE_HZ) < CALLEE_HZ * 0.03, `callee channel: ${right.hz.toFixed(1)} Hz tone (${CALLEE_HZ})`);

  // Each party heard the other (what its decoder produced).
  for (const [party, hz, who] of [[callee, CALLER_HZ, `callee (${calleeSide})`], [caller, CALLEE_HZ, `caller (${callerSide})`]] as const) {
    const dump = fs.readdirSync(party.sndDir).find((f) => f.endsWith('-dec.wav'));
    t.ok(dump !== undefined, `${who} dumped what it decoded`);
    if (dump === undefined) continue;
    const heard = tone(samples(readWav(path.join(party.sndDir, dump)), 0));
    t.ok(heard.loudSeconds > CALL_SECONDS - 1.5, `${who} heard ${heard.loudSeconds.toFixed(2)} s of audio`);
    t.ok(Math.abs(heard.hz - hz) < hz * 0.03, `${who} heard the ${hz} Hz tone (${heard.hz.toFixed(1)} Hz)`);
  }
  for (const [party, srtp, side] of [[pbx, s.pbxSrtp, 'pbx'], [provider, s.providerSrtp, 'provider']] as const) {
    const log = party.log();
    t.notMatch(log, /failed to unprotect|srtp.*(auth|replay).*fail/i, `${side} baresip: no SRTP failures`);
    if (srtp) t.match(log, /SRTP is Enabled/, `${side} baresip ran SRTP`);
  }
}

if (!baresipAvailable()) {
  t.plan(0, 'baresip with srtp, sndfile and ctrl_tcp modules is not installed (run `make install` as root)');
} else {
  t.test('SRTP on both legs (PBX and provider srtp-mand, provider srtp: sdes)', async (t) => {
    await srtpCall(t, { pbxSrtp: true, providerSrtp: true, modes: { pbx: 'off', provider: 'sdes' } });
  });
  t.test('SRTP from the PBX, plain RTP to the provider (provider srtp: off)', async (t) => {
    await srtpCall(t, { pbxSrtp: true, providerSrtp: false, modes: { pbx: 'off', provider: 'off' } });
  });
  t.test('plain RTP from the PBX, SRTP to the provider (provider srtp: sdes)', async (t) => {
    await srtpCall(t, { pbxSrtp: false, providerSrtp: true, modes: { pbx: 'off', provider: 'sdes' } });
  });
  t.test('inbound: SRTP from the provider, SRTP to the PBX (pbx srtp: sdes)', async (t) => {
    await srtpCall(t, { pbxSrtp: true, providerSrtp: true, modes: { pbx: 'sdes', provider: 'off' }, inbound: true });
  });
}
