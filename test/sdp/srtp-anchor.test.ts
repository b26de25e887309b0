/**
 * SPEC M8 SDES negotiation through AnchoredMedia.rewrite (no packets):
 * an RTP/SAVP(F) offer is answered with RTP/SAVP, the first supported
 * crypto line's tag and suite and callrec's own key; toward the other side
 * callrec offers what that side's `srtp` setting says (sdes: RTP/SAVP with
 * fresh crypto lines, off: RTP/AVP without); keys differ per leg and
 * direction and never cross legs; re-INVITEs keep or replace contexts;
 * keys never appear in logs or JSON.
 */
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import t from 'tap';
import { pino } from 'pino';
import { AnchoredMedia } from '../../lib/call/anchored-media.js';
import type { Side } from '../../lib/call/trunk-peers.js';
import { PortPool } from '../../lib/media/port-pool.js';
import { anchorSdp, localAnswer, readAudioStream } from '../../lib/sdp/audio-stream.js';
import { createCryptoAttribute, formatCryptoAttribute, readCryptoAttributes } from '../../lib/sdp/crypto-attribute.js';
import type { SrtpMode } from '../../lib/sdp/srtp-offer.js';
import type { SrtpSuiteName } from '../../lib/media/srtp/srtp-suite.js';

const SDP_TYPE = 'application/sdp';
const pool = new PortPool('127.0.0.1', 42300, 42399);

/** A party's own fresh crypto line (what a PBX or provider would send). */
function partyCrypto(tag: number, suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80'): string {
  return formatCryptoAttribute(createCryptoAttribute({ tag, suite }));
}

function sdp(host: string, port: number, protocol: string, extra: string[] = [], version = 1): string {
  return [
    'v=0', `o=party 100 ${version} IN IP4 ${host}`, 's=call', `c=IN IP4 ${host}`, 't=0 0',
    `m=audio ${port} ${protocol} 8 101`, 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16',
    'a=ptime:20', ...extra, 'a=sendrecv', '',
  ].join('\r\n');
}

/** Base64 inline keys of an SDP text. */
function inlineKeys(text: string): string[] {
  return [...text.matchAll(/inline:([A-Za-z0-9+/=]+)/g)].map((m) => m[1]!);
}

interface Setup {
  media: AnchoredMedia;
  logs: string[];
  key: string;
  close(): void;
}

let calls = 0;
async function setup(srtp: Record<Side, SrtpMode>): Promise<Setup> {
  const logs: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { logs.push(chunk.toString()); cb(); } });
  const logger = pino({ level: 'trace' }, sink);
  const media = new AnchoredMedia(pool, '127.0.0.1', logger, {}, { srtp });
  const key = `call-${++calls}`;
  await media.prepare(key, 'pbx');
  return { media, logs, key, close: () => media.release(key) };
}

function rewrite(s: Setup, from: Side, role: 'offer' | 'answer', text: string): string {
  return s.media.rewrite(s.key, from, role, Buffer.from(text), SDP_TYPE).toString('utf8');
}

t.test('readAudioStream: protocol and every crypto line of the audio section, session parameters kept', async (t) => {
  const text = sdp('10.0.0.1', 4000, 'RTP/SAVP', [
    'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4 UNENCRYPTED_SRTP WSH=64',
    partyCrypto(2, 'AES_CM_128_HMAC_SHA1_32'),
  ]) + 'm=video 0 RTP/SAVP 96\r\n' + partyCrypto(7) + '\r\n';
  const s = readAudioStream(text);
  t.equal(s?.protocol, 'RTP/SAVP');
  t.same(s?.crypto.map((c) => [c.tag, c.suite]), [[1, 'AES_CM_128_HMAC_SHA1_80'], [2, 'AES_CM_128_HMAC_SHA1_32']], 'video line not read');
  t.same(s?.crypto[0]?.sessionParams, ['UNENCRYPTED_SRTP', 'WSH=64'], 'all session parameters (sdp-transform keeps one)');
  t.equal(readAudioStream(sdp('10.0.0.1', 4000, 'RTP/AVP'))?.crypto.length, 0);
});

