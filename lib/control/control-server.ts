import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { StatusDocument } from './status.js';

/** What the control endpoint can ask of the running recorder. */
export interface ControlHandlers {
  status(): Promise<StatusDocument> | StatusDocument;
  /** Group login/logout (SPEC P1); resolves to an error text when refused. */
  setMembership?(group: string, user: string, active: boolean): Promise<string | undefined> | string | undefined;
}

/**
 * The local control endpoint: HTTP over a UNIX socket (file mode 0600 via
 * the folder), so it is reachable only from this machine, by the operator.
 */
export class ControlServer {
  private server: Server | undefined;

  constructor(private readonly socketPath: string, private readonly handlers: ControlHandlers, private readonly logger: Logger) {}

  async start(): Promise<void> {
    mkdirSync(path.dirname(this.socketPath), { recursive: true });
    // A socket file left by a killed process would block listen(); nobody else owns it.
    rmSync(this.socketPath, { force: true });
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error({ event: 'control.error', err: String(err) }, 'control request failed');
        reply(res, 500, { error: String(err) });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://callrec');
    if (req.method === 'GET' && url.pathname === '/status') {
      reply(res, 200, await this.handlers.status());
      return;
    }
    const m = /^\/groups\/([^/]+)\/(login|logout)\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && m && this.handlers.setMembership !== undefined) {
      const error = await this.handlers.setMembership(decodeURIComponent(m[1]!), decodeURIComponent(m[3]!), m[2] === 'login');
      reply(res, error === undefined ? 200 : 404, error === undefined ? { ok: true } : { error });
      return;
    }
    reply(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}` });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(this.socketPath, { force: true });
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
