/**
 * Feature codes over SRTP (SPEC P1, M8): a real baresip with
 * mediaenc=srtp-mand (it accepts nothing but RTP/SAVP with a key) dials *71.
 * callrec answers the call itself: RTP/SAVP with a crypto line of its own
 * (RFC 4568 §7.1.2), the confirmation tone protected with that key, then BYE.
 *
 * Verifies: the call is established (baresip would refuse a plain RTP/AVP
 * answer), baresip runs SRTP and reports no unprotect failure, it decrypted
 * the confirmation tone (its SRTP module let the stream see the packets, so
 * they were protected with the key callrec announced), callrec hung up and
 * logged the login; nothing went to the provider.
 * Does not verify: the tone's audio (the call is shorter than baresip's
 * jitter buffer), 488 for an SRTP offer without a supported suite
 * (srtp-auth-failure.test.ts).
 */
import path from 'node:path';
import t from 'tap';
import { freePort, makeTempDir, removeTempDir, startCallrec } from './harness/index.js';
import { baresipAvailable, retryOnPortClash, startBaresip, toneWav } from './harness/baresip.js';

if (!baresipAvailable()) {
  t.plan(0, 'baresip with srtp, sndfile and ctrl_tcp modules is not installed (run `make install` as root)');
} else {
  t.test('*71 from an SRTP-only phone is answered with SRTP and a protected confirmation tone', async (t) => {
    const dir = makeTempDir('callrec-fc-srtp');
    t.teardown(() => removeTempDir(dir));
    const wav = path.join(dir, 'silence.wav');
    toneWav(wav, 400, 10);
    const pbx = await retryOnPortClash(() => startBaresip(dir, { name: 'pbx', user: '201', srtp: true, autoAnswer: false, sourceWav: wav }));
    t.teardown(() => pbx.stop());
    const providerPort = await freePort('both');
    const rec = await retryOnPortClash(() => startCallrec({
      pbx: { port: pbx.sipPort },
      provider: { port: providerPort },
      overrides: {
        users: [{ id: 'alice', numbers: ['201'] }],
        groups: [{ id: 'traders', numbers: ['300'], members: ['alice'] }],
      },
    }));
    t.teardown(() => rec.dispose());

    const dialed = await pbx.ctrl.command('dial', `sip:*71@127.0.0.1:${rec.sipPort}`);
    t.equal(dialed['ok'], true, 'baresip dials *71');
    await pbx.ctrl.event('CALL_ESTABLISHED', 10_000);
    t.pass('the SRTP-only phone accepted callrec\'s answer');
    const closed = await pbx.ctrl.event('CALL_CLOSED', 10_000);
    t.notMatch(String(closed['param']), /end of file/, `callrec ended the call (${String(closed['param'])})`);
    const login = await rec.waitForLog((l) => l.event === 'group.login', 2000);
    t.equal(login['caller'], '201', 'login logged for the caller');

    const log = pbx.log();
    t.match(log, /SRTP is Enabled/, 'baresip ran SRTP');
    t.notMatch(log, /failed to unprotect|srtp.*(auth|replay).*fail/i, 'baresip: no SRTP failures');
    // baresip's SRTP module drops (and logs) what it cannot unprotect before the stream sees it, so
    // "incoming rtp established" means the tone authenticated and decrypted with the key in callrec's answer.
    // (The call is too short for its jitter buffer to hand audio to the decode dump.)
    t.match(log, /incoming rtp for 'audio' established, receiving from 127\.0\.0\.1:/, 'baresip received and decrypted the confirmation tone');
    t.notOk(rec.logs.some((l) => l.event === 'call.start'), 'nothing went on to the provider');
    t.notOk(rec.logs.some((l) => /inline:/.test(JSON.stringify(l))), 'no key in callrec\'s log');
  });
}
