import path from 'node:path';
import type { Logger } from 'pino';
import type { Config, ProfileConfig } from '../config/index.js';
import type { SipRequest } from '../sip/message/message.js';
import type { RecordingLog } from '../store/recording-log.js';
import { RecordingSession, type Leg, type RecordingFacts } from '../recording/recording-session.js';
import { expandTemplate, recordingBaseName } from '../recording/naming.js';
import { CallMedia, type AnchoredMedia } from './anchored-media.js';
import type { CallObserver } from './call-context.js';
import type { Call } from './call.js';
import { DtmfStopDetector } from './dtmf-stop-detector.js';
import { CallLogBuffer } from './call-log-buffer.js';
import { callFactsFromHeaders, decide, type CallFacts, type Decision } from '../policy/index.js';
import type { Side } from './trunk-peers.js';

/** Hands a stopped recording on (assembly, evidence, archive). */
export type RecordingFinalizer = (session: RecordingSession) => Promise<void>;

interface ActiveRecording {
  session: RecordingSession;
  opened: Promise<void>;
  dtmf: DtmfStopDetector;
}

/**
 * Ties calls to recordings: chooses the profile, opens the spool when the
 * call is set up (or answered, per `recordFrom`), taps the relay, stops on
 * `*1` (SPEC M5), hangup or timeout, and hands the spool to the finalizer.
 */
