/** The public types of an SRTP context and its per-SSRC stream state (RFC 3711 §3.2). */
import type { SrtpCryptoName } from './native-crypto.js';
import type { SessionKeys } from './key-derivation.js';
import type { SrtpMasterKey } from './master-key.js';
import type { ReplayWindow } from './replay-window.js';
import type { SrtpSuiteName } from './srtp-suite.js';

/** Why unprotect dropped a packet. */
export type SrtpFailure = 'auth' | 'replay' | 'malformed';

/** Thrown by protect for input that is not RTP/RTCP version 2 (our own relay's input, not the network's). */
export class SrtpError extends Error {
  override readonly name = 'SrtpError';
  constructor(readonly reason: SrtpFailure, message: string) {
    super(message);
  }
}

export interface SrtpContextOptions {
  suite: SrtpSuiteName;
  /** The master key and salt; or, for known-answer tests whose vectors give session keys, `sessionKeys`. */
  key: SrtpMasterKey | { readonly sessionKeys: { readonly rtp: SessionKeys; readonly rtcp: SessionKeys } };
  /** MKI octets carried in every packet (RFC 3711 §3.1), from the crypto attribute's `|MKI:length`. */
  mki?: Buffer | undefined;
  /** Replay window size (RFC 3711 §3.3.2, at least 64). Default 128. */
  replayWindow?: 64 | 128 | undefined;
  /** Per-SSRC states kept per direction and kind; the oldest goes beyond this. Default 64. */
  maxStreams?: number | undefined;
  /** Master key lifetime in packets (RFC 4568 §6.1); see `lifetimeExceeded`. Default 2^48. */
  lifetime?: number | undefined;
  /**
   * The crypto implementation. Default: the process-wide choice (native when
   * build/Release/srtp_crypto.node loads, see native-crypto.ts); 'native'
   * throws when the module does not load.
   */
  crypto?: SrtpCryptoName | undefined;
}

export interface SrtpCounters {
  rtpProtected: number;
  rtpUnprotected: number;
  rtcpProtected: number;
  rtcpUnprotected: number;
  /** Packets whose tag did not verify (including an unknown MKI). */
  authFailures: number;
  /** Packets already seen or left of the replay window. */
  replayed: number;
  /** Too short, not version 2, or header beyond the end. */
  malformed: number;
  /** Packets carrying an MKI other than ours (also counted in authFailures). */
  unknownMki: number;
}

export class RtpStream {
  constructor(
    public roc: number,
    /** s_l: the highest sequence number so far. */
    public seq: number,
    readonly window: ReplayWindow | undefined,
  ) {}
}

export class RtcpStream {
  /** Sending: the last SRTCP index used. */
  index = 0;
  constructor(readonly window: ReplayWindow | undefined) {}
}
