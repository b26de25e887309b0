/*
 * The transaction layer: matching and dispatch, RFC 3261 §17.1.3, §17.2.3, §9.1, §9.2.
 *
 * Verifies:
 * - §17.1.3 responses match client transactions by top Via branch and CSeq method; a response
 *   matching none goes to the TU as a stray (RFC 6026 §7.2: the TU drops it)
 * - §17.2.3 requests with the magic cookie match by branch, sent-by and method (ACK -> INVITE);
 *   the same branch from another sent-by is another transaction
 * - §17.2.3 RFC 2543 requests (no cookie) match by Request-URI, To tag, From tag, Call-ID,
 *   CSeq and top Via; their ACK by the To tag of the response sent
 * - §17.2.3/§13.3.1.4 an ACK matching no transaction (the ACK for a 2xx) goes to the TU
 * - §9.2 a CANCEL gets its own non-INVITE server transaction and is handed to the TU with the
 *   INVITE transaction it matches (or none); CANCEL retransmissions are absorbed
 * - §9.1 buildCancel: Request-URI, Call-ID, To, From, CSeq number with CANCEL, only the top
 *   Via, the Route headers, Max-Forwards 70
 * - §17.1.1.3 an ACK for a 2xx is sent without a transaction (sendAck)
 * - §18.2.2-style symmetric response routing: server transactions answer inbound.source
 * - sendRequest refuses ACK, branches without the magic cookie, CSeq/method mismatches and
 *   duplicate transactions
 * - close() ends all transactions and leaves no timer armed
 */
import t from 'tap';
import { InvalidStateError } from '../../../lib/sip/message/errors.js';
import type { SipResponse } from '../../../lib/sip/message/index.js';
import { buildCancel, buildNon2xxAck, InviteServerTransaction } from '../../../lib/sip/transaction/index.js';
import type { Address } from '../../../lib/sip/transport/transport.js';
import { inbound, PEER_UDP, request, response, setup, wire } from './harness.js';

const NATTED: Address = { protocol: 'udp', host: '203.0.113.9', port: 61_000 };

t.test('a response goes to the client transaction of its branch and CSeq method, else to the TU as a stray', async (t) => {
  const h = setup();
  const req = request({ method: 'OPTIONS' });
  h.layer.sendRequest(req, PEER_UDP, h.delegate);
  const foreignBranch = response(request({ method: 'OPTIONS', branch: 'z9hG4bK-other' }), 200, 'x');
  const foreignMethod = response(request({ method: 'INFO' }), 200, 'x');
  h.layer.receiveResponse(inbound(foreignBranch));
  h.layer.receiveResponse(inbound(foreignMethod));
  t.equal(h.tu.strays.length, 2, 'a different branch or method matches nothing');
  h.layer.receiveResponse(inbound(response(req, 200, 'x')));
  t.same(h.delegate.statuses(), [200]);
  h.layer.receiveRequest(inbound(response(req, 200, 'x')));
  t.equal(h.tu.requests.length, 0, 'a response given to receiveRequest is ignored');
});

t.test('server transactions answer the address the request came from', async (t) => {
  const h = setup();
  const invite = request({ branch: 'z9hG4bK-nat', sentBy: '10.0.0.5:5060' });
  h.layer.receiveRequest(inbound(invite, NATTED));
  t.equal(h.sender.sent[0]?.destination, NATTED, '100 Trying to the source, not the Via sent-by');
});

t.test('request matching uses branch, sent-by and method (§17.2.3)', async (t) => {
  const h = setup();
  const a = request({ branch: 'z9hG4bK-same', sentBy: '192.0.2.10:5060' });
  const b = request({ branch: 'z9hG4bK-same', sentBy: '192.0.2.11:5060' });
  h.layer.receiveRequest(inbound(a));
  h.layer.receiveRequest(inbound(a));
  h.layer.receiveRequest(inbound(b));
  t.equal(h.tu.requests.length, 2, 'same branch from another sent-by is a new transaction');
  t.equal(h.layer.serverCount, 2);
  const options = request({ method: 'OPTIONS', branch: 'z9hG4bK-same', sentBy: '192.0.2.10:5060' });
  h.layer.receiveRequest(inbound(options));
  t.equal(h.tu.requests.length, 3, 'same branch and sent-by with another method is a new transaction');
});

