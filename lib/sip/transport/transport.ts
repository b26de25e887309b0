import type { SipMessage } from '../message/message.js';

export type TransportProtocol = 'udp' | 'tcp' | 'tls';

/** A remote (or local) transport address. */
export interface Address {
  protocol: TransportProtocol;
  host: string;
  port: number;
}

/** A message as it arrived, with where it came from. */
export interface Inbound {
  message: SipMessage;
  source: Address;
  /** The local listening address it arrived on (for Via/Contact of replies). */
  local: Address;
}

/** What the transaction layer needs from transports: send a message to an address. */
export interface MessageSender {
  /** Sends; failures are reported asynchronously through `onError`, never thrown. */
  send(message: SipMessage, destination: Address, onError?: (err: Error) => void): void;
}

/** RFC 3261 §17.1.1.2: retransmission timers only run on unreliable transports. */
export function isReliable(protocol: TransportProtocol): boolean {
  return protocol !== 'udp';
}

export function formatAddress(a: Address): string {
  const host = a.host.includes(':') && !a.host.startsWith('[') ? `[${a.host}]` : a.host;
  return `${a.protocol}:${host}:${a.port}`;
}
