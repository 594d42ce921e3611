// ResourceMetadata.resize on a real file that grew: after the move, the running node keeps using
// the new place (AL transactions, bitmap flushes, superblock updates all land where the next
// attach looks), and a fresh attach finds the new size, the old bits, the marked grown area and
// the activity log written before and after.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockDevice } from '../../../src/storage/block-device.js';
import { createMetadata } from '../../../src/storage/create-md.js';
import { internalUsableSize } from '../../../src/storage/metadata-layout.js';
import { AL_EXTENT_SIZE } from '../../../src/storage/activity-log.js';
import { openResourceMetadata } from '../../../src/replication/resource-metadata.js';
import type { ResolvedResource } from '../../../src/config/index.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
const devs: BlockDevice[] = [];

afterEach(() => {
  for (const d of devs.splice(0)) d.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(path: string): BlockDevice {
  const dev = BlockDevice.open(path);
  devs.push(dev);
  return dev;
}

describe('ResourceMetadata.resize', () => {
  it('moves to the new end of a grown file and keeps working there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-rmd-resize-'));
    dirs.push(dir);
    const path = join(dir, 'disk.img');
    writeFileSync(path, '');
    truncateSync(path, 16 * MiB);
    const dev = open(path);
    await createMetadata({ name: 'r0', data: dev, meta: dev, placement: { kind: 'internal' } }, { force: false, nodeName: 'alpha', alExtents: 7 });
    const cfg = { name: 'r0', self: { disk: path, metaDisk: { kind: 'internal' } } } as unknown as ResolvedResource;
    const md = await openResourceMetadata(dev, cfg);
    const oldUsable = md.usableSize;
    md.bitmap.setRange(0, 4096);
    await md.markActive(0, 4096);
    await md.flushBitmap();
    md.flags.add('primary-ind');
    await md.saveSuperblock();

    truncateSync(path, 32 * MiB);
    expect(dev.refreshSize()).toBe(32 * MiB);
    const plan = md.planResize({ kind: 'internal' }, dev.size);
    expect(plan.kind).toBe('move');
    if (plan.kind !== 'move') return;
    const newUsable = internalUsableSize(32 * MiB);
    await md.resize(plan.layout, newUsable, { offset: oldUsable, length: newUsable - oldUsable });
    expect(md.usableSize).toBe(newUsable);
    expect(md.bitmap.testRange(0, 4096)).toBe(true);
    expect(md.bitmap.count()).toBe(1 + (newUsable - oldUsable) / 4096);

    // after the move: a write in a new extent, a bit, a flag; all must reach the new place
    await md.markActive(2 * AL_EXTENT_SIZE, 4096);
    md.bitmap.setRange(5 * 4096, 4096);
    await md.flushBitmap();
    md.flags.add('crashed-primary');
    await md.saveSuperblock();
    md.close();
    dev.close();

    const again = await openResourceMetadata(open(path), cfg);
    expect(again.usableSize).toBe(newUsable);
    expect(again.flags.has('primary-ind')).toBe(true);
    expect(again.flags.has('crashed-primary')).toBe(true);
    expect(again.bitmap.testRange(0, 4096)).toBe(true);
    expect(again.bitmap.testRange(5 * 4096, 4096)).toBe(true);
    expect(again.bitmap.testRange(oldUsable, newUsable - oldUsable)).toBe(true);
    expect(again.bitmap.count()).toBe(2 + (newUsable - oldUsable) / 4096);
    expect(again.alRecovered.map((r) => r.offset / AL_EXTENT_SIZE).sort()).toEqual([0, 2]);
    again.close();
  });
});