t.test('anchorSdp keeps its RTP/AVP behaviour without options and replaces crypto with them', async (t) => {
  const plain = sdp('10.0.0.1', 4000, 'RTP/AVP');
  t.match(anchorSdp(plain, '127.0.0.1', 20000), /m=audio 20000 RTP\/AVP 8 101/);
  const theirs = sdp('10.0.0.1', 4000, 'RTP/SAVPF', [partyCrypto(1), 'a=rtcp-fb:8 nack']);
  const ours = createCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80' });
  const out = anchorSdp(theirs, '127.0.0.1', 20000, { protocol: 'RTP/SAVP', crypto: [ours] });
  t.match(out, /m=audio 20000 RTP\/SAVP 8 101/);
  t.notMatch(out, /rtcp-fb/, 'no feedback without SAVPF');
  t.same(inlineKeys(out), inlineKeys(formatCryptoAttribute(ours)), 'only our key');
  const stripped = anchorSdp(theirs, '127.0.0.1', 20000, { protocol: 'RTP/AVP', crypto: [] });
  t.notMatch(stripped, /a=crypto/);
  t.match(stripped, /RTP\/AVP/);
  const answer = localAnswer(theirs, '127.0.0.1', 20000, [8], '1', ours);
  t.match(answer, /m=audio 20000 RTP\/SAVP 8\r\n/);
  t.match(answer, /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/);
});

t.test('SRTP offer toward an `off` side: RTP/AVP without crypto; answer SAVP with our key and the chosen tag', async (t) => {
  const s = await setup({ pbx: 'off', provider: 'off' });
  t.teardown(s.close);
  // tag 1 is a suite we do not support; tag 2 (the _32) is the first we can use.
  const pbxOffer = sdp('10.0.0.1', 4000, 'RTP/SAVP', [
    'a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBRPS1uQCVeeCFCanVmcjkp', partyCrypto(2, 'AES_CM_128_HMAC_SHA1_32'),
    partyCrypto(3),
  ]);
  const toProvider = rewrite(s, 'pbx', 'offer', pbxOffer);
  t.match(toProvider, /m=audio \d+ RTP\/AVP 8 101/);
  t.notMatch(toProvider, /a=crypto|inline:/, 'no crypto toward an off side');
  t.ok(s.logs.some((l) => /"event":"srtp.plain-leg"/.test(l) && /"level":40/.test(l)), 'warned: SRTP relayed as plain');
  const toPbx = rewrite(s, 'provider', 'answer', sdp('10.0.0.2', 5000, 'RTP/AVP'));
  t.match(toPbx, /m=audio \d+ RTP\/SAVP 8 101/);
  const answered = readCryptoAttributes(toPbx);
  t.equal(answered.length, 1, 'one crypto line');
  t.equal(answered[0]?.tag, 2, 'the tag of the first supported line');
  t.equal(answered[0]?.suite, 'AES_CM_128_HMAC_SHA1_32');
  t.notOk(inlineKeys(pbxOffer).includes(inlineKeys(toPbx)[0]!), 'our own key, not the PBX\'s');
  const media = s.media.get(s.key)!;
  t.equal(media.srtpSummary('pbx'), 'SRTP AES_CM_128_HMAC_SHA1_32 caller leg');
  t.equal(media.srtpSummary('provider'), undefined);
  t.ok(media.endpoints.pbx.srtpIn && media.endpoints.pbx.srtpOut, 'PBX leg has both contexts');
  t.equal(media.endpoints.provider.srtpIn, undefined, 'provider leg plain');
});

