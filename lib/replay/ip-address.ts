import { isIP } from 'node:net';

/** Dotted-quad text of 4 bytes at `offset`. */
export function formatIpv4(b: Buffer, offset: number): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/**
 * RFC 5952 §4 text of 16 bytes at `offset`: lower-case hex, leading zeros
 * dropped, the longest run (first on a tie) of two or more zero groups as "::".
 */
export function formatIpv6(b: Buffer, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(offset + i * 2));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/**
 * The same text form for an address written by hand (SDP c=, SIP Via):
 * IPv6 compressed as formatIpv6 does, brackets removed; other strings as given.
 */
export function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 6) return bare;
  // The WHATWG URL serializer compresses IPv6 exactly as RFC 5952 §4 does.
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
}
