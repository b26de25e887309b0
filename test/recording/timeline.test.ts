/**
 * lib/recording/timeline: one leg's spool records -> contiguous codec bytes.
 *
 * Verifies: in-order stream bit-exact; loss -> silence of the exact length;
 * reordering within the jitter window repaired; packets later than the window
 * dropped and counted; duplicates (same seq, or same timestamp) dropped; SSRC
 * change and timestamp jump start a segment anchored at arrival; where two
 * segments meet nothing is overwritten (the new one yields); 32-bit
 * timestamp wrap-around; silence suppression gap; telephone-event, other
 * payload types and comfort noise skipped; G.711/G.722 silence bytes; the
 * end given up front cuts, finish() pads; output comes incrementally.
 * Drift and arrival offset, with every payload intact and in order and
 * clippedUnits 0: 100 ppm (fast and slow) over one hour with jitter and
 * talkspurts stays within one packet of wall-clock time and of the other
 * leg; jitter alone causes no correction; continuous audio is off by exactly
 * the drift (0.8 units/s at 100 ppm) until its first gap, which corrects it;
 * loss lets a slow sender catch up; a delayed first packet's talkspurt moves
 * back as a whole; a marker bit after loss; overlapping payloads all kept;
 * a real capture (pcap/sip-call-pcma-bidir-no-bye.pcap) keeps all 548 + 891
 * payloads. Two legs with one origin align.
 * Not verified here: speed (bench/assembly/run.mjs measures it).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractCallsFromFile } from '../../lib/replay/index.js';
import { FLAG } from '../../lib/recording/spool-format.js';
import { LegTimeline, SILENCE_BYTE, timelineCodec, type LegTimelineOptions } from '../../lib/recording/timeline.js';
import { prng, randomBytes, stream, type Packet } from './helpers.js';

const ORIGIN = 1_700_000_000_000;
const ALAW_SILENCE = 0xd5;

function assemble(packets: Packet[], opts: Partial<LegTimelineOptions> & { finishMs?: number } = {}, codec = timelineCodec('pcma')): { out: Buffer; tl: LegTimeline } {
  const tl = new LegTimeline(codec, { originMs: ORIGIN, ...opts });
  const chunks: Buffer[] = [];
  for (const p of packets) {
    tl.push(p.record, p.payload);
    for (let c = tl.read(); c !== undefined; c = tl.read()) chunks.push(c);
  }
  tl.finish(opts.finishMs);
  for (let c = tl.read(); c !== undefined; c = tl.read()) chunks.push(c);
  return { out: Buffer.concat(chunks), tl };
}

const silence = (n: number, byte = ALAW_SILENCE): Buffer => Buffer.alloc(n, byte);

t.test('in-order stream is bit-exact', async (t) => {
  const audio = randomBytes(8000 * 3, prng(1));
  const { out, tl } = assemble(stream({ audio, startMs: ORIGIN }));
  t.ok(out.equals(audio), 'output equals the payload bytes');
  t.match(tl.stats, { placed: 150, duplicates: 0, late: 0, segments: 1, reanchors: 0, lostUnits: 0, silenceUnits: 0, lengthUnits: 24000 });
});

t.test('a leg starting after the origin is preceded by silence; finish pads to the end', async (t) => {
  const audio = randomBytes(1600, prng(2));
  const { out, tl } = assemble(stream({ audio, startMs: ORIGIN + 250 }), { finishMs: ORIGIN + 1000 });
  t.equal(out.length, 8000);
  t.ok(out.subarray(0, 2000).equals(silence(2000)), '250 ms of silence before');
  t.ok(out.subarray(2000, 3600).equals(audio), 'audio at 250 ms');
  t.ok(out.subarray(3600).equals(silence(8000 - 3600)), 'silence after');
  t.equal(tl.stats.silenceUnits, 8000 - 1600);
  t.equal(tl.stats.lostUnits, 0, 'leading and trailing padding is not loss');
});

t.test('lost packets become silence of the exact length', async (t) => {
  const audio = randomBytes(8000, prng(3));
  const packets = stream({ audio, startMs: ORIGIN }).filter((_, i) => i < 10 || i > 12);
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 1000 });
  t.equal(out.length, 8000);
  t.ok(out.subarray(0, 1600).equals(audio.subarray(0, 1600)));
  t.ok(out.subarray(1600, 2080).equals(silence(480)), '3 packets of silence');
  t.ok(out.subarray(2080).equals(audio.subarray(2080)));
  t.equal(tl.stats.lostUnits, 480);
  t.equal(tl.stats.placed, 47);
});

t.test('reordering within the jitter window is repaired', async (t) => {
  const audio = randomBytes(8000 * 4, prng(4));
  const rand = prng(5);
  // Each packet but the first is delayed by 0..120 ms; packets arrive in order of arrival time.
  const packets = stream({ audio, startMs: ORIGIN })
    .map((p, i) => ({ ...p, record: { ...p.record, arrival: p.record.arrival + (i === 0 ? 0 : Math.floor(rand() * 120)) } }))
    .sort((a, b) => a.record.arrival - b.record.arrival);
  const swapped = packets.filter((p, i) => i > 0 && p.record.seq < packets[i - 1]!.record.seq).length;
  t.ok(swapped > 20, `stream is reordered (${swapped} packets out of order)`);
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 4000 });
  t.ok(out.equals(audio), 'output equals the in-order payload');
  t.match(tl.stats, { late: 0, duplicates: 0, segments: 1, reanchors: 0 });
});

t.test('a packet later than the jitter window is dropped and counted', async (t) => {
  const audio = randomBytes(8000 * 2, prng(6));
  const packets = stream({ audio, startMs: ORIGIN });
  const [late] = packets.splice(5, 1);
  late!.record.arrival += 800;
  packets.push(late!);
  packets.sort((a, b) => a.record.arrival - b.record.arrival);
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 2000 });
  t.equal(tl.stats.late, 1);
  t.ok(out.subarray(800, 960).equals(silence(160)), 'its slot stays silence');
  t.ok(out.subarray(960).equals(audio.subarray(960)));
});

t.test('duplicates are dropped: same SSRC and seq, or same timestamp', async (t) => {
  const audio = randomBytes(8000, prng(7));
  const packets = stream({ audio, startMs: ORIGIN });
  const withDups: Packet[] = [];
  for (const p of packets) {
    withDups.push(p);
    withDups.push({ record: { ...p.record, arrival: p.record.arrival + 5 }, payload: Buffer.alloc(p.payload.length, 1) });
  }
  // A copy with a new sequence number but the same timestamp (a sender retransmitting).
  withDups.push({ record: { ...packets[3]!.record, seq: 9999, arrival: ORIGIN + 300 }, payload: Buffer.alloc(160, 2) });
  withDups.sort((a, b) => a.record.arrival - b.record.arrival);
  const { out, tl } = assemble(withDups, { finishMs: ORIGIN + 1000 });
  t.ok(out.equals(audio), 'first copy kept, bit-exact');
  t.equal(tl.stats.duplicates, 51);
  t.equal(tl.stats.placed, 50);
});

t.test('an SSRC change starts a new segment anchored at its arrival', async (t) => {
  const a = randomBytes(8000, prng(8));
  const b = randomBytes(8000, prng(9));
  const packets = [
    ...stream({ audio: a, startMs: ORIGIN, ssrc: 1, ts0: 5000 }),
    ...stream({ audio: b, startMs: ORIGIN + 1500, ssrc: 2, ts0: 3_000_000_000, seq0: 7 }),
  ];
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 3000 });
  t.equal(out.length, 24000);
  t.ok(out.subarray(0, 8000).equals(a));
  t.ok(out.subarray(8000, 12000).equals(silence(4000)), 'gap between the streams');
  t.ok(out.subarray(12000, 20000).equals(b), 'new stream at 1.5 s');
  t.equal(tl.stats.segments, 2);
});

t.test('an SSRC change with no gap does not overwrite the audio before it', async (t) => {
  const a = randomBytes(8000, prng(10));
  const b = randomBytes(8000, prng(11));
  // The first stream's packets were all delayed 30 ms on the way; the new stream is on time,
  // so by arrival it would start 20 ms before the first stream's audio ends.
  const first = stream({ audio: a, startMs: ORIGIN + 30, ssrc: 1 });
  const second = stream({ audio: b, startMs: ORIGIN + 1010, ssrc: 2, ts0: 77 });
  const { out, tl } = assemble([...first, ...second], { finishMs: ORIGIN + 2100 });
  t.ok(out.subarray(240, 8240).equals(a), 'first stream intact');
  // The new stream starts where the old audio ends (8240, 20 ms after its arrival) and,
  // its audio being continuous, stays there: it is never moved back over audio. (Before,
  // it re-anchored 160 units back: its packet 1 overwrote its packet 0, 160 units clipped.)
  t.equal(out.indexOf(b), 8240, 'second stream intact, right after the first');
  t.match(tl.stats, { segments: 2, reanchors: 0, clippedUnits: 0, placed: 100 });
});

t.test('streams meeting at an SSRC change: the new one yields while it is not final, nothing is overwritten', async (t) => {
  const a = randomBytes(8000, prng(40));
  const b = randomBytes(8000, prng(41));
  // The old stream's last packet is delayed 30 ms and arrives after the new stream's first
  // two, which by arrival start 10 ms before the old audio ends.
  const first = stream({ audio: a, startMs: ORIGIN, ssrc: 1 });
  first[49]!.record.arrival += 30;
  const second = stream({ audio: b, startMs: ORIGIN + 990, ssrc: 2, ts0: 5 });
  const r = assemble([...first, ...second].sort((x, y) => x.record.arrival - y.record.arrival), { finishMs: ORIGIN + 2100 });
  t.ok(r.out.subarray(0, 8000).equals(a), 'old stream intact, its last packet included');
  t.equal(r.out.indexOf(b), 8000, 'new stream moved on to right after it');
  t.match(r.tl.stats, { segments: 2, clippedUnits: 0, late: 0, placed: 100, reanchors: 1 });

  // The new stream's first packet is the one delayed: once it arrives it would fall on
  // the old stream's end (the new source began 20 ms before the old one stopped).
  const third = stream({ audio: b, startMs: ORIGIN + 980, ssrc: 3, ts0: 9 });
  third[0]!.record.arrival += 30;
  const r2 = assemble([...stream({ audio: a, startMs: ORIGIN, ssrc: 1 }), ...third].sort((x, y) => x.record.arrival - y.record.arrival), { finishMs: ORIGIN + 2100 });
  t.ok(r2.out.subarray(0, 8000).equals(a), 'old stream intact');
  t.equal(r2.out.indexOf(b), 8000, 'new stream complete, right after it');
  t.match(r2.tl.stats, { segments: 2, clippedUnits: 0, late: 0, placed: 100, reanchors: 1 });
});

t.test('a timestamp jump inconsistent with arrival re-anchors at arrival (hold, re-INVITE)', async (t) => {
  const a = randomBytes(8000, prng(12));
  const b = randomBytes(4000, prng(13));
  const packets = [
    ...stream({ audio: a, startMs: ORIGIN, ts0: 10_000 }),
    // Same SSRC and sequence continues, but the timestamp restarts lower, 2 s later.
    ...stream({ audio: b, startMs: ORIGIN + 3000, ts0: 160, seq0: 150 }),
  ];
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 4000 });
  t.ok(out.subarray(0, 8000).equals(a));
  t.ok(out.subarray(8000, 24000).equals(silence(16000)));
  t.ok(out.subarray(24000, 28000).equals(b), 'placed at its arrival, 3 s');
  t.equal(tl.stats.segments, 2);

  // A forward jump of 60 s within 20 ms of arrival is a jump too, not 60 s of silence.
  const c = randomBytes(1600, prng(14));
  const fwd = [...stream({ audio: a, startMs: ORIGIN }), ...stream({ audio: c, startMs: ORIGIN + 1000, ts0: 1000 + 8000 + 480_000, seq0: 150 })];
  const r2 = assemble(fwd, { finishMs: ORIGIN + 2000 });
  t.equal(r2.out.length, 16000);
  t.ok(r2.out.subarray(8000, 9600).equals(c));
  t.equal(r2.tl.stats.segments, 2);
});

t.test('RTP timestamp wrap-around at 0xFFFFFFFF is continuous', async (t) => {
  const audio = randomBytes(8000 * 2, prng(15));
  const packets = stream({ audio, startMs: ORIGIN, ts0: 0xffffffff - 160 * 20 + 1, seq0: 65530 });
  t.ok(packets.some((p) => p.record.timestamp < 1000), 'timestamps wrap');
  const { out, tl } = assemble(packets);
  t.ok(out.equals(audio));
  t.equal(tl.stats.segments, 1);
  // And reordered across the wrap.
  const swapped = packets.slice();
  const i = swapped.findIndex((p) => p.record.timestamp < 1000);
  [swapped[i - 1], swapped[i]] = [swapped[i]!, swapped[i - 1]!];
  t.ok(assemble(swapped).out.equals(audio), 'reordered across the wrap');
});

t.test('silence suppression: the timestamp runs on without packets -> silence', async (t) => {
  const a = randomBytes(8000, prng(16));
  const b = randomBytes(8000, prng(17));
  const packets = [...stream({ audio: a, startMs: ORIGIN, ts0: 0 }), ...stream({ audio: b, startMs: ORIGIN + 3000, ts0: 24000, seq0: 150 })];
  packets[50]!.record.marker = true;
  const { out, tl } = assemble(packets);
  t.equal(out.length, 32000);
  t.ok(out.subarray(8000, 24000).equals(silence(16000)), '2 s of silence');
  t.ok(out.subarray(24000).equals(b));
  t.match(tl.stats, { segments: 1, lostUnits: 16000 });
});

t.test('telephone-events, other payload types and comfort noise are skipped', async (t) => {
  const audio = randomBytes(8000, prng(18));
  const packets = stream({ audio, startMs: ORIGIN });
  const extra: Packet[] = [
    { record: { ...packets[10]!.record, seq: 500, payloadType: 101, flags: FLAG.event, arrival: ORIGIN + 201 }, payload: Buffer.from([1, 0x8a, 0, 160]) },
    { record: { ...packets[11]!.record, seq: 501, payloadType: 0, arrival: ORIGIN + 221 }, payload: Buffer.alloc(160, 0x11) },
    { record: { ...packets[12]!.record, seq: 502, payloadType: 13, arrival: ORIGIN + 241, length: 1 }, payload: Buffer.from([40]) },
  ];
  const all = [...packets, ...extra].sort((a, b) => a.record.arrival - b.record.arrival);
  const { out, tl } = assemble(all);
  t.ok(out.equals(audio));
  t.match(tl.stats, { events: 1, otherPayloadType: 1, comfortNoise: 1, placed: 50 });
  // A comfort-noise period instead of audio is silence.
  const cn = packets.map((p, i) => (i >= 20 && i < 30 ? { record: { ...p.record, payloadType: 13, length: 1 }, payload: Buffer.from([40]) } : p));
  const r = assemble(cn);
  t.ok(r.out.subarray(3200, 4800).equals(silence(1600)));
  t.equal(r.tl.stats.comfortNoise, 10);
});

t.test('silence bytes: A-law 0xD5, µ-law 0xFF, G.722 0xFC', async (t) => {
  t.same(SILENCE_BYTE, { pcma: 0xd5, pcmu: 0xff, g722: 0xfc });
  for (const codec of ['pcma', 'pcmu', 'g722'] as const) {
    const { out } = assemble([], { finishMs: ORIGIN + 100 }, timelineCodec(codec));
    t.ok(out.equals(Buffer.alloc(800, SILENCE_BYTE[codec])), codec);
  }
  // A multi-unit pattern keeps its phase on the timeline across gaps.
  const frame = Buffer.from([1, 2, 3, 4]);
  const codec = { ...timelineCodec('pcma'), silence: frame };
  const audio = randomBytes(160, prng(19));
  const { out } = assemble(stream({ audio, startMs: ORIGIN + 101 }), { finishMs: ORIGIN + 300 }, codec);
  for (const at of [0, 5, 807, 1000, 2399]) t.equal(out[at], at >= 808 && at < 968 ? audio[at - 808] : frame[at % 4], `byte ${at}`);
});

t.test('the end given up front cuts exactly; output comes incrementally', async (t) => {
  const audio = randomBytes(8000 * 20, prng(20));
  const tl = new LegTimeline(timelineCodec('pcma'), { originMs: ORIGIN, endMs: ORIGIN + 15_000 });
  const chunks: Buffer[] = [];
  let beforeFinish = 0;
  for (const p of stream({ audio, startMs: ORIGIN })) {
    tl.push(p.record, p.payload);
    for (let c = tl.read(); c !== undefined; c = tl.read()) {
      chunks.push(c);
      beforeFinish += c.length;
    }
  }
  t.ok(beforeFinish >= 65_536, `emitted ${beforeFinish} bytes before finish()`);
  tl.finish();
  for (let c = tl.read(); c !== undefined; c = tl.read()) chunks.push(c);
  const out = Buffer.concat(chunks);
  t.ok(out.equals(audio.subarray(0, 120_000)), 'cut at 15 s');
  t.equal(tl.stats.afterEnd, 250);
  t.throws(() => tl.push(stream({ audio, startMs: ORIGIN })[0]!.record, audio), { name: 'TimelineStateError' });
});

interface DriftOptions {
  /** Sender clock error: positive = its RTP clock runs fast against the wall clock. */
  ppm: number;
  /** Each packet but the first (and the first after an SSRC change) is delayed by 0..jitterMs. */
  jitterMs: number;
  seed: number;
  /** Length in seconds (default one hour). */
  seconds?: number;
  /** Talk in bursts of 1 to 4 s with 0.3 to 1.5 s of suppressed silence between (else continuous). */
  talkspurts?: boolean;
  /** Packet indexes [from, to) not sent: suppressed silence. */
  silence?: [number, number];
  /** Fraction of packets lost on the way (their sequence numbers are skipped). */
  lossRate?: number;
  /** From this packet index on, another SSRC with another timestamp base. */
  ssrcChangeAt?: number;
}

