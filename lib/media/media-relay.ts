import type { CaptureArea } from './capture-format.js';
import type { RelayEndpoint, SrtpDropCounters } from './relay-endpoint.js';
import type { SrtpContext, SrtpFailure } from './srtp/srtp-context.js';

/**
 * Where the engine's fast path may append a party's packets itself (in the
 * capture layout) instead of handing each one to `PacketTap.onRtp`.
 */
export interface CaptureSink {
  /** Packets of this payload type must still reach onRtp (telephone-events: key presses), -1 for none. */
  readonly slowPayloadType: number;
  /** The area to append to now; undefined: none (packets reach onRtp, which starts a new one). */
  readonly area: CaptureArea | undefined;
  /** Set by the relay: called whenever `area` changes (a batch filled up or was written out). */
  onAreaChange: (() => void) | undefined;
}

/** Receives every RTP packet the relay forwards; must not keep `packet` (the tap copies). */
export interface PacketTap {
  onRtp(from: 0 | 1, packet: Buffer, arrivalMs: number): void;
  /**
   * The sink through which the engine may capture party `from`'s packets
   * without calling onRtp; undefined when the tap must see every packet
   * (in-band DTMF detection). A tap without this method sees every packet.
   */
  capture?(from: 0 | 1): CaptureSink | undefined;
}

/** The fast-path rule in place for one direction, to skip re-installing the same one. */
interface InstalledRule {
  port: number;
  host: string;
  sink: CaptureSink | undefined;
  slowPayloadType: number;
  notifySource: boolean;
}

const DROP_COUNTER: Record<SrtpFailure, keyof SrtpDropCounters> = { auth: 'authFailures', replay: 'replayed', malformed: 'malformed' };
/** How long a party's previous key is still accepted after a re-key. */
const REKEY_GRACE_MS = 2000;
const DROP_BIT: Record<SrtpFailure, number> = { auth: 1, replay: 2, malformed: 4 };

/**
 * Relays RTP and RTCP between the two endpoints of a call, unchanged
 * (payload, SSRC, sequence number, timestamp: SPEC M2). What arrives on the
 * socket announced to party 0 is sent from the socket announced to party 1,
 * so each party sees media from the address it was given.
 *
 * SRTP (SPEC M8) is terminated per leg: what a party with SRTP sends is
 * authenticated and decrypted with its inbound context (RFC 3711 §3.3,
 * §3.4); the tap always gets the plain RTP packet; what goes to a party with
 * SRTP is protected with its outbound context (callrec's own key for that
 * leg). Packets failing authentication or the replay check are dropped and
 * counted on their endpoint, never relayed, never tapped; the first such
 * drop of a call for each reason is reported through `onSrtpDrop`.
 *
 * Hot path: on an engine with a fast path (batched I/O), once a direction
 * is settled (the other party's address known, no SRTP on either leg) its
 * plain RTP is relayed, and captured for the tap, by the engine without
 * calling JavaScript; until the party's source is latched, the engine
 * reports the first packet's source (onRelayed); what the engine leaves
 * (RTCP, telephone-events, garbage, a full capture batch) comes here. Here:
 * one closure per socket set up once; per packet a latch check, one send
 * and the tap; no allocation of our own on a plain leg (two field checks);
 * SRTP decrypts in place and allocates only the protect output, and not
 * even that when the socket copies on send (batched I/O).
 */
export class MediaRelay {
  private currentTap: PacketTap | undefined;
  private readonly rules: [InstalledRule | undefined, InstalledRule | undefined] = [undefined, undefined];
  /** Called for the first packet of the call that SRTP drops for each reason (log it once, not per packet). */
  onSrtpDrop: ((from: 0 | 1, reason: SrtpFailure) => void) | undefined;
  private srtpReported = 0;
  private closed = false;

  constructor(readonly endpoints: readonly [RelayEndpoint, RelayEndpoint], private readonly now: () => number = () => performance.now()) {
    const start = now();
    endpoints[0].lastPacketAt = start;
    endpoints[1].lastPacketAt = start;
    this.wire(0);
    this.wire(1);
    endpoints[0].onChange = () => this.refresh();
    endpoints[1].onChange = () => this.refresh();
    this.refresh(); // addresses the endpoints already have settle a direction at once
  }

