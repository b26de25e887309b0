/**
 * SRTP that cannot work, with SIPp peers (SPEC M8):
 *
 * 1. The PBX offers RTP/SAVP with a key but sends plain RTP: to callrec
 *    every packet of the caller fails SRTP authentication, for the whole
 *    call. Verifies: the call connects and ends normally (BYE from the PBX,
 *    both SIPp sides succeed); the callee's audio is still relayed and
 *    recorded bit-exactly, the caller's is not (it never authenticated);
 *    callrec warned about the failures (srtp.drop, srtp.dropped) and the
 *    recording's metadata says how many caller packets failed
 *    authentication; the recording verifies; callrec is still running and
 *    answers `status`.
 * 2. A feature code (*71) offered with RTP/SAVP and only a crypto suite
 *    callrec does not know is refused with 488 (RFC 3261 §13.3.1.3), not
 *    answered with plain RTP, and the login is not carried out.
 * Does not verify: re-keying, replay (unit tests of the relay).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { freePort, runSipp, sippAvailable, SIPP_FIXTURES, startCallrec } from './harness/index.js';
import { cli } from './harness/operator.js';
import {
  assertSippOk, audioFile, callThrough, channelOf, fillScenario, matchSource, readAudio, readWav, tempDir, waitForRecording,
} from './media-support.test.js';

const CALL_MS = 3000;

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('SRTP authentication fails for the whole call: relayed as far as possible, recorded, noted', async (t) => {
    const dir = tempDir(t, 'callrec-srtp-fail');
    const key = crypto.randomBytes(30).toString('base64');
    const uac = fillScenario('uac-media-stream', {
      MEDIA_PTS: '8', RTPMAPS: `a=rtpmap:8 PCMA/8000\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}`,
      AUDIO: audioFile('caller.al'), LOOPS: 1, PT: 8,
    }, dir, 'uac');
    // SIPp's rtp_stream sends plain RTP: offered as RTP/SAVP, none of it can authenticate.
    fs.writeFileSync(uac, fs.readFileSync(uac, 'utf8').replace('RTP/AVP 8', 'RTP/SAVP 8'));
    const uas = fillScenario('uas-media-stream', { MEDIA_PTS: '8', RTPMAPS: 'a=rtpmap:8 PCMA/8000', AUDIO: audioFile('callee.al'), LOOPS: 1, PT: 8 }, dir, 'uas');
    const call = await callThrough(t, { uac, uas, durationMs: CALL_MS });
    assertSippOk(t, call);
    const { rec } = call;
    const recording = await waitForRecording(rec);
    t.match(recording.info['Encryption'], /^SRTP AES_CM_128_HMAC_SHA1_80 caller leg \(packets dropped, not recorded: [1-9]\d* failed authentication\)$/,
      `metadata names the caller's failed packets (${recording.info['Encryption']})`);
    const failed = Number(/(\d+) failed authentication/.exec(recording.info['Encryption'] ?? '')?.[1] ?? 0);
    t.ok(failed > (CALL_MS / 20) * 0.8, `about every caller packet failed (${failed})`);
    const wav = readWav(`${recording.base}.wav`);
    const callee = matchSource(channelOf(wav, 1), readAudio('callee.al'), 0xd5);
    t.ok(callee.origin >= 0 && callee.mismatches === 0 && callee.compared > 8000 * (CALL_MS / 1000) * 0.6,
      `the callee's audio is in the recording bit-exactly (${JSON.stringify(callee)})`);
    t.ok(channelOf(wav, 0).every((b) => b === 0xd5), 'the caller channel holds only silence: nothing unauthenticated was recorded');
    t.ok(rec.logs.some((l) => l.event === 'srtp.drop' && l['reason'] === 'auth' && l.level === 40), 'warned at the first authentication failure');
    t.ok(rec.logs.some((l) => l.event === 'srtp.dropped' && l['side'] === 'pbx' && Number(l['authFailures']) === failed), 'the call\'s failures summed up at its end');
    const verify = await cli(['verify', recording.base, '--config', rec.configPath]);
    t.equal(verify.status, 0, `the recording verifies\n${verify.stdout}${verify.stderr}`);
    const status = await cli(['status', '--json', '--config', rec.configPath]);
    t.equal(status.status, 0, 'callrec still runs and answers status');
    t.same(rec.logs.filter((l) => (l.level ?? 0) >= 50), [], 'no error logged');
  });

  t.test('a feature code offered SRTP with only an unknown suite is refused with 488', async (t) => {
    const dir = tempDir(t, 'callrec-fc-488');
    const busy = fs.readFileSync(path.join(SIPP_FIXTURES, 'uac-busy.xml'), 'utf8');
    const scenario = path.join(dir, 'uac-fc-488.xml');
    fs.writeFileSync(scenario, busy
      .replace('<recv response="486"/>', '<recv response="488"/>')
      .replace('m=audio [media_port] RTP/AVP 8 101', `m=audio [media_port] RTP/SAVP 8 101\n      a=crypto:1 FUTURE_CIPHER_256 inline:${crypto.randomBytes(30).toString('base64')}`));
    const pbxPort = await freePort('both');
    const providerPort = await freePort('both');
    const rec = await startCallrec({
      pbx: { port: pbxPort }, provider: { port: providerPort },
      overrides: { users: [{ id: 'alice', numbers: ['201'] }], groups: [{ id: 'traders', numbers: ['300'], members: ['alice'] }] },
    });
    t.teardown(() => rec.dispose());
    const uac = await runSipp({ scenario, remote: { port: rec.sipPort }, localPort: pbxPort, calls: 1, service: '*71', keys: { caller: '201' }, timeoutSeconds: 20 });
    t.equal(uac.exitCode, 0, 'the PBX got 488 and acknowledged it');
    t.equal(uac.successful, 1, 'one successful (refused as expected) call');
    const refused = await rec.waitForLog((l) => l.event === 'feature-code.srtp-unsupported', 2000);
    t.same(refused['suites'], ['FUTURE_CIPHER_256'], 'logged with the offered suite');
    t.notOk(rec.logs.some((l) => l.event === 'group.login'), 'the login was not carried out');
  });
}