interface DriftingLeg {
  /** In arrival order. */
  packets: Packet[];
  /** The packets received, in the order sent, with the wall-clock position of their first sample. */
  sent: Array<{ payload: Buffer; expected: number; seconds: number }>;
}

/**
 * 20 ms packets from a sender whose clock is off by `ppm`, every payload unique.
 * Silence suppression as RFC 3551 §4.1: the timestamp runs on, the sequence number
 * does not, and a talkspurt's first packet has the marker bit.
 */
function driftingLeg(o: DriftOptions): DriftingLeg {
  const rand = prng(o.seed);
  const n = (o.seconds ?? 3600) * 50;
  const change = o.ssrcChangeAt ?? Infinity;
  const bytes = Buffer.alloc(n * 160);
  const packets: Packet[] = [];
  const sent: DriftingLeg['sent'] = [];
  let seq = 0;
  let talkLeft = 0;
  let silentLeft = 0;
  let marker = true;
  for (let i = 0; i < n; i++) {
    if (o.talkspurts === true) {
      if (talkLeft === 0 && silentLeft === 0) {
        talkLeft = 50 + Math.floor(rand() * 150);
        silentLeft = 15 + Math.floor(rand() * 60);
      }
      if (talkLeft > 0) talkLeft--;
      else {
        silentLeft--;
        marker = true;
        continue;
      }
    }
    if (o.silence !== undefined && i >= o.silence[0] && i < o.silence[1]) {
      marker = true;
      continue;
    }
    const s = seq++ & 0xffff;
    if (o.lossRate !== undefined && rand() < o.lossRate) continue;
    // The sender emits 160 samples per 20 ms of its own clock.
    const sendMs = (i * 20) / (1 + o.ppm * 1e-6);
    const payload = bytes.subarray(i * 160, (i + 1) * 160);
    payload.fill((i * 7) & 0xff);
    payload.writeUInt32BE(i, 0);
    payload.writeUInt32BE(i, 156);
    sent.push({ payload, expected: Math.round(sendMs * 8), seconds: sendMs / 1000 });
    packets.push({
      record: {
        arrival: ORIGIN + sendMs + (i === 0 || i === change ? 0 : rand() * o.jitterMs),
        payloadOffset: 0,
        timestamp: ((i >= change ? 5555 : 99) + i * 160) >>> 0,
        ssrc: i >= change ? o.seed + 1 : o.seed,
        seq: s,
        marker,
        payloadType: 8,
        flags: 0,
        length: 160,
      },
      payload,
    });
    marker = false;
  }
  packets.sort((a, b) => a.record.arrival - b.record.arrival);
  return { packets, sent };
}

