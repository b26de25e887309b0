/**
 * A capture file that cannot be read: unknown magic, truncated header or
 * record, impossible lengths. `offset` is the byte offset in the file where
 * reading stopped, or -1.
 */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  constructor(
    readonly reason: string,
    readonly offset = -1,
  ) {
    super(offset >= 0 ? `${reason} (at byte ${offset})` : reason);
  }
}
