/**
 * lib/media/dtmf/telephone-event: RFC 4733 key presses, each counted once.
 *
 * Verifies: SIPp's captures dtmf_2833_{0-9,star,pound}.pcap (10 packets per
 * press, the last 3 with E=1 and identical) yield exactly their key, on the
 * first end packet; the payload parser on those packets; retransmitted and
 * reordered end packets not counted again; a press whose end packets were
 * all lost reported by poll() after the silence, or by the next press; the
 * payload type from the constructor; flash (16) and higher ignored; a new
 * SSRC is a new press; the segments of a long event (§2.5.1.3) are one press;
 * malformed packets ignored.
 * Does not verify: several events packed in one payload (§2.5.1.5), RFC 2198
 * redundancy, telephone-event rates other than 8 kHz (not used by the detector).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseTelephoneEvent, TelephoneEventDetector } from '../../../lib/media/dtmf/telephone-event.js';
import { rtpPayloadOffset } from '../../../lib/media/rtp-header.js';
import { SIPP_PCAPS } from './fixtures.js';
import { LINKTYPE_ETHERNET, readPcap, udpDatagrams } from './pcap.js';

const PT = 101;

interface Packet {
  data: Buffer;
  atMs: number;
}

function sippCapture(name: string): Packet[] {
  const pcap = readPcap(fs.readFileSync(path.join(SIPP_PCAPS, `dtmf_2833_${name}.pcap`)));
  if (pcap.linkType !== LINKTYPE_ETHERNET) throw new Error(`unexpected link type ${pcap.linkType}`);
  return udpDatagrams(pcap).map((d) => ({ data: d.payload, atMs: d.timeMs }));
}

/** An RTP packet carrying one telephone-event block. */
function eventPacket(o: { seq: number; ts: number; event: number; end?: boolean; duration: number; ssrc?: number; pt?: number; volume?: number }): Buffer {
  const p = Buffer.alloc(16);
  p[0] = 0x80;
  p[1] = o.pt ?? PT;
  p.writeUInt16BE(o.seq & 0xffff, 2);
  p.writeUInt32BE(o.ts >>> 0, 4);
  p.writeUInt32BE(o.ssrc ?? 0x11223344, 8);
  p[12] = o.event;
  p[13] = (o.end === true ? 0x80 : 0) | (o.volume ?? 10);
  p.writeUInt16BE(o.duration, 14);
  return p;
}

/** A press as a sender following §2.5.1 makes it: updates every 20 ms (160 units), then 3 end packets. */
function press(event: number, ts: number, seq: number, startMs: number, updates = 5, ssrc?: number): Packet[] {
  const out: Packet[] = [];
  for (let i = 0; i < updates; i++) {
    out.push({ data: eventPacket({ seq: seq + i, ts, event, duration: i * 160, ...(ssrc !== undefined && { ssrc }) }), atMs: startMs + i * 20 });
  }
  for (let i = 0; i < 3; i++) {
    out.push({
      data: eventPacket({ seq: seq + updates + i, ts, event, end: true, duration: updates * 160, ...(ssrc !== undefined && { ssrc }) }),
      atMs: startMs + (updates + i) * 20,
    });
  }
  return out;
}

function run(detector: TelephoneEventDetector, packets: Packet[]): string[] {
  const keys: string[] = [];
  for (const p of packets) {
    const key = detector.push(p.data, p.atMs);
    if (key !== undefined) keys.push(key);
  }
  return keys;
}

const CAPTURES: Array<[string, string, number]> = [
  ...Array.from({ length: 10 }, (_, i): [string, string, number] => [String(i), String(i), i]),
  ['star', '*', 10],
  ['pound', '#', 11],
];

t.test('SIPp captures: one key per file, on the first end packet', async (t) => {
  for (const [name, key, code] of CAPTURES) {
    const packets = sippCapture(name);
    t.equal(packets.length, 10, `${name}: 10 packets`);
    const ends = packets.filter((p) => parseTelephoneEvent(p.data.subarray(rtpPayloadOffset(p.data)))?.end === true);
    t.equal(ends.length, 3, `${name}: 3 end packets`);
    const detector = new TelephoneEventDetector(PT);
    const reportedAt: number[] = [];
    packets.forEach((p, i) => {
      const k = detector.push(p.data, p.atMs);
      if (k !== undefined) {
        t.equal(k, key, `${name}: key`);
        reportedAt.push(i);
      }
    });
    t.same(reportedAt, [7], `${name}: reported once, at packet 8 (the first E=1), code ${code}`);
    t.equal(detector.poll(packets[9]!.atMs + 5000), undefined, `${name}: nothing left for poll`);
  }
});

