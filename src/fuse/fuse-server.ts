// What tandemd answers on its private FUSE mount: a directory holding one file, the replicated
// device, for the loop device to sit on. READ, WRITE, FSYNC and FALLOCATE go to the same backend
// the NBD export uses (the Resource); everything else describes the file. Requests are handled as
// they arrive, many in flight; a reply goes back as soon as its request completes.
//
// Durability is the backend's: a WRITE is answered when the backend's write has completed (for
// protocol C: on both disks), FSYNC (the loop device's answer to a flush or FUA from the
// filesystem) and FLUSH only once backend.flush() has returned (both disks flushed).
import type { Logger } from 'pino';
import type { NbdBackend } from '../nbd/backend.js';
import { nbdErrnoOf } from '../nbd/errors.js';
import {
  FOPEN_DIRECT_IO, FOPEN_PARALLEL_DIRECT_WRITES, FUSE_KERNEL_MINOR, FUSE_KERNEL_VERSION, Fallocate, Fattr,
  NO_REPLY, O_DSYNC, O_SYNC, Op, ROOT_ID, WANTED_INIT_FLAGS,
  decodeFallocate, decodeInit, decodeName, decodeReadWrite, decodeSetattr, dirAttr, encodeAttrOut,
  encodeDirents, encodeEntryOut, encodeInitOut, encodeOpenOut, encodeStatfsOut, fileAttr, opName,
  type FuseRequest,
} from './abi.js';

/** The native channel, or a test's stand-in: sends one reply per call. */
export interface FuseTransport {
  /** 0, or the errno of the write (ENOENT: the request was interrupted; ENODEV: unmounted) */
  reply(unique: number, errno: number, data?: Uint8Array, data2?: Uint8Array): number;
  /** WRITE's reply: `size` bytes were written */
  replyWrite(unique: number, size: number): number;
  /** an unsolicited message to the kernel (FUSE_NOTIFY_*) */
  notify?(code: number, data: Uint8Array): number;
}

/** FUSE_NOTIFY_INVAL_INODE (include/uapi/linux/fuse.h fuse_notify_code) */
const NOTIFY_INVAL_INODE = 2;

export interface FuseServerOptions {
  transport: FuseTransport;
  backend: NbdBackend;
  /** the file's name in the mount's root directory */
  fileName: string;
  logger: Logger;
  /** seconds since the epoch, for the file's times */
  now?: () => number;
}

const FILE_ID = 2;
const ENOENT = 2;
const EIO = 5;
const EPERM = 1;
const EISDIR = 21;
const ENOSPC = 28;
const ENOSYS = 38;
const EPROTO = 71;
const EOPNOTSUPP = 95;
const EINVAL = 22;

/**
 * Requests the kernel may have in flight at once (FUSE's default is 12, below the loop device's
 * queue depth, so depth 32 from fio would wait in the kernel).
 */
export const MAX_BACKGROUND = 128;
export const MAX_PAGES = 256;

export class FuseServer {
  private readonly t: FuseTransport;
  private readonly backend: NbdBackend;
  private readonly log: Logger;
  private readonly fileName: string;
  private readonly time: number;
  private minor = 0;
  private initialised = false;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(o: FuseServerOptions) {
    this.t = o.transport;
    this.backend = o.backend;
    this.log = o.logger;
    this.fileName = o.fileName;
    this.time = Math.floor(o.now?.() ?? Date.now() / 1000);
  }

  get ready(): boolean {
    return this.initialised;
  }

