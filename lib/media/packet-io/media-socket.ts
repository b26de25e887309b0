import type { CaptureArea } from '../capture-format.js';

/** How an engine with a fast path relays a socket's RTP without calling its handler. */
export interface ForwardRule {
  /** The socket the datagrams are sent from (of the same engine). */
  readonly to: MediaSocket;
  readonly port: number;
  readonly host: string;
  /** Packets of this payload type always reach the handler (-1: none). */
  readonly slowPayloadType: number;
  /** Packets are also captured: without room in a capture area, they reach the handler. */
  readonly captureRequired: boolean;
  /**
   * The party's source is not known yet: the first datagram the rule relays
   * is also reported to `onRelayed` (symmetric RTP latches on it), so a
   * call's first packet needs no JavaScript before it goes on.
   */
  readonly notifySource?: boolean;
}

/** Told the source of a datagram the fast path relayed (a rule's `notifySource`). */
export type RelayedHandler = (source: PacketSource) => void;

/**
 * Where a datagram came from. The object may be reused for the next
 * datagram: read it during the handler call, do not keep it.
 */
export interface PacketSource {
  readonly address: string;
  readonly port: number;
}

/**
 * Called for each datagram. `packet` is valid only during the call (its
 * memory is reused for later datagrams): copy what must be kept. Passing it
 * (or a part of it) to `send` during the call is fine.
 */
export type PacketHandler = (packet: Buffer, source: PacketSource) => void;

/**
 * A bound UDP socket of the media plane (one RTP or RTCP port). The relay
 * and everything above it see only this, so how datagrams are moved (Node's
 * dgram, or batched system calls) is decided in one place.
 */
export interface MediaSocket {
  readonly port: number;
  /** The one receiver of this socket's datagrams; undefined drops them. */
  onPacket: PacketHandler | undefined;
  /** Told where a datagram the fast path relayed came from, when the rule asked (`notifySource`). */
  onRelayed?: RelayedHandler | undefined;
  /** Sends a datagram; errors (full buffer, unreachable) drop it silently, as UDP does. */
  send(packet: Buffer, port: number, host: string): void;
  /**
   * True when `send` is done with `packet` on return (copied or sent), so
   * the caller may overwrite it right after: SRTP protect then writes into
   * a reused buffer instead of a new one per packet.
   */
  readonly copiesOnSend: boolean;
  /**
   * An engine's fast path (optional): from now on, datagrams that are plain
   * RTP version 2 are sent on as the rule says, and captured when it asks
   * for capture, without calling `onPacket`; everything else (RTCP, garbage,
   * the slow payload type, a packet no capture area has room for) still
   * reaches `onPacket`. Undefined ends the rule. Returns whether the rule is
   * in place (false: every datagram reaches `onPacket`, as without it).
   */
  forward?(rule: ForwardRule | undefined): boolean;
  /** The capture area of the rule (undefined: none, so captured packets reach `onPacket`). The caller keeps it alive meanwhile. */
  capture?(area: CaptureArea | undefined): boolean;
  /** Datagrams received on this socket that the fast path handled, and their octets. */
  forwarded?(): { packets: number; octets: number };
  close(): void;
}

/** Opens media sockets on one backend. */
export interface MediaSocketFactory {
  /** "batched" or "dgram", for the start-up log. */
  readonly name: string;
  /**
   * Where an exception thrown by a packet handler goes (a bug): dgram lets it
   * reach the process's uncaughtException handler; the batched engine
   * catches it so the rest of the batch is still delivered, and reports it here.
   */
  onHandlerError?: (err: unknown, count: number) => void;
  /** Binds host:port; rejects (e.g. EADDRINUSE) when it cannot. */
  open(host: string, port: number, receiveBufferBytes: number): Promise<MediaSocket>;
}
