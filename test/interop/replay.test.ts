/**
 * The pcap replay harness end to end (SPEC O2): `callrec replay` of every
 * capture in pcap/ (*.pcap and *.pcapng: the public set and the project's own
 * captures, see pcap/MANIFEST.md) through a callrec started here, whose
 * pbx and provider addresses are free ports that the replay itself plays
 * (no SIPp there), with --max-gap 3 --timeout 20.
 *
 * Verifies, per capture (each against its own fresh callrec): `callrec
 * replay` exits 0, prints at least one verdict line, every verdict line
 * starts with PASS (each call's recording equals what was sent, per
 * direction), and callrec logs no error meanwhile.
 * Does not verify: the replay harness's own parsing (unit tests in
 * test/replay), recordings of calls made by SIPp (media-*.test.ts).
 *
 * The replays run at the captures' own pace (idle stretches cut to 3 s), so
 * up to CONCURRENCY of them run at once (each with its own callrec and
 * ports) to keep the file well under the runner's 300 s per file.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { type LogLine, REPO_ROOT, freePort, releasePorts } from './harness/index.js';
import { type Run, runCallrec, startCallrecRetrying } from './media-support.test.js';

const PCAP_DIR = path.join(REPO_ROOT, 'pcap');
const captures = fs.existsSync(PCAP_DIR)
  ? fs.readdirSync(PCAP_DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort()
  : [];

/** Captures with re-INVITEs: who sent each, and the final status it got in the capture. */
const REINVITES: Record<string, string> = {
  'sipp-pcma-hold-resume.pcap': 'caller 200, caller 200',
  'sip-multileg-reinvite-t38-488-pcma-bye.pcap': 'callee 200, caller 488, caller 200',
};

/** Per capture: generous; the longest public capture replays in about 50 s with --max-gap 3. */
const REPLAY_TIMEOUT_MS = 180_000;
const CONCURRENCY = 3;

interface Outcome {
  out: Run;
  seconds: number;
  errors: LogLine[];
}

async function replay(capture: string): Promise<Outcome> {
  // The replay binds these itself: nothing else may listen there.
  const pbxPort = await freePort('both');
  const providerPort = await freePort('both');
  const rec = await startCallrecRetrying({ pbx: { port: pbxPort }, provider: { port: providerPort } });
  try {
    const started = Date.now();
    const out = await runCallrec(
      ['replay', path.join(PCAP_DIR, capture), '--config', rec.configPath, '--max-gap', '3', '--timeout', '20'],
      REPLAY_TIMEOUT_MS,
    );
    return { out, seconds: (Date.now() - started) / 1000, errors: rec.logs.filter((l) => (l.level ?? 0) >= 50) };
  } finally {
    await rec.dispose();
    releasePorts(pbxPort);
    releasePorts(providerPort);
  }
}

/** Starts every replay, at most CONCURRENCY at a time, in file order. */
function replayAll(names: string[]): Map<string, Promise<Outcome>> {
  const results = new Map<string, Promise<Outcome>>();
  const slots: Array<Promise<unknown>> = [];
  let previous: Promise<unknown> = Promise.resolve();
  for (const [i, name] of names.entries()) {
    // Wait for the job CONCURRENCY places before this one (and for the previous start, to keep the order).
    const gate = Promise.all([slots[i - CONCURRENCY], previous]);
    const job = gate.then(() => replay(name));
    previous = gate;
    slots.push(job.catch(() => undefined));
    results.set(name, job);
  }
  return results;
}

if (captures.length === 0) {
  t.fail(`no captures in ${PCAP_DIR}`);
} else {
  const results = replayAll(captures);
  for (const capture of captures) {
    t.test(`replay ${capture}: every call recorded exactly as sent`, async (t) => {
      const { out, seconds, errors } = await results.get(capture)!;
      const details = `exit ${out.code} after ${seconds.toFixed(1)} s\n--- stdout ---\n${out.stdout}\n--- stderr ---\n${out.stderr.slice(-4000)}`;
      const verdicts = out.stdout.split('\n').filter((l) => /^(PASS|FAIL)\b/.test(l));
      t.equal(out.code, 0, `callrec replay exits 0 (${seconds.toFixed(1)} s)`, { details });
      t.ok(verdicts.length > 0, `${verdicts.length} call verdict line(s)`, { details });
      for (const line of verdicts) t.match(line, /^PASS /, line.slice(0, 240), { details: line });
      t.equal(errors.length, 0, 'callrec logged no error', { details: errors.map((l) => JSON.stringify(l)).join('\n') });
      // The capture's re-INVITEs went through callrec and got the capture's answers.
      t.notMatch(out.stdout, /the capture had/, 'every replayed re-INVITE got the status it had in the capture', { details });
      const reInvites = REINVITES[capture];
      if (reInvites !== undefined) t.match(out.stdout, `re-INVITEs replayed: ${reInvites}`, `re-INVITEs replayed: ${reInvites}`, { details });
    });
  }
}
