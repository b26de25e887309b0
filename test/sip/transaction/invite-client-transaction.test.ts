/*
 * INVITE client transaction: RFC 3261 §17.1.1 with RFC 6026 §7.2 / §8.4.
 * Driven through the real TransactionLayer, a fake transport and virtual time.
 *
 * Verifies:
 * - §17.1.1.2 Timer A starts at T1 on unreliable transports and doubles without a cap
 *   (retransmissions at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s) and follows a configured T1
 * - §17.1.1.2 Timer B fires at 64*T1 in Calling: the TU is told, the transaction terminates
 * - §17.1.1.2 reliable transports: no Timer A, Timer B still runs
 * - §17.1.1.2 1xx -> Proceeding: retransmissions stop, every 1xx is passed up, no Timer B
 * - §17.1.1.3 the ACK for 300-699: Request-URI, Call-ID, From of the request, CSeq number
 *   with method ACK, To of the response (tag included), only the top Via, the Route headers,
 *   Max-Forwards 70, Content-Length 0, sent to the request's destination
 * - §17.1.1.2 retransmitted final responses get the same ACK and are not passed up
 * - §17.1.1.2 Timer D: 32 s on UDP, zero on TCP
 * - RFC 6026 §8.4 a 2xx -> Accepted, no ACK from the transaction, every 2xx (retransmission
 *   or another fork) passed up, 1xx and non-2xx in Accepted are not; Timer M = 64*T1;
 *   2xx after Timer M reach the TU as strays (RFC 6026 §7.2: the TU drops them)
 * - §17.1.4 a transport error informs the TU and terminates the transaction
 * - no timer is left armed once the transaction has ended
 *
 * Not verified here: RFC 3263 fail-over after a transport error (the TU's), the ACK for a 2xx
 * (the TU's, §13.2.2.4; see transaction-layer.test.ts for sendAck).
 */
import t from 'tap';
import { serialize } from '../../../lib/sip/message/index.js';
import { InviteClientTransaction } from '../../../lib/sip/transaction/index.js';
import { TransportError } from '../../../lib/sip/message/errors.js';
import { inbound, PEER_TCP, PEER_UDP, request, response, setup, type Harness } from './harness.js';

function startInvite(h: Harness, tcp = false) {
  const req = request({ transport: tcp ? 'TCP' : 'UDP' });
  const tx = h.layer.sendRequest(req, tcp ? PEER_TCP : PEER_UDP, h.delegate);
  if (!(tx instanceof InviteClientTransaction)) throw new Error('expected an INVITE client transaction');
  return { req, tx };
}

t.test('MUST retransmit the INVITE on Timer A, starting at T1 and doubling without cap', async (t) => {
  const h = setup();
  const { tx } = startInvite(h);
  h.clock.advance(31_999);
  t.same(h.sender.times(h.sender.requests('INVITE')), [0, 500, 1500, 3500, 7500, 15_500, 31_500], 'intervals 500, 1000, 2000, 4000, 8000, 16000');
  t.equal(tx.state, 'calling');
  t.ok(h.sender.sent.every((s) => s.destination === PEER_UDP), 'every copy goes to the same destination');
});

t.test('MUST inform the TU of a timeout when Timer B fires at 64*T1 in Calling', async (t) => {
  const h = setup();
  const { tx } = startInvite(h);
  h.clock.advance(32_000);
  t.same(h.delegate.timeouts, [32_000]);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0, 'the layer forgot the transaction');
  h.clock.advance(60_000);
  t.equal(h.sender.requests('INVITE').length, 7, 'no retransmission after Timer B');
  t.equal(h.clock.armed, 0, 'no timer left armed');
});

t.test('Timers A and B follow the configured T1', async (t) => {
  const h = setup({ t1: 100 });
  startInvite(h);
  h.clock.advance(10_000);
  t.same(h.sender.times(h.sender.requests('INVITE')), [0, 100, 300, 700, 1500, 3100, 6300]);
  t.same(h.delegate.timeouts, [6400], 'Timer B = 64*T1');
  t.equal(h.clock.armed, 0);
});

t.test('MUST NOT start Timer A on a reliable transport; Timer B still runs', async (t) => {
  const h = setup();
  const { tx } = startInvite(h, true);
  h.clock.advance(31_999);
  t.equal(h.sender.requests('INVITE').length, 1, 'sent once, never retransmitted');
  t.same(tx.armedTimers, ['B']);
  h.clock.advance(1);
  t.same(h.delegate.timeouts, [32_000]);
  t.equal(h.clock.armed, 0);
});

