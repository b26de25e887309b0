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
  type SippProcess,
  type SippResult,
  countOf,
  describeSipp,
  freePort,
  parseSippOutput,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/** A background SIPp's result once it has finished by itself; stopped (and a failure) after `ms`. */
async function finished(tt: Tap, p: SippProcess, label: string, ms = 20000): Promise<SippResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  const result = await Promise.race([p.done, timeout]);
  clearTimeout(timer);
  if (result !== null) return result;
  tt.fail(`${label} SIPp did not finish within ${ms} ms`);
  return p.stop();
}

/**
 * SIPp's scenario screen. The harness parser stops at the first line that
 * starts with "---", which is every line of a UAS scenario screen
 * ("----------> INVITE"), so its counts for a UAS are empty. Such lines are
 * rewritten to the equivalent UAC layout ("INVITE <----------": received)
 * and parsed again by the harness parser.
 */
function screen(r: SippResult): Pick<SippResult, 'counts'> {
  const flipped = r.stdout.replace(
    /^(\s*)(-{10}>|<-{10})(\s+)(\S+)/gm,
    (_all, indent: string, arrow: string, _gap: string, name: string) =>
      `${indent}${name} ${arrow.endsWith('>') ? '<----------' : '---------->'}`,
  );
  return parseSippOutput(flipped);
}

/** countOf over the repaired scenario screen. */
function count(r: SippResult, direction: 'send' | 'recv', name: string): number {
  return countOf(screen(r), direction, name);
}

/** Exit code and call statistics of one SIPp run. */
function expectCalls(
  tt: Tap,
  r: SippResult,
  label: string,
  successful: number,
  { exit = 0, failed = 0 }: { exit?: number; failed?: number } = {},
): void {
  tt.equal(r.exitCode, exit, `${label}: SIPp exits ${exit}`, { diagnostic: r.exitCode !== exit, details: describeSipp(r) });
  tt.equal(r.successful, successful, `${label}: ${successful} successful call(s)`);
  tt.equal(r.failed, failed, `${label}: ${failed} failed call(s)`);
}

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
