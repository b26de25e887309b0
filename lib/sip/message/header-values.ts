import { ParseError } from './errors.js';
import { parseHostPort, parseUri, type Uri } from './uri.js';

/**
 * Structured views of the header values the stack routes on. Values are kept
 * as text in the message; these functions parse them on demand.
 */

const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

export function isToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/**
 * Splits a header value at top-level commas (RFC 3261 §7.3.1), ignoring commas
 * inside quoted strings and <...> URIs.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++; // quoted-pair
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) inAngle = true;
    else if (c === 0x3e) inAngle = false;
    else if (c === 0x2c && !inAngle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (inQuote) throw new ParseError(`unterminated quoted string in ${JSON.stringify(value)}`);
  out.push(value.slice(start).trim());
  return out.filter((s) => s !== '');
}

/** Generic `;name=value` parameters; quoted values keep their quotes. */
export type Params = Map<string, string | null>;

export function parseParams(text: string, context: string): Params {
  const params: Params = new Map();
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    if (text[i] !== ';') throw new ParseError(`expected ';' in ${JSON.stringify(context)}`);
    i++;
    let j = i;
    while (j < text.length && text[j] !== '=' && text[j] !== ';') j++;
    const name = text.slice(i, j).trim().toLowerCase();
    if (!isToken(name)) throw new ParseError(`bad parameter name ${JSON.stringify(name)} in ${JSON.stringify(context)}`);
    let value: string | null = null;
    if (text[j] === '=') {
      j++;
      while (j < text.length && /[ \t]/.test(text[j]!)) j++;
      if (text[j] === '"') {
        const end = endOfQuoted(text, j, context);
        value = text.slice(j, end);
        j = end;
      } else {
        const k = j;
        while (j < text.length && text[j] !== ';') j++;
        value = text.slice(k, j).trim();
        // gen-value = token / host / quoted-string
        if (!/^[A-Za-z0-9\-.!%*_+`'~:[\]]+$/.test(value)) {
          throw new ParseError(`bad parameter value ${JSON.stringify(value)} in ${JSON.stringify(context)}`);
        }
      }
    }
    params.set(name, value);
    i = j;
  }
  return params;
}

/** Index just past the closing quote of the quoted string starting at `start`. */
function endOfQuoted(text: string, start: number, context: string): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '"') return i + 1;
  }
  throw new ParseError(`unterminated quoted string in ${JSON.stringify(context)}`);
}

export function formatParams(params: Params): string {
  let s = '';
  for (const [k, v] of params) s += v === null ? `;${k}` : `;${k}=${v}`;
  return s;
}

/** Removes the quotes and quoted-pair escapes of a quoted string (RFC 3261 §25.1). */
export function unquote(s: string): string {
  if (s.length < 2 || s[0] !== '"' || s[s.length - 1] !== '"') return s;
  return s.slice(1, -1).replace(/\\(.)/g, '$1');
}

export function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/** name-addr / addr-spec with header parameters: From, To, Contact, Route, P-Asserted-Identity, ... */
export interface NameAddr {
  /** Display name, unquoted; undefined when absent. */
  displayName: string | undefined;
  uri: Uri;
  /** The URI text exactly as written. */
  uriText: string;
  params: Params;
}

export function parseNameAddr(value: string): NameAddr {
  const v = value.trim();
  let displayName: string | undefined;
  let uriText: string;
  let rest: string;
  const lt = findAngle(v);
  if (lt >= 0) {
    const before = v.slice(0, lt).trim();
    if (before !== '') {
      if (before.startsWith('"')) {
        const end = endOfQuoted(before, 0, value);
        if (end !== before.length) throw new ParseError(`junk after display name in ${JSON.stringify(value)}`);
        displayName = unquote(before);
      } else {
        // display-name = *(token LWS); RFC 4475 §3.1.1.6 allows unquoted tokens.
        if (!before.split(/\s+/).every(isToken)) throw new ParseError(`bad display name in ${JSON.stringify(value)}`);
        displayName = before;
      }
    }
    const gt = v.indexOf('>', lt);
    if (gt < 0) throw new ParseError(`unterminated <URI> in ${JSON.stringify(value)}`);
    uriText = v.slice(lt + 1, gt);
    rest = v.slice(gt + 1);
  } else {
    // addr-spec without brackets: parameters after ';' belong to the header (RFC 3261 §20.10).
    const semi = v.indexOf(';');
    uriText = (semi >= 0 ? v.slice(0, semi) : v).trim();
    rest = semi >= 0 ? v.slice(semi) : '';
    if (/[\s,?]/.test(uriText)) throw new ParseError(`bad addr-spec ${JSON.stringify(value)}`);
  }
  const uri = parseUri(uriText);
  return { displayName, uri, uriText, params: parseParams(rest, value) };
}

/** Position of the '<' that opens the URI, skipping a quoted display name. */
function findAngle(v: string): number {
  let inQuote = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (inQuote) {
      if (c === '\\') i++;
      else if (c === '"') inQuote = false;
    } else if (c === '"') inQuote = true;
    else if (c === '<') return i;
  }
  return -1;
}

export function formatNameAddr(na: { displayName?: string | undefined; uriText: string; params?: Params }): string {
  const dn = na.displayName !== undefined && na.displayName !== '' ? `${quote(na.displayName)} ` : '';
  return `${dn}<${na.uriText}>${na.params ? formatParams(na.params) : ''}`;
}

/** One Via header value (RFC 3261 §20.42). */
export interface Via {
  protocol: string;
  transport: string;
  host: string;
  port: number | undefined;
  params: Params;
  branch: string | undefined;
}

export function parseVia(value: string): Via {
  const m = /^\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^;\s]+(?:\s*:\s*\d+)?)\s*(.*)$/s.exec(value);
  if (!m) throw new ParseError(`bad Via ${JSON.stringify(value)}`);
  const { host, port } = parseHostPort(m[4]!.replace(/\s+/g, ''), value);
  const params = parseParams(m[5]!, value);
  const branch = params.get('branch');
  return {
    protocol: `${m[1]!.toUpperCase()}/${m[2]}`,
    transport: m[3]!.toUpperCase(),
    host,
    port,
    params,
    branch: branch === null || branch === undefined ? undefined : branch,
  };
}

export function formatVia(via: Via): string {
  return `${via.protocol}/${via.transport} ${via.host}${via.port !== undefined ? `:${via.port}` : ''}${formatParams(via.params)}`;
}

export interface CSeq {
  seq: number;
  method: string;
}

export function parseCSeq(value: string): CSeq {
  const m = /^\s*(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*$/.exec(value);
  if (!m) throw new ParseError(`bad CSeq ${JSON.stringify(value)}`);
  const seq = Number(m[1]);
  // RFC 3261 §8.1.1.5: the sequence number MUST be expressible as a 32-bit unsigned integer.
  if (seq > 0xffffffff) throw new ParseError(`CSeq number out of range ${JSON.stringify(value)}`);
  return { seq, method: m[2]! };
}
