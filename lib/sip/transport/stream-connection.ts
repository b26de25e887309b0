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
  /** Error callbacks of writes not yet flushed: a failed connect or TLS handshake reaches them. */
  private readonly pendingWrites = new Set<(err: Error) => void>();
  /**
   * While an outbound connection is being set up: turns its socket error
   * into a more telling one (a TLS verification failure), which its owner
   * logs; the pending writes fail with it.
   */
  setupError: ((err: Error) => Error) | undefined;
  /** We opened it (toward a peer's listening port), as opposed to accepting it. */
  outbound = false;
  /** Connected (and for TLS: handshake done, peer verified); false until then. */
  established = false;

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
      const mapped = this.setupError?.(err);
      if (mapped === undefined) this.logger.warn({ event: 'sip.transport-error', peer: remote, err: err.message }, 'connection error');
      this.failPending(mapped ?? err);
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
    const fail = (err: Error): void => onError?.(err);
    this.pendingWrites.add(fail);
    this.socket.write(data, (err) => {
      if (!this.pendingWrites.delete(fail)) return;
      if (err) fail(err);
    });
  }

  private failPending(err: Error): void {
    const handlers = [...this.pendingWrites];
    this.pendingWrites.clear();
    for (const h of handlers) h(err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failPending(new Error(`connection to ${this.remote.host}:${this.remote.port} closed`));
    this.socket.destroy();
    this.events.onClose(this);
  }
}