/**
 * Finds every payload sent in the output, one after the other; `offsets[k]` is how many
 * units later than its wall-clock place payload k landed (NaN if not found).
 */
function follow(out: Buffer, leg: DriftingLeg): { missing: number; offsets: Float64Array; min: number; max: number } {
  const offsets = new Float64Array(leg.sent.length);
  let cursor = 0;
  let missing = 0;
  let min = Infinity;
  let max = -Infinity;
  leg.sent.forEach((p, k) => {
    const at = out.indexOf(p.payload, cursor);
    if (at < 0) {
      missing++;
      offsets[k] = NaN;
      return;
    }
    cursor = at + p.payload.length;
    const off = at - p.expected;
    offsets[k] = off;
    min = Math.min(min, off);
    max = Math.max(max, off);
  });
  return { missing, offsets, min, max };
}

const HOUR_END = ORIGIN + 3600_000 + 1000;

t.test('100 ppm drift over one hour, talking in talkspurts: every payload kept, within one packet of wall clock and of the other leg', async (t) => {
  const fast = driftingLeg({ ppm: 100, jitterMs: 30, seed: 21, talkspurts: true });
  const slow = driftingLeg({ ppm: -100, jitterMs: 30, seed: 22, talkspurts: true });
  const a = assemble(fast.packets, { endMs: HOUR_END });
  const b = assemble(slow.packets, { endMs: HOUR_END });
  t.equal(a.out.length, b.out.length, 'equal lengths');
  const fa = follow(a.out, fast);
  const fb = follow(b.out, slow);
  t.equal(fa.missing + fb.missing, 0, `all ${fast.sent.length} + ${slow.sent.length} payloads intact and in order`);
  t.match(a.tl.stats, { clippedUnits: 0, late: 0, duplicates: 0, segments: 1 });
  t.match(b.tl.stats, { clippedUnits: 0, late: 0, duplicates: 0, segments: 1 });
  const worstWall = Math.max(fa.max, fb.max, -fa.min, -fb.min);
  // Leg-to-leg misalignment at any instant is the difference of the two legs' offsets.
  const worstLegs = Math.max(fa.max - fb.min, fb.max - fa.min);
  t.ok(worstWall <= 80, `worst offset from wall clock ${worstWall} units (fast ${fa.min}..${fa.max}, slow ${fb.min}..${fb.max})`);
  t.ok(worstLegs <= 160, `worst offset between the legs ${worstLegs} units`);
  t.ok(a.tl.stats.reanchors >= 20 && b.tl.stats.reanchors >= 20, `corrected at ${a.tl.stats.reanchors} / ${b.tl.stats.reanchors} gaps`);
  // Without the correction the fast leg would run 2880 units (360 ms) late by the end.
  const loose = follow(assemble(fast.packets, { endMs: HOUR_END, reanchorMs: 1e9 }).out, fast);
  t.ok(loose.offsets[loose.offsets.length - 1]! > 2500, `uncorrected drift would be large (${loose.offsets[loose.offsets.length - 1]})`);
});

