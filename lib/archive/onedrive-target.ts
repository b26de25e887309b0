import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfidentialClientApplication, type INetworkModule } from '@azure/msal-node';
import type { Logger } from 'pino';
import type { OneDriveTargetConfig } from '../config/index.js';
import { quickXorHashFile } from './quick-xor-hash.js';
import { ArchiveError, errorText, trimSlashes, type ArchiveFile, type ArchiveTarget } from './target.js';

/**
 * OneDrive for Business through Microsoft Graph with app credentials
 * (SPEC A1): the client-credentials token of the app registration, then
 * the drive of `user`:
 *
 *   token    POST {authorityHost}/{tenantId}/oauth2/v2.0/token   (msal-node)
 *   folders  GET  {graph}/users/{user}/drive/root:/{a/b}        404 ->
 *            POST {graph}/users/{user}/drive/root:/{a}:/children {name:"b",folder:{}}
 *   session  POST {graph}/users/{user}/drive/root:/{a/b}/{name}:/createUploadSession
 *   data     PUT  {uploadUrl}  Content-Range: bytes s-e/total   (no Authorization: pre-authenticated URL)
 *            202 {nextExpectedRanges:["n-"]} ... 200/201 driveItem
 *   resume   GET  {uploadUrl} -> nextExpectedRanges, after a failed chunk
 *
 * Chunks are multiples of 320 KiB except the last (Graph requires it).
 * The file appears in the drive only when the session commits the last
 * byte, so the upload session plays the part of the temporary name. The
 * committed driveItem is checked: `size`, and `file.hashes.quickXorHash`
 * (or `sha256Hash`) when Graph reports one.
 *
 * Tokens: msal-node's ConfidentialClientApplication for https authorities.
 * msal-node refuses http authorities, so for an http authorityHost (a
 * local test server) the same client-credentials form is POSTed directly.
 * The data plane talks HTTP with fetch: graph-client only understands
 * https absolute URLs and its OneDrive task is bound to `/me`, which
 * app-only tokens cannot use (../shared/research/tech-facts-tools.md §6).
 */

/** Graph's fragment unit: every chunk but the last is a multiple of this. */
export const CHUNK_UNIT = 320 * 1024;

export interface OneDriveOptions {
  /** Bytes per PUT, a multiple of 320 KiB; default 10 x 320 KiB (3.125 MiB). */
  chunkSize?: number;
  /** How many times a failed chunk is resumed (after asking the session where to go on) before the put fails; default 4. */
  chunkRetries?: number;
  /** Pause before resuming a failed chunk, ms; default 1000. */
  retryDelayMs?: number;
  /** msal-node's HTTP client (tests point https://login.microsoftonline.com at a local server with it). */
  networkClient?: INetworkModule;
  /** Per-request timeout, ms; default 120000. */
  requestTimeoutMs?: number;
}

interface DriveItem {
  id?: string;
  name?: string;
  size?: number;
  folder?: unknown;
  file?: { hashes?: { quickXorHash?: string; sha256Hash?: string } };
}

interface SessionState {
  uploadUrl?: string;
  nextExpectedRanges?: string[];
}

export class OneDriveTarget implements ArchiveTarget {
  readonly type = 'onedrive' as const;
  private readonly chunkSize: number;
  private readonly drive: string;
  private readonly scope: string;
  private token: { value: string; expiresAt: number } | undefined;
  private msal: ConfidentialClientApplication | undefined;
  /** Folders known to exist (created or seen) in this process. */
  private readonly folders = new Set<string>();

