import { parseNameAddr, quote } from '../sip/message/header-values.js';
import type { SipMessage } from '../sip/message/message.js';
import { uriUser } from '../sip/user-agent.js';

/**
 * SPEC S3: identity travels with the call. These headers are copied
 * verbatim from one leg's INVITE to the other's.
 */
export const CARRIED_REQUEST_HEADERS = [
  'P-Asserted-Identity', 'P-Preferred-Identity', 'Privacy', 'Diversion', 'History-Info',
  'Subject', 'Priority', 'Alert-Info', 'Call-Info', 'User-to-User', 'Accept-Language',
];

/** Headers of a response worth carrying back to the caller (connected identity, reasons). */
export const CARRIED_RESPONSE_HEADERS = ['P-Asserted-Identity', 'Privacy', 'Reason', 'Retry-After', 'Warning', 'Call-Info', 'Alert-Info'];

/** Headers carried on relayed in-dialog requests (INFO packages, reasons, events). */
export const CARRIED_DIALOG_HEADERS = ['Reason', 'Info-Package', 'Event', 'Subscription-State', 'Content-Disposition', 'Recv-Info'];

export function copyHeaders(from: SipMessage, to: SipMessage, names: readonly string[]): void {
  for (const name of names) {
    for (const h of from.headers) if (h.name.toLowerCase() === name.toLowerCase()) to.append(h.name, h.value);
  }
}

/** Display name and user of a From/To header, for the other leg and for the logs. */
export interface PartyIdentity {
  displayName: string | undefined;
  user: string;
}

export function partyOf(headerValue: string | undefined): PartyIdentity {
  if (headerValue === undefined) return { displayName: undefined, user: '' };
  try {
    const na = parseNameAddr(headerValue);
    return { displayName: na.displayName, user: uriUser(na.uriText) ?? '' };
  } catch {
    return { displayName: undefined, user: '' };
  }
}

/** `"Name" <sip:user@host>` for a From/To header on the other leg. */
export function formatParty(party: PartyIdentity, hostPort: string, scheme = 'sip'): string {
  const dn = party.displayName !== undefined && party.displayName !== '' ? `${quote(party.displayName)} ` : '';
  const user = party.user !== '' ? `${party.user}@` : '';
  return `${dn}<${scheme}:${user}${hostPort}>`;
}
