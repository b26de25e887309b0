/**
 * Canonical header names and the RFC 3261 §7.3.3 compact forms.
 * Header names are case-insensitive (§7.3.1); we store them canonically.
 */
const COMPACT: Record<string, string> = {
  i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type',
  f: 'From', s: 'Subject', k: 'Supported', t: 'To', v: 'Via', o: 'Event', r: 'Refer-To',
  b: 'Referred-By', u: 'Allow-Events', x: 'Session-Expires', y: 'Identity', a: 'Accept-Contact',
  j: 'Reject-Contact', d: 'Request-Disposition',
};

const CANONICAL = new Map<string, string>(
  [
    'Accept', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Authentication-Info',
    'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition', 'Content-Encoding',
    'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Error-Info', 'Expires',
    'From', 'In-Reply-To', 'Max-Forwards', 'MIME-Version', 'Min-Expires', 'Organization', 'Priority',
    'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'Record-Route', 'Reply-To',
    'Require', 'Retry-After', 'Route', 'Server', 'Subject', 'Supported', 'Timestamp', 'To',
    'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate', 'RAck', 'RSeq',
    'P-Asserted-Identity', 'P-Preferred-Identity', 'Privacy', 'Diversion', 'History-Info',
    'Session-Expires', 'Min-SE', 'Event', 'Allow-Events', 'Refer-To', 'Referred-By', 'Reason',
    'Path', 'Service-Route', 'Identity', 'Subscription-State',
  ].map((n) => [n.toLowerCase(), n]),
);

/** Returns the canonical spelling of a header name (compact forms expanded). */
export function canonicalHeaderName(raw: string): string {
  const lower = raw.toLowerCase();
  if (lower.length === 1) {
    const long = COMPACT[lower];
    if (long !== undefined) return long;
  }
  const known = CANONICAL.get(lower);
  if (known !== undefined) return known;
  // Unknown extension header: keep a stable capitalisation so lookups are case-insensitive.
  return lower.replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
}

/**
 * Headers whose values may be comma-separated lists (RFC 3261 §7.3.1).
 * Authentication headers are not lists of that kind: their commas separate parameters.
 */
export const LIST_HEADERS = new Set([
  'Via', 'Route', 'Record-Route', 'Contact', 'Allow', 'Supported', 'Require', 'Proxy-Require',
  'Unsupported', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Content-Encoding', 'History-Info',
  'Diversion', 'P-Asserted-Identity', 'Path', 'Service-Route', 'Allow-Events',
]);
