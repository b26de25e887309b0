/*
 * Non-INVITE server transaction: RFC 3261 §17.2.2 (with RFC 6026 §8.8 for transport errors).
 * Driven through the real TransactionLayer, a fake transport and virtual time.
 *
 * Verifies:
 * - §17.2.2 the request is passed to the TU once; retransmissions in Trying are discarded
 *   (nothing to resend yet)
 * - §17.2.2 a provisional response -> Proceeding; retransmissions get the last provisional
 * - §17.2.2 a final response -> Completed; retransmissions get the final response again;
 *   Timer J = 64*T1 on UDP, zero on TCP
 * - §17.2.2 further responses from the TU in Completed are discarded; after termination
 *   respond() throws InvalidStateError
 * - RFC 6026 §8.8 a transport error is reported and the state does not change
 * - no timer is left armed once the transaction has ended
 */
import t from 'tap';
import { InvalidStateError, TransportError } from '../../../lib/sip/message/errors.js';
import { NonInviteServerTransaction } from '../../../lib/sip/transaction/index.js';
import { inbound, PEER_TCP, PEER_UDP, request, response, setup, type Harness } from './harness.js';

function receiveOptions(h: Harness, tcp = false) {
  const req = request({
    method: 'OPTIONS',
    branch: 'z9hG4bK-pbx-opt',
    sentBy: tcp ? '192.0.2.10:40123' : '192.0.2.10:5060',
    transport: tcp ? 'TCP' : 'UDP',
  });
  h.layer.receiveRequest(inbound(req, tcp ? PEER_TCP : PEER_UDP));
  const tx = h.tu.requests[h.tu.requests.length - 1]?.tx;
  if (!(tx instanceof NonInviteServerTransaction)) throw new Error('expected a non-INVITE server transaction');
  return { req, tx };
}

t.test('the request is passed up once; retransmissions in Trying are discarded', async (t) => {
  const h = setup();
  const { req, tx } = receiveOptions(h);
  t.equal(tx.state, 'trying');
  h.clock.advance(500);
  h.layer.receiveRequest(inbound(req));
  t.equal(h.tu.requests.length, 1);
  t.equal(h.sender.sent.length, 0, 'no response sent (there is none yet)');
  t.equal(h.clock.armed, 0);
});

t.test('a provisional response moves Trying to Proceeding; retransmissions get it again', async (t) => {
  const h = setup();
  const { req, tx } = receiveOptions(h);
  tx.respond(response(req, 100));
  t.equal(tx.state, 'proceeding');
  h.layer.receiveRequest(inbound(req));
  t.equal(h.sender.responses(100).length, 2);
  t.equal(h.tu.requests.length, 1);
});

t.test('a final response completes: retransmissions get it again, Timer J = 64*T1 on UDP', async (t) => {
  const h = setup();
  const { req, tx } = receiveOptions(h);
  tx.respond(response(req, 100));
  tx.respond(response(req, 200, 'b2bua'));
  t.equal(tx.state, 'completed');
  t.same(tx.armedTimers, ['J']);
  h.clock.advance(1000);
  h.layer.receiveRequest(inbound(req));
  t.same(h.sender.times(h.sender.responses(200)), [0, 1000], 'the final response again');
  t.ok(h.sender.sent.every((s) => s.destination === PEER_UDP), 'to the source of the request');
  t.equal(h.tu.requests.length, 1);
  h.clock.advance(30_999);
  t.equal(tx.state, 'completed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('Timer J is zero on a reliable transport', async (t) => {
  const h = setup();
  const { req, tx } = receiveOptions(h, true);
  tx.respond(response(req, 200, 'b2bua'));
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  t.equal(h.sender.sent[0]?.destination, PEER_TCP);
});

t.test('responses from the TU in Completed MUST be discarded; after termination respond() throws', async (t) => {
  const h = setup();
  const { req, tx } = receiveOptions(h);
  tx.respond(response(req, 200, 'b2bua'));
  tx.respond(response(req, 500, 'b2bua'));
  t.equal(h.sender.responses(500).length, 0, 'discarded');
  h.layer.receiveRequest(inbound(req));
  t.equal(h.sender.responses(200).length, 2, 'the first final response stays the one resent');
  h.clock.advance(32_000);
  t.throws(() => tx.respond(response(req, 200, 'b2bua')), InvalidStateError);
  t.equal(h.clock.armed, 0);
});

t.test('a transport error is reported and the state does not change (RFC 6026 §8.8)', async (t) => {
  const h = setup();
  const { req, tx } = receiveOptions(h);
  const errors: Error[] = [];
  tx.delegate = { onTransportError: (err) => errors.push(err) };
  h.sender.failWith = () => new TransportError('connection reset');
  tx.respond(response(req, 200, 'b2bua'));
  h.sender.flushErrors();
  t.equal(errors.length, 1);
  t.equal(tx.state, 'completed');
  h.clock.advance(32_000);
  t.equal(tx.state, 'terminated', 'Timer J still ends it');
  t.equal(h.clock.armed, 0);
});
