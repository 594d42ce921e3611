import { describe, expect, it } from 'vitest';
import { Cmd, CmdFlag, Errno } from '../../../src/nbd/protocol.js';
import { checkRequest, type ExportLimits } from '../../../src/nbd/request-check.js';

const rw: ExportLimits = { size: 1 << 20, readOnly: false, maxPayload: 1 << 16 };
const ro: ExportLimits = { ...rw, readOnly: true };
const { FUA, NO_HOLE, DF, FAST_ZERO } = CmdFlag;

// [what, command, flags, offset, length, limits, expected] — from doc/proto.md "Error values":
// ENOSPC for writes past the end, EINVAL for reads/trims past the end, EPERM for writes on a
// read-only export, EINVAL for unknown commands/flags and for lengths above the maximum block size.
const table: Array<[string, number, number, number, number, ExportLimits, number]> = [
  ['read inside', Cmd.READ, 0, 0, 4096, rw, 0],
  ['read touching the end', Cmd.READ, 0, (1 << 20) - 4096, 4096, rw, 0],
  ['read past the end', Cmd.READ, 0, (1 << 20) - 4096, 4097, rw, Errno.EINVAL],
  ['read at a 2^60 offset', Cmd.READ, 0, 2 ** 60, 1, rw, Errno.EINVAL],
  ['read longer than max payload', Cmd.READ, 0, 0, (1 << 16) + 1, rw, Errno.EINVAL],
  ['read with FUA (not applicable)', Cmd.READ, FUA, 0, 1, rw, Errno.EINVAL],
  ['read with DF (structured replies not negotiated)', Cmd.READ, DF, 0, 1, rw, Errno.EINVAL],
  ['read on read-only export', Cmd.READ, 0, 0, 512, ro, 0],
  ['write inside with FUA', Cmd.WRITE, FUA, 512, 512, rw, 0],
  ['write past the end', Cmd.WRITE, 0, 1 << 20, 1, rw, Errno.ENOSPC],
  ['write on read-only export', Cmd.WRITE, 0, 0, 512, ro, Errno.EPERM],
  ['write longer than max payload', Cmd.WRITE, 0, 0, (1 << 16) + 1, rw, Errno.EINVAL],
  ['write with NO_HOLE (only for WRITE_ZEROES)', Cmd.WRITE, NO_HOLE, 0, 1, rw, Errno.EINVAL],
  ['flush', Cmd.FLUSH, 0, 0, 0, rw, 0],
  ['flush on read-only export', Cmd.FLUSH, 0, 0, 0, ro, 0],
  ['trim inside', Cmd.TRIM, 0, 0, 1 << 20, rw, 0],
  ['trim past the end', Cmd.TRIM, 0, 1, 1 << 20, rw, Errno.EINVAL],
  ['trim on read-only export', Cmd.TRIM, 0, 0, 512, ro, Errno.EPERM],
  ['write zeroes with NO_HOLE|FUA', Cmd.WRITE_ZEROES, NO_HOLE | FUA, 0, 4096, rw, 0],
  ['write zeroes larger than max payload (no payload, allowed)', Cmd.WRITE_ZEROES, 0, 0, 1 << 20, rw, 0],
  ['write zeroes past the end', Cmd.WRITE_ZEROES, 0, 4096, 1 << 20, rw, Errno.ENOSPC],
  ['write zeroes with FAST_ZERO (not advertised)', Cmd.WRITE_ZEROES, FAST_ZERO, 0, 1, rw, Errno.EINVAL],
  ['write zeroes on read-only export', Cmd.WRITE_ZEROES, 0, 0, 512, ro, Errno.EPERM],
  ['NBD_CMD_CACHE (not advertised)', Cmd.CACHE, 0, 0, 512, rw, Errno.EINVAL],
  ['NBD_CMD_BLOCK_STATUS (no meta context)', Cmd.BLOCK_STATUS, 0, 0, 512, rw, Errno.EINVAL],
  ['unknown command 99', 99, 0, 0, 0, rw, Errno.EINVAL],
  ['unknown flag bit 15', Cmd.WRITE, 1 << 15, 0, 1, rw, Errno.EINVAL],
];

describe('checkRequest', () => {
  it.each(table)('%s', (_what, command, flags, offset, length, limits, expected) => {
    expect(checkRequest({ command, flags, offset, length }, limits)).toBe(expected);
  });
});
