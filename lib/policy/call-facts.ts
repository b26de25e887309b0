/**
 * The facts of a call that the policy looks at, and the helpers that take
 * them out of raw SIP header values (SPEC "Interface": "The calling identity
 * is P-Asserted-Identity, else From; the called number is the request-URI
 * user, else To. Forwarded calls name the forwarding user in Diversion or
 * History-Info.").
 *
 * Pure string work on header values: no SIP message objects, so the policy
 * does not depend on lib/sip and tests feed captured header text directly.
 */

export type CallDirection = 'inbound' | 'outbound';

export interface CallFacts {
  /** outbound: from the PBX to the provider; inbound: from the provider to the PBX. */
  direction: CallDirection;
  /** User part of P-Asserted-Identity, else of From (not normalised; may be "" or "anonymous"). */
  callingIdentity: string;
  /** User part of the request-URI, else of To. */
  calledNumber: string;
  /** Users named in Diversion, then in History-Info (retargeted entries), in header order. */
  forwardedFrom: string[];
}

/** One header's values: a single (possibly comma-joined) value, all values of a repeated header, or none. */
export type HeaderValues = string | readonly string[] | undefined;

/** Raw header values of an initial INVITE, as the call layer has them. */
export interface CallHeaders {
  direction: CallDirection;
  /** The request-URI, e.g. "sip:+4930123456300@10.0.0.1;user=phone". */
  requestUri?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  pAssertedIdentity?: HeaderValues;
  diversion?: HeaderValues;
  historyInfo?: HeaderValues;
}

/** Builds `CallFacts` from raw header values. */
export function callFactsFromHeaders(h: CallHeaders): CallFacts {
  const callingIdentity = assertedIdentityUser(h.pAssertedIdentity) ?? firstUser(h.from) ?? '';
  const calledNumber = (h.requestUri !== undefined ? uriUser(h.requestUri) : undefined) ?? firstUser(h.to) ?? '';
  const forwardedFrom: string[] = [];
  for (const u of [...diversionUsers(h.diversion), ...historyInfoUsers(h.historyInfo)]) {
    if (!forwardedFrom.includes(u)) forwardedFrom.push(u);
  }
  return { direction: h.direction, callingIdentity, calledNumber, forwardedFrom };
}

/** One entry of a name-addr list: the URI and the header parameters after it. */
export interface AddressEntry {
  displayName: string | undefined;
  uri: string;
  /** Header parameters (after `>`), names lower-cased; a flag parameter has the value "". */
  params: Map<string, string>;
}

/**
 * Splits a header value (or several) into its comma-separated entries,
 * honouring quoted strings (`"Doe, John"`) and `<...>` (URIs may contain commas
 * in `?Reason=...` headers only escaped, but be lenient).
 */
export function splitAddressList(values: HeaderValues): string[] {
  const out: string[] = [];
  for (const value of toArray(values)) {
    let depth = 0;
    let quoted = false;
    let start = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value[i];
      if (quoted) {
        if (c === '\\') i++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === '<') depth++;
      else if (c === '>') depth = Math.max(0, depth - 1);
      else if (c === ',' && depth === 0) {
        push(out, value.slice(start, i));
        start = i + 1;
      }
    }
    push(out, value.slice(start));
  }
  return out;
}

/** Parses one name-addr or addr-spec entry; undefined when it has no URI. */
export function parseAddressEntry(entry: string): AddressEntry | undefined {
  let s = entry.trim();
  let displayName: string | undefined;
  if (s.startsWith('"')) {
    let i = 1;
    let name = '';
    for (; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      name += s[i];
    }
    displayName = name;
    s = s.slice(i + 1).trim();
  }
  let uri: string;
  let rest: string;
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt + 1);
    if (gt < 0) return undefined;
    if (displayName === undefined && lt > 0) displayName = s.slice(0, lt).trim() || undefined;
    uri = s.slice(lt + 1, gt).trim();
    rest = s.slice(gt + 1);
  } else {
    // RFC 3261 §20.10: without angle brackets, everything after ";" is a header parameter.
    const semi = s.indexOf(';');
    uri = (semi >= 0 ? s.slice(0, semi) : s).trim();
    rest = semi >= 0 ? s.slice(semi) : '';
  }
  if (uri === '') return undefined;
  return { displayName, uri, params: parseParams(rest) };
}

