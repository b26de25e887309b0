import type { MediaSocket } from '../media/packet-io/media-socket.js';
import type { Logger } from 'pino';
import { MediaRelay } from '../media/media-relay.js';
import type { PortPool } from '../media/port-pool.js';
import { RelayEndpoint } from '../media/relay-endpoint.js';
import { SrtpLeg } from '../media/srtp-leg.js';
import type { SrtpFailure } from '../media/srtp/srtp-context.js';
import { anchorSdp, localAnswer, readAudioStream, SdpError, type AudioStream } from '../sdp/audio-stream.js';
import type { CryptoAttribute, RandomBytes } from '../sdp/crypto-attribute.js';
import {
  answerPlan, cryptoOffer, isSavp, matchCryptoAnswer, sameLegKeys, type AnswerPlan, type LegKeys, type SrtpMode,
} from '../sdp/srtp-offer.js';
import { PromptPlayer } from '../media/prompt-player.js';
import type { SdpRole, SessionDescriptionHandler } from './session-description-handler.js';
import { otherSide, type Side } from './trunk-peers.js';

/** SDES negotiation state of one side of a call (SPEC M8). */
export interface SideSrtpState {
  /** How callrec answers this side's last offer. */
  plan: AnswerPlan | undefined;
  /** callrec's crypto lines in its last offer toward this side (empty: it offered plain RTP). */
  offered: CryptoAttribute[];
  /** An offer/answer has completed on this leg (plain or SRTP). */
  negotiated: boolean;
}

/** The media of one call: an endpoint facing each trunk side, and the relay between them. */
export class CallMedia {
  /** The last audio stream each side described (its address, codecs, telephone-event PT). */
  readonly streams: Partial<Record<Side, AudioStream>> = {};
  /** The side whose SDP was the last answer: its first codec is the negotiated one. */
  answeredBy: Side | undefined;
  /** Prompts playing into this call. */
  readonly players = new Set<PromptPlayer>();
  /** SDES offer/answer state per side (keys inside are redacted in any log form). */
  readonly srtpState: Record<Side, SideSrtpState> = {
    pbx: { plan: undefined, offered: [], negotiated: false },
    provider: { plan: undefined, offered: [], negotiated: false },
  };

  constructor(readonly endpoints: Record<Side, RelayEndpoint>, readonly relay: MediaRelay, readonly callerSide: Side) {}

  /** Index of a side in the relay (0 = PBX, 1 = provider). */
  static index(side: Side): 0 | 1 {
    return side === 'pbx' ? 0 : 1;
  }

  /** The codec both sides agreed on: the first of the answer. */
  get codec(): AudioStream['codecs'][number] | undefined {
    const s = this.answeredBy !== undefined ? this.streams[this.answeredBy] : undefined;
    return s?.codecs.find((c) => c.name !== 'TELEPHONE-EVENT' && c.name !== 'CN');
  }

  get onHold(): boolean {
    return this.endpoints.pbx.onHold || this.endpoints.provider.onHold;
  }

  /**
   * For the metadata: e.g. "SRTP AES_CM_128_HMAC_SHA1_80 caller leg" when
   * the leg facing `side` is SRTP, undefined for plain RTP. Never a key.
   */
  srtpSummary(side: Side): string | undefined {
    const leg = this.endpoints[side].srtp;
    if (leg === undefined) return undefined;
    return `SRTP ${leg.suite} ${side === this.callerSide ? 'caller' : 'callee'} leg`;
  }
}

export interface MediaEvents {
  /** An SDP of a side was applied (offer or answer). */
  onSdp?(callKey: string, media: CallMedia, from: Side, role: SdpRole): void;
  onRelease?(callKey: string, media: CallMedia): void;
}

export interface AnchoredMediaOptions {
  /** `srtp` of the pbx and provider entries: what callrec offers toward each side. Default off for both. */
  srtp?: Readonly<Record<Side, SrtpMode>> | undefined;
  /** Key source (crypto.randomBytes unless a test fixes it). */
  random?: RandomBytes | undefined;
}