  constructor(
    readonly id: string,
    private readonly config: OneDriveTargetConfig,
    private readonly options: OneDriveOptions = {},
    private readonly logger?: Logger,
  ) {
    const size = options.chunkSize ?? 10 * CHUNK_UNIT;
    if (size < CHUNK_UNIT || size % CHUNK_UNIT !== 0) {
      throw new ArchiveError(id, `chunk size ${size} is not a positive multiple of 320 KiB (${CHUNK_UNIT} bytes)`);
    }
    this.chunkSize = size;
    this.drive = `${config.graphUrl.replace(/\/+$/, '')}/users/${encodeURIComponent(config.user)}/drive`;
    this.scope = `${new URL(config.graphUrl).origin}/.default`;
  }

  async put(files: readonly ArchiveFile[], folder: string): Promise<void> {
    const dir = trimSlashes(folder);
    try {
      await this.ensureFolder(dir);
      for (const f of files) await this.upload(f, dir);
    } catch (err) {
      this.folders.clear();
      throw this.wrap('upload', err);
    }
  }

  async remove(folder: string, names: readonly string[]): Promise<void> {
    const dir = trimSlashes(folder);
    try {
      for (const name of names) {
        const res = await this.graph('DELETE', `${this.drive}/${itemPath(dir, name)}`);
        if (res.status !== 204 && res.status !== 200 && res.status !== 404) {
          throw new Error(`DELETE ${joinPath(dir, name)}: ${await describe(res)}`);
        }
        await res.body?.cancel();
      }
    } catch (err) {
      throw this.wrap('delete', err);
    }
  }

  async close(): Promise<void> {
    this.token = undefined;
  }

  private wrap(what: string, err: unknown): ArchiveError {
    if (err instanceof ArchiveError) return err;
    return new ArchiveError(this.id, `OneDrive ${this.config.user}: ${what} failed: ${errorText(err)}`, { cause: err });
  }

  // ---- folders ---------------------------------------------------------------

