// Which NBD error a request earns before it reaches the backend (0 = none). Follows
// doc/proto.md "Error values" and "Block size constraints".
import { Cmd, CmdFlag, Errno } from './protocol.js';

export interface ExportLimits {
  size: number;
  readOnly: boolean;
  /** Largest READ/WRITE length accepted (the advertised maximum block size). */
  maxPayload: number;
}

export interface RequestFields {
  command: number;
  flags: number;
  offset: number;
  length: number;
}

/** Command flags each supported command may carry (simple replies only, so no DF). */
const ALLOWED_FLAGS: Readonly<Record<number, number>> = {
  [Cmd.READ]: 0,
  [Cmd.WRITE]: CmdFlag.FUA,
  [Cmd.DISC]: 0,
  [Cmd.FLUSH]: 0,
  [Cmd.TRIM]: CmdFlag.FUA,
  [Cmd.WRITE_ZEROES]: CmdFlag.FUA | CmdFlag.NO_HOLE,
};

export function checkRequest(req: RequestFields, lim: ExportLimits): number {
  const allowed = ALLOWED_FLAGS[req.command];
  if (allowed === undefined) return Errno.EINVAL; // unknown or unadvertised command
  if ((req.flags & ~allowed) !== 0) return Errno.EINVAL;
  const mutates = req.command === Cmd.WRITE || req.command === Cmd.TRIM || req.command === Cmd.WRITE_ZEROES;
  if (mutates && lim.readOnly) return Errno.EPERM;
  if ((req.command === Cmd.READ || req.command === Cmd.WRITE) && req.length > lim.maxPayload) return Errno.EINVAL;
  if (req.command === Cmd.FLUSH || req.command === Cmd.DISC) return 0;
  if (req.offset + req.length > lim.size) {
    return req.command === Cmd.WRITE || req.command === Cmd.WRITE_ZEROES ? Errno.ENOSPC : Errno.EINVAL;
  }
  return 0;
}
