/**
 * Shared harness of the transaction tests (not a test file itself): a
 * virtual clock, a fake transport that records what is sent and when, a
 * recording TU and delegate, and builders for the messages of a call.
 */
import { createResponse, parseMessage, serialize, type SipMessage, type SipRequest, type SipResponse } from '../../../lib/sip/message/index.js';
import {
  TransactionLayer,
  type ClientTransactionDelegate,
  type InviteServerTransaction,
  type NonInviteServerTransaction,
  type ServerTransaction,
  type TimerConfig,
  type TransactionUser,
} from '../../../lib/sip/transaction/index.js';
import type { Address, Inbound, MessageSender } from '../../../lib/sip/transport/transport.js';
import { VirtualClock, type Clock } from '../../../lib/util/clock.js';

export const LOCAL_UDP: Address = { protocol: 'udp', host: '192.0.2.1', port: 5060 };
export const LOCAL_TCP: Address = { protocol: 'tcp', host: '192.0.2.1', port: 5060 };
export const PEER_UDP: Address = { protocol: 'udp', host: '192.0.2.10', port: 5060 };
export const PEER_TCP: Address = { protocol: 'tcp', host: '192.0.2.10', port: 40123 };

export interface Sent {
  message: SipMessage;
  destination: Address;
  at: number;
}

/** A MessageSender that records every message and fails on demand, reporting errors asynchronously. */
export class FakeSender implements MessageSender {
  readonly sent: Sent[] = [];
  /** Returns an error for messages that should fail. */
  failWith: ((message: SipMessage) => Error | undefined) | undefined;
  private pendingErrors: Array<() => void> = [];

  constructor(private readonly clock: Clock) {}

  send(message: SipMessage, destination: Address, onError?: (err: Error) => void): void {
    this.sent.push({ message, destination, at: this.clock.now() });
    const err = this.failWith?.(message);
    if (err !== undefined && onError !== undefined) this.pendingErrors.push(() => onError(err));
  }

  /** Delivers the pending errors, as a real transport does after send() returned. */
  flushErrors(): void {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    for (const deliver of pending) deliver();
  }

  requests(method?: string): Sent[] {
    return this.sent.filter((s) => s.message.kind === 'request' && (method === undefined || s.message.method === method));
  }

  responses(status?: number): Sent[] {
    return this.sent.filter((s) => s.message.kind === 'response' && (status === undefined || s.message.status === status));
  }

  times(entries: Sent[]): number[] {
    return entries.map((s) => s.at);
  }
}

export class RecordingTu implements TransactionUser {
  readonly requests: Array<{ tx: ServerTransaction; inbound: Inbound }> = [];
  readonly acks: Inbound[] = [];
  readonly cancels: Array<{ cancelTx: NonInviteServerTransaction; inviteTx: InviteServerTransaction | undefined; inbound: Inbound }> = [];
  readonly strays: Inbound[] = [];

  onRequest(tx: ServerTransaction, inbound: Inbound): void {
    this.requests.push({ tx, inbound });
  }

  onAck(inbound: Inbound): void {
    this.acks.push(inbound);
  }

  onCancel(cancelTx: NonInviteServerTransaction, inviteTx: InviteServerTransaction | undefined, inbound: Inbound): void {
    this.cancels.push({ cancelTx, inviteTx, inbound });
  }

  onStrayResponse(inbound: Inbound): void {
    this.strays.push(inbound);
  }
}

export class RecordingDelegate implements ClientTransactionDelegate {
  readonly responses: SipResponse[] = [];
  readonly timeouts: number[] = [];
  readonly errors: Error[] = [];

  constructor(private readonly clock: Clock) {}

  onResponse(res: SipResponse): void {
    this.responses.push(res);
  }

  onTimeout(): void {
    this.timeouts.push(this.clock.now());
  }

  onTransportError(err: Error): void {
    this.errors.push(err);
  }

  statuses(): number[] {
    return this.responses.map((r) => r.status);
  }
}

export interface Harness {
  clock: VirtualClock;
  sender: FakeSender;
  tu: RecordingTu;
  layer: TransactionLayer;
  delegate: RecordingDelegate;
}

export function setup(timers?: Partial<TimerConfig>): Harness {
  const clock = new VirtualClock();
  const sender = new FakeSender(clock);
  const tu = new RecordingTu();
  const layer = new TransactionLayer(sender, clock, timers, tu);
  return { clock, sender, tu, layer, delegate: new RecordingDelegate(clock) };
}

/** A message as the far end would receive it: serialized and parsed again. */
export function wire<M extends SipMessage>(msg: M): M {
  return parseMessage(serialize(msg)) as M;
}

export function inbound(message: SipMessage, source: Address = PEER_UDP, local: Address = LOCAL_UDP): Inbound {
  return { message: wire(message), source, local };
}

export interface RequestOptions {
  method?: string;
  uri?: string;
  /** Via values, top first. */
  via?: string[];
  branch?: string;
  transport?: 'UDP' | 'TCP';
  sentBy?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  route?: string[];
  extra?: string[];
  body?: string;
}

/** Builds a request from text, the way a peer would write it. */
export function request(o: RequestOptions = {}): SipRequest {
  const method = o.method ?? 'INVITE';
  const via = o.via ?? [`SIP/2.0/${o.transport ?? 'UDP'} ${o.sentBy ?? '192.0.2.1:5060'};branch=${o.branch ?? 'z9hG4bK-client-1'}`];
  const body = o.body ?? '';
  const lines = [
    `${method} ${o.uri ?? 'sip:+4930123456@provider.example;user=phone'} SIP/2.0`,
    ...via.map((v) => `Via: ${v}`),
    ...(o.route ?? []).map((r) => `Route: ${r}`),
    'Max-Forwards: 69',
    `From: "Alice" <sip:alice@pbx.example>;tag=${o.fromTag ?? 'from-1'}`,
    `To: <sip:+4930123456@provider.example>${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? 'call-1@pbx.example'}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    'Contact: <sip:alice@192.0.2.1:5060>',
    ...(o.extra ?? []),
    ...(body !== '' ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

/** A response to `req` as the far end would send it. */
export function response(req: SipRequest, status: number, toTag?: string): SipResponse {
  return createResponse(req, status, undefined, toTag);
}
