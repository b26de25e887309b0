/**
 * Call extraction from the six public captures of pcap/MANIFEST.md
 * (lib/replay/call-extractor and the modules under it).
 *
 * Verified, per capture, against the manifest:
 * - calls found, Call-IDs, caller/callee signalling addresses, INVITE users
 * - outcome (final status), answered/cancelled, BYE and who sent it
 * - early media (183 with SDP) and its one-way 9-packet PCMA stream
 * - re-INVITEs (direction, CSeq, status, T.38 refused with 488)
 * - SDP offers/answers: media address and port, payload types, telephone-event
 * - RTP streams per direction: SSRC, packet counts per payload type, loss
 * - the multi-hop capture yields one call, not four hops or two Call-IDs
 * - RTP-only captures become one synthetic call with guessed codecs
 * Differences from the manifest, checked against the packets themselves:
 * - rtp-only-pcmu-rfc2833-dtmf-0-9.pcap is Linux cooked (SLL), not Ethernet,
 *   and holds each digit 0-9 once but in the order 2 0 1 3 7 8 5 4 9 6
 * - in the multi-hop capture the callee->caller direction has 159 RTP
 *   packets: the manifest's 132 plus the 27 that Wireshark shows as T.38
 *   (after the T.38 re-INVITE it decodes that port as UDPTL), which are
 *   PCMA RTP of the same SSRC
 * - the 9 early-media packets follow the 480 by about one second rather than
 *   falling between the 183 and the 480; they are still the 183's media
 * - sip-call-pcma-bidir-no-bye.pcap also holds the far leg of the media relay
 *   (200.57.7.196:40378 <-> 200.57.7.199:4800, 891 and 548 packets), which
 *   no SDP in the capture announces: reported as unassociated
 */
import t from 'tap';
import path from 'node:path';
import { extractCallsFromFile, type ExtractedCall, type Extraction, type RtpStream } from '../../lib/replay/index.js';
import { PCAP_DIR } from './tools.js';

const extract = (name: string, telephoneEventPayloadType?: number): Promise<Extraction> =>
  extractCallsFromFile(path.join(PCAP_DIR, name), telephoneEventPayloadType === undefined ? {} : { telephoneEventPayloadType });
const ep = (e: { host: string; port: number }): string => `${e.host}:${e.port}`;
const flow = (s: RtpStream): string => `${ep(s.src)}>${ep(s.dst)}`;
const byDirection = (c: ExtractedCall, d: RtpStream['direction']): RtpStream[] => c.streams.filter((s) => s.direction === d);

t.test('sip-call-pcma-bidir-no-bye: answered PCMA call without BYE, plus an unanswered INVITE', async (t) => {
  const x = await extract('sip-call-pcma-bidir-no-bye.pcap');
  t.equal(x.stats.sip, 14, '14 SIP messages');
  t.equal(x.stats.sipOutsideCalls, 6, 'REGISTER x3 and their 200s are not calls');
  t.same(x.calls.map((c) => c.callId), ['12013223@200.57.7.195', '12015624@200.57.7.195']);
  const [c1, c2] = x.calls as [ExtractedCall, ExtractedCall];

  t.equal(ep(c1.caller), '200.57.7.195:5060', 'signalling via the proxy');
  t.equal(ep(c1.callee), '200.57.7.204:5061');
  t.equal(c1.invite?.requestUser, 'francisco');
  t.equal(c1.invite?.toUser, 'francisco');
  t.equal(c1.outcome?.status, 200);
  t.equal(c1.answered, true);
  t.equal(c1.bye, undefined, 'no BYE: the capture ends mid-call');
  t.same(c1.sdp.map((s) => [s.side, s.role, s.carriedBy]), [['caller', 'offer', 'INVITE'], ['callee', 'answer', '200 INVITE']]);
  const offer = c1.sdp[0]!.sdp.media[0]!;
  const answer = c1.sdp[1]!.sdp.media[0]!;
  t.same([offer.address, offer.port, offer.payloadTypes], ['200.57.7.196', 40376, [8, 18, 4, 0]], 'media elsewhere than signalling');
  t.same([answer.address, answer.port, answer.payloadTypes], ['200.57.7.204', 8000, [8, 0, 3, 98, 97, 101]]);
  t.equal(answer.telephoneEventPayloadType, 101);
  t.equal(offer.telephoneEventPayloadType, undefined);

  const up = byDirection(c1, 'caller->callee');
  const down = byDirection(c1, 'callee->caller');
  t.same(up.map((s) => [flow(s), s.packetCount, s.packetsByPayloadType, s.lostPackets]), [['200.57.7.196:40376>200.57.7.204:8000', 891, { 8: 891 }, 0]]);
  t.same(down.map((s) => [flow(s), s.packetCount, s.packetsByPayloadType, s.lostPackets]), [['200.57.7.204:8000>200.57.7.196:40376', 548, { 8: 548 }, 0]]);
  t.same(up[0]!.ssrcs, [0x58f33dea]);
  t.same(down[0]!.ssrcs, [0xd2bd4e3e]);
  t.equal(up[0]!.codecs[0]!.name.toUpperCase(), 'PCMA');
  t.ok(c1.streams.every((s) => !s.payloadTypes.includes(101)), 'telephone-event negotiated but never sent');
  const gaps = down[0]!.packets.slice(1).map((p, i) => p.timeMs - down[0]!.packets[i]!.timeMs);
  t.ok(Math.max(...gaps) > 5800 && Math.max(...gaps) < 5900, 'silence suppression: a 5.8 s gap callee->caller');
  t.equal(c1.rtcp.length, 2, 'RTCP both ways, kept apart from RTP');

  t.equal(c2.invite?.fromUser, '5514540002');
  t.equal(c2.outcome, undefined, '100/180 only, no final response');
  t.same(c2.inviteAttempts, [{ cseq: 1, status: undefined }]);
  t.equal(c2.streams.length, 0, 'no media to its offered 200.57.7.196:40360');

  const stray = x.unassociatedStreams.find((s) => s.src.host === '200.57.7.202');
  t.same(stray && [flow(stray), stray.packetCount, stray.payloadTypes], ['200.57.7.202:30000>200.57.7.196:40362', 6, [8]], '6 stray PCMA packets');
  t.same(x.unassociatedStreams.map((s) => s.packetCount).sort((a, b) => a - b), [6, 548, 891], 'plus the far leg of the media relay');
});

