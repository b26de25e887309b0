import { DgramSocketFactory } from './packet-io/dgram-media-socket.js';
import type { MediaSocket, MediaSocketFactory } from './packet-io/media-socket.js';

/** A bound RTP socket on an even port and its RTCP socket on the next odd port (RFC 3550 §11). */
export interface SocketPair {
  rtpPort: number;
  rtp: MediaSocket;
  rtcp: MediaSocket;
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

  constructor(
    private readonly host: string,
    portMin: number,
    portMax: number,
    private readonly sockets: MediaSocketFactory = new DgramSocketFactory(),
  ) {
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
        const rtp = await this.sockets.open(this.host, port, RECV_BUFFER);
        let rtcp: MediaSocket;
        try {
          rtcp = await this.sockets.open(this.host, port + 1, RECV_BUFFER);
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

  /** Closes the sockets and returns the pair to the pool; idempotent. */
  release(pair: SocketPair): void {
    if (!this.inUse.delete(pair.rtpPort)) return;
    pair.rtp.close();
    pair.rtcp.close();
    this.free.push(pair.rtpPort);
  }
}
