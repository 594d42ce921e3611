// The activity log as the resource drives it: by the time markActive() resolves (and the data
// write may start), the extent must be in the AL on disk AND the superblock must no longer say
// "AL clean", or a crash right after the data write would leave nothing to replay at attach.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockDevice } from '../../../src/storage/block-device.js';
import { createMetadata } from '../../../src/storage/create-md.js';
import { computeLayout } from '../../../src/storage/metadata-layout.js';
import { readMetadata } from '../../../src/storage/metadata-store.js';
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

async function fresh(alExtents = 7): Promise<{ path: string; dev: BlockDevice; cfg: ResolvedResource }> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-rmd-'));
  dirs.push(dir);
  const path = join(dir, 'disk.img');
  writeFileSync(path, '');
  truncateSync(path, 64 * MiB);
  const dev = BlockDevice.open(path);
  devs.push(dev);
  await createMetadata({ name: 'r0', data: dev, meta: dev, placement: { kind: 'internal' } }, { force: false, nodeName: 'alpha', alExtents });
  const cfg = { name: 'r0', self: { disk: path, metaDisk: { kind: 'internal' } } } as unknown as ResolvedResource;
  return { path, dev, cfg };
}

/** What attach would find on disk right now, read through a second handle. */
async function onDisk(path: string): Promise<{ alClean: boolean; active: number[] }> {
  const dev = BlockDevice.open(path);
  try {
    const layout = computeLayout({ kind: 'internal' }, { dataSize: dev.size, metaDeviceSize: dev.size });
    const md = await readMetadata(dev, layout);
    return { alClean: md.superblock.flags.alClean, active: [...md.alRecovered.active].sort((a, b) => a - b) };
  } finally {
    dev.close();
  }
}

describe('ResourceMetadata activity log', () => {
  it('fresh metadata is AL-clean with nothing to replay', async () => {
    const { path } = await fresh();
    expect(await onDisk(path)).toEqual({ alClean: true, active: [] });
  });

  it('markActive: the extent is in the on-disk AL and the superblock is no longer clean before it resolves', async () => {
    const { path, dev, cfg } = await fresh();
    const md = await openResourceMetadata(dev, cfg);
    const wait = md.markActive(5 * AL_EXTENT_SIZE + 4096, 4096);
    expect(wait).not.toBeNull();
    await wait;
    expect(await onDisk(path)).toEqual({ alClean: false, active: [5] });
    // already hot: the fast path writes nothing
    expect(md.markActive(5 * AL_EXTENT_SIZE, 8192)).toBeNull();
    // a write spanning two extents makes both hot
    await md.markActive(7 * AL_EXTENT_SIZE - 4096, 8192);
    expect(await onDisk(path)).toEqual({ alClean: false, active: [5, 6, 7] });
  });

  it('keeps at most al-extents extents hot, evicting the least recently used', async () => {
    const { path, dev, cfg } = await fresh(7);
    const md = await openResourceMetadata(dev, cfg);
    for (let e = 0; e < 10; e++) await md.markActive(e * AL_EXTENT_SIZE, 4096);
    expect((await onDisk(path)).active).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });

  it('markClean empties the AL and marks the superblock clean again', async () => {
    const { path, dev, cfg } = await fresh();
    const md = await openResourceMetadata(dev, cfg);
    await md.markActive(0, 4096);
    await md.markClean();
    expect(await onDisk(path)).toEqual({ alClean: true, active: [] });
  });

  it('after a crash (no markClean) a reopened metadata reports the hot extents to apply', async () => {
    const { dev, cfg } = await fresh();
    const md = await openResourceMetadata(dev, cfg);
    await md.markActive(2 * AL_EXTENT_SIZE, 4096);
    await md.markActive(9 * AL_EXTENT_SIZE, 4096);
    const again = await openResourceMetadata(dev, cfg);
    expect(again.alRecovered.map((r) => r.offset / AL_EXTENT_SIZE)).toEqual([2, 9]);
    expect(again.alRecovered.every((r) => r.length === AL_EXTENT_SIZE)).toBe(true);
  });
});
