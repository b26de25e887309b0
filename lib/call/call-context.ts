import type { Logger } from 'pino';
import type { SipRequest } from '../sip/message/message.js';
import type { UserAgent } from '../sip/user-agent.js';
import type { SessionDescriptionHandler } from './session-description-handler.js';
import type { Side, TrunkPeers } from './trunk-peers.js';
import type { Call } from './call.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Hooks for what happens to calls (logging now, media and recording later). */
export interface CallObserver {
  /** Before the call goes on: a prompt to play to the caller first (SPEC P6), in A-law and mu-law. */
  promptFor?(call: Call): { pcma: Buffer; pcmu: Buffer } | undefined;
  onCallStart?(call: Call): void;
  onCallAnswered?(call: Call): void;
  onCallEnd?(call: Call, reason: string): void;
  /** An INFO inside the call's dialog from `side` (DTMF via SIP INFO). */
  onInfo?(call: Call, side: Side, req: SipRequest): void;
}

/** The services every Call uses; one instance per B2BUA. */
export interface CallContext {
  ua: UserAgent;
  peers: TrunkPeers;
  sdp: SessionDescriptionHandler;
  logger: Logger;
  /** Digest credentials per side (only the provider has them in practice). */
  credentials: Partial<Record<Side, Credentials>>;
  observer: CallObserver;
  timers: { t1: number; t2: number };
  /** Registers a dialog key (`Call-ID|local tag`) so in-dialog requests find the call. */
  bindDialog(key: string, call: Call, side: Side): void;
  unbindCall(call: Call): void;
}

export function dialogKey(callId: string, localTag: string): string {
  return `${callId}|${localTag}`;
}
