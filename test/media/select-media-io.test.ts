/**
 * Which packet I/O backend callrec uses: the batched native engine when it
 * loads, Node's dgram when asked for (CALLREC_MEDIA_IO=dgram) or when the
 * module is missing; CALLREC_MEDIA_IO=batched turns a missing module into
 * an error instead of a silent fallback.
 */
import t from 'tap';
import { BatchedSocketFactory } from '../../lib/media/packet-io/batched-media-socket.js';
import { selectMediaIo } from '../../lib/media/packet-io/select-media-io.js';

// The engine is process-wide: these run before anything loads it.
t.test('a module that does not load: dgram, with the reason', async (t) => {
  const choice = selectMediaIo({}, '/nonexistent/media_io.node');
  t.equal(choice.factory.name, 'dgram');
  t.match(choice.reason, /native media module not loaded [\s\S]*make build/);
  t.ok(BatchedSocketFactory.load('/nonexistent/media_io.node') instanceof Error);
});

t.test('CALLREC_MEDIA_IO=batched: a missing module is an error, not a fallback', async (t) => {
  t.throws(() => selectMediaIo({ CALLREC_MEDIA_IO: 'batched' }, '/nonexistent/media_io.node'), /does not load/);
});

t.test('default: the batched engine (the module is built by make build)', async (t) => {
  const choice = selectMediaIo({});
  t.equal(choice.factory.name, 'batched');
  t.equal(choice.reason, undefined);
});

t.test('CALLREC_MEDIA_IO=dgram forces dgram and says why', async (t) => {
  const choice = selectMediaIo({ CALLREC_MEDIA_IO: 'dgram' });
  t.equal(choice.factory.name, 'dgram');
  t.match(choice.reason, /CALLREC_MEDIA_IO=dgram/);
});
