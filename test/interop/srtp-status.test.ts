/**
 * SRTP drop counters in `callrec status` (SPEC O1, M8), with real baresip
 * on both legs (srtp-mand, provider srtp: sdes) and a forger: while the call
 * runs, the test sends RTP packets with a bogus authentication tag from a
 * socket of its own to the ports callrec announced to each party.
 *
 * Verifies:
 *   - `status --json` has activeCalls[].srtp with caller and callee legs
 *     (suite, packets decrypted and encrypted, drops by reason), and the
 *     authFailures counter of each leg rises with each batch of forgeries;
 *     the fields the Interface lists are all still there;
 *   - the human status prints one SRTP line per leg naming the auth failures;
 *   - the call goes on untouched: both parties hear each other's tone, the
 *     caller hangs up at the end of its audio, the recording is sealed;
 *   - the recording's metadata says how many packets failed authentication
 *     on each leg (they are missing from the recording), and callrec logged
 *     the drops (srtp.drop, srtp.dropped) without a key.
 * Does not verify: replayed packets (unit tests of the relay), SRTCP.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { makeTempDir, removeTempDir, startCallrec } from './harness/index.js';
import { baresipAvailable, findFile, heardTone, retryOnPortClash, startBaresip, toneWav } from './harness/baresip.js';
import { cli } from './harness/operator.js';

const CALLER_HZ = 600;
const CALLEE_HZ = 1000;
const CALL_SECONDS = 12;
const BATCH = 25;

interface SrtpLeg {
  suite: string | null;
  unprotected: number;
  protected: number;
  authFailures: number;
  replayed: number;
  malformed: number;
  unkeyed: number;
}
interface ActiveCall {
  callId: string;
  packets: { caller: number; callee: number };
  srtp: { caller?: SrtpLeg; callee?: SrtpLeg } | null;
  [key: string]: unknown;
}

/** RTP v2, PCMA, a payload and 10 bytes where the HMAC-SHA1-80 tag would be: it cannot authenticate. */
function forgedPacket(seq: number): Buffer {
  const p = Buffer.alloc(12 + 160 + 10, 0xd5);
  p[0] = 0x80;
  p[1] = 8;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(seq * 160, 4);
  p.writeUInt32BE(0x0badf00d, 8);
  return p;
}

async function forge(socket: dgram.Socket, ports: number[], first: number): Promise<void> {
  for (let i = 0; i < BATCH; i++) {
    for (const port of ports) socket.send(forgedPacket(first + i), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 200));
}

