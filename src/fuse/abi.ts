// The part of the kernel's FUSE protocol (include/uapi/linux/fuse.h) that tandemd speaks to show
// one file, the replicated device, on its private mount: the loop device's backing file. Decoding
// of requests and encoding of replies only; what each request does is in fuse-server.ts.

export const FUSE_KERNEL_VERSION = 7;
/**
 * The newest minor version whose structures this file writes. 7.36 is the first with
 * FOPEN_PARALLEL_DIRECT_WRITES (direct writes to the file do not serialise on its inode lock);
 * nothing newer is needed.
 */
export const FUSE_KERNEL_MINOR = 36;

export const Op = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9,
  UNLINK: 10, RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25,
  INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32,
  SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36, BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40,
  NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45, LSEEK: 46,
  COPY_FILE_RANGE: 47, SYNCFS: 50, STATX: 52,
} as const;
export type OpName = keyof typeof Op;

/** Requests the kernel sends without waiting for a reply. */
export const NO_REPLY: ReadonlySet<number> = new Set([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT]);

/** fuse_init_in/out flags Tandem asks for (each only if the kernel offers it). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  BIG_WRITES: 1 << 5,
  /** the loop device's direct I/O reaches us as many requests at once instead of one after another */
  ASYNC_DIO: 1 << 15,
  /** max_pages in the reply is honoured: WRITEs of up to 1 MiB instead of 128 KiB */
  MAX_PAGES: 1 << 22,
} as const;
export const WANTED_INIT_FLAGS = InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.ASYNC_DIO | InitFlag.MAX_PAGES;

export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 4;

export const FsyncFlag = { DATASYNC: 1 } as const;
export const Fallocate = { KEEP_SIZE: 0x01, PUNCH_HOLE: 0x02, ZERO_RANGE: 0x10 } as const;
export const Fattr = { MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, FH: 64, ATIME_NOW: 128, MTIME_NOW: 256, LOCKOWNER: 512, CTIME: 1024, KILL_SUIDGID: 2048 } as const;

/** open(2) flags in fuse_write_in.flags that ask for the write to be durable when it completes. */
export const O_DSYNC = 0o10000;
export const O_SYNC = 0o4010000;

export const IN_HEADER_BYTES = 40;
export const OUT_HEADER_BYTES = 16;
export const ROOT_ID = 1;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const DT_DIR = 4;
const DT_REG = 8;

export interface FuseRequest {
  opcode: number;
  unique: number;
  nodeid: number;
  /** the request's arguments after fuse_in_header (for WRITE: fuse_write_in only) */
  args: Buffer;
  /** WRITE: the data, a view of the buffer it was read into */
  payload: Buffer | null;
}

function u64(b: Buffer, at: number): number {
  // unique ids, node ids, offsets and sizes all stay far below 2^53
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x1_0000_0000;
}

function putU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v >>> 0, at);
  b.writeUInt32LE(Math.floor(v / 0x1_0000_0000), at + 4);
}

/**
 * One request as the native channel left it: the first `headBytes` bytes in `head`, the rest in
 * `rest` (for a WRITE exactly its data). `total` is the request's length as read.
 */
export function decodeRequest(head: Buffer, rest: Buffer, total: number): FuseRequest {
  if (total < IN_HEADER_BYTES || head.length < IN_HEADER_BYTES) throw new Error(`FUSE request of ${total} bytes is shorter than its header`);
  const len = head.readUInt32LE(0);
  if (len !== total) throw new Error(`FUSE request says ${len} bytes but ${total} were read`);
  const opcode = head.readUInt32LE(4);
  const unique = u64(head, 8);
  const nodeid = u64(head, 16);
  const inHead = Math.min(total, head.length);
  if (opcode === Op.WRITE && inHead === IN_HEADER_BYTES + WRITE_IN_BYTES) {
    return { opcode, unique, nodeid, args: head.subarray(IN_HEADER_BYTES, inHead), payload: rest.subarray(0, total - inHead) };
  }
  const args = total > inHead ? Buffer.concat([head.subarray(IN_HEADER_BYTES, inHead), rest.subarray(0, total - inHead)]) : head.subarray(IN_HEADER_BYTES, inHead);
  return { opcode, unique, nodeid, args, payload: null };
}

const WRITE_IN_BYTES = 40;

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
}

export function decodeInit(args: Buffer): InitIn {
  if (args.length < 16) throw new Error('FUSE_INIT arguments too short');
  return { major: args.readUInt32LE(0), minor: args.readUInt32LE(4), maxReadahead: args.readUInt32LE(8), flags: args.readUInt32LE(12) };
}

export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
}

/** fuse_init_out (64 bytes; the kernel reads only what its minor version knows). */
export function encodeInitOut(o: InitOut): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(o.major, 0);
  b.writeUInt32LE(o.minor, 4);
  b.writeUInt32LE(o.maxReadahead, 8);
  b.writeUInt32LE(o.flags >>> 0, 12);
  b.writeUInt16LE(o.maxBackground, 16);
  b.writeUInt16LE(o.congestionThreshold, 18);
  b.writeUInt32LE(o.maxWrite, 20);
  b.writeUInt32LE(o.timeGran, 24);
  b.writeUInt16LE(o.maxPages, 28);
  return b;
}

