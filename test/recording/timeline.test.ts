/**
 * lib/recording/timeline: one leg's spool records -> contiguous codec bytes.
 *
 * Verifies: in-order stream bit-exact; loss -> silence of the exact length;
 * reordering within the jitter window repaired; packets later than the window
 * dropped and counted; duplicates (same seq, or same timestamp) dropped; SSRC
 * change and timestamp jump start a segment anchored at arrival; 32-bit
 * timestamp wrap-around; silence suppression gap; telephone-event, other
 * payload types and comfort noise skipped; G.711/G.722 silence bytes; the
 * end given up front cuts, finish() pads; output comes incrementally; 100 ppm
 * drift (fast and slow) over one hour with jitter stays within one packet of
 * wall-clock time and of the other leg; two legs with one origin align.
 * Not verified here: speed (bench/assembly/run.mjs measures it).
 */
import t from 'tap';
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
  // The new stream starts where the old audio ends (packet 0 at 8240), then follows its
  // arrival times (re-anchors 160 units back): packet 1 overwrites packet 0, and the rest
  // is in place at its wall-clock position. The floor only keeps the old audio intact.
  t.equal(out.indexOf(b.subarray(160)), 8240);
  t.match(tl.stats, { segments: 2, reanchors: 1, clippedUnits: 160 });
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

/** One hour of 20 ms packets from a sender whose clock is off by `ppm`, with up to `jitterMs` of delay. */
function driftingLeg(ppm: number, jitterMs: number, seed: number, ssrcChangeAt = Infinity): { packets: Packet[]; markers: Map<number, number> } {
  const rand = prng(seed);
  const n = 180_000;
  const normal = Buffer.alloc(160, 0x55);
  const packets: Packet[] = [];
  const markers = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    // The sender emits 160 samples per 20 ms of its own clock.
    const sendMs = (i * 20) / (1 + ppm * 1e-6);
    let payload = normal;
    if (i % 500 === 0) {
      payload = Buffer.alloc(160, 0x2a);
      payload.write(`S${String(i).padStart(8, '0')}`, 0, 'latin1');
      payload.write(`E${String(i).padStart(8, '0')}`, 151, 'latin1');
      markers.set(i, Math.round(sendMs * 8));
    }
    packets.push({
      record: {
        arrival: ORIGIN + sendMs + (i === 0 || i === ssrcChangeAt ? 0 : rand() * jitterMs),
        payloadOffset: 0,
        timestamp: ((i >= ssrcChangeAt ? 5555 : 99) + i * 160) >>> 0,
        ssrc: i >= ssrcChangeAt ? seed + 1 : seed,
        seq: i & 0xffff,
        marker: false,
        payloadType: 8,
        flags: 0,
        length: 160,
      },
      payload,
    });
  }
  packets.sort((a, b) => a.record.arrival - b.record.arrival);
  return { packets, markers };
}

/** Where each marker packet landed (found by its head or tail signature). */
function markerPositions(out: Buffer, markers: Map<number, number>): Map<number, number> {
  const found = new Map<number, number>();
  for (const [i, expected] of markers) {
    const id = String(i).padStart(8, '0');
    const from = Math.max(0, expected - 8000);
    const head = out.indexOf(`S${id}`, from, 'latin1');
    const tail = out.indexOf(`E${id}`, from, 'latin1');
    if (head >= 0) found.set(i, head);
    else if (tail >= 0) found.set(i, tail - 151);
  }
  return found;
}

