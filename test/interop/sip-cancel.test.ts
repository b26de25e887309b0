/**
 * CANCEL before answer (SPEC S1, RFC 3261 §9), PBX -> provider over UDP
 * (uac-cancel / uas-ring-cancel): the provider rings (180), the caller
 * sends CANCEL.
 *
 * Verifies: the caller gets 200 for its CANCEL and 487 for its INVITE and
 * ACKs it; the provider receives a CANCEL from callrec, answers it 200 and
 * its INVITE 487, and receives the ACK for the 487; both SIPp sides exit 0;
 * callrec logs call.start and call.end (reason "cancelled by caller"), no
 * recording.error, and a recording that was started for the call is
 * stopped, sealed and delivered to the archive, leaving no spool or outbox
 * files behind in the data dir.
 * Does not verify: CANCEL racing a 200 (timing-dependent), CANCEL before
 * any provisional response.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  freePort,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { count, expectCalls, finished } from './harness/checks.js';

/**
 * Every file below `dir` (recursively); [] when it does not exist. Folders
 * vanish while we walk them (delivery removes outbox copies as it confirms
 * them), so a folder that is gone counts as empty.
 */
function filesBelow(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries.flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return filesBelow(full);
    return e.isFile() ? [full] : [];
  });
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('CANCEL before answer', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-ring-cancel', calls: 1, timeoutSeconds: 40 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const pbx = await runSipp({
      scenario: 'uac-cancel',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    const uas = await finished(t, provider, 'provider');
    expectCalls(t, pbx, 'PBX (caller)', 1);
    expectCalls(t, uas, 'provider (callee)', 1);

    t.equal(count(pbx, 'recv', '180'), 1, 'PBX: 180 relayed');
    t.equal(count(pbx, 'send', 'CANCEL'), 1, 'PBX: sent CANCEL');
    t.equal(count(pbx, 'recv', '200'), 1, 'PBX: 200 for the CANCEL');
    t.equal(count(pbx, 'recv', '487'), 1, 'PBX: 487 for the INVITE');
    t.equal(count(pbx, 'send', 'ACK'), 1, 'PBX: ACKed the 487');
    t.equal(count(uas, 'recv', 'INVITE'), 1, 'provider: 1 INVITE');
    t.equal(count(uas, 'recv', 'CANCEL'), 1, 'provider: received the CANCEL from callrec');
    t.equal(count(uas, 'send', '200'), 1, 'provider: 200 for the CANCEL');
    t.equal(count(uas, 'send', '487'), 1, 'provider: 487 for the INVITE');
    t.equal(count(uas, 'recv', 'ACK'), 1, 'provider: callrec ACKed the 487');

    const start = await rec.waitForLog((l) => l.event === 'call.start', 5000);
    const end = await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 10000);
    t.equal(end['reason'], 'cancelled by caller', 'call.end: cancelled by caller');
    t.equal(end['durationSeconds'], 0, 'call.end: never answered, duration 0');

    // The test profile records every call; the recording may also be skipped, then there is nothing to check.
    const recStart = await rec
      .waitForLog((l) => l.event === 'recording.start' && l['callId'] === start['callId'], 3000)
      .catch(() => undefined);
    if (recStart !== undefined) {
      const stop = await rec.waitForLog((l) => l.event === 'recording.stop' && l['callId'] === start['callId'], 10000);
      t.ok(stop, 'the recording started for the call was stopped');
      const base = String(recStart['base']);
      await rec.waitForLog((l) => l.event === 'recording.sealed' && String(l['base']) === base, 15000);
      t.pass('the recording was sealed');
      await rec.waitForLog(
        (l) => /^(recording|archive)\.delivered$/.test(String(l.event)) && String(l['base']) === base,
        15000,
      );
      t.pass('the recording was delivered');
      const spoolDir = path.join(rec.dir, 'var', 'spool');
      const outboxDir = path.join(rec.dir, 'var', 'outbox');
      // Spool and outbox copies are removed right after delivery; allow for a slow machine.
      const deadline = Date.now() + 10000;
      while ((filesBelow(spoolDir).length > 0 || filesBelow(outboxDir).length > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const spool = filesBelow(spoolDir);
      t.same(spool, [], 'no spool files left behind');
      const outbox = filesBelow(outboxDir);
      t.same(outbox, [], 'no outbox copy left behind (the local target confirmed it)');
      const archived = filesBelow(rec.archiveDir).filter((f) => path.basename(f).startsWith(base));
      t.ok(archived.some((f) => f.endsWith('_info.txt')), 'the archive holds the metadata of the cancelled call');
    } else {
      t.pass('no recording was started for the call');
    }
    t.same(rec.logs.filter((l) => l.event === 'recording.error'), [], 'no recording.error');
    t.same(rec.logs.filter((l) => (l.level ?? 0) >= 50), [], 'no error-level log lines');
  });
}
