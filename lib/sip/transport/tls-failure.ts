import { TlsConnectError } from '../message/errors.js';

/** OpenSSL verification results (X509_V_ERR_*) that mean "no trusted CA signed it". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG', 'INVALID_CA', 'CERT_REJECTED',
]);

/**
 * Turns the error of a failed outbound TLS connection into a TlsConnectError
 * whose reason names what went wrong. RFC 5922 §7.2: the peer's certificate
 * must chain to a trusted anchor and name the host we connected to; a
 * failure of either is reported as such, so the operator knows it is the
 * peer's certificate (or the configured `tls.ca`), not the network.
 */
export function describeTlsFailure(err: Error & { code?: string }, destination: string, expectedName: string): TlsConnectError {
  const code = err.code;
  if (code !== undefined && UNTRUSTED.has(code)) {
    return new TlsConnectError(destination, `certificate not trusted: not signed by a configured CA (${code}: ${err.message})`, code, true);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new TlsConnectError(destination, `certificate does not name ${expectedName} (${err.message})`, code, true);
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return new TlsConnectError(destination, `certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not yet valid'} (${code})`, code, true);
  }
  if (code === 'ECONNREFUSED') return new TlsConnectError(destination, 'connection refused', code, false);
  if (code === 'ECONNRESET' || code === 'EPIPE') return new TlsConnectError(destination, `connection closed during the TLS handshake (${code})`, code, false);
  return new TlsConnectError(destination, code !== undefined ? `${err.message} (${code})` : err.message, code, false);
}
