/** Typed errors of the SIP layer. None of them may escape a socket handler. */

/** Malformed input; `offset` points into the raw message where known. */
export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(
    readonly reason: string,
    readonly offset = -1,
    /** The status a UAS answers with when the message was a request (RFC 3261 §21.4.1 / §8.2.1). */
    readonly status = 400,
  ) {
    super(offset >= 0 ? `${reason} (at offset ${offset})` : reason);
  }
}

/** A request that can be parsed but must be refused with a given status. */
export class SipError extends Error {
  override readonly name = 'SipError';
  constructor(readonly status: number, readonly reason: string) {
    super(`${status} ${reason}`);
  }
}

export class InvalidStateError extends Error {
  override readonly name = 'InvalidStateError';
}

export class TransportError extends Error {
  override readonly name = 'TransportError';
}

/**
 * A TLS connection that could not be established: the peer's certificate
 * did not verify (RFC 5922 §7: against the configured trust anchors and the
 * peer's host name), or the handshake or connection failed. `reason` says
 * which in words an operator can act on; `code` is OpenSSL's or Node's.
 */
export class TlsConnectError extends TransportError {
  constructor(
    readonly destination: string,
    readonly reason: string,
    readonly code: string | undefined,
    readonly verification: boolean,
  ) {
    super(`TLS to ${destination} failed: ${reason}`);
  }
}
