/**
 * onwardSecurity (SPEC S1, M8; RFC 3261 §19.1, §26.2.2; RFC 5630): whether a
 * new call may go on to the other side, and what it loses there.
 * Verifies:
 * - sips: Request-URI toward a TLS side: relayed, nothing lost;
 * - sips: toward a UDP/TCP side: 480 with Warning 380 "SIPS Not Allowed",
 *   unless that side says `sips: downgrade` (then relayed, sips lost);
 * - sips: in To/From only decides nothing;
 * - TLS + SRTP toward a side configured udp/tcp and/or srtp: off: relayed
 *   with the downgrade named (signalling, media), never refused;
 * - TLS without SRTP, or UDP with SRTP, toward a plain side: no downgrade
 *   of what was never there.
 */
import t from 'tap';
import { describeDowngrade, onwardSecurity } from '../../lib/call/transport-security.js';
import { parseMessage, type SipRequest } from '../../lib/sip/message/index.js';
import type { TrunkPeer } from '../../lib/call/trunk-peers.js';

const PLAIN_SDP = 'v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n';
const SRTP_SDP = 'v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\n'
  + 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n';

function invite(uri: string, sdp: string, to = '<sip:bob@10.0.0.1>'): SipRequest {
  const text = [`INVITE ${uri} SIP/2.0`, 'Via: SIP/2.0/TLS 10.0.0.2:5061;branch=z9hG4bK1', 'From: <sip:alice@10.0.0.2>;tag=1', `To: ${to}`,
    'Call-ID: c1', 'CSeq: 1 INVITE', 'Max-Forwards: 70', 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

const peer = (transport: TrunkPeer['transport'], more: Partial<TrunkPeer> = {}): TrunkPeer => ({ host: '10.0.0.3', port: 5061, transport, ...more });

t.test('sips: toward TLS is relayed with nothing lost', async (t) => {
  t.same(onwardSecurity(invite('sips:bob@10.0.0.1', SRTP_SDP), 'tls', peer('tls', { srtp: 'sdes' })), { kind: 'relay', downgrade: undefined });
});

t.test('sips: toward UDP or TCP is refused 480 with Warning 380 (RFC 5630)', async (t) => {
  for (const transport of ['udp', 'tcp'] as const) {
    const v = onwardSecurity(invite('sips:bob@10.0.0.1', PLAIN_SDP), 'tls', peer(transport));
    t.match(v, { kind: 'refuse', status: 480, reason: 'Temporarily Unavailable', warning: '380 callrec "SIPS Not Allowed"' }, transport);
    t.match(v, { explanation: new RegExp(`configured ${transport.toUpperCase()}`) });
  }
  t.match(onwardSecurity(invite('SIPS:bob@10.0.0.1', PLAIN_SDP), 'udp', peer('udp', { sips: 'refuse' })), { kind: 'refuse', status: 480 }, 'scheme is case-insensitive; refuse is the default');
});

t.test('sips: downgrade lets it go on as sip:, saying so', async (t) => {
  const v = onwardSecurity(invite('sips:bob@10.0.0.1', PLAIN_SDP), 'tls', peer('udp', { sips: 'downgrade' }));
  t.same(v, { kind: 'relay', downgrade: { sips: true, signalling: 'udp' } });
  if (v.kind === 'relay' && v.downgrade !== undefined) {
    t.equal(describeDowngrade('provider', v.downgrade), 'call downgraded on the provider leg: sips: relayed as sip:, signalling over UDP instead of TLS (as the provider config says)');
  }
});

t.test('sips: in To alone decides nothing', async (t) => {
  t.same(onwardSecurity(invite('sip:bob@10.0.0.1', PLAIN_SDP, '<sips:bob@10.0.0.1>'), 'udp', peer('udp')), { kind: 'relay', downgrade: undefined });
});

t.test('TLS with SRTP toward a plain side: relayed, downgrade named', async (t) => {
  t.same(onwardSecurity(invite('sip:bob@10.0.0.1', SRTP_SDP), 'tls', peer('udp', { srtp: 'off' })),
    { kind: 'relay', downgrade: { signalling: 'udp', media: 'RTP' } });
  t.same(onwardSecurity(invite('sip:bob@10.0.0.1', SRTP_SDP), 'tls', peer('tcp', { srtp: 'sdes' })),
    { kind: 'relay', downgrade: { signalling: 'tcp' } }, 'SRTP kept, signalling lost');
  t.same(onwardSecurity(invite('sip:bob@10.0.0.1', SRTP_SDP), 'tls', peer('tls')),
    { kind: 'relay', downgrade: { media: 'RTP' } }, 'TLS kept, SRTP lost (srtp defaults to off)');
  t.equal(describeDowngrade('provider', { signalling: 'udp', media: 'RTP' }),
    'call downgraded on the provider leg: signalling over UDP instead of TLS, media plain RTP instead of SRTP (as the provider config says)');
});

t.test('nothing to downgrade: TLS without SRTP, SRTP over UDP', async (t) => {
  t.same(onwardSecurity(invite('sip:bob@10.0.0.1', PLAIN_SDP), 'tls', peer('udp')), { kind: 'relay', downgrade: undefined });
  t.same(onwardSecurity(invite('sip:bob@10.0.0.1', SRTP_SDP), 'udp', peer('udp')), { kind: 'relay', downgrade: undefined });
  t.same(onwardSecurity(invite('sip:bob@10.0.0.1', ''), 'tls', peer('udp')), { kind: 'relay', downgrade: undefined }, 'no SDP (delayed offer)');
});
