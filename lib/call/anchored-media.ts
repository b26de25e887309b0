import type { Logger } from 'pino';
import { MediaRelay } from '../media/media-relay.js';
import type { PortPool } from '../media/port-pool.js';
import { RelayEndpoint } from '../media/relay-endpoint.js';
import { anchorSdp, localAnswer, readAudioStream, SdpError, type AudioStream } from '../sdp/audio-stream.js';
import { PromptPlayer } from '../media/prompt-player.js';
import type { SdpRole, SessionDescriptionHandler } from './session-description-handler.js';
import { otherSide, type Side } from './trunk-peers.js';

/** The media of one call: an endpoint facing each trunk side, and the relay between them. */
export class CallMedia {
  /** The last audio stream each side described (its address, codecs, telephone-event PT). */
  readonly streams: Partial<Record<Side, AudioStream>> = {};
  /** The side whose SDP was the last answer: its first codec is the negotiated one. */
  answeredBy: Side | undefined;
  /** Prompts playing into this call. */
  readonly players = new Set<PromptPlayer>();

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
}

export interface MediaEvents {
  /** An SDP of a side was applied (offer or answer). */
  onSdp?(callKey: string, media: CallMedia, from: Side, role: SdpRole): void;
  onRelease?(callKey: string, media: CallMedia): void;
}

/**
 * SPEC M1: anchors every call's RTP at callrec. Each call gets one socket
 * pair facing the PBX and one facing the provider; each SDP is rewritten
 * to point its receiver at the pair facing it.
 */
export class AnchoredMedia implements SessionDescriptionHandler {
  private readonly calls = new Map<string, CallMedia>();

  constructor(
    private readonly pool: PortPool,
    private readonly host: string,
    private readonly logger: Logger,
    private readonly events: MediaEvents = {},
  ) {}

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
      this.events.onSdp?.(callKey, media, from, role);
      return Buffer.from(anchorSdp(text, this.host, media.endpoints[otherSide(from)].localPort));
    } catch (err) {
      // Unreadable SDP: relay it as it is (the call still connects, unanchored) and say so.
      const reason = err instanceof SdpError ? err.message : err instanceof Error ? err.message : String(err);
      this.logger.warn({ event: 'sdp.malformed', callKey, from, reason }, 'SDP not anchored');
      return body;
    }
  }

  answerLocally(callKey: string, side: Side, offer: Buffer, payloadTypes: readonly number[]): Buffer | undefined {
    const media = this.calls.get(callKey);
    if (media === undefined) return undefined;
    try {
      return Buffer.from(localAnswer(offer.toString('utf8'), this.host, media.endpoints[side].localPort, payloadTypes, String(Date.now())));
    } catch (err) {
      this.logger.warn({ event: 'sdp.malformed', callKey, reason: err instanceof Error ? err.message : String(err) }, 'no local answer');
      return undefined;
    }
  }

  play(callKey: string, side: Side, audio: Buffer, payloadType: number): Promise<void> {
    const media = this.calls.get(callKey);
    if (media === undefined) return Promise.resolve();
    const ep = media.endpoints[side];
    const player = new PromptPlayer(ep.pair.rtp, () => (ep.remoteHost !== undefined && ep.remotePort !== 0 ? { host: ep.remoteHost, port: ep.remotePort } : undefined),
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
    this.pool.release(media.endpoints.pbx.pair);
    this.pool.release(media.endpoints.provider.pair);
  }
}

function isSdp(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/sdp';
}
