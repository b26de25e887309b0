import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ParseError, TransportError } from '../message/errors.js';
import type { SipMessage } from '../message/message.js';
import { MessageParseError, parseMessage } from '../message/parser.js';
import { serialize } from '../message/serializer.js';
import { bareHost } from '../message/uri.js';
import { StreamConnection } from './stream-connection.js';
import { describeTlsFailure } from './tls-failure.js';
import { formatAddress, type Address, type Inbound, type MessageSender, type TransportProtocol } from './transport.js';

export interface ListenSpec {
  protocol: TransportProtocol;
  host: string;
  port: number;
  /** TLS server certificate and key files. */
  cert?: string;
  key?: string;
}

export interface TransportEvents {
  onMessage(inbound: Inbound): void;
  /** A message that could not be parsed; `error.partial` holds a request that can still be answered. */
  onParseError(error: MessageParseError, source: Address, local: Address): void;
}

/** TLS client settings for an outbound connection (RFC 5922: verify the peer's certificate). */
export type TlsClientOptions = (destination: Address) => tls.ConnectionOptions;

/** Strips the IPv4-mapped prefix Node reports for dual-stack sockets. */
function normalizeHost(host: string | undefined): string {
  if (host === undefined) return '';
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}

function key(a: Address): string {
  return `${a.protocol}|${bareHost(a.host)}|${a.port}`;
}

/**
 * Owns every SIP socket: UDP sockets, TCP/TLS listeners and connections.
 * Parses what arrives and serializes what leaves; errors on input never
 * escape (they become log lines and `onParseError`).
 */
export class TransportManager implements MessageSender {
  private readonly udpSockets: { socket: dgram.Socket; local: Address }[] = [];
  private readonly servers: net.Server[] = [];
  private readonly connections = new Map<string, StreamConnection>();
  private readonly listening: Address[] = [];

  constructor(
    private readonly events: TransportEvents,
    private readonly logger: Logger,
    private readonly tlsClientOptions: TlsClientOptions = () => ({}),
    /** Who is at an address ("provider"), for log lines about its connections. */
    private readonly peerName: (address: Address) => string | undefined = () => undefined,
  ) {}

  async listen(specs: ListenSpec[]): Promise<void> {
    for (const spec of specs) {
      if (spec.protocol === 'udp') await this.listenUdp(spec);
      else await this.listenStream(spec);
    }
  }

  /** The first listening address of a protocol, for Via and Contact. */
  localAddress(protocol: TransportProtocol): Address | undefined {
    return this.listening.find((a) => a.protocol === protocol);
  }

  get addresses(): readonly Address[] {
    return this.listening;
  }

  private listenUdp(spec: ListenSpec): Promise<void> {
    const socket = dgram.createSocket({ type: net.isIPv6(bareHost(spec.host)) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(spec.port, bareHost(spec.host), () => {
        socket.off('error', reject);
        const local: Address = { protocol: 'udp', host: spec.host, port: socket.address().port };
        socket.on('error', (err) => this.logger.error({ event: 'sip.transport-error', local, err: err.message }, 'UDP socket error'));
        socket.on('message', (data, rinfo) => {
          this.deliver(data, { protocol: 'udp', host: normalizeHost(rinfo.address), port: rinfo.port }, local, true);
        });
        this.udpSockets.push({ socket, local });
        this.listening.push(local);
        resolve();
      });
    });
  }

