/** Helpers of the packet engine tests: loopback peers, engine sockets on free ports, polling. */
import dgram from 'node:dgram';
import type { MediaSocket, MediaSocketFactory } from '../../lib/media/packet-io/media-socket.js';

export const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A dgram peer on loopback. */
export async function peer(type: 'udp4' | 'udp6' = 'udp4'): Promise<dgram.Socket> {
  // A large receive buffer: the engine answers a burst faster than a default-sized buffer takes it.
  const s = dgram.createSocket({ type, recvBufferSize: 8 << 20 });
  await new Promise<void>((r) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  return s;
}

/** Opens engine sockets on the next free port from `firstPort` on (each test file its own range). */
export function socketOpener(factory: MediaSocketFactory, firstPort: number): (host?: string) => Promise<MediaSocket> {
  let nextPort = firstPort;
  return async (host = '127.0.0.1') => {
    for (;;) {
      const port = nextPort++;
      try {
        return await factory.open(host, port, 1 << 20);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  };
}
