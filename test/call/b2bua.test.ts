/**
 * The trunk B2BUA in memory and in virtual time, PBX and provider faked.
 * Verifies:
 * - SPEC S2/S3: an outbound call becomes an independent B-leg (own Call-ID,
 *   tags, CSeq) carrying request-URI user, From/To user and display name,
 *   P-Asserted-Identity, Privacy, Diversion, History-Info; Max-Forwards - 1.
 * - 1xx/2xx relayed with our A-leg tag; ACK for 2xx end to end; BYE either way.
 * - RFC 3261 §9.1: CANCEL waits for a provisional; a 200 racing the CANCEL
 *   is acknowledged and ended with BYE.
 * - §13.3.1.4: the 2xx to the caller is retransmitted until the ACK.
 * - §22.2: a 401 from the provider is answered with credentials.
 * - §14.1: a re-INVITE arriving while one is pending on that leg gets 491.
 * - RFC 3262: reliable provisionals PRACKed on the B-leg and sent reliably to a 100rel caller.
 * - SPEC S4: 403 for strangers; 483 at Max-Forwards 0; OPTIONS answered locally; 400 for garbage.
 * Not verified here (see test/interop): real sockets, TCP/TLS, SIPp interop.
 */
import t from 'tap';
import { inDialog, invite, PBX, PROVIDER, reply, STRANGER, Trunk, SDP } from './harness.js';

async function outboundCall(trunk: Trunk, headers: string[] = []) {
  trunk.inject(invite({ headers }), PBX);
  await trunk.settle();
  trunk.expect(PBX, 100);
  const bInvite = trunk.expect(PROVIDER, 'INVITE');
  return bInvite;
}

t.test('outbound call: independent B-leg carrying the identity headers', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk, [
    'P-Asserted-Identity: "Alice Trader" <sip:+4930123456201@pbx.example.com>',
    'Privacy: id',
    'Diversion: <sip:202@pbx.example.com>;reason=unconditional',
    'History-Info: <sip:202@pbx.example.com>;index=1',
  ]);
  t.equal(b.kind, 'request');
  if (b.kind !== 'request') return;
  t.match(b.uri, /^sip:0301234567@10\.0\.0\.3:5080$/, 'request-URI user carried, host is the provider');
  t.not(b.callId, 'pbxcall@10.0.0.2', 'own Call-ID');
  t.not(b.fromTag, 'pbxtag', 'own From tag');
  t.equal(b.from.displayName, 'Alice Trader');
  t.match(b.from.uriText, /^sip:201@/);
  t.equal(b.to.displayName, 'Bob');
  t.equal(b.get('Max-Forwards'), '69');
  t.equal(b.get('P-Asserted-Identity'), '"Alice Trader" <sip:+4930123456201@pbx.example.com>');
  t.equal(b.get('Privacy'), 'id');
  t.equal(b.get('Diversion'), '<sip:202@pbx.example.com>;reason=unconditional');
  t.equal(b.get('History-Info'), '<sip:202@pbx.example.com>;index=1');
  t.equal(b.body.toString(), SDP, 'SDP passes through unchanged without media plane');
});