t.test('parseTelephoneEvent reads the SIPp packets', async (t) => {
  const packets = sippCapture('star');
  const payload = (i: number): Buffer => packets[i]!.data.subarray(rtpPayloadOffset(packets[i]!.data));
  t.same(parseTelephoneEvent(payload(0)), { event: 10, end: false, volume: 10, duration: 0 });
  t.same(parseTelephoneEvent(payload(1)), { event: 10, end: false, volume: 10, duration: 320 });
  t.same(parseTelephoneEvent(payload(9)), { event: 10, end: true, volume: 10, duration: 2240 });
  t.equal(parseTelephoneEvent(Buffer.from([1, 2, 3])), undefined, 'short payload');
  t.same(parseTelephoneEvent(Buffer.from([16, 0xff, 0xff, 0xff])), { event: 16, end: true, volume: 63, duration: 65535 }, 'R bit ignored');
});

t.test('all twelve captures in one stream: each key once, retransmissions included', async (t) => {
  const detector = new TelephoneEventDetector(PT);
  // Same SSRC and timestamp in every file, so each file is given its own SSRC to be a new press.
  const keys: string[] = [];
  CAPTURES.forEach(([name], i) => {
    for (const p of sippCapture(name)) {
      const data = Buffer.from(p.data);
      data.writeUInt32BE(0x1000 + i, 8);
      const k = detector.push(data, i * 1000 + (p.atMs % 1000));
      if (k !== undefined) keys.push(k);
    }
  });
  t.equal(keys.join(''), '0123456789*#');
});

t.test('the whole capture sent twice is still one press', async (t) => {
  const packets = sippCapture('5');
  const detector = new TelephoneEventDetector(PT);
  t.same(run(detector, [...packets, ...packets]), ['5']);
});

t.test('end packets retransmitted and reordered: counted once', async (t) => {
  const a = press(1, 8000, 100, 0);
  const b = press(2, 8800, 108, 200);
  // b's first update overtakes a's end packets; one of a's ends comes after b's end.
  const order = [a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, b[0]!, a[5]!, a[6]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, a[7]!, b[6]!, b[7]!];
  t.same(run(new TelephoneEventDetector(PT), order), ['1', '2']);
  // The end packet first, then the late updates of the same press.
  const late = [a[5]!, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[6]!, a[7]!];
  t.same(run(new TelephoneEventDetector(PT), late), ['1']);
});

t.test('same key pressed twice: two presses (different timestamps)', async (t) => {
  t.same(run(new TelephoneEventDetector(PT), [...press(1, 8000, 1, 0), ...press(1, 9600, 9, 400)]), ['1', '1']);
});

t.test('all end packets lost: poll reports after 1 s without updates', async (t) => {
  const packets = press(7, 16000, 1, 0).slice(0, 5); // updates only, last at 80 ms
  const detector = new TelephoneEventDetector(PT);
  t.same(run(detector, packets), []);
  t.equal(detector.poll(500), undefined, 'not yet after 420 ms');
  t.equal(detector.poll(1079), undefined, 'not yet at 999 ms');
  t.equal(detector.poll(1080), '7', 'reported at 1 s');
  t.equal(detector.poll(5000), undefined, 'once');
  // A late end packet of the same press changes nothing.
  t.equal(detector.push(press(7, 16000, 1, 0)[5]!.data, 5100), undefined);
});

t.test('all end packets lost: the next press reports it', async (t) => {
  const first = press(3, 16000, 1, 0).slice(0, 5);
  const second = press(4, 17600, 9, 300);
  t.same(run(new TelephoneEventDetector(PT), [...first, ...second]), ['3', '4']);
});

t.test('lost ends and a next press that is only an end packet: both keys, the second on the next call', async (t) => {
  const detector = new TelephoneEventDetector(PT);
  run(detector, press(3, 16000, 1, 0).slice(0, 5));
  t.equal(detector.push(eventPacket({ seq: 20, ts: 17600, event: 4, end: true, duration: 800 }), 300), '3');
  t.equal(detector.poll(301), '4');
  t.equal(detector.poll(302), undefined);
});