t.test('jitter alone (reordering, loss, talkspurts) causes no correction', async (t) => {
  for (const talkspurts of [true, false]) {
    const leg = driftingLeg({ ppm: 0, jitterMs: 60, seed: 23, seconds: 600, talkspurts, lossRate: 0.02 });
    const r = assemble(leg.packets, { endMs: ORIGIN + 601_000 });
    const f = follow(r.out, leg);
    t.equal(f.missing, 0, `talkspurts ${talkspurts}: all ${leg.sent.length} payloads intact and in order`);
    t.ok(f.min === 0 && f.max === 0, `every payload exactly at its place (${f.min}..${f.max})`);
    t.match(r.tl.stats, { reanchors: 0, clippedUnits: 0, late: 0 });
  }
});

t.test('continuous audio with drift: placed strictly by timestamp, off by at most the drift since the last gap, corrected at the first gap', async (t) => {
  // Bound: a leg without gaps is never cut or stretched, so it is off wall clock by the
  // drift accumulated since its last gap (100 ppm: 0.8 units a second, 2880 units or 360 ms
  // after an hour): a fast sender's audio runs late (the leg is lengthened; the end of the
  // recording must leave room for it), a slow sender's runs early.
  const fast = driftingLeg({ ppm: 100, jitterMs: 30, seed: 24 });
  const slow = driftingLeg({ ppm: -100, jitterMs: 30, seed: 25 });
  for (const [name, leg, sign] of [['fast', fast, 1], ['slow', slow, -1]] as const) {
    const r = assemble(leg.packets, { endMs: HOUR_END });
    const f = follow(r.out, leg);
    t.equal(f.missing, 0, `${name}: all ${leg.sent.length} payloads intact and in order`);
    t.match(r.tl.stats, { reanchors: 0, clippedUnits: 0, late: 0 });
    let outside = 0;
    leg.sent.forEach((p, k) => {
      const drift = 100e-6 * 8000 * p.seconds;
      const off = sign * f.offsets[k]!;
      if (!(off >= drift - 2 && off <= drift + 2)) outside++;
    });
    t.equal(outside, 0, `${name}: offset = drift since the start (0.8 units/s) within 2 units; at the end ${f.offsets[f.offsets.length - 1]}`);
  }
  // Ten minutes without a gap, then 2 s of suppressed silence: the correction happens there.
  const gap = driftingLeg({ ppm: 100, jitterMs: 30, seed: 26, seconds: 700, silence: [30_000, 30_100] });
  const r = assemble(gap.packets, { endMs: ORIGIN + 701_000 });
  const f = follow(r.out, gap);
  t.equal(f.missing, 0, 'all payloads intact and in order');
  const k = gap.sent.findIndex((p) => p.seconds > 600);
  t.ok(f.offsets[k - 1]! > 470, `before the gap ${f.offsets[k - 1]} units late`);
  let worstAfter = 0;
  for (let j = k; j < gap.sent.length; j++) worstAfter = Math.max(worstAfter, Math.abs(f.offsets[j]! - 0.8 * (gap.sent[j]!.seconds - 602)));
  t.ok(worstAfter <= 8, `after it on time again, then drifting from there (within ${worstAfter})`);
  t.match(r.tl.stats, { reanchors: 1, clippedUnits: 0, late: 0 });
});

