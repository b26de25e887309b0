import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { B2bua } from '../call/b2bua.js';
import { TrunkPeers, type Side } from '../call/trunk-peers.js';
import { AnchoredMedia } from '../call/anchored-media.js';
import { PortPool } from '../media/port-pool.js';
import { TrunkRegistration } from '../call/trunk-registration.js';
import type { Config, PeerConfig } from '../config/index.js';
import { TransportManager } from '../sip/transport/transport-manager.js';
import type { Address } from '../sip/transport/transport.js';
import { UserAgent } from '../sip/user-agent.js';
import { systemClock } from '../util/clock.js';
import { createLogger, type Logger } from '../util/log.js';
import { VERSION } from '../util/version.js';
import { bareHost } from '../sip/message/uri.js';

export interface RunningRecorder {
  logger: Logger;
  b2bua: B2bua;
  transports: TransportManager;
  stop(): Promise<void>;
}

/** Starts the recorder on a loaded config; resolves once every listener is bound. */
export async function startRecorder(config: Config, logger: Logger = createLogger()): Promise<RunningRecorder> {
  const peers = new TrunkPeers({
    pbx: { host: config.pbx.host, port: config.pbx.port, transport: config.pbx.transport },
    provider: { host: config.provider.host, port: config.provider.port, transport: config.provider.transport },
  });
  const pool = new PortPool(config.media.host, config.media.portMin, config.media.portMax);
  const media = new AnchoredMedia(pool, config.media.host, logger);
  const b2bua = new B2bua({
    peers,
    logger,
    sdp: media,
    credentials: config.provider.auth !== undefined ? { provider: config.provider.auth } : {},
  });
  let ua: UserAgent | undefined;
  const transports = new TransportManager(
    {
      onMessage: (inbound) => ua?.receive(inbound),
      onParseError: (error, source, local) => ua?.receiveParseError(error, source, local),
    },
    logger,
    (destination) => tlsOptionsFor(destination, config, peers),
  );
  await transports.listen(config.sip.listen.map((l) => ({ protocol: l.transport, host: l.host, port: l.port, cert: l.cert, key: l.key })));
  ua = new UserAgent({ transports, clock: systemClock, logger, delegate: b2bua, product: `callrec/${VERSION}` });
  b2bua.attach(ua);
  let registration: TrunkRegistration | undefined;
  if (config.provider.register !== undefined) {
    const username = config.provider.auth?.username ?? 'callrec';
    registration = new TrunkRegistration(
      { ua, peers, logger, credentials: config.provider.auth !== undefined ? { provider: config.provider.auth } : {} },
      systemClock, config.provider.register.expires, username,
    );
    registration.start();
  }
  logger.info({ event: 'ready', version: VERSION, instance: config.instance, listen: transports.addresses }, 'callrec ready');
  const started = ua;
  return {
    logger,
    b2bua,
    transports,
    async stop() {
      b2bua.close();
      registration?.close();
      // Let the BYEs and the un-REGISTER leave before the sockets close.
      await new Promise((r) => setTimeout(r, 300));
      started.close();
      transports.close();
    },
  };
}

/** RFC 5922 §7: a TLS peer's certificate is checked against the configured CA and host name. */
function tlsOptionsFor(destination: Address, config: Config, peers: TrunkPeers): ConnectionOptions {
  const side: Side | undefined = peers.classify(destination);
  const peer: PeerConfig | undefined = side === undefined ? undefined : config[side];
  const tls = peer?.tls;
  return {
    rejectUnauthorized: tls?.verify ?? true,
    ...(tls?.ca !== undefined ? { ca: readFileSync(tls.ca) } : {}),
    ...(peer !== undefined ? { servername: bareHost(peer.host) } : {}),
  };
}