t.test('sip-cancel-auth-earlymedia-183-pcma: CANCEL, auth failures, early media', async (t) => {
  const x = await extract('sip-cancel-auth-earlymedia-183-pcma.pcap');
  t.equal(x.stats.sip, 81);
  t.same(x.calls.map((c) => [c.callId, c.outcome?.status, c.answered, c.bye !== undefined]), [
    ['105090259-446faf7a@192.168.1.2', 408, false, false],
    ['85216695-42dcdb1d@192.168.1.2', 403, false, false],
    ['24487391-449bf2a0@192.168.1.2', 403, false, false],
    ['11894297-4432a9f8@192.168.1.2', 480, false, false],
  ]);
  const [cancel, auth1, auth2, early] = x.calls as [ExtractedCall, ExtractedCall, ExtractedCall, ExtractedCall];

  t.equal(cancel.cancelled, true, 'scenario 1: CANCEL sent');
  t.equal(cancel.outcome?.reason, 'Request Timeout', 'answered by 408, no 487');
  t.equal(cancel.invite?.requestUser, '97239287044');
  t.equal(cancel.messages.filter((m) => m.message.kind === 'request' && m.message.method === 'INVITE').length, 3, 'INVITE sent 3 times');
  t.equal(cancel.messages.filter((m) => m.message.kind === 'request' && m.message.method === 'CANCEL').length, 11, 'CANCEL 11 times');
  t.equal(cancel.messages.filter((m) => m.retransmission).length, 12, 'retransmissions flagged');
  t.equal(cancel.streams.length, 0);

  for (const c of [auth1, auth2]) {
    t.same(c.inviteAttempts.map((a) => a.status), [407, 403], `${c.callId}: 407 challenge, then 403 with credentials`);
    t.equal(c.cancelled, false);
  }

  t.same(early.inviteAttempts.map((a) => a.status), [407, 480]);
  t.equal(early.invite?.fromUser, '35104723');
  t.equal(early.invite?.toUser, '35104724');
  t.equal(early.earlyMedia.length, 1, 'one 183 with SDP');
  const em = early.earlyMedia[0]!;
  t.equal(em.status, 183);
  t.same([em.sdp.media[0]!.address, em.sdp.media[0]!.port, em.sdp.media[0]!.payloadTypes], ['212.242.33.36', 40392, [8, 0]]);
  t.same(early.sdp.find((s) => s.carriedBy === 'INVITE')?.sdp.media[0]?.payloadTypes, [0, 8, 97, 2, 3], 'offer PCMU PCMA iLBC G726-32 GSM');
  t.equal(early.streams.length, 1, 'the early-media stream belongs to the call with the 183');
  const s = early.streams[0]!;
  t.same([flow(s), s.direction, s.matchedBy, s.packetCount, s.payloadTypes, s.lostPackets], [
    '192.168.1.2:30000>212.242.33.36:40392', 'caller->callee', 'destination', 9, [8], 0,
  ]);
  t.equal(s.codecs[0]!.name, 'PCMA');
  t.ok(s.firstMs > em.timeMs, 'media after the 183');
  t.equal(early.rtcp.length, 1, 'one RTCP compound (SR, SDES, BYE)');
  t.equal(x.unassociatedStreams.length, 0, 'DNS, NetBIOS and DHCP are not mistaken for RTP');
  t.equal(x.stats.rtp, 9);
});

