/**
 * A minimal SIP UAC over TLS for interop tests, for what the real peers at
 * hand cannot send (baresip 1.0 cannot dial sips: URIs, Debian's SIPp has
 * no TLS): one INVITE with a given Request-URI and SDP over a verified TLS
 * connection, the ACK for its 2xx, a BYE. Messages are built and parsed
 * with callrec's own SIP message code; the TLS is Node's (OpenSSL).
 */
import tls from 'node:tls';
import { parseMessage, serialize, SipRequest, type SipMessage, type SipResponse } from '../../../lib/sip/message/index.js';
import { StreamFramer } from '../../../lib/sip/transport/stream-framer.js';

export interface TlsUacOptions {
  host: string;
  port: number;
  /** CA file contents that signed the server's certificate. */
  ca: Buffer;
}

export class TlsUac {
  readonly responses: SipResponse[] = [];
  readonly requests: SipRequest[] = [];
  private readonly framer = new StreamFramer();
  private readonly waiters = new Set<{ pred: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }>();
  private cseq = 1;
  private readonly tag = `uac${Math.floor(Math.random() * 1e9).toString(36)}`;
  readonly callId = `${Math.floor(Math.random() * 1e12).toString(36)}@tls-uac`;
  private localPort = 0;
  private remoteTag: string | undefined;

  private constructor(private readonly socket: tls.TLSSocket, private readonly options: TlsUacOptions) {
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.framer.push(chunk)) {
        const msg = parseMessage(frame);
        if (msg.kind === 'response') this.responses.push(msg as SipResponse);
        else {
          const req = msg as SipRequest;
          this.requests.push(req);
          // In-dialog requests from callrec (BYE) are answered 200.
          const ok = [`SIP/2.0 200 OK`, ...req.headers.filter((h) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(h.name)).map((h) => `${h.name}: ${h.value}`), 'Content-Length: 0', '', ''];
          if (req.method !== 'ACK') socket.write(ok.join('\r\n'));
        }
        for (const w of [...this.waiters]) {
          if (w.pred(msg)) {
            this.waiters.delete(w);
            w.resolve(msg);
          }
        }
      }
    });
    socket.on('error', () => {});
  }

  static connect(options: TlsUacOptions): Promise<TlsUac> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: options.host, port: options.port, ca: options.ca }, () => resolve(new TlsUac(socket, options)));
      socket.once('error', reject);
    });
  }

  waitFor(pred: (m: SipMessage) => boolean, timeoutMs: number, what: string): Promise<SipMessage> {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: SipMessage) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`TLS UAC: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  private request(method: string, uri: string, toUri: string, body?: string, branch = `z9hG4bK${Math.random().toString(36).slice(2)}`, seq = this.cseq): SipRequest {
    const req = new SipRequest(method, uri);
    req.append('Via', `SIP/2.0/TLS 127.0.0.1:${this.localPort};branch=${branch};rport`);
    req.append('From', `<sips:alice@127.0.0.1>;tag=${this.tag}`);
    req.append('To', `<${toUri}>${this.remoteTag !== undefined ? `;tag=${this.remoteTag}` : ''}`);
    req.append('Call-ID', this.callId);
    req.append('CSeq', `${seq} ${method}`);
    req.append('Max-Forwards', '70');
    req.append('Contact', `<sips:alice@127.0.0.1:${this.localPort}>`);
    if (body !== undefined) req.setBody(Buffer.from(body), 'application/sdp');
    return req;
  }

  /** INVITE; resolves with the final response (ACKed when 2xx). */
  async invite(uri: string, sdp: string, timeoutMs = 15_000): Promise<SipResponse> {
    const final = this.waitFor((m) => m.kind === 'response' && (m as SipResponse).status >= 200 && (m as SipResponse).cseq.method === 'INVITE', timeoutMs, 'final response');
    this.socket.write(serialize(this.request('INVITE', uri, uri, sdp)));
    const res = (await final) as SipResponse;
    if (res.status < 300) {
      this.remoteTag = res.toTag;
      this.socket.write(serialize(this.request('ACK', uri, uri, undefined, undefined, 1)));
    }
    return res;
  }

  /** BYE in the dialog; resolves with its final response. */
  async bye(uri: string, timeoutMs = 5000): Promise<SipResponse> {
    this.cseq++;
    const final = this.waitFor((m) => m.kind === 'response' && (m as SipResponse).cseq.method === 'BYE' && (m as SipResponse).status >= 200, timeoutMs, 'response to BYE');
    this.socket.write(serialize(this.request('BYE', uri, uri)));
    return (await final) as SipResponse;
  }

  close(): void {
    this.socket.destroy();
  }
}
