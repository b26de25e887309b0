/**
 * Evidence and operator CLI against a real `callrec serve` and SIPp calls:
 * - every recorded call becomes WAV + _info.txt + _hash.txt + signature that
 *   `callrec verify` accepts; `verify --chain` accepts the folder (SPEC E1-E6);
 * - one flipped byte in the audio makes verify exit 1 naming the file;
 *   a recording missing from the middle makes `verify --chain` name the gap;
 * - `status --json` has the Interface fields; `cert` prints the certificate;
 * - kill -9 during a call, then a restart: the spooled recording is sealed
 *   once with stop reason "recovered after crash" and chained (E7);
 * - with the recorder down, `status` says so in one line and exits 2.
 * Not verified here: audio bit-exactness (media-*.test), archive targets.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CALLREC_BIN, cleanChildEnv, freePort, nodeCommand, runSipp, sippAvailable, startCallrec, startSipp, type CallrecInstance } from './harness/index.js';

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const { command, args: argv } = nodeCommand([CALLREC_BIN, ...args]);
  const r = spawnSync(command, argv, { encoding: 'utf8', env: cleanChildEnv(), timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function recordings(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('_info.txt')) out.push(p.slice(0, -'_info.txt'.length));
    }
  };
  walk(root);
  return out.sort();
}

/** Recordings in chain order: each names the one before it (Previous-Recording). */
function chainOrder(bases: string[]): string[] {
  const prev = new Map(bases.map((b) => [b, /^Previous-Recording: (.*)$/m.exec(readFileSync(`${b}_info.txt`, 'utf8'))?.[1] ?? 'none']));
  const out: string[] = [];
  let name = 'none';
  for (;;) {
    const next = bases.find((b) => prev.get(b) === name);
    if (next === undefined) return out;
    out.push(next);
    name = path.basename(next);
  }
}