t.test('sip-multileg-reinvite-t38-488-pcma-bye: one call, not four hops', async (t) => {
  const x = await extract('sip-multileg-reinvite-t38-488-pcma-bye.pcap');
  t.equal(x.stats.sip, 92);
  t.equal(x.calls.length, 1, 'one call');
  const c = x.calls[0]!;
  t.equal(c.callId, '00e9d4a500e9d48-0015-0001-0000-0000@10.35.40.25');
  t.same(c.otherLegCallIds, ['SD4909701-9ff11bf72eb4a347c92974d8fbbc2668-ao8o3i1'], 'the B2BUA leg is recognised');
  t.same([ep(c.caller), ep(c.callee)], ['10.35.60.72:5060', '10.35.60.100:5060'], 'first hop that carried the INVITE');
  t.same(c.hops.map((h) => [h.a.host, h.b.host, h.chosen]), [['10.35.60.72', '10.35.60.100', true], ['10.35.40.25', '10.35.40.200', false]]);
  t.equal(c.messages.length, 23, 'messages of one hop');
  t.equal(c.ignoredCopies, 92 - 23, 'every other copy ignored');
  t.ok(c.messages.every((m) => !m.retransmission && !m.offHop));
  t.equal(c.invite?.toUser, '061963177');
  t.equal(c.invite?.fromUser, 'unavailable');
  t.equal(c.outcome?.status, 200);
  t.same(c.bye && [c.bye.by, c.bye.status], ['caller', 200]);

  const first = c.sdp.slice(0, 2).map((s) => [s.side, s.role, s.sdp.media[0]!.address, s.sdp.media[0]!.port, s.sdp.media[0]!.payloadTypes, s.sdp.media[0]!.telephoneEventPayloadType]);
  t.same(first, [
    ['caller', 'offer', '10.23.1.52', 16756, [8, 103, 102], 102],
    ['callee', 'answer', '10.35.60.100', 15580, [8, 102], 102],
  ]);
  t.same(c.sdp[0]!.sdp.media[0]!.codecs.map((k) => k.name), ['PCMA', 'G726-32', 'telephone-event']);
  t.same(c.reInvites.map((r) => [r.by, r.cseq, r.status, r.offer?.media[0]?.type, r.offer?.media[0]?.payloadTypes]), [
    ['callee', 7, 200, 'audio', [8]],
    ['caller', 3, 488, 'image', []],
    ['caller', 4, 200, 'audio', [8, 102]],
  ], 're-INVITE from the callee, T.38 refused with 488, back to audio');
  t.equal(c.reInvites[1]!.offer?.media[0]?.protocol.toLowerCase(), 'udptl');

  const up = byDirection(c, 'caller->callee');
  const down = byDirection(c, 'callee->caller');
  t.same(up.map((s) => [flow(s), s.packetCount, s.packetsByPayloadType, s.ssrcs]), [
    ['10.23.1.52:16756>10.35.60.100:15580', 1171, { 8: 1005, 13: 163, 100: 3 }, [0x17d90134]],
  ], 'PCMA with comfort noise and 3 un-negotiated PT 100');
  t.same(down.map((s) => [flow(s), s.packetCount, s.packetsByPayloadType, s.ssrcs]), [
    ['10.35.60.100:15580>10.23.1.52:16756', 159, { 8: 158, 102: 1 }, [0x0eaf0eaf]],
  ], '132 per the manifest + 27 that Wireshark mislabels T.38');
  t.equal(down[0]!.lostPackets, 1712, 'long gaps: the sequence jumps');
  t.same(up[0]!.codecs.map((k) => `${k.payloadType}:${k.name}:${k.source}`), ['8:PCMA:sdp', '100:PT100:unknown', '13:CN:static']);
  t.same(down[0]!.codecs.map((k) => `${k.payloadType}:${k.name}`), ['8:PCMA', '102:telephone-event']);
  t.equal(x.unassociatedStreams.length, 0);
  t.equal(x.stats.other, 130, 'MEGACO (with SDP inside) is not SIP');
});

