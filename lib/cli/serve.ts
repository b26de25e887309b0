import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { B2bua } from '../call/b2bua.js';
import { TrunkPeers, type Side } from '../call/trunk-peers.js';
import { AnchoredMedia } from '../call/anchored-media.js';
import { CallRecorder, callFacts } from '../call/call-recorder.js';
import { FeatureCodeService } from '../call/feature-code-service.js';
import { decide } from '../policy/index.js';
import { loadPrompt, type EncodedPrompt } from '../media/prompt-audio.js';
import { MediaWatchdog } from '../call/media-watchdog.js';
import { ControlServer } from '../control/control-server.js';
import { buildStatus } from './recorder-status.js';
import { Finalizer } from '../recording/finalize.js';
import { Alerts, ArchiveDelivery, Retention } from '../archive/index.js';
import { loadOrCreateKeystore } from '../keys/keystore.js';
import { RecordingLog } from '../store/recording-log.js';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PortPool } from '../media/port-pool.js';
import { BatchedSocketFactory } from '../media/packet-io/batched-media-socket.js';
import { selectMediaIo } from '../media/packet-io/select-media-io.js';
import { srtpCrypto } from '../media/srtp/native-crypto.js';
import { spoolAppender } from '../recording/file-appender.js';
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
export async function startRecorder(loaded: Config, logger: Logger = createLogger()): Promise<RunningRecorder> {
  const config = withDefaultTargets(loaded);
  const startedAt = Date.now();
  mkdirSync(config.data.dir, { recursive: true });
  // E4: the installation's key; a damaged keystore stops the start (never silently a new key).
  const keystore = await loadOrCreateKeystore(path.join(config.data.dir, 'keys'), config.instance);
  logger.info({
    event: keystore.created ? 'certificate.created' : 'certificate.loaded', sha256: keystore.certificateSha256,
    subject: keystore.subjectCn, notAfter: keystore.notAfter.toISOString(), certificate: keystore.certificatePem,
  }, 'verification certificate');
  for (const w of keystore.warnings) logger.warn({ event: 'certificate.warning' }, w);
  const log = RecordingLog.open(path.join(config.data.dir, 'callrec.db'));
  log.calls.endUnfinished('recorder restarted', Date.now());
  log.groups.syncGroups(config.groups.map((g) => ({ id: g.id, members: g.members })), Date.now());
  // SPEC A3: sealed recordings wait in the outbox until every target confirmed them.
  const alerts = new Alerts({ config, logger, log });
  const retention = new Retention({ log, config, logger });
  const delivery = new ArchiveDelivery({ log, config, logger, alerts, retention });
  const finalizer = new Finalizer({
    config, logger, keystore, log,
    uploadTargets: (profile) => delivery.targetIds(profile),
    onSealed: (base, profile) => delivery.enqueue(base, profile),
  });
  const recovered = await finalizer.recover();
  if (recovered > 0) logger.warn({ event: 'recording.recovered', spools: recovered }, 'spools of a previous run finalized');
  delivery.start();
  const peers = new TrunkPeers({
    pbx: { host: config.pbx.host, port: config.pbx.port, transport: config.pbx.transport, srtp: config.pbx.srtp, sips: config.pbx.sips },
    provider: {
      host: config.provider.host, port: config.provider.port, transport: config.provider.transport,
      srtp: config.provider.srtp, sips: config.provider.sips,
    },
  });
  warnAboutPeerSecurity(config, logger);
  const mediaIo = selectMediaIo();
  if (mediaIo.reason === undefined) {
    const batched = mediaIo.factory instanceof BatchedSocketFactory ? mediaIo.factory : undefined;
    const sendThread = batched?.sendThread === true;
    const fastPath = batched?.fastPath === true;
    const readerThread = batched?.readerThread === true;
    logger.info({ event: 'media.io', io: mediaIo.factory.name, sendThread, fastPath, readerThread },
      `media sockets on batched recvmmsg/sendmmsg I/O, read ${readerThread ? 'on their own thread' : 'on the event loop'}, sends ${sendThread ? 'on their own thread' : 'inline'}, plain RTP relayed ${fastPath ? 'in the native fast path' : 'by JavaScript'}`);
  }
  else logger.warn({ event: 'media.io', io: mediaIo.factory.name, reason: mediaIo.reason }, `media sockets on Node's dgram: ${mediaIo.reason}`);
  // Chosen at start, so CALLREC_SRTP_CRYPTO=native without the module stops the start, not the first SRTP call.
  const spoolWrites = spoolAppender();
  if (spoolWrites.reason === undefined) logger.info({ event: 'spool.writes', writes: spoolWrites.appender.name }, 'spool files written by the native writer thread');
  else logger.warn({ event: 'spool.writes', writes: spoolWrites.appender.name, reason: spoolWrites.reason }, `spool files written with fs.write: ${spoolWrites.reason}`);
  const srtpCryptoChoice = srtpCrypto();
  if (srtpCryptoChoice.reason === undefined) logger.info({ event: 'srtp.crypto', crypto: srtpCryptoChoice.name }, "SRTP crypto native (Node's OpenSSL)");
  else logger.warn({ event: 'srtp.crypto', crypto: srtpCryptoChoice.name, reason: srtpCryptoChoice.reason }, `SRTP crypto in JavaScript: ${srtpCryptoChoice.reason}`);
  mediaIo.factory.onHandlerError = (err, count) =>
    logger.error({ event: 'internal-error', source: 'media', count, err: err instanceof Error ? err.stack : String(err) }, 'packet handler threw');
  const pool = new PortPool(config.media.host, config.media.portMin, config.media.portMax, mediaIo.factory);
  let recorderRef: CallRecorder | undefined;
  const media = new AnchoredMedia(pool, config.media.host, logger, {
    onRelease: (callKey, released) => recorderRef?.onMediaReleased(callKey, released),
  }, { srtp: { pbx: config.pbx.srtp, provider: config.provider.srtp } });
  const membership = {
    isActive: (g: string, u: string) => log.groups.isActive(g, u),
    setActive: (g: string, u: string, active: boolean, at: number) => log.groups.setActive(g, u, active, at),
  };
  const prompts = loadPrompts(config, logger);
  const recorder = new CallRecorder(config, media, logger, finalizer.finalizeSession, log,
    (call) => decide(config, callFacts(call), membership), (file) => prompts.get(file));
  recorderRef = recorder;
  const featureCodes = new FeatureCodeService(config, membership, pool, config.media.host, logger);
  const b2bua = new B2bua({
    peers,
    logger,
    sdp: media,
    observer: recorder,
    localService: (ua, side, tx, req, inbound) => featureCodes.tryHandle(ua, side, tx, req, inbound),
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
    (address) => peers.classify(address),
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
  const watchdog = new MediaWatchdog(() => b2bua.activeCalls, media, config.media.timeout, config.media.holdTimeout, logger);
  watchdog.start();
  const control = new ControlServer(config.control.socket, {
    status: () => buildStatus({
      config, b2bua, media, recorder, startedAt,
      recordingsToday: () => log.recordingsSince(startOfToday()),
      chainHead: () => log.chainHead().baseName,
      certificateSha256: keystore.certificateSha256,
      backlog: () => delivery.backlog().map((b) => ({ target: b.target, pending: b.pending, oldest: b.oldest !== null ? new Date(b.oldest).toISOString() : null })),
      groups: () => config.groups.map((g) => ({ id: g.id, activeMembers: log.groups.activeMembers(g.id) })),
    }),
    setMembership: (groupId, userId, active) => {
      const r = log.groups.setActive(groupId, userId, active, Date.now());
      if (r === 'not-a-member') return `${userId} is not a member of group ${groupId}`;
      logger.info({ event: active ? 'group.login' : 'group.logout', group: groupId, user: userId, via: 'control' }, `${userId} ${active ? 'logged in to' : 'logged out of'} ${groupId}`);
      return undefined;
    },
  }, logger);
  await control.start();
  logger.info({ event: 'ready', version: VERSION, instance: config.instance, listen: transports.addresses }, 'callrec ready');
  const started = ua;
  return {
    logger,
    b2bua,
    transports,
    async stop() {
      watchdog.close();
      b2bua.close();
      registration?.close();
      await recorder.close();
      await finalizer.drain();
      await delivery.stop();
      await alerts.close();
      await control.close();
      log.close();
      // Let the BYEs and the un-REGISTER leave before the sockets close.
      await new Promise((r) => setTimeout(r, 300));
      started.close();
      transports.close();
    },
  };
}

/**
 * RFC 5922 §7.2: a TLS peer's certificate is checked against the configured
 * CA (`tls.ca`, else the system's trust store) and against the configured
 * host name or address; `verify: false` turns both checks off (and is
 * warned about at start). SNI carries names only (RFC 6066 §3).
 */
function tlsOptionsFor(destination: Address, config: Config, peers: TrunkPeers): ConnectionOptions {
  const side: Side | undefined = peers.classify(destination);
  const peer: PeerConfig | undefined = side === undefined ? undefined : config[side];
  const tls = peer?.tls;
  const host = peer !== undefined ? bareHost(peer.host) : undefined;
  return {
    rejectUnauthorized: tls?.verify ?? true,
    ...(tls?.ca !== undefined ? { ca: readFileSync(tls.ca) } : {}),
    ...(host !== undefined && isIP(host) === 0 ? { servername: host } : {}),
  };
}

/** Configurations that weaken a trunk side's protection are legal, but said so at every start. */
function warnAboutPeerSecurity(config: Config, logger: Logger): void {
  for (const side of ['pbx', 'provider'] as const) {
    const peer = config[side];
    if (peer.transport === 'tls' && !peer.tls.verify) {
      logger.warn({ event: 'config.tls-unverified', side }, `the ${side}'s TLS certificate is not verified (tls.verify: false): anyone on the path can pose as the ${side}`);
    }
    if (peer.transport !== 'tls' && peer.srtp === 'sdes') {
      // RFC 4568 §8.3: SDES keys travel in the SDP and need a secure signalling channel.
      logger.warn({ event: 'config.sdes-in-clear', side, transport: peer.transport },
        `SRTP keys toward the ${side} travel readable in SDP over ${peer.transport.toUpperCase()} (RFC 4568 §8.3); use transport: tls`);
    }
    if (peer.transport === 'tls' && !config.sip.listen.some((l) => l.transport === 'tls')) {
      logger.warn({ event: 'config.no-tls-listener', side },
        `the ${side} uses TLS but callrec has no tls listen entry: its in-dialog requests to callrec's Contact cannot arrive`);
    }
  }
}

/** SPEC P6: every configured prompt is encoded once, at start; an unreadable one stops the start. */
function loadPrompts(config: Config, logger: Logger): Map<string, EncodedPrompt> {
  const prompts = new Map<string, EncodedPrompt>();
  for (const p of config.profiles) {
    for (const file of [p.prompts.inbound, p.prompts.outbound]) {
      if (file === undefined || prompts.has(file)) continue;
      const prompt = loadPrompt(file);
      prompts.set(file, prompt);
      logger.info({ event: 'prompt.loaded', file, durationMs: Math.round(prompt.durationMs) }, 'prompt loaded');
    }
  }
  return prompts;
}

/**
 * A profile without targets keeps its recordings in `<data.dir>/recordings/$Y/$M/$D`,
 * so every recording has an archive and leaves the outbox.
 */
function withDefaultTargets(config: Config): Config {
  const fallback = { type: 'local' as const, path: path.join(config.data.dir, 'recordings', '$Y', '$M', '$D') };
  return { ...config, profiles: config.profiles.map((p) => (p.targets.length > 0 ? p : { ...p, targets: [fallback] })) };
}

function startOfToday(): number {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}
