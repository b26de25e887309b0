import { ParseError } from '../message/errors.js';
import { findHeaderEnd, MAX_MESSAGE_BYTES } from '../message/parser.js';

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$/im;

/**
 * Splits a TCP/TLS byte stream into SIP messages by Content-Length
 * (RFC 3261 §18.3), across partial reads and pipelined messages. Sans-I/O:
 * `push(bytes)` returns the complete messages now available.
 */
export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  /** CRLF keep-alives seen (RFC 5626 §3.5.1 double-CRLF ping). */
  pings = 0;

  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      let start = 0;
      while (start + 1 < this.buffer.length && this.buffer[start] === 0x0d && this.buffer[start + 1] === 0x0a) start += 2;
      if (start > 0) {
        if (start >= 4) this.pings++;
        this.buffer = this.buffer.subarray(start);
      }
      if (this.buffer.length === 0) break;
      const headerEnd = findHeaderEnd(this.buffer);
      if (headerEnd < 0) {
        if (this.buffer.length > MAX_MESSAGE_BYTES) throw new ParseError('header section exceeds the size limit', MAX_MESSAGE_BYTES, 513);
        break;
      }
      const head = this.buffer.toString('latin1', 0, headerEnd);
      const m = CONTENT_LENGTH.exec(head);
      if (!m) throw new ParseError('Content-Length is mandatory on stream transports (RFC 3261 §18.3)');
      const total = headerEnd + Number(m[1]);
      if (total > MAX_MESSAGE_BYTES) throw new ParseError('message exceeds the size limit', MAX_MESSAGE_BYTES, 513);
      if (this.buffer.length < total) break;
      out.push(Buffer.from(this.buffer.subarray(0, total)));
      this.buffer = this.buffer.subarray(total);
    }
    return out;
  }
}
