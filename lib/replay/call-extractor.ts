import { classifyPayload } from './datagram-classifier.js';
import { associateMedia, type CallMedia, type MediaEndpoint } from './media-association.js';
import type { Endpoint, UdpDatagram } from './packet-decoder.js';
import { endpointKey, RtpStreamBuilder, type RtcpFlow, type RtpStream, type Side } from './rtp-streams.js';
import { sdpBodyOf, summarizeSdp, type SdpSummary } from './sdp-summary.js';
import { correlateLegs, groupByCallId, isInitialInvite, userOf, type CallIdGroup, type CapturedSip } from './sip-legs.js';

export type { CapturedSip } from './sip-legs.js';

/** A SIP message of the call as the replay sends it. */
export interface CallMessage extends CapturedSip {
  /** Who sent it: the caller's side (From tag of the initial INVITE) or the callee's. */
  side: Side;
  /** Same message as an earlier one on the chosen hop (a UDP retransmission, RFC 3261 §17). */
  retransmission: boolean;
  /** Not on the chosen hop and not a copy of a message on it (for instance a BYE sent straight to a Contact). */
  offHop: boolean;
}

/** One offer or answer (RFC 3264) and the message that carried it. */
export interface SdpExchange {
  timeMs: number;
  /** Whose media: the side that sent the message. */
  side: Side;
  role: 'offer' | 'answer';
  /** Request method or response status and method: "INVITE", "183 INVITE", "200 INVITE", "ACK". */
  carriedBy: string;
  cseq: number;
  sdp: SdpSummary;
}

export interface InviteSummary {
  timeMs: number;
  requestUri: string;
  requestUser: string | undefined;
  fromUser: string | undefined;
  toUser: string | undefined;
  cseq: number;
}

export interface ReInvite {
  timeMs: number;
  by: Side;
  cseq: number;
  /** Final status, undefined when none was captured. */
  status: number | undefined;
  offer: SdpSummary | undefined;
}

export interface ExtractedCall {
  callId: string;
  /** Call-IDs of other legs of the same call (a B2BUA in the capture path); their messages are ignored. */
  otherLegCallIds: string[];
  /** True for a call made up from RTP alone (no SIP in the capture). */
  synthetic: boolean;
  /** Signalling addresses on the chosen hop: source and destination of the initial INVITE. */
  caller: Endpoint;
  callee: Endpoint;
  /** Every address pair that carried this Call-ID, with message counts; `chosen` marks the replayed hop. */
  hops: Array<{ a: Endpoint; b: Endpoint; messages: number; chosen: boolean }>;
  /** Messages dropped as copies of the same message on another hop or leg. */
  ignoredCopies: number;
  invite: InviteSummary | undefined;
  /** Initial INVITE transactions (an auth challenge makes a second one) and their final status. */
  inviteAttempts: Array<{ cseq: number; status: number | undefined }>;
  /** Final response to the initial INVITE (a 2xx wins over failures of earlier attempts). */
  outcome: { status: number; reason: string; timeMs: number } | undefined;
  answered: boolean;
  cancelled: boolean;
  bye: { timeMs: number; by: Side; status: number | undefined } | undefined;
  /** Provisional responses with SDP to the initial INVITE. */
  earlyMedia: Array<{ timeMs: number; status: number; sdp: SdpSummary }>;
  reInvites: ReInvite[];
  sdp: SdpExchange[];
  messages: CallMessage[];
  streams: RtpStream[];
  rtcp: RtcpFlow[];
  startMs: number;
  /** Last SIP message or media packet of the call. */
  endMs: number;
}

export interface ExtractOptions {
  /** Initial INVITEs this close in time may be legs of one call (see correlateLegs). Default 2000. */
  legWindowMs?: number;
  /** Media accepted this long after BYE or a final failure. Default 5000. */
  mediaGraceMs?: number;
  /** Telephone-event payload type for RTP-only captures (no SDP to tell it). */
  telephoneEventPayloadType?: number;
}

export interface Extraction {
  calls: ExtractedCall[];
  /** RTP that matched no call's SDP (other legs of a media relay, strays). */
  unassociatedStreams: RtpStream[];
  unassociatedRtcp: RtcpFlow[];
  stats: {
    datagrams: number;
    sip: number;
    /** SIP-looking payloads the parser refused. */
    sipParseErrors: number;
    /** SIP messages outside INVITE dialogs (REGISTER, out-of-dialog OPTIONS, ...). */
    sipOutsideCalls: number;
    rtp: number;
    rtcp: number;
    other: number;
  };
}

/**
 * From the UDP datagrams of a capture: SIP calls with their facts, and the
 * RTP of each call by direction. Without any SIP call, all RTP becomes one
 * synthetic call.
 */