t.test('a 1xx moves Calling to Proceeding: retransmissions stop and every 1xx is passed up', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  h.clock.advance(700);
  h.layer.receiveResponse(inbound(response(req, 100)));
  t.equal(tx.state, 'proceeding');
  h.layer.receiveResponse(inbound(response(req, 180, 'callee')));
  h.layer.receiveResponse(inbound(response(req, 183, 'callee')));
  t.same(h.delegate.statuses(), [100, 180, 183], 'each provisional response passed to the TU');
  t.equal(h.clock.armed, 0, 'Timers A and B belong to Calling');
  h.clock.advance(200_000);
  t.equal(h.sender.requests('INVITE').length, 2, 'only the retransmission at 500 ms');
  t.same(h.delegate.timeouts, [], 'SHOULD NOT time out in Proceeding (Timer B only fires in Calling)');
  t.equal(tx.state, 'proceeding');
  h.layer.receiveResponse(inbound(response(req, 486, 'callee')));
  t.equal(tx.state, 'completed');
});

t.test('MUST generate an ACK for a 300-699 response, built as §17.1.1.3 says', async (t) => {
  const h = setup();
  const req = request({
    cseq: 314,
    via: ['SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-ack-1', 'SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-below'],
    route: ['<sip:proxy1.example;lr>', '<sip:proxy2.example;lr>'],
    extra: ['Record-Route: <sip:rr.example;lr>', 'Subject: test'],
    body: 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n',
  });
  const tx = h.layer.sendRequest(req, PEER_UDP, h.delegate);
  h.clock.advance(100);
  const busy = response(req, 486, 'callee-tag');
  h.layer.receiveResponse(inbound(busy));

  t.equal(tx.state, 'completed');
  t.same(h.delegate.statuses(), [486], 'the final response is passed up once');
  const acks = h.sender.requests('ACK');
  t.equal(acks.length, 1);
  const sent = acks[0]!;
  const ack = sent.message;
  if (ack.kind !== 'request') throw new Error('unreachable');
  t.equal(sent.destination, PEER_UDP, 'sent to the address of the INVITE');
  t.equal(ack.uri, req.uri, 'Request-URI of the INVITE');
  t.equal(ack.callId, req.callId, 'Call-ID of the INVITE');
  t.equal(ack.get('From'), req.get('From'), 'From of the INVITE');
  t.equal(ack.get('To'), busy.get('To'), 'To of the response, tag included');
  t.equal(ack.toTag, 'callee-tag');
  t.equal(ack.get('CSeq'), '314 ACK', 'CSeq number of the INVITE, method ACK');
  t.same(ack.getAll('Via'), [req.getAll('Via')[0]], 'only the top Via of the INVITE, same branch');
  t.same(ack.getAll('Route'), ['<sip:proxy1.example;lr>', '<sip:proxy2.example;lr>'], 'the Route headers of the INVITE');
  t.equal(ack.get('Max-Forwards'), '70');
  t.equal(ack.body.length, 0, 'no body');
  t.notOk(ack.has('Content-Type'));
  t.notOk(ack.has('Record-Route'));
  t.notOk(ack.has('Contact'));
  t.match(serialize(ack).toString(), /\r\nContent-Length: 0\r\n\r\n$/, 'Content-Length 0 on the wire');
});

t.test('MUST re-send the same ACK for each retransmitted final response and MUST NOT pass it up', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  const busy = response(req, 486, 'callee');
  h.layer.receiveResponse(inbound(busy));
  h.clock.advance(600);
  h.layer.receiveResponse(inbound(busy));
  h.clock.advance(1000);
  h.layer.receiveResponse(inbound(busy));
  const acks = h.sender.requests('ACK');
  t.equal(acks.length, 3);
  t.ok(acks.every((a) => a.message === tx.generatedAck), 'the same ACK each time');
  t.same(h.delegate.statuses(), [486], 'retransmissions are not passed to the TU');
  t.equal(h.sender.requests('INVITE').length, 1, 'no INVITE retransmission after the final response');
});

t.test('Timer D: Completed lasts 32 s on UDP, then Terminated', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  h.layer.receiveResponse(inbound(response(req, 603, 'callee')));
  t.same(tx.armedTimers, ['D']);
  h.clock.advance(31_999);
  t.equal(tx.state, 'completed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  h.layer.receiveResponse(inbound(response(req, 603, 'callee')));
  t.equal(h.tu.strays.length, 1, 'a final response after Timer D matches nothing');
});