t.test('rtp-only-pcmu-rfc2833-dtmf-0-9: synthetic call, PCMU + telephone-event, digits 0-9 once each', async (t) => {
  const x = await extract('rtp-only-pcmu-rfc2833-dtmf-0-9.pcap');
  t.equal(x.calls.length, 1);
  const c = x.calls[0]!;
  t.equal(c.synthetic, true);
  t.equal(c.invite, undefined);
  t.same([ep(c.caller), ep(c.callee)], ['10.0.0.51:4000', '10.0.0.45:10866']);
  t.equal(c.streams.length, 1, 'one direction only');
  const s = c.streams[0]!;
  t.same([s.direction, s.ssrcs, s.packetCount, s.packetsByPayloadType, s.lostPackets], ['caller->callee', [0x34d01d16], 974, { 0: 854, 101: 120 }, 0]);
  t.same(s.codecs.map((k) => `${k.payloadType}:${k.name}:${k.source}`), ['0:PCMU:static', '101:telephone-event:detected']);
  t.ok(Math.abs(s.lastMs - s.firstMs - 19459.764) < 0.01, '19.46 s');
  // RFC 4733 §2.3: event | E R volume | duration, after the 12-byte header.
  const events = s.packets.filter((p) => (p.data[1]! & 0x7f) === 101).map((p) => ({ digit: p.data[12]!, end: (p.data[13]! & 0x80) !== 0, marker: (p.data[1]! & 0x80) !== 0 }));
  const digits: number[] = [];
  for (let i = 0; i < events.length; i += 12) {
    const group = events.slice(i, i + 12);
    digits.push(group[0]!.digit);
    t.ok(group.every((e) => e.digit === group[0]!.digit), `digit ${group[0]!.digit}: one event`);
    t.same(group.map((e) => e.end), [...Array(9).fill(false), true, true, true], `digit ${group[0]!.digit}: 9 updates, end sent 3 times`);
    t.equal(group[0]!.marker, true, `digit ${group[0]!.digit}: marker on the first packet`);
  }
  t.same(digits, [2, 0, 1, 3, 7, 8, 5, 4, 9, 6], 'the order tshark shows too');
  t.same([...digits].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'each digit once');
  const given = await extract('rtp-only-pcmu-rfc2833-dtmf-0-9.pcap', 101);
  t.equal(given.calls[0]!.streams[0]!.codecs[1]!.source, 'configured', 'PT 101 as supplied by the test');
});

t.test('rtp-only-pcmu-seq-gaps: 800 packets, 14 lost in two gaps', async (t) => {
  const x = await extract('rtp-only-pcmu-seq-gaps.pcap');
  const c = x.calls[0]!;
  t.equal(c.synthetic, true);
  t.same(c.streams.map((s) => [flow(s), s.direction, s.ssrcs, s.packetCount, s.payloadTypes, s.lostPackets]), [
    ['208.89.128.69:47322>81.201.84.200:13030', 'caller->callee', [0x17cb308c], 800, [0], 14],
  ]);
  const seqs = c.streams[0]!.packets.map((p) => p.data.readUInt16BE(2));
  const jumps = seqs.slice(1).map((q, i) => [seqs[i], q]).filter(([a, b]) => b! - a! !== 1);
  t.same(jumps, [[4006, 4019], [4019, 4022]]);
  t.equal(c.streams[0]!.codecs[0]!.name, 'PCMU');
});

t.test('rtp-only-pcma-30ms: 236 PCMA packets of 240 bytes, 30 ms apart', async (t) => {
  const x = await extract('rtp-only-pcma-30ms.pcap');
  const s = x.calls[0]!.streams[0]!;
  t.same([flow(s), s.ssrcs, s.packetCount, s.payloadTypes, s.lostPackets], ['10.1.3.143:5000>10.1.6.18:2006', [0xdee0ee8f], 236, [8], 0]);
  t.ok(s.packets.every((p) => p.data.length === 12 + 240), '240-byte payloads');
  const mean = (s.lastMs - s.firstMs) / (s.packetCount - 1);
  t.ok(Math.abs(mean - 30) < 0.1, `mean spacing ${mean.toFixed(3)} ms`);
  t.same(s.codecs.map((k) => `${k.name}/${k.clockRate}`), ['PCMA/8000']);
});
