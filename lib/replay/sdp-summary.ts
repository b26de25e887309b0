import sdpTransform from 'sdp-transform';
import { normalizeHost } from './ip-address.js';
import { STATIC_PAYLOAD_TYPES } from './datagram-classifier.js';

/** One payload type of an m= line, from a=rtpmap or the RFC 3551 static table. */
export interface SdpCodec {
  payloadType: number;
  /** Encoding name as written in a=rtpmap (case kept), or the static name. */
  name: string;
  clockRate: number;
  channels: number;
  fmtp: string | undefined;
}

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** One m= line (RFC 4566 §5.14) with its effective connection address. */
export interface SdpMedia {
  type: string;
  port: number;
  protocol: string;
  /** c= of the media section, else of the session; undefined when neither exists. */
  address: string | undefined;
  /** The <fmt> list as numbers (RTP profiles only; empty for udptl and the like). */
  payloadTypes: number[];
  /** The <fmt> list as written (e.g. "t38" for udptl). */
  formats: string[];
  codecs: SdpCodec[];
  /** RFC 4733 telephone-event payload type, if offered. */
  telephoneEventPayloadType: number | undefined;
  direction: MediaDirection;
  ptime: number | undefined;
  /** RFC 3605 a=rtcp port, else port + 1 (RFC 3550 §11). */
  rtcpPort: number;
}

export interface SdpSummary {
  /** o= line fields exactly as written (RFC 4566 §5.2). */
  origin: { username: string; sessionId: string; sessionVersion: string; address: string } | undefined;
  media: SdpMedia[];
}

/**
 * The SDP text of a SIP body: the body itself for application/sdp (or no
 * Content-Type), the application/sdp part of a multipart body (RFC 5621,
 * as SIP-I trunks send SDP next to ISUP), else undefined.
 */
export function sdpBodyOf(contentType: string | undefined, body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  const type = (contentType ?? 'application/sdp').trim().toLowerCase();
  if (type.startsWith('application/sdp')) return body.toString('utf8');
  if (!type.startsWith('multipart/')) return undefined;
  const boundary = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const b = boundary?.[1] ?? boundary?.[2];
  if (b === undefined) return undefined;
  for (const part of body.toString('utf8').split(`--${b}`)) {
    const split = /\r?\n\r?\n/.exec(part);
    if (split === null) continue;
    const headers = part.slice(0, split.index);
    if (/^content-type\s*:\s*application\/sdp/im.test(headers)) return part.slice(split.index + split[0].length).replace(/\r?\n$/, '');
  }
  return undefined;
}

const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

/**
 * Reads the facts a replay needs from an SDP body. Lenient by design
 * (captures hold what real devices sent): unknown or malformed lines are
 * ignored; a body without v= gives undefined.
 */
export function summarizeSdp(text: string): SdpSummary | undefined {
  if (!/^\s*v=/.test(text)) return undefined;
  let sdp: sdpTransform.SessionDescription;
  try {
    sdp = sdpTransform.parse(text);
  } catch {
    return undefined;
  }
  const o = /^o=(\S+) (\S+) (\S+) \S+ \S+ (\S+)\s*$/m.exec(text);
  const origin = o ? { username: o[1]!, sessionId: o[2]!, sessionVersion: o[3]!, address: o[4]! } : undefined;
  const sessionAddress = sdp.connection?.ip;
  const sessionDirection = directionOf(sdp.direction, sdp.invalid);
  const media = (sdp.media ?? []).map((m): SdpMedia => {
    const payloadTypes = String(m.payloads ?? '')
      .split(/\s+/)
      .filter((p) => /^\d{1,3}$/.test(p))
      .map(Number);
    const rtpmap = new Map((m.rtp ?? []).map((r) => [r.payload, r]));
    const fmtp = new Map((m.fmtp ?? []).map((f) => [f.payload, f.config]));
    const codecs = payloadTypes.map((pt): SdpCodec => {
      const r = rtpmap.get(pt);
      const st = STATIC_PAYLOAD_TYPES.get(pt);
      return {
        payloadType: pt,
        name: r?.codec ?? st?.name ?? `PT${pt}`,
        clockRate: r?.rate ?? st?.clockRate ?? 8000,
        channels: r?.encoding !== undefined ? Number(r.encoding) : (st?.channels ?? 1),
        fmtp: fmtp.get(pt),
      };
    });
    const te = codecs.find((c) => c.name.toLowerCase() === 'telephone-event');
    const address = m.connection?.ip ?? sessionAddress;
    return {
      type: m.type,
      port: m.port,
      protocol: m.protocol,
      address: address === undefined ? undefined : normalizeHost(address),
      payloadTypes,
      formats: String(m.payloads ?? '').split(/\s+/).filter((f) => f !== ''),
      codecs,
      telephoneEventPayloadType: te?.payloadType,
      direction: directionOf(m.direction, m.invalid) ?? sessionDirection ?? 'sendrecv',
      ptime: typeof m.ptime === 'number' ? m.ptime : undefined,
      rtcpPort: typeof m.rtcp?.port === 'number' ? m.rtcp.port : m.port + 1,
    };
  });
  return { origin, media };
}

/** RFC 4566 attribute names are case-sensitive, but "a=SendRecv" is seen in the wild. */
function directionOf(direction: string | undefined, invalid: Array<{ value: string }> | undefined): MediaDirection | undefined {
  if (direction !== undefined && (DIRECTIONS as readonly string[]).includes(direction)) return direction as MediaDirection;
  for (const i of invalid ?? []) {
    const v = i.value.trim().toLowerCase();
    if ((DIRECTIONS as readonly string[]).includes(v)) return v as MediaDirection;
  }
  return undefined;
}
