/**
 * SPEC P6 (issue 5): "A caller who hangs up during the prompt leaves a
 * clean log entry and no recording."
 *
 *   SIPp UAC (as PBX, caller 201 = alice) --INVITE--> callrec   (2 s outbound prompt)
 *   <-- 183 + prompt RTP;  ~300 ms later CANCEL --> 200, 487, ACK
 *   SIPp UAS (as provider) idle on the provider port throughout
 *
 * Verifies:
 * - the caller gets 183, then 200 for its CANCEL and 487 for the INVITE
 *   (policy-uac-cancel-prompt completes);
 * - the prompt stops: the caller's media port (the test's UDP socket)
 *   receives far fewer than the prompt's 100 frames;
 * - nothing goes onward: the provider-side SIPp sees 0 INVITEs, also after
 *   the time the prompt would have ended;
 * - no recording: no recording.start, no spool, no files; call.end is
 *   logged for the call with a reason naming the cancel.
 * Does not verify: CANCEL after the prompt (the ordinary ringing CANCEL).
 */
import t from 'tap';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import {
  type CallrecInstance,
  REPO_ROOT,
  countOf,
  describeSipp,
  freePort,
  releasePorts,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { recordingsBelow } from './harness/operator.js';

const PROMPT = path.join(REPO_ROOT, 'fixtures', 'prompts', 'policy-tone-450hz-2s.wav');


/**
 * Requests of `method` that SIPp received, from its -trace_msg log. (The
 * harness's countOf() cannot be used for UAS scenarios: parseSippOutput
 * stops at the first "---------->" line of the scenario screen, so a UAS's
 * counts come back empty.)
 */
function receivedRequests(messages: string, method: string): number {
  let n = 0;
  for (const block of messages.split(/^-{20,}.*$/m)) {
    const m = /^\s*\S+ message received[^\n]*\n\s*(\S+)/.exec(block);
    if (m?.[1] === method) n++;
  }
  return n;
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('CANCEL during the prompt: 487, nothing onward, no recording', async (t) => {
    const rtpPort = await freePort('udp');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(rtpPort, '127.0.0.1', () => resolve());
    });
    t.teardown(() => {
      sock.close();
      releasePorts(rtpPort);
    });
    let packets = 0;
    sock.on('message', () => packets++);

    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-basic', timeoutSeconds: 50 });
    t.teardown(() => provider.stop());

    const rec: CallrecInstance = await startCallrec({
      pbx: { port: pbxPort },
      provider: { port: provider.localPort },
      overrides: {
        users: [
          { id: 'alice', name: 'Alice Trader', numbers: ['201'] },
          { id: 'bob', name: 'Bob Broker', numbers: ['202'] },
        ],
        groups: [{ id: 'traders', numbers: ['300'], members: ['alice', 'bob'] }],
        profiles: [
          {
            name: 'traders',
            direction: 'both',
            groups: ['traders'],
            prompts: { outbound: PROMPT },
            targets: [{ type: 'local', path: './archive/$Y/$M/$D' }],
          },
        ],
      },
    });
    t.teardown(() => rec.dispose());
    const loaded = await rec.waitForLog((l) => l.event === 'prompt.loaded', 1000);
    t.equal(loaded['durationMs'], 2000, 'prompt.loaded: 2000 ms');

    const uac = await runSipp({
      scenario: 'policy-uac-cancel-prompt',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      service: '0301234567',
      keys: { caller: '201' },
      set: { rtp_port: String(rtpPort) },
      timeoutSeconds: 30,
    });
    t.equal(uac.exitCode, 0, 'caller SIPp exits 0 (183, CANCEL, 200, 487, ACK)', { diagnostic: uac.exitCode !== 0, details: describeSipp(uac) });
    t.equal(uac.successful, 1, 'caller: 1 successful call');
    t.equal(countOf(uac, 'recv', '183'), 1, 'caller got the 183 of the prompt');
    t.equal(countOf(uac, 'recv', '487'), 1, 'caller got 487 for the INVITE');

    const promptStart = await rec.waitForLog((l) => l.event === 'prompt.start', 5000);
    const callId = promptStart['callId'];
    const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === callId, 5000);
    t.match(String(end['reason']), /cancel/i, 'call.end logged with a reason naming the cancel', { reason: end['reason'] });

    // Past the end the prompt would have had (2 s after prompt.start), plus margin.
    const promptStartMs = Date.parse(String(promptStart['time']));
    const wait = Math.max(0, promptStartMs + 2800 - Date.now());
    await new Promise((r) => setTimeout(r, wait));

    t.ok(packets > 0, `the caller received the start of the prompt (${packets} packets)`);
    t.ok(packets < 75, `the prompt stopped with the call (${packets} of 100 frames)`);

    const uas = await provider.stop();
    t.equal(receivedRequests(uas.messages, 'INVITE'), 0, 'the provider saw 0 INVITEs', { details: describeSipp(uas) });
    t.notOk(rec.logs.some((l) => l.event === 'recording.start'), 'no recording.start');
    t.notOk(rec.logs.some((l) => l.event === 'call.start' && l['callId'] !== callId), 'no other call');
    t.same(recordingsBelow(rec.dir), [], 'no recording files anywhere below the recorder\'s dir');
    const spool = path.join(rec.dir, 'var', 'spool');
    t.same(fs.existsSync(spool) ? fs.readdirSync(spool) : [], [], 'no spool was opened');
    t.notOk(rec.logs.some((l) => (l.level ?? 0) >= 50), 'no error logged', { errors: rec.logs.filter((l) => (l.level ?? 0) >= 50) });
  });
}
