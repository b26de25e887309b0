/**
 * SPEC M8 packet path on real sockets, negotiated through AnchoredMedia:
 * party A (PBX side) and party B (provider side) exchange RTP and RTCP
 * through callrec with SRTP on A's leg only, on B's leg only, and on both.
 * An SRTP party sends with the key of its own SDP and decrypts what it gets
 * with callrec's key from the SDP callrec sent it. Checks: the plain party
 * receives exactly the SRTP party's plaintext, the SRTP party receives SRTP
 * that decrypts to the other's plaintext, the tap sees plaintext only;
 * tampered and replayed packets are dropped, counted, not relayed, not
 * tapped, and warned about once.
 */
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { AnchoredMedia, type CallMedia } from '../../lib/call/anchored-media.js';
import type { Side } from '../../lib/call/trunk-peers.js';
import { PortPool } from '../../lib/media/port-pool.js';
import { srtpContextFor } from '../../lib/media/srtp-leg.js';
import { SrtpContext } from '../../lib/media/srtp/srtp-context.js';
import { createCryptoAttribute, formatCryptoAttribute, readCryptoAttributes, type CryptoAttribute } from '../../lib/sdp/crypto-attribute.js';
import { matchCryptoAnswer, type SrtpMode } from '../../lib/sdp/srtp-offer.js';

const pool = new PortPool('127.0.0.1', 42400, 42499);

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};
const settle = (ms = 100): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function socket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

function rtp(seq: number, ssrc: number, fill: number): Buffer {
  const b = Buffer.alloc(172);
  b[0] = 0x80;
  b[1] = 8;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  for (let i = 12; i < b.length; i++) b[i] = (fill + i) & 0xff;
  return b;
}

/** A receiver report (RFC 3550 §6.4.2) with one block. */
function rtcp(ssrc: number): Buffer {
  const b = Buffer.alloc(32);
  b[0] = 0x81;
  b[1] = 201;
  b.writeUInt16BE(7, 2);
  b.writeUInt32BE(ssrc, 4);
  b.writeUInt32BE(0x01020304, 8);
  b.fill(0x5a, 12);
  return b;
}

function sdp(port: number, protocol: string, crypto: string[]): string {
  return ['v=0', `o=party 1 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${port} ${protocol} 8`, 'a=rtpmap:8 PCMA/8000', `a=rtcp:${port + 1}`, ...crypto, 'a=sendrecv', ''].join('\r\n');
}

/** A test party: RTP and RTCP sockets, and its SRTP contexts once negotiated. */
class Party {
  send: SrtpContext | undefined;
  recv: SrtpContext | undefined;
  readonly rtpIn: Buffer[] = [];
  readonly rtcpIn: Buffer[] = [];
  constructor(readonly rtpSock: dgram.Socket, readonly rtcpSock: dgram.Socket) {
    rtpSock.on('message', (m) => this.rtpIn.push(m));
    rtcpSock.on('message', (m) => this.rtcpIn.push(m));
  }
  static async create(): Promise<Party> {
    // RTCP on port + 1 is what a=rtcp says; any two sockets do.
    return new Party(await socket(), await socket());
  }
  get port(): number {
    return this.rtpSock.address().port;
  }
  sdp(srtp: boolean, crypto: string[] = []): string {
    const s = sdp(this.port, srtp ? 'RTP/SAVP' : 'RTP/AVP', crypto).replace(/a=rtcp:\d+/, `a=rtcp:${this.rtcpSock.address().port}`);
    return s;
  }
  sendRtp(packet: Buffer, to: number): Buffer {
    const wire = this.send !== undefined ? this.send.protectRtp(packet) : packet;
    this.rtpSock.send(wire, to, '127.0.0.1');
    return wire;
  }
  sendRtcp(packet: Buffer, to: number): void {
    this.rtcpSock.send(this.send !== undefined ? this.send.protectRtcp(packet) : packet, to + 1, '127.0.0.1');
  }
  /** What arrived, decrypted when this party runs SRTP. */
  plainRtp(): Buffer[] {
    return this.rtpIn.map((p) => {
      if (this.recv === undefined) return p;
      const r = this.recv.unprotectRtp(Buffer.from(p));
      if (typeof r === 'string') throw new Error(`party could not unprotect: ${r}`);
      return Buffer.from(r);
    });
  }
  plainRtcp(): Buffer[] {
    return this.rtcpIn.map((p) => {
      if (this.recv === undefined) return p;
      const r = this.recv.unprotectRtcp(Buffer.from(p));
      if (typeof r === 'string') throw new Error(`party could not unprotect RTCP: ${r}`);
      return Buffer.from(r);
    });
  }
  close(): void {
    this.rtpSock.close();
    this.rtcpSock.close();
  }
}

