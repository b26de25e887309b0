/**
 * The sixteen DTMF keys, in RFC 4733 §3.2 event-code order:
 * "0"-"9" are events 0-9, "*" is 10, "#" is 11, "A"-"D" are 12-15
 * (16 is flash, not a key).
 */
export const DTMF_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'] as const;

export type DtmfKey = (typeof DTMF_KEYS)[number];

/** RFC 4733 §3.2: the event code of the hook flash, which is not a key. */
export const FLASH_EVENT = 16;

/** The key of an RFC 4733 event code, or undefined for flash and beyond. */
export function keyOfEventCode(code: number): DtmfKey | undefined {
  return code >= 0 && code < 16 ? DTMF_KEYS[code] : undefined;
}

export function isDtmfKey(text: string): text is DtmfKey {
  return text.length === 1 && (DTMF_KEYS as readonly string[]).includes(text);
}

/** A key as written in configuration or by peers: "a"-"d" become "A"-"D". */
export function normalizeKey(text: string): DtmfKey | undefined {
  const upper = text.length === 1 ? text.toUpperCase() : text;
  return isDtmfKey(upper) ? upper : undefined;
}
