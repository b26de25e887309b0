/*
 * Non-INVITE client transaction: RFC 3261 §17.1.2.
 * Driven through the real TransactionLayer, a fake transport and virtual time.
 *
 * Verifies:
 * - §17.1.2.2 Timer E starts at T1 on unreliable transports, doubles and caps at T2
 *   (retransmissions at 0.5, 1.5, 3.5, 7.5, 11.5, ... 31.5 s)
 * - §17.1.2.2 Timer F fires at 64*T1: the TU is told of the timeout, the transaction ends
 * - §17.1.2.2 a provisional response -> Proceeding; Timer E continues, reset to T2 each time
 * - §17.1.2.2 reliable transports: no Timer E, Timer F still runs; Timer K is zero
 * - §17.1.2.2 a final response -> Completed, passed up once; retransmissions are absorbed;
 *   Timer K = T4 on UDP
 * - §17.1.3 a CANCEL sharing the INVITE's branch has its own transaction (CSeq method)
 * - §17.1.4 a transport error informs the TU and terminates the transaction
 * - no timer is left armed once the transaction has ended
 */
import t from 'tap';
import { TransportError } from '../../../lib/sip/message/errors.js';
import { buildCancel, NonInviteClientTransaction } from '../../../lib/sip/transaction/index.js';
import { inbound, PEER_TCP, PEER_UDP, RecordingDelegate, request, response, setup, type Harness } from './harness.js';

function startOptions(h: Harness, tcp = false) {
  const req = request({ method: 'OPTIONS', transport: tcp ? 'TCP' : 'UDP' });
  const tx = h.layer.sendRequest(req, tcp ? PEER_TCP : PEER_UDP, h.delegate);
  if (!(tx instanceof NonInviteClientTransaction)) throw new Error('expected a non-INVITE client transaction');
  return { req, tx };
}

t.test('MUST retransmit on Timer E, starting at T1, doubling, capped at T2', async (t) => {
  const h = setup();
  const { tx } = startOptions(h);
  h.clock.advance(31_999);
  t.same(
    h.sender.times(h.sender.requests('OPTIONS')),
    [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500],
    'intervals 500, 1000, 2000, 4000, then T2 = 4000',
  );
  t.equal(tx.state, 'trying');
});

t.test('MUST inform the TU of a timeout when Timer F fires at 64*T1', async (t) => {
  const h = setup();
  const { tx } = startOptions(h);
  h.clock.advance(32_000);
  t.same(h.delegate.timeouts, [32_000]);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  h.clock.advance(10_000);
  t.equal(h.sender.requests('OPTIONS').length, 11, 'no retransmission after Timer F');
});

t.test('Timer E follows a configured T2', async (t) => {
  const h = setup({ t2: 2000 });
  startOptions(h);
  h.clock.advance(10_000);
  t.same(h.sender.times(h.sender.requests('OPTIONS')), [0, 500, 1500, 3500, 5500, 7500, 9500]);
});

t.test('in Proceeding Timer E keeps running and is reset to T2 each time it fires', async (t) => {
  const h = setup();
  const { req, tx } = startOptions(h);
  h.clock.advance(600); // after the retransmission at 500, Timer E is due at 1500
  h.layer.receiveResponse(inbound(response(req, 100)));
  t.equal(tx.state, 'proceeding');
  t.same(h.delegate.statuses(), [100], 'the provisional response is passed up');
  h.clock.advance(31_399);
  t.same(
    h.sender.times(h.sender.requests('OPTIONS')),
    [0, 500, 1500, 5500, 9500, 13_500, 17_500, 21_500, 25_500, 29_500],
    'the pending Timer E fires at 1.5 s, then every T2',
  );
  h.clock.advance(1);
  t.same(h.delegate.timeouts, [32_000], 'Timer F still fires in Proceeding');
  t.equal(h.clock.armed, 0);
});

t.test('a final response completes the transaction: passed up once, Timer K = T4 on UDP', async (t) => {
  const h = setup();
  const { req, tx } = startOptions(h);
  h.layer.receiveResponse(inbound(response(req, 180, 'uas')));
  h.layer.receiveResponse(inbound(response(req, 200, 'uas')));
  t.equal(tx.state, 'completed');
  t.same(tx.armedTimers, ['K'], 'Timers E and F cancelled');
  h.layer.receiveResponse(inbound(response(req, 200, 'uas')));
  h.layer.receiveResponse(inbound(response(req, 180, 'uas')));
  t.same(h.delegate.statuses(), [180, 200], 'retransmissions in Completed are absorbed');
  h.clock.advance(4999);
  t.equal(tx.state, 'completed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  t.equal(h.sender.requests('OPTIONS').length, 1, 'no retransmission after the final response');
});

t.test('a final response in Trying goes straight to Completed', async (t) => {
  const h = setup();
  const { req, tx } = startOptions(h);
  h.layer.receiveResponse(inbound(response(req, 404, 'uas')));
  t.equal(tx.state, 'completed');
  t.same(h.delegate.statuses(), [404]);
});

t.test('MUST NOT start Timer E on a reliable transport; Timer F runs; Timer K is zero', async (t) => {
  const h = setup();
  const { req, tx } = startOptions(h, true);
  t.same(tx.armedTimers, ['F']);
  h.clock.advance(20_000);
  t.equal(h.sender.requests('OPTIONS').length, 1);
  h.layer.receiveResponse(inbound(response(req, 200, 'uas'), PEER_TCP));
  t.equal(tx.state, 'terminated', 'Completed ends at once');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);

  const h2 = setup();
  startOptions(h2, true);
  h2.clock.advance(32_000);
  t.same(h2.delegate.timeouts, [32_000], 'Timer F on TCP');
  t.equal(h2.clock.armed, 0);
});

t.test('a CANCEL sharing the INVITE branch has its own transaction, matched by CSeq method', async (t) => {
  const h = setup();
  const invite = request();
  const inviteDelegate = new RecordingDelegate(h.clock);
  h.layer.sendRequest(invite, PEER_UDP, inviteDelegate);
  h.layer.receiveResponse(inbound(response(invite, 180, 'uas')));
  const cancel = buildCancel(invite);
  const cancelTx = h.layer.sendRequest(cancel, PEER_UDP, h.delegate);
  t.equal(h.layer.clientCount, 2);
  h.layer.receiveResponse(inbound(response(cancel, 200, 'uas')));
  h.layer.receiveResponse(inbound(response(invite, 487, 'uas')));
  t.same(h.delegate.statuses(), [200], 'the 200 for CANCEL goes to the CANCEL transaction');
  t.same(inviteDelegate.statuses(), [180, 487], 'the 487 goes to the INVITE transaction');
  t.equal(cancelTx.state, 'completed');
  t.equal(h.sender.requests('ACK').length, 1, 'the 487 is ACKed');
  h.clock.advance(32_000);
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('a transport error informs the TU and terminates the transaction (§17.1.4)', async (t) => {
  const h = setup();
  const { tx } = startOptions(h);
  h.sender.failWith = () => new TransportError('network unreachable');
  h.clock.advance(500);
  h.sender.flushErrors();
  t.equal(h.delegate.errors.length, 1);
  t.equal(tx.state, 'terminated');
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  h.clock.advance(60_000);
  t.same(h.delegate.timeouts, []);
});
