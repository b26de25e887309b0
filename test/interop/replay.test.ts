/**
 * The pcap replay harness end to end (SPEC O2): `callrec replay` of every
 * capture in pcap/ (*.pcap and *.pcapng: the public set and the project's own
 * captures, see pcap/MANIFEST.md) through a callrec started here, whose
 * pbx and provider addresses are free ports that the replay itself plays
 * (no SIPp there), with --max-gap 3.
 *
 * Verifies, per capture (each against a fresh callrec): `callrec replay`
 * exits 0, prints at least one verdict line, every verdict line starts with
 * PASS (each call's recording equals what was sent, per direction), and
 * callrec stays up and logs no error while doing so.
 * Does not verify: the replay harness's own parsing (unit tests in
 * test/replay), recordings of calls made by SIPp (media-*.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO_ROOT, freePort, releasePorts, startCallrec } from './harness/index.js';
import { runCallrec } from './media-support.test.js';

const PCAP_DIR = path.join(REPO_ROOT, 'pcap');
const captures = fs.existsSync(PCAP_DIR)
  ? fs.readdirSync(PCAP_DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort()
  : [];

/** Per capture: generous, the longest public capture replays in about a minute with --max-gap 3. */
const REPLAY_TIMEOUT_MS = 150_000;

if (captures.length === 0) {
  t.fail(`no captures in ${PCAP_DIR}`);
} else {
  for (const capture of captures) {
    t.test(`replay ${capture}: every call recorded exactly as sent`, { timeout: REPLAY_TIMEOUT_MS + 30_000 }, async (t) => {
      // The replay binds these itself: nothing else may listen there.
      const pbxPort = await freePort('both');
      const providerPort = await freePort('both');
      t.teardown(() => {
        releasePorts(pbxPort);
        releasePorts(providerPort);
      });
      const rec = await startCallrec({ pbx: { port: pbxPort }, provider: { port: providerPort } });
      t.teardown(() => rec.dispose());

      const started = Date.now();
      const out = await runCallrec(
        ['replay', path.join(PCAP_DIR, capture), '--config', rec.configPath, '--max-gap', '3', '--timeout', '20'],
        REPLAY_TIMEOUT_MS,
      );
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const details = `exit ${out.code} after ${seconds} s\n--- stdout ---\n${out.stdout}\n--- stderr ---\n${out.stderr.slice(-4000)}`;
      const verdicts = out.stdout.split('\n').filter((l) => /^(PASS|FAIL)\b/.test(l));
      t.equal(out.code, 0, `callrec replay exits 0 (${seconds} s)`, { details });
      t.ok(verdicts.length > 0, `${verdicts.length} call verdict line(s)`, { details });
      for (const line of verdicts) t.match(line, /^PASS /, line.slice(0, 200), { details });
      t.equal(rec.logs.filter((l) => (l.level ?? 0) >= 50).length, 0, 'callrec logged no error', {
        details: rec.logs.filter((l) => (l.level ?? 0) >= 50).map((l) => JSON.stringify(l)).join('\n'),
      });
    });
  }
}