/**
 * The user part of a SIP/SIPS URI or the number of a tel URI, percent-decoded,
 * without user parameters (`;phone-context=...`), URI parameters or URI
 * headers (`?Reason=...`); undefined when the URI has no user part.
 */
export function uriUser(uri: string): string | undefined {
  const s = uri.trim().replace(/^<|>$/g, '');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/.exec(s);
  if (m === null) return undefined;
  const scheme = (m[1] ?? '').toLowerCase();
  let rest = m[2] ?? '';
  if (scheme === 'tel') {
    rest = cut(cut(rest, '?'), ';');
  } else if (scheme === 'sip' || scheme === 'sips') {
    const at = rest.lastIndexOf('@', indexOr(rest, '?'));
    if (at < 0) return undefined;
    rest = cut(rest.slice(0, at), ';');
    rest = cut(rest, ':'); // RFC 3261 §19.1.1: userinfo may carry ":password"
  } else {
    return undefined;
  }
  const user = decode(rest).trim();
  return user === '' ? undefined : user;
}

/** The user of the first entry of From/To (or any single name-addr header). */
export function firstUser(values: HeaderValues): string | undefined {
  for (const e of splitAddressList(values)) {
    const entry = parseAddressEntry(e);
    if (entry !== undefined) return uriUser(entry.uri);
  }
  return undefined;
}

/**
 * RFC 3325 §9.1: P-Asserted-Identity carries one or two entries (a SIP/SIPS
 * URI and/or a tel URI). The first entry with a user part wins.
 */
export function assertedIdentityUser(values: HeaderValues): string | undefined {
  for (const e of splitAddressList(values)) {
    const entry = parseAddressEntry(e);
    const user = entry !== undefined ? uriUser(entry.uri) : undefined;
    if (user !== undefined) return user;
  }
  return undefined;
}

/**
 * RFC 5806 §3: each Diversion entry names a diverting party (the most recent
 * diversion first, as the PBX or provider added them). All users, in order.
 */
export function diversionUsers(values: HeaderValues): string[] {
  const out: string[] = [];
  for (const e of splitAddressList(values)) {
    const entry = parseAddressEntry(e);
    const user = entry !== undefined ? uriUser(entry.uri) : undefined;
    if (user !== undefined) out.push(user);
  }
  return out;
}

/**
 * RFC 7044 §4: History-Info lists the targets a request was sent to, ordered
 * by `index` ("1", "1.1", "1.1.1"); the last entry is the current target
 * (this request's own request-URI), every earlier one was retargeted from
 * (forwarded). Returns the users of the retargeted entries in index order;
 * `includeTarget` keeps the last one too.
 */
export function historyInfoUsers(values: HeaderValues, options: { includeTarget?: boolean } = {}): string[] {
  const entries: Array<{ user: string; index: number[] | undefined; pos: number }> = [];
  const list = splitAddressList(values);
  list.forEach((e, pos) => {
    const entry = parseAddressEntry(e);
    if (entry === undefined) return;
    const user = uriUser(entry.uri);
    if (user === undefined) return;
    const idx = entry.params.get('index');
    const index = idx !== undefined && /^\d+(?:\.\d+)*$/.test(idx) ? idx.split('.').map(Number) : undefined;
    entries.push({ user, index, pos });
  });
  entries.sort((a, b) => compareIndex(a.index, b.index) || a.pos - b.pos);
  const kept = options.includeTarget === true ? entries : entries.slice(0, -1);
  return kept.map((e) => e.user);
}

function compareIndex(a: number[] | undefined, b: number[] | undefined): number {
  if (a === undefined || b === undefined) return 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function parseParams(rest: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of rest.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const name = (eq >= 0 ? p.slice(0, eq) : p).trim().toLowerCase();
    const value = eq >= 0 ? p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1') : '';
    params.set(name, value);
  }
  return params;
}

function toArray(values: HeaderValues): readonly string[] {
  if (values === undefined) return [];
  return typeof values === 'string' ? [values] : values;
}

function push(out: string[], s: string): void {
  const t = s.trim();
  if (t !== '') out.push(t);
}

function cut(s: string, ch: string): string {
  const i = s.indexOf(ch);
  return i >= 0 ? s.slice(0, i) : s;
}

function indexOr(s: string, ch: string): number {
  const i = s.indexOf(ch);
  return i >= 0 ? i : s.length;
}

function decode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