/**
 * SPEC M1: anchors every call's RTP at callrec. Each call gets one socket
 * pair facing the PBX and one facing the provider; each SDP is rewritten
 * to point its receiver at the pair facing it.
 *
 * SPEC M8: SDES-SRTP is terminated per leg. An offer with RTP/SAVP(F) and
 * a=crypto is answered with RTP/SAVP, the first supported crypto line's tag
 * and suite and a fresh key of callrec's own; toward the other side callrec
 * offers what that side's `srtp` setting says (sdes: RTP/SAVP with its own
 * crypto lines, off: RTP/AVP without) - or SRTP again when that leg already
 * runs SRTP. A party's key never crosses to the other side.
 */
export class AnchoredMedia implements SessionDescriptionHandler {
  private readonly calls = new Map<string, CallMedia>();
  private readonly srtpModes: Readonly<Record<Side, SrtpMode>>;
  private readonly random: RandomBytes | undefined;

  constructor(
    private readonly pool: PortPool,
    private readonly host: string,
    private readonly logger: Logger,
    private readonly events: MediaEvents = {},
    options: AnchoredMediaOptions = {},
  ) {
    this.srtpModes = options.srtp ?? { pbx: 'off', provider: 'off' };
    this.random = options.random;
  }

  get(callKey: string): CallMedia | undefined {
    return this.calls.get(callKey);
  }

  get all(): IterableIterator<[string, CallMedia]> {
    return this.calls.entries();
  }

  async prepare(callKey: string, callerSide: Side): Promise<void> {
    const pbxPair = await this.pool.allocate();
    let providerPair;
    try {
      providerPair = await this.pool.allocate();
    } catch (err) {
      this.pool.release(pbxPair);
      throw err;
    }
    const endpoints = { pbx: new RelayEndpoint(pbxPair, this.host), provider: new RelayEndpoint(providerPair, this.host) };
    const relay = new MediaRelay([endpoints.pbx, endpoints.provider]);
    relay.onSrtpDrop = (from: 0 | 1, reason: SrtpFailure) => {
      // Failed authentication or replay is worth a warning; a malformed packet (e.g. a peer's clear
      // RTCP keep-alive before its keys, as baresip sends) is only noted.
      const level = reason === 'malformed' ? 'info' : 'warn';
      this.logger[level]({ event: 'srtp.drop', callKey, side: from === 0 ? 'pbx' : 'provider', reason },
        `SRTP packet dropped (${reason}: not relayed, not recorded); further such drops of this call are only counted`);
    };
    this.calls.set(callKey, new CallMedia(endpoints, relay, callerSide));
  }

  rewrite(callKey: string, from: Side, role: SdpRole, body: Buffer, contentType: string | undefined): Buffer {
    const media = this.calls.get(callKey);
    if (media === undefined || !isSdp(contentType)) return body;
    const text = body.toString('utf8');
    try {
      const stream = readAudioStream(text);
      if (stream !== undefined) {
        media.endpoints[from].setRemote(stream.host, stream.port, stream.rtcpPort, stream.onHold);
        media.streams[from] = stream;
      }
      if (role === 'answer') media.answeredBy = from;
      const out = role === 'offer'
        ? this.relayOffer(callKey, media, from, text, stream)
        : this.relayAnswer(callKey, media, from, text, stream);
      this.events.onSdp?.(callKey, media, from, role);
      return Buffer.from(out);
    } catch (err) {
      // Unreadable SDP: relay it as it is (the call still connects, unanchored) and say so - but never a party's key.
      const reason = err instanceof SdpError ? err.message : err instanceof Error ? err.message : String(err);
      this.logger.warn({ event: 'sdp.malformed', callKey, from, reason }, 'SDP not anchored');
      return /^a=crypto:/m.test(text) ? Buffer.from(text.replace(/^a=crypto:.*(\r?\n|$)/gm, '')) : body;
    }
  }

