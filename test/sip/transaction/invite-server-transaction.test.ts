/*
 * INVITE server transaction: RFC 3261 §17.2.1 with RFC 6026 §7.1 / §8.5-§8.8.
 * Driven through the real TransactionLayer, a fake transport and virtual time.
 *
 * Verifies:
 * - §17.2.1 100 Trying is sent at once (a B2BUA never answers within 200 ms), to the source
 * - §17.2.1 INVITE retransmissions in Proceeding get the last provisional response again and
 *   are not passed to the TU
 * - §17.2.1 300-699 -> Completed: Timer G retransmits from T1, doubling, capped at T2 (UDP
 *   only); Timer H at 64*T1 tells the TU that the ACK never came
 * - §17.2.1 INVITE retransmissions in Completed get the final response again
 * - §17.2.1 ACK -> Confirmed: Timer G stops, Timer I = T4 (zero on TCP); further ACKs and
 *   INVITEs are absorbed
 * - RFC 6026 §8.5/§8.7 2xx -> Accepted with Timer L = 64*T1; the transaction MUST NOT
 *   retransmit the 2xx; INVITE retransmissions are absorbed; the TU may send more 2xx; an ACK
 *   that matches in Accepted goes to the TU
 * - responses the state does not allow throw InvalidStateError
 * - RFC 6026 §8.8 a transport error is reported and the transaction stays in its state
 * - no timer is left armed once the transaction has ended
 *
 * Not verified here: 2xx retransmission (the TU's, §13.3.1.4); RFC 3263 response fail-over.
 */
import t from 'tap';
import { InvalidStateError, TransportError } from '../../../lib/sip/message/errors.js';
import { buildNon2xxAck, InviteServerTransaction } from '../../../lib/sip/transaction/index.js';
import { inbound, PEER_TCP, PEER_UDP, request, response, setup, wire, type Harness } from './harness.js';

const BRANCH = 'z9hG4bK-pbx-1';

function receiveInvite(h: Harness, tcp = false) {
  const invite = request({ branch: BRANCH, sentBy: tcp ? '192.0.2.10:40123' : '192.0.2.10:5060', transport: tcp ? 'TCP' : 'UDP' });
  const source = tcp ? PEER_TCP : PEER_UDP;
  h.layer.receiveRequest(inbound(invite, source));
  const tx = h.tu.requests[0]?.tx;
  if (!(tx instanceof InviteServerTransaction)) throw new Error('expected an INVITE server transaction');
  const timeouts: number[] = [];
  const errors: Error[] = [];
  tx.delegate = { onTimeout: () => timeouts.push(h.clock.now()), onTransportError: (err) => errors.push(err) };
  return { invite, source, tx, timeouts, errors };
}

t.test('MUST send 100 Trying at once and pass the INVITE to the TU', async (t) => {
  const h = setup();
  const { tx } = receiveInvite(h);
  const trying = h.sender.responses(100);
  t.equal(trying.length, 1);
  t.equal(trying[0]?.at, 0, 'without waiting 200 ms');
  t.equal(trying[0]?.destination, PEER_UDP, 'to the address the request came from');
  const msg = trying[0]!.message;
  t.equal(msg.get('Via'), `SIP/2.0/UDP 192.0.2.10:5060;branch=${BRANCH}`);
  t.equal(msg.toTag, undefined, '100 Trying carries no To tag');
  t.equal(tx.state, 'proceeding');
  t.equal(h.tu.requests.length, 1);
  t.equal(h.layer.serverCount, 1);
});

t.test('INVITE retransmissions in Proceeding get the last provisional response and are not passed up', async (t) => {
  const h = setup();
  const { invite, tx } = receiveInvite(h);
  h.clock.advance(500);
  h.layer.receiveRequest(inbound(invite));
  t.equal(h.sender.responses(100).length, 2, '100 Trying again');
  tx.respond(response(invite, 180, 'b2bua'));
  h.clock.advance(1000);
  h.layer.receiveRequest(inbound(invite));
  t.equal(h.sender.responses(180).length, 2, 'the 180 again, not the 100');
  t.equal(h.sender.responses(100).length, 2);
  t.equal(h.tu.requests.length, 1, 'the TU saw the INVITE once');
  t.equal(h.clock.armed, 0, 'no timers in Proceeding');
});