t.test('an ACK matching no transaction (the ACK for a 2xx) goes to the TU', async (t) => {
  const h = setup();
  const invite = request({ branch: 'z9hG4bK-inv', sentBy: '192.0.2.10:5060' });
  h.layer.receiveRequest(inbound(invite));
  const tx = h.tu.requests[0]!.tx;
  tx.respond(response(invite, 200, 'b2bua'));
  const ack = request({ method: 'ACK', branch: 'z9hG4bK-ack-new', sentBy: '192.0.2.10:5060', toTag: 'b2bua' });
  h.layer.receiveRequest(inbound(ack));
  h.layer.receiveRequest(inbound(ack));
  t.equal(h.tu.acks.length, 2, 'each ACK for the 2xx reaches the TU (it stops its 2xx retransmissions)');
  t.equal(h.layer.serverCount, 1, 'ACK creates no transaction');
});

t.test('CANCEL gets its own transaction and the INVITE transaction it matches (§9.2)', async (t) => {
  const h = setup();
  const invite = request({ branch: 'z9hG4bK-inv', sentBy: '192.0.2.10:5060' });
  h.layer.receiveRequest(inbound(invite));
  const inviteTx = h.tu.requests[0]!.tx;
  const cancel = buildCancel(invite);
  h.layer.receiveRequest(inbound(cancel));
  t.equal(h.tu.cancels.length, 1);
  const c = h.tu.cancels[0]!;
  t.equal(c.inviteTx, inviteTx, 'matched to the INVITE server transaction');
  t.not(c.cancelTx as unknown, inviteTx as unknown, 'a transaction of its own');
  t.equal(c.cancelTx.request.method, 'CANCEL');
  t.equal(h.tu.requests.length, 1, 'CANCEL is not passed as a new request');

  c.cancelTx.respond(response(c.cancelTx.request, 200, 'b2bua'));
  inviteTx.respond(response(invite, 487, 'b2bua'));
  h.layer.receiveRequest(inbound(cancel));
  t.equal(h.tu.cancels.length, 1, 'a retransmitted CANCEL is absorbed');
  t.equal(h.sender.responses(200).length, 2, 'and answered with the last response');

  h.layer.receiveRequest(inbound(buildNon2xxAck(invite, wire(h.sender.responses(487)[0]!.message as SipResponse))));
  t.equal(inviteTx.state, 'confirmed');
  h.clock.advance(32_000);
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
});

t.test('a CANCEL matching no INVITE transaction is handed over with none (the TU answers 481)', async (t) => {
  const h = setup();
  const invite = request({ branch: 'z9hG4bK-inv', sentBy: '192.0.2.10:5060' });
  h.layer.receiveRequest(inbound(invite));
  const unrelated = buildCancel(request({ branch: 'z9hG4bK-unknown', sentBy: '192.0.2.10:5060' }));
  h.layer.receiveRequest(inbound(unrelated));
  t.equal(h.tu.cancels[0]?.inviteTx, undefined);
  const otherSentBy = buildCancel(request({ branch: 'z9hG4bK-inv', sentBy: '192.0.2.99:5060' }));
  h.layer.receiveRequest(inbound(otherSentBy));
  t.equal(h.tu.cancels[1]?.inviteTx, undefined, 'the sent-by must match too');
});

t.test('RFC 2543 requests without the magic cookie match on the §17.2.3 fallback fields', async (t) => {
  const h = setup();
  const via = ['SIP/2.0/UDP 192.0.2.20:5060'];
  const invite = request({ via, cseq: 7 });
  h.layer.receiveRequest(inbound(invite));
  h.layer.receiveRequest(inbound(request({ via, cseq: 7 })));
  t.equal(h.tu.requests.length, 1, 'an identical INVITE is a retransmission');
  t.equal(h.sender.responses(100).length, 2, 'answered with the last provisional');
  h.layer.receiveRequest(inbound(request({ via, cseq: 8 })));
  h.layer.receiveRequest(inbound(request({ via, cseq: 7, fromTag: 'other' })));
  h.layer.receiveRequest(inbound(request({ via: ['SIP/2.0/UDP 192.0.2.20:5060;branch=1'], cseq: 7 })));
  t.equal(h.tu.requests.length, 4, 'another CSeq, From tag or top Via is another transaction');

  const tx = h.tu.requests[0]!.tx;
  h.layer.receiveRequest(inbound(buildCancel(invite)));
  t.equal(h.tu.cancels[0]?.inviteTx, tx, 'CANCEL matched to the legacy INVITE');

  const busy = response(invite, 486, 'b2bua');
  tx.respond(busy);
  const wrongTag = buildNon2xxAck(invite, wire(response(invite, 486, 'someone-else')));
  h.layer.receiveRequest(inbound(wrongTag));
  t.equal(tx.state, 'completed', 'an ACK with another To tag does not match');
  t.equal(h.tu.acks.length, 1, 'and goes to the TU');
  h.layer.receiveRequest(inbound(buildNon2xxAck(invite, wire(busy))));
  t.equal(tx.state, 'confirmed', 'the ACK with the To tag of the response matches');
  h.layer.close();
  t.equal(h.clock.armed, 0);
});

