import type { CallVerdict } from '../replay/replay-runner.js';

/** One line per call: verdict, both directions' figures, notes. */
export function formatVerdict(v: CallVerdict): string {
  const dirs = v.directions === undefined ? 'no recording' : Object.entries(v.directions)
    .map(([d, c]) => `${d} ${c.verdict} (${c.matched}/${c.sent} packets exact${c.mismatched > 0 ? `, ${c.mismatched} differ` : ''}${c.missing > 0 ? `, ${c.missing} missing` : ''})`)
    .join('; ');
  const notes = v.notes.length > 0 ? ` [${v.notes.join('; ')}]` : '';
  return `${v.verdict.toUpperCase()} ${v.capturedCallId} status ${v.status ?? '-'}: ${dirs}${v.recording !== undefined ? ` -> ${v.recording}` : ''}${notes}`;
}
