// The FUSE server against a backend it does not own: what each request does to the backend, what
// the kernel gets back, and that a WRITE or FSYNC is answered only once the backend has finished.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { NbdBackend } from '../../../src/nbd/backend.js';
import { MemoryBackend } from '../../../src/nbd/memory-backend.js';
import { FuseServer, MAX_BACKGROUND } from '../../../src/fuse/fuse-server.js';
import { FOPEN_DIRECT_IO, FOPEN_PARALLEL_DIRECT_WRITES, Fallocate, Fattr, InitFlag, O_DSYNC, Op } from '../../../src/fuse/abi.js';
import { fallocateArgs, fsyncArgs, initArgs, nameArgs, request, rwArgs, setattrArgs, writeRequest } from './requests.js';

interface Reply {
  unique: number;
  errno: number;
  data: Buffer;
}

const SIZE = 1 << 20;

class Recorder {
  replies: Reply[] = [];
  transport = {
    reply: (unique: number, errno: number, a?: Uint8Array, b?: Uint8Array): number => {
      this.replies.push({ unique, errno, data: Buffer.concat([a ?? Buffer.alloc(0), b ?? Buffer.alloc(0)]) });
      return 0;
    },
    replyWrite: (unique: number, size: number): number => {
      const d = Buffer.alloc(8);
      d.writeUInt32LE(size);
      this.replies.push({ unique, errno: 0, data: d });
      return 0;
    },
  };
  last(): Reply {
    return this.replies[this.replies.length - 1]!;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A memory backend that logs every call. */
function counting(): { backend: NbdBackend; mem: MemoryBackend; ops: string[] } {
  const mem = new MemoryBackend(SIZE);
  const ops: string[] = [];
  const backend: NbdBackend = {
    size: SIZE,
    readOnly: false,
    read: (o, l) => (ops.push(`read ${o}+${l}`), mem.read(o, l)),
    write: (o, d, fua) => (ops.push(`write ${o}+${d.length}${fua ? ' fua' : ''}`), mem.write(o, d)),
    flush: () => (ops.push('flush'), mem.flush()),
    trim: (o, l) => (ops.push(`trim ${o}+${l}`), mem.trim(o, l)),
    writeZeroes: (o, l, fua) => (ops.push(`zeroes ${o}+${l}${fua ? ' fua' : ''}`), mem.writeZeroes(o, l)),
  };
  return { backend, mem, ops };
}

function server(backend: NbdBackend, r: Recorder): FuseServer {
  return new FuseServer({ transport: r.transport, backend, fileName: 'disk', logger: pino({ level: 'silent' }), now: () => 1_700_000_000 });
}

async function settle(s: FuseServer): Promise<void> {
  await s.idle();
}

function init(s: FuseServer, r: Recorder, minor = 41, flags = 0xffff_ffff): Reply {
  s.handle(request(Op.INIT, 0, initArgs(7, minor, flags)));
  return r.last();
}

describe('FuseServer: INIT', () => {
  it('asks for async direct I/O, 1 MiB writes and 128 requests in flight, at most minor 36', () => {
    const r = new Recorder();
    const s = server(new MemoryBackend(SIZE), r);
    const out = init(s, r).data;
    expect(out.readUInt32LE(0)).toBe(7);
    expect(out.readUInt32LE(4)).toBe(36);
    expect(out.readUInt32LE(12)).toBe(InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.ASYNC_DIO | InitFlag.MAX_PAGES);
    expect(out.readUInt16LE(16)).toBe(MAX_BACKGROUND);
    expect(out.readUInt32LE(20)).toBe(1 << 20);
    expect(out.readUInt16LE(28)).toBe(256);
    expect(s.ready).toBe(true);
  });

  it('only takes flags the kernel offers, and an older minor as the kernel speaks it', () => {
    const r = new Recorder();
    const s = server(new MemoryBackend(SIZE), r);
    const out = init(s, r, 31, InitFlag.ASYNC_READ | (1 << 10)).data;
    expect(out.readUInt32LE(4)).toBe(31);
    expect(out.readUInt32LE(12)).toBe(InitFlag.ASYNC_READ);
  });

  it('refuses a kernel older than protocol 7', () => {
    const r = new Recorder();
    const s = server(new MemoryBackend(SIZE), r);
    s.handle(request(Op.INIT, 0, initArgs(6, 1, 0)));
    expect(r.last().errno).toBe(71); // EPROTO
    expect(s.ready).toBe(false);
  });
});

describe('FuseServer: the directory and its one file', () => {
  const r = new Recorder();
  const s = server(new MemoryBackend(SIZE), r);
  init(s, r);
  const rows: Array<[string, number, number, Buffer, number]> = [
    ['LOOKUP of the file', Op.LOOKUP, 1, nameArgs('disk'), 0],
    ['LOOKUP of another name', Op.LOOKUP, 1, nameArgs('other'), 2],
    ['LOOKUP inside the file', Op.LOOKUP, 2, nameArgs('disk'), 2],
    ['GETATTR of the root', Op.GETATTR, 1, Buffer.alloc(16), 0],
    ['GETATTR of the file', Op.GETATTR, 2, Buffer.alloc(16), 0],
    ['GETATTR of an unknown node', Op.GETATTR, 9, Buffer.alloc(16), 2],
    ['OPEN of the root', Op.OPEN, 1, Buffer.alloc(8), 21],
    ['SETATTR of the size (truncate)', Op.SETATTR, 2, setattrArgs(Fattr.SIZE, 0), 1],
    ['SETATTR of the mode', Op.SETATTR, 2, setattrArgs(Fattr.MODE, 0), 1],
    ['SETATTR of the times (touch)', Op.SETATTR, 2, setattrArgs(Fattr.ATIME | Fattr.MTIME, 0), 0],
    ['SETATTR of the size to the size it has', Op.SETATTR, 2, setattrArgs(Fattr.SIZE, SIZE), 0],
    ['MKDIR', Op.MKDIR, 1, nameArgs('x'), 1],
    ['CREATE', Op.CREATE, 1, nameArgs('x'), 1],
    ['UNLINK of the file', Op.UNLINK, 1, nameArgs('disk'), 1],
    ['GETXATTR (the kernel then stops asking)', Op.GETXATTR, 2, nameArgs('user.x'), 38],
    ['an opcode nobody knows', 999, 2, Buffer.alloc(0), 38],
    ['RELEASE', Op.RELEASE, 2, Buffer.alloc(24), 0],
    ['STATFS', Op.STATFS, 1, Buffer.alloc(0), 0],
  ];
  it.each(rows)('%s → errno %i', (_, op, node, args, errno) => {
    s.handle(request(op, node, args));
    expect(r.last().errno).toBe(errno);
  });

  it('the file has the device size, mode 0600, and OPEN disables its page cache and allows parallel direct writes', () => {
    s.handle(request(Op.LOOKUP, 1, nameArgs('disk')));
    const e = r.last().data;
    expect(Number(e.readBigUInt64LE(0))).toBe(2);
    expect(Number(e.readBigUInt64LE(40 + 8))).toBe(SIZE);
    expect(e.readUInt32LE(40 + 60)).toBe(0o100600);
    s.handle(request(Op.OPEN, 2, Buffer.alloc(8)));
    expect(r.last().data.readUInt32LE(8)).toBe(FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES);
  });

  it('without minor 36, OPEN does not claim parallel direct writes', () => {
    const r2 = new Recorder();
    const s2 = server(new MemoryBackend(SIZE), r2);
    init(s2, r2, 31);
    s2.handle(request(Op.OPEN, 2, Buffer.alloc(8)));
    expect(r2.last().data.readUInt32LE(8)).toBe(FOPEN_DIRECT_IO);
  });

  it('READDIR lists ., .. and the file', () => {
    s.handle(request(Op.READDIR, 1, rwArgs(0, 4096)));
    expect(r.last().data.toString('latin1')).toContain('disk');
    s.handle(request(Op.READDIR, 1, rwArgs(3, 4096)));
    expect(r.last().data.length).toBe(0);
  });

  it('FORGET and INTERRUPT get no reply', () => {
    const n = r.replies.length;
    s.handle(request(Op.FORGET, 2, Buffer.alloc(8)));
    s.handle(request(Op.INTERRUPT, 0, Buffer.alloc(8)));
    expect(r.replies.length).toBe(n);
  });
});

describe('FuseServer: data', () => {
  it('WRITE lands in the backend and is answered with its size; READ returns it', async () => {
    const r = new Recorder();
    const { backend, mem } = counting();
    const s = server(backend, r);
    const data = Buffer.alloc(4096, 7);
    const w = writeRequest(8192, data);
    s.handle(w);
    await settle(s);
    expect(r.last()).toEqual({ unique: w.unique, errno: 0, data: Buffer.from([0, 16, 0, 0, 0, 0, 0, 0]) });
    expect(mem.data.subarray(8192, 8192 + 4096).equals(data)).toBe(true);
    const rd = request(Op.READ, 2, rwArgs(8192, 4096));
    s.handle(rd);
    await settle(s);
    expect(r.last().unique).toBe(rd.unique);
    expect(r.last().data.equals(data)).toBe(true);
  });

  it('a WRITE is answered only after the backend completed it, and FSYNC only after backend.flush()', async () => {
    const r = new Recorder();
    const gate = deferred();
    const flushGate = deferred();
    const mem = new MemoryBackend(SIZE);
    const backend: NbdBackend = { ...mem, size: SIZE, readOnly: false, read: (o, l) => mem.read(o, l), write: async (o, d) => { await gate.promise; await mem.write(o, d); }, flush: () => flushGate.promise, trim: (o, l) => mem.trim(o, l), writeZeroes: (o, l) => mem.writeZeroes(o, l) };
    const s = server(backend, r);
    s.handle(writeRequest(0, Buffer.alloc(4096, 1)));
    s.handle(request(Op.FSYNC, 2, fsyncArgs(true)));
    await new Promise((res) => setImmediate(res));
    expect(r.replies).toEqual([]);
    expect(s.requestsInFlight).toBe(2);
    gate.resolve();
    await new Promise((res) => setImmediate(res));
    expect(r.replies.map((x) => x.data.length)).toEqual([8]); // the WRITE only
    flushGate.resolve();
    await settle(s);
    expect(r.replies.length).toBe(2);
    expect(r.last().errno).toBe(0);
  });

  it('FSYNC and FLUSH call backend.flush; an O_DSYNC write is a FUA write', async () => {
    const r = new Recorder();
    const { backend, ops } = counting();
    const s = server(backend, r);
    s.handle(writeRequest(4096, Buffer.alloc(4096), O_DSYNC));
    s.handle(request(Op.FSYNC, 2, fsyncArgs(false)));
    s.handle(request(Op.FLUSH, 2, Buffer.alloc(24)));
    await settle(s);
    expect(ops).toEqual(['write 4096+4096 fua', 'flush', 'flush']);
    expect(r.replies.every((x) => x.errno === 0)).toBe(true);
  });

  it('refuses writes past the end (ENOSPC) and a payload that disagrees with its size (EINVAL); reads past the end are short', async () => {
    const r = new Recorder();
    const { backend, ops } = counting();
    const s = server(backend, r);
    s.handle(writeRequest(SIZE - 2048, Buffer.alloc(4096)));
    expect(r.last().errno).toBe(28);
    s.handle(request(Op.WRITE, 2, Buffer.concat([rwArgs(0, 8192), Buffer.alloc(4096)])));
    expect(r.last().errno).toBe(22);
    s.handle(request(Op.READ, 2, rwArgs(SIZE - 1024, 4096)));
    await settle(s);
    expect(r.last().data.length).toBe(1024);
    s.handle(request(Op.READ, 2, rwArgs(SIZE, 4096)));
    expect(r.last()).toMatchObject({ errno: 0, data: Buffer.alloc(0) });
    expect(ops).toEqual([`read ${SIZE - 1024}+1024`]);
  });

  it('FALLOCATE: zero range writes zeroes, punch hole trims, plain allocation does nothing, the rest is unsupported', async () => {
    const r = new Recorder();
    const { backend, ops } = counting();
    const s = server(backend, r);
    const rows: Array<[number, number, string | null]> = [
      [Fallocate.ZERO_RANGE | Fallocate.KEEP_SIZE, 0, 'zeroes 0+65536'],
      [Fallocate.ZERO_RANGE, 0, 'zeroes 0+65536'],
      [Fallocate.PUNCH_HOLE | Fallocate.KEEP_SIZE, 0, 'trim 0+65536'],
      [Fallocate.KEEP_SIZE, 0, null],
      [0, 0, null],
      [Fallocate.PUNCH_HOLE, 95, null],
      [0x20, 95, null],
    ];
    for (const [mode, errno, op] of rows) {
      const before = ops.length;
      s.handle(request(Op.FALLOCATE, 2, fallocateArgs(0, 65536, mode)));
      await settle(s);
      expect(r.last().errno, `mode ${mode}`).toBe(errno);
      expect(ops.slice(before), `mode ${mode}`).toEqual(op ? [op] : []);
    }
  });

  it('a backend error reaches the kernel as its errno: EPERM from a Secondary, ENOSPC, anything else EIO', async () => {
    const r = new Recorder();
    const fail = (code: string | undefined): NbdBackend => ({
      size: SIZE, readOnly: false,
      read: () => Promise.reject(Object.assign(new Error('no'), { code })),
      write: () => Promise.reject(Object.assign(new Error('no'), { code })),
      flush: () => Promise.reject(Object.assign(new Error('no'), { code })),
      trim: () => Promise.reject(new Error('no')),
      writeZeroes: () => Promise.reject(new Error('no')),
    });
    for (const [code, errno] of [['EPERM', 1], ['ENOSPC', 28], ['EIO', 5], [undefined, 5]] as const) {
      const s = server(fail(code), r);
      s.handle(writeRequest(0, Buffer.alloc(512)));
      s.handle(request(Op.READ, 2, rwArgs(0, 512)));
      s.handle(request(Op.FSYNC, 2, fsyncArgs(false)));
      await settle(s);
      expect(r.replies.slice(-3).map((x) => x.errno), String(code)).toEqual([errno, errno, errno]);
    }
  });

  it('a malformed request is answered with EINVAL instead of throwing', () => {
    const r = new Recorder();
    const s = server(new MemoryBackend(SIZE), r);
    s.handle(request(Op.READ, 2, Buffer.alloc(8)));
    expect(r.last().errno).toBe(22);
    s.handle(request(Op.INIT, 0, Buffer.alloc(4)));
    expect(r.last().errno).toBe(22);
  });
});

describe('FuseServer: a resized backend', () => {
  it('tells the kernel to drop the file attributes (FUSE_NOTIFY_INVAL_INODE, attributes only), then GETATTR shows the new size', () => {
    const r = new Recorder();
    const notes: Array<{ code: number; data: Buffer }> = [];
    const backend = { ...counting().backend, size: SIZE };
    const s = new FuseServer({
      transport: { ...r.transport, notify: (code: number, data: Uint8Array) => (notes.push({ code, data: Buffer.from(data) }), 0) },
      backend, fileName: 'disk', logger: pino({ level: 'silent' }), now: () => 1_700_000_000,
    });
    expect(s.sizeChanged()).toBe(38); // before INIT the kernel has nothing to drop
    init(s, r);
    backend.size = 2 * SIZE;
    expect(s.sizeChanged()).toBe(0);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.code).toBe(2);
    expect(notes[0]!.data.readBigUInt64LE(0)).toBe(2n); // the file's node id
    expect(notes[0]!.data.readBigInt64LE(8)).toBe(-1n); // no page cache range
    s.handle(request(Op.GETATTR, 2, Buffer.alloc(16)));
    expect(r.last().data.readBigUInt64LE(16 + 8)).toBe(BigInt(2 * SIZE));
  });

  it('a transport that cannot notify says so (ENOSYS)', () => {
    const r = new Recorder();
    const s = server(new MemoryBackend(SIZE), r);
    init(s, r);
    expect(s.sizeChanged()).toBe(38);
  });
});
