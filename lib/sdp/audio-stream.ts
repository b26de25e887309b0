import sdpTransform from 'sdp-transform';
import { formatCryptoAttribute, readCryptoAttributes, type CryptoAttribute } from './crypto-attribute.js';

/** A codec of an audio m= line (RFC 4566 §6 rtpmap). */
export interface Codec {
  payloadType: number;
  name: string;
  clockRate: number;
}

/** What the relay and the recorder need to know of a party's audio stream. */
export interface AudioStream {
  /** Where the party wants to receive RTP. */
  host: string;
  port: number;
  rtcpPort: number;
  /** RFC 3264 §8.4 hold: c=0.0.0.0 (RFC 2543 style), or a=sendonly/inactive. */
  onHold: boolean;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  /** Codecs in preference order (the first is what an answer chose). */
  codecs: Codec[];
  telephoneEventPayloadType: number | undefined;
  /** The m= line's transport protocol as written: RTP/AVP, RTP/SAVP, RTP/SAVPF, ... */
  protocol: string;
  /**
   * The stream's well-formed `a=crypto` attributes (RFC 4568), in SDP order.
   * They hold the party's keys: never log them (their toJSON/inspect redact).
   */
  crypto: CryptoAttribute[];
}

/** RFC 3551 Table 4: static payload types that may appear without rtpmap. */
const STATIC: Record<number, [string, number]> = {
  0: ['PCMU', 8000], 3: ['GSM', 8000], 4: ['G723', 8000], 8: ['PCMA', 8000], 9: ['G722', 8000],
  13: ['CN', 8000], 18: ['G729', 8000],
};

export class SdpError extends Error {
  override readonly name = 'SdpError';
}

export function parseSdp(text: string): sdpTransform.SessionDescription {
  if (!/^v=0\r?$/m.test(text.split('\n')[0] ?? '')) throw new SdpError('SDP does not start with v=0');
  const sdp = sdpTransform.parse(text);
  if (!Array.isArray(sdp.media)) throw new SdpError('SDP has no media section');
  return sdp;
}

/** The first audio stream with a non-zero port, or undefined (no audio, or audio refused). */
export function readAudioStream(text: string): AudioStream | undefined {
  const sdp = parseSdp(text);
  const index = sdp.media.findIndex((x) => x.type === 'audio' && x.port !== 0);
  const m = sdp.media[index];
  if (m === undefined) return undefined;
  const host = m.connection?.ip ?? sdp.connection?.ip;
  if (host === undefined) throw new SdpError('audio stream without connection address');
  const direction = (m.direction ?? sdp.direction ?? 'sendrecv') as AudioStream['direction'];
  const rtpmap = new Map((m.rtp ?? []).map((r) => [r.payload, r]));
  const codecs: Codec[] = String(m.payloads ?? '')
    .split(/\s+/)
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      const pt = Number(p);
      const r = rtpmap.get(pt);
      const st = STATIC[pt];
      return { payloadType: pt, name: (r?.codec ?? st?.[0] ?? `PT${pt}`).toUpperCase(), clockRate: r?.rate ?? st?.[1] ?? 8000 };
    });
  const te = codecs.find((c) => c.name === 'TELEPHONE-EVENT');
  const rtcpPort = typeof m.rtcp?.port === 'number' ? m.rtcp.port : m.port + 1;
  return {
    host,
    port: m.port,
    rtcpPort,
    onHold: host === '0.0.0.0' || direction === 'sendonly' || direction === 'inactive',
    direction,
    codecs,
    telephoneEventPayloadType: te?.payloadType,
    protocol: m.protocol,
    crypto: readCryptoAttributes(mediaSection(text, index)),
  };
}

/**
 * The raw text of the `index`-th media section (its m= line up to the next).
 * sdp-transform keeps only the first session parameter of an a=crypto line,
 * so crypto attributes are read from the text itself.
 */
function mediaSection(text: string, index: number): string {
  const lines = text.split(/\r?\n/);
  let seen = -1;
  const out: string[] = [];
  for (const line of lines) {
    if (line.startsWith('m=')) seen++;
    if (seen === index) out.push(line);
    else if (seen > index) break;
  }
  return out.join('\r\n');
}

/** How anchorSdp treats the transport profile and keys of the audio stream (SPEC M8). */
export interface AnchorOptions {
  /** The audio m= line's protocol (RTP/AVP, RTP/SAVP); default: as it is. */
  protocol?: string | undefined;
  /**
   * Replaces every a=crypto line: these (callrec's own keys) on the anchored
   * audio stream, none on any other m= line. Default: a=crypto lines are left
   * as they are (only for SDP that never carries keys).
   */
  crypto?: readonly CryptoAttribute[] | undefined;
  /** Refuse the audio stream with port 0 (RFC 4568 §7.1.2: no acceptable crypto attribute). */
  refuse?: boolean | undefined;
}

/**
 * Rewrites an SDP so that its audio goes to callrec (SPEC M1): the
 * connection address and audio port become ours, a=rtcp points to our RTCP
 * port, ICE candidates are dropped (we are the media anchor); codecs, fmtp,
 * ptime and direction are left as they are. Other m= lines are refused with
 * port 0 (RFC 3264 §6), and so is any audio stream after the first.
 * A c=0.0.0.0 hold stays 0.0.0.0 so the other party keeps holding.
 * `options` (SPEC M8) set the audio profile and put callrec's own crypto
 * lines in place of every a=crypto line of the input.
 */
