import dgram from 'node:dgram';
import net from 'node:net';

/** A bound RTP socket on an even port and its RTCP socket on the next odd port (RFC 3550 §11). */
export interface SocketPair {
  rtpPort: number;
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
}

export class PortPoolExhaustedError extends Error {
  override readonly name = 'PortPoolExhaustedError';
}

/** Kernel receive buffer for media sockets: bursts after GC pauses must not overflow it. */
const RECV_BUFFER = 1 << 20;

/**
 * Hands out RTP/RTCP port pairs from `media.portMin..portMax`. Released
 * pairs go to the back of the queue so a port is not reused while stray
 * packets of the previous call may still arrive.
 */
export class PortPool {
  private readonly free: number[] = [];
  private readonly inUse = new Set<number>();

  constructor(private readonly host: string, portMin: number, portMax: number) {
    for (let p = portMin + (portMin % 2); p + 1 <= portMax; p += 2) this.free.push(p);
  }

  get available(): number {
    return this.free.length;
  }

  get allocated(): number {
    return this.inUse.size;
  }

  /** Binds the next free pair; ports that another process holds are skipped. */
  async allocate(): Promise<SocketPair> {
    for (let attempts = this.free.length; attempts > 0; attempts--) {
      const port = this.free.shift();
      if (port === undefined) break;
      try {
        const rtp = await this.bind(port);
        let rtcp: dgram.Socket;
        try {
          rtcp = await this.bind(port + 1);
        } catch (err) {
          rtp.close();
          throw err;
        }
        this.inUse.add(port);
        return { rtpPort: port, rtp, rtcp };
      } catch {
        this.free.push(port);
      }
    }
    throw new PortPoolExhaustedError(`no free RTP port pair on ${this.host}`);
  }

  private bind(port: number): Promise<dgram.Socket> {
    const socket = dgram.createSocket({ type: net.isIPv6(this.host) ? 'udp6' : 'udp4', recvBufferSize: RECV_BUFFER });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind(port, this.host, () => {
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }

  /** Closes the sockets and returns the pair to the pool; idempotent. */
  release(pair: SocketPair): void {
    if (!this.inUse.delete(pair.rtpPort)) return;
    pair.rtp.removeAllListeners('message');
    pair.rtcp.removeAllListeners('message');
    pair.rtp.close();
    pair.rtcp.close();
    this.free.push(pair.rtpPort);
  }
}