t.test('plain offer toward an `sdes` side: RTP/SAVP with our crypto lines; answer toward the caller plain', async (t) => {
  const s = await setup({ pbx: 'off', provider: 'sdes' });
  t.teardown(s.close);
  const toProvider = rewrite(s, 'pbx', 'offer', sdp('10.0.0.1', 4000, 'RTP/AVP'));
  t.match(toProvider, /m=audio \d+ RTP\/SAVP 8 101/);
  const offered = readCryptoAttributes(toProvider);
  t.same(offered.map((c) => `${c.tag} ${c.suite}`), ['1 AES_CM_128_HMAC_SHA1_80', '2 AES_CM_128_HMAC_SHA1_32', '3 AEAD_AES_128_GCM']);
  t.equal(new Set(inlineKeys(toProvider)).size, 3, 'a fresh key per line');
  const media = s.media.get(s.key)!;
  t.equal(media.endpoints.provider.srtpPending, true, 'provider leg pending until its answer');
  const providerKey = partyCrypto(2, 'AES_CM_128_HMAC_SHA1_32');
  const toPbx = rewrite(s, 'provider', 'answer', sdp('10.0.0.2', 5000, 'RTP/SAVP', [providerKey]));
  t.match(toPbx, /m=audio \d+ RTP\/AVP 8 101/);
  t.notMatch(toPbx, /a=crypto|inline:/, 'the provider key does not reach the PBX');
  t.equal(media.srtpSummary('provider'), 'SRTP AES_CM_128_HMAC_SHA1_32 callee leg');
  t.equal(media.endpoints.provider.srtpPending, false);
  t.equal(media.srtpSummary('pbx'), undefined);
});

t.test('SRTP on both legs: four different keys, none crossing legs; SAVPF answered as SAVP', async (t) => {
  const s = await setup({ pbx: 'sdes', provider: 'sdes' });
  t.teardown(s.close);
  const pbxOffer = sdp('10.0.0.1', 4000, 'RTP/SAVPF', [partyCrypto(5), 'a=rtcp-fb:* nack']);
  const toProvider = rewrite(s, 'pbx', 'offer', pbxOffer);
  t.match(toProvider, /RTP\/SAVP 8 101/);
  const providerAnswer = sdp('10.0.0.2', 5000, 'RTP/SAVP', [partyCrypto(1)]);
  const toPbx = rewrite(s, 'provider', 'answer', providerAnswer);
  t.match(toPbx, /RTP\/SAVP 8 101/);
  t.notMatch(toPbx, /SAVPF|rtcp-fb/);
  t.equal(readCryptoAttributes(toPbx)[0]?.tag, 5, 'tag kept');
  const pbxKey = inlineKeys(pbxOffer)[0]!;
  const providerKey = inlineKeys(providerAnswer)[0]!;
  const ourToPbx = inlineKeys(toPbx)[0]!;
  const ourToProvider = inlineKeys(toProvider)[0]!;
  t.equal(new Set([pbxKey, providerKey, ourToPbx, ourToProvider]).size, 4, 'keys differ per leg and direction');
  t.notOk(toProvider.includes(pbxKey), 'PBX key not sent to the provider');
  t.notOk(toPbx.includes(providerKey), 'provider key not sent to the PBX');
  const media = s.media.get(s.key)!;
  t.equal(media.srtpSummary('pbx'), 'SRTP AES_CM_128_HMAC_SHA1_80 caller leg');
  t.equal(media.srtpSummary('provider'), 'SRTP AES_CM_128_HMAC_SHA1_80 callee leg');

  // A repeated answer (183 then 200 with the same SDP) keeps the contexts.
  const pbxLeg = media.endpoints.pbx.srtp;
  const providerLeg = media.endpoints.provider.srtp;
  t.equal(rewrite(s, 'provider', 'answer', providerAnswer), toPbx, 'same answer again');
  t.equal(media.endpoints.pbx.srtp, pbxLeg);
  t.equal(media.endpoints.provider.srtp, providerLeg);

  // re-INVITE from the PBX with the same key (e.g. hold): nothing re-keyed.
  const reToProvider = rewrite(s, 'pbx', 'offer', sdp('10.0.0.1', 4000, 'RTP/SAVP', [pbxOffer.match(/a=crypto:5 .*/)![0]], 2));
  t.ok(reToProvider.includes(ourToProvider), 're-offer toward the provider keeps our key');
  const reToPbx = rewrite(s, 'provider', 'answer', providerAnswer);
  t.ok(reToPbx.includes(ourToPbx), 're-answer to the PBX keeps our key');
  t.equal(media.endpoints.pbx.srtp, pbxLeg, 'PBX contexts kept');
  t.equal(media.endpoints.provider.srtp, providerLeg, 'provider contexts kept');

  // re-INVITE from the PBX with a new key: the PBX leg gets new contexts and a new key of ours.
  const newPbxLine = partyCrypto(1);
  rewrite(s, 'pbx', 'offer', sdp('10.0.0.1', 4000, 'RTP/SAVP', [newPbxLine], 3));
  t.equal(media.endpoints.pbx.srtp, pbxLeg, 'old contexts until the answer');
  const rekeyed = rewrite(s, 'provider', 'answer', providerAnswer);
  t.not(media.endpoints.pbx.srtp, pbxLeg, 'new PBX contexts after the answer');
  t.equal(media.endpoints.provider.srtp, providerLeg, 'provider leg untouched');
  t.notOk(rekeyed.includes(ourToPbx), 'a fresh key of ours toward the PBX');
  t.ok(s.logs.some((l) => /"event":"srtp.keys"/.test(l) && /"rekeyed":true/.test(l)));

  // re-INVITE: callrec re-offers its key to the provider, the provider answers with a new key of its own:
  // a new inbound context, the same outbound one (a new context for a used key would restart its index).
  const reOffer = rewrite(s, 'pbx', 'offer', sdp('10.0.0.1', 4000, 'RTP/SAVP', [newPbxLine], 4));
  t.equal(readCryptoAttributes(reOffer)[0]?.tag, 1, 'our current line first, same tag');
  t.ok(reOffer.includes(ourToProvider), 'same key');
  rewrite(s, 'provider', 'answer', sdp('10.0.0.2', 5000, 'RTP/SAVP', [partyCrypto(1)], 2));
  const provider2 = media.endpoints.provider.srtp!;
  t.not(provider2, providerLeg, 'provider leg re-keyed');
  t.not(provider2.inbound, providerLeg!.inbound, 'new inbound context for the provider\'s new key');
  t.equal(provider2.outbound, providerLeg!.outbound, 'outbound context kept with our unchanged key');
});

