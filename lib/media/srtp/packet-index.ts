/**
 * RFC 3711 §3.3.1 / Appendix A: the receiver's estimate of a packet's 48-bit
 * index i = 2^16 * ROC + SEQ from its 16-bit sequence number.
 *
 *   if (s_l < 32768)
 *     if (SEQ - s_l > 32768) set v to (ROC-1) mod 2^32
 *     else set v to ROC
 *   else
 *     if (s_l - 32768 > SEQ) set v to (ROC+1) mod 2^32
 *     else set v to ROC
 *   return SEQ + v*65536
 *
 * s_l is the highest sequence number received so far and ROC the rollover
 * counter that goes with it. Deviation: a guess of ROC-1 while ROC is 0
 * (a packet from before the stream's first) is -1 here rather than 2^32-1,
 * so callers drop it as too old instead of authenticating it under a ROC
 * no sender reaches in practice.
 */
export function guessRoc(seq: number, highestSeq: number, roc: number): number {
  if (highestSeq < 32768) return seq - highestSeq > 32768 ? roc - 1 : roc;
  return highestSeq - 32768 > seq ? (roc + 1) % 0x100000000 : roc;
}

/** SEQ + v * 65536 with v from guessRoc (negative when before the stream start). */
export function estimatePacketIndex(seq: number, highestSeq: number, roc: number): number {
  return guessRoc(seq, highestSeq, roc) * 65536 + seq;
}