  /**
   * The backend's size changed (`resize`): the kernel holds the file's attributes for a day
   * (abi.ts), so it is told to drop them; the next stat asks GETATTR and sees the new size.
   * Returns 0, or the errno of the notification (ENOSYS: the transport cannot notify).
   */
  sizeChanged(): number {
    if (!this.t.notify || !this.initialised) return 38; // ENOSYS
    // fuse_notify_inval_inode_out: ino, offset -1 (attributes only, no page cache), length 0
    const b = Buffer.alloc(24);
    b.writeBigUInt64LE(BigInt(FILE_ID), 0);
    b.writeBigInt64LE(-1n, 8);
    b.writeBigInt64LE(0n, 16);
    return this.t.notify(NOTIFY_INVAL_INODE, b);
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Resolves once no request is waiting for the backend. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** One request; its `args` are only valid during this call (the channel reuses that memory). */
  handle(req: FuseRequest): void {
    try {
      this.dispatch(req);
    } catch (err) {
      // a malformed request from the kernel: answer it, never take the daemon down
      this.log.error({ op: opName(req.opcode), err: (err as Error).message }, 'FUSE request refused');
      if (!NO_REPLY.has(req.opcode)) this.send(req.unique, EINVAL);
    }
  }

  private dispatch(req: FuseRequest): void {
    const u = req.unique;
    switch (req.opcode) {
      case Op.WRITE:
        return this.write(req);
      case Op.READ:
        return this.read(req);
      case Op.FSYNC:
      case Op.FLUSH:
        // FLUSH comes with close(2): not a barrier by itself, but cheap and rare (losetup's own close)
        return this.track(u, this.backend.flush());
      case Op.FALLOCATE:
        return this.fallocate(req);
      case Op.INIT:
        return this.init(req);
      case Op.LOOKUP: {
        if (req.nodeid !== ROOT_ID || decodeName(req.args) !== this.fileName) return this.send(u, ENOENT);
        return this.send(u, 0, encodeEntryOut(FILE_ID, this.fileAttr()));
      }
      case Op.GETATTR:
        if (req.nodeid === ROOT_ID) return this.send(u, 0, encodeAttrOut(dirAttr(this.time)));
        if (req.nodeid === FILE_ID) return this.send(u, 0, encodeAttrOut(this.fileAttr()));
        return this.send(u, ENOENT);
      case Op.SETATTR:
        return this.setattr(req);
      case Op.OPEN:
        if (req.nodeid === ROOT_ID) return this.send(u, EISDIR);
        if (req.nodeid !== FILE_ID) return this.send(u, ENOENT);
        // no page cache of the file: every read and write reaches the backend as it was made
        return this.send(u, 0, encodeOpenOut(0, FOPEN_DIRECT_IO | (this.minor >= 36 ? FOPEN_PARALLEL_DIRECT_WRITES : 0)));
      case Op.OPENDIR:
        return req.nodeid === ROOT_ID ? this.send(u, 0, encodeOpenOut(0, 0)) : this.send(u, ENOENT);
      case Op.READDIR: {
        if (req.nodeid !== ROOT_ID) return this.send(u, ENOENT);
        const r = decodeReadWrite(req.args);
        const entries = [{ ino: ROOT_ID, name: '.', dir: true }, { ino: ROOT_ID, name: '..', dir: true }, { ino: FILE_ID, name: this.fileName, dir: false }];
        return this.send(u, 0, encodeDirents(entries, r.offset, r.size));
      }
      case Op.STATFS:
        return this.send(u, 0, encodeStatfsOut(this.backend.size));
      case Op.RELEASE:
      case Op.RELEASEDIR:
      case Op.FSYNCDIR:
      case Op.ACCESS:
      case Op.DESTROY:
        return this.send(u, 0);
      case Op.FORGET:
      case Op.BATCH_FORGET:
      case Op.INTERRUPT:
        return; // no reply expected; nothing here can be cancelled half-way
      case Op.MKNOD: case Op.MKDIR: case Op.UNLINK: case Op.RMDIR: case Op.RENAME: case Op.RENAME2:
      case Op.LINK: case Op.SYMLINK: case Op.CREATE:
        return this.send(u, EPERM);
      default:
        // xattrs, locks, ioctl, lseek, ...: the kernel remembers ENOSYS and does without
        return this.send(u, ENOSYS);
    }
  }

  private fileAttr(): ReturnType<typeof fileAttr> {
    return fileAttr(FILE_ID, this.backend.size, this.time);
  }

  private init(req: FuseRequest): void {
    const k = decodeInit(req.args);
    if (k.major < FUSE_KERNEL_VERSION) {
      this.log.error({ major: k.major, minor: k.minor }, 'kernel FUSE protocol too old');
      return this.send(req.unique, EPROTO);
    }
    // a newer major: answer with ours, the kernel then decides (and re-sends INIT if it can)
    this.minor = k.major > FUSE_KERNEL_VERSION ? FUSE_KERNEL_MINOR : Math.min(k.minor, FUSE_KERNEL_MINOR);
    const flags = k.flags & WANTED_INIT_FLAGS;
    const out = encodeInitOut({
      major: FUSE_KERNEL_VERSION, minor: this.minor, maxReadahead: k.maxReadahead, flags,
      maxBackground: MAX_BACKGROUND, congestionThreshold: (MAX_BACKGROUND * 3) / 4,
      maxWrite: MAX_PAGES * 4096, timeGran: 1, maxPages: MAX_PAGES,
    });
    this.send(req.unique, 0, out);
    this.initialised = true;
    this.log.debug({ kernel: `${k.major}.${k.minor}`, minor: this.minor, flags: flags.toString(16) }, 'FUSE connection initialised');
  }

  private write(req: FuseRequest): void {
    const w = decodeReadWrite(req.args);
    const data = req.payload;
    if (!data || data.length !== w.size) return this.send(req.unique, EINVAL);
    if (w.offset + w.size > this.backend.size) return this.send(req.unique, ENOSPC);
    // an O_SYNC/O_DSYNC opener of the file: the write must be durable when answered
    const fua = (w.flags & O_DSYNC) !== 0 || (w.flags & O_SYNC) === O_SYNC;
    const u = req.unique;
    const size = w.size;
    this.inFlight++;
    this.backend.write(w.offset, data, fua).then(
      () => {
        this.t.replyWrite(u, size);
        this.done();
      },
      (err: unknown) => this.failed(u, err),
    );
  }

  private read(req: FuseRequest): void {
    const r = decodeReadWrite(req.args);
    const size = this.backend.size;
    const n = r.offset >= size ? 0 : Math.min(r.size, size - r.offset);
    if (n === 0) return this.send(req.unique, 0);
    const u = req.unique;
    this.inFlight++;
    this.backend.read(r.offset, n).then(
      (data) => {
        this.t.reply(u, 0, data);
        this.done();
      },
      (err: unknown) => this.failed(u, err),
    );
  }

  private fallocate(req: FuseRequest): void {
    const f = decodeFallocate(req.args);
    const u = req.unique;
    if (f.offset + f.length > this.backend.size) return this.send(u, ENOSPC);
    const mode = f.mode & ~Fallocate.KEEP_SIZE;
    if (mode === 0) return this.send(u, 0); // every block of the device exists already
    // the loop device's WRITE_ZEROES with REQ_NOUNMAP: must read back as zeroes
    if (mode === Fallocate.ZERO_RANGE) return this.track(u, this.backend.writeZeroes(f.offset, f.length, false));
    // DISCARD (and WRITE_ZEROES that may unmap): a trim on both disks, as nbdfuse makes of it
    if (mode === Fallocate.PUNCH_HOLE && (f.mode & Fallocate.KEEP_SIZE) !== 0) return this.track(u, this.backend.trim(f.offset, f.length));
    return this.send(u, EOPNOTSUPP);
  }

  private setattr(req: FuseRequest): void {
    if (req.nodeid !== FILE_ID && req.nodeid !== ROOT_ID) return this.send(req.unique, ENOENT);
    const s = decodeSetattr(req.args);
    // times may be touched (they are not kept); size, mode and owner are the device's
    if ((s.valid & (Fattr.MODE | Fattr.UID | Fattr.GID)) !== 0) return this.send(req.unique, EPERM);
    if ((s.valid & Fattr.SIZE) !== 0 && (req.nodeid !== FILE_ID || s.size !== this.backend.size)) return this.send(req.unique, EPERM);
    this.send(req.unique, 0, encodeAttrOut(req.nodeid === ROOT_ID ? dirAttr(this.time) : this.fileAttr()));
  }

  private track(u: number, p: Promise<void>): void {
    this.inFlight++;
    p.then(
      () => {
        this.t.reply(u, 0);
        this.done();
      },
      (err: unknown) => this.failed(u, err),
    );
  }

  private failed(u: number, err: unknown): void {
    const errno = nbdErrnoOf(err) || EIO;
    this.log.debug({ err: (err as Error)?.message, errno }, 'FUSE request failed');
    this.t.reply(u, errno);
    this.done();
  }

  private done(): void {
    if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private send(u: number, errno: number, data?: Buffer): void {
    this.t.reply(u, errno, data);
  }
}