t.test('100 ppm drift over one hour stays within one packet of wall clock and of the other leg', async (t) => {
  const end = ORIGIN + 3600_000 + 1000;
  const fast = driftingLeg(100, 30, 21);
  const slow = driftingLeg(-100, 30, 22);
  const a = assemble(fast.packets, { endMs: end });
  const b = assemble(slow.packets, { endMs: end });
  t.equal(a.out.length, b.out.length, 'equal lengths');
  const pa = markerPositions(a.out, fast.markers);
  const pb = markerPositions(b.out, slow.markers);
  t.ok(pa.size >= fast.markers.size - 3 && pb.size >= slow.markers.size - 3, `markers found ${pa.size}, ${pb.size} of ${fast.markers.size}`);
  let worstWall = 0;
  let worstLegs = 0;
  for (const [i, pos] of pa) {
    worstWall = Math.max(worstWall, Math.abs(pos - fast.markers.get(i)!));
    const other = pb.get(i);
    if (other !== undefined) worstWall = Math.max(worstWall, Math.abs(other - slow.markers.get(i)!));
  }
  // Leg-to-leg misalignment: the difference of the two legs' errors against wall clock.
  for (const [i, pos] of pa) {
    const other = pb.get(i);
    if (other === undefined) continue;
    worstLegs = Math.max(worstLegs, Math.abs(pos - fast.markers.get(i)! - (other - slow.markers.get(i)!)));
  }
  t.ok(worstWall <= 160, `worst offset from wall clock ${worstWall} units`);
  t.ok(worstLegs <= 160, `worst offset between the legs ${worstLegs} units`);
  t.ok(a.tl.stats.reanchors >= 20 && b.tl.stats.reanchors >= 20, `re-anchored ${a.tl.stats.reanchors} / ${b.tl.stats.reanchors} times`);
  t.equal(a.tl.stats.segments, 1);
  t.equal(a.tl.stats.late + b.tl.stats.late, 0);
  // Without the correction the fast leg would run 2880 units (360 ms) ahead by the end.
  const loose = assemble(fast.packets, { endMs: end, reanchorMs: 1e9 });
  const pl = markerPositions(loose.out, fast.markers);
  const lastMarker = Math.max(...pl.keys());
  t.ok(pl.get(lastMarker)! - fast.markers.get(lastMarker)! > 2500, 'uncorrected drift would be large');
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

t.test('a first packet delayed by jitter: the segment re-anchors earlier, audio stays in order', async (t) => {
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
  // late and pulled back by the next packets; newer audio overwrites the older tail.
  const late = stream({ audio, startMs: ORIGIN });
  late[0]!.record.arrival = ORIGIN + 40;
  late[1]!.record.arrival = ORIGIN + 41;
  late[2]!.record.arrival = ORIGIN + 42;
  const r = assemble(late, { finishMs: ORIGIN + 1100 });
  t.ok(r.tl.stats.reanchors >= 1, `re-anchored ${r.tl.stats.reanchors} times`);
  const at = r.out.indexOf(audio.subarray(800, 8000));
  t.ok(at >= 800 - 64 && at <= 800 + 64, `steady state within the re-anchor threshold (at ${at})`);
  // Packets 0 and 1 were overwritten but for 8 units each; from packet 2 on every packet is there, in order.
  const heads = late.slice(2).map((_, i) => r.out.indexOf(audio.subarray((i + 2) * 160, (i + 2) * 160 + 24)));
  t.ok(heads.every((h, i) => h >= 0 && (i === 0 || h > heads[i - 1]!)), `audio in order: ${heads.slice(0, 4).join(' ')}`);
  t.ok(r.tl.stats.clippedUnits > 0 && r.tl.stats.clippedUnits < 480, `dropped ${r.tl.stats.clippedUnits} units`);
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

t.test('drift is followed across an SSRC change too (the new segment may move back past its start)', async (t) => {
  const leg = driftingLeg(100, 20, 31, 90_000);
  const r = assemble(leg.packets, { endMs: ORIGIN + 3600_000 + 1000 });
  const found = markerPositions(r.out, leg.markers);
  t.ok(found.size >= leg.markers.size - 3, `markers found ${found.size}`);
  let worst = 0;
  for (const [i, pos] of found) worst = Math.max(worst, Math.abs(pos - leg.markers.get(i)!));
  t.ok(worst <= 80, `worst offset from wall clock ${worst} units`);
  t.equal(r.tl.stats.segments, 2);
  t.ok(r.tl.stats.reanchors >= 40, `re-anchored ${r.tl.stats.reanchors} times`);
});
