import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActivityLogWriter } from '../../../src/storage/activity-log.js';
import { createMetadata, type CreateMdOptions } from '../../../src/storage/create-md.js';
import { MetadataError } from '../../../src/storage/metadata-error.js';
import { computeLayout, type MetaPlacement } from '../../../src/storage/metadata-layout.js';
import {
  openFileMetaIO,
  readMetadata,
  writeAlTransaction,
  writeBitmap,
  writeBitmapRange,
  writeSuperblock,
  type ClosableMetaIO,
  type MetaIO,
} from '../../../src/storage/metadata-store.js';
import { SparseMetaIO } from './sparse-meta-io.js';

const MiB = 1024 * 1024;
const OPTS: CreateMdOptions = { force: false, nodeName: 'alpha', alExtents: 1237, now: () => Date.UTC(2024, 0, 2, 3, 4, 5) };
const INTERNAL: MetaPlacement = { kind: 'internal' };

let dir: string;
let opened: ClosableMetaIO[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-md-'));
  opened = [];
});
afterEach(async () => {
  for (const io of opened) await io.close();
  await rm(dir, { recursive: true, force: true });
});

async function sparseFile(name: string, size: number): Promise<string> {
  const path = join(dir, name);
  await (await open(path, 'w')).close();
  await truncate(path, size);
  return path;
}

async function openIO(path: string): Promise<ClosableMetaIO> {
  const io = await openFileMetaIO(path);
  opened.push(io);
  return io;
}

async function pokeBytes(path: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(bytes, 0, bytes.length, offset);
  await fh.close();
}

async function createInternal(io: MetaIO, opts: Partial<CreateMdOptions> = {}) {
  return createMetadata({ name: 'r0', data: io, meta: io, placement: INTERNAL }, { ...OPTS, ...opts });
}

function findMkfsExt4(): string | null {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (d && existsSync(join(d, 'mkfs.ext4'))) return join(d, 'mkfs.ext4');
  }
  return null;
}