t.test('loss: a slow sender catches up at lost packets, a fast one waits for a silence', async (t) => {
  // A lost packet's slot may grow but not shrink: a late copy of it may still come.
  const slow = driftingLeg({ ppm: -100, jitterMs: 30, seed: 27, lossRate: 0.01 });
  const rs = assemble(slow.packets, { endMs: HOUR_END });
  const fs = follow(rs.out, slow);
  t.equal(fs.missing, 0, `slow: all ${slow.sent.length} payloads intact and in order`);
  t.ok(fs.max <= 8 && fs.min >= -80, `slow: within ${fs.min}..${fs.max} units of wall clock`);
  t.ok(rs.tl.stats.reanchors >= 20, `slow: corrected at ${rs.tl.stats.reanchors} lost packets`);
  t.match(rs.tl.stats, { clippedUnits: 0, late: 0 });
  const fast = driftingLeg({ ppm: 100, jitterMs: 30, seed: 28, lossRate: 0.01 });
  const rf = assemble(fast.packets, { endMs: HOUR_END });
  const ff = follow(rf.out, fast);
  t.equal(ff.missing, 0, `fast: all ${fast.sent.length} payloads intact and in order`);
  t.ok(ff.max <= 2882 && ff.min >= -8, `fast: ${ff.min}..${ff.max} units, the drift of the hour`);
  t.match(rf.tl.stats, { reanchors: 0, clippedUnits: 0, late: 0 });
});

