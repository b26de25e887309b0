import type { Address, TransportProtocol } from '../sip/transport/transport.js';
import { bareHost } from '../sip/message/uri.js';

/** The two ends of the trunk; every call runs from one to the other. */
export type Side = 'pbx' | 'provider';

export type Direction = 'outbound' | 'inbound';

export interface TrunkPeer {
  host: string;
  port: number;
  transport: TransportProtocol;
  /** What callrec offers toward this side (config `srtp`); default off. */
  srtp?: 'off' | 'sdes' | undefined;
  /**
   * A sips: request that must go on to this side over UDP or TCP (config
   * `sips`): refused (the default, RFC 5630) or downgraded to sip:.
   */
  sips?: 'refuse' | 'downgrade' | undefined;
}

export function otherSide(side: Side): Side {
  return side === 'pbx' ? 'provider' : 'pbx';
}

/** SPEC: a call whose first request comes from the PBX is outbound, from the provider inbound. */
export function directionFrom(side: Side): Direction {
  return side === 'pbx' ? 'outbound' : 'inbound';
}

/**
 * Decides whether a request comes from the PBX or the provider (SPEC S4:
 * anything else is refused). Over UDP host and port must match; over TCP and
 * TLS the source port of a connection is ephemeral, so host and transport
 * decide, and a connection from the configured port wins when both peers
 * share a host and transport.
 */
export class TrunkPeers {
  constructor(private readonly peers: Record<Side, TrunkPeer>) {}

  peer(side: Side): TrunkPeer {
    return this.peers[side];
  }

  address(side: Side): Address {
    const p = this.peers[side];
    return { protocol: p.transport, host: p.host, port: p.port };
  }

  classify(source: Address): Side | undefined {
    const host = bareHost(source.host);
    const sides: Side[] = ['pbx', 'provider'];
    const exact = sides.find((s) => {
      const p = this.peers[s];
      return bareHost(p.host) === host && p.port === source.port && p.transport === source.protocol;
    });
    if (exact !== undefined || source.protocol === 'udp') return exact;
    const byHost = sides.filter((s) => bareHost(this.peers[s].host) === host && this.peers[s].transport === source.protocol);
    return byHost.length === 1 ? byHost[0] : undefined;
  }
}
