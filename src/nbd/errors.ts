import { Errno, errnoName, type ErrnoName } from './protocol.js';

/** A failure that carries the NBD error value the client should see. */
export class NbdError extends Error {
  readonly errno: ErrnoName;
  constructor(errno: ErrnoName, message?: string) {
    super(message ?? errno);
    this.name = 'NbdError';
    this.errno = errno;
  }
  get value(): number {
    return Errno[this.errno];
  }
}

/** Host error codes (Node's `err.code`) and the NBD error each maps to; the rest become EIO. */
const CODE_TO_ERRNO: Readonly<Record<string, ErrnoName>> = {
  EPERM: 'EPERM',
  EACCES: 'EPERM',
  EROFS: 'EPERM',
  EIO: 'EIO',
  ENOMEM: 'ENOMEM',
  EINVAL: 'EINVAL',
  ENOSPC: 'ENOSPC',
  EDQUOT: 'ENOSPC', // the spec asks for EDQUOT and EFBIG to be reported as ENOSPC
  EFBIG: 'ENOSPC',
  EOVERFLOW: 'EINVAL', // EOVERFLOW is only meaningful with structured replies
  ESHUTDOWN: 'ESHUTDOWN',
};

export function nbdErrnoOf(err: unknown): number {
  if (err instanceof NbdError) return err.value;
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    const name = CODE_TO_ERRNO[err.code];
    if (name !== undefined) return Errno[name];
  }
  return Errno.EIO;
}

/** The error a client-side call rejects with when the server replied with an error. */
export class NbdRequestError extends Error {
  readonly errno: ErrnoName | 'UNKNOWN';
  constructor(
    readonly value: number,
    readonly command: string,
  ) {
    const name = errnoName(value) ?? 'UNKNOWN';
    super(`${command} failed: ${name} (${value})`);
    this.name = 'NbdRequestError';
    this.errno = name;
  }
}