  get tap(): PacketTap | undefined {
    return this.currentTap;
  }

  /** Recording starts (a tap) or stops (undefined). */
  set tap(tap: PacketTap | undefined) {
    this.currentTap = tap;
    this.refresh();
  }

  /**
   * Re-checks, per direction, whether the engine's fast path may relay it
   * and with what rule. Called on every change of what decides it (an
   * endpoint's address, latch or SRTP; the tap); the call layer calls it
   * when the tap's needs change (codec, DTMF detection at answer).
   */
  refresh(): void {
    this.refreshDirection(0);
    this.refreshDirection(1);
  }

  private refreshDirection(from: 0 | 1): void {
    const src = this.endpoints[from];
    const dst = this.endpoints[from === 0 ? 1 : 0];
    const socket = src.pair.rtp;
    if (socket.forward === undefined) return;
    // The party's own source need not be latched: until it is, the rule reports its first
    // packet's source (symmetric RTP), so even a call's first packet goes on without JavaScript.
    const settled = !this.closed && src.srtpIn === undefined && !src.srtpPending
      && dst.srtpOut === undefined && !dst.srtpPending && dst.remotePort !== 0 && dst.remoteHost !== undefined;
    const tap = this.currentTap;
    const sink = settled && tap !== undefined ? tap.capture?.(from) : undefined;
    // A tap that must see every packet (no capture sink) keeps the direction in JavaScript.
    const wanted: InstalledRule | undefined = settled && (tap === undefined || sink !== undefined)
      ? { host: dst.remoteHost!, port: dst.remotePort, sink, slowPayloadType: sink?.slowPayloadType ?? -1, notifySource: !src.rtpLatched }
      : undefined;
    const old = this.rules[from];
    if (old === wanted || (old !== undefined && wanted !== undefined && old.host === wanted.host && old.port === wanted.port
      && old.sink === wanted.sink && old.slowPayloadType === wanted.slowPayloadType && old.notifySource === wanted.notifySource)) return;
    if (old?.sink !== undefined) old.sink.onAreaChange = undefined;
    this.rules[from] = undefined;
    if (wanted === undefined) {
      socket.forward(undefined);
      return;
    }
    const { host, port, slowPayloadType, notifySource } = wanted;
    if (!socket.forward({ to: dst.pair.rtp, port, host, slowPayloadType, captureRequired: sink !== undefined, notifySource })) return;
    this.rules[from] = wanted;
    if (sink === undefined) return;
    sink.onAreaChange = () => socket.capture?.(sink.area);
    socket.capture?.(sink.area);
  }

  /**
   * The plain packet from a party: as it came on a plain leg, decrypted and
   * authenticated on an SRTP leg; undefined (dropped and counted) when it
   * fails, or when the leg waits for its keys.
   */
  private unprotect(from: 0 | 1, src: RelayEndpoint, packet: Buffer, rtcp: boolean): Buffer | undefined {
    const inbound = src.srtpIn;
    if (inbound === undefined) {
      if (!src.srtpPending) return packet;
      src.srtpDropped('unkeyed');
      return undefined;
    }
    let r = rtcp ? inbound.unprotectRtcp(packet) : inbound.unprotectRtp(packet);
    if (typeof r === 'string') r = this.retryPrevious(src, packet, rtcp, r);
    if (typeof r === 'string') {
      this.drop(from, r);
      return undefined;
    }
    return r;
  }

