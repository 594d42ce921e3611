// /proc/drbd counters in the status file follow the device: dw/ns move right after a write (the
// file is re-rendered every 100 ms) and bm counts the bitmap pages written to disk.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { Pair, waitFor } from '../helpers/two-nodes.js';
import { writeBlocks } from '../helpers/blocks.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const counter = (text: string, name: string): number => Number(new RegExp(`\\b${name}:(\\d+)`).exec(text)?.[1] ?? NaN);

describe('status file counters', () => {
  it('dw and ns follow a write; bm counts bitmap writes while the peer is away', async () => {
    pair = await Pair.create({ sizeMiB: 16 });
    const { node1, node2 } = pair;
    await pair.initialSync();
    const before = fs.readFileSync(node1.statusFile, 'utf8');
    await writeBlocks(node1, [1, 2, 3, 4], 'a');
    await waitFor(() => counter(fs.readFileSync(node1.statusFile, 'utf8'), 'dw') >= counter(before, 'dw') + 16, 2000, 'dw +16 KiB in the status file');
    expect(counter(fs.readFileSync(node1.statusFile, 'utf8'), 'ns')).toBeGreaterThanOrEqual(counter(before, 'ns') + 16);
    // without the peer the writes go to the bitmap, which is flushed to disk within a second
    await node2.kill();
    await node1.waitState((s) => s.cs === 'WFConnection', 'peer gone');
    const bm0 = counter(fs.readFileSync(node1.statusFile, 'utf8'), 'bm');
    await writeBlocks(node1, [100, 2000, 3000], 'b');
    await waitFor(() => counter(fs.readFileSync(node1.statusFile, 'utf8'), 'bm') > bm0, 5000, 'bm to count the bitmap flush');
    expect(counter(fs.readFileSync(node1.statusFile, 'utf8'), 'oos')).toBe(12);
  });
});
