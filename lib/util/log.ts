import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs, one JSON object per line on stdout. Events worth knowing
 * carry an `event` field (`call.start`, `sip.refused`, ...) so operators and
 * tests can filter on it.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.CALLREC_LOG_LEVEL ?? 'info';
  return pino(
    { level, base: { name: 'callrec' }, timestamp: pino.stdTimeFunctions.isoTime },
    options.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that discards everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
