/**
 * Call extraction on captures built in the test, for what the public
 * captures do not show.
 *
 * Verified:
 * - an IPv6 call (pcapng, big-endian, 802.1Q): SDP IPv6 addresses written
 *   in long upper-case form match the compressed packet addresses; G.722
 *   and telephone-event named from SDP; a sender using another source port
 *   than announced is matched on destination; BYE from the callee
 * - a proxied call captured on both hops with a BYE sent straight between
 *   the ends: copies ignored, the direct BYE kept and flagged off-hop
 * - calls are not merged as B2BUA legs when users differ or when too far apart
 * - two-way RTP-only capture: both directions, unknown dynamic payload type
 * - SDP inside a multipart/mixed body (SIP-I: SDP next to ISUP) is read
 * - classifier: RTP with PT 72-76 is not RTP, RTCP compounds are RTCP,
 *   keep-alive CRLFs are other, a broken SIP message is counted
 */
import t from 'tap';
import {
  classifyPayload, extractCalls, isRtcp, isRtp, readCapture, sdpBodyOf, type Endpoint, type UdpDatagram,
} from '../../lib/replay/index.js';
import { ethernet, ipPacket, rtpPacket, writePcap, writePcapng, type Frame } from './capture-builder.js';

const T0 = 1_700_000_000_000;

interface SipSpec {
  start: string;
  callId: string;
  from: string;
  to: string;
  cseq: string;
  sdp?: string;
  extra?: string[];
}

