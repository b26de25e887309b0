/**
 * A second process for the store tests (not a test file itself):
 *
 *   node store-child.js crash  <db>          commits recording 1, then dies by SIGKILL
 *                                            inside the transaction appending recording 2
 *   node store-child.js append <db> <from> <n> <tag>
 *                                            appends n recordings, re-reading the head and
 *                                            retrying on ChainConflictError (like a sealer)
 */
import { ChainConflictError, RecordingLog } from '../../lib/store/index.js';
import { recording } from './helpers.js';

const [mode, file, fromArg, countArg, tag] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: store-child.js crash|append <db> ...');
const log = RecordingLog.open(file);

if (mode === 'crash') {
  log.appendToChain(recording(1, log.chainHead()), { uploadTargets: ['local'] });
  log.transaction(() => {
    log.appendToChain(recording(2, log.chainHead()), { uploadTargets: ['local', 'sftp'] });
    log.calls.consider({
      startedAt: 1, aCallId: 'crash@pbx', direction: 'outbound', caller: '201', callee: '0301234',
      decision: 'recorded', reason: 'test', profile: 'traders',
    });
    process.kill(process.pid, 'SIGKILL');
  });
} else if (mode === 'append') {
  const from = Number(fromArg);
  const count = Number(countArg);
  let conflicts = 0;
  for (let i = from; i < from + count; i++) {
    for (;;) {
      try {
        log.appendToChain(recording(i, log.chainHead(), { spoolKey: `${tag}-${i}` }));
        break;
      } catch (err) {
        if (!(err instanceof ChainConflictError)) throw err;
        conflicts++;
      }
    }
  }
  log.close();
  process.stdout.write(JSON.stringify({ conflicts }));
}
