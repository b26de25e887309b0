import { canonicalHeaderName, LIST_HEADERS } from './header-names.js';
import { parseCSeq, parseNameAddr, parseVia, splitList, type CSeq, type NameAddr, type Via } from './header-values.js';

export interface Header {
  /** Canonical name (see header-names.ts). */
  name: string;
  value: string;
}

/** Common part of requests and responses: ordered headers and a body. */
abstract class SipMessageBase {
  headers: Header[] = [];
  body: Buffer = Buffer.alloc(0);

  /** First value of a header, or undefined. For list headers: the first header line as written. */
  get(name: string): string | undefined {
    const n = canonicalHeaderName(name);
    for (const h of this.headers) if (h.name === n) return h.value;
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** All values; list headers are split at top-level commas (RFC 3261 §7.3.1). */
  getAll(name: string): string[] {
    const n = canonicalHeaderName(name);
    const out: string[] = [];
    for (const h of this.headers) {
      if (h.name !== n) continue;
      if (LIST_HEADERS.has(n)) out.push(...splitList(h.value));
      else out.push(h.value);
    }
    return out;
  }

  /** Replaces every occurrence of the header by one line (or removes it when value is undefined). */
  set(name: string, value: string | undefined): this {
    const n = canonicalHeaderName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    this.headers = this.headers.filter((h) => h.name !== n);
    if (value !== undefined) this.headers.splice(idx >= 0 ? idx : this.headers.length, 0, { name: n, value });
    return this;
  }

  append(name: string, value: string): this {
    this.headers.push({ name: canonicalHeaderName(name), value });
    return this;
  }

  /** Inserts before the first header of that name (Via and Record-Route grow at the top). */
  prepend(name: string, value: string): this {
    const n = canonicalHeaderName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    this.headers.splice(idx >= 0 ? idx : 0, 0, { name: n, value });
    return this;
  }

  remove(name: string): this {
    const n = canonicalHeaderName(name);
    this.headers = this.headers.filter((h) => h.name !== n);
    return this;
  }

  get callId(): string {
    return this.get('Call-ID') ?? '';
  }

  get cseq(): CSeq {
    return parseCSeq(this.get('CSeq') ?? '');
  }

  get from(): NameAddr {
    return parseNameAddr(this.get('From') ?? '');
  }

  get to(): NameAddr {
    return parseNameAddr(this.get('To') ?? '');
  }

  get fromTag(): string | undefined {
    return this.from.params.get('tag') ?? undefined;
  }

  get toTag(): string | undefined {
    return this.to.params.get('tag') ?? undefined;
  }

  /** Topmost Via (RFC 3261 §17 matches transactions on it). */
  get via(): Via {
    const first = this.getAll('Via')[0];
    return parseVia(first ?? '');
  }

  setBody(body: Buffer | string, contentType?: string): this {
    this.body = typeof body === 'string' ? Buffer.from(body) : body;
    if (contentType !== undefined) this.set('Content-Type', contentType);
    else if (this.body.length === 0) this.remove('Content-Type');
    return this;
  }

  abstract startLine(): string;
}

export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;
  constructor(public method: string, public uri: string) {
    super();
  }

  startLine(): string {
    return `${this.method} ${this.uri} SIP/2.0`;
  }
}

export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;
  constructor(public status: number, public reason: string) {
    super();
  }

  startLine(): string {
    return `SIP/2.0 ${this.status} ${this.reason}`;
  }
}

export type SipMessage = SipRequest | SipResponse;

/** Default reason phrases (RFC 3261 §21) for responses built locally. */
export const REASON: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  413: 'Request Entity Too Large', 415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme',
  420: 'Bad Extension', 481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops',
  486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 491: 'Request Pending',
  500: 'Server Internal Error', 501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Server Time-out',
  505: 'Version Not Supported', 513: 'Message Too Large', 603: 'Decline',
};

/**
 * Builds a response to a request as RFC 3261 §8.2.6.2 demands: Via, From,
 * To, Call-ID and CSeq copied; a To tag added when given and absent.
 */
export function createResponse(req: SipRequest, status: number, reason?: string, toTag?: string): SipResponse {
  const res = new SipResponse(status, reason ?? REASON[status] ?? 'Unknown');
  for (const h of req.headers) {
    if (h.name === 'Via' || h.name === 'From' || h.name === 'Call-ID' || h.name === 'CSeq') res.headers.push({ ...h });
    else if (h.name === 'To') {
      const hasTag = /;\s*tag\s*=/i.test(h.value);
      res.headers.push({ name: 'To', value: hasTag || toTag === undefined || status === 100 ? h.value : `${h.value};tag=${toTag}` });
    }
  }
  // RFC 3261 §8.2.6.1: Timestamp is copied into 100 Trying.
  const ts = req.get('Timestamp');
  if (status === 100 && ts !== undefined) res.append('Timestamp', ts);
  return res;
}