t.test('SRTP offer with no supported suite: the audio stream is refused', async (t) => {
  const s = await setup({ pbx: 'off', provider: 'off' });
  t.teardown(s.close);
  rewrite(s, 'pbx', 'offer', sdp('10.0.0.1', 4000, 'RTP/SAVP', ['a=crypto:1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR']));
  const toPbx = rewrite(s, 'provider', 'answer', sdp('10.0.0.2', 5000, 'RTP/AVP'));
  t.match(toPbx, /m=audio 0 RTP\/SAVP/);
  t.ok(s.logs.some((l) => /"event":"srtp.unsupported"/.test(l)));
});

t.test('answer without matching crypto to our SRTP offer: that leg is plain, with a warning', async (t) => {
  const s = await setup({ pbx: 'off', provider: 'sdes' });
  t.teardown(s.close);
  rewrite(s, 'pbx', 'offer', sdp('10.0.0.1', 4000, 'RTP/AVP'));
  rewrite(s, 'provider', 'answer', sdp('10.0.0.2', 5000, 'RTP/AVP'));
  const media = s.media.get(s.key)!;
  t.equal(media.endpoints.provider.srtpIn, undefined);
  t.equal(media.endpoints.provider.srtpPending, false, 'not pending: plain RTP flows');
  t.ok(s.logs.some((l) => /"event":"srtp.refused"/.test(l)));
});