t.test('ringing, answer, ACK both ways, BYE from the callee', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk);
  trunk.inject(reply(b, 180), PROVIDER);
  const ringing = trunk.expect(PBX, 180);
  const aTag = ringing.toTag;
  t.ok(aTag !== undefined && aTag !== 'provtag', 'A-leg has its own To tag');
  trunk.inject(reply(b, 200, { body: SDP }), PROVIDER);
  const ack = trunk.expect(PROVIDER, 'ACK');
  t.equal(ack.cseq.seq, 1, 'ACK for 2xx carries the INVITE CSeq number');
  t.equal(ack.toTag, 'provtag');
  const ok = trunk.expect(PBX, 200);
  t.equal(ok.toTag, aTag, 'same tag in 180 and 200');
  t.equal(ok.body.toString(), SDP);
  t.ok(ok.get('Contact'), '2xx has a Contact');
  // The caller's ACK stops the 2xx retransmission.
  trunk.inject(inDialog('ACK', { callId: 'pbxcall@10.0.0.2', from: '<sip:201@10.0.0.2>;tag=pbxtag', to: `<sip:x@10.0.0.1>;tag=${aTag}`, cseq: 1, via: '10.0.0.2:5070' }), PBX);
  trunk.clock.advance(2000);
  t.same(trunk.take().map((s) => s.message.kind === 'response' && s.message.status), [], 'no 2xx retransmission after ACK');
  // The provider hangs up.
  const bye = inDialog('BYE', { callId: b.callId, from: `${b.get('To')};tag=provtag`, to: b.get('From')!, cseq: 5, via: '10.0.0.3:5080' });
  trunk.inject(bye, PROVIDER);
  const sent = trunk.take();
  t.ok(sent.some((s) => s.destination.port === PROVIDER.port && s.message.kind === 'response' && s.message.status === 200), '200 to the BYE');
  const aBye = sent.find((s) => s.destination.port === PBX.port && s.message.kind === 'request' && s.message.method === 'BYE');
  t.ok(aBye, 'BYE to the PBX');
  t.equal(aBye?.message.callId, 'pbxcall@10.0.0.2');
  t.equal(aBye?.message.toTag, 'pbxtag');
  t.equal(aBye?.message.fromTag, aTag);
  t.equal(trunk.b2bua.activeCalls.length, 0, 'call is gone');
});

t.test('a retransmitted 2xx from the provider gets the same ACK again (RFC 3261 §13.2.2.4)', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk);
  const ok = reply(b, 200, { body: SDP });
  trunk.inject(ok, PROVIDER);
  const first = trunk.expect(PROVIDER, 'ACK');
  trunk.take();
  trunk.inject(ok, PROVIDER);
  const again = trunk.expect(PROVIDER, 'ACK');
  t.equal(again.getAll('Via').length, 1, 'one Via');
  t.equal(again.get('Via'), first.get('Via'), 'same Via, same branch: the same ACK passed to the transport again');
  t.equal(again.cseq.seq, first.cseq.seq);
  t.equal(trunk.take().filter((s) => s.destination.port === PBX.port && s.message.kind === 'response' && s.message.status === 200).length, 0,
    'the retransmission is not relayed to the PBX');
});

t.test('2xx to the caller is retransmitted (T1, 2T1, 4T1 ...) until the ACK', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk);
  trunk.inject(reply(b, 200, { body: SDP }), PROVIDER);
  trunk.take();
  const times: number[] = [];
  for (let ms = 0; ms < 8000; ms += 100) {
    trunk.clock.advance(100);
    for (const s of trunk.take()) if (s.message.kind === 'response' && s.message.status === 200) times.push(trunk.clock.now());
  }
  t.same(times, [500, 1500, 3500, 7500], 'intervals 500, 1000, 2000, 4000 ms');
});

t.test('CANCEL before any provisional waits for one (RFC 3261 §9.1)', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk);
  trunk.inject(['CANCEL sip:0301234567@10.0.0.1:5060 SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKpbx1',
    'From: "Alice Trader" <sip:201@10.0.0.2>;tag=pbxtag', 'To: "Bob" <sip:0301234567@10.0.0.1>', 'Call-ID: pbxcall@10.0.0.2',
    'CSeq: 1 CANCEL', 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\r\n'), PBX);
  const sent = trunk.take();
  t.ok(sent.some((s) => s.message.kind === 'response' && s.message.status === 200 && s.message.cseq.method === 'CANCEL'), '200 to CANCEL');
  t.ok(sent.some((s) => s.message.kind === 'response' && s.message.status === 487), '487 to the INVITE');
  t.notOk(sent.some((s) => s.message.kind === 'request' && s.message.method === 'CANCEL'), 'no CANCEL before a provisional');
  trunk.inject(reply(b, 180), PROVIDER);
  const cancel = trunk.expect(PROVIDER, 'CANCEL');
  t.equal(cancel.via.branch, b.via.branch, 'CANCEL has the INVITE branch');
  t.equal(cancel.cseq.seq, b.cseq.seq);
  trunk.inject(reply(cancel, 200), PROVIDER);
  trunk.inject(reply(b, 487), PROVIDER);
  t.ok(trunk.take().some((s) => s.message.kind === 'request' && s.message.method === 'ACK'), 'ACK for the 487 from the transaction');
  t.equal(trunk.b2bua.activeCalls.length, 0);
});

