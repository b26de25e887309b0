import type { SipMessage } from './message.js';

/**
 * Serializes a message with CRLF line ends and a Content-Length that always
 * matches the body (RFC 3261 §7.4.1, §18.3: mandatory on stream transports).
 */
export function serialize(msg: SipMessage): Buffer {
  let head = `${msg.startLine()}\r\n`;
  for (const h of msg.headers) {
    if (h.name === 'Content-Length') continue;
    head += `${h.name}: ${h.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  const headBuf = Buffer.from(head, 'utf8');
  return msg.body.length === 0 ? headBuf : Buffer.concat([headBuf, msg.body]);
}
