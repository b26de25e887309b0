/**
 * File and folder names of recordings. SPEC E8: the base name starts with
 * the start time (`YYYYMMDD-HHMMSS`), then caller, callee and a short unique
 * id, so alphabetical order is chronological. Times are the recorder's local
 * time, as an operator reading the archive expects.
 */
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

export function timeParts(ms: number): { Y: string; M: string; D: string; h: string; m: string; s: string } {
  const d = new Date(ms);
  return {
    Y: String(d.getFullYear()), M: pad(d.getMonth() + 1), D: pad(d.getDate()),
    h: pad(d.getHours()), m: pad(d.getMinutes()), s: pad(d.getSeconds()),
  };
}

/** SPEC A2: `$Y $M $D $h $m $s` in a target's folder template, from the recording's start. */
export function expandTemplate(template: string, startMs: number): string {
  const p = timeParts(startMs);
  return template.replace(/\$([YMDhms])/g, (_all, k: keyof typeof p) => p[k]);
}

/** Keeps digits, letters, `+`, `*`, `#` and `-`; anything else (path separators!) becomes `_`. */
export function safeNumber(n: string): string {
  const s = n.replace(/[^0-9A-Za-z+*#-]/g, '_').slice(0, 40);
  return s === '' ? 'anonymous' : s;
}

export function recordingBaseName(startMs: number, caller: string, callee: string, uniqueId: string): string {
  const p = timeParts(startMs);
  return `${p.Y}${p.M}${p.D}-${p.h}${p.m}${p.s}_${safeNumber(caller)}_${safeNumber(callee)}_${uniqueId}`;
}