t.test('a 200 that races the CANCEL is acknowledged and ended with BYE', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk);
  trunk.inject(reply(b, 180), PROVIDER);
  trunk.take();
  trunk.inject(['CANCEL sip:0301234567@10.0.0.1:5060 SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKpbx1',
    'From: "Alice Trader" <sip:201@10.0.0.2>;tag=pbxtag', 'To: "Bob" <sip:0301234567@10.0.0.1>', 'Call-ID: pbxcall@10.0.0.2',
    'CSeq: 1 CANCEL', 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\r\n'), PBX);
  trunk.expect(PROVIDER, 'CANCEL');
  trunk.inject(reply(b, 200, { body: SDP }), PROVIDER);
  const sent = trunk.take();
  t.ok(sent.some((s) => s.message.kind === 'request' && s.message.method === 'ACK'), 'ACK to the 200');
  t.ok(sent.some((s) => s.message.kind === 'request' && s.message.method === 'BYE'), 'BYE to the provider');
  t.notOk(sent.some((s) => s.destination.port === PBX.port && s.message.kind === 'response' && s.message.status === 200 && s.message.cseq.method === 'INVITE'), 'no 200 to the cancelled caller');
});

t.test('a 401 from the provider is answered with digest credentials', async (t) => {
  const trunk = new Trunk({ credentials: { provider: { username: 'trunk1', password: 'secret' } } });
  const b = await outboundCall(trunk);
  trunk.inject(reply(b, 401, { headers: ['WWW-Authenticate: Digest realm="prov", nonce="abc123", qop="auth", algorithm=MD5'] }), PROVIDER);
  const sent = trunk.take();
  const retry = sent.find((s) => s.message.kind === 'request' && s.message.method === 'INVITE');
  t.ok(retry, 'INVITE sent again');
  t.equal(retry?.message.cseq.seq, 2, 'new CSeq');
  t.equal(retry?.message.callId, b.callId, 'same Call-ID');
  t.equal(retry?.message.fromTag, b.fromTag, 'same From tag');
  t.match(retry?.message.get('Authorization') ?? '', /^Digest username="trunk1", realm="prov", nonce="abc123", uri="sip:0301234567@10\.0\.0\.3:5080", response="[0-9a-f]{32}"/);
  t.ok(sent.some((s) => s.message.kind === 'request' && s.message.method === 'ACK'), 'the 401 is acknowledged');
  t.notOk(sent.some((s) => s.destination.port === PBX.port && s.message.kind === 'response' && s.message.status >= 400), 'caller sees no failure');
});

t.test('without credentials a challenge ends the call with 403 to the caller', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk);
  trunk.inject(reply(b, 407, { headers: ['Proxy-Authenticate: Digest realm="prov", nonce="n"'] }), PROVIDER);
  t.equal(trunk.expect(PBX, 403).kind, 'response');
});

t.test('failure responses are relayed with their status', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk);
  trunk.inject(reply(b, 486), PROVIDER);
  t.equal(trunk.expect(PBX, 486).kind, 'response');
});

async function answeredCall(trunk: Trunk) {
  const b = await outboundCall(trunk, ['Supported: 100rel']);
  trunk.inject(reply(b, 200, { body: SDP }), PROVIDER);
  const ok = trunk.take().find((s) => s.message.kind === 'response' && s.message.status === 200)!.message;
  const aTag = ok.toTag!;
  trunk.inject(inDialog('ACK', { callId: 'pbxcall@10.0.0.2', from: '<sip:201@10.0.0.2>;tag=pbxtag', to: `<sip:x@10.0.0.1>;tag=${aTag}`, cseq: 1, via: '10.0.0.2:5070' }), PBX);
  trunk.take();
  return { b, aTag };
}