t.test('non-2xx final: Timer G retransmits from T1, doubling, capped at T2; Timer H informs the TU', async (t) => {
  const h = setup();
  const { invite, tx, timeouts } = receiveInvite(h);
  tx.respond(response(invite, 486, 'b2bua'));
  t.equal(tx.state, 'completed');
  h.clock.advance(31_999);
  t.same(
    h.sender.times(h.sender.responses(486)),
    [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500],
    'intervals 500, 1000, 2000, 4000, then T2 = 4000',
  );
  t.same(timeouts, []);
  h.clock.advance(1);
  t.same(timeouts, [32_000], 'Timer H: the ACK never came');
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('INVITE retransmissions in Completed get the final response again', async (t) => {
  const h = setup();
  const { invite, tx } = receiveInvite(h);
  tx.respond(response(invite, 603, 'b2bua'));
  h.clock.advance(100);
  h.layer.receiveRequest(inbound(invite));
  t.same(h.sender.times(h.sender.responses(603)), [0, 100]);
  t.equal(h.tu.requests.length, 1);
});

t.test('an ACK moves Completed to Confirmed: Timer G stops, Timer I = T4, later ACKs are absorbed', async (t) => {
  const h = setup();
  const { invite, tx } = receiveInvite(h);
  const busy = response(invite, 486, 'b2bua');
  tx.respond(busy);
  h.clock.advance(600);
  const ack = buildNon2xxAck(invite, wire(busy));
  h.layer.receiveRequest(inbound(ack));
  t.equal(tx.state, 'confirmed');
  t.same(tx.armedTimers, ['I'], 'Timers G and H cancelled');
  h.layer.receiveRequest(inbound(ack));
  h.layer.receiveRequest(inbound(invite));
  t.same(h.tu.acks, [], 'ACKs for the non-2xx are not passed to the TU');
  h.clock.advance(4999);
  t.equal(h.sender.responses(486).length, 2, 'the original and one retransmission, nothing in Confirmed');
  t.equal(tx.state, 'confirmed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('MUST NOT start Timer G on a reliable transport; Timer I is zero', async (t) => {
  const h = setup();
  const { invite, tx } = receiveInvite(h, true);
  const busy = response(invite, 486, 'b2bua');
  tx.respond(busy);
  t.same(tx.armedTimers, ['H']);
  h.clock.advance(10_000);
  t.equal(h.sender.responses(486).length, 1);
  t.ok(h.sender.sent.every((s) => s.destination === PEER_TCP), 'responses go back to the connection');
  h.layer.receiveRequest(inbound(buildNon2xxAck(invite, wire(busy)), PEER_TCP));
  t.equal(tx.state, 'terminated', 'Confirmed ends at once');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('Timer H fires at 64*T1 on a reliable transport too', async (t) => {
  const h = setup();
  const { invite, tx, timeouts } = receiveInvite(h, true);
  tx.respond(response(invite, 480, 'b2bua'));
  h.clock.advance(32_000);
  t.same(timeouts, [32_000]);
  t.equal(h.clock.armed, 0);
});

t.test('2xx: Accepted with Timer L; MUST NOT retransmit the 2xx; INVITE retransmissions are absorbed', async (t) => {
  const h = setup();
  const { invite, tx } = receiveInvite(h);
  const ok = response(invite, 200, 'b2bua');
  tx.respond(ok);
  t.equal(tx.state, 'accepted');
  t.same(tx.armedTimers, ['L']);
  h.clock.advance(500);
  h.layer.receiveRequest(inbound(invite));
  h.clock.advance(1000);
  h.layer.receiveRequest(inbound(invite));
  t.equal(h.tu.requests.length, 1, 'retransmitted INVITEs are not passed to the TU');
  t.equal(h.sender.responses(200).length, 1, 'and not answered by the transaction');
  tx.respond(ok);
  t.equal(h.sender.responses(200).length, 2, 'the TU may send the 2xx again through the transaction');
  h.clock.advance(31_999 - 1500);
  t.equal(h.sender.responses(200).length, 2, 'no 2xx retransmission by the transaction');
  t.equal(tx.state, 'accepted');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated', 'Timer L');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('an ACK matching a transaction in Accepted goes to the TU (RFC 6026 §7.1)', async (t) => {
  const h = setup();
  const { invite, tx } = receiveInvite(h);
  tx.respond(response(invite, 200, 'b2bua'));
  const ack = request({ method: 'ACK', branch: BRANCH, sentBy: '192.0.2.10:5060', toTag: 'b2bua' });
  h.layer.receiveRequest(inbound(ack));
  t.equal(h.tu.acks.length, 1);
  t.equal(tx.state, 'accepted');
});

t.test('responses the state does not allow throw InvalidStateError', async (t) => {
  const h = setup();
  const { invite, tx } = receiveInvite(h);
  tx.respond(response(invite, 486, 'b2bua'));
  t.throws(() => tx.respond(response(invite, 200, 'b2bua')), InvalidStateError, 'no 2xx after a non-2xx');
  t.throws(() => tx.respond(response(invite, 180, 'b2bua')), InvalidStateError, 'no 1xx after a final response');

  const h2 = setup();
  const second = receiveInvite(h2);
  second.tx.respond(response(second.invite, 200, 'b2bua'));
  t.throws(() => second.tx.respond(response(second.invite, 486, 'b2bua')), InvalidStateError, 'only 2xx in Accepted');
  t.throws(() => second.tx.respond(response(second.invite, 99)), RangeError, 'status out of range');
  second.tx.close();
  t.throws(() => second.tx.respond(response(second.invite, 200, 'b2bua')), InvalidStateError, 'nothing after termination');
  t.equal(h2.clock.armed, 0);
});

t.test('a transport error is reported to the TU and the transaction stays in its state (RFC 6026 §8.8)', async (t) => {
  const h = setup();
  const { invite, tx, errors, timeouts } = receiveInvite(h);
  h.sender.failWith = (m) => (m.kind === 'response' && m.status === 486 ? new TransportError('host unreachable') : undefined);
  tx.respond(response(invite, 486, 'b2bua'));
  h.sender.flushErrors();
  t.equal(errors.length, 1);
  t.equal(tx.state, 'completed', 'remains in Completed');
  h.layer.receiveRequest(inbound(invite));
  t.equal(h.tu.requests.length, 1, 'so a retransmitted INVITE still matches it');
  h.clock.advance(32_000);
  t.same(timeouts, [32_000], 'Timer H still ends it');
  t.equal(tx.state, 'terminated');
  t.equal(h.clock.armed, 0);
});
