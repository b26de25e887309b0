import type { MediaSocket } from './packet-io/media-socket.js';

/** One 20 ms frame: 160 bytes of G.711 or G.722 (RFC 3551 §4.5: G.722's RTP clock is 8 kHz). */
const FRAME_BYTES = 160;
const FRAME_MS = 20;

/**
 * Plays codec bytes (already encoded, SPEC P6: "encoded once at start") to
 * one party as an RTP stream of its own (own SSRC, sequence and timestamp,
 * marker on the first packet: RFC 3550 §5.1), paced at 20 ms against the
 * clock so timer jitter does not accumulate.
 */
export class PromptPlayer {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly socket: Pick<MediaSocket, 'send'>,
    private readonly destination: () => { host: string; port: number } | undefined,
    private readonly payloadType: number,
    private readonly ssrc: number,
  ) {}

  /** Resolves when the whole buffer was sent (or the player was stopped). */
  play(audio: Buffer): Promise<void> {
    const frames = Math.ceil(audio.length / FRAME_BYTES);
    const seq0 = (this.ssrc >>> 16) & 0xffff;
    const ts0 = this.ssrc ^ 0x5a5a5a5a;
    const start = performance.now();
    return new Promise((resolve) => {
      let i = 0;
      const tick = (): void => {
        if (this.stopped) {
          resolve();
          return;
        }
        const due = Math.min(frames, Math.floor((performance.now() - start) / FRAME_MS) + 1);
        for (; i < due; i++) this.sendFrame(audio, i, seq0, ts0);
        if (i >= frames) {
          resolve();
          return;
        }
        this.timer = setTimeout(tick, Math.max(1, start + i * FRAME_MS - performance.now()));
      };
      tick();
    });
  }

  private sendFrame(audio: Buffer, i: number, seq0: number, ts0: number): void {
    const dest = this.destination();
    if (dest === undefined) return;
    const packet = Buffer.alloc(12 + FRAME_BYTES, audio[audio.length - 1] ?? 0);
    packet[0] = 0x80;
    packet[1] = (i === 0 ? 0x80 : 0) | (this.payloadType & 0x7f);
    packet.writeUInt16BE((seq0 + i) & 0xffff, 2);
    packet.writeUInt32BE((ts0 + i * FRAME_BYTES) >>> 0, 4);
    packet.writeUInt32BE(this.ssrc >>> 0, 8);
    audio.copy(packet, 12, i * FRAME_BYTES, Math.min(audio.length, (i + 1) * FRAME_BYTES));
    this.socket.send(packet, dest.port, dest.host);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}
