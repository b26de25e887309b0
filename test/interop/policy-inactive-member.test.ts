/**
 * SPEC P1 (issue 5): only *active* group members trigger recording of their
 * outbound calls; `callrec group login|logout` changes membership through
 * the running recorder.
 *
 *   SIPp UAC (as PBX, caller 201 = alice) --> callrec --> SIPp UAS (as provider)
 *
 * Verifies:
 * - members start logged in (status --json: traders has alice and bob);
 * - `callrec group logout traders alice` exits 0, callrec logs group.logout
 *   and status --json shows alice no longer active;
 * - an outbound call by alice is then relayed (both SIPp sides succeed) but
 *   not recorded: recording.skipped with a reason naming alice and traders,
 *   no recording.start, no files in the archive;
 * - `callrec group login traders 201` (user by number) exits 0, logs
 *   group.login, status --json shows alice active again, and the same call
 *   is recorded (recording.start, profile traders, files in the archive).
 * Does not verify: feature codes (policy-feature-code), persistence across
 * restarts, the recorded audio.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import {
  type CallrecInstance,
  type SippProcess,
  type SippResult,
  describeSipp,
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { cli, activeMembers, recordingsBelow, waitForRecordings, within } from './harness/operator.js';







if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('an inactive member\'s outbound call is relayed but not recorded; after login it is recorded', async (t) => {
    const pbxPort = await freePort('both');
    const provider: SippProcess = await startSipp({ scenario: 'uas-basic', calls: 2, timeoutSeconds: 55 });
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
            targets: [{ type: 'local', path: './archive/$Y/$M/$D' }],
          },
        ],
      },
    });
    t.teardown(() => rec.dispose());

    const call = (): Promise<SippResult> =>
      runSipp({
        scenario: 'uac-basic',
        remote: { port: rec.sipPort },
        localPort: pbxPort,
        calls: 1,
        durationMs: 300,
        service: '0301234567',
        keys: { caller: '201' },
        timeoutSeconds: 30,
      });
    const callStarts = (): string[] => rec.logs.filter((l) => l.event === 'call.start').map((l) => String(l['callId']));

    t.same(await activeMembers(rec, 'traders'), ['alice', 'bob'], 'members start logged in');

    // Log alice out through the running recorder.
    const out = await cli(['group', 'logout', 'traders', 'alice', '--config', rec.configPath]);
    t.equal(out.status, 0, 'callrec group logout exits 0', { stdout: out.stdout, stderr: out.stderr });
    const loggedOut = await rec.waitForLog((l) => l.event === 'group.logout', 5000);
    t.match(loggedOut, { group: 'traders', user: 'alice' }, 'group.logout logged for alice in traders');
    t.same(await activeMembers(rec, 'traders'), ['bob'], 'status --json: alice is not active');

    // Call 1: relayed, not recorded.
    const first = await call();
    t.equal(first.exitCode, 0, 'call 1: PBX side exits 0', { diagnostic: first.exitCode !== 0, details: describeSipp(first) });
    t.equal(first.successful, 1, 'call 1: PBX side 1 successful call');
    const firstId = await rec.waitForLog((l) => l.event === 'call.end', 5000).then(() => callStarts()[0]);
    t.ok(firstId, 'call 1 went through callrec');
    const skipped = await rec.waitForLog((l) => l.event === 'recording.skipped' && l['callId'] === firstId, 5000);
    const reason = String(skipped['reason']);
    t.match(reason, /alice/, 'recording.skipped: the reason names the user', { reason });
    t.match(reason, /traders/, 'recording.skipped: the reason names the group', { reason });
    t.match(reason, /not an active member/, 'recording.skipped: the reason says why', { reason });
    t.notOk(rec.logs.some((l) => l.event === 'recording.start'), 'call 1: no recording.start');

    // Log alice in again (user given by number).
    const inn = await cli(['group', 'login', 'traders', '201', '--config', rec.configPath]);
    t.equal(inn.status, 0, 'callrec group login exits 0', { stdout: inn.stdout, stderr: inn.stderr });
    const loggedIn = await rec.waitForLog((l) => l.event === 'group.login', 5000);
    t.match(loggedIn, { group: 'traders', user: 'alice' }, 'group.login logged for alice in traders');
    t.same(await activeMembers(rec, 'traders'), ['alice', 'bob'], 'status --json: alice is active again');
    t.same(recordingsBelow(rec.dir), [], 'no recording files after call 1');
    const spool = path.join(rec.dir, 'var', 'spool');
    t.same(fs.existsSync(spool) ? fs.readdirSync(spool) : [], [], 'no spool was opened for call 1');

    // Call 2: the same call, now recorded.
    const second = await call();
    t.equal(second.exitCode, 0, 'call 2: PBX side exits 0', { diagnostic: second.exitCode !== 0, details: describeSipp(second) });
    t.equal(second.successful, 1, 'call 2: PBX side 1 successful call');
    const start = await rec.waitForLog((l) => l.event === 'recording.start', 5000);
    const secondId = callStarts()[1];
    t.equal(start['callId'], secondId, 'call 2 is recorded');
    t.equal(start['profile'], 'traders', 'recording.start: profile traders');
    t.notOk(rec.logs.some((l) => l.event === 'recording.skipped' && l['callId'] === secondId), 'call 2: no recording.skipped');

    const uas = await within(provider.done, 15000, 'provider SIPp did not finish').catch(async (err: Error) => {
      t.fail(err.message);
      return provider.stop();
    });
    t.equal(uas.exitCode, 0, 'provider side exits 0', { diagnostic: uas.exitCode !== 0, details: describeSipp(uas) });
    t.equal(uas.successful, 2, 'provider side: both calls relayed and completed');

    await rec.waitForLog((l) => l.event === 'recording.sealed' && l['base'] === start['base'], 20000);
    const archived = await waitForRecordings(rec.archiveDir, 1, 15000);
    t.same(archived.map((b) => path.basename(b)), [start['base']], 'exactly one recording on disk: call 2');
  });
}