  private listenStream(spec: ListenSpec): Promise<void> {
    const onConnection = (socket: net.Socket): void => {
      const remote: Address = { protocol: spec.protocol, host: normalizeHost(socket.remoteAddress), port: socket.remotePort ?? 0 };
      this.adopt(socket, remote, local);
    };
    let server: net.Server;
    if (spec.protocol === 'tls') {
      if (spec.cert === undefined || spec.key === undefined) throw new TransportError('TLS listener needs cert and key');
      server = tls.createServer({ cert: readFileSync(spec.cert), key: readFileSync(spec.key) }, onConnection);
      server.on('tlsClientError', (err, socket) => {
        const source: Address = { protocol: 'tls', host: normalizeHost(socket.remoteAddress), port: socket.remotePort ?? 0 };
        const peer = this.peerName(source);
        this.logger.warn({ event: 'sip.tls-error', source, peer, err: err.message },
          `TLS handshake from ${peer !== undefined ? `the ${peer} ` : ''}${source.host}:${source.port} failed: ${err.message}`);
      });
    } else {
      server = net.createServer(onConnection);
    }
    let local: Address = { protocol: spec.protocol, host: spec.host, port: spec.port };
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(spec.port, bareHost(spec.host), () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.error({ event: 'sip.transport-error', local, err: err.message }, 'listener error'));
        const addr = server.address();
        local = { ...local, port: typeof addr === 'object' && addr !== null ? addr.port : spec.port };
        this.servers.push(server);
        this.listening.push(local);
        resolve();
      });
    });
  }

  private adopt(socket: net.Socket, remote: Address, local: Address): StreamConnection {
    const connection = new StreamConnection(socket, remote, local, {
      onFrame: (frame, conn) => this.deliver(frame, conn.remote, conn.local, false),
      onClose: (conn) => {
        if (this.connections.get(key(conn.remote)) === conn) this.connections.delete(key(conn.remote));
      },
    }, this.logger);
    this.connections.set(key(remote), connection);
    return connection;
  }

  private deliver(data: Buffer, source: Address, local: Address, datagram: boolean): void {
    // RFC 5626 §4.4.1: a CRLF keep-alive datagram is not a message.
    if (datagram && data.length <= 4 && data.every((b) => b === 0x0d || b === 0x0a)) return;
    let message: SipMessage;
    try {
      message = parseMessage(data, datagram);
    } catch (err) {
      if (err instanceof ParseError) {
        const error = err instanceof MessageParseError ? err : new MessageParseError(err, undefined);
        this.events.onParseError(error, source, local);
        return;
      }
      this.logger.error({ event: 'sip.parse-error', source, err: String(err) }, 'unexpected parser failure');
      return;
    }
    try {
      this.events.onMessage({ message, source, local });
    } catch (err) {
      // The process must never crash on network input: log and go on.
      this.logger.error({ event: 'sip.handler-error', source, err: err instanceof Error ? err.stack : String(err) }, 'message handler failed');
    }
  }

  send(message: SipMessage, destination: Address, onError?: (err: Error) => void): void {
    const data = serialize(message);
    if (destination.protocol === 'udp') {
      const entry = this.udpSockets[0];
      if (entry === undefined) {
        onError?.(new TransportError('no UDP listener to send from'));
        return;
      }
      entry.socket.send(data, destination.port, bareHost(destination.host), (err) => {
        if (err) onError?.(err);
      });
      return;
    }
    const existing = this.connections.get(key(destination));
    const connection = this.connectionTo(destination);
    if (existing === undefined || !existing.outbound || !existing.established) {
      connection.write(data, onError);
      return;
    }
    // A connection we opened and used may have been closed by the peer in the meantime (a
    // restarted peer answers with a reset, which we learn only by writing): the message goes
    // once more, on a new connection, to the peer's listening address (RFC 3261 §18).
    connection.write(data, (err) => {
      this.logger.info({ event: 'sip.reconnect', destination, err: err.message }, `connection to ${formatAddress(destination)} lost (${err.message}); sending on a new one`);
      existing.close();
      this.connectionTo(destination).write(data, onError);
    });
  }

  /**
   * An existing connection to that address (inbound or outbound), or a new
   * outbound one. A connection the peer closed is gone from the map, so the
   * next message opens a new one (RFC 3261 §18: either end may close a
   * connection; a client opens one when none is open to the destination).
   *
   * TLS is never given up for plain text: a handshake or verification
   * failure fails the message (and with it its transaction) with a
   * TlsConnectError naming the reason (RFC 5922 §7.2, RFC 3261 §26.2.2).
   */
  private connectionTo(destination: Address): StreamConnection {
    const existing = this.connections.get(key(destination));
    if (existing !== undefined) return existing;
    const host = bareHost(destination.host);
    const local = this.localAddress(destination.protocol) ?? { protocol: destination.protocol, host: '0.0.0.0', port: 0 };
    if (destination.protocol !== 'tls') {
      const socket = net.connect({ host, port: destination.port });
      const connection = this.adopt(socket, destination, local);
      connection.outbound = true;
      socket.once('connect', () => {
        connection.established = true;
      });
      socket.on('error', (err) => {
        this.logger.warn({ event: 'sip.connect-error', destination, err: err.message }, 'connection failed');
      });
      return connection;
    }
    // RFC 6066 §3: SNI carries host names only, never an IP address literal.
    const options: tls.ConnectionOptions = { host, port: destination.port, ...(net.isIP(host) === 0 ? { servername: host } : {}), ...this.tlsClientOptions(destination) };
    if (options.servername !== undefined && net.isIP(options.servername) !== 0) delete options.servername;
    const socket = tls.connect(options);
    const connection = this.adopt(socket, destination, local);
    connection.outbound = true;
    const where = `${host}:${destination.port}`;
    const expectedName = options.servername ?? host;
    const peer = this.peerName(destination);
    const who = peer !== undefined ? `the ${peer} (${where})` : where;
    connection.setupError = (err) => {
      const failure = describeTlsFailure(err, where, expectedName);
      this.logger.warn({
        event: 'sip.tls-failed', destination, peer, reason: failure.reason, code: failure.code, verification: failure.verification,
      }, `TLS connection to ${who} failed: ${failure.reason}`);
      return failure;
    };
    socket.once('secureConnect', () => {
      connection.setupError = undefined;
      connection.established = true;
      this.logger.info({ event: 'sip.tls-connected', destination, peer, protocol: socket.getProtocol(), authorized: socket.authorized }, `TLS connection to ${who} up`);
    });
    return connection;
  }

  close(): void {
    for (const { socket } of this.udpSockets) socket.close();
    for (const server of this.servers) server.close();
    for (const c of [...this.connections.values()]) c.close();
    this.udpSockets.length = 0;
    this.servers.length = 0;
  }
}