t.test('the flush interval is configurable', async (t) => {
  const detector = new TelephoneEventDetector(PT, { flushAfterMs: 150 });
  run(detector, press(9, 0, 1, 0).slice(0, 3)); // last update at 40 ms
  t.equal(detector.poll(189), undefined);
  t.equal(detector.poll(190), '9');
});

t.test('a push after the silence also flushes (callers that never poll)', async (t) => {
  const detector = new TelephoneEventDetector(PT);
  run(detector, press(9, 0, 1, 0).slice(0, 3));
  t.equal(detector.push(Buffer.from([0x80, 0]), 2000), '9', 'even with a packet that is not an event');
});

t.test('payload type comes from the constructor', async (t) => {
  const packets = sippCapture('1');
  t.same(run(new TelephoneEventDetector(96), packets), [], 'PT 101 packets ignored by a PT 96 detector');
  const retyped = press(1, 0, 1, 0).map((p) => ({ data: eventPacket({ seq: 1, ts: 0, event: 1, duration: 0, pt: 96, end: (p.data[13]! & 0x80) !== 0 }), atMs: p.atMs }));
  t.same(run(new TelephoneEventDetector(96), retyped), ['1']);
});

t.test('flash (16) and other non-key events are ignored', async (t) => {
  const detector = new TelephoneEventDetector(PT);
  t.same(run(detector, press(16, 0, 1, 0)), []);
  t.same(run(detector, press(32, 800, 9, 200)), []);
  t.same(run(detector, press(15, 1600, 17, 400)), ['D']);
  t.same(run(new TelephoneEventDetector(PT), [...press(5, 0, 1, 0).slice(0, 4), ...press(16, 800, 5, 100)]), ['5'], 'flash ends a press whose end packets were lost');
});

t.test('a new SSRC with the same timestamp is a new press', async (t) => {
  t.same(run(new TelephoneEventDetector(PT), [...press(1, 0, 1, 0, 5, 1), ...press(1, 0, 1, 200, 5, 2)]), ['1', '1']);
});

t.test('RFC 4733 §2.5.1.3: the segments of a long event are one press', async (t) => {
  const detector = new TelephoneEventDetector(PT);
  const seg1 = [
    eventPacket({ seq: 1, ts: 1000, event: 0, duration: 0 }),
    eventPacket({ seq: 2, ts: 1000, event: 0, duration: 65000 }),
    eventPacket({ seq: 3, ts: 1000, event: 0, duration: 0xffff }),
  ];
  const seg2 = [
    eventPacket({ seq: 4, ts: 1000 + 0xffff, event: 0, duration: 160 }),
    eventPacket({ seq: 5, ts: 1000 + 0xffff, event: 0, duration: 800, end: true }),
    eventPacket({ seq: 6, ts: 1000 + 0xffff, event: 0, duration: 800, end: true }),
  ];
  t.same(run(detector, [...seg1, ...seg2].map((data, i) => ({ data, atMs: i * 50 }))), ['0']);
});

t.test('malformed packets are ignored', async (t) => {
  const detector = new TelephoneEventDetector(PT);
  const good = eventPacket({ seq: 1, ts: 0, event: 1, end: true, duration: 800 });
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['header only', good.subarray(0, 12)],
    ['payload of 3 octets', good.subarray(0, 15)],
    ['RTP version 1', Buffer.concat([Buffer.from([0x40]), good.subarray(1)])],
    ['CSRC count beyond the end', Buffer.concat([Buffer.from([0x8f]), good.subarray(1)])],
    ['padding eats the payload', Buffer.concat([Buffer.from([0xa0]), good.subarray(1, 15), Buffer.from([4])])],
  ];
  for (const [name, packet] of cases) t.equal(detector.push(packet, 0), undefined, name);
  t.equal(detector.push(good, 1), '1', 'then a good one');
});

t.test('reads the payload after CSRCs and a header extension', async (t) => {
  const p = Buffer.alloc(12 + 4 + 8 + 4);
  p[0] = 0x91; // V=2, X=1, CC=1
  p[1] = PT;
  p.writeUInt32BE(160, 4);
  p.writeUInt32BE(7, 8);
  p.writeUInt16BE(0xbede, 16);
  p.writeUInt16BE(1, 18); // one word of extension
  p.set([11, 0x8a, 0x03, 0x20], 24);
  t.equal(new TelephoneEventDetector(PT).push(p, 0), '#');
});