export function extractCalls(datagrams: Iterable<UdpDatagram>, options: ExtractOptions = {}): Extraction {
  const sip: CapturedSip[] = [];
  const rtp: UdpDatagram[] = [];
  const rtcp: UdpDatagram[] = [];
  const stats: Extraction['stats'] = { datagrams: 0, sip: 0, sipParseErrors: 0, sipOutsideCalls: 0, rtp: 0, rtcp: 0, other: 0 };
  for (const d of datagrams) {
    stats.datagrams++;
    const c = classifyPayload(d.payload, d.src.port, d.dst.port);
    if (c.kind === 'sip') sip.push({ timeMs: d.timeMs, src: d.src, dst: d.dst, message: c.message });
    else if (c.kind === 'rtp') rtp.push(d);
    else if (c.kind === 'rtcp') rtcp.push(d);
    else if (c.sipError !== undefined) stats.sipParseErrors++;
    else stats.other++;
  }
  stats.sip = sip.length;
  stats.rtp = rtp.length;
  stats.rtcp = rtcp.length;

  const groups = groupByCallId(sip);
  stats.sipOutsideCalls = groups.filter((g) => g.initialInvite === undefined).reduce((n, g) => n + g.messages.length, 0);
  const legs = correlateLegs(groups, options.legWindowMs ?? 2000);
  const calls = legs.map((l) => buildCall(l.main, l.otherLegs));
  const media = associateMedia(rtp, rtcp, calls.map(callMedia), { mediaGraceMs: options.mediaGraceMs ?? 5000, leadMs: 1000 });
  calls.forEach((call, i) => {
    call.streams = media.calls[i]!.streams;
    call.rtcp = media.calls[i]!.rtcp;
    for (const s of call.streams) call.endMs = Math.max(call.endMs, s.lastMs);
  });
  if (calls.length === 0 && media.unassociatedStreams.length > 0) {
    return { calls: [syntheticCall(rtp, media.unassociatedRtcp, options.telephoneEventPayloadType)], unassociatedStreams: [], unassociatedRtcp: [], stats };
  }
  return { calls, unassociatedStreams: media.unassociatedStreams, unassociatedRtcp: media.unassociatedRtcp, stats };
}

const pairKey = (a: Endpoint, b: Endpoint): string => [endpointKey(a), endpointKey(b)].sort().join('<>');

/** Signature of a message within its dialog: equal on every hop it crosses. */
function signature(m: CapturedSip['message']): string {
  const cseq = m.cseq;
  return m.kind === 'request' ? `${m.method} ${cseq.seq}` : `${m.status} ${cseq.method} ${cseq.seq}`;
}

function buildCall(main: CallIdGroup, otherLegs: CallIdGroup[]): ExtractedCall {
  const first = main.initialInvite!;
  const callerTag = first.message.fromTag;
  const chosen = pairKey(first.src, first.dst);
  const onChosen = new Set(main.messages.filter((m) => pairKey(m.src, m.dst) === chosen).map((m) => signature(m.message)));
  const hops = new Map<string, ExtractedCall['hops'][number]>();
  const call: ExtractedCall = {
    callId: main.callId,
    otherLegCallIds: otherLegs.map((g) => g.callId),
    synthetic: false,
    caller: first.src,
    callee: first.dst,
    hops: [],
    ignoredCopies: otherLegs.reduce((n, g) => n + g.messages.length, 0),
    invite: undefined,
    inviteAttempts: [],
    outcome: undefined,
    answered: false,
    cancelled: false,
    bye: undefined,
    earlyMedia: [],
    reInvites: [],
    sdp: [],
    messages: [],
    streams: [],
    rtcp: [],
    startMs: first.timeMs,
    endMs: first.timeMs,
  };
  const seen = new Set<string>();
  /** Requests with SDP by "METHOD cseq": an SDP in their response is then the answer. */
  const offered = new Set<string>();
  for (const m of main.messages) {
    const key = pairKey(m.src, m.dst);
    const hop = hops.get(key) ?? { a: m.src, b: m.dst, messages: 0, chosen: key === chosen };
    hop.messages++;
    hops.set(key, hop);
    const sig = signature(m.message);
    if (key !== chosen && onChosen.has(sig)) {
      call.ignoredCopies++;
      continue;
    }
    const msg = m.message;
    // RFC 3261 §8.2.6.2: responses copy From, so the From tag names the UAC of the transaction.
    const fromCaller = msg.fromTag === callerTag;
    const side: Side = msg.kind === 'request' ? (fromCaller ? 'caller' : 'callee') : fromCaller ? 'callee' : 'caller';
    const retransmission = seen.has(`${side} ${sig}`);
    seen.add(`${side} ${sig}`);
    call.messages.push({ ...m, side, retransmission, offHop: key !== chosen });
    call.startMs = Math.min(call.startMs, m.timeMs);
    call.endMs = Math.max(call.endMs, m.timeMs);
    if (retransmission) continue;
    const cseq = msg.cseq;
    const sdpText = sdpBodyOf(msg.get('Content-Type'), msg.body);
    const sdp = sdpText === undefined ? undefined : summarizeSdp(sdpText);
    if (msg.kind === 'request') {
      const txn = `${msg.method} ${cseq.seq}`;
      if (sdp !== undefined) {
        // RFC 3264 §4 / RFC 3261 §13.2.1: an SDP in ACK answers an offer made in the 2xx.
        const role = msg.method === 'ACK' ? 'answer' : 'offer';
        if (role === 'offer') offered.add(txn);
        call.sdp.push({ timeMs: m.timeMs, side, role, carriedBy: msg.method, cseq: cseq.seq, sdp });
      }
      if (isInitialInvite(msg)) {
        call.inviteAttempts.push({ cseq: cseq.seq, status: undefined });
        call.invite ??= {
          timeMs: m.timeMs,
          requestUri: msg.uri,
          requestUser: userOf(msg.uri),
          fromUser: userOf(msg.get('From')),
          toUser: userOf(msg.get('To')),
          cseq: cseq.seq,
        };
      } else if (msg.method === 'INVITE') {
        call.reInvites.push({ timeMs: m.timeMs, by: side, cseq: cseq.seq, status: undefined, offer: sdp });
      } else if (msg.method === 'CANCEL') {
        call.cancelled = true;
      } else if (msg.method === 'BYE') {
        call.bye ??= { timeMs: m.timeMs, by: side, status: undefined };
      }
      continue;
    }
    const status = msg.status;
    if (sdp !== undefined) {
      const role = offered.has(`${cseq.method} ${cseq.seq}`) ? 'answer' : 'offer';
      call.sdp.push({ timeMs: m.timeMs, side, role, carriedBy: `${status} ${cseq.method}`, cseq: cseq.seq, sdp });
    }
    if (cseq.method === 'INVITE') {
      const attempt = call.inviteAttempts.find((a) => a.cseq === cseq.seq);
      if (attempt !== undefined) {
        if (status < 200 && sdp !== undefined) call.earlyMedia.push({ timeMs: m.timeMs, status, sdp });
        if (status >= 200 && attempt.status === undefined) {
          attempt.status = status;
          if (!call.answered) call.outcome = { status, reason: msg.reason, timeMs: m.timeMs };
          if (status < 300) call.answered = true;
        }
      } else {
        const re = call.reInvites.find((r) => r.cseq === cseq.seq);
        if (re !== undefined && status >= 200 && re.status === undefined) re.status = status;
      }
    } else if (cseq.method === 'BYE' && call.bye !== undefined && status >= 200) {
      call.bye.status ??= status;
    }
  }
  call.hops = [...hops.values()];
  return call;
}

