import type { SocketPair } from './port-pool.js';
import type { SrtpLeg } from './srtp-leg.js';
import type { SrtpContext } from './srtp/srtp-context.js';
import type { SrtpSuiteName } from './srtp/srtp-suite.js';

/** Packets from a party that SRTP dropped: never relayed, never recorded. */
export interface SrtpDropCounters {
  /** The authentication tag did not verify (or an unknown MKI). */
  authFailures: number;
  /** Already received, or older than the replay window. */
  replayed: number;
  /** Too short for SRTP, not RTP/RTCP version 2, or RTCP sent in the clear (e.g. a final RTCP BYE). */
  malformed: number;
  /** Arrived while the leg was negotiating SRTP and had no keys yet. */
  unkeyed: number;
}

/** What `status` shows of a leg's SRTP. */
export interface SrtpEndpointStatus extends SrtpDropCounters {
  /** The suite in use, undefined when the leg is (now) plain RTP. */
  suite: SrtpSuiteName | undefined;
  /** Packets authenticated and decrypted (RTP and RTCP), over all keys of the call. */
  unprotected: number;
  /** Packets encrypted toward the party (RTP and RTCP), over all keys of the call. */
  protected: number;
}

/**
 * One side of an anchored media stream: the socket pair callrec announced
 * to that party, and where that party's media is sent. The address starts
 * as the one in the party's SDP and latches onto the source of the first
 * packet (symmetric RTP, RFC 4961), which is what gets through NAT.
 */
export class RelayEndpoint {
  remoteHost: string | undefined;
  remotePort = 0;
  remoteRtcpPort = 0;
  private latchedRtp = false;
  private latchedRtcp = false;
  /** SDP said c=0.0.0.0 / inactive / sendonly: the party sends nothing on purpose. */
  onHold = false;
  /** RTP packets (and octets) from this party that JavaScript relayed; see packetsIn for all of them. */
  relayedPackets = 0;
  relayedOctets = 0;
  /** performance.now() of the last RTP packet received from this party (see noteForwarded). */
  lastPacketAt = 0;
  /** The engine's fast path count of this socket when noteForwarded last looked. */
  private forwardedSeen = 0;
  /**
   * Told when what decides how this party's media is relayed changes
   * (address, latch, SRTP): the relay then re-checks its fast path.
   */
  onChange: (() => void) | undefined;
  /** SRTP (SPEC M8): decrypts what this party sends; undefined on a plain RTP leg. */
  srtpIn: SrtpContext | undefined;
  /** SRTP: protects what callrec sends to this party; undefined on a plain RTP leg. */
  srtpOut: SrtpContext | undefined;
  /**
   * SRTP is being negotiated on this leg and no keys are in place yet:
   * nothing from the party is relayed or recorded, nothing goes to it in clear.
   */
  private pending = false;
  /**
   * After a re-key: the party's previous inbound context, tried for packets
   * the new one rejects for a short while (the party switches keys only when
   * it gets the answer; its packets in flight still use the old key).
   */
  srtpInPrevious: SrtpContext | undefined;
  /** performance.now() when srtpInPrevious was retired. */
  srtpInPreviousSince = 0;
  readonly srtpDrops: SrtpDropCounters = { authFailures: 0, replayed: 0, malformed: 0, unkeyed: 0 };
  private srtpLeg: SrtpLeg | undefined;
  /** Counters of contexts replaced by a re-key, so status adds up over the call. */
  private srtpDone = { unprotected: 0, protected: 0 };

  constructor(readonly pair: SocketPair, readonly host: string) {}

  get localPort(): number {
    return this.pair.rtpPort;
  }

  get srtpPending(): boolean {
    return this.pending;
  }

  set srtpPending(pending: boolean) {
    if (pending === this.pending) return;
    this.pending = pending;
    this.onChange?.();
  }

  /** RTP packets received from this party: relayed by JavaScript or by the engine's fast path. */
  get packetsIn(): number {
    return this.relayedPackets + (this.pair.rtp.forwarded?.().packets ?? 0);
  }