async function statusJson(configPath: string): Promise<{ activeCalls: ActiveCall[] }> {
  const r = await cli(['status', '--json', '--config', configPath]);
  if (r.status !== 0) throw new Error(`status --json exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { activeCalls: ActiveCall[] };
}

if (!baresipAvailable()) {
  t.plan(0, 'baresip with srtp, sndfile and ctrl_tcp modules is not installed (run `make install` as root)');
} else {
  t.test('forged SRTP is counted per leg in status while the call goes on', async (t) => {
    const dir = makeTempDir('callrec-srtp-status');
    t.teardown(() => removeTempDir(dir));
    const callerWav = path.join(dir, 'caller.wav');
    const calleeWav = path.join(dir, 'callee.wav');
    toneWav(callerWav, CALLER_HZ, CALL_SECONDS);
    toneWav(calleeWav, CALLEE_HZ, 60);
    const pbx = await retryOnPortClash(() => startBaresip(dir, { name: 'pbx', user: 'alice', srtp: true, autoAnswer: false, sourceWav: callerWav }));
    t.teardown(() => pbx.stop());
    const provider = await retryOnPortClash(() => startBaresip(dir, { name: 'provider', user: 'bob', srtp: true, autoAnswer: true, sourceWav: calleeWav }));
    t.teardown(() => provider.stop());
    const rec = await retryOnPortClash(() => startCallrec({
      pbx: { port: pbx.sipPort },
      provider: { port: provider.sipPort },
      overrides: { provider: { srtp: 'sdes' } },
    }));
    t.teardown(() => rec.dispose());
    const forger = dgram.createSocket('udp4');
    await new Promise<void>((r) => forger.bind(0, '127.0.0.1', r));
    t.teardown(() => forger.close());
    // The first call gets the first two port pairs of the range: the PBX's, then the provider's.
    const portMin = (rec.config['media'] as { portMin: number }).portMin;
    const ports = [portMin, portMin + 2];

    await pbx.ctrl.command('dial', `sip:${provider.user}@127.0.0.1:${rec.sipPort}`);
    await pbx.ctrl.event('CALL_ESTABLISHED', 15_000);
    await provider.ctrl.event('CALL_ESTABLISHED', 5000);
    await new Promise((r) => setTimeout(r, 800));

    const before = await statusJson(rec.configPath);
    t.equal(before.activeCalls.length, 1, 'one active call');
    const call0 = before.activeCalls[0]!;
    for (const key of ['callId', 'direction', 'caller', 'callee', 'codec', 'durationSeconds', 'recording', 'packets']) t.ok(key in call0, `call entry keeps ${key}`);
    t.match(call0.srtp, { caller: { suite: 'AES_CM_128_HMAC_SHA1_80' }, callee: { suite: 'AES_CM_128_HMAC_SHA1_80' } }, 'SRTP on both legs');
    t.ok((call0.srtp?.caller?.unprotected ?? 0) > 10 && (call0.srtp?.callee?.protected ?? 0) > 10, 'packets decrypted from the caller and encrypted toward the callee');

    await forge(forger, ports, 1);
    const first = (await statusJson(rec.configPath)).activeCalls[0]!;
    await forge(forger, ports, 1000);
    const second = (await statusJson(rec.configPath)).activeCalls[0]!;
    t.ok(second !== undefined, 'the call is still up after both batches');
    for (const leg of ['caller', 'callee'] as const) {
      const a0 = call0.srtp?.[leg]?.authFailures ?? -1;
      const a1 = first.srtp?.[leg]?.authFailures ?? -1;
      const a2 = second.srtp?.[leg]?.authFailures ?? -1;
      t.ok(a1 >= a0 + BATCH && a2 >= a1 + BATCH, `${leg} leg: authFailures rises with each batch (${a0} -> ${a1} -> ${a2})`);
      t.ok((second.srtp?.[leg]?.unprotected ?? 0) > (first.srtp?.[leg]?.unprotected ?? 0), `${leg} leg: the party's real packets still decrypt`);
    }
    const human = await cli(['status', '--config', rec.configPath]);
    t.equal(human.status, 0, 'status exits 0');
    t.match(human.stdout, /SRTP caller leg: AES_CM_128_HMAC_SHA1_80, \d+ decrypted, \d+ encrypted; dropped: [1-9]\d* auth failures/, 'human status: caller SRTP line');
    t.match(human.stdout, /SRTP callee leg: AES_CM_128_HMAC_SHA1_80, .*dropped: [1-9]\d* auth failures/, 'human status: callee SRTP line');

    const closed = await pbx.ctrl.event('CALL_CLOSED', (CALL_SECONDS + 15) * 1000);
    t.match(String(closed['param']), /end of file/, 'the call ran to its end: the caller hung up after its audio');
    await provider.ctrl.event('CALL_CLOSED', 5000);
    for (const [party, hz, who] of [[provider, CALLER_HZ, 'callee'], [pbx, CALLEE_HZ, 'caller']] as const) {
      const heard = heardTone(party);
      t.ok(heard !== undefined && heard.loudSeconds > CALL_SECONDS * 0.6 && Math.abs(heard.hz - hz) < hz * 0.03,
        `${who} heard a clean ${hz} Hz tone (${heard?.hz.toFixed(1)} Hz, ${heard?.loudSeconds.toFixed(2)} s): forgeries were not relayed`);
    }
    const sealed = await rec.waitForLog((l) => l.event === 'recording.sealed', 30_000);
    const info = findFile(rec.archiveDir, `${String(sealed['base'])}_info.txt`)
      ?? findFile(path.join(rec.dir, 'var'), `${String(sealed['base'])}_info.txt`);
    if (info === undefined) throw new Error('metadata not found');
    const text = fs.readFileSync(info, 'utf8');
    t.match(text, /^Encryption: SRTP \S+ caller leg \(packets dropped, not recorded: [1-9]\d* failed authentication\); SRTP \S+ callee leg \(packets dropped, not recorded: [1-9]\d* failed authentication\)$/m,
      'metadata: both legs SRTP, with the packets that failed authentication');
    t.ok(rec.logs.some((l) => l.event === 'srtp.drop' && l['reason'] === 'auth' && l.level === 40), 'the first auth failure was logged at warn level');
    t.ok(rec.logs.some((l) => l.event === 'srtp.dropped' && Number(l['authFailures']) >= 2 * BATCH), 'the call\'s drops were summed up at its end');
    t.notOk(rec.logs.some((l) => /inline:/.test(JSON.stringify(l))), 'no key in the log');
  });
}
