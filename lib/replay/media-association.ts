import type { UdpDatagram } from './packet-decoder.js';
import {
  endpointKey, flowKey, RtpStreamBuilder,
  type RtcpFlow, type RtpStream, type Side, type StreamDirection,
} from './rtp-streams.js';
import type { SdpCodec } from './sdp-summary.js';

/** A media address a party announced in SDP (where it wants to receive). */
export interface MediaEndpoint {
  host: string;
  port: number;
  rtcpPort: number;
  side: Side;
  codecs: SdpCodec[];
}

/** What association needs of a call: its time window and its SDP addresses. */
export interface CallMedia {
  startMs: number;
  /** End of signalling (BYE, final failure); Infinity while the call is up at capture end. */
  untilMs: number;
  endpoints: MediaEndpoint[];
}

export interface AssociationOptions {
  /** RTP accepted this long after the call ended (late media after BYE or a failure). */
  mediaGraceMs: number;
  /** RTP accepted this long before the first INVITE (clock skew between capture points). */
  leadMs: number;
}

export interface AssociatedMedia {
  calls: Array<{ streams: RtpStream[]; rtcp: RtcpFlow[] }>;
  unassociatedStreams: RtpStream[];
  unassociatedRtcp: RtcpFlow[];
}

interface Candidate {
  call: number;
  side: Side;
}

/**
 * Assigns RTP and RTCP packets to calls. A packet belongs to the call whose
 * SDP announced its destination address:port (the receiver's c= and m=);
 * when no destination matches, its source is tried (symmetric RTP). The
 * destination comes first because senders often transmit from another
 * address than the one they announced (NAT, media gateways). Among calls
 * announcing the same address, the most recent one whose window contains
 * the packet wins.
 */
export function associateMedia(
  rtp: readonly UdpDatagram[],
  rtcp: readonly UdpDatagram[],
  calls: readonly CallMedia[],
  options: AssociationOptions,
): AssociatedMedia {
  const rtpIndex = new Map<string, Candidate[]>();
  const rtcpIndex = new Map<string, Candidate[]>();
  calls.forEach((c, call) => {
    for (const e of c.endpoints) {
      add(rtpIndex, endpointKey(e), { call, side: e.side });
      add(rtcpIndex, endpointKey({ host: e.host, port: e.rtcpPort }), { call, side: e.side });
    }
  });
  const pick = (index: Map<string, Candidate[]>, key: string, t: number): Candidate | undefined => {
    let best: Candidate | undefined;
    for (const c of index.get(key) ?? []) {
      const call = calls[c.call]!;
      if (t < call.startMs - options.leadMs || t > call.untilMs + options.mediaGraceMs) continue;
      if (best === undefined || call.startMs > calls[best.call]!.startMs) best = c;
    }
    return best;
  };
  const route = (index: Map<string, Candidate[]>, d: UdpDatagram): { call: number; direction: StreamDirection; matchedBy: RtpStream['matchedBy'] } => {
    const byDst = pick(index, endpointKey(d.dst), d.timeMs);
    // The destination announced by the callee: the caller is sending.
    if (byDst) return { call: byDst.call, direction: byDst.side === 'callee' ? 'caller->callee' : 'callee->caller', matchedBy: 'destination' };
    const bySrc = pick(index, endpointKey(d.src), d.timeMs);
    if (bySrc) return { call: bySrc.call, direction: bySrc.side === 'caller' ? 'caller->callee' : 'callee->caller', matchedBy: 'source' };
    return { call: -1, direction: 'unknown', matchedBy: 'none' };
  };

  const builders = new Map<string, { call: number; builder: RtpStreamBuilder }>();
  for (const d of rtp) {
    const r = route(rtpIndex, d);
    const key = `${r.call}|${flowKey(d.src, d.dst)}`;
    let b = builders.get(key);
    if (b === undefined) {
      b = { call: r.call, builder: new RtpStreamBuilder(d.src, d.dst, r.direction, r.matchedBy) };
      builders.set(key, b);
    }
    b.builder.push(d);
  }
  const flows = new Map<string, { call: number; flow: RtcpFlow }>();
  for (const d of rtcp) {
    const r = route(rtcpIndex, d);
    const key = `${r.call}|${flowKey(d.src, d.dst)}`;
    let f = flows.get(key);
    if (f === undefined) {
      f = { call: r.call, flow: { src: d.src, dst: d.dst, direction: r.direction, packets: [] } };
      flows.set(key, f);
    }
    f.flow.packets.push({ timeMs: d.timeMs, data: d.payload });
  }

  const out: AssociatedMedia = {
    calls: calls.map(() => ({ streams: [], rtcp: [] })),
    unassociatedStreams: [],
    unassociatedRtcp: [],
  };
  for (const { call, builder } of builders.values()) {
    if (call < 0) {
      out.unassociatedStreams.push(builder.build(() => undefined));
      continue;
    }
    // RFC 3264 §5.1: payload type numbers are those of the receiver's description.
    const receiver: Side = builder.direction === 'caller->callee' ? 'callee' : 'caller';
    const own = codecMap(calls[call]!.endpoints, receiver);
    const other = codecMap(calls[call]!.endpoints, receiver === 'caller' ? 'callee' : 'caller');
    out.calls[call]!.streams.push(builder.build((pt) => own.get(pt) ?? other.get(pt)));
  }
  for (const { call, flow } of flows.values()) {
    if (call < 0) out.unassociatedRtcp.push(flow);
    else out.calls[call]!.rtcp.push(flow);
  }
  return out;
}

function add(index: Map<string, Candidate[]>, key: string, c: Candidate): void {
  const list = index.get(key);
  if (list === undefined) index.set(key, [c]);
  else if (!list.some((x) => x.call === c.call && x.side === c.side)) list.push(c);
}

/** Payload type -> codec of one side's SDP; later descriptions override earlier ones. */
function codecMap(endpoints: readonly MediaEndpoint[], side: Side): Map<number, SdpCodec> {
  const m = new Map<number, SdpCodec>();
  for (const e of endpoints) if (e.side === side) for (const c of e.codecs) m.set(c.payloadType, c);
  return m;
}