describe('create-md on a 64 MiB file', () => {
  it('writes DRBD-style fresh metadata that readMetadata returns', async () => {
    const io = await openIO(await sparseFile('disk', 64 * MiB));
    const res = await createInternal(io);
    expect(res.overwritten).toEqual([]);

    const layout = computeLayout(INTERNAL, { dataSize: io.size });
    const md = await readMetadata(io, layout, { device: 'r0' });
    const sb = md.superblock;
    // reference §1.1: current = UUID_JUST_CREATED (4), bitmap = history = 0, only al-clean
    expect(sb.uuids).toEqual({ current: 4n, bitmap: 0n, history: [0n, 0n] });
    expect(Object.entries(sb.flags).filter(([, v]) => v).map(([k]) => k)).toEqual(['alClean']);
    expect(sb.laSizeSect).toBe(0);
    expect(sb.usableSize).toBe(64 * MiB - 40 * 1024);
    expect(sb.createdBy).toBe('alpha');
    expect(sb.createdAt).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(sb.alExtents).toBe(1237);
    expect(sb.deviceUuid).not.toBe(0n);
    expect(md.layout).toEqual(layout);
    expect(md.bitmap.length).toBe(Math.ceil(16374 / 64) * 8);
    expect(md.bitmap.every((b) => b === 0)).toBe(true);
    expect(md.alRecovered.active.size).toBe(0);
    expect(md.bitmapChecksum).toBe('match');
  });

  it('refuses existing metadata, naming when and by whom it was created; --force overwrites it', async () => {
    const io = await openIO(await sparseFile('disk', 64 * MiB));
    const first = await createInternal(io);
    const err = await createInternal(io, { nodeName: 'bravo' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetadataError);
    expect(err).toMatchObject({
      code: 'EEXIST',
      message: 'r0: already contains Tandem metadata (created 2024-01-02T03:04:05.000Z by alpha); use --force to overwrite',
    });

    const again = await createInternal(io, { nodeName: 'bravo', force: true });
    expect(again.overwritten).toEqual(['Tandem metadata created 2024-01-02T03:04:05.000Z by alpha']);
    const md = await readMetadata(io, computeLayout(INTERNAL, { dataSize: io.size }));
    expect(md.superblock.createdBy).toBe('bravo');
    expect(md.superblock.deviceUuid).not.toBe(first.superblock.deviceUuid);
  });

  it('--force resets a used bitmap, UUIDs, flags and activity log', async () => {
    const io = await openIO(await sparseFile('disk', 64 * MiB));
    const { layout, superblock } = await createInternal(io);
    const bitmap = Buffer.alloc(layout.bitmapBytes, 0xff);
    await writeBitmap(io, layout, bitmap);
    await writeSuperblock(io, layout, {
      ...superblock,
      uuids: { current: 0xabcn, bitmap: 0x123n, history: [7n, 9n] },
      flags: { ...superblock.flags, consistent: true, primaryInd: true, alClean: false },
      bitmapCrc32c: null,
    });
    const al = new ActivityLogWriter({ areaOffset: layout.alOffset, areaSize: layout.alSize, alExtents: 1237 }, { active: new Set(), last: null, validTransactions: 0, damagedTransactions: 0 });
    await writeAlTransaction(io, layout, al.recordActive([1, 2, 3]));
    expect((await readMetadata(io, layout)).alRecovered.active.size).toBe(3);

    await createInternal(io, { force: true });
    const md = await readMetadata(io, layout);
    expect(md.superblock.uuids.current).toBe(4n);
    expect(md.superblock.flags.consistent).toBe(false);
    expect(md.bitmap.every((b) => b === 0)).toBe(true);
    expect(md.alRecovered.active.size).toBe(0);
  });

  it('refuses metadata that is there but damaged, unless forced', async () => {
    const path = await sparseFile('disk', 64 * MiB);
    const io = await openIO(path);
    const { layout } = await createInternal(io);
    await pokeBytes(path, layout.superblockOffset + 100, Buffer.from([0x42]));
    await expect(createInternal(io)).rejects.toMatchObject({
      code: 'EEXIST',
      message: expect.stringMatching(/^r0: already contains damaged Tandem metadata at offset \d+ \(.*checksum mismatch.*\); use --force to overwrite$/),
    });
    await expect(createInternal(io, { force: true })).resolves.toMatchObject({ overwritten: ['damaged Tandem metadata'] });
  });

  it('refuses a hand-written ext4 magic (0xEF53 at byte 1080)', async () => {
    const path = await sparseFile('disk', 64 * MiB);
    await pokeBytes(path, 1080, Buffer.from([0x53, 0xef]));
    const io = await openIO(path);
    await expect(createInternal(io)).rejects.toMatchObject({
      code: 'EFSSIG',
      message: expect.stringMatching(/^r0: the data area contains an ext2 signature .*\(magic 0xEF53 at byte 1080\).*use --force to proceed anyway$/),
    });
    await expect(createInternal(io, { force: true })).resolves.toMatchObject({ overwritten: ['ext2 (magic 0xEF53 at byte 1080)'] });
  });

  // e2fsprogs is a Debian package the lab installs; without it the hand-written magic above still covers the check
  it.skipIf(findMkfsExt4() === null)('refuses a real ext4 made by mkfs.ext4, and says the metadata would cut off its end', async () => {
    const path = await sparseFile('disk', 64 * MiB);
    execFileSync(findMkfsExt4()!, ['-q', '-F', path], { stdio: 'ignore' });
    const io = await openIO(path);
    await expect(createInternal(io)).rejects.toMatchObject({
      code: 'EFSSIG',
      message: expect.stringMatching(
        /^r0: the data area contains an ext4 signature of 67108864 bytes \(magic 0xEF53 at byte 1080\); it is larger than the 67067904 usable bytes/,
      ),
    });
  });

  const signatures: Array<[string, number, Buffer, RegExp]> = [
    ['xfs', 0, Buffer.from('XFSB'), /an xfs signature/],
    ['btrfs', 65600, Buffer.from('_BHRfS_M'), /a btrfs signature/],
    ['swap', 4086, Buffer.from('SWAPSPACE2'), /a swap signature .*byte 4086/],
    ['LUKS', 0, Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0, 1]), /a LUKS signature/],
    ['LVM2', 512, Buffer.from('LABELONE'), /an LVM2 PV signature .*"LABELONE" at byte 512/],
    ['GPT', 512, Buffer.from('EFI PART'), /a GPT partition table signature/],
  ];
  it.each(signatures)('refuses a %s signature', async (_name, offset, bytes, message) => {
    const path = await sparseFile('disk', 64 * MiB);
    await pokeBytes(path, offset, bytes);
    const io = await openIO(path);
    await expect(createInternal(io)).rejects.toMatchObject({ code: 'EFSSIG', message: expect.stringMatching(message) });
  });

  it("refuses DRBD's own metadata at the internal location", async () => {
    const path = await sparseFile('disk', 64 * MiB);
    const magic = Buffer.alloc(4);
    magic.writeUInt32BE(0x8374026b);
    await pokeBytes(path, 64 * MiB - 4096 + 60, magic);
    const io = await openIO(path);
    await expect(createInternal(io)).rejects.toMatchObject({
      code: 'EFSSIG',
      message: expect.stringContaining('the metadata area contains a DRBD 8 (v08) metadata signature'),
    });
  });

  it('refuses bad options before touching the disk', async () => {
    const io = new SparseMetaIO(64 * MiB);
    await expect(createInternal(io, { alExtents: 5 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(createInternal(io, { nodeName: 'x'.repeat(65) })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(io.writes).toEqual([]);
  });
});

describe('external metadata', () => {
  it('indexed: create-md and read back in slot 1 of a metadata file', async () => {
    const data = await openIO(await sparseFile('data', 64 * MiB));
    const meta = await openIO(await sparseFile('meta', 256 * MiB));
    const placement: MetaPlacement = { kind: 'external-indexed', index: 1 };
    await createMetadata({ name: 'r1', data, meta, placement }, OPTS);
    const layout = computeLayout(placement, { dataSize: data.size, metaDeviceSize: meta.size });
    expect(layout.superblockOffset).toBe(128 * MiB);
    const md = await readMetadata(meta, layout);
    expect(md.superblock.usableSize).toBe(64 * MiB);
    expect(md.superblock.placement).toEqual(placement);
    // the other slot is untouched, and the data device is untouched
    expect((await meta.read(0, 4096)).every((b) => b === 0)).toBe(true);
    expect((await data.read(0, 65536)).every((b) => b === 0)).toBe(true);
    // the configuration now naming another index finds nothing there
    const other = computeLayout({ kind: 'external-indexed', index: 0 }, { dataSize: data.size, metaDeviceSize: meta.size });
    await expect(readMetadata(meta, other, { device: 'r1' })).rejects.toMatchObject({
      code: 'ENOMETA',
      message: 'r1: no Tandem metadata found at offset 0 (run create-md)',
    });
  });

  it('flexible: a data device that shrank is reported as such', async () => {
    const data = new SparseMetaIO(64 * MiB);
    const meta = new SparseMetaIO(MiB);
    const placement: MetaPlacement = { kind: 'external-flexible' };
    await createMetadata({ name: 'r2', data, meta, placement }, OPTS);
    const smaller = computeLayout(placement, { dataSize: 32 * MiB, metaDeviceSize: meta.size });
    await expect(readMetadata(meta, smaller, { device: 'r2' })).rejects.toMatchObject({
      code: 'ESIZE',
      message: expect.stringContaining('r2: metadata records a usable size of 67108864 bytes but only 33554432 are available now: the backing device shrank'),
    });
  });

  it('a configuration that changed from external to internal is caught', async () => {
    // metadata made external-flexible on a device, then read as if it were internal there
    const io = new SparseMetaIO(64 * MiB);
    const flex = computeLayout({ kind: 'external-flexible' }, { dataSize: 64 * MiB, metaDeviceSize: 64 * MiB });
    await createMetadata({ name: 'r3', data: new SparseMetaIO(64 * MiB), meta: io, placement: { kind: 'external-flexible' } }, OPTS);
    const asInternal = { ...computeLayout(INTERNAL, { dataSize: 64 * MiB }), superblockOffset: flex.superblockOffset };
    await expect(readMetadata(io, asInternal, { device: 'r3' })).rejects.toMatchObject({
      code: 'ENOMETA',
      message: expect.stringContaining('was created as meta-disk external (flexible), but the configuration says internal'),
    });
  });
});

describe('reading damaged or missing metadata', () => {
  it('a torn superblock is a checksum mismatch', async () => {
    const path = await sparseFile('disk', 64 * MiB);
    const io = await openIO(path);
    const { layout } = await createInternal(io);
    await pokeBytes(path, layout.superblockOffset + 2048, Buffer.alloc(2048, 0xaa));
    await expect(readMetadata(io, layout, { device: 'r0' })).rejects.toMatchObject({
      code: 'EBADSUM',
      message: expect.stringMatching(/^r0: metadata superblock checksum mismatch \(torn write or corruption\); /),
    });
  });

  it('a grown or shrunk internal device no longer has its superblock at the end', async () => {
    const path = await sparseFile('disk', 64 * MiB);
    await createInternal(await openIO(path));
    await truncate(path, 60 * MiB);
    const io = await openIO(path);
    const layout = computeLayout(INTERNAL, { dataSize: io.size });
    await expect(readMetadata(io, layout, { device: 'r0' })).rejects.toMatchObject({
      code: 'ENOMETA',
      message: `r0: no Tandem metadata found at offset ${60 * MiB - 4096} (run create-md)`,
    });
  });
});

describe('bitmap persistence', () => {
  it('writeBitmapRange round-trips and rewrites only the 4 KiB pages holding the range', async () => {
    const io = new SparseMetaIO(2 ** 40); // 1 TiB: 32 MiB of bitmap
    const { layout } = await createInternal(io);
    expect(layout.bitmapBytes).toBe(33_553_408);
    const bitmap = Buffer.alloc(layout.bitmapBytes);
    // words 1000..1599 span bytes 8000..12799: pages 1, 2 and 3 of the bitmap
    for (let w = 1000; w < 1600; w++) bitmap.writeBigUInt64LE(BigInt(w) * 0x0101010101n, w * 8);
    io.writes.length = 0;
    await writeBitmapRange(io, layout, bitmap, 1000, 600);
    expect(io.writes).toEqual([{ offset: layout.bitmapOffset + 4096, length: 3 * 4096 }]);
    // the last words of the bitmap: the final page is partial, written whole with zero padding
    const lastWord = layout.bitmapBytes / 8 - 1;
    bitmap.writeBigUInt64LE(0xffffffffffffffffn, lastWord * 8);
    io.writes.length = 0;
    await writeBitmapRange(io, layout, bitmap, lastWord, 1);
    expect(io.writes).toEqual([{ offset: layout.bitmapOffset + Math.floor((lastWord * 8) / 4096) * 4096, length: 4096 }]);
    expect(io.flushes).toBeGreaterThan(0);

    const md = await readMetadata(io, layout);
    expect(md.bitmap.equals(bitmap)).toBe(true);
    // partial writes after a clean stop make the recorded checksum stale: the reader notices
    expect(md.bitmapChecksum).toBe('mismatch');
  });

  it('a full writeBitmap returns the CRC the superblock records at a clean stop', async () => {
    const path = await sparseFile('disk', 64 * MiB);
    const io = await openIO(path);
    const { layout, superblock } = await createInternal(io);
    const bitmap = Buffer.alloc(layout.bitmapBytes);
    bitmap[17] = 0x81;
    await writeSuperblock(io, layout, { ...superblock, bitmapCrc32c: null }); // attach: the bitmap goes live
    expect((await readMetadata(io, layout)).bitmapChecksum).toBe('unrecorded');
    const crc = await writeBitmap(io, layout, bitmap);
    await writeSuperblock(io, layout, { ...superblock, bitmapCrc32c: crc }); // clean stop
    const md = await readMetadata(io, layout);
    expect(md.bitmapChecksum).toBe('match');
    expect(md.bitmap.equals(bitmap)).toBe(true);
  });

  it('refuses a bitmap buffer of the wrong length and ranges outside the bitmap', async () => {
    const io = new SparseMetaIO(64 * MiB);
    const { layout } = await createInternal(io);
    await expect(writeBitmap(io, layout, Buffer.alloc(10))).rejects.toMatchObject({ code: 'EINVAL' });
    const bitmap = Buffer.alloc(layout.bitmapBytes);
    await expect(writeBitmapRange(io, layout, bitmap, 250, 10)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(writeBitmapRange(io, layout, bitmap, -1, 1)).rejects.toMatchObject({ code: 'EINVAL' });
    io.writes.length = 0;
    await writeBitmapRange(io, layout, bitmap, 3, 0);
    expect(io.writes).toEqual([]);
  });
});