  /**
   * An offer from `from`: decide how to answer it (SRTP in kind), and offer
   * toward the other side what that side's setting says.
   */
  private relayOffer(callKey: string, media: CallMedia, from: Side, text: string, stream: AudioStream | undefined): string {
    const to = otherSide(from);
    const port = media.endpoints[to].localPort;
    if (stream === undefined) return anchorSdp(text, this.host, port, { crypto: [] });
    const fromState = media.srtpState[from];
    const toState = media.srtpState[to];
    const plan = answerPlan(stream, legKeys(media.endpoints[from].srtp), this.random);
    fromState.plan = plan;
    if (plan.kind === 'srtp' && !fromState.negotiated) media.endpoints[from].srtpPending = true;
    if (plan.kind === 'refuse') {
      this.logger.warn({ event: 'srtp.unsupported', callKey, side: from, suites: plan.offeredSuites },
        'SRTP offer without a crypto suite callrec supports: its audio stream is refused');
    }
    const current = media.endpoints[to].srtp;
    const srtpTo = this.srtpModes[to] === 'sdes' || current !== undefined;
    const offered = srtpTo ? cryptoOffer(current?.local, this.random) : [];
    toState.offered = offered;
    if (srtpTo && !toState.negotiated) media.endpoints[to].srtpPending = true;
    if (plan.kind === 'srtp' && !srtpTo) {
      this.logger.warn({ event: 'srtp.plain-leg', callKey, srtpSide: from, plainSide: to, suite: plan.keys.remote.suite },
        `SRTP call relayed as plain RTP toward the ${to}: its srtp setting is off`);
    }
    const protocol = srtpTo ? 'RTP/SAVP' : isSavp(stream.protocol) ? 'RTP/AVP' : stream.protocol;
    return anchorSdp(text, this.host, port, { protocol, crypto: offered });
  }

  /**
   * An answer from `from` to what callrec offered it: its keys (or plain
   * RTP) for its leg; then callrec's answer to the other side's offer.
   */
  private relayAnswer(callKey: string, media: CallMedia, from: Side, text: string, stream: AudioStream | undefined): string {
    const to = otherSide(from);
    const offered = media.srtpState[from].offered;
    let keys: LegKeys | undefined;
    if (stream !== undefined && offered.length > 0) {
      if (isSavp(stream.protocol)) keys = matchCryptoAnswer(offered, stream.crypto);
      if (keys === undefined) {
        this.logger.warn({ event: 'srtp.refused', callKey, side: from, protocol: stream.protocol },
          `the ${from} answered callrec's SRTP offer without a matching crypto line: its leg is plain RTP`);
      }
    }
    this.activate(callKey, media, from, keys);
    const port = media.endpoints[to].localPort;
    const plan = media.srtpState[to].plan ?? this.fallbackPlan(media, to, stream);
    switch (plan.kind) {
      case 'srtp':
        this.activate(callKey, media, to, plan.keys);
        return anchorSdp(text, this.host, port, { protocol: plan.protocol, crypto: [plan.keys.local] });
      case 'refuse':
        this.activate(callKey, media, to, undefined);
        return anchorSdp(text, this.host, port, { protocol: plan.protocol, crypto: [], refuse: true });
      case 'plain':
        this.activate(callKey, media, to, undefined);
        return anchorSdp(text, this.host, port, { protocol: plan.protocol, crypto: [] });
    }
  }

  /** An answer whose offer callrec did not see: keep the leg as it is. */
  private fallbackPlan(media: CallMedia, side: Side, stream: AudioStream | undefined): AnswerPlan {
    const keys = legKeys(media.endpoints[side].srtp);
    if (keys !== undefined) return { kind: 'srtp', protocol: 'RTP/SAVP', keys };
    const protocol = stream === undefined || isSavp(stream.protocol) ? 'RTP/AVP' : stream.protocol;
    return { kind: 'plain', protocol };
  }

