// The dynamic resync controller between real daemons: `syncer { rate 1M; }` alone is 8.3's fixed
// rate (64 MiB would take a minute), while the same rate with `c-plan-ahead 20` only seeds DRBD
// 8.4's controller, which fills the link up to c-max-rate and finishes the same resync in seconds.
import { afterEach, describe, expect, it } from 'vitest';
import { Pair, disksEqual, holdsFor } from '../helpers/two-nodes.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const MiB = 1024 * 1024;

describe('resync rate controller', () => {
  it('c-plan-ahead 20: resync-rate only seeds the controller; the resync runs up to c-max-rate', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 64, rate: '1M', disk: 'c-plan-ahead 20; c-fill-target 4M; c-max-rate 400M;' }));
    await p.startInitialSync();
    // 64 MiB at the fixed 1 MiB/s would need over a minute
    await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'resync done under the controller', 40_000);
    expect(disksEqual(p.node1, p.node2, 0, 63 * MiB)).toBe(true);
    expect(p.node2.logs).toContain('Resync done');
  });

  it('the same rate in 8.3 spelling without c-plan-ahead is a fixed rate', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 64, rate: '1M' }));
    await p.startInitialSync();
    await p.node2.waitState((s) => s.cs === 'SyncTarget', 'resync running');
    await holdsFor(async () => (await p.node2.status()).cs === 'SyncTarget', 3000, 'still syncing at 1 MiB/s after 3 s');
  });
});
