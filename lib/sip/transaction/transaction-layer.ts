import type { Clock } from '../../util/clock.js';
import { InvalidStateError, ParseError } from '../message/errors.js';
import type { SipRequest } from '../message/message.js';
import type { Address, Inbound, MessageSender } from '../transport/transport.js';
import type { ClientTransactionDelegate } from './delegates.js';
import { InviteClientTransaction } from './invite-client-transaction.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import { clientKey, clientKeyOf, hasMagicCookie, legacyAckKey, serverKey } from './matching.js';
import { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import { resolveTimerConfig, type TimerConfig } from './timers.js';
import type { TransactionContext } from './transaction.js';

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/** What the layer above (the UA core) receives from the transaction layer. */
export interface TransactionUser {
  /** A new request (not ACK, not CANCEL) with the server transaction created for it; INVITE got 100 Trying already. */
  onRequest(tx: ServerTransaction, inbound: Inbound): void;
  /** An ACK for a 2xx: it matched no transaction, or matched one in Accepted (RFC 6026 §7.1). */
  onAck(inbound: Inbound): void;
  /**
   * A new CANCEL with its own server transaction, and the INVITE server transaction it
   * matches per §9.2 (undefined: answer the CANCEL with 481). The TU answers both.
   */
  onCancel(cancelTx: NonInviteServerTransaction, inviteTx: InviteServerTransaction | undefined, inbound: Inbound): void;
  /**
   * A response matching no client transaction, e.g. a 2xx retransmission after Timer M.
   * RFC 6026 §7.2: such responses are "simply dropped"; the TU may log or count them.
   */
  onStrayResponse(inbound: Inbound): void;
}

/** Keys a request needs for matching, computed before any TU code runs (§17.2.3). */
interface RequestKeys {
  /** The key of the request's own transaction (for ACK: of the INVITE). */
  own: string;
  /** CANCEL only: the key of the INVITE transaction it cancels (§9.2). */
  invite: string | undefined;
  /** RFC 2543 ACK or INVITE: the key of legacy ACK matching. */
  legacyAck: string | undefined;
}

/**
 * The RFC 3261 §17 transaction layer: creates client transactions for
 * outgoing requests, matches incoming responses (§17.1.3) and requests
 * (§17.2.3) to transactions, and hands everything else to the TU.
 */
export class TransactionLayer {
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  /** RFC 2543 INVITE server transactions by legacyAckKey, for ACKs without the magic cookie. */
  private readonly legacyInvites = new Map<string, Set<InviteServerTransaction>>();
  private readonly context: TransactionContext;
  private closed = false;

  constructor(sender: MessageSender, clock: Clock, timers: Partial<TimerConfig> | undefined, private readonly tu: TransactionUser) {
    this.context = { sender, clock, timers: resolveTimerConfig(timers) };
  }

  get timers(): TimerConfig {
    return this.context.timers;
  }

  /** Live transactions, client and server. */
  get size(): number {
    return this.clients.size + this.servers.size;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get serverCount(): number {
    return this.servers.size;
  }

  /**
   * Sends a request through a new client transaction. The request carries its
   * top Via with an RFC 3261 branch already (§8.1.1.7); CANCEL reuses the
   * INVITE's branch and still gets a transaction of its own (§9.1).
   */
  sendRequest(req: SipRequest, destination: Address, delegate: ClientTransactionDelegate): ClientTransaction {
    if (this.closed) throw new InvalidStateError('transaction layer is closed');
    if (req.method === 'ACK') throw new TypeError('ACK has no client transaction: use sendAck()');
    const branch = req.via.branch;
    if (!hasMagicCookie(branch)) throw new TypeError(`top Via branch must start with z9hG4bK, got ${String(branch)}`);
    if (req.cseq.method !== req.method) throw new TypeError(`CSeq method ${req.cseq.method} does not match ${req.method}`);
    const id = clientKey(branch, req.method);
    if (this.clients.has(id)) throw new InvalidStateError(`a client transaction for ${id} exists already`);
    const tx =
      req.method === 'INVITE'
        ? new InviteClientTransaction(id, req, destination, this.context, delegate)
        : new NonInviteClientTransaction(id, req, destination, this.context, delegate);
    this.clients.set(id, tx);
    tx.onStateChange((state) => {
      if (state === 'terminated' && this.clients.get(id) === tx) this.clients.delete(id);
    });
    tx.start();
    return tx;
  }

  /**
   * Sends an ACK for a 2xx outside any transaction: RFC 3261 §17.1.1.3 / §13.2.2.4, the UAC
   * core owns it and re-sends it for each 2xx retransmission. (The ACK for a non-2xx response
   * is generated by the INVITE client transaction itself.)
   */
  sendAck(ack: SipRequest, destination: Address, onError?: (err: Error) => void): void {
    if (this.closed) throw new InvalidStateError('transaction layer is closed');
    if (ack.method !== 'ACK') throw new TypeError(`sendAck() sends ACK, not ${ack.method}`);
    this.context.sender.send(ack, destination, onError);
  }

  /** An incoming response: to its client transaction (§17.1.3), or to the TU as a stray. */
  receiveResponse(inbound: Inbound): void {
    const res = inbound.message;
    if (this.closed || res.kind !== 'response') return;
    let key: string | undefined;
    try {
      key = clientKeyOf(res);
    } catch (err) {
      if (err instanceof ParseError) return; // the parser lets no such message through; be safe anyway
      throw err;
    }
    const tx = key === undefined ? undefined : this.clients.get(key);
    if (tx !== undefined) tx.receiveResponse(res, inbound);
    else this.tu.onStrayResponse(inbound);
  }

  /** An incoming request: absorbed by its server transaction, or a new one for the TU (§17.2.3). */
  receiveRequest(inbound: Inbound): void {
    const req = inbound.message;
    if (this.closed || req.kind !== 'request') return;
    const keys = requestKeys(req);
    if (keys === undefined) return;
    if (req.method === 'ACK') {
      // An ACK matching an INVITE transaction in Completed confirms it; any other ACK (for a
      // 2xx, §13.3.1.4, or matching one in Accepted, RFC 6026 §7.1) belongs to the TU.
      const tx = this.inviteForAck(req, keys);
      if (tx === undefined || tx.receiveAck()) this.tu.onAck(inbound);
      return;
    }
    const existing = this.servers.get(keys.own);
    if (existing !== undefined) {
      existing.receiveRequest();
      return;
    }
    if (req.method === 'CANCEL') {
      // §9.2: the CANCEL is matched to the INVITE with the §17.2.3 rules but the method, and
      // "a CANCEL request ... is its own transaction" (a non-INVITE server transaction).
      const cancelTx = new NonInviteServerTransaction(keys.own, req, inbound, this.context);
      this.track(cancelTx, undefined);
      const invite = keys.invite === undefined ? undefined : this.servers.get(keys.invite);
      this.tu.onCancel(cancelTx, invite instanceof InviteServerTransaction ? invite : undefined, inbound);
      return;
    }
    if (req.method === 'INVITE') {
      const tx = new InviteServerTransaction(keys.own, req, inbound, this.context);
      this.track(tx, keys.legacyAck);
      tx.start();
      this.tu.onRequest(tx, inbound);
      return;
    }
    const tx = new NonInviteServerTransaction(keys.own, req, inbound, this.context);
    this.track(tx, undefined);
    this.tu.onRequest(tx, inbound);
  }

  /** Ends every transaction and stops all their timers; later input is ignored. Idempotent. */
  close(): void {
    this.closed = true;
    for (const tx of [...this.clients.values()]) tx.close();
    for (const tx of [...this.servers.values()]) tx.close();
    this.clients.clear();
    this.servers.clear();
    this.legacyInvites.clear();
  }

  /** The INVITE server transaction an ACK acknowledges, if any (§17.2.3). */
  private inviteForAck(ack: SipRequest, keys: RequestKeys): InviteServerTransaction | undefined {
    if (keys.legacyAck === undefined) {
      const tx = this.servers.get(keys.own);
      return tx instanceof InviteServerTransaction ? tx : undefined;
    }
    // RFC 2543: "... and the To tag of the ACK matches the To tag of the response sent by the server transaction."
    for (const tx of this.legacyInvites.get(keys.legacyAck) ?? []) {
      const res = tx.lastResponse;
      if (res !== undefined && res.status >= 200 && res.toTag === ack.toTag) return tx;
    }
    return undefined;
  }

  /** Registers a server transaction; it removes itself when it terminates. */
  private track(tx: ServerTransaction, legacyAck: string | undefined): void {
    this.servers.set(tx.id, tx);
    if (legacyAck !== undefined && tx instanceof InviteServerTransaction) {
      let set = this.legacyInvites.get(legacyAck);
      if (set === undefined) this.legacyInvites.set(legacyAck, (set = new Set()));
      set.add(tx);
    }
    tx.onStateChange((state: string) => {
      if (state !== 'terminated') return;
      if (this.servers.get(tx.id) === tx) this.servers.delete(tx.id);
      if (legacyAck === undefined || !(tx instanceof InviteServerTransaction)) return;
      const set = this.legacyInvites.get(legacyAck);
      set?.delete(tx);
      if (set?.size === 0) this.legacyInvites.delete(legacyAck);
    });
  }
}

/** Computes the matching keys of a request; undefined when its Via or CSeq cannot be read. */
function requestKeys(req: SipRequest): RequestKeys | undefined {
  try {
    const legacy = !hasMagicCookie(req.via.branch);
    switch (req.method) {
      case 'ACK':
        return { own: serverKey(req, 'INVITE'), invite: undefined, legacyAck: legacy ? legacyAckKey(req) : undefined };
      case 'CANCEL':
        return { own: serverKey(req, 'CANCEL'), invite: serverKey(req, 'INVITE'), legacyAck: undefined };
      case 'INVITE':
        return { own: serverKey(req, 'INVITE'), invite: undefined, legacyAck: legacy ? legacyAckKey(req) : undefined };
      default:
        return { own: serverKey(req, req.method), invite: undefined, legacyAck: undefined };
    }
  } catch (err) {
    // Network input never throws past the layer; the parser rejects such messages before.
    if (err instanceof ParseError) return undefined;
    throw err;
  }
}
