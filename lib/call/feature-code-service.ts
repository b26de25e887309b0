import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { PortPool } from '../media/port-pool.js';
import { PromptPlayer } from '../media/prompt-player.js';
import { g711Tones } from '../media/tone.js';
import { applyFeatureCode, callFactsFromHeaders, parseFeatureCode, type MembershipSource } from '../policy/index.js';
import type { MediaSocket } from '../media/packet-io/media-socket.js';
import { srtpContextFor } from '../media/srtp-leg.js';
import type { SrtpContext } from '../media/srtp/srtp-context.js';
import { readAudioStream } from '../sdp/audio-stream.js';
import { formatCryptoAttribute } from '../sdp/crypto-attribute.js';
import { answerPlan } from '../sdp/srtp-offer.js';
import { Dialog } from '../sip/dialog/dialog.js';
import { createResponse, type SipRequest } from '../sip/message/message.js';
import type { InviteServerTransaction } from '../sip/transaction/index.js';
import type { Address, Inbound } from '../sip/transport/transport.js';
import type { UserAgent } from '../sip/user-agent.js';
import type { Side } from './trunk-peers.js';

/** Where membership changes are kept (the recording log). */
export interface MembershipStore extends MembershipSource {
  setActive(groupId: string, userId: string, active: boolean, at: number): unknown;
}

/** Rising double beep: done; low long tone: refused. */
const CONFIRM = [{ hz: 880, ms: 150 }, { hz: 0, ms: 80 }, { hz: 1320, ms: 250 }, { hz: 0, ms: 200 }];
const REFUSE = [{ hz: 300, ms: 700 }, { hz: 0, ms: 200 }];

/**
 * SPEC P1: feature codes dialled from the PBX (`*71` / `*72`, alone for all
 * the caller's groups or followed by a group number) log the caller in or
 * out of recording groups. callrec answers such a call itself, plays a
 * short confirmation and hangs up; nothing goes to the provider.
 */
export class FeatureCodeService {
  constructor(
    private readonly config: Config,
    private readonly membership: MembershipStore,
    private readonly pool: PortPool,
    private readonly mediaHost: string,
    private readonly logger: Logger,
  ) {}

  /** True when the INVITE was a feature code and is handled here. */
  tryHandle(ua: UserAgent, side: Side, tx: InviteServerTransaction, req: SipRequest, inbound: Inbound): boolean {
    if (side !== 'pbx') return false;
    const facts = callFactsFromHeaders({
      direction: 'outbound', requestUri: req.uri, from: req.get('From'), to: req.get('To'),
      pAssertedIdentity: req.getAll('P-Asserted-Identity'),
    });
    const code = parseFeatureCode(facts.calledNumber, this.config.featureCodes, this.config.groups, this.config.numbers);
    if (code === undefined) return false;
    // An SRTP offer without a crypto suite we support cannot be answered (RFC 4568 §7.1.2) and must
    // not be answered with plain RTP: 488 (RFC 3261 §13.3.1.3), and the code is not carried out,
    // so what the phone shows (failure) is what happened.
    const unusable = unusableSrtpSuites(req);
    if (unusable !== undefined) {
      this.logger.warn({ event: 'feature-code.srtp-unsupported', callId: req.callId, dialled: code.dialled, suites: unusable },
        'feature code call offers no SRTP suite callrec supports: refused with 488, nothing changed');
      tx.respond(createResponse(req, 488, 'Not Acceptable Here', ua.newTag()).set('Warning', '302 callrec "Incompatible transport protocol"'));
      return true;
    }
    const result = applyFeatureCode(code, facts.callingIdentity, this.config, this.membership);
    if (result.ok) {
      for (const u of result.updates) this.membership.setActive(u.groupId, u.userId, u.active, Date.now());
    }
    this.logger.info({
      event: result.ok ? `group.${result.action}` : 'group.refused', callId: req.callId, caller: facts.callingIdentity,
      dialled: code.dialled, message: result.message,
    }, result.message);
    void this.answerWithTone(ua, tx, req, inbound, result.ok).catch((err: unknown) => {
      this.logger.warn({ event: 'feature-code.error', callId: req.callId, err: err instanceof Error ? err.message : String(err) }, 'confirmation not played');
    });
    return true;
  }