  get bytesIn(): number {
    return this.relayedOctets + (this.pair.rtp.forwarded?.().octets ?? 0);
  }

  /**
   * Packets the fast path relayed do not pass JavaScript: when its count
   * moved since the last look, the party sent meanwhile, so lastPacketAt
   * becomes `nowMs` (as exact as the looks are frequent: the dead-call
   * check looks every few seconds for a limit of a minute).
   */
  noteForwarded(nowMs: number): void {
    const n = this.pair.rtp.forwarded?.().packets;
    if (n === undefined || n === this.forwardedSeen) return;
    this.forwardedSeen = n;
    this.lastPacketAt = nowMs;
  }

  /** From the party's SDP (offer, answer, re-INVITE): a new address ends the latch. */
  setRemote(host: string, port: number, rtcpPort: number, onHold: boolean): void {
    if (host !== this.remoteHost || port !== this.remotePort) {
      this.latchedRtp = false;
      this.latchedRtcp = false;
    }
    this.remoteHost = host;
    this.remotePort = port;
    this.remoteRtcpPort = rtcpPort;
    this.onHold = onHold;
    this.onChange?.();
  }

  get srtp(): SrtpLeg | undefined {
    return this.srtpLeg;
  }

  /**
   * Puts a leg's SRTP contexts in place (or, with undefined, makes the leg
   * plain RTP); either way the leg is no longer pending.
   */
  setSrtp(leg: SrtpLeg | undefined): void {
    const old = this.srtpLeg;
    if (old !== undefined && old !== leg) {
      // Contexts a new leg keeps go on counting there.
      if (old.inbound !== leg?.inbound) this.srtpDone.unprotected += old.inbound.counters.rtpUnprotected + old.inbound.counters.rtcpUnprotected;
      if (old.outbound !== leg?.outbound) this.srtpDone.protected += old.outbound.counters.rtpProtected + old.outbound.counters.rtcpProtected;
    }
    const previousIn = this.srtpIn;
    this.srtpInPrevious = previousIn !== undefined && leg !== undefined && leg.inbound !== previousIn ? previousIn : undefined;
    this.srtpInPreviousSince = performance.now();
    this.srtpLeg = leg;
    this.srtpIn = leg?.inbound;
    this.srtpOut = leg?.outbound;
    this.pending = false;
    this.onChange?.();
  }

  /** Counts a packet SRTP dropped. */
  srtpDropped(reason: keyof SrtpDropCounters): void {
    this.srtpDrops[reason]++;
  }

  /** The leg's SRTP for status, or undefined for a call that never had SRTP on this leg. */
  get srtpStatus(): SrtpEndpointStatus | undefined {
    const leg = this.srtpLeg;
    const d = this.srtpDrops;
    const used = leg !== undefined || this.srtpDone.unprotected + this.srtpDone.protected > 0
      || d.authFailures + d.replayed + d.malformed + d.unkeyed > 0;
    if (!used) return undefined;
    const i = leg?.inbound.counters;
    const o = leg?.outbound.counters;
    return {
      suite: leg?.suite,
      ...d,
      unprotected: this.srtpDone.unprotected + (i === undefined ? 0 : i.rtpUnprotected + i.rtcpUnprotected),
      protected: this.srtpDone.protected + (o === undefined ? 0 : o.rtpProtected + o.rtcpProtected),
    };
  }

  /** True once RTP latched onto the party's source (the relay asks before making the address text). */
  get rtpLatched(): boolean {
    return this.latchedRtp;
  }

  get rtcpLatched(): boolean {
    return this.latchedRtcp;
  }

  /** Latches once per SDP address. */
  latchRtp(address: string, port: number): void {
    if (this.latchedRtp) return;
    this.latchedRtp = true;
    this.remoteHost = address;
    this.remotePort = port;
    this.onChange?.();
  }

  latchRtcp(address: string, port: number): void {
    if (this.latchedRtcp) return;
    this.latchedRtcp = true;
    this.remoteRtcpPort = port;
    if (this.remoteHost === undefined) this.remoteHost = address;
  }
}
