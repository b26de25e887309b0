import { SipRequest, type SipResponse } from '../message/message.js';

/** RFC 3261 §8.1.1.6: "a value of 70" for Max-Forwards in requests a UA creates. */
export const INITIAL_MAX_FORWARDS = '70';

/** The original request's first Via value, as written (§17.1.1.3, §9.1: only the top Via). */
function topVia(req: SipRequest): string {
  const via = req.getAll('Via')[0];
  if (via === undefined) throw new TypeError(`${req.method} request without a Via header`);
  return via;
}

/** Copies every Route header line of `from` into `to`, in order. */
function copyRoutes(from: SipRequest, to: SipRequest): void {
  for (const h of from.headers) if (h.name === 'Route') to.headers.push({ ...h });
}

/**
 * The ACK a client INVITE transaction sends for a 300-699 response
 * (RFC 3261 §17.1.1.3): "The Request-URI of the ACK request MUST be the same
 * as the request being acknowledged"; Call-ID, From and Request-URI "MUST be
 * equal to the values of those header fields in the request passed to the
 * transport by the client transaction"; "The To header field in the ACK MUST
 * equal the To header field in the response being acknowledged"; "The ACK
 * MUST contain a single Via header field, and this MUST be equal to the top
 * Via header field of the original request"; the CSeq number is the
 * original's with method ACK; Route headers of the original are copied. The
 * body is empty (Content-Length 0 is written by the serializer).
 */
export function buildNon2xxAck(invite: SipRequest, response: SipResponse): SipRequest {
  const ack = new SipRequest('ACK', invite.uri);
  ack.append('Via', topVia(invite));
  copyRoutes(invite, ack);
  ack.append('Max-Forwards', INITIAL_MAX_FORWARDS);
  ack.append('From', invite.get('From') ?? '');
  ack.append('To', response.get('To') ?? invite.get('To') ?? '');
  ack.append('Call-ID', invite.callId);
  ack.append('CSeq', `${invite.cseq.seq} ACK`);
  return ack;
}

/**
 * A CANCEL for a pending INVITE (RFC 3261 §9.1): "The Request-URI, Call-ID,
 * To, the numeric part of CSeq, and From header fields in the CANCEL request
 * MUST be identical to those in the request being cancelled, including tags.
 * A CANCEL constructed by a client MUST have only a single Via header field
 * value matching the top Via value in the request being cancelled." Route
 * headers are copied: "If the request being cancelled contains a Route
 * header field, the CANCEL request MUST include that Route header field's
 * values." Sent with sendRequest(), it gets its own non-INVITE client
 * transaction (same branch, CSeq method CANCEL).
 */
export function buildCancel(invite: SipRequest): SipRequest {
  if (invite.method !== 'INVITE') throw new TypeError(`only INVITE can be cancelled, not ${invite.method}`);
  const cancel = new SipRequest('CANCEL', invite.uri);
  cancel.append('Via', topVia(invite));
  copyRoutes(invite, cancel);
  cancel.append('Max-Forwards', INITIAL_MAX_FORWARDS);
  cancel.append('From', invite.get('From') ?? '');
  cancel.append('To', invite.get('To') ?? '');
  cancel.append('Call-ID', invite.callId);
  cancel.append('CSeq', `${invite.cseq.seq} CANCEL`);
  return cancel;
}
