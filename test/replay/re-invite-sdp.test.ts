/**
 * The SDP of replayed re-INVITEs: the captured offer's media (codecs,
 * direction, hold address) on the replay end's socket; an answer with one
 * m= line per offered line (RFC 3264 §6), as the capture answered or else
 * mirrored; a declined line stays declined; session versions only grow.
 */
import t from 'tap';
import { reAnswerSdp, reOfferSdp, SdpVersion } from '../../lib/replay/re-invite-sdp.js';
import { summarizeSdp, type SdpSummary } from '../../lib/replay/sdp-summary.js';

const sdp = (...lines: string[]): SdpSummary => summarizeSdp(['v=0', 'o=x 1 1 IN IP4 192.0.2.1', 's=-', 't=0 0', ...lines, ''].join('\r\n'))!;

t.test('a hold offer keeps c=0.0.0.0, sendonly and the codecs, on the replay socket', async (t) => {
  const offer = sdp('c=IN IP4 0.0.0.0', 'm=audio 4000 RTP/AVP 8 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendonly');
  const text = reOfferSdp('127.0.0.1', 30000, offer, 2);
  t.match(text, /^o=replay 1 2 IN IP4 127\.0\.0\.1\r$/m);
  t.match(text, /^m=audio 30000 RTP\/AVP 8 101\r$/m);
  t.match(text, /^c=IN IP4 0\.0\.0\.0\r$/m);
  t.match(text, /^a=fmtp:101 0-15\r$/m);
  t.match(text, /^a=sendonly\r$/m);
  const back = summarizeSdp(text)!;
  t.same(back.media.map((m) => [m.type, m.port, m.direction, m.address]), [['audio', 30000, 'sendonly', '0.0.0.0']]);
});

t.test('a T.38 offer keeps its protocol and format beside the RTP port', async (t) => {
  const offer = sdp('c=IN IP4 192.0.2.1', 'm=image 5000 udptl t38');
  t.match(reOfferSdp('127.0.0.1', 30000, offer, 3), /^m=image 30002 udptl t38\r$/m);
});

t.test('the answer has a line per offered line: as captured, else mirrored; declined stays declined', async (t) => {
  const received = sdp('c=IN IP4 127.0.0.1', 'm=audio 20000 RTP/AVP 8 0', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=sendonly', 'm=video 0 RTP/AVP 96');
  const mirrored = summarizeSdp(reAnswerSdp('127.0.0.1', 30000, received, undefined, 2))!;
  t.same(mirrored.media.map((m) => [m.type, m.port, m.direction]), [['audio', 30000, 'recvonly'], ['video', 0, 'sendrecv']]);
  t.same(mirrored.media[0]!.payloadTypes, [8, 0], 'no captured answer: the offered codecs');

  const captured = sdp('c=IN IP4 192.0.2.9', 'm=audio 6000 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000', 'a=inactive');
  const asCaptured = summarizeSdp(reAnswerSdp('127.0.0.1', 30000, received, captured, 3))!;
  t.same(asCaptured.media.map((m) => [m.type, m.port, m.direction]), [['audio', 30000, 'inactive'], ['video', 0, 'sendrecv']]);
  t.same(asCaptured.media[0]!.payloadTypes, [8], "the captured answer's codecs");
});

t.test('each description an end sends has a higher session version', async (t) => {
  const v = new SdpVersion();
  const a = v.next();
  const b = v.next();
  t.ok(a > 1 && b > a, `${a} then ${b}, after the INVITE's 1`);
});