t.test('buildCancel follows §9.1', async (t) => {
  const invite = request({
    cseq: 42,
    via: ['SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-c', 'SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-below'],
    route: ['<sip:edge.example;lr>'],
    body: 'v=0\r\n',
  });
  const cancel = buildCancel(invite);
  t.equal(cancel.method, 'CANCEL');
  t.equal(cancel.uri, invite.uri);
  t.equal(cancel.callId, invite.callId);
  t.equal(cancel.get('From'), invite.get('From'));
  t.equal(cancel.get('To'), invite.get('To'));
  t.equal(cancel.get('CSeq'), '42 CANCEL');
  t.same(cancel.getAll('Via'), ['SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-c'], 'only the top Via');
  t.same(cancel.getAll('Route'), ['<sip:edge.example;lr>']);
  t.equal(cancel.get('Max-Forwards'), '70');
  t.equal(cancel.body.length, 0);
  t.throws(() => buildCancel(request({ method: 'OPTIONS' })), TypeError);
});

t.test('sendAck sends an ACK for a 2xx without a transaction', async (t) => {
  const h = setup();
  const ack = request({ method: 'ACK', branch: 'z9hG4bK-ack2xx', toTag: 'uas' });
  h.layer.sendAck(ack, PEER_UDP);
  t.equal(h.sender.sent.length, 1);
  t.equal(h.sender.sent[0]?.destination, PEER_UDP);
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0, 'no retransmission timer');
  t.throws(() => h.layer.sendAck(request({ method: 'BYE' }), PEER_UDP), TypeError);
});

t.test('sendRequest refuses what it cannot run as a transaction', async (t) => {
  const h = setup();
  t.throws(() => h.layer.sendRequest(request({ method: 'ACK' }), PEER_UDP, h.delegate), TypeError, 'ACK');
  t.throws(() => h.layer.sendRequest(request({ branch: 'abc123' }), PEER_UDP, h.delegate), TypeError, 'branch without z9hG4bK');
  const mismatched = request({ method: 'BYE' });
  mismatched.set('CSeq', '1 INVITE');
  t.throws(() => h.layer.sendRequest(mismatched, PEER_UDP, h.delegate), TypeError, 'CSeq method mismatch');
  h.layer.sendRequest(request(), PEER_UDP, h.delegate);
  t.throws(() => h.layer.sendRequest(request(), PEER_UDP, h.delegate), InvalidStateError, 'duplicate branch');
  t.equal(h.sender.sent.length, 1, 'nothing sent for refused requests');
  h.layer.close();
});

t.test('close() ends every transaction, stops all timers, and ignores later input', async (t) => {
  const h = setup();
  h.layer.sendRequest(request(), PEER_UDP, h.delegate);
  h.layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK-opt' }), PEER_UDP, h.delegate);
  h.layer.receiveRequest(inbound(request({ branch: 'z9hG4bK-in', sentBy: '192.0.2.10:5060' })));
  const inviteTx = h.tu.requests[0]!.tx;
  if (!(inviteTx instanceof InviteServerTransaction)) throw new Error('expected INVITE');
  inviteTx.respond(response(inviteTx.request, 486, 'b2bua'));
  t.equal(h.layer.size, 3);
  t.ok(h.clock.armed > 0);
  h.layer.close();
  h.layer.close();
  t.equal(h.layer.size, 0);
  t.equal(h.clock.armed, 0);
  t.equal(inviteTx.state, 'terminated');
  const before = h.sender.sent.length;
  h.layer.receiveRequest(inbound(request({ branch: 'z9hG4bK-late', sentBy: '192.0.2.10:5060' })));
  h.clock.advance(60_000);
  t.equal(h.sender.sent.length, before, 'nothing sent after close');
  t.same(h.delegate.timeouts, [], 'no timeouts reported');
  t.throws(() => h.layer.sendRequest(request({ branch: 'z9hG4bK-new' }), PEER_UDP, h.delegate), InvalidStateError);
});
