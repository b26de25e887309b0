import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaptureArea } from '../capture-format.js';
import type { ForwardRule, MediaSocket, MediaSocketFactory, PacketHandler, PacketSource, RelayedHandler } from './media-socket.js';

/** The native module (native/media_io.c); its header comment describes the shared areas. */
interface MediaIoAddon {
  /** Returns which threads run: the sender (else sendmmsg inline, before flush returns) and the reader (else libuv polls). */
  init(callback: (count: number) => void, recvData: ArrayBuffer, recvMeta: ArrayBuffer, sendData: ArrayBuffer, sendMeta: ArrayBuffer, control: ArrayBuffer, sendThread: boolean, readerThread: boolean): { sendThread: boolean; readerThread: boolean };
  open(host: string, port: number, receiveBufferBytes: number): number;
  close(fd: number): void;
  flush(): void;
  parseAddress(host: string, out: Int32Array): number;
  formatAddress(family: number, a0: number, a1: number, a2: number, a3: number): string;
  forward(inFd: number, outFd: number, host: string, port: number, slowPayloadType: number, captureRequired: boolean, notifySource: boolean): boolean;
  unforward(inFd: number): void;
  capture(inFd: number, payload?: Uint8Array, index?: Uint8Array, cursor?: Int32Array, baseOffset?: number): boolean;
  forwarded(fd: number, out: Float64Array): void;
  constants: Record<'CTL_FORWARDED' | 'RECV_SLOTS' | 'SEND_SLOTS' | 'SLOT_BYTES' | 'RECV_FIELDS' | 'SEND_FIELDS' | 'CONTROL_FIELDS' | 'CTL_SEND_COUNT' | 'CTL_SEND_USED' | 'CTL_SEND_ERRORS' | 'CTL_TRUNCATED' | 'CTL_BATCHES' | 'CTL_RECEIVED', number>;
}

/** How the engine runs (each switch exists to compare the two ways, or to rule one out when diagnosing). */
export interface MediaIoOptions {
  /** The kernel's send work for JavaScript's datagrams on a thread of its own (else inline, on the event loop). */
  sendThread: boolean;
  /** Plain RTP relayed (and recorded) by the addon under forward rules (else every datagram goes to JavaScript). */
  fastPath: boolean;
  /** Sockets read, and the fast path run, on a thread of their own (else on the event loop, when libuv reports them). */
  readerThread: boolean;
}

// The reading thread is opt-in: on 2 cores shared with other load it costs more CPU (smaller
// batches, more system calls) than it saves in waiting for the event loop (bench/media, plain-reader).
const DEFAULT_OPTIONS: MediaIoOptions = { sendThread: true, fastPath: true, readerThread: false };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const ADDON_PATH = path.join(ROOT, 'build', 'Release', 'media_io.node');

/** A destination parsed once (SDP addresses change rarely; packets go to the same one all call long). */
interface Destination {
  host: string;
  family: number;
  a0: number;
  a1: number;
  a2: number;
  a3: number;
}

/** The source of the datagram being handled; its address text is made only when asked for (latching). */
class BatchSource implements PacketSource {
  family = 4;
  port = 0;
  a0 = 0;
  a1 = 0;
  a2 = 0;
  a3 = 0;
  constructor(private readonly addon: MediaIoAddon) {}
  get address(): string {
    return this.addon.formatAddress(this.family, this.a0, this.a1, this.a2, this.a3);
  }
}

/**
 * The process-wide batched packet engine: every media socket is in one
 * epoll set; per wake-up the addon drains all ready sockets with recvmmsg
 * and calls `onBatch` once; sends queued during the batch go out with
 * sendmmsg after it. A relayed packet is sent straight from the receive
 * area (no copy); other packets are copied into the send area.
 */
class BatchEngine {
  private readonly c: MediaIoAddon['constants'];
  private readonly recvData: Buffer;
  private readonly recvMeta: Int32Array;
  private readonly sendData: Buffer;
  private readonly sendMeta: Int32Array;
  private readonly control: Int32Array;
  private readonly sockets: (BatchedMediaSocket | undefined)[] = [];
  private readonly source: BatchSource;
  /**
   * One view per receive slot, remade only when the length at that slot
   * changes: a handler must not keep a packet past its call (the slot is
   * overwritten by the next batch), so handing it the same view object is
   * no different, and the relay does not make one object per datagram.
   */
  private readonly views: (Buffer | undefined)[] = [];
  private inBatch = false;
  /** Datagrams a handler threw on (a bug): the batch goes on, the error is reported. */
  handlerErrors = 0;
  /** Told of the first handler error and of every 1,000th after it (a bug must not flood the log). */
  onHandlerError: ((err: unknown, count: number) => void) | undefined;
  /** Whether the kernel's send work runs on a thread of its own (native/send_queue.h). */
  readonly sendThread: boolean;
  private readonly counters = new Float64Array(2);