export class CallRecorder implements CallObserver {
  private readonly active = new Map<Call, ActiveRecording>();
  /** Recording state per call for status: on, stopped (by *1), or absent. */
  private readonly stoppedByKey = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly media: AnchoredMedia,
    private readonly logger: Logger,
    private readonly finalize: RecordingFinalizer,
    log: RecordingLog | undefined = undefined,
    private readonly choose: (call: Call) => Decision = (call) => decide(config, callFacts(call), { isActive: () => true }),
    private readonly prompts: (file: string) => { pcma: Buffer; pcmu: Buffer } | undefined = () => undefined,
  ) {
    this.callLog = log !== undefined ? new CallLogBuffer(log, logger) : undefined;
  }

  recordingState(call: Call): 'on' | 'off' | 'stopped' {
    if (this.active.has(call)) return 'on';
    return this.stoppedByKey.has(call.key) ? 'stopped' : 'off';
  }

  /** The policy decision for a call, made once (SPEC P1-P5) and logged as a call considered (E7). */
  private decisionFor(call: Call): Decision {
    const known = this.decisions.get(call);
    if (known !== undefined) return known;
    const decision = this.choose(call);
    this.decisions.set(call, decision);
    const profile = decision.record ? decision.profile : undefined;
    this.callLog?.consider(call, {
      startedAt: call.startedAt, aCallId: call.aCallId, bCallId: call.bCallId, direction: call.direction,
      caller: call.caller.user, callee: call.callee.user,
      decision: profile !== undefined ? 'recorded' : 'not-recorded',
      reason: decision.reason,
      profile: profile?.name ?? null,
    });
    if (profile === undefined) this.logger.info({ event: 'recording.skipped', callId: call.aCallId, reason: decision.reason }, 'call not recorded');
    return decision;
  }

  /** SPEC P6: the profile's prompt for the call's direction, if the call is recorded and one is configured. */
  promptFor(call: Call): { pcma: Buffer; pcmu: Buffer } | undefined {
    const decision = this.decisionFor(call);
    if (!decision.record) return undefined;
    const file = call.direction === 'inbound' ? decision.profile.prompts.inbound : decision.profile.prompts.outbound;
    return file !== undefined ? this.prompts(file) : undefined;
  }

  onCallStart(call: Call): void {
    const decision = this.decisionFor(call);
    if (!decision.record) return;
    const profile = decision.profile;
    if (profile.recordFrom === 'setup') this.start(call, profile);
    else this.pendingProfile.set(call, profile);
  }

  private readonly pendingProfile = new Map<Call, ProfileConfig>();
  private readonly decisions = new Map<Call, Decision>();
  /** calls_considered rows (SPEC E7), written in batches. */
  private readonly callLog: CallLogBuffer | undefined;

  onCallAnswered(call: Call): void {
    const profile = this.pendingProfile.get(call);
    if (profile !== undefined) {
      this.pendingProfile.delete(call);
      this.start(call, profile);
    }
    const rec = this.active.get(call);
    const media = this.media.get(call.key);
    if (rec !== undefined && media !== undefined) {
      void rec.session.update(codecFacts(media)).catch(() => {});
      rec.dtmf.configure(media);
      media.relay.refresh(); // what the tap needs may have changed (telephone-event type, in-band DTMF)
    }
  }

  onCallEnd(call: Call, reason: string): void {
    this.decisions.delete(call);
    this.callLog?.end(call, reason, call.endedAt ?? Date.now());
    this.pendingProfile.delete(call);
    this.stoppedByKey.delete(call.key);
    this.stop(call, reason);
  }

  /** SIP INFO in a dialog: DTMF from the internal party may stop the recording. */
  onInfo(call: Call, side: Side, req: SipRequest): void {
    const rec = this.active.get(call);
    if (rec !== undefined && side === 'pbx' && rec.dtmf.onInfo(req, Date.now())) this.stopByKeys(call, rec);
  }

  private start(call: Call, profile: ProfileConfig): void {
    const media = this.media.get(call.key);
    if (media === undefined) return;
    const originMs = Date.now();
    const callerNumber = call.caller.user;
    const calleeNumber = call.callee.user;
    const facts: RecordingFacts = {
      key: call.key,
      originMs,
      direction: call.direction,
      caller: { number: callerNumber, name: call.caller.displayName },
      callee: { number: calleeNumber, name: call.callee.displayName },
      callIds: { caller: call.aCallId, callee: call.bCallId },
      profile: profile.name,
      channels: profile.channels,
      ...codecFacts(media),
      outputDir: expandTemplate(outputTemplate(this.config, profile), originMs),
      baseName: recordingBaseName(originMs, callerNumber, calleeNumber, call.key.replace(/[^0-9a-z]/gi, '').slice(-6)),
    };
    const session = new RecordingSession(path.join(this.config.data.dir, 'spool', call.key), facts);
    const dtmf = new DtmfStopDetector(this.config.dtmf.stop);
    dtmf.configure(media);
    const opened = session.open();
    const rec: ActiveRecording = { session, opened, dtmf };
    this.active.set(call, rec);
    opened.catch((err: unknown) => {
      this.logger.error({ event: 'recording.error', callId: call.aCallId, err: String(err) }, 'cannot open spool');
    });
    const callerIndex = CallMedia.index(call.aSide);
    media.relay.tap = {
      onRtp: (from, packet, arrivalMs) => {
        const leg: Leg = from === callerIndex ? 'caller' : 'callee';
        session.onRtp(leg, packet, arrivalMs);
        // SPEC M5: the stop sequence counts from the internal party (the PBX side) only.
        if (from === 0 && rec.dtmf.onRtp(packet, arrivalMs)) this.stopByKeys(call, rec);
      },
      // The engine spools both legs' audio itself; telephone-events always come through onRtp.
      capture: (from) => session.capture(from === callerIndex ? 'caller' : 'callee'),
    };
    // In-band keys (no telephone-event negotiated) are read from the internal party's spooled
    // audio before each flush, not per packet on the relay's path (which stays in the engine).
    session.watch({
      leg: callerIndex === 0 ? 'caller' : 'callee',
      active: () => rec.dtmf.watchesAudio,
      visit: (payload, start, end, pt, arrivalMs) => rec.dtmf.onAudio(payload, start, end, pt, arrivalMs),
      ended: (atMs) => this.stopByKeys(call, rec, atMs),
      reason: (atMs) => this.keyStopReason(rec, atMs),
    });
    this.logger.info({ event: 'recording.start', callId: call.aCallId, profile: profile.name, base: facts.baseName }, 'recording started');
  }

  /** `atMs`: when the sequence was completed (in-band: the packet's arrival; else now). */
  private stopByKeys(call: Call, rec: ActiveRecording, atMs = Date.now()): void {
    if (this.active.get(call) !== rec) return;
    this.stoppedByKey.add(call.key);
    this.stop(call, this.keyStopReason(rec, atMs), atMs);
  }

  private keyStopReason(rec: ActiveRecording, atMs: number): string {
    return `stopped by ${this.config.dtmf.stop} at ${((atMs - rec.session.facts.originMs) / 1000).toFixed(1)} s`;
  }

  /**
   * The call's media is being released (before onCallEnd): its SRTP
   * counters are final now, and the recording's metadata takes them.
   */
  onMediaReleased(callKey: string, media: CallMedia): void {
    for (const call of this.active.keys()) {
      if (call.key === callKey) this.releasedEncryption.set(callKey, encryptionFact(media));
    }
  }

  private readonly releasedEncryption = new Map<string, string | undefined>();

  private stop(call: Call, reason: string, atMs?: number): void {
    const rec = this.active.get(call);
    if (rec === undefined) return;
    this.active.delete(call);
    const media = this.media.get(call.key);
    if (media !== undefined) media.relay.tap = undefined;
    // SPEC M8/E1: the metadata says how each leg was protected and, when SRTP dropped packets
    // (failed authentication, replays), how many: that audio is missing from the recording.
    const encryption = media !== undefined ? encryptionFact(media) : this.releasedEncryption.get(call.key);
    this.releasedEncryption.delete(call.key);
    const answeredAtMs = call.answeredAt;
    void rec.opened
      .then(() => (encryption !== undefined ? rec.session.update({ encryption }) : undefined))
      .then(() => rec.session.stop({ reason, atMs: atMs ?? Date.now(), answeredAtMs }))
      .then(() => {
        const s = rec.session;
        this.logger.info({
          event: 'recording.stop', callId: call.aCallId, reason,
          packets: { caller: s.packets('caller'), callee: s.packets('callee') },
          // Of those, what the media engine's fast path spooled without JavaScript.
          engine: { caller: s.capturedByEngine('caller'), callee: s.capturedByEngine('callee') },
        }, 'recording stopped');
        return this.finalize(rec.session);
      })
      .catch((err: unknown) => {
        this.logger.error({ event: 'recording.error', callId: call.aCallId, err: err instanceof Error ? err.stack : String(err) }, 'recording could not be finalized; spool kept');
      });
  }

  /** Stops every recording (shutdown) and waits for their spools to close. */
  async close(): Promise<void> {
    for (const call of [...this.active.keys()]) this.stop(call, 'recorder shutting down');
    this.callLog?.close();
  }
}

