// net { csums-alg; }: DRBD's checksum-based resync. After a disconnect the Primary rewrites 4 MiB
// with the data it already had and changes 64 KiB for real; on reconnect, with csums-alg only the
// 64 KiB travel (the SyncSource's `ns` counter), without it all 4160 KiB do. The disks end equal
// either way. Different algorithms on the two nodes refuse the connection, as DRBD does.
import { afterEach, describe, expect, it } from 'vitest';
import { Pair, disksEqual } from '../helpers/two-nodes.js';
import { writeBlocks } from '../helpers/blocks.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const MiB = 1024 * 1024;
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const SAME = range(256, 1024); // 4 MiB rewritten with identical contents
const CHANGED = range(2048, 16); // 64 KiB of new data

describe('csums-alg', () => {
  it.each([
    { alg: 'md5', sentKiB: 64 },
    { alg: 'crc32c', sentKiB: 64 },
    { alg: null, sentKiB: 4096 + 64 },
  ])('resync after a disconnect with csums-alg $alg sends $sentKiB KiB', async ({ alg, sentKiB }) => {
    const p = (pair = await Pair.create({ sizeMiB: 16, net: alg ? `csums-alg ${alg};` : '' }));
    await p.initialSync();
    await writeBlocks(p.node1, SAME, 'same');
    await p.node2.waitState((s) => s.counters.dw >= 4096, 'node2 wrote the replicated 4 MiB');
    await p.node2.admOk('disconnect', 'r0');
    await p.node1.waitState((s) => s.cs !== 'Connected', 'node1 sees the peer gone');
    await writeBlocks(p.node1, SAME, 'same');
    await writeBlocks(p.node1, CHANGED, 'changed');
    const before = await p.node1.status();
    expect(before.dirtyBits).toBe(SAME.length + CHANGED.length);
    await p.node2.admOk('connect', 'r0');
    await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'node2 resynced', 60_000);
    await p.node1.waitState((s) => s.cs === 'Connected' && s.peerDisk === 'UpToDate' && s.dirtyBits === 0, 'node1 sees the resync done');
    const after = await p.node1.status();
    expect(after.counters.ns - before.counters.ns).toBe(sentKiB);
    expect(disksEqual(p.node1, p.node2, 0, 15 * MiB)).toBe(true);
    if (alg) expect(p.node2.logs).toContain('98 % had equal checksums, eliminated: 4096K; transferred 64K total 4160K');
    else expect(p.node2.logs).not.toContain('had equal checksums');
  });

  it('different algorithms on the two nodes: the connection is refused and both stay StandAlone', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 8, netFor: { node1: 'csums-alg md5;', node2: 'csums-alg sha1;' } }));
    await p.createMd();
    await p.startBoth();
    await p.upBoth();
    await p.node1.waitState((s) => s.cs === 'StandAlone', 'node1 StandAlone');
    await p.node2.waitState((s) => s.cs === 'StandAlone', 'node2 StandAlone');
    expect(p.node1.logs).toContain('Different csums-alg settings. me=\\"md5\\" peer=\\"sha1\\"');
    expect(p.node2.logs).toContain('Different csums-alg settings. me=\\"sha1\\" peer=\\"md5\\"');
  });
});
