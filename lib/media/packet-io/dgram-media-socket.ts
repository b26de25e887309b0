import dgram from 'node:dgram';
import net from 'node:net';
import type { MediaSocket, MediaSocketFactory, PacketHandler } from './media-socket.js';

/** Addresses in SDP are literal IPs: no DNS lookup and no nextTick per send. */
function literalLookup(address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, net.isIPv6(address) ? 6 : 4);
}

/** A media socket on Node's dgram: portable, one callback per datagram. */
class DgramMediaSocket implements MediaSocket {
  onPacket: PacketHandler | undefined;
  /** dgram keeps the buffer until the send completes, after this call returns. */
  readonly copiesOnSend = false;

  constructor(readonly port: number, private readonly socket: dgram.Socket) {
    socket.on('message', (packet, rinfo) => this.onPacket?.(packet, rinfo));
    // Send errors (e.g. ICMP port unreachable) must not crash the process.
    socket.on('error', () => {});
  }

  send(packet: Buffer, port: number, host: string): void {
    this.socket.send(packet, port, host);
  }

  close(): void {
    this.onPacket = undefined;
    this.socket.removeAllListeners('message');
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

export class DgramSocketFactory implements MediaSocketFactory {
  readonly name = 'dgram';

  open(host: string, port: number, receiveBufferBytes: number): Promise<MediaSocket> {
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: receiveBufferBytes, lookup: literalLookup as never });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind(port, host, () => {
        socket.removeAllListeners('error');
        resolve(new DgramMediaSocket(port, socket));
      });
    });
  }
}
