import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { QuickXorHash } from '../../lib/archive/quick-xor-hash.js';

/**
 * A local HTTP server speaking the parts of the Microsoft identity platform
 * and Microsoft Graph that the OneDrive target uses, as documented:
 *
 * - POST /{tenant}/oauth2/v2.0/token (client credentials form) -> bearer token;
 *   plus the discovery documents msal-node may ask for;
 * - GET  /v1.0/users/{user}/drive/root:/{path}        item or 404 itemNotFound
 * - POST /v1.0/users/{user}/drive/root/children
 *   POST /v1.0/users/{user}/drive/root:/{path}:/children   create folder (409 nameAlreadyExists)
 * - POST /v1.0/users/{user}/drive/root:/{path}/{name}:/createUploadSession   (parent must exist)
 * - PUT  /up/{id}  Content-Range fragments: in order, multiples of 320 KiB except the last,
 *   no Authorization header; 202 + nextExpectedRanges, the last 201 + driveItem with quickXorHash
 * - GET  /up/{id}  session status (nextExpectedRanges); DELETE /up/{id} cancels
 * - DELETE /v1.0/users/{user}/drive/root:/{path}     204 or 404
 *
 * Fault injection: `faults` is consumed by PUTs in order of arrival.
 */

export const UNIT = 320 * 1024;

export type PutFault =
  /** Answer 500 without storing the fragment. */
  | 'error-500'
  /** Store the fragment, then drop the connection (the client never hears 202). */
  | 'store-then-drop'
  /** Drop the connection before reading the fragment. */
  | 'drop'
  /** Answer 404 and forget the session (expired). */
  | 'expire'
  | undefined;

interface Session {
  id: string;
  path: string;
  name: string;
  received: Buffer[];
  length: number;
  total: number | undefined;
}

export interface PutRecord {
  session: string;
  start: number;
  end: number;
  total: number;
  length: number;
  authorization: string | undefined;
}