t.test('Timer D is zero on a reliable transport: Completed ends at once', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h, true);
  h.layer.receiveResponse(inbound(response(req, 404, 'callee'), PEER_TCP));
  t.equal(h.sender.requests('ACK').length, 1, 'the ACK is still sent');
  t.equal(tx.state, 'terminated');
  t.same(h.delegate.statuses(), [404]);
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('MUST NOT generate an ACK for a 2xx; the transaction enters Accepted (RFC 6026)', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  h.layer.receiveResponse(inbound(response(req, 180, 'callee')));
  h.layer.receiveResponse(inbound(response(req, 200, 'callee')));
  t.equal(tx.state, 'accepted');
  t.same(h.delegate.statuses(), [180, 200]);
  t.equal(h.sender.requests('ACK').length, 0, 'no ACK from the transaction');
  t.same(tx.armedTimers, ['M']);
});

t.test('a 2xx in Calling also enters Accepted and stops Timers A and B', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  h.clock.advance(600);
  h.layer.receiveResponse(inbound(response(req, 200, 'callee')));
  t.equal(tx.state, 'accepted');
  t.same(tx.armedTimers, ['M']);
  h.clock.advance(31_000);
  t.equal(h.sender.requests('INVITE').length, 2, 'no retransmission in Accepted');
  t.same(h.delegate.timeouts, []);
});

t.test('MUST pass every 2xx received in Accepted to the TU, retransmissions and other forks alike', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  h.layer.receiveResponse(inbound(response(req, 200, 'fork-a')));
  h.clock.advance(500);
  h.layer.receiveResponse(inbound(response(req, 200, 'fork-a')));
  h.layer.receiveResponse(inbound(response(req, 200, 'fork-b')));
  h.layer.receiveResponse(inbound(response(req, 180, 'fork-c')));
  h.layer.receiveResponse(inbound(response(req, 486, 'fork-c')));
  t.same(h.delegate.statuses(), [200, 200, 200], 'three 2xx passed up; 1xx and non-2xx in Accepted are not');
  t.same(h.delegate.responses.map((r) => r.toTag), ['fork-a', 'fork-a', 'fork-b']);
  t.equal(h.sender.requests('ACK').length, 0, 'no ACK for any of them, not even the 486');
  t.equal(tx.state, 'accepted');
});

t.test('Timer M ends Accepted after 64*T1; later 2xx are strays for the TU', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  h.layer.receiveResponse(inbound(response(req, 200, 'callee')));
  h.clock.advance(31_999);
  t.equal(tx.state, 'accepted');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  h.layer.receiveResponse(inbound(response(req, 200, 'callee')));
  t.equal(h.delegate.responses.length, 1, 'not passed through the ended transaction');
  t.equal(h.tu.strays.length, 1, 'handed to the TU as a stray response');
});

t.test('a transport error informs the TU and terminates the transaction (§17.1.4)', async (t) => {
  const h = setup();
  const { tx } = startInvite(h);
  h.sender.failWith = (m) => (m.kind === 'request' ? new TransportError('ICMP port unreachable') : undefined);
  h.clock.advance(500); // Timer A retransmission fails
  h.sender.flushErrors();
  t.equal(h.delegate.errors.length, 1);
  t.equal(h.delegate.errors[0]?.message, 'ICMP port unreachable');
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0, 'Timers A and B cancelled');
  h.clock.advance(60_000);
  t.same(h.delegate.timeouts, [], 'no timeout after the transport error');
});

t.test('a failing ACK informs the TU and terminates the transaction', async (t) => {
  const h = setup();
  const { req, tx } = startInvite(h);
  h.sender.failWith = (m) => (m.kind === 'request' && m.method === 'ACK' ? new TransportError('no route') : undefined);
  h.layer.receiveResponse(inbound(response(req, 480, 'callee')));
  h.sender.flushErrors();
  t.equal(tx.state, 'terminated');
  t.equal(h.delegate.errors.length, 1);
  t.equal(h.clock.armed, 0, 'Timer D cancelled');
});

t.test('close() ends the transaction silently and stops its timers; it is idempotent', async (t) => {
  const h = setup();
  const { tx } = startInvite(h);
  tx.close();
  tx.close();
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  h.clock.advance(60_000);
  t.same(h.delegate.timeouts, []);
  t.equal(h.sender.requests('INVITE').length, 1);
});