t.test('two legs with one origin are aligned sample by sample', async (t) => {
  const a = randomBytes(8000, prng(23));
  const b = randomBytes(8000, prng(24));
  const end = ORIGIN + 3000;
  const legA = assemble(stream({ audio: a, startMs: ORIGIN + 1000, ts0: 123456, ssrc: 1 }), { endMs: end });
  const legB = assemble(stream({ audio: b, startMs: ORIGIN + 1000, ts0: 999, ssrc: 2 }), { endMs: end });
  t.equal(legA.out.length, 24000);
  t.equal(legB.out.length, 24000);
  t.equal(legA.out.indexOf(a), 8000);
  t.equal(legB.out.indexOf(b), 8000);
});

t.test('a first packet delayed by jitter: the talkspurt moves back as a whole, nothing is overwritten', async (t) => {
  const audio = randomBytes(8000, prng(25));
  const packets = stream({ audio, startMs: ORIGIN });
  packets[0]!.record.arrival += 40; // 320 units late; arrives after packet 1
  packets.sort((a, b) => a.record.arrival - b.record.arrival);
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 1000 });
  // Packet 1 came first and anchored the segment on time; packet 0 arrived late but within the window.
  t.equal(tl.stats.reanchors, 0, 'an old packet arriving late does not move the anchor');
  t.ok(out.equals(audio), 'bit-exact');

  // Now the late packets are the first to arrive: packet 0 (sent at 0) arrives at 40 ms,
  // packets 1 and 2 just after it, the rest on time. The segment is anchored 320 units
  // late; as the next packets show the offset, the first talkspurt (not yet final) is moved
  // back into the silence before it as a whole. (Before, the segment re-anchored only from
  // the next packet on and overwrote the tail of the packets before.)
  const late = stream({ audio, startMs: ORIGIN });
  late[0]!.record.arrival = ORIGIN + 40;
  late[1]!.record.arrival = ORIGIN + 41;
  late[2]!.record.arrival = ORIGIN + 42;
  const r = assemble(late, { finishMs: ORIGIN + 1100 });
  t.ok(r.tl.stats.reanchors >= 1, `re-anchored ${r.tl.stats.reanchors} times`);
  const at = r.out.indexOf(audio);
  t.ok(at >= 0 && at <= 64, `the whole second intact, within the re-anchor threshold of its place (at ${at})`);
  t.match(r.tl.stats, { clippedUnits: 0, placed: 50, late: 0 });
});

