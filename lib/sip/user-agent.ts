import type { Logger } from 'pino';
import type { Clock } from '../util/clock.js';
import { cryptoRandomHex, type RandomHex } from '../util/random.js';
import { createResponse, REASON, type SipRequest } from './message/message.js';
import type { MessageParseError } from './message/parser.js';
import { isSipUri, parseUri } from './message/uri.js';
import {
  TransactionLayer,
  type ClientTransaction,
  type ClientTransactionDelegate,
  type InviteServerTransaction,
  type NonInviteServerTransaction,
  type ServerTransaction,
  type TimerConfig,
  type TransactionUser,
} from './transaction/index.js';
import type { Address, Inbound, MessageSender, TransportProtocol } from './transport/transport.js';

/** What the application above the UA core receives. */
export interface UserAgentDelegate {
  /** A new request (not ACK, not CANCEL) with its server transaction. */
  onRequest(tx: ServerTransaction, inbound: Inbound): void;
  /** An ACK that matched no server transaction: the ACK for a 2xx (RFC 3261 §17.2.3, §13.3.1.4). */
  onAck(inbound: Inbound): void;
  /** A CANCEL; the UA has already answered it (200, or 481 when nothing matched: §9.2). */
  onCancel(inviteTx: InviteServerTransaction, inbound: Inbound): void;
  /** A response that matched no client transaction (a 2xx retransmitted after Timer M). */
  onStrayResponse(inbound: Inbound): void;
}

/** What the UA needs of the transports: sending, and its own addresses for Via and Contact. */
export interface SipTransport extends MessageSender {
  localAddress(protocol: TransportProtocol): Address | undefined;
}

export interface UserAgentOptions {
  transports: SipTransport;
  clock: Clock;
  logger: Logger;
  delegate: UserAgentDelegate;
  random?: RandomHex;
  timers?: Partial<TimerConfig>;
  /** Product token for User-Agent/Server headers. */
  product?: string;
}

/** RFC 3261 §8.1.1.7: branches of this stack start with the magic cookie. */
const MAGIC_COOKIE = 'z9hG4bK';

/**
 * The narrow surface of the SIP stack: it turns transport input into
 * transaction-layer events for one delegate, and sends requests and ACKs with
 * a Via of its own. It knows nothing about calls or recording.
 */
export class UserAgent implements TransactionUser {
  readonly transactions: TransactionLayer;
  readonly random: RandomHex;
  readonly product: string;
  private readonly logger: Logger;

  constructor(private readonly options: UserAgentOptions) {
    this.random = options.random ?? cryptoRandomHex;
    this.logger = options.logger;
    this.product = options.product ?? 'callrec';
    this.transactions = new TransactionLayer(options.transports, options.clock, options.timers ?? {}, this);
  }

  get clock(): Clock {
    return this.options.clock;
  }

  /** Entry point for every parsed message from the transports. */
  receive(inbound: Inbound): void {
    if (inbound.message.kind === 'request') this.transactions.receiveRequest(inbound);
    else this.transactions.receiveResponse(inbound);
  }

  /**
   * RFC 3261 §8.2 / RFC 4475: a malformed request is answered with 400 (505
   * for a bad version) when the headers needed to route a response are
   * readable; anything else, and every malformed response, is dropped.
   */
  receiveParseError(error: MessageParseError, source: Address, local: Address): void {
    const partial = error.partial;
    const answerable = partial !== undefined && partial.method !== 'ACK' && this.canAnswer(partial);
    this.logger.warn(
      { event: 'sip.parse-error', source, reason: error.reason, answered: answerable ? error.status : undefined },
      answerable ? 'malformed request answered' : 'malformed message dropped',
    );
    if (!answerable || partial === undefined) return;
    // A To that cannot be parsed is echoed as it came, without a tag appended to it.
    let toParses = true;
    try {
      partial.to;
    } catch {
      toParses = false;
    }
    const res = createResponse(partial, error.status, REASON[error.status], toParses ? this.newTag() : undefined);
    res.set('Warning', `399 callrec "${error.reason.replace(/["\\]/g, "'").slice(0, 200)}"`);
    this.options.transports.send(res, source);
  }

  private canAnswer(req: SipRequest): boolean {
    try {
      req.via; // throws when the top Via is unreadable
      return req.callId !== '' && req.has('From') && req.has('To') && req.has('CSeq') && /^\d+\s/.test(req.get('CSeq') ?? '');
    } catch {
      return false;
    }
  }

