import type { SocketPair } from './port-pool.js';

/**
 * One side of an anchored media stream: the socket pair callrec announced
 * to that party, and where that party's media is sent. The address starts
 * as the one in the party's SDP and latches onto the source of the first
 * packet (symmetric RTP, RFC 4961), which is what gets through NAT.
 */
export class RelayEndpoint {
  remoteHost: string | undefined;
  remotePort = 0;
  remoteRtcpPort = 0;
  private latchedRtp = false;
  private latchedRtcp = false;
  /** SDP said c=0.0.0.0 / inactive / sendonly: the party sends nothing on purpose. */
  onHold = false;
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  /** performance.now() of the last RTP packet received from this party. */
  lastPacketAt = 0;

  constructor(readonly pair: SocketPair, readonly host: string) {}

  get localPort(): number {
    return this.pair.rtpPort;
  }

  /** From the party's SDP (offer, answer, re-INVITE): a new address ends the latch. */
  setRemote(host: string, port: number, rtcpPort: number, onHold: boolean): void {
    if (host !== this.remoteHost || port !== this.remotePort) {
      this.latchedRtp = false;
      this.latchedRtcp = false;
    }
    this.remoteHost = host;
    this.remotePort = port;
    this.remoteRtcpPort = rtcpPort;
    this.onHold = onHold;
  }

  /** Latches once per SDP address; cheap enough for every packet. */
  latchRtp(address: string, port: number): void {
    if (this.latchedRtp) return;
    this.latchedRtp = true;
    this.remoteHost = address;
    this.remotePort = port;
  }

  latchRtcp(address: string, port: number): void {
    if (this.latchedRtcp) return;
    this.latchedRtcp = true;
    this.remoteRtcpPort = port;
    if (this.remoteHost === undefined) this.remoteHost = address;
  }
}