  /** Whether sockets are read (and plain RTP relayed by the fast path) on a thread of their own. */
  readonly readerThread: boolean;
  readonly fastPath: boolean;

  constructor(readonly addon: MediaIoAddon, options: MediaIoOptions) {
    this.fastPath = options.fastPath;
    const c = (this.c = addon.constants);
    const recvData = new ArrayBuffer(c.RECV_SLOTS * c.SLOT_BYTES);
    const recvMeta = new ArrayBuffer(c.RECV_SLOTS * c.RECV_FIELDS * 4);
    const sendData = new ArrayBuffer(c.SEND_SLOTS * c.SLOT_BYTES);
    const sendMeta = new ArrayBuffer(c.SEND_SLOTS * c.SEND_FIELDS * 4);
    const control = new ArrayBuffer(c.CONTROL_FIELDS * 4);
    this.recvData = Buffer.from(recvData);
    this.recvMeta = new Int32Array(recvMeta);
    this.sendData = Buffer.from(sendData);
    this.sendMeta = new Int32Array(sendMeta);
    this.control = new Int32Array(control);
    this.source = new BatchSource(addon);
    const threads = addon.init((count) => this.onBatch(count), recvData, recvMeta, sendData, sendMeta, control, options.sendThread, options.readerThread);
    this.sendThread = threads.sendThread;
    this.readerThread = threads.readerThread;
  }

  open(host: string, port: number, receiveBufferBytes: number): BatchedMediaSocket {
    const fd = this.addon.open(host, port, receiveBufferBytes);
    const socket = new BatchedMediaSocket(this, fd, port);
    this.sockets[fd] = socket;
    return socket;
  }

  close(socket: BatchedMediaSocket): void {
    if (this.sockets[socket.fd] !== socket) return;
    this.sockets[socket.fd] = undefined;
    this.addon.close(socket.fd);
  }

  destination(host: string): Destination {
    const out = new Int32Array(5);
    const family = this.addon.parseAddress(host, out);
    if (family === 0) throw new TypeError(`not an IP address: ${host}`);
    return { host, family, a0: out[1]!, a1: out[2]!, a2: out[3]!, a3: out[4]! };
  }

  /** Hot path: the packets of one wake-up, in slots 0..count-1. */
  private onBatch(count: number): void {
    const meta = this.recvMeta;
    const fields = this.c.RECV_FIELDS;
    const slot = this.c.SLOT_BYTES;
    const source = this.source;
    this.inBatch = true;
    try {
      for (let i = 0, m = 0; i < count; i++, m += fields) {
        const length = meta[m + 1]!;
        if (length < 0) continue; // longer than a slot: not RTP audio, dropped (counted by the addon)
        const socket = this.sockets[meta[m]!];
        const relayed = meta[m + 8] === 1;
        const handler = relayed ? socket?.onRelayed : socket?.onPacket;
        if (handler === undefined) continue;
        source.family = meta[m + 2]!;
        source.port = meta[m + 3]!;
        source.a0 = meta[m + 4]!;
        source.a1 = meta[m + 5]!;
        source.a2 = meta[m + 6]!;
        source.a3 = meta[m + 7]!;
        if (relayed) {
          try {
            (handler as RelayedHandler)(source);
          } catch (err) {
            const count = ++this.handlerErrors;
            if (count === 1 || count % 1000 === 0) this.onHandlerError?.(err, count);
          }
          continue;
        }
        let view = this.views[i];
        if (view === undefined || view.length !== length) view = this.views[i] = this.recvData.subarray(i * slot, i * slot + length);
        try {
          (handler as PacketHandler)(view, source);
        } catch (err) {
          const count = ++this.handlerErrors;
          if (count === 1 || count % 1000 === 0) this.onHandlerError?.(err, count);
        }
      }
    } finally {
      this.inBatch = false;
    }
  }

  /** Queues one datagram; outside a batch (timers: prompts, tones) it goes out at once. */
  send(fd: number, packet: Buffer, port: number, dest: Destination): void {
    const ctl = this.control;
    const c = this.c;
    if (packet.length > c.SLOT_BYTES) return;
    let n = ctl[c.CTL_SEND_COUNT]!;
    if (n >= c.SEND_SLOTS) {
      this.addon.flush();
      n = 0;
    }
    let area: number;
    let offset: number;
    if (packet.buffer === this.recvData.buffer) {
      area = 0;
      offset = packet.byteOffset;
    } else {
      let used = ctl[c.CTL_SEND_USED]!;
      if (used + packet.length > c.SEND_SLOTS * c.SLOT_BYTES) {
        this.addon.flush();
        n = 0;
        used = 0;
      }
      packet.copy(this.sendData, used);
      area = 1;
      offset = used;
      ctl[c.CTL_SEND_USED] = used + packet.length;
    }
    const m = this.sendMeta;
    const base = n * c.SEND_FIELDS;
    m[base] = fd;
    m[base + 1] = area;
    m[base + 2] = offset;
    m[base + 3] = packet.length;
    m[base + 4] = dest.family;
    m[base + 5] = port;
    m[base + 6] = dest.a0;
    m[base + 7] = dest.a1;
    m[base + 8] = dest.a2;
    m[base + 9] = dest.a3;
    ctl[c.CTL_SEND_COUNT] = n + 1;
    if (!this.inBatch) this.addon.flush();
  }

