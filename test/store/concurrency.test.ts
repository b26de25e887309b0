/**
 * Recording log: concurrent access (WAL; SPEC E7, O1 - `callrec status` and
 * `callrec verify` read while the recorder writes).
 *
 * Verifies:
 *  - a second connection reads the last committed state while the first is
 *    inside a write transaction, without waiting; it sees the new state
 *    after the commit
 *  - a second writer waits for the lock and gives StoreError 'busy' after
 *    its busy timeout
 *  - two processes appending to one chain at once (re-reading the head on
 *    ChainConflictError) produce one gap-free chain, while a read-only
 *    reader in a third process always sees a consistent chain
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { RecordingLog } from '../../lib/store/index.js';
import { recording, tempDb } from './helpers.js';

const CHILD = fileURLToPath(new URL('./store-child.js', import.meta.url));

t.test('a second connection reads while the first writes', (t) => {
  const file = tempDb(t);
  const writer = RecordingLog.open(file);
  const reader = RecordingLog.open(file, { readonly: true, busyTimeoutMs: 50 });
  t.teardown(() => {
    reader.close();
    writer.close();
  });
  writer.appendToChain(recording(1, writer.chainHead()));
  const started = Date.now();
  writer.transaction(() => {
    writer.appendToChain(recording(2, writer.chainHead()));
    t.equal(writer.chainHead().position, 2, 'the writer sees its own write');
    t.equal(reader.chainHead().position, 1, 'the reader sees the last commit');
    t.equal(reader.recordingsSince(0), 1);
  });
  t.ok(Date.now() - started < 40, 'the reader did not wait for the lock');
  t.equal(reader.chainHead().position, 2, 'after the commit the reader sees it');
  t.end();
});

t.test('a second writer gets busy after its timeout', (t) => {
  const file = tempDb(t);
  const a = RecordingLog.open(file);
  const b = RecordingLog.open(file, { busyTimeoutMs: 50 });
  t.teardown(() => {
    b.close();
    a.close();
  });
  a.transaction(() => {
    a.appendToChain(recording(1, a.chainHead()));
    const started = Date.now();
    t.throws(() => b.appendToChain(recording(2, b.chainHead())), { code: 'busy', message: /another process holds/ });
    t.ok(Date.now() - started >= 45, 'it waited for the busy timeout');
  });
  t.equal(b.appendToChain(recording(2, b.chainHead())).position, 2, 'and succeeds once the lock is free');
  t.end();
});

function runChild(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

t.test('two processes append to one chain while a third reads', async (t) => {
  const file = tempDb(t);
  RecordingLog.open(file).close();
  const reader = RecordingLog.open(file, { readonly: true });
  t.teardown(() => reader.close());
  const per = 150;
  let polls = 0;
  let inconsistent = 0;
  let done = false;
  const poll = async (): Promise<void> => {
    while (!done) {
      reader.snapshot(() => {
        const head = reader.chainHead();
        const count = reader.recordingsSince(0);
        const last = head.position > 0 ? reader.recordingAt(head.position) : undefined;
        if (count !== head.position || (last !== undefined && last.baseName !== head.baseName)) inconsistent++;
      });
      polls++;
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const polling = poll();
  const [x, y] = await Promise.all([
    runChild(['append', file, '1', String(per), 'x']),
    runChild(['append', file, String(per + 1), String(per), 'y']),
  ]);
  done = true;
  await polling;
  t.equal(x.code, 0);
  t.equal(y.code, 0);
  const conflicts = [x, y].reduce((n, r) => n + (JSON.parse(r.out || '{"conflicts":0}') as { conflicts: number }).conflicts, 0);
  t.comment(`${polls} consistent-read polls, ${conflicts} chain conflicts retried`);
  t.equal(inconsistent, 0, 'every read saw a consistent chain');
  const rows = reader.listChain(1, 10_000);
  t.equal(rows.length, 2 * per);
  t.same(rows.map((r) => r.chainPosition), Array.from({ length: 2 * per }, (_, i) => i + 1), 'no gaps');
  let links = 0;
  for (let i = 1; i < rows.length; i++) {
    if (rows[i]!.previousBase === rows[i - 1]!.baseName && rows[i]!.previousSignature === rows[i - 1]!.signature) links++;
  }
  t.equal(links, rows.length - 1, 'every link names its predecessor');
  t.equal(new Set(rows.map((r) => r.spoolKey)).size, 2 * per);
  t.equal(reader.chainHead().baseName, rows[rows.length - 1]!.baseName);
  t.same(reader.integrityCheck(), []);
});