  /** Puts a leg's negotiated keys in place; unchanged keys keep their contexts (ROC, replay window). */
  private activate(callKey: string, media: CallMedia, side: Side, keys: LegKeys | undefined): void {
    const ep = media.endpoints[side];
    media.srtpState[side].negotiated = true;
    const current = legKeys(ep.srtp);
    if (sameLegKeys(current, keys)) {
      ep.srtpPending = false;
      return;
    }
    ep.setSrtp(keys === undefined ? undefined : new SrtpLeg(keys.remote, keys.local, ep.srtp));
    if (keys !== undefined) {
      this.logger.info({ event: 'srtp.keys', callKey, side, suite: keys.local.suite, rekeyed: current !== undefined },
        `SRTP ${keys.local.suite} on the ${side} leg`);
    } else if (current !== undefined) {
      this.logger.info({ event: 'srtp.off', callKey, side }, `the ${side} leg is plain RTP now`);
    }
  }

  answerLocally(callKey: string, side: Side, offer: Buffer, payloadTypes: readonly number[]): Buffer | undefined {
    const media = this.calls.get(callKey);
    if (media === undefined) return undefined;
    try {
      const text = offer.toString('utf8');
      const state = media.srtpState[side];
      if (state.plan === undefined) {
        const stream = readAudioStream(text);
        if (stream !== undefined) state.plan = answerPlan(stream, legKeys(media.endpoints[side].srtp), this.random);
      }
      const plan = state.plan;
      if (plan?.kind === 'refuse') return undefined;
      const keys = plan?.kind === 'srtp' ? plan.keys : undefined;
      const answer = localAnswer(text, this.host, media.endpoints[side].localPort, payloadTypes, String(Date.now()), keys?.local);
      this.activate(callKey, media, side, keys);
      return Buffer.from(answer);
    } catch (err) {
      this.logger.warn({ event: 'sdp.malformed', callKey, reason: err instanceof Error ? err.message : String(err) }, 'no local answer');
      return undefined;
    }
  }

  play(callKey: string, side: Side, audio: Buffer, payloadType: number): Promise<void> {
    const media = this.calls.get(callKey);
    if (media === undefined) return Promise.resolve();
    const ep = media.endpoints[side];
    const player = new PromptPlayer(srtpAwareSocket(ep), () => (ep.remoteHost !== undefined && ep.remotePort !== 0 ? { host: ep.remoteHost, port: ep.remotePort } : undefined),
      payloadType, (Math.random() * 0xffffffff) >>> 0);
    media.players.add(player);
    return player.play(audio).finally(() => media.players.delete(player));
  }

  release(callKey: string): void {
    const media = this.calls.get(callKey);
    if (media === undefined) return;
    this.calls.delete(callKey);
    for (const p of media.players) p.stop();
    this.events.onRelease?.(callKey, media);
    media.relay.close();
    for (const side of ['pbx', 'provider'] as const) {
      const s = media.endpoints[side].srtpStatus;
      if (s !== undefined && s.authFailures + s.replayed + s.malformed > 0) {
        this.logger[s.authFailures + s.replayed > 0 ? 'warn' : 'info']({ event: 'srtp.dropped', callKey, side, authFailures: s.authFailures, replayed: s.replayed, malformed: s.malformed },
          'SRTP packets dropped during the call');
      }
    }
    this.pool.release(media.endpoints.pbx.pair);
    this.pool.release(media.endpoints.provider.pair);
  }
}

function legKeys(leg: SrtpLeg | undefined): LegKeys | undefined {
  return leg === undefined ? undefined : { remote: leg.remote, local: leg.local };
}

/**
 * The endpoint's RTP socket for a prompt: what is sent through it is
 * protected with the leg's outbound SRTP context when the leg has one (and
 * not sent while its keys are pending).
 */
function srtpAwareSocket(ep: RelayEndpoint): Pick<MediaSocket, 'send'> {
  const socket = ep.pair.rtp;
  return {
    send: (packet: Buffer, port: number, host: string): void => {
      const ctx = ep.srtpOut;
      if (ctx !== undefined) socket.send(ctx.protectRtp(packet), port, host);
      else if (!ep.srtpPending) socket.send(packet, port, host);
    },
  };
}

function isSdp(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/sdp';
}