interface Call {
  anchored: AnchoredMedia;
  key: string;
  a: Party;
  b: Party;
  media: CallMedia;
  logs: string[];
  tapped: Array<{ from: 0 | 1; packet: Buffer }>;
  /** callrec's ports facing A and B. */
  toA: number;
  toB: number;
}

let n = 0;
/** A (PBX, caller) offers, B (provider) answers, SRTP as asked for on each leg. */
async function call(t: Test, aSrtp: boolean, bSrtp: boolean): Promise<Call> {
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { logs.push(c.toString()); cb(); } }));
  const modes: Record<Side, SrtpMode> = { pbx: 'off', provider: bSrtp ? 'sdes' : 'off' };
  const anchored = new AnchoredMedia(pool, '127.0.0.1', logger, {}, { srtp: modes });
  const key = `relay-${++n}`;
  await anchored.prepare(key, 'pbx');
  const a = await Party.create();
  const b = await Party.create();
  t.teardown(() => {
    anchored.release(key);
    a.close();
    b.close();
  });
  // A's offer: with SRTP, A's own key (A sends with it).
  const aKey: CryptoAttribute = createCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80' });
  const aOffer = a.sdp(aSrtp, aSrtp ? [formatCryptoAttribute(aKey)] : []);
  const toB = anchored.rewrite(key, 'pbx', 'offer', Buffer.from(aOffer), 'application/sdp').toString();
  // B answers: with SRTP, the first of callrec's lines, and B's own key.
  let bAnswer: string;
  if (bSrtp) {
    const offered = readCryptoAttributes(toB);
    const bKey = createCryptoAttribute({ tag: offered[0]!.tag, suite: 'AES_CM_128_HMAC_SHA1_80' });
    bAnswer = b.sdp(true, [formatCryptoAttribute(bKey)]);
    const keys = matchCryptoAnswer(offered, [bKey])!;
    b.send = srtpContextFor(bKey);
    b.recv = srtpContextFor(keys.local);
  } else {
    bAnswer = b.sdp(false);
  }
  const toA = anchored.rewrite(key, 'provider', 'answer', Buffer.from(bAnswer), 'application/sdp').toString();
  if (aSrtp) {
    const ours = readCryptoAttributes(toA);
    t.equal(ours.length, 1, 'callrec answers A with one crypto line');
    a.send = srtpContextFor(aKey);
    a.recv = srtpContextFor(ours[0]!);
  } else {
    t.notMatch(toA, /a=crypto/, 'plain answer to a plain offer');
  }
  const media = anchored.get(key)!;
  const tapped: Call['tapped'] = [];
  media.relay.tap = { onRtp: (from, packet) => tapped.push({ from, packet: Buffer.from(packet) }) };
  const portOf = (text: string): number => Number(/m=audio (\d+)/.exec(text)![1]);
  return { anchored, key, a, b, media, logs, tapped, toA: portOf(toA), toB: portOf(toB) };
}

async function exchange(t: Test, c: Call): Promise<void> {
  const aSent = [0, 1, 2, 3, 4].map((i) => rtp(1000 + i, 0xaaaa0001, i));
  const bSent = [0, 1, 2, 3, 4].map((i) => rtp(60000 + i, 0xbbbb0002, 100 + i));
  for (const p of aSent) c.a.sendRtp(p, c.toA);
  await until(() => c.b.rtpIn.length === aSent.length);
  for (const p of bSent) c.b.sendRtp(p, c.toB);
  await until(() => c.a.rtpIn.length === bSent.length);
  t.same(c.b.plainRtp(), aSent, 'B gets exactly A\'s plaintext');
  t.same(c.a.plainRtp(), bSent, 'A gets exactly B\'s plaintext');
  if (c.a.send !== undefined) t.not(c.a.rtpIn[0]!.length, aSent[0]!.length, 'A gets SRTP (with tag)');
  if (c.b.send !== undefined) t.not(c.b.rtpIn[0]!.length, bSent[0]!.length, 'B gets SRTP (with tag)');
  t.same(c.tapped.filter((x) => x.from === 0).map((x) => x.packet), aSent, 'tap: A\'s plaintext');
  t.same(c.tapped.filter((x) => x.from === 1).map((x) => x.packet), bSent, 'tap: B\'s plaintext');

  c.a.sendRtcp(rtcp(0xaaaa0001), c.toA);
  await until(() => c.b.rtcpIn.length === 1);
  c.b.sendRtcp(rtcp(0xbbbb0002), c.toB);
  await until(() => c.a.rtcpIn.length === 1);
  t.same(c.b.plainRtcp(), [rtcp(0xaaaa0001)], 'RTCP A -> B');
  t.same(c.a.plainRtcp(), [rtcp(0xbbbb0002)], 'RTCP B -> A');
}

