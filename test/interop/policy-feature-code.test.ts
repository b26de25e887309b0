/**
 * SPEC P1 / config `featureCodes` (issue 5): login/logout feature codes
 * dialled from the PBX are answered by callrec itself and never reach the
 * provider; they change the caller's group membership.
 *
 *   SIPp UAC (as PBX, caller 201 = alice) --INVITE *72 / *71300--> callrec
 *   SIPp UAS (as provider) idle on the provider port meanwhile
 *
 * Verifies:
 * - `*72` (alone: all of alice's groups): callrec answers 200 with SDP
 *   (a=sendonly), then sends BYE itself (policy-uac-feature: 200, ACK, BYE,
 *   200); the provider-side SIPp sees 0 INVITEs; group.logout is logged with
 *   the dialled code; status --json shows alice inactive; the next normal
 *   call by alice is relayed but not recorded (recording.skipped);
 * - `*71300` (followed by the group number 300): the same answer and BYE,
 *   0 INVITEs at the provider, group.login logged, status --json shows alice
 *   active, and the next normal call is recorded (files in the archive).
 * Does not verify: the confirmation tone's audio, refused codes.
 */
import t from 'tap';
import path from 'node:path';
import {
  type CallrecInstance,
  type SippResult,
  countOf,
  describeSipp,
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { activeMembers, waitForRecordings, within } from './harness/operator.js';







/** The body of the first message in a SIPp -trace_msg log whose first line matches. */
function messageBody(log: string, firstLine: RegExp): string | undefined {
  for (const block of log.split(/^-{20,}.*$/m)) {
    const text = block.replace(/^[^\n]*message (?:received|sent)[^\n]*\n+/m, '').replace(/^\s+/, '');
    if (!firstLine.test(text.split(/\r?\n/)[0] ?? '')) continue;
    const split = text.search(/\r?\n\r?\n/);
    return split >= 0 ? text.slice(split).trim() : '';
  }
  return undefined;
}

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
  t.test('feature codes *72 / *71<group> toggle membership without reaching the provider', async (t) => {
    const pbxPort = await freePort('both');
    const providerPort = await freePort('both');

    const rec: CallrecInstance = await startCallrec({
      pbx: { port: pbxPort },
      provider: { port: providerPort },
      overrides: {
        featureCodes: { login: '*71', logout: '*72' },
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

    /** A feature-code call while an idle provider-side SIPp counts what reaches it. */
    const featureCall = async (dialled: string): Promise<{ uac: SippResult; provider: SippResult }> => {
      const idle = await startSipp({ scenario: 'uas-basic', localPort: providerPort, timeoutSeconds: 40 });
      try {
        const uac = await runSipp({
          scenario: 'policy-uac-feature',
          remote: { port: rec.sipPort },
          localPort: pbxPort,
          calls: 1,
          service: dialled,
          keys: { caller: '201' },
          timeoutSeconds: 20,
        });
        // Anything relayed would have reached the provider long before the BYE.
        await new Promise((r) => setTimeout(r, 300));
        return { uac, provider: await idle.stop() };
      } finally {
        await idle.stop();
      }
    };

    /** A normal outbound call by alice through a provider-side SIPp that answers it. */
    const normalCall = async (): Promise<{ uac: SippResult; provider: SippResult }> => {
      const uas = await startSipp({ scenario: 'uas-basic', localPort: providerPort, calls: 1, timeoutSeconds: 40 });
      try {
        const uac = await runSipp({
          scenario: 'uac-basic',
          remote: { port: rec.sipPort },
          localPort: pbxPort,
          calls: 1,
          durationMs: 300,
          service: '0301234567',
          keys: { caller: '201' },
          timeoutSeconds: 30,
        });
        const provider = await within(uas.done, 15000, 'provider SIPp did not finish').catch(() => uas.stop());
        return { uac, provider };
      } finally {
        await uas.stop();
      }
    };
    const callStarts = (): string[] => rec.logs.filter((l) => l.event === 'call.start').map((l) => String(l['callId']));

    t.same(await activeMembers(rec, 'traders'), ['alice', 'bob'], 'members start logged in');

    // *72: log out of all of alice's groups.
    const off = await featureCall('*72');
    t.equal(off.uac.exitCode, 0, '*72: the PBX-side SIPp exits 0 (200, ACK, BYE from callrec, 200)', { diagnostic: off.uac.exitCode !== 0, details: describeSipp(off.uac) });
    t.equal(off.uac.successful, 1, '*72: 1 successful call');
    t.equal(countOf(off.uac, 'recv', 'BYE'), 1, '*72: callrec sent the BYE');
    const offSdp = messageBody(off.uac.messages, /^SIP\/2\.0 200\b/);
    t.match(offSdp ?? '', /^m=audio \d+ RTP\/AVP /m, '*72: the 200 carries SDP', { sdp: offSdp });
    t.match(offSdp ?? '', /^a=sendonly/m, '*72: the SDP is sendonly');
    t.equal(receivedRequests(off.provider.messages, 'INVITE'), 0, '*72: the provider saw 0 INVITEs', { details: describeSipp(off.provider) });
    const logout = await rec.waitForLog((l) => l.event === 'group.logout', 5000);
    t.equal(logout['dialled'], '*72', 'group.logout logged with the dialled code');
    t.match(String(logout['message']), /alice logged out of group traders/, 'group.logout: alice logged out of traders');
    t.notOk(rec.logs.some((l) => l.event === 'call.start'), 'the feature-code call is no bridged call (no call.start)');
    t.same(await activeMembers(rec, 'traders'), ['bob'], 'status --json: alice is not active');

    // A normal call now: relayed, not recorded.
    const n1 = await normalCall();
    t.equal(n1.uac.successful, 1, 'call after *72: PBX side 1 successful call', { diagnostic: n1.uac.successful !== 1, details: describeSipp(n1.uac) });
    t.equal(n1.provider.successful, 1, 'call after *72: reached and completed at the provider', { details: describeSipp(n1.provider) });
    t.equal(receivedRequests(n1.provider.messages, 'INVITE'), 1, 'call after *72: the provider-side INVITE counter counts a relayed call');
    const n1Id = callStarts()[0];
    const skipped = await rec.waitForLog((l) => l.event === 'recording.skipped' && l['callId'] === n1Id, 5000);
    t.match(String(skipped['reason']), /alice.*traders|traders.*alice/, 'call after *72: not recorded, alice is not active in traders');
    t.notOk(rec.logs.some((l) => l.event === 'recording.start'), 'call after *72: no recording.start');

    // *71300: log in to group 300 (traders).
    const on = await featureCall('*71300');
    t.equal(on.uac.exitCode, 0, '*71300: the PBX-side SIPp exits 0 (200, ACK, BYE from callrec, 200)', { diagnostic: on.uac.exitCode !== 0, details: describeSipp(on.uac) });
    t.equal(countOf(on.uac, 'recv', 'BYE'), 1, '*71300: callrec sent the BYE');
    t.equal(receivedRequests(on.provider.messages, 'INVITE'), 0, '*71300: the provider saw 0 INVITEs', { details: describeSipp(on.provider) });
    const login = await rec.waitForLog((l) => l.event === 'group.login', 5000);
    t.equal(login['dialled'], '*71300', 'group.login logged with the dialled code');
    t.match(String(login['message']), /alice logged in to group traders/, 'group.login: alice logged in to traders');
    t.equal(callStarts().length, 1, 'still only the one normal call bridged');
    t.same(await activeMembers(rec, 'traders'), ['alice', 'bob'], 'status --json: alice is active again');

    // A normal call now: recorded.
    const n2 = await normalCall();
    t.equal(n2.uac.successful, 1, 'call after *71300: PBX side 1 successful call', { diagnostic: n2.uac.successful !== 1, details: describeSipp(n2.uac) });
    t.equal(n2.provider.successful, 1, 'call after *71300: reached and completed at the provider');
    const n2Id = callStarts()[1];
    const start = await rec.waitForLog((l) => l.event === 'recording.start', 5000);
    t.equal(start['callId'], n2Id, 'call after *71300 is recorded');
    await rec.waitForLog((l) => l.event === 'recording.sealed' && l['base'] === start['base'], 20000);
    const archived = await waitForRecordings(rec.archiveDir, 1, 15000);
    t.same(archived.map((b) => path.basename(b)), [start['base']], 'exactly one recording in the archive');
  });
}