t.test('re-INVITE relayed; a second one on the busy leg gets 491 (glare)', async (t) => {
  const trunk = new Trunk();
  const { b, aTag } = await answeredCall(trunk);
  trunk.inject(inDialog('INVITE', { callId: 'pbxcall@10.0.0.2', from: '<sip:201@10.0.0.2>;tag=pbxtag', to: `<sip:x@10.0.0.1>;tag=${aTag}`, cseq: 2, via: '10.0.0.2:5070', body: SDP.replace('a=rtpmap:101', 'a=sendonly\r\na=rtpmap:101'), headers: ['Contact: <sip:201@10.0.0.2:5070>'] }), PBX);
  const reinvite = trunk.expect(PROVIDER, 'INVITE');
  t.equal(reinvite.callId, b.callId, 'in the B dialog');
  t.equal(reinvite.cseq.seq, 2);
  t.match(reinvite.body.toString(), /a=sendonly/, 'hold SDP relayed');
  // The provider tries its own re-INVITE meanwhile.
  trunk.inject(inDialog('INVITE', { callId: b.callId, from: `${b.get('To')};tag=provtag`, to: b.get('From')!, cseq: 7, via: '10.0.0.3:5080', body: SDP, headers: ['Contact: <sip:far@10.0.0.3:5080>'] }), PROVIDER);
  t.equal(trunk.expect(PROVIDER, 491).kind, 'response', '491 Request Pending');
  trunk.inject(reply(reinvite, 200, { body: SDP }), PROVIDER);
  const sent = trunk.take();
  t.ok(sent.some((s) => s.destination.port === PROVIDER.port && s.message.kind === 'request' && s.message.method === 'ACK' && s.message.cseq.seq === 2), 'ACK for the re-INVITE 200');
  t.ok(sent.some((s) => s.destination.port === PBX.port && s.message.kind === 'response' && s.message.status === 200 && s.message.cseq.seq === 2), '200 to the PBX re-INVITE');
});

t.test('INFO relayed both ways with its body', async (t) => {
  const trunk = new Trunk();
  const { aTag } = await answeredCall(trunk);
  const info = inDialog('INFO', { callId: 'pbxcall@10.0.0.2', from: '<sip:201@10.0.0.2>;tag=pbxtag', to: `<sip:x@10.0.0.1>;tag=${aTag}`, cseq: 3, via: '10.0.0.2:5070' });
  info.setBody('Signal=5\r\nDuration=160\r\n', 'application/dtmf-relay');
  trunk.inject(info, PBX);
  const out = trunk.expect(PROVIDER, 'INFO');
  t.equal(out.body.toString(), 'Signal=5\r\nDuration=160\r\n');
  trunk.inject(reply(out, 200), PROVIDER);
  t.equal(trunk.expect(PBX, 200).cseq.method, 'INFO');
});