  private async answerWithTone(ua: UserAgent, tx: InviteServerTransaction, req: SipRequest, inbound: Inbound, ok: boolean): Promise<void> {
    const tag = ua.newTag();
    let offer;
    try {
      offer = req.body.length > 0 ? readAudioStream(req.body.toString('utf8')) : undefined;
    } catch {
      offer = undefined;
    }
    const codec = offer?.codecs.find((c) => c.name === 'PCMA' || c.name === 'PCMU');
    if (offer === undefined || codec === undefined) {
      // No G.711 to play a tone in: confirm by the status alone.
      tx.respond(createResponse(req, ok ? 200 : 403, ok ? 'OK' : 'Forbidden', tag).set('Contact', ua.contact(inbound.local.protocol, 'callrec', /^sips:/i.test(req.uri))));
      if (ok) this.byeLater(ua, req, tag, inbound, 0);
      return;
    }
    // RFC 3264 §6 / RFC 4568 §7.1.2: an SRTP offer is answered in kind - RTP/SAVP, the first crypto
    // line we support, a fresh key of our own - and the tone is protected with that key.
    // (An SRTP offer without a usable suite never gets here: tryHandle refuses it with 488.)
    const plan = answerPlan(offer, undefined);
    const keys = plan.kind === 'srtp' ? plan.keys : undefined;
    const srtpOut = keys !== undefined ? srtpContextFor(keys.local) : undefined;
    const srtpIn = keys !== undefined ? srtpContextFor(keys.remote) : undefined;
    const pair = await this.pool.allocate();
    try {
      const res = createResponse(req, 200, undefined, tag);
      res.set('Contact', ua.contact(inbound.local.protocol, 'callrec', /^sips:/i.test(req.uri)));
      res.setBody([
        'v=0', `o=callrec 1 1 IN IP4 ${this.mediaHost}`, 's=callrec', `c=IN IP4 ${this.mediaHost}`, 't=0 0',
        `m=audio ${pair.rtpPort} ${keys !== undefined ? 'RTP/SAVP' : 'RTP/AVP'} ${codec.payloadType}`, `a=rtpmap:${codec.payloadType} ${codec.name}/8000`,
        ...(keys !== undefined ? [formatCryptoAttribute(keys.local)] : []), 'a=sendonly', '',
      ].join('\r\n'), 'application/sdp');
      tx.respond(res);
      let dest = { host: offer.host, port: offer.port };
      // Symmetric RTP (RFC 4961): follow where the caller's media comes from - on an SRTP
      // leg only once a packet authenticated, so a forged one cannot divert the tone.
      pair.rtp.onPacket = (packet, source) => {
        if (srtpIn !== undefined && typeof srtpIn.unprotectRtp(packet) === 'string') return;
        dest = { host: source.address, port: source.port };
      };
      const socket = srtpOut === undefined ? pair.rtp : protectingSocket(pair.rtp, srtpOut);
      const player = new PromptPlayer(socket, () => dest, codec.payloadType, parseInt(ua.random(4), 16));
      await player.play(g711Tones(codec.name === 'PCMA' ? 'pcma' : 'pcmu', ok ? CONFIRM : REFUSE));
      await this.byeLater(ua, req, tag, inbound, 0);
    } finally {
      pair.rtp.onPacket = undefined;
      this.pool.release(pair);
    }
  }

  private byeLater(ua: UserAgent, req: SipRequest, tag: string, inbound: Inbound, delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      setTimeout(() => {
        const dialog = Dialog.asUas(req, tag, 'confirmed');
        const peer: Address = { protocol: inbound.source.protocol, host: this.config.pbx.host, port: this.config.pbx.port };
        ua.sendRequest(dialog.createRequest('BYE'), peer, { onResponse: () => resolve(), onTimeout: () => resolve(), onTransportError: () => resolve() });
      }, delayMs);
    });
  }
}

/** The socket with `send` protecting each RTP packet with the leg's outbound SRTP context (RFC 3711 §3.3). */
function protectingSocket(socket: Pick<MediaSocket, 'send'>, ctx: SrtpContext): Pick<MediaSocket, 'send'> {
  return { send: (packet: Buffer, port: number, host: string): void => socket.send(ctx.protectRtp(packet), port, host) };
}

/** The suites of an RTP/SAVP(F) offer none of which callrec supports; undefined when the offer is usable. */
function unusableSrtpSuites(req: SipRequest): string[] | undefined {
  let offer;
  try {
    offer = req.body.length > 0 ? readAudioStream(req.body.toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
  if (offer === undefined) return undefined;
  const plan = answerPlan(offer, undefined);
  return plan.kind === 'refuse' ? [...plan.offeredSuites] : undefined;
}
