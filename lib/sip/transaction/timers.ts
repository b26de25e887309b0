/**
 * The transaction timers of RFC 3261 §17 (Table 4, §A) and RFC 6026 (Timer M,
 * §8.4; Timer L, §8.7), as pure functions of the configured T1, T2 and T4.
 *
 * Timer C belongs to proxies (§16.6) and is not used by a B2BUA.
 */

export interface TimerConfig {
  /** RTT estimate, default 500 ms (RFC 3261 §17.1.1.1). */
  readonly t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  readonly t2: number;
  /** Maximum duration a message remains in the network, default 5 s. */
  readonly t4: number;
}

export const DEFAULT_TIMER_CONFIG: TimerConfig = Object.freeze({ t1: 500, t2: 4000, t4: 5000 });

/** RFC 3261 §17.1.1.2: Timer D is "at least 32 seconds for unreliable transports". */
export const TIMER_D_MIN_MS = 32_000;

export type TimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M';

/** Fills in the defaults and rejects values that would break the state machines. */
export function resolveTimerConfig(overrides?: Partial<TimerConfig>): TimerConfig {
  const c = { ...DEFAULT_TIMER_CONFIG, ...stripUndefined(overrides) };
  for (const [name, v] of Object.entries(c)) {
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`timer ${name} must be a positive number of ms, got ${v}`);
  }
  if (c.t2 < c.t1) throw new RangeError(`T2 (${c.t2} ms) must not be smaller than T1 (${c.t1} ms)`);
  return Object.freeze(c);
}

function stripUndefined(o: Partial<TimerConfig> | undefined): Partial<TimerConfig> {
  const out: { t1?: number; t2?: number; t4?: number } = {};
  if (o?.t1 !== undefined) out.t1 = o.t1;
  if (o?.t2 !== undefined) out.t2 = o.t2;
  if (o?.t4 !== undefined) out.t4 = o.t4;
  return out;
}

/** 64*T1: Timers B, F, H, J (unreliable), L and M. */
function sixtyFourT1(c: TimerConfig): number {
  return 64 * c.t1;
}

/**
 * Timer A, INVITE request retransmit interval (unreliable transports only).
 * RFC 3261 §17.1.1.2: started with T1, "reset the timer with a value of 2*T1"
 * on each firing - it doubles without the T2 cap that non-INVITE requests have.
 */
export function timerA(c: TimerConfig, previous?: number): number {
  return previous === undefined ? c.t1 : previous * 2;
}

/** Timer B, INVITE transaction timeout: 64*T1 (§17.1.1.2). */
export function timerB(c: TimerConfig): number {
  return sixtyFourT1(c);
}

/**
 * Timer D, wait time for response retransmissions: "at least 32 seconds for
 * unreliable transports, and a value of zero seconds for reliable transports"
 * (§17.1.1.2, made a MUST by RFC 6026 §8.4). We never go below 64*T1 either,
 * the time a server keeps retransmitting its final response (Timer H), so a
 * larger T1 stays safe.
 */
export function timerD(c: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : Math.max(TIMER_D_MIN_MS, sixtyFourT1(c));
}

/**
 * Timer E, non-INVITE request retransmit interval (unreliable only), §17.1.2.2:
 * starts at T1; in Trying it is reset to MIN(2*previous, T2); in Proceeding
 * "Timer E MUST be reset with a value of T2 seconds".
 */
export function timerE(c: TimerConfig, previous?: number, proceeding = false): number {
  if (previous === undefined) return c.t1;
  return proceeding ? c.t2 : Math.min(previous * 2, c.t2);
}

/** Timer F, non-INVITE transaction timeout: 64*T1 (§17.1.2.2). */
export function timerF(c: TimerConfig): number {
  return sixtyFourT1(c);
}

/** Timer G, INVITE final response retransmit interval: T1, then MIN(2*previous, T2) (§17.2.1). */
export function timerG(c: TimerConfig, previous?: number): number {
  return previous === undefined ? c.t1 : Math.min(previous * 2, c.t2);
}

/** Timer H, wait time for ACK receipt: 64*T1 for all transports (§17.2.1). */
export function timerH(c: TimerConfig): number {
  return sixtyFourT1(c);
}

/** Timer I, wait time for ACK retransmissions: T4 unreliable, zero reliable (§17.2.1). */
export function timerI(c: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : c.t4;
}

/** Timer J, wait time for non-INVITE request retransmissions: 64*T1 unreliable, zero reliable (§17.2.2). */
export function timerJ(c: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : sixtyFourT1(c);
}

/** Timer K, wait time for non-INVITE response retransmissions: T4 unreliable, zero reliable (§17.1.2.2). */
export function timerK(c: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : c.t4;
}

/** Timer L, wait time for accepted INVITE request retransmissions: 64*T1 (RFC 6026 §8.7). */
export function timerL(c: TimerConfig): number {
  return sixtyFourT1(c);
}

/** Timer M, wait time for retransmissions of 2xx responses: 64*T1 (RFC 6026 §8.4). */
export function timerM(c: TimerConfig): number {
  return sixtyFourT1(c);
}