t.test('reliable provisional: PRACK on the B-leg, reliable 183 to a 100rel caller (RFC 3262)', async (t) => {
  const trunk = new Trunk();
  const b = await outboundCall(trunk, ['Supported: 100rel']);
  trunk.inject(reply(b, 183, { body: SDP, headers: ['Require: 100rel', 'RSeq: 1'] }), PROVIDER);
  const sent = trunk.take();
  const prack = sent.find((s) => s.message.kind === 'request' && s.message.method === 'PRACK');
  t.equal(prack?.message.get('RAck'), '1 1 INVITE', 'PRACK names RSeq and the INVITE CSeq');
  const early = sent.find((s) => s.destination.port === PBX.port && s.message.kind === 'response' && s.message.status === 183)?.message;
  t.equal(early?.get('Require'), '100rel', 'sent reliably to the caller');
  const rseq = Number(early?.get('RSeq'));
  t.ok(rseq >= 1);
  // Not acknowledged yet: retransmitted after T1.
  trunk.clock.advance(500);
  t.ok(trunk.take().some((s) => s.message.kind === 'response' && s.message.status === 183), 'retransmitted until PRACK');
  // A retransmission from the provider is not PRACKed or relayed twice.
  trunk.inject(reply(b, 183, { body: SDP, headers: ['Require: 100rel', 'RSeq: 1'] }), PROVIDER);
  t.notOk(trunk.take().some((s) => s.message.kind === 'request' && s.message.method === 'PRACK'), 'no second PRACK');
  trunk.inject(inDialog('PRACK', { callId: 'pbxcall@10.0.0.2', from: '<sip:201@10.0.0.2>;tag=pbxtag', to: `<sip:x@10.0.0.1>;tag=${early?.toTag}`, cseq: 2, via: '10.0.0.2:5070', headers: [`RAck: ${rseq} 1 INVITE`] }), PBX);
  t.equal(trunk.expect(PBX, 200).cseq.method, 'PRACK', '200 to the PRACK');
  trunk.clock.advance(2000);
  t.notOk(trunk.take().some((s) => s.message.kind === 'response' && s.message.status === 183), 'no more retransmissions');
});

t.test('strangers get 403 (no open relay)', async (t) => {
  const trunk = new Trunk();
  trunk.inject(invite(), STRANGER);
  await trunk.settle();
  t.equal(trunk.expect(STRANGER, 403).kind, 'response');
  t.equal(trunk.b2bua.activeCalls.length, 0);
});

t.test('Max-Forwards 0 gets 483', async (t) => {
  const trunk = new Trunk();
  trunk.inject(invite({ maxForwards: 0 }), PBX);
  await trunk.settle();
  const sent = trunk.take();
  t.ok(sent.some((s) => s.message.kind === 'response' && s.message.status === 483));
  t.notOk(sent.some((s) => s.destination.port === PROVIDER.port));
});

t.test('unsupported Require gets 420 with Unsupported', async (t) => {
  const trunk = new Trunk();
  trunk.inject(invite({ headers: ['Require: foo'] }), PBX);
  await trunk.settle();
  const sent = trunk.take().find((s) => s.message.kind === 'response' && s.message.status === 420);
  t.equal(sent?.message.get('Unsupported'), 'foo');
});

t.test('OPTIONS out of dialog is answered locally with 200', async (t) => {
  const trunk = new Trunk();
  trunk.inject(['OPTIONS sip:10.0.0.1:5060 SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bKopt', 'From: <sip:p@10.0.0.3>;tag=o1',
    'To: <sip:10.0.0.1>', 'Call-ID: opt1', 'CSeq: 1 OPTIONS', 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\r\n'), PROVIDER);
  const ok = trunk.expect(PROVIDER, 200);
  t.match(ok.get('Allow') ?? '', /INVITE/);
  t.equal(trunk.take().length, 0, 'nothing relayed');
});

t.test('a malformed request is answered with 400; a malformed response dropped', async (t) => {
  const trunk = new Trunk();
  trunk.inject(['INVITE sip:x@10.0.0.1 SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKbad', 'From: <sip:a@b>;tag=1',
    'To: "unterminated <sip:x@10.0.0.1>', 'Call-ID: bad1', 'CSeq: 1 INVITE', 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\r\n'), PBX);
  t.equal(trunk.expect(PBX, 400).kind, 'response');
  trunk.inject('SIP/2.0 999999 Nope\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\n\r\n', PROVIDER);
  t.equal(trunk.take().length, 0);
});

t.test('unknown dialog gets 481', async (t) => {
  const trunk = new Trunk();
  trunk.inject(inDialog('BYE', { callId: 'nope', from: '<sip:a@10.0.0.2>;tag=a', to: '<sip:b@10.0.0.1>;tag=b', cseq: 2, via: '10.0.0.2:5070' }), PBX);
  t.equal(trunk.expect(PBX, 481).kind, 'response');
});