function sip(s: SipSpec): Buffer {
  const body = s.sdp === undefined ? '' : `${s.sdp.split('\n').join('\r\n')}\r\n`;
  const head = [
    s.start,
    'Via: SIP/2.0/UDP host.invalid;branch=z9hG4bK-1',
    `From: ${s.from}`,
    `To: ${s.to}`,
    `Call-ID: ${s.callId}`,
    `CSeq: ${s.cseq}`,
    'Max-Forwards: 70',
    ...(s.extra ?? []),
    ...(body === '' ? [] : ['Content-Type: application/sdp']),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`);
}

function datagram(timeMs: number, src: Endpoint, dst: Endpoint, payload: Buffer): UdpDatagram {
  return { timeMs, src, dst, payload };
}

t.test('IPv6 call in a big-endian pcapng with a VLAN tag', async (t) => {
  const A = { host: '2001:db8::10', port: 5060 };
  const B = { host: '2001:db8::20', port: 5060 };
  const from = '"Alice" <sip:alice@example.com>;tag=a1';
  const to = '<sip:bob@example.com>';
  const toTagged = '<sip:bob@example.com>;tag=b1';
  const offer = 'v=0\no=alice 1 1 IN IP6 2001:DB8:0:0:0:0:0:10\ns=-\nc=IN IP6 2001:DB8:0:0:0:0:0:10\nt=0 0\nm=audio 40000 RTP/AVP 9 101\na=rtpmap:9 G722/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16';
  const answer = 'v=0\no=bob 7 7 IN IP6 2001:db8::20\ns=-\nc=IN IP6 2001:db8::20\nt=0 0\nm=audio 50000 RTP/AVP 9 101\na=rtpmap:9 G722/8000\na=rtpmap:101 telephone-event/8000';
  const msgs: Array<[number, Endpoint, Endpoint, Buffer]> = [
    [0, A, B, sip({ start: 'INVITE sip:bob@[2001:db8::20] SIP/2.0', callId: 'v6call', from, to, cseq: '1 INVITE', sdp: offer })],
    [10, B, A, sip({ start: 'SIP/2.0 180 Ringing', callId: 'v6call', from, to: toTagged, cseq: '1 INVITE' })],
    [500, B, A, sip({ start: 'SIP/2.0 200 OK', callId: 'v6call', from, to: toTagged, cseq: '1 INVITE', sdp: answer })],
    [510, A, B, sip({ start: 'ACK sip:bob@[2001:db8::20] SIP/2.0', callId: 'v6call', from, to: toTagged, cseq: '1 ACK' })],
    // RFC 3261 §12.2.1.1: the callee's BYE carries its own tag in From.
    [3000, B, A, sip({ start: 'BYE sip:alice@[2001:db8::10] SIP/2.0', callId: 'v6call', from: toTagged, to: from, cseq: '1 BYE' })],
    [3010, A, B, sip({ start: 'SIP/2.0 200 OK', callId: 'v6call', from: toTagged, to: from, cseq: '1 BYE' })],
  ];
  const frames: Frame[] = msgs.map(([dt, s, d, p]) => ({ timeMs: T0 + dt, data: ethernet(ipPacket(s.host, d.host, s.port, d.port, p), [42]) }));
  const g722 = Buffer.alloc(160, 0x55);
  for (let i = 0; i < 50; i++) {
    frames.push({ timeMs: T0 + 600 + i * 20, data: ethernet(ipPacket('2001:db8::10', '2001:db8::20', 40000, 50000, rtpPacket(9, i, i * 160, 0xa11ce, g722)), [42]) });
    // The callee sends from 50002 while it announced 50000: destination matching still finds the call.
    frames.push({ timeMs: T0 + 605 + i * 20, data: ethernet(ipPacket('2001:db8::20', '2001:db8::10', 50002, 40000, rtpPacket(9, 1000 + i, i * 160, 0xb0b, g722)), [42]) });
  }
  for (let i = 0; i < 4; i++) {
    const ev = Buffer.from([5, i === 3 ? 0x8a : 0x0a, 0, 160 * (i + 1)]);
    frames.push({ timeMs: T0 + 1700 + i * 20, data: ethernet(ipPacket('2001:db8::10', '2001:db8::20', 40000, 50000, rtpPacket(101, 50 + i, 8000, 0xa11ce, ev, i === 0)), [42]) });
  }
  frames.sort((a, b) => a.timeMs - b.timeMs);
  const capture = readCapture(writePcapng(frames, { linkType: 1, littleEndian: false, tsresol: 9 }));
  t.equal(capture.datagrams.length, frames.length);
  const x = extractCalls(capture.datagrams);
  t.equal(x.calls.length, 1);
  const c = x.calls[0]!;
  t.same([c.callId, c.caller, c.callee], ['v6call', A, B]);
  t.same([c.invite?.requestUser, c.invite?.fromUser, c.invite?.toUser], ['bob', 'alice', 'bob']);
  t.same([c.outcome?.status, c.answered], [200, true]);
  t.same(c.bye && [c.bye.by, c.bye.status], ['callee', 200], 'BYE sent by the callee');
  t.same(c.sdp.map((s) => [s.side, s.role, s.sdp.media[0]!.address]), [['caller', 'offer', '2001:db8::10'], ['callee', 'answer', '2001:db8::20']], 'SDP addresses compressed');
  const up = c.streams.find((s) => s.direction === 'caller->callee')!;
  const down = c.streams.find((s) => s.direction === 'callee->caller')!;
  t.same([up.packetCount, up.packetsByPayloadType, up.matchedBy], [54, { 9: 50, 101: 4 }, 'destination']);
  t.same(up.codecs.map((k) => `${k.name}:${k.source}`), ['G722:sdp', 'telephone-event:sdp']);
  t.same([down.packetCount, down.src.port, down.matchedBy], [50, 50002, 'destination']);
  t.equal(c.streams.length, 2);
  t.equal(x.unassociatedStreams.length, 0);
});

t.test('proxied call on two hops, BYE sent end to end', async (t) => {
  const A = { host: '192.0.2.1', port: 5060 };
  const P = { host: '192.0.2.2', port: 5060 };
  const B = { host: '192.0.2.3', port: 5060 };
  const from = '<sip:100@example.com>;tag=x';
  const to = '<sip:200@example.com>';
  const toT = `${to};tag=y`;
  const offer = 'v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 20000 RTP/AVP 0';
  const answer = 'v=0\no=- 2 2 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.3\nt=0 0\nm=audio 30000 RTP/AVP 0';
  const inv = sip({ start: 'INVITE sip:200@example.com SIP/2.0', callId: 'px', from, to, cseq: '1 INVITE', sdp: offer });
  const ok = sip({ start: 'SIP/2.0 200 OK', callId: 'px', from, to: toT, cseq: '1 INVITE', sdp: answer });
  const ack = sip({ start: 'ACK sip:200@192.0.2.3 SIP/2.0', callId: 'px', from, to: toT, cseq: '1 ACK' });
  const bye = sip({ start: 'BYE sip:200@192.0.2.3 SIP/2.0', callId: 'px', from, to: toT, cseq: '2 BYE' });
  const byeOk = sip({ start: 'SIP/2.0 200 OK', callId: 'px', from, to: toT, cseq: '2 BYE' });
  const d: UdpDatagram[] = [
    datagram(T0, A, P, inv), datagram(T0 + 1, P, B, inv),
    datagram(T0 + 100, B, P, ok), datagram(T0 + 101, P, A, ok),
    datagram(T0 + 102, A, P, ack), datagram(T0 + 103, P, B, ack),
    datagram(T0 + 200, { host: '192.0.2.1', port: 20000 }, { host: '192.0.2.3', port: 30000 }, rtpPacket(0, 1, 0, 7, Buffer.alloc(160))),
    datagram(T0 + 5000, A, B, bye), datagram(T0 + 5010, B, A, byeOk),
  ];
  const x = extractCalls(d);
  t.equal(x.calls.length, 1);
  const c = x.calls[0]!;
  t.same([c.caller, c.callee], [A, P], 'first hop of the INVITE');
  t.equal(c.ignoredCopies, 3, 'INVITE, 200 and ACK copies on the proxy-callee hop');
  t.same(c.messages.map((m) => `${m.offHop ? 'off:' : ''}${m.message.kind === 'request' ? m.message.method : m.message.status}`), ['INVITE', '200', 'ACK', 'off:BYE', 'off:200']);
  t.same(c.bye, { timeMs: T0 + 5000, by: 'caller', status: 200 });
  t.same(c.hops.map((h) => h.chosen), [true, false, false]);
  t.equal(c.streams[0]?.direction, 'caller->callee');
});

t.test('B2BUA leg correlation: only same users (or same o= line) within the window', async (t) => {
  const mk = (callId: string, fromUser: string, toUser: string, at: number, sdp?: string): UdpDatagram =>
    datagram(T0 + at, { host: '10.0.0.1', port: 5060 }, { host: '10.0.0.2', port: 5060 },
      sip({ start: `INVITE sip:${toUser}@h SIP/2.0`, callId, from: `<sip:${fromUser}@h>;tag=${callId}`, to: `<sip:${toUser}@h>`, cseq: '1 INVITE', ...(sdp ? { sdp } : {}) }));
  const o = (id: string): string => `v=0\no=gw ${id} 1 IN IP4 10.0.0.9\ns=-\nc=IN IP4 10.0.0.9\nt=0 0\nm=audio 4000 RTP/AVP 0`;
  const x = extractCalls([
    mk('a', '1', '2', 0), mk('a-leg2', '1', '2', 50),
    mk('b', '3', '4', 100),
    mk('c', '1', '2', 10_000),
    mk('d', '5', '6', 20_000, o('77')), mk('d-leg2', '+495', '006', 20_030, o('77')),
  ]);
  t.same(x.calls.map((c) => [c.callId, c.otherLegCallIds]), [['a', ['a-leg2']], ['b', []], ['c', []], ['d', ['d-leg2']]]);
});

t.test('RTP-only with both directions and an unknown dynamic payload type', async (t) => {
  const X = { host: '10.9.9.1', port: 7000 };
  const Y = { host: '10.9.9.2', port: 8000 };
  const d: UdpDatagram[] = [];
  for (let i = 0; i < 10; i++) {
    d.push(datagram(T0 + i * 20, X, Y, rtpPacket(96, i, i * 320, 1, Buffer.alloc(33))));
    d.push(datagram(T0 + i * 20 + 3, Y, X, rtpPacket(8, 100 + i, i * 160, 2, Buffer.alloc(160))));
  }
  const c = extractCalls(d).calls[0]!;
  t.equal(c.synthetic, true);
  t.same(c.streams.map((s) => [s.direction, s.packetCount, s.codecs[0]!.name, s.codecs[0]!.source]), [
    ['caller->callee', 10, 'PT96', 'unknown'],
    ['callee->caller', 10, 'PCMA', 'static'],
  ]);
});

t.test('classifier: RTP, RTCP, SIP, other', async (t) => {
  const rtp = rtpPacket(0, 1, 2, 3, Buffer.alloc(160));
  t.equal(isRtp(rtp, 4000, 4002), true);
  t.equal(isRtp(rtp, 53, 4002), false, 'privileged port');
  for (const pt of [72, 73, 74, 75, 76]) t.equal(isRtp(rtpPacket(pt, 1, 2, 3, Buffer.alloc(20)), 4000, 4000), false, `PT ${pt} is the RTCP range`);
  t.equal(isRtp(Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), false, 'version 1');
  t.equal(isRtp(Buffer.from([0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), false, '15 CSRCs beyond the end');
  // RR with no report blocks (8 bytes) + SDES with one CNAME chunk (padded to 12 bytes).
  const rr = Buffer.from('80c90001deadbeef', 'hex');
  const sdes = Buffer.from('81ca0002deadbeef01017800', 'hex');
  t.equal(isRtcp(Buffer.concat([rr, sdes])), true, 'compound RR + SDES');
  t.equal(isRtcp(Buffer.concat([rr, sdes.subarray(0, 8)])), false, 'lengths do not add up');
  t.equal(classifyPayload(Buffer.concat([rr, sdes]), 4001, 4003).kind, 'rtcp');
  t.equal(classifyPayload(Buffer.from('\r\n\r\n'), 5060, 5060).kind, 'other', 'keep-alive');
  const broken = classifyPayload(Buffer.from('INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n'), 5060, 5060);
  t.same([broken.kind, broken.kind === 'other' && broken.sipError !== undefined], ['other', true], 'missing headers: counted as a SIP parse error');
  const x = extractCalls([datagram(T0, { host: '1.1.1.1', port: 5060 }, { host: '2.2.2.2', port: 5060 }, Buffer.from('INVITE sip:a@b SIP/2.0\r\n\r\n'))]);
  t.equal(x.stats.sipParseErrors, 1);
  t.equal(x.calls.length, 0);
});

t.test('a whole synthetic pcap round trip: SIP over IPv4 in little-endian pcap', async (t) => {
  const A = { host: '198.51.100.1', port: 5060 };
  const B = { host: '198.51.100.2', port: 5070 };
  const inv = sip({ start: 'INVITE sip:9@h SIP/2.0', callId: 'rt', from: '<sip:8@h>;tag=1', to: '<sip:9@h>', cseq: '1 INVITE' });
  const busy = sip({ start: 'SIP/2.0 486 Busy Here', callId: 'rt', from: '<sip:8@h>;tag=1', to: '<sip:9@h>;tag=2', cseq: '1 INVITE' });
  const buf = writePcap([
    { timeMs: T0, data: ethernet(ipPacket(A.host, B.host, A.port, B.port, inv)) },
    { timeMs: T0 + 30, data: ethernet(ipPacket(B.host, A.host, B.port, A.port, busy)) },
  ], { linkType: 1 });
  const c = extractCalls(readCapture(buf).datagrams).calls[0]!;
  t.same([c.callId, c.outcome?.status, c.outcome?.reason, c.answered, c.sdp.length], ['rt', 486, 'Busy Here', false, 0]);
});

t.test('SDP inside a multipart/mixed body (SIP-I)', async (t) => {
  const sdp = 'v=0\r\no=- 5 5 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n';
  const body = [
    '--unique-boundary-1', 'Content-Type: application/sdp', '', sdp,
    '--unique-boundary-1', 'Content-Type: application/isup;version=itu-t92+', 'Content-Disposition: signal;handling=optional', '', '\x01\x00',
    '--unique-boundary-1--', '',
  ].join('\r\n');
  const ct = 'multipart/mixed;boundary=unique-boundary-1';
  t.equal(sdpBodyOf(ct, Buffer.from(body)), sdp);
  t.equal(sdpBodyOf('application/isup', Buffer.from('x')), undefined);
  t.equal(sdpBodyOf(undefined, Buffer.alloc(0)), undefined);
  const msg = Buffer.from([
    'INVITE sip:1@h SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK-2', 'From: <sip:2@h>;tag=t', 'To: <sip:1@h>',
    'Call-ID: sipi', 'CSeq: 1 INVITE', `Content-Type: ${ct}`, `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n'));
  const c = extractCalls([datagram(T0, { host: '10.1.1.1', port: 5060 }, { host: '10.1.1.2', port: 5060 }, msg)]).calls[0]!;
  t.same(c.sdp.map((x) => [x.role, x.sdp.media[0]!.address, x.sdp.media[0]!.port]), [['offer', '10.1.1.1', 6000]]);
});
