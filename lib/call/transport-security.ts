import { readAudioStream } from '../sdp/audio-stream.js';
import { isSavp } from '../sdp/srtp-offer.js';
import type { SipRequest } from '../sip/message/message.js';
import { parseUri } from '../sip/message/uri.js';
import type { TransportProtocol } from '../sip/transport/transport.js';
import type { Side, TrunkPeer } from './trunk-peers.js';

/** What is lost on the onward leg of a call that arrived protected. */
export interface Downgrade {
  /** The onward leg's signalling is not TLS (it is this transport). */
  signalling?: 'udp' | 'tcp';
  /** The onward leg's media is plain RTP while the caller offered SRTP. */
  media?: 'RTP';
  /** A sips: Request-URI goes on as sip: (only with `sips: downgrade`). */
  sips?: true;
}

export type OnwardVerdict =
  | { kind: 'relay'; downgrade: Downgrade | undefined }
  | { kind: 'refuse'; status: number; reason: string; warning: string; explanation: string };

/** RFC 5630: warn-code 380 "SIPS Not Allowed" goes with a 480 when a SIPS request cannot be honoured. */
export const SIPS_NOT_ALLOWED_WARNING = '380 callrec "SIPS Not Allowed"';

/**
 * Decides whether a new call may go on to the other trunk side given how it
 * arrived and how that side is configured (SPEC M8, S1).
 *
 * sips: in the Request-URI (RFC 3261 §19.1, §26.2.2) asks for TLS on every
 * hop up to the resource it names; RFC 5630 removed the "last hop"
 * exception, so a request whose only way on is UDP or TCP cannot be honoured.
 * Such a request is answered 480 (Temporarily Unavailable) with warn-code
 * 380 "SIPS Not Allowed" (defined by RFC 5630) - never silently relayed in clear -
 * unless the onward side's config says `sips: downgrade`, in which case it
 * goes on as sip: with a warning. sips: in To, From or Contact says nothing
 * about the path and is simply accepted (RFC 5630: only the
 * Request-URI sets the security of a request's path).
 *
 * A call that arrived over TLS with SRTP and goes on to a side configured
 * `transport: udp|tcp` and/or `srtp: off` is relayed: that configuration is
 * the operator's statement that the leg is plain (a trunk has no other route
 * to offer). It is a downgrade all the same - over UDP/TCP even SDES keys
 * would travel readable (RFC 4568 §8.3) - so it is logged at warn level.
 */
export function onwardSecurity(req: SipRequest, arrivedOver: TransportProtocol, onward: TrunkPeer): OnwardVerdict {
  const sipsUri = requestUriScheme(req) === 'sips';
  const onwardTls = onward.transport === 'tls';
  const downgrade: Downgrade = {};
  if (sipsUri && !onwardTls) {
    if (onward.sips !== 'downgrade') {
      return {
        kind: 'refuse',
        status: 480,
        reason: 'Temporarily Unavailable',
        warning: SIPS_NOT_ALLOWED_WARNING,
        explanation: `sips: request, but the onward side is configured ${onward.transport.toUpperCase()} (RFC 5630: no SIPS without TLS on every hop)`,
      };
    }
    downgrade.sips = true;
    downgrade.signalling = onward.transport as 'udp' | 'tcp';
  }
  if (arrivedOver === 'tls' && offersSrtp(req)) {
    if (!onwardTls) downgrade.signalling = onward.transport as 'udp' | 'tcp';
    if (onward.srtp !== 'sdes') downgrade.media = 'RTP';
  }
  const lost = downgrade.signalling !== undefined || downgrade.media !== undefined || downgrade.sips === true;
  return { kind: 'relay', downgrade: lost ? downgrade : undefined };
}

/** One line for the log: what the onward leg lacks. */
export function describeDowngrade(side: Side, d: Downgrade): string {
  const parts: string[] = [];
  if (d.sips === true) parts.push('sips: relayed as sip:');
  if (d.signalling !== undefined) parts.push(`signalling over ${d.signalling.toUpperCase()} instead of TLS`);
  if (d.media !== undefined) parts.push('media plain RTP instead of SRTP');
  return `call downgraded on the ${side} leg: ${parts.join(', ')} (as the ${side} config says)`;
}

function requestUriScheme(req: SipRequest): string {
  try {
    return parseUri(req.uri).scheme;
  } catch {
    return '';
  }
}

/** The offer's audio stream is SDES-SRTP (RTP/SAVP or RTP/SAVPF with a=crypto). */
function offersSrtp(req: SipRequest): boolean {
  if (req.body.length === 0) return false;
  try {
    const stream = readAudioStream(req.body.toString('utf8'));
    return stream !== undefined && isSavp(stream.protocol) && stream.crypto.length > 0;
  } catch {
    return false;
  }
}
