import type { MediaDirection, SdpCodec, SdpMedia, SdpSummary } from './sdp-summary.js';

/**
 * SDP for a replayed re-INVITE and its answer: the captured media lines
 * (codecs, direction, hold address), moved onto the replay end's own RTP
 * socket. Audio is offered as RTP/AVP, as in the replayed INVITE; other
 * media (T.38's m=image) keep their protocol and formats on a port beside
 * it, where nothing listens: callrec and the far end decide what becomes of
 * them, as they did in the capture.
 */

/** An end's SDP session version: every description it sends counts as changed (RFC 3264 §8). */
export class SdpVersion {
  private version = 1;

  next(): number {
    return ++this.version;
  }
}

const MIRROR: Record<MediaDirection, MediaDirection> = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' };

/** The offer of a captured re-INVITE, on this end's socket. */
export function reOfferSdp(host: string, rtpPort: number, offer: SdpSummary, version: number): string {
  const lines = header(host, version);
  for (const m of offer.media) lines.push(...mediaLines(host, rtpPort, m, m.port === 0, m.direction, m.codecs, m.address === '0.0.0.0'));
  lines.push('');
  return lines.join('\r\n');
}

/**
 * The answer to a re-INVITE callrec sent: one m= line per line of its offer
 * (RFC 3264 §6), each as the capture's answer had it (direction, codecs,
 * hold), else mirrored from the offer. A line callrec disabled stays disabled.
 */
export function reAnswerSdp(host: string, rtpPort: number, received: SdpSummary, captured: SdpSummary | undefined, version: number): string {
  const lines = header(host, version);
  received.media.forEach((m, i) => {
    const c = captured?.media[i]?.type === m.type ? captured.media[i] : captured?.media.find((x) => x.type === m.type);
    const declined = m.port === 0 || (c !== undefined && c.port === 0);
    const codecs = c !== undefined && c.codecs.length > 0 ? c.codecs.filter((k) => m.payloadTypes.includes(k.payloadType)) : m.codecs;
    lines.push(...mediaLines(host, rtpPort, m, declined, c?.direction ?? MIRROR[m.direction], codecs.length > 0 ? codecs : m.codecs, c?.address === '0.0.0.0'));
  });
  lines.push('');
  return lines.join('\r\n');
}

function header(host: string, version: number): string[] {
  return ['v=0', `o=replay 1 ${version} IN IP4 ${host}`, 's=callrec replay', 't=0 0'];
}

function mediaLines(host: string, rtpPort: number, m: SdpMedia, declined: boolean, direction: MediaDirection, codecs: SdpCodec[], hold: boolean): string[] {
  if (m.type !== 'audio') return [`m=${m.type} ${declined ? 0 : rtpPort + 2} ${m.protocol} ${m.formats.join(' ')}`, `c=IN IP4 ${host}`];
  const list = codecs.length > 0 ? codecs : m.codecs;
  const out = [`m=audio ${declined ? 0 : rtpPort} RTP/AVP ${list.map((c) => c.payloadType).join(' ')}`, `c=IN IP4 ${hold ? '0.0.0.0' : host}`];
  for (const c of list) {
    out.push(`a=rtpmap:${c.payloadType} ${c.name}/${c.clockRate}`);
    if (c.fmtp !== undefined) out.push(`a=fmtp:${c.payloadType} ${c.fmtp}`);
  }
  out.push(`a=${direction}`);
  return out;
}