/** An SRTP party's tampered and replayed packets go nowhere and are counted. */
async function attacks(t: Test, c: Call, from: 'a' | 'b'): Promise<void> {
  const party = from === 'a' ? c.a : c.b;
  const other = from === 'a' ? c.b : c.a;
  const port = from === 'a' ? c.toA : c.toB;
  const ep = c.media.endpoints[from === 'a' ? 'pbx' : 'provider'];
  const received = other.rtpIn.length;
  const tapped = c.tapped.length;
  const wire = party.sendRtp(rtp(from === 'a' ? 2000 : 2, from === 'a' ? 0xaaaa0001 : 0xbbbb0002, 7), port);
  await until(() => other.rtpIn.length === received + 1);
  // A packet never seen before, one payload bit flipped (a replayed index would fail the replay check first).
  const fresh = party.send!.protectRtp(rtp(from === 'a' ? 2001 : 3, from === 'a' ? 0xaaaa0001 : 0xbbbb0002, 8));
  const tampered = Buffer.from(fresh);
  tampered[20] ^= 0x01;
  party.rtpSock.send(tampered, port, '127.0.0.1');
  party.rtpSock.send(wire, port, '127.0.0.1'); // replay of an accepted packet
  const bogusRtcp = Buffer.alloc(40, 0x11);
  bogusRtcp[0] = 0x81;
  bogusRtcp[1] = 201;
  party.rtcpSock.send(bogusRtcp, port + 1, '127.0.0.1');
  party.rtpSock.send(Buffer.from([0x80, 0x08, 0x00]), port, '127.0.0.1'); // too short
  await until(() => ep.srtpDrops.authFailures === 2 && ep.srtpDrops.replayed === 1 && ep.srtpDrops.malformed === 1).catch((e: unknown) => {
    throw new Error(`${String(e)} ${JSON.stringify(ep.srtpDrops)}`);
  });
  await settle();
  t.equal(other.rtpIn.length, received + 1, 'dropped packets not relayed');
  t.equal(c.tapped.length, tapped + 1, 'dropped packets not tapped');
  t.equal(other.rtcpIn.length, 1, 'forged RTCP not relayed');
  t.match(ep.srtpStatus, { suite: 'AES_CM_128_HMAC_SHA1_80', authFailures: 2, replayed: 1, malformed: 1 }, 'counters in status');
  const drops = c.logs.filter((l) => /"event":"srtp.drop"/.test(l));
  t.same(drops.map((l) => (JSON.parse(l) as { reason: string }).reason).sort(), ['auth', 'malformed', 'replay'], 'logged once per reason, not per packet');
  t.equal(drops.filter((l) => /"level":40/.test(l)).length, 2, 'auth and replay at warn level');
  // More of the same are only counted.
  party.rtpSock.send(tampered, port, '127.0.0.1');
  await until(() => ep.srtpDrops.authFailures === 3);
  await settle(50);
  t.equal(c.logs.filter((l) => /"event":"srtp.drop"/.test(l)).length, 3, 'no further log lines');
}

t.test('SRTP A -> plain B', async (t) => {
  const c = await call(t, true, false);
  t.equal(c.media.srtpSummary('pbx'), 'SRTP AES_CM_128_HMAC_SHA1_80 caller leg');
  t.equal(c.media.srtpSummary('provider'), undefined);
  await exchange(t, c);
  await attacks(t, c, 'a');
  t.equal(c.media.endpoints.provider.srtpStatus, undefined, 'plain leg has no SRTP status');
});

t.test('plain A -> SRTP B', async (t) => {
  const c = await call(t, false, true);
  t.equal(c.media.srtpSummary('provider'), 'SRTP AES_CM_128_HMAC_SHA1_80 callee leg');
  await exchange(t, c);
  await attacks(t, c, 'b');
});

t.test('SRTP on both legs', async (t) => {
  const c = await call(t, true, true);
  await exchange(t, c);
  await attacks(t, c, 'a');
  t.match(c.media.endpoints.pbx.srtpStatus, { unprotected: 7, protected: 6 }, 'packets through the contexts (RTP + RTCP)');
});

