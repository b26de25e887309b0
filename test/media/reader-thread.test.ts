/**
 * The fast path's tests again with the engine's reading thread
 * (CALLREC_MEDIA_READER_THREAD=1): every socket read, and plain RTP relayed
 * and recorded, off the event loop; also, relayed audio does not wait while
 * the event loop is blocked. The engine is made once per process, so this
 * runs in a process of its own.
 */
process.env['CALLREC_MEDIA_READER_THREAD'] = '1';
await import('./fast-path.test.js');
