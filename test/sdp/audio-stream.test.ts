/**
 * SPEC M1 SDP anchoring: c= and the audio port become callrec's, a=rtcp
 * follows, codecs/fmtp/ptime/direction stay; other m= lines refused with
 * port 0 (RFC 3264 §6); c=0.0.0.0 hold kept; malformed SDP rejected.
 */
import t from 'tap';
import { anchorSdp, readAudioStream, SdpError } from '../../lib/sdp/audio-stream.js';

const OFFER = [
  'v=0', 'o=pbx 123 456 IN IP4 192.168.1.10', 's=call', 'c=IN IP4 192.168.1.10', 't=0 0',
  'm=audio 40000 RTP/AVP 8 0 9 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:9 G722/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=rtcp:40001', 'a=sendrecv',
  'm=video 40002 RTP/AVP 96', 'a=rtpmap:96 H264/90000', '',
].join('\r\n');

t.test('reads the audio stream: address, ports, codecs, telephone-event', async (t) => {
  const s = readAudioStream(OFFER);
  t.equal(s?.host, '192.168.1.10');
  t.equal(s?.port, 40000);
  t.equal(s?.rtcpPort, 40001);
  t.same(s?.codecs.map((c) => `${c.payloadType}:${c.name}`), ['8:PCMA', '0:PCMU', '9:G722', '101:TELEPHONE-EVENT']);
  t.equal(s?.telephoneEventPayloadType, 101);
  t.equal(s?.onHold, false);
});

t.test('anchors audio at callrec and refuses video', async (t) => {
  const out = anchorSdp(OFFER, '10.1.1.1', 20000);
  t.match(out, /\r\nc=IN IP4 10\.1\.1\.1\r\n/);
  t.match(out, /\r\nm=audio 20000 RTP\/AVP 8 0 9 101\r\n/);
  t.match(out, /a=rtcp:20001 IN IP4 10\.1\.1\.1/);
  t.match(out, /\r\nm=video 0 RTP\/AVP 96\r\n/);
  for (const keep of ['a=rtpmap:9 G722/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv']) t.ok(out.includes(keep), keep);
  t.notMatch(out, /192\.168\.1\.10/, 'no trace of the original address');
});

t.test('hold: sendonly and c=0.0.0.0 are kept and recognised', async (t) => {
  const sendonly = OFFER.replace('a=sendrecv', 'a=sendonly');
  t.equal(readAudioStream(sendonly)?.onHold, true);
  t.match(anchorSdp(sendonly, '10.1.1.1', 20000), /a=sendonly/);
  const zero = OFFER.replace('c=IN IP4 192.168.1.10', 'c=IN IP4 0.0.0.0');
  t.equal(readAudioStream(zero)?.onHold, true);
  t.match(anchorSdp(zero, '10.1.1.1', 20000), /c=IN IP4 0\.0\.0\.0/);
});

t.test('static payload types without rtpmap, refused audio, garbage', async (t) => {
  const s = readAudioStream('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 8\r\n');
  t.same(s?.codecs.map((c) => c.name), ['PCMU', 'PCMA']);
  t.equal(readAudioStream('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n'), undefined);
  t.throws(() => readAudioStream('hello'), SdpError);
});