  private wire(from: 0 | 1): void {
    const src = this.endpoints[from];
    const dst = this.endpoints[from === 0 ? 1 : 0];
    src.pair.rtp.onPacket = (packet, source) => {
      const plain = this.unprotect(from, src, packet, false);
      if (plain === undefined) return;
      // Latched only on what authenticated: a forged packet cannot steer an SRTP leg's media.
      src.relayedPackets++;
      src.relayedOctets += packet.length;
      src.lastPacketAt = this.now();
      if (dst.remotePort !== 0 && dst.remoteHost !== undefined) {
        const outbound = dst.srtpOut;
        if (outbound === undefined) {
          if (!dst.srtpPending) dst.pair.rtp.send(plain, dst.remotePort, dst.remoteHost);
        } else {
          const out = this.protect(outbound, plain, false, src, dst.pair.rtp.copiesOnSend);
          if (out !== undefined) dst.pair.rtp.send(out, dst.remotePort, dst.remoteHost);
        }
      }
      this.currentTap?.onRtp(from, plain, Date.now());
      // Latched after this packet went on (a first packet the fast path did not take: not plain
      // RTP, or an engine without one).
      if (!src.rtpLatched) src.latchRtp(source.address, source.port);
    };
    // The fast path relayed the party's first packet itself and tells where it came from.
    src.pair.rtp.onRelayed = (source) => {
      // The engine reports a rule's first source once and then stops on its own: the installed
      // rule is already what the latch asks for, and is not installed again (two engine calls
      // per leg fewer when a thousand calls start their media at once).
      const rule = this.rules[from];
      if (rule !== undefined) rule.notifySource = false;
      if (!src.rtpLatched) src.latchRtp(source.address, source.port);
    };
    src.pair.rtcp.onPacket = (packet, source) => {
      const plain = this.unprotect(from, src, packet, true);
      if (plain === undefined) return;
      if (!src.rtcpLatched) src.latchRtcp(source.address, source.port);
      if (dst.remoteRtcpPort === 0 || dst.remoteHost === undefined) return;
      const outbound = dst.srtpOut;
      if (outbound === undefined) {
        if (!dst.srtpPending) dst.pair.rtcp.send(plain, dst.remoteRtcpPort, dst.remoteHost);
      } else {
        const out = this.protect(outbound, plain, true, src, dst.pair.rtcp.copiesOnSend);
        if (out !== undefined) dst.pair.rtcp.send(out, dst.remoteRtcpPort, dst.remoteHost);
      }
    };
  }

  /**
   * A packet the current inbound context rejected may still use the key the
   * party had before a re-key (for REKEY_GRACE_MS); a failed check leaves
   * the packet unchanged, so it can be tried again.
   */
  private retryPrevious(src: RelayEndpoint, packet: Buffer, rtcp: boolean, failure: SrtpFailure): Buffer | SrtpFailure {
    const previous = src.srtpInPrevious;
    if (previous === undefined || failure !== 'auth') return failure;
    if (performance.now() - src.srtpInPreviousSince > REKEY_GRACE_MS) {
      src.srtpInPrevious = undefined;
      return failure;
    }
    const r = rtcp ? previous.unprotectRtcp(packet) : previous.unprotectRtp(packet);
    return typeof r === 'string' ? failure : r;
  }

  /**
   * Protect throws only for input that is not RTP/RTCP v2 (from a plain leg): such a packet is not sent on.
   * `reuse` (the socket copies on send): the output is the context's reused buffer, no allocation.
   */
  private protect(ctx: SrtpContext, plain: Buffer, rtcp: boolean, src: RelayEndpoint, reuse: boolean): Buffer | undefined {
    try {
      return rtcp ? ctx.protectRtcp(plain, plain.length, reuse) : ctx.protectRtp(plain, plain.length, reuse);
    } catch {
      src.srtpDropped('malformed');
      return undefined;
    }
  }

  private drop(from: 0 | 1, reason: SrtpFailure): void {
    this.endpoints[from].srtpDropped(DROP_COUNTER[reason]);
    const bit = DROP_BIT[reason];
    if ((this.srtpReported & bit) !== 0) return;
    this.srtpReported |= bit;
    this.onSrtpDrop?.(from, reason);
  }

  /** Milliseconds since either party last sent RTP (for the dead-call timeout, SPEC M9). */
  idleMs(): number {
    const now = this.now();
    this.endpoints[0].noteForwarded(now);
    this.endpoints[1].noteForwarded(now);
    const last = Math.max(this.endpoints[0].lastPacketAt, this.endpoints[1].lastPacketAt);
    return now - last;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.currentTap = undefined;
    this.refresh(); // the fast path ends with the relay
    this.onSrtpDrop = undefined;
  }
}