export interface ReadIn {
  fh: number;
  offset: number;
  size: number;
  flags: number;
}

/** fuse_read_in and fuse_write_in share their layout up to `flags`. */
export function decodeReadWrite(args: Buffer): ReadIn {
  if (args.length < 40) throw new Error('FUSE READ/WRITE arguments too short');
  return { fh: u64(args, 0), offset: u64(args, 8), size: args.readUInt32LE(16), flags: args.readUInt32LE(32) };
}

export function decodeFsync(args: Buffer): { fsyncFlags: number } {
  if (args.length < 12) throw new Error('FUSE FSYNC arguments too short');
  return { fsyncFlags: args.readUInt32LE(8) };
}

export function decodeFallocate(args: Buffer): { offset: number; length: number; mode: number } {
  if (args.length < 28) throw new Error('FUSE FALLOCATE arguments too short');
  return { offset: u64(args, 8), length: u64(args, 16), mode: args.readUInt32LE(24) };
}

export function decodeSetattr(args: Buffer): { valid: number; size: number } {
  if (args.length < 24) throw new Error('FUSE SETATTR arguments too short');
  return { valid: args.readUInt32LE(0), size: u64(args, 16) };
}

/** LOOKUP's argument: a NUL-terminated name. */
export function decodeName(args: Buffer): string {
  const nul = args.indexOf(0);
  return args.subarray(0, nul < 0 ? args.length : nul).toString('utf8');
}

export interface Attr {
  ino: number;
  size: number;
  mode: number;
  nlink: number;
  /** seconds since the epoch for atime, mtime and ctime */
  time: number;
}

export function dirAttr(time: number): Attr {
  return { ino: ROOT_ID, size: 0, mode: S_IFDIR | 0o700, nlink: 2, time };
}

export function fileAttr(ino: number, size: number, time: number): Attr {
  return { ino, size, mode: S_IFREG | 0o600, nlink: 1, time };
}

/** fuse_attr: 88 bytes, uid/gid 0 (the mount is root's). */
function writeAttr(b: Buffer, at: number, a: Attr): void {
  putU64(b, at, a.ino);
  putU64(b, at + 8, a.size);
  putU64(b, at + 16, Math.ceil(a.size / 512));
  putU64(b, at + 24, a.time);
  putU64(b, at + 32, a.time);
  putU64(b, at + 40, a.time);
  b.writeUInt32LE(a.mode, at + 60);
  b.writeUInt32LE(a.nlink, at + 64);
  b.writeUInt32LE(4096, at + 80); // blksize
}

/**
 * Attributes change only with `resize`, which tells the kernel to drop them
 * (FuseServer.sizeChanged), so the kernel may keep them for as long as it likes.
 */
const VALID_SECONDS = 86_400;

/** fuse_attr_out */
export function encodeAttrOut(a: Attr): Buffer {
  const b = Buffer.alloc(16 + 88);
  putU64(b, 0, VALID_SECONDS);
  writeAttr(b, 16, a);
  return b;
}

/** fuse_entry_out */
export function encodeEntryOut(nodeid: number, a: Attr): Buffer {
  const b = Buffer.alloc(40 + 88);
  putU64(b, 0, nodeid);
  putU64(b, 16, VALID_SECONDS);
  putU64(b, 24, VALID_SECONDS);
  writeAttr(b, 40, a);
  return b;
}

/** fuse_open_out */
export function encodeOpenOut(fh: number, openFlags: number): Buffer {
  const b = Buffer.alloc(16);
  putU64(b, 0, fh);
  b.writeUInt32LE(openFlags, 8);
  return b;
}

/** fuse_statfs_out (fuse_kstatfs) */
export function encodeStatfsOut(sizeBytes: number): Buffer {
  const b = Buffer.alloc(80);
  putU64(b, 0, Math.floor(sizeBytes / 4096));
  b.writeUInt32LE(4096, 40); // bsize
  b.writeUInt32LE(255, 44); // namelen
  b.writeUInt32LE(4096, 48); // frsize
  return b;
}

export interface DirEntry {
  ino: number;
  name: string;
  dir: boolean;
}

/**
 * READDIR's reply: fuse_dirent records (ino, off of the next entry, namelen, type, name padded to 8)
 * from entry index `offset` on, as many as fit in `size` bytes.
 */
export function encodeDirents(entries: DirEntry[], offset: number, size: number): Buffer {
  const parts: Buffer[] = [];
  let used = 0;
  for (let i = offset; i < entries.length; i++) {
    const e = entries[i]!;
    const name = Buffer.from(e.name, 'utf8');
    const rec = 24 + ((name.length + 7) & ~7);
    if (used + rec > size) break;
    const b = Buffer.alloc(rec);
    putU64(b, 0, e.ino);
    putU64(b, 8, i + 1);
    b.writeUInt32LE(name.length, 16);
    b.writeUInt32LE(e.dir ? DT_DIR : DT_REG, 20);
    name.copy(b, 24);
    parts.push(b);
    used += rec;
  }
  return Buffer.concat(parts);
}

export function opName(opcode: number): string {
  for (const [k, v] of Object.entries(Op)) if (v === opcode) return k;
  return `opcode ${opcode}`;
}