async function call(rec: CallrecInstance, pbxPort: number, durationMs: number): Promise<void> {
  const r = await runSipp({ scenario: 'uac-basic', remote: { port: rec.sipPort }, localPort: pbxPort, calls: 1, durationMs, service: '0301234567', keys: { caller: '201' }, timeoutSeconds: 60 });
  if (r.successful !== 1) throw new Error(`call failed: exit ${r.exitCode}`);
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed');
} else {
  t.test('recordings verify, tampering and gaps are named, crash recovery seals once', async (t) => {
    const pbxPort = await freePort('both');
    const provider = await startSipp({ scenario: 'uas-basic', calls: 10, timeoutSeconds: 120 });
    t.teardown(() => provider.stop());
    const rec = await startCallrec({ pbx: { port: pbxPort }, provider: { port: provider.localPort } });
    t.teardown(() => rec.dispose());

    for (let i = 0; i < 3; i++) await call(rec, pbxPort, 300);
    const sealed = (): number => rec.logs.filter((l) => l.event === 'recording.sealed').length;
    for (let i = 0; i < 100 && sealed() < 3; i++) await new Promise((r) => setTimeout(r, 100));
    const bases = chainOrder(recordings(rec.archiveDir));
    t.equal(bases.length, 3, 'three recordings in the archive, one chain');

    for (const base of bases) {
      const v = cli(['verify', base, '--config', rec.configPath]);
      t.equal(v.status, 0, `verify ${path.basename(base)}`, { output: v.stdout + v.stderr });
    }
    const chain = cli(['verify', '--chain', rec.archiveDir, '--config', rec.configPath]);
    t.equal(chain.status, 0, 'verify --chain passes');

    const status = cli(['status', '--json', '--config', rec.configPath]);
    t.equal(status.status, 0, 'status exits 0');
    const doc = JSON.parse(status.stdout) as Record<string, unknown>;
    for (const key of ['activeCalls', 'recordingsToday', 'chainHead', 'certificateSha256', 'disk', 'backlog', 'groups']) t.ok(key in doc, `status has ${key}`);
    t.ok(Number(doc.recordingsToday) >= 3, 'recordingsToday counts them');
    t.equal(doc.chainHead, path.basename(bases[2]!), 'chainHead is the last recording');
    t.match(String(doc.certificateSha256), /^[0-9a-f]{64}$/);

    const cert = cli(['cert', '--config', rec.configPath]);
    t.equal(cert.stdout, readFileSync(path.join(rec.dir, 'var', 'keys', 'certificate.pem'), 'utf8'), 'cert prints the certificate');
    const info = readFileSync(`${bases[1]}_info.txt`, 'utf8');
    t.match(info, new RegExp(`Previous-Recording: ${path.basename(bases[0]!)}`), 'the second names the first');

    // One flipped byte in the audio of the first recording.
    const wav = `${bases[0]}.wav`;
    const original = readFileSync(wav);
    const tampered = Buffer.from(original);
    tampered[tampered.length - 1] ^= 0x01;
    writeFileSync(wav, tampered);
    const bad = cli(['verify', bases[0]!, '--config', rec.configPath]);
    t.equal(bad.status, 1, 'verify exits 1 after tampering');
    t.match(bad.stdout + bad.stderr, path.basename(wav), 'and names the audio file');
    writeFileSync(wav, original);

    // The middle recording disappears.
    const moved = `${path.dirname(bases[1]!)}/../hidden`;
    const middle = readdirSync(path.dirname(bases[1]!)).filter((n) => n.startsWith(path.basename(bases[1]!)));
    spawnSync('mkdir', ['-p', moved]);
    for (const n of middle) renameSync(path.join(path.dirname(bases[1]!), n), path.join(moved, n));
    const gap = cli(['verify', '--chain', path.dirname(bases[1]!), '--config', rec.configPath]);
    t.equal(gap.status, 1, 'verify --chain fails with a recording missing');
    t.match(gap.stdout + gap.stderr, path.basename(bases[1]!), 'and names the missing recording');
    for (const n of middle) renameSync(path.join(moved, n), path.join(path.dirname(bases[1]!), n));

    // kill -9 in the middle of a call, then start again on the same data.
    const long = runSipp({ scenario: 'uac-basic', remote: { port: rec.sipPort }, localPort: pbxPort, calls: 1, durationMs: 8000, service: '0301234567', keys: { caller: '201' }, timeoutSeconds: 30 });
    await rec.waitForLog((l) => l.event === 'recording.start' && rec.logs.filter((x) => x.event === 'recording.start').length === 4, 15000);
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(rec.pid, 'SIGKILL');
    await rec.exited;
    await long.catch(() => undefined);
    const serve = nodeCommand([CALLREC_BIN, 'serve', '--config', rec.configPath]);
    const again = spawn(serve.command, serve.args, { env: cleanChildEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => {
      if (again.exitCode === null) again.kill('SIGKILL');
    });
    let out = '';
    again.stdout.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 200 && !out.includes('"event":"ready"'); i++) await new Promise((r) => setTimeout(r, 100));
    t.match(out, /recovered after crash/, 'the spool of the killed call is sealed at restart');
    // Sealed before "ready"; the archive queue delivers it to the local target right after, not necessarily before.
    const delivered = (): boolean => {
      const all = recordings(rec.archiveDir);
      return all.length >= 4 && all.every((b) => existsSync(`${b}_hash.txt.SHA256withRSA.sig`));
    };
    for (let i = 0; i < 150 && !delivered(); i++) await new Promise((r) => setTimeout(r, 100));
    const after = recordings(rec.archiveDir);
    t.equal(after.length, 4, 'exactly one more recording');
    const recovered = after.find((b) => !bases.includes(b))!;
    t.match(readFileSync(`${recovered}_info.txt`, 'utf8'), /Stop-Reason: recovered after crash/);
    t.match(readFileSync(`${recovered}_info.txt`, 'utf8'), new RegExp(`Previous-Recording: ${path.basename(bases[2]!)}`), 'chained after the last one');
    t.equal(cli(['verify', '--chain', rec.archiveDir, '--config', rec.configPath]).status, 0, 'the whole chain verifies');

    again.kill('SIGTERM');
    await new Promise((r) => again.once('exit', r));
    const down = cli(['status', '--config', rec.configPath]);
    t.equal(down.status, 2, 'status exits 2 with no recorder');
    t.equal(down.stderr.trim().split('\n').length, 1, 'in one line');
  });
}
