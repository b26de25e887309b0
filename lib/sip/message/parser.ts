import { ParseError } from './errors.js';
import { canonicalHeaderName } from './header-names.js';
import { isToken, parseCSeq, parseNameAddr, parseVia } from './header-values.js';
import { SipRequest, SipResponse, type SipMessage } from './message.js';
import { isSipUri, parseUri } from './uri.js';

/** Largest message accepted on any transport (UDP cannot carry more anyway). */
export const MAX_MESSAGE_BYTES = 65535;

/**
 * A ParseError that still carries what could be read of a request, so that
 * the UA can answer 400/505 when the headers needed for a response are intact
 * (RFC 3261 §8.2.6), and drop the message otherwise.
 */
export class MessageParseError extends ParseError {
  constructor(error: ParseError, readonly partial: SipRequest | undefined) {
    super(error.reason, error.offset, error.status);
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');

/** Where the header section ends: index of the first body byte, or -1. */
export function findHeaderEnd(buf: Buffer, from = 0): number {
  const a = buf.indexOf(CRLFCRLF, from);
  const b = buf.indexOf(LFLF, from);
  if (a < 0 && b < 0) return -1;
  if (a >= 0 && (b < 0 || a < b)) return a + 4;
  return b + 2;
}

/**
 * Parses one SIP message from a datagram or a framed stream message
 * (RFC 3261 §7). With `datagram` true, bytes beyond Content-Length are
 * discarded and a Content-Length larger than the rest is an error (§18.3).
 */
export function parseMessage(buf: Buffer, datagram = true): SipMessage {
  if (buf.length > MAX_MESSAGE_BYTES) throw new ParseError('message too large', MAX_MESSAGE_BYTES, 513);
  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  const headerEnd = findHeaderEnd(buf, start);
  const headText = buf.toString('utf8', start, headerEnd < 0 ? buf.length : headerEnd);
  const lines = unfold(headText.split(/\r?\n/));
  const first = lines.shift() ?? '';
  let msg: SipMessage;
  let startError: MessageParseError | undefined;
  try {
    msg = parseStartLine(first);
  } catch (err) {
    // A request with a bad request line (RFC 4475 §3.1.2.8-10, .16) is still answered
    // when its headers can be read: keep going to collect them, then fail.
    if (!(err instanceof MessageParseError) || /^SIP\//i.test(first)) throw err;
    startError = err;
    msg = err.partial ?? new SipRequest(first.split(' ')[0] || 'UNKNOWN', '');
  }
  const partial = msg.kind === 'request' ? msg : undefined;
  try {
    for (const line of lines) {
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ParseError(`header line without name: ${JSON.stringify(line.slice(0, 80))}`);
      const rawName = line.slice(0, colon).trim();
      if (!isToken(rawName)) throw new ParseError(`bad header name ${JSON.stringify(rawName)}`);
      msg.headers.push({ name: canonicalHeaderName(rawName), value: line.slice(colon + 1).trim() });
    }
    const bodyStart = headerEnd < 0 ? buf.length : headerEnd;
    msg.body = extractBody(msg, buf, bodyStart, datagram);
    if (startError !== undefined) throw startError;
    validate(msg);
    return msg;
  } catch (err) {
    if (err === startError && startError !== undefined) throw new MessageParseError(startError, partial);
    if (err instanceof ParseError) throw new MessageParseError(err, partial);
    throw err;
  }
}

/** RFC 3261 §7.3.1: a line starting with SP or HTAB continues the previous header. */
function unfold(raw: string[]): string[] {
  const out: string[] = [];
  for (const line of raw) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length > 1) {
      out[out.length - 1] += ` ${line.trim()}`;
    } else out.push(line);
  }
  return out;
}

const STATUS_LINE = /^SIP\/(\d+\.\d+) (\d{3}) (.*)$/i;
const REQUEST_LINE = /^([^ ]+) ([^ ]+) SIP\/(\d+\.\d+)$/i;

function parseStartLine(line: string): SipMessage {
  if (/^SIP\//i.test(line)) {
    const m = STATUS_LINE.exec(line);
    if (!m) throw new MessageParseError(new ParseError(`bad status line ${JSON.stringify(line.slice(0, 80))}`, 0), undefined);
    const status = Number(m[2]);
    if (m[1] !== '2.0' || status < 100 || status > 699) {
      throw new MessageParseError(new ParseError(`bad status line ${JSON.stringify(line.slice(0, 80))}`, 0), undefined);
    }
    return new SipResponse(status, m[3]!);
  }
  // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single spaces, no trailing LWS (RFC 4475 §3.1.2.7-9).
  const m = REQUEST_LINE.exec(line);
  if (!m || !isToken(m[1]!)) throw new MessageParseError(new ParseError(`bad request line ${JSON.stringify(line.slice(0, 80))}`, 0), undefined);
  const req = new SipRequest(m[1]!, m[2]!);
  if (m[3] !== '2.0') {
    // RFC 4475 §3.1.2.15: an unsupported version is answered with 505.
    throw new MessageParseError(new ParseError(`unsupported SIP version ${m[3]}`, 0, 505), req);
  }
  return req;
}

function extractBody(msg: SipMessage, buf: Buffer, bodyStart: number, datagram: boolean): Buffer {
  const cl = msg.get('Content-Length');
  const available = buf.length - bodyStart;
  if (cl === undefined) {
    // RFC 3261 §18.3: on a stream transport Content-Length MUST be present; the framer ensures it.
    return buf.subarray(bodyStart);
  }
  if (!/^\d{1,10}$/.test(cl)) throw new ParseError(`bad Content-Length ${JSON.stringify(cl)}`);
  const len = Number(cl);
  if (len > available) throw new ParseError(`Content-Length ${len} larger than the ${available} body bytes received`);
  if (!datagram && len !== available) throw new ParseError(`Content-Length ${len} does not match body of ${available} bytes`);
  return buf.subarray(bodyStart, bodyStart + len);
}

const SINGLE_VALUED = ['Call-ID', 'CSeq', 'From', 'To', 'Max-Forwards', 'Content-Length'];

/** The checks every element makes before acting on a message (RFC 3261 §8.2, §16.3, §18.3). */
function validate(msg: SipMessage): void {
  for (const name of ['Call-ID', 'CSeq', 'From', 'To', 'Via']) {
    if (!msg.has(name)) throw new ParseError(`missing ${name} header`);
  }
  for (const name of SINGLE_VALUED) {
    if (msg.headers.filter((h) => h.name === name).length > 1) throw new ParseError(`${name} appears more than once`);
  }
  if (msg.callId === '' || /\s/.test(msg.callId)) throw new ParseError(`bad Call-ID ${JSON.stringify(msg.callId)}`);
  const cseq = parseCSeq(msg.get('CSeq')!);
  for (const v of msg.getAll('Via')) parseVia(v);
  parseNameAddr(msg.get('From')!);
  parseNameAddr(msg.get('To')!);
  for (const name of ['Contact', 'Route', 'Record-Route']) {
    for (const v of msg.getAll(name)) if (!(name === 'Contact' && v === '*')) parseNameAddr(v);
  }
  const mf = msg.get('Max-Forwards');
  if (mf !== undefined && (!/^\d{1,10}$/.test(mf) || Number(mf) > 255)) throw new ParseError(`bad Max-Forwards ${JSON.stringify(mf)}`);
  // RFC 3261 §20.17: SIP-date is the RFC 1123 form and always GMT (RFC 4475 §3.1.2.12).
  const date = msg.get('Date');
  if (date !== undefined && !/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(date)) {
    throw new ParseError(`bad Date ${JSON.stringify(date)}`);
  }
  const expires = msg.get('Expires');
  if (expires !== undefined && !/^\d{1,10}$/.test(expires)) throw new ParseError(`bad Expires ${JSON.stringify(expires)}`);
  if (msg.kind === 'request') {
    // RFC 3261 §8.1.1.5 / RFC 4475 §3.1.2.16: CSeq method must match the request method.
    if (cseq.method !== msg.method) throw new ParseError(`CSeq method ${cseq.method} does not match ${msg.method}`);
    const ruri = parseUri(msg.uri);
    // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.10).
    if (isSipUri(ruri) && ruri.headers !== '') throw new ParseError('Request-URI must not contain headers');
  }
  for (const v of msg.getAll('Content-Type')) {
    if (!/^[A-Za-z0-9\-.!%*_+`'~]+\s*\/\s*[A-Za-z0-9\-.!%*_+`'~]+\s*(;.*)?$/s.test(v)) throw new ParseError(`bad Content-Type ${JSON.stringify(v)}`);
  }
}
