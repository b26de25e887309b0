import { statfsSync } from 'node:fs';
import type { AnchoredMedia } from '../call/anchored-media.js';
import type { B2bua } from '../call/b2bua.js';
import type { CallRecorder } from '../call/call-recorder.js';
import type { Config } from '../config/index.js';
import type { SrtpLegStatus, StatusDocument } from '../control/status.js';
import type { SrtpEndpointStatus } from '../media/relay-endpoint.js';
import { VERSION } from '../util/version.js';

export interface StatusSources {
  config: Config;
  b2bua: B2bua;
  media: AnchoredMedia;
  recorder: CallRecorder;
  startedAt: number;
  recordingsToday?: () => number;
  chainHead?: () => string | null;
  certificateSha256?: string | null;
  backlog?: () => StatusDocument['backlog'];
  groups?: () => StatusDocument['groups'];
}

/** Assembles `callrec status` from the running parts (SPEC O1). */
export function buildStatus(s: StatusSources): StatusDocument {
  const now = Date.now();
  const activeCalls = s.b2bua.activeCalls.map((call) => {
    const m = s.media.get(call.key);
    const callerEp = m === undefined ? undefined : m.endpoints[call.aSide];
    const calleeEp = m === undefined ? undefined : m.endpoints[call.bSide];
    return {
      callId: call.aCallId,
      direction: call.direction,
      caller: call.caller.user,
      callee: call.callee.user,
      codec: m?.codec?.name ?? null,
      durationSeconds: Math.round((now - (call.answeredAt ?? call.startedAt)) / 1000),
      recording: s.recorder.recordingState(call),
      packets: { caller: callerEp?.packetsIn ?? 0, callee: calleeEp?.packetsIn ?? 0 },
      srtp: srtpOf(callerEp?.srtpStatus, calleeEp?.srtpStatus),
    };
  });
  let disk = { path: s.config.data.dir, freeBytes: 0, usedPercent: 0 };
  try {
    const st = statfsSync(s.config.data.dir);
    const total = st.blocks * st.bsize;
    disk = { path: s.config.data.dir, freeBytes: st.bavail * st.bsize, usedPercent: total > 0 ? Math.round(((st.blocks - st.bfree) / st.blocks) * 100) : 0 };
  } catch {
    // data dir not created yet: report zeros rather than fail the status
  }
  return {
    instance: s.config.instance,
    version: VERSION,
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    activeCalls,
    recordingsToday: s.recordingsToday?.() ?? 0,
    chainHead: s.chainHead?.() ?? null,
    certificateSha256: s.certificateSha256 ?? null,
    disk,
    backlog: s.backlog?.() ?? [],
    groups: s.groups?.() ?? s.config.groups.map((g) => ({ id: g.id, activeMembers: [...g.members] })),
  };
}

/** The SRTP legs of a call for status; null when neither leg ever had SRTP. */
function srtpOf(caller: SrtpEndpointStatus | undefined, callee: SrtpEndpointStatus | undefined): StatusDocument['activeCalls'][number]['srtp'] {
  if (caller === undefined && callee === undefined) return null;
  return { ...(caller !== undefined ? { caller: srtpLeg(caller) } : {}), ...(callee !== undefined ? { callee: srtpLeg(callee) } : {}) };
}

function srtpLeg(s: SrtpEndpointStatus): SrtpLegStatus {
  return {
    suite: s.suite ?? null, unprotected: s.unprotected, protected: s.protected,
    authFailures: s.authFailures, replayed: s.replayed, malformed: s.malformed, unkeyed: s.unkeyed,
  };
}
