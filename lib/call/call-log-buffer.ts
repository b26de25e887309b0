import type { Logger } from 'pino';
import type { RecordingLog } from '../store/recording-log.js';
import type { NewConsideredCall } from '../store/types.js';

/** How long call-log rows wait to be written together. */
const FLUSH_MS = 200;
const MAX_PENDING = 500;

interface Pending {
  call: NewConsideredCall;
  id: number | undefined;
  end: { outcome: string; at: number } | undefined;
}

/**
 * Writes the calls-considered log (SPEC E7) in small batches: one SQLite
 * transaction (one fsync) per 200 ms instead of two per call, because
 * better-sqlite3 is synchronous and an fsync per call would stall SIP and
 * RTP on the event loop at high call rates. A crash loses at most the last
 * batch of call-log rows; recordings themselves are committed one by one.
 */
export class CallLogBuffer {
  private readonly pending = new Map<object, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: RecordingLog, private readonly logger: Logger) {}

  consider(key: object, call: NewConsideredCall): void {
    this.pending.set(key, { call, id: undefined, end: undefined });
    this.schedule();
  }

  end(key: object, outcome: string, at: number): void {
    const p = this.pending.get(key);
    if (p === undefined) return;
    p.end = { outcome, at };
    this.schedule();
  }

  private schedule(): void {
    if (this.pending.size >= MAX_PENDING) {
      this.flush();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Writes what is pending; rows of calls still up stay for their end. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      this.log.transaction(() => {
        for (const [key, p] of this.pending) {
          p.id ??= this.log.calls.consider(p.call);
          if (p.end !== undefined) {
            this.log.calls.end(p.id, p.end.outcome, Math.max(p.end.at, p.call.startedAt));
            this.pending.delete(key);
          } else if (p.id !== undefined) {
            // written; the end comes later and updates the row
          }
        }
      });
    } catch (err) {
      this.logger.error({ event: 'store.error', err: err instanceof Error ? err.message : String(err) }, 'call log not written; retrying');
      this.schedule();
    }
  }

  close(): void {
    this.flush();
  }
}
