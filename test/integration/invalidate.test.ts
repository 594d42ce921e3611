// invalidate and invalidate-remote on real processes: the full-sync flag lives only until the
// all-set bitmap is on disk (DRBD's drbd_bmio_set_n_write), so a SyncTarget killed in the middle
// resumes from its bitmap instead of starting over, and a SyncSource does not mark everything
// out of sync again at its next start.
import { afterEach, describe, expect, it } from 'vitest';
import { Pair, disksEqual } from '../helpers/two-nodes.js';
import { writeBlocks } from '../helpers/blocks.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const MiB = 1024 * 1024;
const SIZE_MIB = 24;
const BITS = (SIZE_MIB * MiB - 1024 * 1024) / 4096; // roughly the usable size in 4 KiB bits

/** A connected pair with identical (zeroed) disks, node1 Primary, without the initial full sync. */
async function cleanPair(rate: string): Promise<Pair> {
  pair = await Pair.create({ sizeMiB: SIZE_MIB, rate });
  await pair.createMd();
  await pair.startBoth();
  await pair.upBoth();
  await pair.node1.admOk('wait-connect', 'r0', '--timeout', '30');
  await pair.node1.admOk('new-current-uuid', '--clear-bitmap', 'r0');
  await pair.node2.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'skip initial sync');
  await pair.node1.admOk('primary', 'r0');
  return pair;
}

describe('invalidate / invalidate-remote', () => {
  it('invalidate: a SyncTarget killed mid-resync resumes from its bitmap, not from zero', async () => {
    const p = await cleanPair('4M');
    const { node1, node2 } = p;
    await writeBlocks(node1, [0, 1000, 3000, 5000], 'data');
    await node2.admOk('invalidate', 'r0');
    await node2.waitState((s) => s.cs === 'SyncTarget', 'node2 SyncTarget');
    // let a good part of the full resync land, then crash the target
    await node2.waitState((s) => s.dirtyBits < BITS * 0.6, 'resync 40 % done', 30_000);
    const before = (await node2.status()).dirtyBits;
    await node2.kill();
    await node2.start();
    await node2.admOk('up', 'r0');
    const after = (await node2.status()).dirtyBits;
    // the bitmap is flushed every second (4 MiB = 1024 bits at this rate): at most that is redone
    expect(after).toBeLessThanOrEqual(before + 1100);
    expect(after).toBeLessThan(BITS * 0.75);
    await node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'resync finished', 60_000);
    expect(disksEqual(node1, node2, 0, SIZE_MIB * MiB - 1024 * 1024)).toBe(true);
  });

  it('invalidate-remote: the SyncSource clears the full-sync flag when the sync completes; a restart resyncs nothing', async () => {
    const p = await cleanPair('200M');
    const { node1, node2 } = p;
    await writeBlocks(node1, [7, 700, 4000], 'data');
    await node1.admOk('invalidate-remote', 'r0');
    await node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'full sync to node2', 60_000);
    await node1.admOk('secondary', 'r0');
    await node1.stop();
    const md = await node1.admOk('dump-md', 'r0');
    expect(md).toMatch(/flags 0x[0-9a-f]+;/);
    expect(md).not.toMatch(/full-sync/);
    await node1.start();
    await node1.admOk('up', 'r0');
    expect((await node1.status()).dirtyBits).toBe(0);
    await node1.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'reconnected without resync');
    expect(disksEqual(node1, node2, 0, SIZE_MIB * MiB - 1024 * 1024)).toBe(true);
  });
});
