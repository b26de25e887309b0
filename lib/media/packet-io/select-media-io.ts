import { BatchedSocketFactory } from './batched-media-socket.js';
import { DgramSocketFactory } from './dgram-media-socket.js';
import type { MediaSocketFactory } from './media-socket.js';

export interface MediaIoChoice {
  factory: MediaSocketFactory;
  /** Why the batched engine is not used, when it is not. */
  reason?: string;
}

/**
 * The batched engine (native addon, Linux) when it loads, else Node's
 * dgram. CALLREC_MEDIA_IO=dgram forces dgram (to compare the two, or to
 * rule the addon out when diagnosing); =batched makes a missing addon an
 * error instead of a fallback. CALLREC_MEDIA_SEND_THREAD=0 makes the batched
 * engine send inline on the event-loop thread instead of on its sender
 * thread (to compare the two). CALLREC_MEDIA_FAST_PATH=0 turns the batched
 * engine's fast path off: every datagram is then relayed by JavaScript (to
 * compare the two, or to rule the fast path out when diagnosing).
 * CALLREC_MEDIA_READER_THREAD=1 reads the sockets (and runs the fast path)
 * on a thread of the engine's own instead of the event-loop thread: relayed
 * audio then never waits for JavaScript, at the price of more system calls
 * (worth it where cores are to spare and the event loop has long stalls).
 */
export function selectMediaIo(env: NodeJS.ProcessEnv = process.env, addonPath?: string): MediaIoChoice {
  const wanted = env['CALLREC_MEDIA_IO'];
  if (wanted === 'dgram') return { factory: new DgramSocketFactory(), reason: 'CALLREC_MEDIA_IO=dgram' };
  if (process.platform !== 'linux') return { factory: new DgramSocketFactory(), reason: `batched media I/O needs Linux (this is ${process.platform})` };
  const batched = BatchedSocketFactory.load(addonPath, {
    sendThread: env['CALLREC_MEDIA_SEND_THREAD'] !== '0',
    fastPath: env['CALLREC_MEDIA_FAST_PATH'] !== '0',
    readerThread: env['CALLREC_MEDIA_READER_THREAD'] === '1',
  });
  if (!(batched instanceof Error)) return { factory: batched };
  if (wanted === 'batched') throw new Error(`CALLREC_MEDIA_IO=batched but the native module does not load: ${batched.message}`);
  return { factory: new DgramSocketFactory(), reason: `native media module not loaded (${batched.message}); run make build` };
}
