import type { RemoteInfo } from 'node:dgram';
import type { RelayEndpoint } from './relay-endpoint.js';

/** Receives every RTP packet the relay forwards; must not keep `packet` (it is reused by nobody, but the tap copies). */
export interface PacketTap {
  onRtp(from: 0 | 1, packet: Buffer, arrivalMs: number): void;
}

/**
 * Relays RTP and RTCP between the two endpoints of a call, unchanged
 * (payload, SSRC, sequence number, timestamp: SPEC M2). What arrives on the
 * socket announced to party 0 is sent from the socket announced to party 1,
 * so each party sees media from the address it was given.
 *
 * Hot path: one closure per socket set up once; per packet a latch check,
 * one send and the tap; no allocation of our own.
 */
export class MediaRelay {
  tap: PacketTap | undefined;
  private closed = false;

  constructor(readonly endpoints: readonly [RelayEndpoint, RelayEndpoint], private readonly now: () => number = () => performance.now()) {
    const start = now();
    endpoints[0].lastPacketAt = start;
    endpoints[1].lastPacketAt = start;
    this.wire(0);
    this.wire(1);
  }

  private wire(from: 0 | 1): void {
    const src = this.endpoints[from];
    const dst = this.endpoints[from === 0 ? 1 : 0];
    src.pair.rtp.on('message', (packet: Buffer, rinfo: RemoteInfo) => {
      src.latchRtp(rinfo.address, rinfo.port);
      src.packetsIn++;
      src.bytesIn += packet.length;
      src.lastPacketAt = this.now();
      if (dst.remotePort !== 0 && dst.remoteHost !== undefined) {
        dst.pair.rtp.send(packet, dst.remotePort, dst.remoteHost);
        dst.packetsOut++;
      }
      this.tap?.onRtp(from, packet, Date.now());
    });
    src.pair.rtcp.on('message', (packet: Buffer, rinfo: RemoteInfo) => {
      src.latchRtcp(rinfo.address, rinfo.port);
      if (dst.remoteRtcpPort !== 0 && dst.remoteHost !== undefined) dst.pair.rtcp.send(packet, dst.remoteRtcpPort, dst.remoteHost);
    });
    // Send errors (e.g. ICMP port unreachable on a connected path) must not crash the process.
    src.pair.rtp.on('error', () => {});
    src.pair.rtcp.on('error', () => {});
  }

  /** Milliseconds since either party last sent RTP (for the dead-call timeout, SPEC M9). */
  idleMs(): number {
    const last = Math.max(this.endpoints[0].lastPacketAt, this.endpoints[1].lastPacketAt);
    return this.now() - last;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tap = undefined;
  }
}
