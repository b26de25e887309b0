/**
 * The batched engine's tests again with inline sends (no sender thread):
 * the fallback when the thread cannot start, and CALLREC_MEDIA_SEND_THREAD=0.
 * The engine is made once per process, so this runs in a process of its own.
 */
process.env['CALLREC_MEDIA_SEND_THREAD'] = '0';
await import('./batched-io.test.js');
