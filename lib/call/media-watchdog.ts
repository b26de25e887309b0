import type { Logger } from 'pino';
import type { AnchoredMedia } from './anchored-media.js';
import type { Call } from './call.js';

/**
 * SPEC M9: a call whose RTP has stopped in both directions for
 * `media.timeout` seconds (`media.holdTimeout` while on hold) is dead: both
 * legs get BYE and the recording is finalized. Checked once a second over
 * all answered calls, off the packet path.
 */
export class MediaWatchdog {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly calls: () => Iterable<Call>,
    private readonly media: AnchoredMedia,
    private readonly timeoutS: number,
    private readonly holdTimeoutS: number,
    private readonly logger: Logger,
  ) {}

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => this.check(Date.now()), intervalMs);
    this.timer.unref();
  }

  check(nowMs: number): void {
    for (const call of this.calls()) {
      if (call.state !== 'answered' || call.answeredAt === undefined) continue;
      const m = this.media.get(call.key);
      if (m === undefined) continue;
      const idleMs = Math.min(m.relay.idleMs(), nowMs - call.answeredAt);
      const limitS = m.onHold ? this.holdTimeoutS : this.timeoutS;
      if (idleMs > limitS * 1000) {
        this.logger.warn({ event: 'call.rtp-timeout', callId: call.aCallId, idleSeconds: Math.round(idleMs / 1000), onHold: m.onHold }, 'no RTP, ending call');
        call.hangUp('RTP timeout');
      }
    }
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