t.test('the output does not depend on when read() is called', async (t) => {
  const audio = randomBytes(8000 * 30, prng(26));
  const rand = prng(27);
  const packets = stream({ audio, startMs: ORIGIN })
    .filter(() => rand() > 0.05)
    .map((p) => ({ ...p, record: { ...p.record, arrival: p.record.arrival + rand() * 700 } }))
    .sort((a, b) => a.record.arrival - b.record.arrival);
  const eager = assemble(packets, { finishMs: ORIGIN + 31_000 });
  const lazy = new LegTimeline(timelineCodec('pcma'), { originMs: ORIGIN });
  for (const p of packets) lazy.push(p.record, p.payload);
  lazy.finish(ORIGIN + 31_000);
  const chunks: Buffer[] = [];
  for (let c = lazy.read(); c !== undefined; c = lazy.read()) chunks.push(c);
  t.ok(Buffer.concat(chunks).equals(eager.out), 'same bytes');
  t.same(lazy.stats, eager.tl.stats, 'same counters');
  t.ok(eager.tl.stats.late > 0, `some packets were late (${eager.tl.stats.late})`);
});

t.test('drift is followed across an SSRC change too', async (t) => {
  const leg = driftingLeg({ ppm: 100, jitterMs: 20, seed: 31, talkspurts: true, ssrcChangeAt: 90_000 });
  const r = assemble(leg.packets, { endMs: HOUR_END });
  const f = follow(r.out, leg);
  t.equal(f.missing, 0, `all ${leg.sent.length} payloads intact and in order`);
  const worst = Math.max(f.max, -f.min);
  t.ok(worst <= 80, `worst offset from wall clock ${worst} units`);
  t.match(r.tl.stats, { segments: 2, clippedUnits: 0, late: 0 });
  t.ok(r.tl.stats.reanchors >= 40, `corrected ${r.tl.stats.reanchors} times`);
});

