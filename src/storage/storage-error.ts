// The one error type storage I/O fails with: an errno-style code plus where it happened.
import { getSystemErrorMap } from 'node:util';

export type StorageOp = 'open' | 'read' | 'write' | 'flush' | 'discard' | 'faults';

export interface StorageErrorFields {
  code: string;
  op: StorageOp;
  offset: number;
  path: string;
  errno?: number;
}

export class StorageError extends Error {
  /** errno name ('EIO', 'ENOSPC', 'EBUSY', ...) or 'ECLOSED' for a request cut off by close(). */
  readonly code: string;
  readonly op: StorageOp;
  /** Byte offset of the failed request (0 for open and flush). */
  readonly offset: number;
  readonly path: string;
  readonly errno: number | undefined;

  constructor(message: string, f: StorageErrorFields) {
    super(message);
    this.name = 'StorageError';
    this.code = f.code;
    this.op = f.op;
    this.offset = f.offset;
    this.path = f.path;
    this.errno = f.errno;
  }
}

const systemErrors = getSystemErrorMap();

/** 'EIO' for 5, and so on; libuv's table, the same names Node's fs errors use. */
export function errnoName(errno: number): string {
  return systemErrors.get(-errno)?.[0] ?? `ERRNO_${errno}`;
}

export function errnoDescription(errno: number): string {
  return systemErrors.get(-errno)?.[1] ?? `errno ${errno}`;
}