export function anchorSdp(text: string, host: string, port: number, options: AnchorOptions = {}): string {
  const sdp = parseSdp(text);
  const ipVer = host.includes(':') ? 6 : 4;
  const sessionHold = sdp.connection?.ip === '0.0.0.0';
  if (sdp.connection !== undefined) sdp.connection = { version: ipVer, ip: sessionHold ? '0.0.0.0' : host };
  if (sdp.origin !== undefined) sdp.origin = { ...sdp.origin, ipVer, address: host };
  let anchored = false;
  for (const m of sdp.media) {
    if (options.crypto !== undefined) delete m.crypto;
    if (m.type !== 'audio' || m.port === 0 || anchored) {
      m.port = 0;
      continue;
    }
    anchored = true;
    const hold = (m.connection?.ip ?? sdp.connection?.ip) === '0.0.0.0';
    if (options.protocol !== undefined && options.protocol !== m.protocol) {
      // RTP/SAVPF answered or relayed as RTP/SAVP (or RTP/AVP): no RTCP feedback without the F profile.
      if (!options.protocol.endsWith('F')) {
        delete m.rtcpFb;
        delete m.rtcpFbTrrInt;
      }
      // Not DTLS-SRTP (RFC 5763) either: its fingerprint would describe a handshake nobody runs.
      if (!options.protocol.startsWith('UDP/TLS/')) {
        delete m.fingerprint;
        delete m.setup;
      }
      m.protocol = options.protocol;
    }
    if (options.crypto !== undefined && options.crypto.length > 0) m.crypto = options.crypto.map(cryptoLine);
    if (options.refuse === true) {
      m.port = 0;
      continue;
    }
    m.port = port;
    if (m.connection !== undefined || sdp.connection === undefined) m.connection = { version: ipVer, ip: hold ? '0.0.0.0' : host };
    if (m.rtcp !== undefined) m.rtcp = { port: port + 1, netType: 'IN', ipVer, address: host };
    delete m.candidates;
    delete m.iceUfrag;
    delete m.icePwd;
    delete m.endOfCandidates;
    delete m.rtcpMux;
  }
  delete sdp.iceUfrag;
  delete sdp.icePwd;
  return sdpTransform.write(sdp);
}

/** A crypto attribute (with its key) in sdp-transform's form. */
function cryptoLine(attr: CryptoAttribute): { id: number; suite: string; config: string; sessionConfig?: string } {
  const [, suite = '', config = '', ...session] = formatCryptoAttribute(attr).slice('a=crypto:'.length).split(' ');
  return session.length > 0 ? { id: attr.tag, suite, config, sessionConfig: session.join(' ') } : { id: attr.tag, suite, config };
}

/**
 * Keeps only the listed payload types on the audio m= line (and their
 * rtpmap/fmtp lines): after callrec played a prompt in one codec, the
 * callee must answer in the same one (SPEC P6).
 */
export function restrictCodecs(text: string, keep: readonly number[]): string {
  const sdp = parseSdp(text);
  for (const m of sdp.media) {
    if (m.type !== 'audio' || m.port === 0) continue;
    const pts = String(m.payloads ?? '').split(/\s+/).filter((p) => keep.includes(Number(p)));
    if (pts.length === 0) continue;
    m.payloads = pts.join(' ');
    m.rtp = (m.rtp ?? []).filter((r) => keep.includes(r.payload));
    m.fmtp = (m.fmtp ?? []).filter((f) => keep.includes(f.payload));
  }
  return sdpTransform.write(sdp);
}

/**
 * An answer from callrec itself to an offer: our address, the chosen payload
 * types, sendrecv (RFC 3264 §6); with `crypto`, RTP/SAVP and our key for the
 * tag chosen from the offer (RFC 4568 §7.1.2).
 */
export function localAnswer(offerText: string, host: string, port: number, keep: readonly number[], sessionId: string,
  crypto?: CryptoAttribute): string {
  const offer = readAudioStream(offerText);
  if (offer === undefined) throw new SdpError('offer has no audio stream');
  const codecs = offer.codecs.filter((c) => keep.includes(c.payloadType));
  const lines = ['v=0', `o=callrec ${sessionId} 1 IN IP4 ${host}`, 's=callrec', `c=IN IP4 ${host}`, 't=0 0',
    `m=audio ${port} ${crypto !== undefined ? 'RTP/SAVP' : 'RTP/AVP'} ${codecs.map((c) => c.payloadType).join(' ')}`];
  for (const c of codecs) lines.push(`a=rtpmap:${c.payloadType} ${c.name === 'TELEPHONE-EVENT' ? 'telephone-event' : c.name}/${c.clockRate}`);
  const te = codecs.find((c) => c.name === 'TELEPHONE-EVENT');
  if (te !== undefined) lines.push(`a=fmtp:${te.payloadType} 0-16`);
  if (crypto !== undefined) lines.push(formatCryptoAttribute(crypto));
  lines.push('a=ptime:20', 'a=sendrecv', '');
  return lines.join('\r\n');
}