export class FakeGraph {
  readonly folders = new Set<string>(['']);
  readonly files = new Map<string, Buffer>();
  readonly sessions = new Map<string, Session>();
  readonly puts: PutRecord[] = [];
  readonly tokenRequests: URLSearchParams[] = [];
  readonly statusChecks: string[] = [];
  readonly requests: string[] = [];
  /** Consumed one per PUT to /up/... */
  faults: PutFault[] = [];
  /** When set, the committed driveItem reports this quickXorHash instead of the real one. */
  wrongHash: string | undefined;
  /** Accepted client secret. */
  secret = 'app-secret';
  readonly user = 'recorder@contoso.test';
  private server: http.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  private readonly tokens = new Set<string>();

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'test-server-bug', message: String(err) } }));
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${decodeURIComponent(url.pathname)}`);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const graphError = (status: number, code: string, message: string): void => json(status, { error: { code, message } });

    // ---- identity platform ----
    if (url.pathname.endsWith('/discovery/instance')) {
      const host = 'login.microsoftonline.com';
      return json(200, {
        tenant_discovery_endpoint: `https://${host}/tenant-x/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      });
    }
    const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
    if (oidc !== null) {
      const t = oidc[1];
      const h = 'https://login.microsoftonline.com';
      return json(200, {
        token_endpoint: `${h}/${t}/oauth2/v2.0/token`,
        authorization_endpoint: `${h}/${t}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${h}/${t}/oauth2/v2.0/logout`,
        issuer: `${h}/${t}/v2.0`,
        jwks_uri: `${h}/${t}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
      });
    }
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
    if (token !== null && method === 'POST') {
      const form = new URLSearchParams((await body(req)).toString('utf8'));
      this.tokenRequests.push(form);
      if (form.get('grant_type') !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
      if (form.get('client_secret') !== this.secret) {
        return json(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
      }
      const value = `tok-${randomUUID()}`;
      this.tokens.add(value);
      return json(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: value });
    }

    // ---- upload sessions (pre-authenticated URLs) ----
    const up = /^\/up\/([^/]+)$/.exec(url.pathname);
    if (up !== null) return this.uploadSession(up[1]!, method, req, res, json, graphError);

    // ---- Graph ----
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !this.tokens.has(auth.slice(7))) {
      await body(req);
      return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
    }
    const prefix = `/v1.0/users/${this.user}/drive/`;
    const p = decodeURIComponent(url.pathname);
    if (!p.startsWith(prefix)) return graphError(404, 'itemNotFound', `no such drive: ${p}`);
    const rest = p.slice(prefix.length);
    const payload = await body(req);

    if (rest === 'root/children' && method === 'POST') return this.createFolder('', payload, json, graphError);
    let m = /^root:\/(.*):\/children$/.exec(rest);
    if (m !== null && method === 'POST') return this.createFolder(m[1]!, payload, json, graphError);
    m = /^root:\/(.*):\/createUploadSession$/.exec(rest);
    if (m !== null && method === 'POST') {
      const full = m[1]!;
      const parent = full.includes('/') ? full.slice(0, full.lastIndexOf('/')) : '';
      if (!this.folders.has(parent)) return graphError(404, 'itemNotFound', `parent folder ${parent} does not exist`);
      const item = (JSON.parse(payload.toString('utf8') || '{}') as { item?: Record<string, string> }).item ?? {};
      if (item['@microsoft.graph.conflictBehavior'] === 'fail' && this.files.has(full)) {
        return graphError(409, 'nameAlreadyExists', 'exists');
      }
      const id = randomUUID();
      this.sessions.set(id, { id, path: full, name: full.slice(full.lastIndexOf('/') + 1), received: [], length: 0, total: undefined });
      return json(200, { uploadUrl: `${this.base}/up/${id}`, expirationDateTime: new Date(Date.now() + 3600_000).toISOString(), nextExpectedRanges: ['0-'] });
    }
    m = /^root:\/(.*)$/.exec(rest);
    if (m !== null && method === 'GET') {
      const item = m[1]!;
      if (this.folders.has(item)) return json(200, { id: item, name: item.split('/').pop(), folder: { childCount: 0 } });
      const f = this.files.get(item);
      if (f !== undefined) return json(200, this.driveItem(item, f));
      return graphError(404, 'itemNotFound', 'The resource could not be found.');
    }
    if (m !== null && method === 'DELETE') {
      const item = m[1]!;
      if (this.files.delete(item)) {
        res.writeHead(204);
        return void res.end();
      }
      return graphError(404, 'itemNotFound', 'The resource could not be found.');
    }
    return graphError(400, 'invalidRequest', `${method} ${rest} not implemented by the fake`);
  }

  private createFolder(
    parent: string,
    payload: Buffer,
    json: (s: number, b: unknown) => void,
    graphError: (s: number, c: string, m: string) => void,
  ): void {
    if (!this.folders.has(parent)) return graphError(404, 'itemNotFound', `parent ${parent} does not exist`);
    const b = JSON.parse(payload.toString('utf8')) as { name?: string; folder?: unknown };
    if (typeof b.name !== 'string' || b.folder === undefined) return graphError(400, 'invalidRequest', 'name and folder required');
    const full = parent === '' ? b.name : `${parent}/${b.name}`;
    if (this.folders.has(full) || this.files.has(full)) return graphError(409, 'nameAlreadyExists', 'exists');
    this.folders.add(full);
    json(201, { id: full, name: b.name, folder: { childCount: 0 } });
  }

  private async uploadSession(
    id: string,
    method: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    json: (s: number, b: unknown) => void,
    graphError: (s: number, c: string, m: string) => void,
  ): Promise<void> {
    const s = this.sessions.get(id);
    if (method === 'GET') {
      this.statusChecks.push(id);
      if (s === undefined) return graphError(404, 'itemNotFound', 'session expired');
      return json(200, { expirationDateTime: new Date(Date.now() + 3600_000).toISOString(), nextExpectedRanges: [`${s.length}-`] });
    }
    if (method === 'DELETE') {
      this.sessions.delete(id);
      res.writeHead(204);
      return void res.end();
    }
    if (method !== 'PUT') return graphError(405, 'notAllowed', method);
    const fault = this.faults.shift();
    if (fault === 'drop') {
      req.socket.destroy();
      return;
    }
    const data = await body(req);
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
    if (range === null) return graphError(400, 'invalidRange', 'Content-Range missing');
    const [start, end, total] = [Number(range[1]), Number(range[2]), Number(range[3])];
    this.puts.push({ session: id, start, end, total, length: data.length, authorization: req.headers.authorization });
    if (fault === 'expire') {
      this.sessions.delete(id);
      return graphError(404, 'itemNotFound', 'The upload session was not found.');
    }
    if (s === undefined) return graphError(404, 'itemNotFound', 'The upload session was not found.');
    if (fault === 'error-500') return graphError(500, 'generalException', 'simulated failure');
    if (data.length !== end - start + 1) return graphError(400, 'invalidRange', 'length does not match Content-Range');
    if (start !== s.length) return graphError(416, 'invalidRange', `expected fragment at ${s.length}`);
    const last = end === total - 1;
    if (!last && data.length % UNIT !== 0) return graphError(400, 'invalidRange', 'fragment not a multiple of 320 KiB');
    s.received.push(data);
    s.length += data.length;
    s.total = total;
    if (fault === 'store-then-drop') {
      req.socket.destroy();
      return;
    }
    if (!last) return json(202, { expirationDateTime: new Date(Date.now() + 3600_000).toISOString(), nextExpectedRanges: [`${s.length}-`] });
    const content = Buffer.concat(s.received);
    this.sessions.delete(id);
    const existed = this.files.has(s.path);
    this.files.set(s.path, content);
    json(existed ? 200 : 201, this.driveItem(s.path, content));
  }

  private driveItem(p: string, content: Buffer): unknown {
    return {
      id: `item-${p}`,
      name: p.slice(p.lastIndexOf('/') + 1),
      size: content.length,
      file: { mimeType: 'application/octet-stream', hashes: { quickXorHash: this.wrongHash ?? new QuickXorHash().update(content).digest().toString('base64') } },
    };
  }
}

function body(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