t.test('payloads overlapping in RTP time (a broken sender) are all kept, one after the other', async (t) => {
  // 160-byte payloads whose timestamps step by 80: each overlaps the one before by half.
  const audio = randomBytes(160 * 50, prng(42));
  const packets = stream({ audio, startMs: ORIGIN }).map((p, i) => ({ ...p, record: { ...p.record, timestamp: 1000 + i * 80 } }));
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 2000 });
  t.equal(out.indexOf(audio), 0, 'every payload whole, in order');
  t.match(tl.stats, { placed: 50, clippedUnits: 0, audioUnits: 8000 });
});

t.test('a new talkspurt (marker bit) after lost packets: the silence may shrink, the lost packets keep their room', async (t) => {
  // The sender's clock runs 1 % fast, so every talkspurt arrives earlier than its timestamp says.
  const a = randomBytes(160 * 25, prng(43));
  const b = randomBytes(160 * 25, prng(44));
  const first = stream({ audio: a, startMs: ORIGIN, ts0: 0 });
  const second = stream({ audio: b, startMs: ORIGIN + 600 - 10, ts0: 4800, seq0: 125 }); // 80 units early
  second[0]!.record.marker = true;
  // The last two packets of the first talkspurt are lost on the way... and one of them comes late.
  const [late] = first.splice(23, 2);
  late!.record.arrival = ORIGIN + 620; // after the new talkspurt's first two packets
  const packets = [...first, ...second, late!].sort((x, y) => x.record.arrival - y.record.arrival);
  const { out, tl } = assemble(packets, { finishMs: ORIGIN + 2000 });
  t.equal(out.indexOf(a.subarray(0, 160 * 24)), 0, 'first talkspurt, with its late packet, in place');
  const at = out.indexOf(b);
  t.ok(at >= 4720 - 64 && at < 4800, `second talkspurt moved earlier into the silence (at ${at})`);
  t.match(tl.stats, { clippedUnits: 0, late: 0, placed: 49 });
});

const CAPTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../pcap/sip-call-pcma-bidir-no-bye.pcap');

t.test('a real capture with silence suppression and irregular arrival: every payload kept', { skip: existsSync(CAPTURE) ? false : `capture missing: ${CAPTURE}` }, async (t) => {
  const ex = await extractCallsFromFile(CAPTURE);
  const call = ex.calls[0]!;
  const expected = { 'callee->caller': { packets: 548, corrected: true }, 'caller->callee': { packets: 891, corrected: false } } as const;
  for (const [direction, want] of Object.entries(expected)) {
    const s = call.streams.find((x) => x.direction === direction)!;
    t.equal(s.packets.length, want.packets, `${direction}: ${want.packets} packets`);
    const packets: Packet[] = s.packets.map((p) => {
      const d = p.data;
      return {
        record: {
          arrival: p.timeMs, payloadOffset: 0, timestamp: d.readUInt32BE(4), ssrc: d.readUInt32BE(8), seq: d.readUInt16BE(2),
          marker: (d[1]! & 0x80) !== 0, payloadType: d[1]! & 0x7f, flags: 0, length: d.length - 12,
        },
        payload: d.subarray(12),
      };
    });
    const tl = new LegTimeline(timelineCodec('pcma', 8), { originMs: call.startMs, endMs: call.endMs + 1000 });
    const chunks: Buffer[] = [];
    for (const p of packets) {
      tl.push(p.record, p.payload);
      for (let c = tl.read(); c !== undefined; c = tl.read()) chunks.push(c);
    }
    tl.finish();
    for (let c = tl.read(); c !== undefined; c = tl.read()) chunks.push(c);
    const out = Buffer.concat(chunks);
    // Each payload, in sequence order, found after the one before: intact and in order.
    let cursor = 0;
    let intact = 0;
    let worst = 0;
    for (const p of [...packets].sort((x, y) => x.record.seq - y.record.seq)) {
      const at = out.indexOf(p.payload, cursor);
      if (at < 0) continue;
      intact++;
      cursor = at + p.payload.length;
      worst = Math.max(worst, Math.abs(at - tl.positionOf(p.record.arrival)));
    }
    t.equal(intact, want.packets, `${direction}: ${intact} of ${want.packets} payloads intact and in order`);
    t.match(tl.stats, { placed: want.packets, clippedUnits: 0, late: 0, duplicates: 0 });
    // The sender's RTP clock runs about 1.3 % fast against the capture's clock and it sends in
    // bursts; within a talkspurt its audio falls up to ~40 ms behind, caught up at each silence.
    t.ok(worst <= 400, `${direction}: within ${worst} units (${(worst / 8).toFixed(0)} ms) of its arrival`);
    t.equal(tl.stats.reanchors > 0, want.corrected, `${direction}: corrected ${tl.stats.reanchors} times`);
  }
});
