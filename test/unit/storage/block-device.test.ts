import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BlockDevice, StorageError } from '../../../src/storage/block-device.js';

const MiB = 1024 * 1024;
// /var/tmp rather than a possibly tmpfs /tmp: the O_DIRECT tests need a disk filesystem.
const dir = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'tandem-bd-'));
let seq = 0;
const open: BlockDevice[] = [];

function tempFile(size: number): string {
  const p = join(dir, `disk${seq++}.img`);
  writeFileSync(p, '');
  truncateSync(p, size);
  return p;
}

function track(d: BlockDevice): BlockDevice {
  open.push(d);
  return d;
}

function openFile(size = 4 * MiB, opts = {}): BlockDevice {
  return track(BlockDevice.open(tempFile(size), opts));
}

function catchSync(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

afterEach(() => {
  for (const d of open.splice(0)) d.close();
  delete process.env.TANDEM_TEST_FAULTS;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('BlockDevice on a regular file', () => {
  it('opens with the file size and kind', () => {
    const d = openFile(3 * MiB + 512);
    expect(d.kind).toBe('file');
    expect(d.size).toBe(3 * MiB + 512);
    expect(d.direct).toBe(false);
    expect(d.alignment).toBe(1);
  });

  it('writes and reads back, with read and readInto', async () => {
    const d = openFile();
    const data = randomBytes(12345);
    await d.write(777, data);
    expect((await d.read(777, 12345)).equals(data)).toBe(true);
    const target = Buffer.alloc(100);
    await d.readInto(800, target);
    expect(target.equals(data.subarray(23, 123))).toBe(true);
    expect(readFileSync(d.path).subarray(777, 777 + 12345).equals(data)).toBe(true);
  });

  it('writeBatch writes contiguous and scattered entries, later entries winning on overlap', async () => {
    const d = openFile();
    const a = Buffer.alloc(4096, 1);
    const b = Buffer.alloc(4096, 2);
    const c = Buffer.alloc(4096, 3);
    const e = Buffer.alloc(100, 4);
    await d.writeBatch([
      { offset: 0, data: a },
      { offset: 4096, data: b },
      { offset: 8192, data: c },
      { offset: MiB, data: a },
      { offset: 4096 + 10, data: e },
    ]);
    const got = await d.read(0, 3 * 4096);
    const want = Buffer.concat([a, b, c]);
    e.copy(want, 4096 + 10);
    expect(got.equals(want)).toBe(true);
    expect((await d.read(MiB, 4096)).equals(a)).toBe(true);
    await d.writeBatch([]);
  });

  it('flush resolves', async () => {
    const d = openFile();
    await d.write(0, Buffer.alloc(4096, 9));
    await expect(d.flush()).resolves.toBeUndefined();
  });

  it('discard punches a hole that reads back as zeros and frees the blocks', async () => {
    const d = openFile(4 * MiB);
    await d.write(0, Buffer.alloc(2 * MiB, 0xee));
    await d.flush();
    const before = statSync(d.path).blocks;
    await d.discard(MiB / 2, MiB);
    expect(statSync(d.path).size).toBe(4 * MiB);
    expect(statSync(d.path).blocks).toBeLessThan(before);
    const back = await d.read(0, 2 * MiB);
    expect(back.subarray(0, MiB / 2).every((x) => x === 0xee)).toBe(true);
    expect(back.subarray(MiB / 2, MiB / 2 + MiB).every((x) => x === 0)).toBe(true);
    expect(back.subarray(MiB / 2 + MiB).every((x) => x === 0xee)).toBe(true);
  });

  it('1000 parallel writes all land (Promise and callback styles)', async () => {
    const d = openFile(8 * MiB);
    const blocks = Array.from({ length: 1000 }, (_, i) => ({ offset: i * 4096, data: randomBytes(4096) }));
    await Promise.all(
      blocks.map((b, i) =>
        i % 2 === 0
          ? d.write(b.offset, b.data)
          : new Promise<void>((res, rej) => d.writeCb(b.offset, b.data, (err) => (err ? rej(err) : res()))),
      ),
    );
    const back = await Promise.all(blocks.map((b) => d.read(b.offset, 4096)));
    back.forEach((buf, i) => expect(buf.equals(blocks[i].data)).toBe(true));
    const file = readFileSync(d.path);
    blocks.forEach((b) => expect(file.subarray(b.offset, b.offset + 4096).equals(b.data)).toBe(true));
  });

  it('callbacks are asynchronous and readCb hands over the data', async () => {
    const d = openFile();
    await d.write(0, Buffer.from('hello'));
    let sync = true;
    const got = await new Promise<Buffer>((res, rej) => {
      d.readCb(0, 5, (err, data) => {
        expect(sync).toBe(false);
        if (err) rej(err);
        else res(data);
      });
      sync = false;
    });
    expect(got.toString()).toBe('hello');
  });

  it('readIntoSync and writeBatchSync work on this thread, in order, within the same checks', () => {
    const d = openFile();
    expect(d.inlineLimit).toBeGreaterThanOrEqual(64 * 1024);
    const a = randomBytes(4096);
    const b = randomBytes(4096);
    // overlapping entries: the later one wins, as in writeBatch
    expect(d.writeBatchSync([{ offset: 4096, data: a }, { offset: 6144, data: b }])).toBeNull();
    const back = Buffer.alloc(6144);
    expect(d.readIntoSync(4096, back)).toBeNull(); // just written: cached
    expect(back.subarray(0, 2048).equals(a.subarray(0, 2048))).toBe(true);
    expect(back.subarray(2048).equals(b)).toBe(true);
    expect(readFileSync(d.path).subarray(6144, 6144 + 4096).equals(b)).toBe(true);
    expect(d.writeSync(100, a)).toBeNull();
    expect(readFileSync(d.path).subarray(100, 100 + 4096).equals(a)).toBe(true);
    expect(() => d.writeSync(4 * MiB - 1, a)).toThrow(RangeError);
    expect(() => d.readIntoSync(4 * MiB - 10, Buffer.alloc(20))).toThrow(RangeError);
    expect(() => d.writeBatchSync([{ offset: -1, data: a }])).toThrow(RangeError);
    const ro = track(BlockDevice.open(d.path, { readOnly: true }));
    expect(ro.writeBatchSync([{ offset: 0, data: a }])).toMatchObject({ code: 'EROFS' });
    d.close();
    expect(d.readIntoSync(0, Buffer.alloc(10))).toMatchObject({ code: 'ECLOSED' });
    expect(d.writeBatchSync([{ offset: 0, data: a }])).toMatchObject({ code: 'ECLOSED' });
    expect(d.writeSync(0, a)).toMatchObject({ code: 'ECLOSED' });
  });

  it('readIntoSync never waits for the disk: an uncached page is reported, the pool read caches it', async () => {
    const d = openFile(MiB);
    const data = randomBytes(64 * 1024);
    await d.write(128 * 1024, data);
    await d.flush();
    // POSIX_FADV_DONTNEED on the whole file (GNU dd), now that it is written back
    execFileSync('dd', [`if=${d.path}`, 'iflag=nocache', 'count=0', 'status=none']);
    const target = Buffer.alloc(data.length);
    expect(d.readIntoSync(128 * 1024, target)).toBe('not-cached');
    await d.readInto(128 * 1024, target);
    expect(target.equals(data)).toBe(true);
    target.fill(0);
    expect(d.readIntoSync(128 * 1024, target)).toBeNull();
    expect(target.equals(data)).toBe(true);
  });

  it('writeBulk puts aligned ranges below the page cache and stays coherent with buffered I/O', async () => {
    const d = openFile(MiB);
    // a buffered write caches the range; the bulk write over it must win and drop the stale pages
    await d.write(64 * 1024, Buffer.alloc(64 * 1024, 0xaa));
    const bulk = randomBytes(64 * 1024 + 1).subarray(1); // misaligned: goes through the bounce buffer
    await d.writeBulk(64 * 1024, bulk);
    const seen = Buffer.alloc(bulk.length);
    // not in the page cache: the data went to the file with O_DIRECT
    expect(d.readIntoSync(64 * 1024, seen)).toBe('not-cached');
    await d.readInto(64 * 1024, seen);
    expect(seen.equals(bulk)).toBe(true);
    expect(readFileSync(d.path).subarray(64 * 1024, 128 * 1024).equals(bulk)).toBe(true);
    // an unaligned range cannot go O_DIRECT: it is a plain buffered write, cached afterwards
    const odd = randomBytes(1000);
    await d.writeBulk(300 * 1024 + 7, odd);
    const back = Buffer.alloc(1000);
    expect(d.readIntoSync(300 * 1024 + 7, back)).toBeNull();
    expect(back.equals(odd)).toBe(true);
    await expect(d.writeBulk(MiB - 4096, Buffer.alloc(8192))).rejects.toThrow(RangeError);
  });

  // /dev/shm is the tmpfs every Linux has; elsewhere there is nothing to run this on
  it.skipIf(!existsSync('/dev/shm'))('writeBulk on a filesystem that may refuse O_DIRECT (tmpfs) still writes through the page cache', async () => {
    const p = join(mkdtempSync('/dev/shm/tandem-bd-'), 'd.img');
    writeFileSync(p, '');
    truncateSync(p, MiB);
    const d = track(BlockDevice.open(p));
    try {
      const data = randomBytes(256 * 1024);
      await d.writeBulk(256 * 1024, data);
      expect(readFileSync(p).subarray(256 * 1024, 512 * 1024).equals(data)).toBe(true);
      expect((await d.read(256 * 1024, data.length)).equals(data)).toBe(true);
    } finally {
      d.close();
      rmSync(join(p, '..'), { recursive: true, force: true });
    }
  });

  it('O_DIRECT devices and TANDEM_INLINE_IO=0 keep every request on the I/O pool', () => {
    expect(openFile(MiB, { direct: true }).inlineLimit).toBe(0);
    process.env.TANDEM_INLINE_IO = '0';
    try {
      expect(openFile().inlineLimit).toBe(0);
    } finally {
      delete process.env.TANDEM_INLINE_IO;
    }
  });

  it('read-only devices refuse writes with EROFS', async () => {
    const d = openFile(MiB, { readOnly: true });
    await expect(d.read(0, 10)).resolves.toHaveLength(10);
    await expect(d.write(0, Buffer.alloc(1))).rejects.toMatchObject({ code: 'EROFS', op: 'write' });
    await expect(d.discard(0, 4096)).rejects.toMatchObject({ code: 'EROFS' });
  });

  it('O_DIRECT round trip with aligned and misaligned buffers', async () => {
    const d = openFile(4 * MiB, { direct: true });
    expect(d.direct).toBe(true);
    expect(d.alignment).toBe(4096);
    const aligned = d.allocAligned(8192);
    randomBytes(8192).copy(aligned);
    await d.write(4096, aligned);
    const misaligned = Buffer.alloc(8192 + 1).subarray(1); // forces the bounce buffer
    randomBytes(8192).copy(misaligned);
    await d.writeBatch([
      { offset: 65536, data: misaligned },
      { offset: 65536 + 8192, data: aligned },
    ]);
    expect((await d.read(4096, 8192)).equals(aligned)).toBe(true);
    const into = Buffer.alloc(8192 + 3).subarray(3);
    await d.readInto(65536, into);
    expect(into.equals(misaligned)).toBe(true);
    expect((await d.read(65536 + 8192, 8192)).equals(aligned)).toBe(true);
    await expect(d.read(100, 4096)).rejects.toThrow(/aligned to 4096 bytes/);
    expect(() => d.writeCb(0, Buffer.alloc(100), () => {})).toThrow(RangeError);
  });
});

describe('BlockDevice errors', () => {
  it('a missing path', () => {
    const e = catchSync(() => BlockDevice.open(join(dir, 'nope.img')));
    expect(e).toBeInstanceOf(StorageError);
    expect(e).toMatchObject({ code: 'ENOENT', op: 'open', path: join(dir, 'nope.img') });
    expect((e as Error).message).toMatch(/nope\.img: no such file or directory/);
  });

  it('a directory and a character device are neither file nor block device', () => {
    const sub = join(dir, 'adir');
    mkdirSync(sub, { recursive: true });
    for (const p of [sub, '/dev/null']) {
      const e = catchSync(() => BlockDevice.open(p));
      expect(e).toBeInstanceOf(StorageError);
      expect((e as Error).message).toBe(`${p}: not a regular file or block device`);
    }
  });

  it('requests beyond the device end are RangeErrors, before any I/O', async () => {
    const d = openFile(MiB);
    await expect(d.read(MiB - 10, 11)).rejects.toThrow(RangeError);
    await expect(d.read(MiB, 1)).rejects.toThrow(/beyond the device end \(1048576 bytes\)/);
    await expect(d.write(MiB - 1, Buffer.alloc(2))).rejects.toThrow(RangeError);
    await expect(d.writeBatch([{ offset: 0, data: Buffer.alloc(1) }, { offset: MiB, data: Buffer.alloc(1) }])).rejects.toThrow(RangeError);
    await expect(d.discard(0, MiB + 1)).rejects.toThrow(RangeError);
    await expect(d.read(-1, 1)).rejects.toThrow(RangeError);
    await expect(d.read(1.5, 1)).rejects.toThrow(RangeError);
    expect(() => d.writeCb(MiB, Buffer.alloc(1), () => {})).toThrow(RangeError);
    await expect(d.read(MiB, 0)).resolves.toHaveLength(0);
  });

  it('a file that shrank under us gives a short read, not zeros', async () => {
    const d = openFile(MiB);
    truncateSync(d.path, 4096);
    const e = await d.read(0, 8192).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StorageError);
    expect(e).toMatchObject({ code: 'EIO', op: 'read', offset: 0 });
    expect((e as Error).message).toMatch(/short read at offset 0: 4096 of 8192 bytes/);
  });

  it('close is idempotent; later requests fail with ECLOSED; in-flight ones settle', async () => {
    const d = openFile(8 * MiB);
    const inflight = Array.from({ length: 200 }, (_, i) => d.write(i * 4096, Buffer.alloc(4096, 7)).then(
      () => 'ok',
      (e: StorageError) => e.code,
    ));
    d.close();
    d.close();
    expect(d.closed).toBe(true);
    const outcomes = await Promise.all(inflight);
    expect(outcomes.every((o) => o === 'ok' || o === 'ECLOSED')).toBe(true);
    await expect(d.read(0, 1)).rejects.toMatchObject({ code: 'ECLOSED' });
    await expect(d.flush()).rejects.toMatchObject({ code: 'ECLOSED' });
  });
});

describe('fault injection', () => {
  it('is refused unless TANDEM_TEST_FAULTS=1 was set at open', () => {
    const d = openFile();
    expect(() => d.injectFaults([{ offset: 0, length: 4096, op: 'write', errno: 'EIO' }])).toThrow(
      /fault injection is disabled/,
    );
    expect(() => d.clearFaults()).toThrow(/fault injection is disabled/);
  });

  it('fails matching requests with the errno, offset and op; clearFaults heals', async () => {
    process.env.TANDEM_TEST_FAULTS = '1';
    const d = openFile();
    d.injectFaults([
      { offset: 8192, length: 4096, op: 'write', errno: 'EIO' },
      { offset: 65536, length: 1, op: 'any', errno: 'ENOSPC' },
      { offset: 0, length: 0, op: 'flush' },
    ]);
    const e = await d.write(8192, Buffer.alloc(4096, 0xab)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StorageError);
    expect(e).toMatchObject({ code: 'EIO', op: 'write', offset: 8192, path: d.path });
    // A write-only fault: reads still work, and the failed write never reached the file.
    expect((await d.read(8192, 4096)).every((x) => x === 0)).toBe(true);
    await expect(d.write(0, Buffer.alloc(4096))).resolves.toBeUndefined(); // no overlap
    await expect(d.writeBulk(8192, Buffer.alloc(4096, 0xab))).rejects.toMatchObject({ code: 'EIO', op: 'write', offset: 8192 });
    await expect(d.read(65536 - 10, 20)).rejects.toMatchObject({ code: 'ENOSPC', op: 'read', offset: 65526 });
    await expect(d.discard(8192, 4096)).rejects.toMatchObject({ code: 'EIO', op: 'discard' });
    await expect(d.flush()).rejects.toMatchObject({ code: 'EIO', op: 'flush' });
    const batch = await d
      .writeBatch([
        { offset: 0, data: Buffer.alloc(4096, 1) },
        { offset: 4096, data: Buffer.alloc(4096, 1) },
        { offset: 8192, data: Buffer.alloc(4096, 1) },
      ])
      .catch((x: unknown) => x);
    expect(batch).toMatchObject({ code: 'EIO', offset: 8192 });
    expect((batch as Error).message).toMatch(/batch entry 2 of 3/);
    // The entries before the failing one were written, as on a real disk.
    expect((await d.read(0, 8192)).every((x) => x === 1)).toBe(true);
    d.clearFaults();
    await expect(d.write(8192, Buffer.alloc(4096))).resolves.toBeUndefined();
    await expect(d.flush()).resolves.toBeUndefined();
  });

  it('the synchronous read and batch write see the same faults, and name the failed entry', () => {
    process.env.TANDEM_TEST_FAULTS = '1';
    const d = openFile();
    d.injectFaults([{ offset: 8192, length: 4096, op: 'any', errno: 'EIO' }]);
    const err = d.writeBatchSync([
      { offset: 0, data: Buffer.alloc(4096, 2) },
      { offset: 4096, data: Buffer.alloc(4096, 2) },
      { offset: 8192, data: Buffer.alloc(4096, 2) },
    ]);
    expect(err).toMatchObject({ code: 'EIO', op: 'write', offset: 8192 });
    expect(err!.message).toMatch(/batch entry 2 of 3/);
    expect(d.writeSync(8192 + 4000, Buffer.alloc(200))).toMatchObject({ code: 'EIO', op: 'write', offset: 12192 });
    const back = Buffer.alloc(8192);
    expect(d.readIntoSync(0, back)).toBeNull();
    expect(back.every((x) => x === 2)).toBe(true);
    expect(d.readIntoSync(8192 - 100, Buffer.alloc(200))).toMatchObject({ code: 'EIO', op: 'read', offset: 8092 });
  });

  it('rejects unknown errno names and ops', () => {
    process.env.TANDEM_TEST_FAULTS = '1';
    const d = openFile();
    expect(() => d.injectFaults([{ offset: 0, length: 1, op: 'write', errno: 'EWHATEVER' }])).toThrow(/unknown errno/);
    expect(() => d.injectFaults([{ offset: 0, length: 1, op: 'sideways' as 'write' }])).toThrow(/op must be/);
  });
});

// Loop devices need root (losetup, mount); as another user these tests are skipped.
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('BlockDevice on a loop device (root)', () => {
  let backing = '';
  let loop = '';
  const mnt = join(dir, 'mnt');

  beforeAll(() => {
    backing = tempFile(16 * MiB);
    loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  });
  afterAll(() => {
    if (loop) {
      try {
        execFileSync('umount', [mnt], { stdio: 'ignore' });
      } catch {
        // not mounted
      }
      execFileSync('losetup', ['-d', loop]);
    }
  });

  it('sizes the device with BLKGETSIZE64 and round-trips data', async () => {
    const d = track(BlockDevice.open(loop));
    expect(d.kind).toBe('block');
    expect(d.size).toBe(16 * MiB);
    const data = randomBytes(64 * 1024);
    await d.write(MiB, data);
    await d.flush();
    expect((await d.read(MiB, data.length)).equals(data)).toBe(true);
    await d.discard(MiB, MiB);
    await d.flush();
    // A loop device turns the discard into a hole in its backing file.
    expect((await d.read(MiB, data.length)).every((x) => x === 0)).toBe(true);
  });

  it('refuses a device held open exclusively by another BlockDevice, and allows it after close', () => {
    const first = BlockDevice.open(loop);
    const e = catchSync(() => BlockDevice.open(loop));
    expect(e).toBeInstanceOf(StorageError);
    expect(e).toMatchObject({ code: 'EBUSY', op: 'open' });
    expect((e as Error).message).toBe(`${loop}: device is in use (mounted or held open by another process)`);
    first.close();
    track(BlockDevice.open(loop));
  });

  it('refuses a mounted device', () => {
    execFileSync('mkfs.ext4', ['-q', '-F', loop]);
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', [loop, mnt]);
    try {
      const e = catchSync(() => BlockDevice.open(loop, { readOnly: true }));
      expect(e).toMatchObject({ code: 'EBUSY' });
      expect((e as Error).message).toMatch(/device is in use \(mounted or held open by another process\)/);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('O_DIRECT round trip at the logical block size', async () => {
    const d = track(BlockDevice.open(loop, { direct: true }));
    expect(d.alignment).toBe(512);
    const buf = d.allocAligned(4096);
    randomBytes(4096).copy(buf);
    await d.write(512 * 7, buf);
    const odd = Buffer.alloc(1024 + 1).subarray(1);
    await d.readInto(512 * 7, odd);
    expect(odd.equals(buf.subarray(0, 1024))).toBe(true);
    expect((await d.read(512 * 7, 4096)).equals(buf)).toBe(true);
  });
});
