// Byte layouts checked against include/uapi/linux/fuse.h (7.36): field offsets of every structure
// Tandem writes, and requests decoded the way the native channel splits them.
import { describe, expect, it } from 'vitest';
import {
  Op, decodeInit, decodeReadWrite, decodeRequest, encodeAttrOut, encodeDirents, encodeEntryOut, encodeInitOut,
  encodeOpenOut, encodeStatfsOut, fileAttr, dirAttr,
} from '../../../src/fuse/abi.js';
import { asChannelDelivers, initArgs, rawRequest, rwArgs } from './requests.js';

describe('decodeRequest', () => {
  it('a WRITE keeps its data where it was read (a view of the arena, no copy)', () => {
    const data = Buffer.alloc(4096, 0xab);
    const { bytes, unique } = rawRequest(Op.WRITE, 2, Buffer.concat([rwArgs(1 << 20, 4096), data]), 0x1_0000_0002);
    const { req, arena } = asChannelDelivers(bytes);
    expect(req.opcode).toBe(Op.WRITE);
    expect(req.unique).toBe(unique);
    expect(req.nodeid).toBe(2);
    expect(req.payload!.equals(data)).toBe(true);
    expect(req.payload!.buffer).toBe(arena.buffer);
    expect(req.payload!.byteOffset - arena.byteOffset).toBe(8192);
    expect(decodeReadWrite(req.args)).toEqual({ fh: 0, offset: 1 << 20, size: 4096, flags: 0 });
  });

  it('arguments longer than the slot are joined from slot and arena', () => {
    const name = 'a'.repeat(100);
    const { bytes } = rawRequest(Op.LOOKUP, 1, Buffer.from(`${name}\0`));
    const { req } = asChannelDelivers(bytes);
    expect(req.payload).toBeNull();
    expect(req.args.toString('utf8', 0, 100)).toBe(name);
    expect(req.args.length).toBe(101);
  });

  it('a short request is decoded from the slot alone', () => {
    const { bytes } = rawRequest(Op.GETATTR, 1, Buffer.alloc(16));
    const { req } = asChannelDelivers(bytes);
    expect(req.opcode).toBe(Op.GETATTR);
    expect(req.args.length).toBe(16);
  });

  it('refuses a length that disagrees with what was read, and a truncated header', () => {
    const { bytes } = rawRequest(Op.GETATTR, 1, Buffer.alloc(16));
    expect(() => decodeRequest(bytes.subarray(0, 56), Buffer.alloc(0), 60)).toThrow('FUSE request says 56 bytes but 60 were read');
    expect(() => decodeRequest(bytes.subarray(0, 20), Buffer.alloc(0), 20)).toThrow('shorter than its header');
  });
});

describe('structures Tandem writes', () => {
  it('fuse_init_out: 64 bytes, fields at their offsets', () => {
    const b = encodeInitOut({ major: 7, minor: 36, maxReadahead: 131072, flags: 0x408021, maxBackground: 128, congestionThreshold: 96, maxWrite: 1 << 20, timeGran: 1, maxPages: 256 });
    expect(b.length).toBe(64);
    expect([b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)]).toEqual([7, 36, 131072, 0x408021]);
    expect([b.readUInt16LE(16), b.readUInt16LE(18), b.readUInt32LE(20), b.readUInt32LE(24), b.readUInt16LE(28)]).toEqual([128, 96, 1 << 20, 1, 256]);
  });

  it('fuse_init_in is read from its first four fields', () => {
    expect(decodeInit(initArgs(7, 41, 0xffff))).toEqual({ major: 7, minor: 41, maxReadahead: 131072, flags: 0xffff });
  });

  it('fuse_attr_out (104 bytes) and fuse_entry_out (128 bytes) carry fuse_attr at 16 and 40', () => {
    const a = fileAttr(2, 3 * 1024 * 1024 * 1024 * 1024 + 4096, 1_700_000_000);
    const out = encodeAttrOut(a);
    expect(out.length).toBe(104);
    expect(out.readBigUInt64LE(0)).toBeGreaterThan(0n); // attr_valid
    const attrAt = (b: Buffer, at: number): Record<string, number | bigint> => ({
      ino: b.readBigUInt64LE(at), size: b.readBigUInt64LE(at + 8), blocks: b.readBigUInt64LE(at + 16), mtime: b.readBigUInt64LE(at + 32),
      mode: b.readUInt32LE(at + 60), nlink: b.readUInt32LE(at + 64), uid: b.readUInt32LE(at + 68), blksize: b.readUInt32LE(at + 80),
    });
    const want = { ino: 2n, size: 3298534887424n, blocks: 6442450952n, mtime: 1_700_000_000n, mode: 0o100600, nlink: 1, uid: 0, blksize: 4096 };
    expect(attrAt(out, 16)).toEqual(want);
    const e = encodeEntryOut(2, a);
    expect(e.length).toBe(128);
    expect(e.readBigUInt64LE(0)).toBe(2n); // nodeid
    expect(attrAt(e, 40)).toEqual(want);
    expect(attrAt(encodeAttrOut(dirAttr(5)), 16)).toMatchObject({ ino: 1n, mode: 0o40700, nlink: 2 });
  });

  it('fuse_open_out and fuse_kstatfs', () => {
    const o = encodeOpenOut(7, 0x11);
    expect([o.length, Number(o.readBigUInt64LE(0)), o.readUInt32LE(8)]).toEqual([16, 7, 0x11]);
    const s = encodeStatfsOut(1 << 30);
    expect([s.length, Number(s.readBigUInt64LE(0)), s.readUInt32LE(40), s.readUInt32LE(44)]).toEqual([80, 262144, 4096, 255]);
  });

  it('fuse_dirent records: 8-byte aligned, each naming the offset of the next, cut at the size asked for', () => {
    const entries = [{ ino: 1, name: '.', dir: true }, { ino: 1, name: '..', dir: true }, { ino: 2, name: 'disk', dir: false }];
    const all = encodeDirents(entries, 0, 4096);
    expect(all.length).toBe(32 + 32 + 32);
    const names: string[] = [];
    for (let at = 0; at < all.length;) {
      const len = all.readUInt32LE(at + 16);
      names.push(`${all.toString('utf8', at + 24, at + 24 + len)}@${all.readBigUInt64LE(at + 8)}:${all.readUInt32LE(at + 20)}`);
      at += 24 + ((len + 7) & ~7);
    }
    expect(names).toEqual(['.@1:4', '..@2:4', 'disk@3:8']);
    expect(encodeDirents(entries, 2, 4096).length).toBe(32);
    expect(encodeDirents(entries, 0, 40).length).toBe(32);
    expect(encodeDirents(entries, 3, 4096).length).toBe(0);
  });
});
