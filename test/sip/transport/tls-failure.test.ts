/**
 * describeTlsFailure (RFC 5922 §7.2): a failed outbound TLS connection is
 * reported with a reason an operator can act on.
 * Verifies: untrusted chains, a certificate for another name, expiry and
 * connection failures each get their own reason; the code is kept;
 * `verification` is true only for certificate problems.
 */
import t from 'tap';
import { describeTlsFailure } from '../../../lib/sip/transport/tls-failure.js';
import { TlsConnectError, TransportError } from '../../../lib/sip/message/errors.js';

const err = (code: string | undefined, message: string): Error & { code?: string } => Object.assign(new Error(message), code === undefined ? {} : { code });

t.test('certificate problems', async (t) => {
  for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
    const f = describeTlsFailure(err(code, 'x'), '10.0.0.3:5061', '10.0.0.3');
    t.match(f.reason, /^certificate not trusted: not signed by a configured CA/, code);
    t.equal(f.code, code);
    t.equal(f.verification, true);
  }
  const name = describeTlsFailure(err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), 'sip.example:5061', 'sip.example');
  t.match(name.reason, /^certificate does not name sip\.example/);
  t.match(describeTlsFailure(err('CERT_HAS_EXPIRED', 'x'), 'a:1', 'a').reason, /has expired/);
});

t.test('connection problems', async (t) => {
  const refused = describeTlsFailure(err('ECONNREFUSED', 'connect ECONNREFUSED'), '10.0.0.3:5061', '10.0.0.3');
  t.equal(refused.reason, 'connection refused');
  t.equal(refused.verification, false);
  t.match(describeTlsFailure(err('ECONNRESET', 'x'), 'a:1', 'a').reason, /closed during the TLS handshake/);
  t.equal(describeTlsFailure(err(undefined, 'odd'), 'a:1', 'a').reason, 'odd');
});

t.test('a TransportError whose message names the destination and the reason', async (t) => {
  const f = describeTlsFailure(err('ECONNREFUSED', 'x'), '10.0.0.3:5061', '10.0.0.3');
  t.ok(f instanceof TlsConnectError && f instanceof TransportError);
  t.equal(f.message, 'TLS to 10.0.0.3:5061 failed: connection refused');
});
