/**
 * OneDrive target against a local server speaking the token endpoint and
 * the Graph upload-session protocol (test/archive/fake-graph.ts).
 *
 * Verifies:
 * - client-credentials token by form POST for an http authority, and via
 *   msal-node (with an injected network client) for an https authority;
 * - folders of the template created level by level; files committed
 *   byte-identical; fragments in order, multiples of 320 KiB but the last;
 *   no Authorization header on the pre-authenticated upload URL;
 * - a fragment failing mid-upload (500, dropped connection, stored but
 *   answer lost) is resumed from the session's nextExpectedRanges;
 * - an expired session fails the put; the next attempt (ArchiveDelivery)
 *   delivers; a wrong quickXorHash from the service fails the put;
 * - delete for retention; a bad client secret gives a clear message.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { INetworkModule, NetworkResponse } from '@azure/msal-node';
import t from 'tap';
import { ArchiveDelivery, collectRecordingFiles, OneDriveTarget, targetId } from '../../lib/archive/index.js';
import type { OneDriveTargetConfig } from '../../lib/config/index.js';
import { expandTemplate } from '../../lib/recording/naming.js';
import { RecordingLog } from '../../lib/store/index.js';
import { silentLogger } from '../../lib/util/log.js';
import { FakeGraph, UNIT } from './fake-graph.js';
import { makeRecording, profile, tempDir, testConfig, type Teardown } from './helpers.js';

async function world(t: Teardown, over: Partial<OneDriveTargetConfig> = {}) {
  const graph = new FakeGraph();
  await graph.start();
  t.teardown(() => graph.stop());
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const log = RecordingLog.open(path.join(dataDir, 'callrec.db'));
  t.teardown(() => log.close());
  const target: OneDriveTargetConfig = {
    type: 'onedrive',
    tenantId: 'tenant-x',
    clientId: 'client-1',
    clientSecret: 'app-secret',
    user: graph.user,
    path: 'Calls/$Y/$M',
    authorityHost: graph.base,
    graphUrl: `${graph.base}/v1.0`,
    ...over,
  };
  const config = testConfig(dataDir, [profile('traders', [target])]);
  return { graph, dir, dataDir, log, target, config };
}

const fast = { chunkSize: UNIT, retryDelayMs: 10 };

t.test('uploads in 320 KiB fragments, creates folders, token by form POST', async (t) => {
  const w = await world(t);
  const rec = makeRecording(w.log, w.dataDir, 1, { audioBytes: 3 * UNIT + 12_345, separate: true });
  const files = await collectRecordingFiles(w.dataDir, rec);
  const od = new OneDriveTarget(targetId(w.target), w.target, fast);
  const folder = expandTemplate(w.target.path, rec.startedAt);
  await od.put(files, folder);
  t.ok(w.graph.folders.has('Calls') && w.graph.folders.has(folder), `folders Calls and ${folder} created`);
  for (const f of files) t.same(w.graph.files.get(`${folder}/${f.name}`), readFileSync(f.localPath), `${f.name} identical`);
  const wav = w.graph.puts.filter((p) => p.total === 3 * UNIT + 12_345);
  t.equal(wav.length, 8, 'two audio files of four fragments each');
  t.same(wav.slice(0, 4).map((p) => p.length), [UNIT, UNIT, UNIT, 12_345]);
  t.ok(w.graph.puts.every((p) => p.end === p.total - 1 || p.length % UNIT === 0), 'every fragment but the last a multiple of 320 KiB');
  t.ok(w.graph.puts.every((p) => p.authorization === undefined), 'no Authorization header on upload URLs');
  t.ok(w.graph.tokenRequests.length >= 1);
  const form = w.graph.tokenRequests[0]!;
  t.same(
    [form.get('grant_type'), form.get('client_id'), form.get('client_secret'), form.get('scope')],
    ['client_credentials', 'client-1', 'app-secret', `${w.graph.base}/.default`],
  );
  t.equal(w.graph.tokenRequests.length, 1, 'token reused');
  // Again: replaces, folders already there.
  await od.put(files, folder);
  t.equal(w.graph.files.size, files.length);
  await od.close();
});

t.test('a fragment failing mid-upload is resumed from nextExpectedRanges', async (t) => {
  const w = await world(t);
  const rec = makeRecording(w.log, w.dataDir, 2, { audioBytes: 5 * UNIT + 1 });
  const files = await collectRecordingFiles(w.dataDir, rec);
  const od = new OneDriveTarget('od', w.target, fast);
  // Fragments (in 320 KiB units) of the audio file: 0 ok; 1 -> 500, status, 1 ok; 2 stored but the
  // answer lost, status says 3; 3 ok; 4 dropped unread, status, 4 ok; 5 (1 byte) commits.
  w.graph.faults = [undefined, 'error-500', undefined, 'store-then-drop', undefined, 'drop'];
  const folder = expandTemplate(w.target.path, rec.startedAt);
  await od.put(files, folder);
  const wavName = `${rec.baseName}.wav`;
  t.same(w.graph.files.get(`${folder}/${wavName}`), readFileSync(files[0]!.localPath), 'committed file identical, no byte twice');
  t.equal(w.graph.statusChecks.length, 3, 'asked the session where to go on after each failure');
  const starts = w.graph.puts.filter((p) => p.total === 5 * UNIT + 1).map((p) => p.start / UNIT);
  t.same(starts, [0, 1, 1, 2, 3, 4, 5], 'fragment 2, stored before the drop, was not sent again (dropped PUTs are not recorded)');
  t.ok(w.graph.puts.every((p) => p.end === p.total - 1 || p.length % UNIT === 0));
  await od.close();
});

t.test('expired session fails the put; delivery retries and delivers; wrong hash is refused', async (t) => {
  const w = await world(t);
  const rec = makeRecording(w.log, w.dataDir, 3, { audioBytes: 2 * UNIT });
  let now = Date.UTC(2026, 10, 22, 16, 0, 0);
  const d = new ArchiveDelivery({ log: w.log, config: w.config, logger: silentLogger(), now: () => now, targetDeps: { onedrive: fast } });
  d.enqueue(rec.baseName, 'traders');
  w.graph.faults = [undefined, 'expire'];
  let s = await d.runOnce();
  t.same([s.delivered, s.failed], [0, 1]);
  const row = w.log.uploads.forRecording(rec.baseName)[0]!;
  t.match(row.lastError, /upload session expired or was deleted \(404\)/);
  now += 30_000;
  s = await d.runOnce();
  t.same([s.delivered, s.failed, s.completed.length], [1, 0, 1], 'delivered on the retry, outbox removed');

  const rec2 = makeRecording(w.log, w.dataDir, 4);
  const files = await collectRecordingFiles(w.dataDir, rec2);
  w.graph.wrongHash = 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=';
  const od = new OneDriveTarget('od', w.target, fast);
  await t.rejects(od.put(files, 'x'), /quickXorHash AAAA.* does not match the local file/);
  w.graph.wrongHash = undefined;
  await d.stop();
});

t.test('remove deletes the items; items already gone are fine', async (t) => {
  const w = await world(t);
  const rec = makeRecording(w.log, w.dataDir, 5);
  const files = await collectRecordingFiles(w.dataDir, rec);
  const od = new OneDriveTarget('od', w.target, fast);
  await od.put(files, 'Calls/keep');
  t.equal(w.graph.files.size, 4);
  await od.remove('Calls/keep', files.map((f) => f.name));
  t.equal(w.graph.files.size, 0);
  await od.remove('Calls/keep', files.map((f) => f.name));
  t.pass('second remove is a no-op');
});

t.test('a wrong client secret gives a clear error', async (t) => {
  const w = await world(t, { clientSecret: 'wrong' });
  const rec = makeRecording(w.log, w.dataDir, 6);
  const od = new OneDriveTarget('od', w.target, fast);
  await t.rejects(od.put(await collectRecordingFiles(w.dataDir, rec), 'x'), {
    name: 'ArchiveError',
    message: /cannot get a token for app client-1 in tenant tenant-x: token endpoint: 401 invalid_client/,
  });
  t.throws(() => new OneDriveTarget('od', w.target, { chunkSize: 100_000 }), /not a positive multiple of 320 KiB/);
});

t.test('https authority: the token comes through msal-node', async (t) => {
  const w = await world(t, { authorityHost: 'https://login.microsoftonline.com' });
  const seen: string[] = [];
  const rewrite = (u: string): string => {
    seen.push(u);
    return u.replace('https://login.microsoftonline.com', w.graph.base);
  };
  const send = async <T>(url: string, init: RequestInit): Promise<NetworkResponse<T>> => {
    const r = await fetch(rewrite(url), init);
    const headers: Record<string, string> = {};
    r.headers.forEach((v, k) => (headers[k] = v));
    return { status: r.status, headers, body: (await r.json()) as T };
  };
  const networkClient: INetworkModule = {
    sendGetRequestAsync: (url, options) => send(url, { method: 'GET', headers: options?.headers ?? {} }),
    sendPostRequestAsync: (url, options) => send(url, { method: 'POST', headers: options?.headers ?? {}, body: options?.body ?? '' }),
  };
  const rec = makeRecording(w.log, w.dataDir, 7);
  const od = new OneDriveTarget('od', w.target, { ...fast, networkClient });
  await od.put(await collectRecordingFiles(w.dataDir, rec), 'Calls');
  t.equal(w.graph.files.size, 4, 'uploaded with the msal token');
  t.ok(seen.some((u) => u.startsWith('https://login.microsoftonline.com/tenant-x/oauth2/v2.0/token')), 'msal posted to the tenant token endpoint');
  const form = w.graph.tokenRequests[0]!;
  t.equal(form.get('client_id'), 'client-1');
  t.equal(form.get('grant_type'), 'client_credentials');
  t.match(form.get('scope') ?? '', /\/\.default/);
});
