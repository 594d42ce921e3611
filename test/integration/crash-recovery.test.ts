// kill -9 of the Primary under write load (reference §1.5, §4.3): the activity log on its disk names
// the extents that may differ from the peer, the restarted node applies it to its bitmap as a crashed
// Primary, and the reconnect resyncs exactly those extents: at most al-extents × 4 MiB, far less
// than the device, and both disks end identical.
import { describe, it, expect, afterEach } from 'vitest';
import crypto from 'node:crypto';
import { Pair, disksEqual, waitFor } from '../helpers/two-nodes.js';
import { BLOCK, openNbd } from '../helpers/blocks.js';

const MiB = 1024 * 1024;
const EXTENT = 4 * MiB;
const SIZE_MIB = 1024;
/** the smallest al-extents Tandem's config accepts */
const AL_EXTENTS = 67;

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

describe('crash recovery through the activity log', () => {
  it('resyncs only the AL extents after the Primary is killed under write load', async () => {
    const p = (pair = await Pair.create({ sizeMiB: SIZE_MIB, disk: `al-extents ${AL_EXTENTS};` }));
    const { node1, node2 } = p;
    // both backing files are all zeros: skip the initial sync of a just-created pair
    await p.createMd();
    await p.startBoth();
    await p.upBoth();
    await node1.admOk('wait-connect', 'r0', '--timeout', '30');
    await node1.admOk('new-current-uuid', '--clear-bitmap', 'r0');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'skip initial sync');
    await node1.admOk('primary', 'r0');

    const client = await openNbd(node1);
    // one write in each of 100 extents, in order: more than the AL holds, so the oldest 33 are evicted
    for (let e = 0; e < 100; e++) await client.write(e * EXTENT, crypto.randomBytes(BLOCK));
    // then a write load confined to three extents, cut off by the crash
    const HOT = [200, 201, 202];
    let stop = false;
    let n = 0;
    const writers = Array.from({ length: 4 }, () => (async () => {
      while (!stop) {
        const e = HOT[n % HOT.length]!;
        const b = crypto.randomInt(EXTENT / BLOCK);
        n++;
        await client.write(e * EXTENT + b * BLOCK, crypto.randomBytes(BLOCK)).catch(() => (stop = true));
      }
    })());
    await waitFor(() => n > 400, 20_000, 'writes before the kill');
    await node1.kill();
    stop = true;
    await Promise.all(writers);
    client.destroy();

    await node2.waitState((s) => s.cs === 'WFConnection', 'node2 noticed the loss');
    const nrBefore = (await node2.status()).counters.nr!;
    await node1.start();
    await node1.admOk('up', 'r0');
    await node1.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'resynced', 60_000);
    await node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'node2 resynced', 60_000);

    expect(node1.logs).toMatch(/crashed primary: activity log applied to the bitmap/);
    // rule 40: same generation, node1 went down as Primary, so it is the SyncSource
    expect(node1.logs).toMatch(/uuid_compare\(\)=1 by rule 40/);
    const resyncedKiB = (await node2.status()).counters.nr! - nrBefore;
    expect(resyncedKiB).toBeGreaterThanOrEqual((HOT.length * EXTENT) / 1024);
    expect(resyncedKiB).toBeLessThanOrEqual((AL_EXTENTS * EXTENT) / 1024);
    expect(resyncedKiB).toBeLessThan((SIZE_MIB * MiB) / 1024 / 3);
    expect(disksEqual(node1, node2, 0, (SIZE_MIB - 2) * MiB)).toBe(true);
  });
});
