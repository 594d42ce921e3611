// disk { size; } and net { max-buffers; } on real processes: the device is the size the admin
// set, not the backing device's; a size the backing device cannot hold is refused at `up` with
// DRBD's words; a small max-buffers still resyncs the whole device.
import { afterEach, describe, expect, it } from 'vitest';
import { Pair, disksEqual } from '../helpers/two-nodes.js';
import { openNbd } from '../helpers/blocks.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const MiB = 1024 * 1024;

describe('disk { size }', () => {
  it('exports the configured size, smaller than the backing device', async () => {
    pair = await Pair.create({ sizeMiB: 16, disk: 'size 8M;' });
    await pair.initialSync();
    const st = await pair.node1.status();
    expect((st as { sizeBytes?: number }).sizeBytes).toBe(8 * MiB);
    const client = await openNbd(pair.node1);
    try {
      expect(client.size).toBe(8 * MiB);
    } finally {
      await client.close();
    }
  });

  it('a size the backing device cannot hold is refused at up, naming both sizes', async () => {
    pair = await Pair.create({ sizeMiB: 16, disk: 'size 1G;' });
    await pair.createMd();
    await pair.node1.start();
    const r = await pair.node1.adm('up', 'r0');
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/r0: \(111\) Low\.dev\. smaller than requested DRBD-dev\. size: disk \{ size \} asks for 1073741824 bytes, the backing device holds \d+ usable bytes/);
  });
});

describe('net { max-buffers }', () => {
  it('the minimum (32: 64 KiB of resync in flight) still brings the peer to identical data', async () => {
    pair = await Pair.create({ sizeMiB: 16, net: 'max-buffers 32;' });
    await pair.initialSync();
    expect(disksEqual(pair.node1, pair.node2, 0, 15 * MiB)).toBe(true);
  });
});