t.test('plain on both legs: unchanged relay', async (t) => {
  const c = await call(t, false, false);
  await exchange(t, c);
  t.equal(c.media.endpoints.pbx.srtpStatus, undefined);
});

t.test('pending SRTP leg: nothing unkeyed relayed before the answer', async (t) => {
  const logger = pino({ level: 'silent' });
  const anchored = new AnchoredMedia(pool, '127.0.0.1', logger, {}, { srtp: { pbx: 'off', provider: 'sdes' } });
  await anchored.prepare('pending', 'pbx');
  const a = await Party.create();
  const b = await Party.create();
  t.teardown(() => {
    anchored.release('pending');
    a.close();
    b.close();
  });
  const toB = anchored.rewrite('pending', 'pbx', 'offer', Buffer.from(a.sdp(false)), 'application/sdp').toString();
  const media = anchored.get('pending')!;
  media.endpoints.provider.setRemote('127.0.0.1', b.port, b.rtcpSock.address().port, false);
  const toBPort = Number(/m=audio (\d+)/.exec(toB)![1]);
  const toAPort = media.endpoints.pbx.localPort;
  b.rtpSock.send(rtp(1, 0xb, 1), toBPort, '127.0.0.1'); // B's SRTP before callrec saw its answer
  a.rtpSock.send(rtp(1, 0xa, 1), toAPort, '127.0.0.1'); // must not reach B in clear
  await until(() => media.endpoints.provider.srtpDrops.unkeyed === 1 && media.endpoints.pbx.packetsIn === 1);
  await settle();
  t.equal(a.rtpIn.length, 0, 'nothing unkeyed from B reaches A');
  t.equal(b.rtpIn.length, 0, 'nothing in clear reaches B');
});

t.test('re-INVITE with a new key from A: new contexts, A\'s packets in flight with the old key still pass', async (t) => {
  const c = await call(t, true, false);
  await exchange(t, c);
  const anchored = c.anchored;
  const oldSend = c.a.send!;
  const newKey = createCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_32' });
  anchored.rewrite(c.key, 'pbx', 'offer', Buffer.from(c.a.sdp(true, [formatCryptoAttribute(newKey)])), 'application/sdp');
  const toA = anchored.rewrite(c.key, 'provider', 'answer', Buffer.from(c.b.sdp(false)), 'application/sdp').toString();
  const ours = readCryptoAttributes(toA)[0]!;
  t.equal(ours.suite, 'AES_CM_128_HMAC_SHA1_32');
  t.equal(c.media.srtpSummary('pbx'), 'SRTP AES_CM_128_HMAC_SHA1_32 caller leg');
  const before = c.b.rtpIn.length;
  // In flight: A still sends with its old key...
  c.a.rtpSock.send(oldSend.protectRtp(rtp(1005, 0xaaaa0001, 5)), c.toA, '127.0.0.1');
  await until(() => c.b.rtpIn.length === before + 1);
  // ...then with its new one.
  c.a.send = srtpContextFor(newKey);
  c.a.recv = srtpContextFor(ours);
  c.a.sendRtp(rtp(1006, 0xaaaa0001, 6), c.toA);
  await until(() => c.b.rtpIn.length === before + 2);
  t.same(c.b.rtpIn.slice(before), [rtp(1005, 0xaaaa0001, 5), rtp(1006, 0xaaaa0001, 6)], 'both reach B in clear');
  t.same(c.media.endpoints.pbx.srtpDrops, { authFailures: 0, replayed: 0, malformed: 0, unkeyed: 0 }, 'no drops');
  const got = c.a.rtpIn.length;
  c.b.sendRtp(rtp(60005, 0xbbbb0002, 105), c.toB);
  await until(() => c.a.rtpIn.length === got + 1);
  const r = c.a.recv.unprotectRtp(Buffer.from(c.a.rtpIn[got]!));
  t.same(r, rtp(60005, 0xbbbb0002, 105), 'A decrypts with callrec\'s new key');
});

t.test('a prompt to an SRTP party is protected', async (t) => {
  const c = await call(t, true, false);
  const prompt = Buffer.alloc(480, 0xd5);
  await c.anchored.play(c.key, 'pbx', prompt, 8);
  await until(() => c.a.rtpIn.length === 3);
  const plain = c.a.plainRtp();
  t.equal(plain.length, 3, 'three frames');
  t.same(plain.map((p) => p.subarray(12)), [prompt.subarray(0, 160), prompt.subarray(160, 320), prompt.subarray(320)], 'decrypt to the prompt');
});
