/**
 * REGISTER of the trunk at the provider (SPEC S2): provider config with
 * `register: { expires: 4 }` and `auth`; the provider is SIPp's
 * uas-register, a registrar that challenges every REGISTER with 401,
 * checks the credentials with verifyauth and grants 4 s.
 *
 * Verifies: callrec registers at start (REGISTER, 401, REGISTER with
 * Authorization, 200) and refreshes before the 4 s run out (again
 * challenged and answered); the registrar's SIPp exits 0 with 4 REGISTERs,
 * 2 of them with valid credentials (verifyauth), all with one Call-ID and
 * rising CSeq; callrec logs register.ok (expires 4) twice, 1 to 5 s apart
 * (the refresh is due after half the granted time), and no
 * register.failed before the registrar goes away.
 * Does not verify: 423 Interval Too Brief, unREGISTER on shutdown,
 * retry after failures, REGISTER over TCP.
 */
import t from 'tap';
import {
  freePort,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { count, expectCalls, finished } from './harness/checks.js';

const CREDENTIALS = { username: 'trunk1', password: 's3cret' };

/** The REGISTER requests SIPp logged as received (-trace_msg), as raw text. */
function receivedRegisters(messages: string): string[] {
  return messages
    .split(/^-{20,}.*$/m)
    .filter((block) => /message received/.test(block))
    .map((block) => block.slice(block.search(/^REGISTER /m)))
    .filter((text) => text.startsWith('REGISTER '));
}

function logTime(l: { time?: number | string }): number {
  return typeof l.time === 'number' ? l.time : Date.parse(String(l.time));
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('trunk REGISTER with digest auth, refreshed at half the granted time', async (t) => {
    const pbxPort = await freePort('both');
    const registrar = await startSipp({
      scenario: 'uas-register',
      calls: 1,
      set: { user: CREDENTIALS.username, pass: CREDENTIALS.password },
      traceMsg: true,
      timeoutSeconds: 40,
    });
    t.teardown(() => registrar.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: registrar.localPort, transport: 'udp', auth: CREDENTIALS, register: { expires: 4 } },
    });
    t.teardown(() => rec.dispose());

    const first = await rec.waitForLog((l) => l.event === 'register.ok', 10000);
    t.equal(first['expires'], 4, 'register.ok: granted 4 s');
    const second = await rec.waitForLog((l) => l.event === 'register.ok' && l !== first, 15000);
    t.equal(second['expires'], 4, 'refresh: register.ok, granted 4 s');
    const gap = (logTime(second) - logTime(first)) / 1000;
    t.ok(gap >= 1 && gap <= 5, `refresh came ${gap.toFixed(1)} s after the first registration (due after 2 s)`);
    t.same(
      rec.logs.filter((l) => l.event === 'register.failed' && logTime(l) <= logTime(second)),
      [],
      'no register.failed before the refresh succeeded',
    );

    const uas = await finished(t, registrar, 'registrar');
    expectCalls(t, uas, 'registrar', 1);
    t.equal(count(uas, 'recv', 'REGISTER'), 4, 'registrar: 4 REGISTERs (2 rounds)');
    t.equal(count(uas, 'send', '401'), 2, 'registrar: 2 challenges');
    t.equal(count(uas, 'send', '200'), 2, 'registrar: 2 registrations granted');
    t.equal(count(uas, 'send', '403'), 0, 'registrar: no bad credentials');

    const registers = receivedRegisters(uas.messages);
    const authorized = registers.filter((r) => /^Authorization: *Digest /im.test(r));
    t.ok(authorized.length >= 2, `at least 2 REGISTERs with credentials (${authorized.length})`);
    t.ok(authorized.every((r) => /username="trunk1"/.test(r)), 'credentials of the configured user');
    const callIds = new Set(registers.map((r) => /^(?:Call-ID|i) *: *(\S+)/im.exec(r)?.[1]));
    t.equal(callIds.size, 1, 'one Call-ID for the registration and its refresh');
    const seqs = registers.map((r) => Number(/^CSeq *: *(\d+)/im.exec(r)?.[1]));
    t.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), `CSeq rises (${seqs.join(', ')})`);
    t.ok(registers.every((r) => /^Expires *: *4\s*$/im.test(r)), 'every REGISTER asks for 4 s');
  });
}
