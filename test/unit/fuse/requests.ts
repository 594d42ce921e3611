// FUSE requests as the kernel writes them (include/uapi/linux/fuse.h), split the way the native
// channel reads them: the first 80 bytes into the slot, the rest into the arena.
import { decodeRequest, Op, type FuseRequest } from '../../../src/fuse/abi.js';

let nextUnique = 2;

export function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

/** fuse_in_header + args; returns the raw bytes and the unique id used. */
export function rawRequest(opcode: number, nodeid: number, args: Buffer, unique = (nextUnique += 2)): { bytes: Buffer; unique: number } {
  const len = 40 + args.length;
  const head = Buffer.concat([u32(len), u32(opcode), u64(unique), u64(nodeid), u32(0), u32(0), u32(1234), u32(0)]);
  return { bytes: Buffer.concat([head, args]), unique };
}

/** What the native channel hands over: head in a slot, the rest page-aligned in an arena. */
export function asChannelDelivers(bytes: Buffer, arenaOffset = 8192): { req: FuseRequest; arena: Buffer } {
  const arena = Buffer.alloc(arenaOffset + Math.max(0, bytes.length - 80));
  const head = Buffer.alloc(80);
  bytes.copy(head, 0, 0, Math.min(80, bytes.length));
  if (bytes.length > 80) bytes.copy(arena, arenaOffset, 80);
  const rest = bytes.length > 80 ? arena.subarray(arenaOffset, arenaOffset + bytes.length - 80) : Buffer.alloc(0);
  return { req: decodeRequest(head, rest, bytes.length), arena };
}

export function request(opcode: number, nodeid: number, args: Buffer): FuseRequest & { unique: number } {
  return asChannelDelivers(rawRequest(opcode, nodeid, args).bytes).req;
}

export const initArgs = (major: number, minor: number, flags: number): Buffer => Buffer.concat([u32(major), u32(minor), u32(131072), u32(flags), Buffer.alloc(48)]);
/** fuse_read_in / fuse_write_in */
export const rwArgs = (offset: number, size: number, flags = 0): Buffer => Buffer.concat([u64(0), u64(offset), u32(size), u32(0), u64(0), u32(flags), u32(0)]);
export const fsyncArgs = (datasync: boolean): Buffer => Buffer.concat([u64(0), u32(datasync ? 1 : 0), u32(0)]);
export const fallocateArgs = (offset: number, length: number, mode: number): Buffer => Buffer.concat([u64(0), u64(offset), u64(length), u32(mode), u32(0)]);
export const setattrArgs = (valid: number, size: number): Buffer => {
  const b = Buffer.alloc(88);
  b.writeUInt32LE(valid, 0);
  b.writeBigUInt64LE(BigInt(size), 16);
  return b;
};
export const nameArgs = (name: string): Buffer => Buffer.concat([Buffer.from(name), Buffer.alloc(1)]);

export function writeRequest(offset: number, data: Buffer, flags = 0): FuseRequest {
  return request(Op.WRITE, 2, Buffer.concat([rwArgs(offset, data.length, flags), data]));
}
