/*
 * Transaction timers: RFC 3261 §17 Table 4 (§A) and RFC 6026 §8.4 (Timer M), §8.7 (Timer L).
 *
 * Verifies:
 * - T1 = 500 ms, T2 = 4 s, T4 = 5 s by default; partial overrides; invalid values refused
 * - Timer A doubles without a cap (§17.1.1.2); Timers E and G double up to T2; E is T2 in Proceeding
 * - Timers B, F, H, L, M = 64*T1; Timer J = 64*T1 unreliable, 0 reliable
 * - Timer D >= 32 s unreliable (and never below 64*T1), 0 reliable; Timers I and K = T4 / 0
 */
import t from 'tap';
import {
  DEFAULT_TIMER_CONFIG,
  resolveTimerConfig,
  timerA,
  timerB,
  timerD,
  timerE,
  timerF,
  timerG,
  timerH,
  timerI,
  timerJ,
  timerK,
  timerL,
  timerM,
} from '../../../lib/sip/transaction/index.js';

t.test('defaults are T1 = 500 ms, T2 = 4 s, T4 = 5 s', async (t) => {
  t.same(DEFAULT_TIMER_CONFIG, { t1: 500, t2: 4000, t4: 5000 });
  t.same(resolveTimerConfig(), DEFAULT_TIMER_CONFIG);
  t.same(resolveTimerConfig({ t1: 200 }), { t1: 200, t2: 4000, t4: 5000 }, 'partial override');
  t.same(resolveTimerConfig({ t1: undefined }), DEFAULT_TIMER_CONFIG, 'undefined keeps the default');
});

t.test('invalid timer values are refused', async (t) => {
  t.throws(() => resolveTimerConfig({ t1: 0 }), RangeError);
  t.throws(() => resolveTimerConfig({ t4: -1 }), RangeError);
  t.throws(() => resolveTimerConfig({ t2: Number.NaN }), RangeError);
  t.throws(() => resolveTimerConfig({ t1: 5000, t2: 4000 }), RangeError, 'T2 below T1');
});

t.test('Timer A doubles without cap; E and G cap at T2; E is T2 in Proceeding', async (t) => {
  const c = DEFAULT_TIMER_CONFIG;
  const series = (next: (prev?: number) => number, n: number): number[] => {
    const out: number[] = [];
    let v: number | undefined;
    for (let i = 0; i < n; i++) out.push((v = next(v)));
    return out;
  };
  t.same(series((p) => timerA(c, p), 7), [500, 1000, 2000, 4000, 8000, 16_000, 32_000]);
  t.same(series((p) => timerE(c, p), 7), [500, 1000, 2000, 4000, 4000, 4000, 4000]);
  t.same(series((p) => timerG(c, p), 7), [500, 1000, 2000, 4000, 4000, 4000, 4000]);
  t.equal(timerE(c, 500, true), 4000, 'Proceeding: reset to T2');
});

t.test('the 64*T1 timers and the transport-dependent wait timers', async (t) => {
  const c = DEFAULT_TIMER_CONFIG;
  for (const [name, f] of [['B', timerB], ['F', timerF], ['H', timerH], ['L', timerL], ['M', timerM]] as const) {
    t.equal(f(c), 32_000, `Timer ${name} = 64*T1`);
  }
  t.equal(timerD(c, false), 32_000, 'Timer D 32 s unreliable');
  t.equal(timerD(c, true), 0, 'Timer D 0 reliable');
  t.equal(timerD(resolveTimerConfig({ t1: 100 }), false), 32_000, 'Timer D never below 32 s');
  t.equal(timerD(resolveTimerConfig({ t1: 1000 }), false), 64_000, 'Timer D covers 64*T1 of response retransmissions');
  t.equal(timerI(c, false), 5000);
  t.equal(timerI(c, true), 0);
  t.equal(timerK(c, false), 5000);
  t.equal(timerK(c, true), 0);
  t.equal(timerJ(c, false), 32_000);
  t.equal(timerJ(c, true), 0);
});
