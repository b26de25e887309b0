import type { Side } from './trunk-peers.js';

export type SdpRole = 'offer' | 'answer';

/**
 * The one place where session descriptions cross from one leg to the other.
 * The media plane plugs in here to anchor RTP; without it SDP passes
 * through unchanged.
 */
export interface SessionDescriptionHandler {
  /** Called once before the call's first SDP: allocate what the call needs (ports). Rejects when it cannot. */
  prepare(callKey: string, callerSide: Side): Promise<void>;
  /** Rewrites `body` that arrived from `from` for the other side; returns what to send. */
  rewrite(callKey: string, from: Side, role: SdpRole, body: Buffer, contentType: string | undefined): Buffer;
  /** Our own answer to `side`'s offer (a prompt before the call goes on), or undefined without media. */
  answerLocally?(callKey: string, side: Side, offer: Buffer, payloadTypes: readonly number[]): Buffer | undefined;
  /** Plays encoded audio to `side` from the port announced to it; resolves when done or stopped. */
  play?(callKey: string, side: Side, audio: Buffer, payloadType: number): Promise<void>;
  /** The call is over: free what was allocated for it. */
  release(callKey: string): void;
}

export const passThroughSdp: SessionDescriptionHandler = {
  prepare: () => Promise.resolve(),
  rewrite: (_callKey, _from, _role, body) => body,
  release: () => {},
};