t.test('delayed offer (offer in the 200 from the provider, answer in the ACK)', async (t) => {
  const s = await setup({ pbx: 'sdes', provider: 'off' });
  t.teardown(s.close);
  const providerOffer = sdp('10.0.0.2', 5000, 'RTP/SAVP', [partyCrypto(1)]);
  const toPbx = rewrite(s, 'provider', 'offer', providerOffer);
  t.match(toPbx, /RTP\/SAVP/);
  const ours = readCryptoAttributes(toPbx);
  t.equal(ours.length, 3);
  const pbxAnswer = sdp('10.0.0.1', 4000, 'RTP/SAVP', [partyCrypto(2, 'AES_CM_128_HMAC_SHA1_32')]);
  const toProvider = rewrite(s, 'pbx', 'answer', pbxAnswer);
  t.equal(readCryptoAttributes(toProvider)[0]?.tag, 1);
  const media = s.media.get(s.key)!;
  t.equal(media.endpoints.pbx.srtp?.suite, 'AES_CM_128_HMAC_SHA1_32');
  t.ok(media.endpoints.pbx.srtp?.local.keys[0]?.masterKey.equals(ours[1]!.keys[0]!.masterKey), 'our key of tag 2 protects toward the PBX');
  t.equal(media.endpoints.provider.srtp?.suite, 'AES_CM_128_HMAC_SHA1_80');
});

t.test('local answer (prompt before the call): SRTP in kind, contexts in place at once', async (t) => {
  const s = await setup({ pbx: 'off', provider: 'off' });
  t.teardown(s.close);
  const offer = sdp('10.0.0.1', 4000, 'RTP/SAVP', [partyCrypto(4)]);
  rewrite(s, 'pbx', 'offer', offer);
  const answer = s.media.answerLocally(s.key, 'pbx', Buffer.from(offer), [8])!.toString();
  t.match(answer, /m=audio \d+ RTP\/SAVP 8\r\n/);
  t.equal(readCryptoAttributes(answer)[0]?.tag, 4);
  t.equal(s.media.get(s.key)!.srtpSummary('pbx'), 'SRTP AES_CM_128_HMAC_SHA1_80 caller leg');
  // The provider's later answer does not re-key what the PBX already has.
  const leg = s.media.get(s.key)!.endpoints.pbx.srtp;
  rewrite(s, 'provider', 'answer', sdp('10.0.0.2', 5000, 'RTP/AVP'));
  t.equal(s.media.get(s.key)!.endpoints.pbx.srtp, leg);
});

t.test('keys are never logged nor in JSON/inspect output; unreadable SDP loses its keys', async (t) => {
  const s = await setup({ pbx: 'sdes', provider: 'sdes' });
  t.teardown(s.close);
  const pbxOffer = sdp('10.0.0.1', 4000, 'RTP/SAVP', [partyCrypto(1)]);
  const toProvider = rewrite(s, 'pbx', 'offer', pbxOffer);
  const providerAnswer = sdp('10.0.0.2', 5000, 'RTP/SAVP', [partyCrypto(1)]);
  const toPbx = rewrite(s, 'provider', 'answer', providerAnswer);
  const media = s.media.get(s.key)!;
  const keys = [pbxOffer, toProvider, providerAnswer, toPbx].flatMap(inlineKeys);
  t.equal(keys.length, 6);
  const dumps = [
    s.logs.join('\n'),
    JSON.stringify(media.srtpState),
    JSON.stringify(media.streams),
    JSON.stringify(media.endpoints.pbx.srtp),
    JSON.stringify(media.endpoints.pbx.srtpStatus),
    inspect(media.srtpState, { depth: 10 }),
    inspect(media.endpoints, { depth: 6 }),
  ].join('\n');
  for (const k of keys) {
    t.notOk(dumps.includes(k), 'key not in logs/JSON/inspect');
    t.notOk(dumps.includes(Buffer.from(k, 'base64').toString('hex')), 'nor in hex');
  }
  t.ok(s.logs.some((l) => /"event":"srtp.keys"/.test(l)), 'negotiation was logged (without keys)');
  const bad = `garbage\r\n${partyCrypto(1)}\r\n`;
  const relayed = rewrite(s, 'pbx', 'offer', bad);
  t.notMatch(relayed, /inline:/, 'unreadable SDP relayed without its key');
});
