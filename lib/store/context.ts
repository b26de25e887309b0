import type Database from 'better-sqlite3';
import { StoreError, toStoreError } from './errors.js';

/**
 * What the table classes of lib/store share: the connection, the file name
 * for messages, and one wrapper that turns every failure into a StoreError.
 */
export class StoreContext {
  constructor(
    readonly db: Database.Database,
    readonly file: string,
  ) {}

  run<T>(what: string, fn: () => T): T {
    if (!this.db.open) throw new StoreError('closed', `${this.file}: ${what}: the recording log is closed`);
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err, this.file, what);
    }
  }
}

/** Argument checks, so that a bad value fails with its name instead of an SQLite type error. */
export function checkTime(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StoreError('invalid', `${name}: expected milliseconds since the epoch as a non-negative integer, got ${value}`);
  }
  return value;
}

export function checkText(value: string, name: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new StoreError('invalid', `${name}: expected a non-empty string`);
  }
  return value;
}

export function checkOneOf<T extends string>(value: T, allowed: readonly T[], name: string): T {
  if (!allowed.includes(value)) {
    throw new StoreError('invalid', `${name}: expected one of ${allowed.join(', ')}, got ${String(value)}`);
  }
  return value;
}
