/**
 * No open relay (SPEC S4): an INVITE from 127.0.0.1 on a port that is
 * neither the configured PBX nor the provider (same host, other port; UDP
 * is matched on host and port) is refused with 403 (uac-forbidden).
 * A SIPp UAS on the provider port stands guard.
 *
 * Verifies: the intruder's SIPp exits 0 having received 403 (and ACKed
 * it); callrec logs sip.refused with status 403, method INVITE and the
 * intruder's source port; no call.start; the provider's SIPp received
 * nothing (no INVITE); afterwards a call from the real PBX port still goes
 * through (the refusal left nothing behind).
 * Does not verify: TCP/TLS sources, in-dialog requests from strangers,
 * rate limiting.
 */
import t from 'tap';
import {
  type SippProcess,
  type SippResult,
  countOf,
  describeSipp,
  freePort,
  parseSippOutput,
  runSipp,
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

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('INVITE from an unknown address gets 403', async (t) => {
    const pbxPort = await freePort('both');
    const strangerPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 50 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({
      pbx: { port: pbxPort, transport: 'udp' },
      provider: { port: provider.localPort, transport: 'udp' },
    });
    t.teardown(() => rec.dispose());

    const stranger = await runSipp({
      scenario: 'uac-forbidden',
      remote: { port: rec.sipPort },
      localPort: strangerPort,
      calls: 1,
      service: '00900123456',
      keys: { caller: '666' },
      timeoutSeconds: 30,
    });
    expectCalls(t, stranger, 'stranger', 1);
    t.equal(count(stranger, 'recv', '403'), 1, 'stranger: 403');
    t.equal(count(stranger, 'send', 'ACK'), 1, 'stranger: ACKed the 403');

    const refused = await rec.waitForLog((l) => l.event === 'sip.refused', 5000);
    t.equal(refused['status'], 403, 'sip.refused: status 403');
    t.equal(refused['method'], 'INVITE', 'sip.refused: method INVITE');
    t.match(JSON.stringify(refused['source']), new RegExp(`${strangerPort}`), 'sip.refused: names the source port');
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 0, 'no call.start for the stranger');

    // The real PBX gets through; the provider's one call is that one, not the stranger's.
    const pbx = await runSipp({
      scenario: 'uac-basic',
      remote: { port: rec.sipPort },
      localPort: pbxPort,
      calls: 1,
      durationMs: 200,
      service: '0301234567',
      keys: { caller: '201' },
      timeoutSeconds: 30,
    });
    const uas = await finished(t, provider, 'provider');
    expectCalls(t, pbx, 'PBX', 1);
    expectCalls(t, uas, 'provider', 1);
    t.equal(count(uas, 'recv', 'INVITE'), 1, 'provider: exactly 1 INVITE (the PBX call)');
    t.notMatch(uas.messages, /666@|00900123456/, "provider: nothing of the stranger's call arrived");
    t.equal(rec.logs.filter((l) => l.event === 'call.start').length, 1, 'one call.start (the PBX call)');
    t.equal(rec.logs.filter((l) => l.event === 'sip.refused').length, 1, 'one sip.refused');
  });
}
