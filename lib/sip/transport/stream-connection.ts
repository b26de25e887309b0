import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ParseError } from '../message/errors.js';
import { StreamFramer } from './stream-framer.js';
import type { Address } from './transport.js';

export interface StreamConnectionEvents {
  onFrame(frame: Buffer, connection: StreamConnection): void;
  onClose(connection: StreamConnection): void;
}

/**
 * One TCP or TLS connection: frames inbound bytes into messages and writes
 * outbound ones. A framing error cannot be resynchronised, so it closes the
 * connection (RFC 3261 §18.3).
 */
export class StreamConnection {
  private readonly framer = new StreamFramer();
  private closed = false;

  constructor(
    readonly socket: Socket,
    /** The peer as seen by us (remote address and port of the socket). */
    readonly remote: Address,
    readonly local: Address,
    private readonly events: StreamConnectionEvents,
    private readonly logger: Logger,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.logger.warn({ event: 'sip.transport-error', peer: remote, err: err.message }, 'connection error');
    });
    socket.on('close', () => this.close());
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      const reason = err instanceof ParseError ? err.message : String(err);
      this.logger.warn({ event: 'sip.parse-error', source: this.remote, reason }, 'unframeable stream, closing connection');
      this.close();
      return;
    }
    for (const frame of frames) this.events.onFrame(frame, this);
  }

  write(data: Buffer, onError?: (err: Error) => void): void {
    if (this.closed) {
      onError?.(new Error(`connection to ${this.remote.host}:${this.remote.port} is closed`));
      return;
    }
    this.socket.write(data, (err) => {
      if (err) onError?.(err);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.events.onClose(this);
  }
}