/** Time window and SDP addresses of a call, for media association. */
function callMedia(call: ExtractedCall): CallMedia {
  const endpoints: MediaEndpoint[] = [];
  for (const x of call.sdp) {
    for (const m of x.sdp.media) {
      if (m.port === 0 || m.address === undefined || m.address === '0.0.0.0' || m.address === '::') continue;
      endpoints.push({ host: m.address, port: m.port, rtcpPort: m.rtcpPort, side: x.side, codecs: m.codecs });
    }
  }
  let untilMs = Infinity;
  if (call.bye !== undefined) untilMs = call.bye.timeMs;
  else if (call.outcome !== undefined && !call.answered) untilMs = call.outcome.timeMs;
  return { startMs: call.startMs, untilMs, endpoints };
}

/**
 * An RTP-only capture as one call: flows grouped by source and destination;
 * the source of the earliest flow is taken as the caller, so flows towards
 * it are callee->caller.
 */
function syntheticCall(rtp: readonly UdpDatagram[], rtcp: RtcpFlow[], telephoneEventPt: number | undefined): ExtractedCall {
  const caller = rtp[0]!.src;
  const callee = rtp[0]!.dst;
  const callerKey = endpointKey(caller);
  const builders = new Map<string, RtpStreamBuilder>();
  for (const d of rtp) {
    const key = `${endpointKey(d.src)}>${endpointKey(d.dst)}`;
    let b = builders.get(key);
    if (b === undefined) {
      const direction = endpointKey(d.src) === callerKey ? 'caller->callee' : endpointKey(d.dst) === callerKey ? 'callee->caller' : 'unknown';
      b = new RtpStreamBuilder(d.src, d.dst, direction, 'none');
      builders.set(key, b);
    }
    b.push(d);
  }
  const streams = [...builders.values()].map((b) => b.build(() => undefined, telephoneEventPt));
  // RTCP runs next to RTP on the same host (RFC 3550 §11), so the host tells its direction.
  for (const f of rtcp) f.direction = f.src.host === caller.host ? 'caller->callee' : f.dst.host === caller.host ? 'callee->caller' : 'unknown';
  return {
    callId: '',
    otherLegCallIds: [],
    synthetic: true,
    caller,
    callee,
    hops: [],
    ignoredCopies: 0,
    invite: undefined,
    inviteAttempts: [],
    outcome: undefined,
    answered: false,
    cancelled: false,
    bye: undefined,
    earlyMedia: [],
    reInvites: [],
    sdp: [],
    messages: [],
    streams,
    rtcp,
    startMs: rtp[0]!.timeMs,
    endMs: rtp[rtp.length - 1]!.timeMs,
  };
}
