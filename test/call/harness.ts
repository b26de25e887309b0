/** An in-memory trunk: the B2BUA between a fake PBX and a fake provider, in virtual time. */
import { B2bua } from '../../lib/call/b2bua.js';
import type { CallObserver, Credentials } from '../../lib/call/call-context.js';
import type { SessionDescriptionHandler } from '../../lib/call/session-description-handler.js';
import { TrunkPeers, type Side } from '../../lib/call/trunk-peers.js';
import { MessageParseError, parseMessage, serialize, SipRequest, SipResponse, type SipMessage } from '../../lib/sip/message/index.js';
import type { Address, TransportProtocol } from '../../lib/sip/transport/transport.js';
import { UserAgent, type SipTransport } from '../../lib/sip/user-agent.js';
import { VirtualClock } from '../../lib/util/clock.js';
import { silentLogger } from '../../lib/util/log.js';
import { sequentialHex } from '../../lib/util/random.js';

export const LOCAL: Address = { protocol: 'udp', host: '10.0.0.1', port: 5060 };
export const PBX: Address = { protocol: 'udp', host: '10.0.0.2', port: 5070 };
export const PROVIDER: Address = { protocol: 'udp', host: '10.0.0.3', port: 5080 };
export const STRANGER: Address = { protocol: 'udp', host: '10.0.0.9', port: 5060 };

export interface Sent {
  message: SipMessage;
  destination: Address;
}

/** Records what the UA sends, after a serialize/parse round trip (as on the wire). */
class FakeNetwork implements SipTransport {
  readonly sent: Sent[] = [];
  send(message: SipMessage, destination: Address): void {
    let onWire: SipMessage = message;
    try {
      onWire = parseMessage(serialize(message));
    } catch {
      // echoing a malformed header of the request: keep the message as built
    }
    this.sent.push({ message: onWire, destination });
  }
  localAddress(protocol: TransportProtocol): Address {
    return { ...LOCAL, protocol };
  }
}

export class Trunk {
  readonly clock = new VirtualClock();
  readonly net = new FakeNetwork();
  readonly b2bua: B2bua;
  readonly ua: UserAgent;
  private cursor = 0;

  constructor(options: { credentials?: Partial<Record<Side, Credentials>>; sdp?: SessionDescriptionHandler; observer?: CallObserver } = {}) {
    const peers = new TrunkPeers({
      pbx: { host: PBX.host, port: PBX.port, transport: 'udp' },
      provider: { host: PROVIDER.host, port: PROVIDER.port, transport: 'udp' },
    });
    this.b2bua = new B2bua({ peers, logger: silentLogger(), credentials: options.credentials, sdp: options.sdp, observer: options.observer });
    this.ua = new UserAgent({ transports: this.net, clock: this.clock, logger: silentLogger(), delegate: this.b2bua, random: sequentialHex() });
    this.b2bua.attach(this.ua);
  }

  /** Delivers raw bytes as the transport would: parse, or answer a parse error. */
  inject(text: string | SipMessage, source: Address): void {
    const data = typeof text === 'string' ? Buffer.from(text.replace(/\r?\n/g, '\r\n')) : serialize(text);
    try {
      this.ua.receive({ message: parseMessage(data), source, local: LOCAL });
    } catch (err) {
      if (err instanceof MessageParseError) this.ua.receiveParseError(err, source, LOCAL);
      else throw err;
    }
  }

  /** Lets promise continuations (media preparation) run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }

  /** Messages sent and not yet taken or expected. */
  take(): Sent[] {
    const out = this.net.sent.slice(this.cursor).filter((s) => !this.consumed.has(s));
    this.cursor = this.net.sent.length;
    this.consumed.clear();
    return out;
  }

  private readonly consumed = new Set<Sent>();

  /** Removes and returns the single pending message to `to` matching `what` (a method or a status). */
  expect(to: Address, what: string | number): SipMessage {
    const pending = this.net.sent.slice(this.cursor).filter((s) => !this.consumed.has(s));
    const hits = pending.filter((s) => s.destination.host === to.host && s.destination.port === to.port && matches(s.message, what));
    if (hits.length !== 1) {
      throw new Error(`expected one ${what} to ${to.host}:${to.port}, got: ${pending.map((s) => `${describe(s.message)}->${s.destination.host}`).join(', ') || 'nothing'}`);
    }
    this.consumed.add(hits[0]!);
    return hits[0]!.message;
  }
}

function matches(m: SipMessage, what: string | number): boolean {
  return typeof what === 'number' ? m.kind === 'response' && m.status === what : m.kind === 'request' && m.method === what;
}

export function describe(m: SipMessage): string {
  return m.kind === 'request' ? m.method : String(m.status);
}

export const SDP = 'v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n';

/** An INVITE as a PBX sends it. */
export function invite(opts: { callId?: string; user?: string; body?: boolean; headers?: string[]; maxForwards?: number } = {}): string {
  const body = opts.body === false ? '' : SDP;
  return [
    `INVITE sip:${opts.user ?? '0301234567'}@10.0.0.1:5060 SIP/2.0`,
    'Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKpbx1',
    'From: "Alice Trader" <sip:201@10.0.0.2>;tag=pbxtag',
    'To: "Bob" <sip:0301234567@10.0.0.1>',
    `Call-ID: ${opts.callId ?? 'pbxcall@10.0.0.2'}`,
    'CSeq: 1 INVITE',
    'Contact: <sip:201@10.0.0.2:5070>',
    `Max-Forwards: ${opts.maxForwards ?? 70}`,
    ...(opts.headers ?? []),
    ...(body !== '' ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** A response to a request that callrec sent (as the far side answers it). */
export function reply(req: SipMessage, status: number, opts: { tag?: string; body?: string; headers?: string[] } = {}): SipResponse {
  if (req.kind !== 'request') throw new Error('reply to a response');
  const res = new SipResponse(status, status === 200 ? 'OK' : 'Status');
  for (const h of req.headers) {
    if (h.name === 'Via' || h.name === 'From' || h.name === 'Call-ID' || h.name === 'CSeq') res.append(h.name, h.value);
    if (h.name === 'To') res.append('To', /;tag=/.test(h.value) || status === 100 ? h.value : `${h.value};tag=${opts.tag ?? 'provtag'}`);
  }
  if (status >= 101 && status < 300) res.append('Contact', '<sip:far@10.0.0.3:5080>');
  for (const line of opts.headers ?? []) {
    const i = line.indexOf(':');
    res.append(line.slice(0, i), line.slice(i + 1).trim());
  }
  if (opts.body !== undefined) res.setBody(opts.body, 'application/sdp');
  return res;
}

/** An in-dialog request from a far end, built from what it knows of the dialog. */
export function inDialog(method: string, opts: { callId: string; from: string; to: string; cseq: number; via: string; uri?: string; headers?: string[]; body?: string }): SipRequest {
  const req = new SipRequest(method, opts.uri ?? 'sip:callrec@10.0.0.1:5060');
  req.append('Via', `SIP/2.0/UDP ${opts.via};branch=z9hG4bK${method}${opts.cseq}`);
  req.append('From', opts.from);
  req.append('To', opts.to);
  req.append('Call-ID', opts.callId);
  req.append('CSeq', `${opts.cseq} ${method}`);
  req.append('Max-Forwards', '70');
  for (const line of opts.headers ?? []) {
    const i = line.indexOf(':');
    req.append(line.slice(0, i), line.slice(i + 1).trim());
  }
  if (opts.body !== undefined) req.setBody(opts.body, 'application/sdp');
  return req;
}