  // TransactionUser
  onRequest(tx: ServerTransaction, inbound: Inbound): void {
    this.options.delegate.onRequest(tx, inbound);
  }

  onAck(inbound: Inbound): void {
    this.options.delegate.onAck(inbound);
  }

  onCancel(cancelTx: NonInviteServerTransaction, inviteTx: InviteServerTransaction | undefined, inbound: Inbound): void {
    const req = inbound.message as SipRequest;
    // RFC 3261 §9.2: 481 when no transaction matches, otherwise 200 to the CANCEL itself.
    if (inviteTx === undefined) {
      cancelTx.respond(createResponse(req, 481));
      return;
    }
    cancelTx.respond(createResponse(req, 200, undefined, inviteTx.request.toTag ?? undefined));
    this.options.delegate.onCancel(inviteTx, inbound);
  }

  onStrayResponse(inbound: Inbound): void {
    this.options.delegate.onStrayResponse(inbound);
  }

  /** Adds our Via (§8.1.1.7, with rport: RFC 3581) and sends through a client transaction. */
  sendRequest(req: SipRequest, destination: Address, delegate: ClientTransactionDelegate): ClientTransaction {
    this.addVia(req, destination.protocol);
    if (!req.has('Max-Forwards')) req.set('Max-Forwards', '70');
    if (!req.has('User-Agent')) req.set('User-Agent', this.product);
    return this.transactions.sendRequest(req, destination, delegate);
  }

  /**
   * ACK for a 2xx is its own transaction-less request with a new branch (§13.2.2.4, §17.1.1.3);
   * for each retransmission of the 2xx the same ACK is passed to the transport again, so one
   * that already has its Via keeps it.
   */
  sendAck(ack: SipRequest, destination: Address): void {
    if (!ack.has('Via')) this.addVia(ack, destination.protocol);
    this.transactions.sendAck(ack, destination);
  }

  private addVia(req: SipRequest, protocol: TransportProtocol): void {
    const local = this.localAddress(protocol);
    req.remove('Via');
    req.prepend('Via', `SIP/2.0/${protocol.toUpperCase()} ${formatHostPort(local)};branch=${this.newBranch()};rport`);
  }

  localAddress(protocol: TransportProtocol): Address {
    return this.options.transports.localAddress(protocol)
      ?? this.options.transports.localAddress('udp')
      ?? { protocol, host: '127.0.0.1', port: 5060 };
  }

  /**
   * Our Contact URI for a transport (§8.1.1.8). `sips` when the dialog's
   * request used a SIPS URI: its Contact MUST be SIPS too (RFC 3261
   * §8.1.1.8, §12.1.1). Otherwise TLS is named by `transport=tls` on a sip:
   * URI: a sips: Contact would promise TLS on the whole path back to us
   * (RFC 3261 §26.2.2, RFC 5630), which a B2BUA cannot give for the other leg, and some
   * peers (baresip 1.0) cannot route to one.
   */
  contact(protocol: TransportProtocol, user = 'callrec', sips = false): string {
    const local = this.localAddress(protocol);
    const secure = sips && protocol === 'tls';
    const scheme = secure ? 'sips' : 'sip';
    const transport = protocol === 'udp' || secure ? '' : `;transport=${protocol}`;
    return `<${scheme}:${user}@${formatHostPort(local)}${transport}>`;
  }

  newBranch(): string {
    return MAGIC_COOKIE + this.random(8);
  }

  newTag(): string {
    return this.random(6);
  }

  newCallId(): string {
    return `${this.random(12)}@callrec`;
  }

  close(): void {
    this.transactions.close();
  }
}

export function formatHostPort(a: { host: string; port: number }): string {
  const host = a.host.includes(':') && !a.host.startsWith('[') ? `[${a.host}]` : a.host;
  return `${host}:${a.port}`;
}

/** The user part of a SIP URI, or the whole text for other schemes such as tel:. */
export function uriUser(uriText: string): string | undefined {
  try {
    const uri = parseUri(uriText);
    if (isSipUri(uri)) return uri.user;
    return uri.raw.slice(uri.raw.indexOf(':') + 1).split(';')[0];
  } catch {
    return undefined;
  }
}
