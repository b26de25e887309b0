import { InvalidStateError } from '../message/errors.js';
import { parseNameAddr } from '../message/header-values.js';
import { SipRequest, type SipResponse } from '../message/message.js';
import { isSipUri, parseUri } from '../message/uri.js';

export type DialogState = 'early' | 'confirmed' | 'terminated';

/**
 * A dialog as RFC 3261 §12 defines it: identified by Call-ID and both tags,
 * with the route set, remote target and CSeq counters that in-dialog
 * requests need.
 */
export class Dialog {
  state: DialogState;
  /** Local CSeq; the next request uses localSeq + 1 (§12.2.1.1). */
  localSeq: number;
  remoteSeq: number | undefined;

  private constructor(
    readonly callId: string,
    readonly localTag: string,
    public remoteTag: string,
    /** From/To header values as used in this dialog (without tags). */
    readonly localUri: string,
    readonly remoteUri: string,
    public remoteTarget: string,
    public routeSet: string[],
    localSeq: number,
    remoteSeq: number | undefined,
    state: DialogState,
  ) {
    this.localSeq = localSeq;
    this.remoteSeq = remoteSeq;
    this.state = state;
  }

  get id(): string {
    return dialogId(this.callId, this.localTag, this.remoteTag);
  }

  /** §12.1.1: UAS side, from the request and the tag of our response. */
  static asUas(request: SipRequest, localTag: string, state: DialogState): Dialog {
    const from = parseNameAddr(request.get('From') ?? '');
    const to = parseNameAddr(request.get('To') ?? '');
    const contact = request.getAll('Contact')[0];
    return new Dialog(
      request.callId,
      localTag,
      from.params.get('tag') ?? '',
      stripTag(request.get('To') ?? ''),
      stripTag(request.get('From') ?? ''),
      contact !== undefined ? parseNameAddr(contact).uriText : to.uriText,
      request.getAll('Record-Route'),
      0,
      request.cseq.seq,
      state,
    );
  }

  /** §12.1.2: UAC side, from our request and the response that created the dialog. */
  static asUac(request: SipRequest, response: SipResponse): Dialog {
    const contact = response.getAll('Contact')[0];
    return new Dialog(
      request.callId,
      request.fromTag ?? '',
      response.toTag ?? '',
      stripTag(request.get('From') ?? ''),
      stripTag(response.get('To') ?? ''),
      contact !== undefined ? parseNameAddr(contact).uriText : request.uri,
      response.getAll('Record-Route').reverse(),
      request.cseq.seq,
      undefined,
      response.status >= 200 ? 'confirmed' : 'early',
    );
  }

  /** §12.2.1.2: a 2xx confirms an early dialog and refreshes target and route set. */
  confirm(response: SipResponse): void {
    if (this.state === 'terminated') throw new InvalidStateError('dialog terminated');
    const contact = response.getAll('Contact')[0];
    if (contact !== undefined) this.remoteTarget = parseNameAddr(contact).uriText;
    if (this.state === 'early') this.routeSet = response.getAll('Record-Route').reverse();
    this.state = 'confirmed';
  }

  /** §12.2.2: an in-dialog request with a lower CSeq than the last is out of order (500). */
  acceptRemoteSeq(request: SipRequest): boolean {
    const seq = request.cseq.seq;
    if (request.method === 'ACK' || request.method === 'CANCEL') return true;
    if (this.remoteSeq !== undefined && seq < this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }

  /** §12.2.1.1: builds an in-dialog request (not ACK/CANCEL, which reuse a CSeq). */
  createRequest(method: string, cseq?: number): SipRequest {
    const seq = cseq ?? ++this.localSeq;
    const { uri, routes } = this.requestTarget();
    const req = new SipRequest(method, uri);
    for (const r of routes) req.append('Route', r);
    req.append('From', `${this.localUri};tag=${this.localTag}`);
    req.append('To', this.remoteTag !== '' ? `${this.remoteUri};tag=${this.remoteTag}` : this.remoteUri);
    req.append('Call-ID', this.callId);
    req.append('CSeq', `${seq} ${method}`);
    req.append('Max-Forwards', '70');
    return req;
  }

  /**
   * §12.2.1.1: with a loose-routing first route (`;lr`) the Request-URI is the
   * remote target and the route set goes into Route; with a strict router the
   * first route becomes the Request-URI and the remote target is appended.
   */
  private requestTarget(): { uri: string; routes: string[] } {
    if (this.routeSet.length === 0) return { uri: this.remoteTarget, routes: [] };
    const first = parseNameAddr(this.routeSet[0]!);
    if (isSipUri(first.uri) && first.uri.params.has('lr')) return { uri: this.remoteTarget, routes: this.routeSet };
    return { uri: first.uriText, routes: [...this.routeSet.slice(1), `<${this.remoteTarget}>`] };
  }

  /** The URI to send the next in-dialog request to: the first route, else the remote target. */
  nextHopUri(): string {
    if (this.routeSet.length > 0) return parseNameAddr(this.routeSet[0]!).uriText;
    return this.remoteTarget;
  }

  terminate(): void {
    this.state = 'terminated';
  }
}

export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

/** A From/To value without its tag parameter (the dialog keeps tags apart). */
function stripTag(value: string): string {
  return value.replace(/;\s*tag\s*=\s*[^;]*/i, '');
}

/** Host, port and transport to reach a SIP URI (RFC 3263 simplified: no DNS SRV). */
export function uriDestination(uriText: string): { host: string; port: number | undefined; transport: string | undefined } | undefined {
  try {
    const uri = parseUri(uriText);
    if (!isSipUri(uri)) return undefined;
    const t = uri.params.get('transport');
    return { host: uri.host, port: uri.port, transport: t === null || t === undefined ? undefined : t.toLowerCase() };
  } catch {
    return undefined;
  }
}
