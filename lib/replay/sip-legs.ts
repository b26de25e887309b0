import type { SipMessage } from '../sip/message/index.js';
import type { Endpoint } from './packet-decoder.js';
import { sdpBodyOf, summarizeSdp } from './sdp-summary.js';

/** A SIP message as captured. */
export interface CapturedSip {
  timeMs: number;
  src: Endpoint;
  dst: Endpoint;
  message: SipMessage;
}

/** All messages of one Call-ID, in capture order. */
export interface CallIdGroup {
  callId: string;
  messages: CapturedSip[];
  /** The first INVITE without a To tag (RFC 3261 §12.1: the dialog-creating request). */
  initialInvite: CapturedSip | undefined;
}

/** A call seen in the capture: its main Call-ID, plus other legs a B2BUA made of it. */
export interface CallLegs {
  main: CallIdGroup;
  otherLegs: CallIdGroup[];
}

export function groupByCallId(messages: readonly CapturedSip[]): CallIdGroup[] {
  const groups = new Map<string, CallIdGroup>();
  for (const m of messages) {
    let g = groups.get(m.message.callId);
    if (g === undefined) {
      g = { callId: m.message.callId, messages: [], initialInvite: undefined };
      groups.set(m.message.callId, g);
    }
    g.messages.push(m);
    if (g.initialInvite === undefined && isInitialInvite(m.message)) g.initialInvite = m;
  }
  return [...groups.values()];
}

export function isInitialInvite(m: SipMessage): boolean {
  return m.kind === 'request' && m.method === 'INVITE' && m.toTag === undefined;
}

/**
 * Groups INVITE dialogs into calls. A B2BUA (or SBC) in the capture path
 * re-originates the call with a new Call-ID, so the same call shows up as
 * several Call-IDs. A later initial INVITE is taken as another leg of an
 * earlier call when it comes within `windowMs` and either carries the same
 * SDP o= line (username, session id and version: many B2BUAs pass the
 * origin through) or the same From user and To user.
 *
 * Deviation: heuristic; two genuinely separate calls between the same users
 * started within the window would be merged.
 */
export function correlateLegs(groups: readonly CallIdGroup[], windowMs: number): CallLegs[] {
  const withInvite = groups
    .filter((g) => g.initialInvite !== undefined)
    .sort((a, b) => a.initialInvite!.timeMs - b.initialInvite!.timeMs);
  const calls: CallLegs[] = [];
  for (const g of withInvite) {
    const inv = g.initialInvite!;
    const host = calls.find((c) => {
      const first = c.main.initialInvite!;
      return inv.timeMs - first.timeMs <= windowMs && sameCall(first.message, inv.message);
    });
    if (host) host.otherLegs.push(g);
    else calls.push({ main: g, otherLegs: [] });
  }
  return calls;
}

function sameCall(a: SipMessage, b: SipMessage): boolean {
  const oa = originOf(a);
  const ob = originOf(b);
  if (oa !== undefined && oa === ob) return true;
  const fa = userOf(a.get('From'));
  const ta = userOf(a.get('To'));
  return fa !== undefined && ta !== undefined && fa === userOf(b.get('From')) && ta === userOf(b.get('To'));
}

function originOf(m: SipMessage): string | undefined {
  const text = sdpBodyOf(m.get('Content-Type'), m.body);
  const o = text === undefined ? undefined : summarizeSdp(text)?.origin;
  return o === undefined ? undefined : `${o.username} ${o.sessionId} ${o.sessionVersion}`;
}

/** The user part of a SIP/SIPS/tel URI inside a header value or a bare URI, lower-cased host ignored. */
export function userOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /(?:sips?|tel):([^@;>?\s]+)@?/i.exec(value);
  if (!m) return undefined;
  // sip:host has no user: the match then is the host, recognised by the missing '@'.
  if (/^sips?:/i.test(m[0]) && !m[0].endsWith('@')) return undefined;
  return decodeURIComponentSafe(m[1]!);
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
