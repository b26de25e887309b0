import type { SipMessage, SipRequest } from '../message/message.js';
import type { Via } from '../message/header-values.js';

/**
 * The keys under which transactions are found (RFC 3261 §17.1.3, §17.2.3).
 * Branches and methods are tokens, so '|' cannot occur inside them; the
 * RFC 2543 key holds free text and is JSON-encoded instead.
 */

/** RFC 3261 §8.1.1.7: "The branch ID inserted by an element compliant with this specification MUST always begin with the characters 'z9hG4bK'." */
export const MAGIC_COOKIE = 'z9hG4bK';

export function hasMagicCookie(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(MAGIC_COOKIE) && branch.length > MAGIC_COOKIE.length;
}

/**
 * §17.1.3: a response matches a client transaction when "the response has the same value of
 * the branch parameter in the top Via header field as the branch parameter in the top Via
 * header field of the request that created the transaction" and "the method parameter in the
 * CSeq header field matches the method of the request that created the transaction" (so a
 * CANCEL, which shares the INVITE's branch, has a transaction of its own).
 */
export function clientKey(branch: string, method: string): string {
  return `${branch}|${method}`;
}

/** The client key a message's top Via and CSeq point at; undefined without a branch. */
export function clientKeyOf(msg: SipMessage): string | undefined {
  const branch = msg.via.branch;
  return branch === undefined ? undefined : clientKey(branch, msg.cseq.method);
}

/** sent-by (§18.2.1): host and port as written in the Via, host case-insensitive. */
function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

/** The first Via value as written, whitespace runs collapsed. */
function topViaText(req: SipRequest): string {
  return (req.getAll('Via')[0] ?? '').replace(/\s+/g, ' ');
}

/**
 * The key of the server transaction `req` belongs to, looked up as if its
 * method were `method` (ACK and CANCEL look up the INVITE transaction).
 *
 * §17.2.3 with the magic cookie: "1. the branch parameter in the request is equal to the one
 * in the top Via header field of the request that created the transaction, and 2. the sent-by
 * value in the top Via of the request is equal to the one in the request that created the
 * transaction, and 3. the method of the request matches the one that created the transaction,
 * except for ACK, where the method of the request that created the transaction is INVITE."
 *
 * Without the cookie (RFC 2543 peers): "a request is matched to a transaction if the
 * Request-URI, To tag, From tag, Call-ID, CSeq (including the method), and top Via header
 * field match those of the request that created the transaction." ACK is matched by
 * legacyAckKey instead, because its To tag is that of the response.
 */
export function serverKey(req: SipRequest, method: string): string {
  const via = req.via;
  if (hasMagicCookie(via.branch)) return `${via.branch}|${sentBy(via)}|${method}`;
  return JSON.stringify(['2543', req.uri, req.toTag ?? '', req.fromTag ?? '', req.callId, req.cseq.seq, method, topViaText(req)]);
}

/**
 * §17.2.3 for RFC 2543 ACKs: "the ACK request matches a transaction if the Request-URI, From
 * tag, Call-ID, CSeq number (not the method), and top Via header field match those of the
 * INVITE request which created the transaction, and the To tag of the ACK matches the To tag
 * of the response sent by the server transaction." This key covers all but the To tag.
 */
export function legacyAckKey(req: SipRequest): string {
  return JSON.stringify(['2543-ack', req.uri, req.fromTag ?? '', req.callId, req.cseq.seq, topViaText(req)]);
}
