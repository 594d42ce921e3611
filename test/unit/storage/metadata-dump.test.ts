import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetadata } from '../../../src/storage/create-md.js';
import { attachDiskState, formatGi, formatMetadata, humanBytes } from '../../../src/storage/dump-md.js';
import { countSetBits } from '../../../src/storage/metadata-bitmap.js';
import { computeLayout } from '../../../src/storage/metadata-layout.js';
import { openFileMetaIO, readMetadata } from '../../../src/storage/metadata-store.js';
import { SparseMetaIO } from './sparse-meta-io.js';

const MiB = 1024 * 1024;

async function fresh() {
  const io = new SparseMetaIO(64 * MiB);
  const res = await createMetadata(
    { name: 'r0', data: io, meta: io, placement: { kind: 'internal' } },
    { force: false, nodeName: 'alpha', alExtents: 1237, now: () => Date.UTC(2024, 0, 2), randomUuid: () => 0xfeedn },
  );
  return { io, ...res };
}

describe('dump-md', () => {
  it("prints fresh metadata like drbdadm dump-md, with get-gi's line", async () => {
    const { io, layout } = await fresh();
    const md = await readMetadata(io, layout);
    const text = formatMetadata(md.superblock, { bitsSet: countSetBits(md.bitmap, layout.usableBlocks) }, { al: md.alRecovered, device: '/dev/vdb1' });
    expect(text.split('\n')).toEqual([
      '# Tandem meta data dump',
      '# /dev/vdb1',
      '# created 2024-01-02T00:00:00.000Z by alpha',
      'version "tandem-v1";',
      '',
      '# meta-disk internal',
      '# al-offset -32768 al-size 32768 bm-offset -36864 bm-area 4096 (bytes, relative to the superblock)',
      '',
      'uuid {',
      '    0x0000000000000004:0x0000000000000000:0x0000000000000000:0x0000000000000000;',
      '    flags 0x00000080; # al-clean',
      '}',
      // the same line DRBD's drbdmeta get-gi printed for a fresh 1 GiB file (reference §1.1)
      '# gi 0000000000000004:0000000000000000:0000000000000000:0000000000000000:0:0:0:0:0:0:0',
      '# disk state at attach: Inconsistent',
      'la-size-sect 0;',
      'usable-size 67067904; # 63.96 MiB, 16374 blocks',
      'bm-byte-per-bit 4096;',
      'al-extents 1237;',
      'device-uuid 0x000000000000feed;',
      'bits-set 0; # 0 bytes out of sync',
      'bitmap-checksum 0x' + md.superblock.bitmapCrc32c!.toString(16).padStart(8, '0') + ';',
      '# activity log: 0 active extents (no transaction; 0 damaged)',
      '',
    ]);
  });

  it('orders get-gi flags c:u:p:C:f:o:x and derives the attach disk state', async () => {
    const { superblock } = await fresh();
    const sb = {
      ...superblock,
      uuids: { current: 0xabcdef0123456789n, bitmap: 0x10n, history: [0x20n, 0x30n] as [bigint, bigint] },
      flags: { ...superblock.flags, consistent: true, primaryInd: true, crashedPrimary: true },
    };
    expect(formatGi(sb)).toBe('ABCDEF0123456789:0000000000000010:0000000000000020:0000000000000030:1:0:1:0:0:0:1');
    expect(attachDiskState(sb)).toBe('Outdated');
    expect(attachDiskState({ ...sb, flags: { ...sb.flags, wasUpToDate: true } })).toBe('Consistent');
    const text = formatMetadata(sb, { bitsSet: 256 });
    expect(text).toContain('flags 0x000000c3; # consistent, primary-ind, crashed-primary, al-clean');
    expect(text).toContain('bits-set 256; # 1.00 MiB out of sync');
  });

  it('formats sizes', () => {
    expect(humanBytes(0)).toBe('0 bytes');
    expect(humanBytes(1536)).toBe('1.50 KiB');
    expect(humanBytes(2 ** 40)).toBe('1.00 TiB');
  });
});

// Block devices report size 0 from stat(); openFileMetaIO reads it from sysfs. Needs root to set
// up a loop device, so it is skipped for ordinary users (the regular-file path is tested above).
const isRoot = process.getuid?.() === 0;
describe.skipIf(!isRoot)('openFileMetaIO on a loop device (root only)', () => {
  it('learns the size of a block device and round-trips metadata on it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-loop-'));
    const img = join(dir, 'disk.img');
    writeFileSync(img, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '16M', img]);
    let loop: string | null = null;
    try {
      loop = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
      const io = await openFileMetaIO(loop);
      try {
        expect(io.size).toBe(16 * MiB);
        const res = await createMetadata({ name: loop, data: io, meta: io, placement: { kind: 'internal' } }, { force: false, nodeName: 'alpha', alExtents: 127 });
        const md = await readMetadata(io, computeLayout({ kind: 'internal' }, { dataSize: io.size }));
        expect(md.superblock.deviceUuid).toBe(res.superblock.deviceUuid);
      } finally {
        await io.close();
      }
    } finally {
      if (loop) execFileSync('losetup', ['-d', loop]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
