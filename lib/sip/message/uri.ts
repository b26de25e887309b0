import { ParseError } from './errors.js';

/**
 * A SIP or SIPS URI (RFC 3261 §19.1). Other schemes (tel:, urn:, http:) are
 * kept as opaque absolute URIs: a B2BUA carries them but never routes on them.
 */
export interface SipUri {
  scheme: 'sip' | 'sips';
  user: string | undefined;
  password: string | undefined;
  /** Host as written, IPv6 references keep their brackets: `[::1]`. */
  host: string;
  port: number | undefined;
  /** uri-parameters in order; a valueless parameter has value `null`. */
  params: Map<string, string | null>;
  /** The raw `?hname=hvalue&...` part without the `?`, or '' */
  headers: string;
}

export interface OpaqueUri {
  scheme: string;
  raw: string;
}

export type Uri = SipUri | OpaqueUri;

export function isSipUri(uri: Uri): uri is SipUri {
  return uri.scheme === 'sip' || uri.scheme === 'sips';
}

// RFC 3261 §25.1: hostname / IPv4address / IPv6reference
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?)$/;
// user = 1*( unreserved / escaped / user-unreserved ); we also accept the
// characters seen in practice (RFC 4475 §3.1.1.3 uses escapes in the user part).
const USER_RE = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;
const PASSWORD_RE = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*$/;
const PARAM_RE = /^(?:[A-Za-z0-9\-_.!~*'()[\]/:&+$]|%[0-9A-Fa-f]{2})+$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;

/** Parses a URI; throws ParseError on anything RFC 3261 §25.1 does not allow. */
export function parseUri(text: string): Uri {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ParseError(`URI without scheme: ${JSON.stringify(text)}`);
  const scheme = text.slice(0, colon).toLowerCase();
  if (!SCHEME_RE.test(scheme)) throw new ParseError(`bad URI scheme: ${JSON.stringify(text)}`);
  if (/[\s<>"]/.test(text)) throw new ParseError(`URI contains whitespace or delimiters: ${JSON.stringify(text)}`);
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (colon === text.length - 1) throw new ParseError(`empty URI: ${JSON.stringify(text)}`);
    return { scheme, raw: text };
  }
  let rest = text.slice(colon + 1);
  let user: string | undefined;
  let password: string | undefined;
  // The userinfo ends at the first '@'; it may itself hold '?', ';' and ','
  // (RFC 4475 §3.1.1.2), so split it off before looking for headers.
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pc = userinfo.indexOf(':');
    user = pc >= 0 ? userinfo.slice(0, pc) : userinfo;
    if (pc >= 0) password = userinfo.slice(pc + 1);
    if (!USER_RE.test(user)) throw new ParseError(`bad user part in URI: ${JSON.stringify(text)}`);
    if (password !== undefined && !PASSWORD_RE.test(password)) throw new ParseError(`bad password in URI: ${JSON.stringify(text)}`);
  }
  let headers = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    headers = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const semi = rest.indexOf(';');
  const hostport = semi >= 0 ? rest.slice(0, semi) : rest;
  const paramText = semi >= 0 ? rest.slice(semi + 1) : '';
  const { host, port } = parseHostPort(hostport, text);
  const params = new Map<string, string | null>();
  if (semi >= 0) {
    for (const p of paramText.split(';')) {
      const eq = p.indexOf('=');
      const name = (eq >= 0 ? p.slice(0, eq) : p).toLowerCase();
      const value = eq >= 0 ? p.slice(eq + 1) : null;
      if (!PARAM_RE.test(name) || (value !== null && !PARAM_RE.test(value))) {
        throw new ParseError(`bad URI parameter ${JSON.stringify(p)} in ${JSON.stringify(text)}`);
      }
      params.set(name, value);
    }
  }
  return { scheme, user, password, host, port, params, headers };
}

/** Splits `host[:port]`, with IPv6 references in brackets (RFC 3261 §19.1.1). */
export function parseHostPort(hostport: string, context = hostport): { host: string; port: number | undefined } {
  let host = hostport;
  let port: number | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new ParseError(`unterminated IPv6 reference in ${JSON.stringify(context)}`);
    host = hostport.slice(0, close + 1);
    const after = hostport.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw new ParseError(`bad host:port ${JSON.stringify(context)}`);
      port = parsePort(after.slice(1), context);
    }
  } else {
    const c = hostport.lastIndexOf(':');
    if (c >= 0) {
      host = hostport.slice(0, c);
      port = parsePort(hostport.slice(c + 1), context);
    }
  }
  if (!HOST_RE.test(host)) throw new ParseError(`bad host ${JSON.stringify(host)} in ${JSON.stringify(context)}`);
  return { host, port };
}

function parsePort(text: string, context: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new ParseError(`bad port ${JSON.stringify(text)} in ${JSON.stringify(context)}`);
  const port = Number(text);
  if (port > 65535) throw new ParseError(`port out of range in ${JSON.stringify(context)}`);
  return port;
}

export function formatUri(uri: Uri): string {
  if (!isSipUri(uri)) return uri.raw;
  let s = `${uri.scheme}:`;
  if (uri.user !== undefined) {
    s += uri.user;
    if (uri.password !== undefined) s += `:${uri.password}`;
    s += '@';
  }
  s += uri.host;
  if (uri.port !== undefined) s += `:${uri.port}`;
  for (const [k, v] of uri.params) s += v === null ? `;${k}` : `;${k}=${v}`;
  if (uri.headers !== '') s += `?${uri.headers}`;
  return s;
}

/** Host without IPv6 brackets, as node:net and node:dgram want it. */
export function bareHost(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** Decodes %HH escapes of a user part (RFC 3261 §19.1.4 compares unescaped). */
export function unescapeUser(user: string): string {
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}