  forwarded(fd: number): { packets: number; octets: number } {
    this.addon.forwarded(fd, this.counters);
    return { packets: this.counters[0]!, octets: this.counters[1]! };
  }

  /** Counters of the engine (for status and benchmarks). */
  get stats(): { batches: number; received: number; forwarded: number; sendErrors: number; truncated: number; handlerErrors: number } {
    const ctl = this.control;
    const c = this.c;
    return {
      batches: ctl[c.CTL_BATCHES]! >>> 0,
      received: ctl[c.CTL_RECEIVED]! >>> 0,
      forwarded: ctl[c.CTL_FORWARDED]! >>> 0,
      sendErrors: ctl[c.CTL_SEND_ERRORS]! >>> 0,
      truncated: ctl[c.CTL_TRUNCATED]! >>> 0,
      handlerErrors: this.handlerErrors,
    };
  }
}

class BatchedMediaSocket implements MediaSocket {
  onPacket: PacketHandler | undefined;
  onRelayed: RelayedHandler | undefined;
  /** engine.send copies the packet into the send area (or drops it) before returning. */
  readonly copiesOnSend = true;
  private dest: Destination | undefined;
  private closed = false;
  /** The capture area handed to the addon: kept referenced here while the addon writes into it. */
  private area: CaptureArea | undefined;
  private forwarding = false;

  constructor(private readonly engine: BatchEngine, readonly fd: number, readonly port: number) {}

  forward(rule: ForwardRule | undefined): boolean {
    const addon = this.engine.addon;
    this.area = undefined;
    if (rule === undefined || this.closed || !this.engine.fastPath || !(rule.to instanceof BatchedMediaSocket) || rule.to.closed) {
      if (this.forwarding) addon.unforward(this.fd);
      this.forwarding = false;
      return false;
    }
    this.forwarding = addon.forward(this.fd, rule.to.fd, rule.host, rule.port, rule.slowPayloadType, rule.captureRequired, rule.notifySource === true);
    return this.forwarding;
  }

  capture(area: CaptureArea | undefined): boolean {
    if (!this.forwarding) return false;
    const addon = this.engine.addon;
    if (area === undefined) {
      addon.capture(this.fd);
      this.area = undefined;
      return false;
    }
    const ok = addon.capture(this.fd, area.payload, area.index, area.cursor, area.baseOffset);
    this.area = ok ? area : undefined;
    return ok;
  }

  forwarded(): { packets: number; octets: number } {
    return this.engine.forwarded(this.fd);
  }

  send(packet: Buffer, port: number, host: string): void {
    if (this.closed) return;
    let dest = this.dest;
    if (dest === undefined || dest.host !== host) {
      try {
        dest = this.dest = this.engine.destination(host);
      } catch {
        return; // not an IP literal: nothing can be sent there
      }
    }
    this.engine.send(this.fd, packet, port, dest);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onPacket = undefined;
    this.forwarding = false;
    this.area = undefined;
    this.engine.close(this); // the addon forgets this socket's rule and any rule sending from it
  }
}

let engine: BatchEngine | undefined;

/** Media sockets on the batched engine (Linux, native addon built). */
export class BatchedSocketFactory implements MediaSocketFactory {
  readonly name = 'batched';

  private constructor(private readonly engine: BatchEngine) {}

  /**
   * The factory, or the reason the addon cannot be used. The engine is made
   * once per process: the options count only on the first call.
   */
  static load(addonPath = ADDON_PATH, options: Partial<MediaIoOptions> = {}): BatchedSocketFactory | Error {
    if (engine === undefined) {
      try {
        const require = createRequire(import.meta.url);
        engine = new BatchEngine(require(addonPath) as MediaIoAddon, { ...DEFAULT_OPTIONS, ...options });
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    }
    return new BatchedSocketFactory(engine);
  }

  get stats(): BatchEngine['stats'] {
    return this.engine.stats;
  }

  /** Whether sockets relay plain RTP in the addon (forward rules) rather than through their handler. */
  get fastPath(): boolean {
    return this.engine.fastPath;
  }

  /** Whether sends run on the engine's own thread. */
  get sendThread(): boolean {
    return this.engine.sendThread;
  }

  /** Whether sockets are read, and plain RTP relayed, on the engine's reading thread. */
  get readerThread(): boolean {
    return this.engine.readerThread;
  }

  set onHandlerError(report: ((err: unknown, count: number) => void) | undefined) {
    this.engine.onHandlerError = report;
  }

  open(host: string, port: number, receiveBufferBytes: number): Promise<MediaSocket> {
    try {
      return Promise.resolve(this.engine.open(host, port, receiveBufferBytes));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