/** The policy's view of a call (SPEC: identity from P-Asserted-Identity, else From; called number from the request-URI, else To). */
export function callFacts(call: Call): CallFacts {
  const req = call.aInvite;
  return callFactsFromHeaders({
    direction: call.direction,
    requestUri: req.uri,
    from: req.get('From'),
    to: req.get('To'),
    pAssertedIdentity: req.getAll('P-Asserted-Identity'),
    diversion: req.getAll('Diversion'),
    historyInfo: req.getAll('History-Info'),
  });
}

/** The first local target's folder template, else `<data.dir>/recordings/$Y/$M/$D`. */
function outputTemplate(config: Config, profile: ProfileConfig): string {
  const local = profile.targets.find((t) => t.type === 'local');
  return local !== undefined && 'path' in local ? local.path : path.join(config.data.dir, 'recordings', '$Y', '$M', '$D');
}

/**
 * The metadata's Encryption value: each SRTP leg ("SRTP <suite> caller
 * leg"), with the packets SRTP dropped from that party when there were any
 * (they were neither relayed nor recorded); undefined without SRTP. Never keys.
 */
export function encryptionFact(media: CallMedia): string | undefined {
  const parts: string[] = [];
  for (const side of [media.callerSide, media.callerSide === 'pbx' ? 'provider' : 'pbx'] as const) {
    const status = media.endpoints[side].srtpStatus;
    const summary = media.srtpSummary(side) ?? (status !== undefined ? `SRTP ${side === media.callerSide ? 'caller' : 'callee'} leg (plain RTP at the end)` : undefined);
    if (summary === undefined) continue;
    const dropped = status === undefined ? [] : [
      status.authFailures > 0 ? `${status.authFailures} failed authentication` : '',
      status.replayed > 0 ? `${status.replayed} replayed` : '',
    ].filter((x) => x !== '');
    parts.push(dropped.length > 0 ? `${summary} (packets dropped, not recorded: ${dropped.join(', ')})` : summary);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

function codecFacts(media: CallMedia): Pick<RecordingFacts, 'codec' | 'payloadType' | 'telephoneEventPayloadType' | 'payloadTypes' | 'encryption'> {
  const srtp = [media.srtpSummary(media.callerSide), media.srtpSummary(media.callerSide === 'pbx' ? 'provider' : 'pbx')].filter((x): x is string => x !== undefined);
  const payloadTypes: Record<string, string> = {};
  for (const s of [media.streams.pbx, media.streams.provider]) for (const c of s?.codecs ?? []) payloadTypes[String(c.payloadType)] ??= c.name;
  const codec = media.codec ?? media.streams[media.callerSide]?.codecs.find((c) => c.name !== 'TELEPHONE-EVENT' && c.name !== 'CN');
  const te = (media.answeredBy !== undefined ? media.streams[media.answeredBy] : media.streams[media.callerSide])?.telephoneEventPayloadType;
  return { codec: codec?.name, payloadType: codec?.payloadType, telephoneEventPayloadType: te, payloadTypes, encryption: srtp.length > 0 ? srtp.join('; ') : undefined };
}