  /** mkdir -p: walks down from the deepest existing folder, creating the rest. */
  private async ensureFolder(dir: string): Promise<void> {
    if (dir === '' || this.folders.has(dir)) return;
    const parts = dir.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (this.folders.has(p)) continue;
      const got = await this.graph('GET', `${this.drive}/${itemPath(p)}`);
      if (got.status === 200) {
        const item = (await got.json()) as DriveItem;
        if (item.folder === undefined) throw new Error(`${p} exists and is not a folder`);
        this.folders.add(p);
        continue;
      }
      if (got.status !== 404) throw new Error(`GET ${p}: ${await describe(got)}`);
      await got.body?.cancel();
      const parent = parts.slice(0, i - 1).join('/');
      const url = parent === '' ? `${this.drive}/root/children` : `${this.drive}/${itemPath(parent)}:/children`;
      const made = await this.graph('POST', url, {
        name: parts[i - 1],
        folder: {},
        '@microsoft.graph.conflictBehavior': 'fail',
      });
      // 409: someone created it between our GET and POST; fine.
      if (made.status !== 201 && made.status !== 200 && made.status !== 409) {
        throw new Error(`create folder ${p}: ${await describe(made)}`);
      }
      await made.body?.cancel();
      this.folders.add(p);
    }
  }

  // ---- upload sessions -----------------------------------------------------------

  private async upload(f: ArchiveFile, dir: string): Promise<void> {
    const where = joinPath(dir, f.name);
    let item: DriveItem;
    if (f.size === 0) {
      // Upload sessions need at least one byte; an empty file is one small PUT.
      const res = await this.graph('PUT', `${this.drive}/${itemPath(dir, f.name)}:/content`, Buffer.alloc(0));
      if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${where}: ${await describe(res)}`);
      item = (await res.json()) as DriveItem;
    } else {
      const res = await this.graph('POST', `${this.drive}/${itemPath(dir, f.name)}:/createUploadSession`, {
        item: { '@microsoft.graph.conflictBehavior': 'replace', name: f.name },
      });
      if (res.status !== 200) throw new Error(`createUploadSession for ${where}: ${await describe(res)}`);
      const session = (await res.json()) as SessionState;
      if (typeof session.uploadUrl !== 'string') throw new Error(`createUploadSession for ${where}: no uploadUrl in the answer`);
      try {
        item = await this.sendChunks(f, session.uploadUrl, where);
      } catch (err) {
        // Cancel the session so the service drops the partial data; the next attempt starts afresh.
        await this.fetchWithTimeout(session.uploadUrl, { method: 'DELETE' }).then((r) => r.body?.cancel(), () => {});
        throw err;
      }
    }
    if (item.size !== f.size) throw new Error(`${where}: size ${String(item.size)} after upload, expected ${f.size}`);
    const qx = item.file?.hashes?.quickXorHash;
    if (qx !== undefined && qx !== (await quickXorHashFile(f.localPath))) {
      throw new Error(`${where}: quickXorHash ${qx} after upload does not match the local file`);
    }
    const sha = item.file?.hashes?.sha256Hash;
    if (sha !== undefined && sha.toLowerCase() !== f.sha256) {
      throw new Error(`${where}: sha256Hash ${sha} after upload, expected ${f.sha256}`);
    }
  }

  private async sendChunks(f: ArchiveFile, uploadUrl: string, where: string): Promise<DriveItem> {
    const retries = this.options.chunkRetries ?? 4;
    const fd = await open(f.localPath, 'r');
    try {
      let offset = 0;
      let failures = 0;
      for (;;) {
        const length = Math.min(this.chunkSize, f.size - offset);
        // A fresh buffer per fragment: a request abandoned after an early error may still be sending the old one.
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await fd.read(buf, 0, length, offset);
        if (bytesRead !== length) throw new Error(`${f.localPath}: short read at ${offset} (file changed?)`);
        let res: Response | undefined;
        let problem: string;
        try {
          res = await this.fetchWithTimeout(uploadUrl, {
            method: 'PUT',
            headers: {
              'Content-Length': String(length),
              'Content-Range': `bytes ${offset}-${offset + length - 1}/${f.size}`,
            },
            body: buf,
          });
          if (res.status === 200 || res.status === 201) return (await res.json()) as DriveItem;
          if (res.status === 202) {
            const next = nextStart((await res.json()) as SessionState);
            if (next === undefined) throw new Error(`${where}: upload session sent no nextExpectedRanges`);
            offset = next;
            failures = 0;
            continue;
          }
          if (res.status === 404) throw new Error(`${where}: the upload session expired or was deleted (404)`);
          problem = await describe(res);
          // 416 (range not what the session expects), 409, 429 and 5xx: ask the session where to go on.
          if (res.status < 500 && res.status !== 416 && res.status !== 429 && res.status !== 409) {
            throw new Error(`${where}: PUT bytes ${offset}-: ${problem}`);
          }
        } catch (err) {
          if (res !== undefined || !isNetworkError(err)) throw err;
          problem = errorText(err);
        }
        if (++failures > retries) throw new Error(`${where}: chunk at ${offset} failed ${failures} times, last: ${problem}`);
        this.logger?.warn({ event: 'archive.onedrive-resume', target: this.id, file: f.name, offset, problem }, 'chunk failed; resuming the upload session');
        await sleep(this.options.retryDelayMs ?? 1000);
        offset = await this.resumePoint(uploadUrl, where);
      }
    } finally {
      await fd.close();
    }
  }

  /** GET on the session URL: where the service wants the next byte. */
  private async resumePoint(uploadUrl: string, where: string): Promise<number> {
    const res = await this.fetchWithTimeout(uploadUrl, { method: 'GET' });
    if (res.status === 404) throw new Error(`${where}: the upload session expired or was deleted (404)`);
    if (res.status !== 200) throw new Error(`${where}: upload session status: ${await describe(res)}`);
    const next = nextStart((await res.json()) as SessionState);
    if (next === undefined) throw new Error(`${where}: upload session status has no nextExpectedRanges`);
    return next;
  }

  // ---- HTTP ----------------------------------------------------------------------

  /** A Graph call with the bearer token; retried on 401 (new token), 429 and 503 (Retry-After). */
  private async graph(method: string, url: string, body?: unknown): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { Authorization: `Bearer ${await this.accessToken()}` };
      let payload: Uint8Array<ArrayBuffer> | string | undefined;
      if (body instanceof Uint8Array) {
        payload = new Uint8Array(body);
        headers['Content-Type'] = 'application/octet-stream';
      } else if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['Content-Type'] = 'application/json';
      }
      const res = await this.fetchWithTimeout(url, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
      if (attempt < 2 && res.status === 401) {
        await res.body?.cancel();
        this.token = undefined;
        continue;
      }
      if (attempt < 2 && (res.status === 429 || res.status === 503)) {
        const wait = Math.min(30, Number(res.headers.get('retry-after') ?? '1') || 1);
        await res.body?.cancel();
        await sleep(wait * 1000);
        continue;
      }
      return res;
    }
  }

  private async fetchWithTimeout(url: string, init: RequestInit): Promise<Response> {
    return fetch(url, { ...init, signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 120_000) });
  }

  private async accessToken(): Promise<string> {
    if (this.token !== undefined && this.token.expiresAt > Date.now() + 60_000) return this.token.value;
    const c = this.config;
    const authority = `${c.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(c.tenantId)}`;
    try {
      if (authority.startsWith('https:')) {
        this.msal ??= new ConfidentialClientApplication({
          auth: { clientId: c.clientId, clientSecret: c.clientSecret, authority },
          ...(this.options.networkClient !== undefined ? { system: { networkClient: this.options.networkClient } } : {}),
        });
        const r = await this.msal.acquireTokenByClientCredential({ scopes: [this.scope] });
        if (r === null || r.accessToken === '') throw new Error('no access token in the answer');
        this.token = { value: r.accessToken, expiresAt: r.expiresOn?.getTime() ?? Date.now() + 300_000 };
      } else {
        // msal-node refuses http authorities; a local test authority gets the same form directly.
        const res = await this.fetchWithTimeout(`${authority}/oauth2/v2.0/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            client_id: c.clientId,
            client_secret: c.clientSecret,
            scope: this.scope,
            grant_type: 'client_credentials',
          }).toString(),
        });
        if (res.status !== 200) throw new Error(`token endpoint: ${await describe(res)}`);
        const t = (await res.json()) as { access_token?: string; expires_in?: number };
        if (typeof t.access_token !== 'string') throw new Error('token endpoint: no access_token in the answer');
        this.token = { value: t.access_token, expiresAt: Date.now() + (t.expires_in ?? 300) * 1000 };
      }
    } catch (err) {
      throw new ArchiveError(this.id, `cannot get a token for app ${c.clientId} in tenant ${c.tenantId}: ${errorText(err)}`, { cause: err });
    }
    return this.token.value;
  }
}

function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** `root:/a/b/name` with every segment percent-encoded. */
function itemPath(dir: string, name?: string): string {
  const p = name === undefined ? dir : joinPath(dir, name);
  return `root:/${p.split('/').map(encodeURIComponent).join('/')}`;
}

function nextStart(s: SessionState): number | undefined {
  const r = s.nextExpectedRanges?.[0];
  if (r === undefined) return undefined;
  const n = Number(r.split('-')[0]);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'));
}

/** `403 accessDenied: Access denied` from a Graph error body, or the status line. */
async function describe(res: Response): Promise<string> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* the body is optional */
  }
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string } | string; error_description?: string }).error;
    if (typeof e === 'object' && e !== null) return `${res.status} ${e.code ?? ''}: ${e.message ?? ''}`.trim();
    if (typeof e === 'string') return `${res.status} ${e}`;
  } catch {
    /* not JSON */
  }
  return `${res.status} ${res.statusText}${text !== '' ? `: ${text.slice(0, 200)}` : ''}`;
}
