// Handlers DRBD runs on state changes, on real processes: out-of-sync after an online verify that
// found differences, pri-on-incon-degr when a Primary is left without any UpToDate copy, and
// before-resync-source, whose failure drops the connection before any resync data moves.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { Pair, waitFor } from '../helpers/two-nodes.js';
import { writeBlocks } from '../helpers/blocks.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

describe('state-driven handlers', () => {
  it('out-of-sync: a block changed behind the Secondary\'s back is found by verify; the handler runs on the verifying node', async () => {
    pair = await Pair.create({ sizeMiB: 16, handlers: { 'out-of-sync': 'true' } });
    const { node1, node2 } = pair;
    await pair.initialSync();
    await writeBlocks(node1, [10, 11, 12], 'data');
    // corrupt one 4 KiB block of node2's backing file directly, as a failing disk or a stray dd would
    const fd = fs.openSync(node2.disk, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 3 * 1024 * 1024);
    fs.closeSync(fd);
    await node1.admOk('verify', 'r0');
    await node1.waitState((s) => s.cs === 'Connected', 'verify finished');
    await waitFor(() => node1.handlerCalls().some((c) => c.handler === 'out-of-sync'), 10_000, 'out-of-sync handler');
    const call = node1.handlerCalls().find((c) => c.handler === 'out-of-sync')!;
    expect(call.env.DRBD_RESOURCE).toBe('r0');
    // exactly the one block, as DRBD compares block by block
    expect(node1.logs).toMatch(/Online verify found 1 4k block out of sync!/);
    expect((await node1.status()).counters.oos).toBe(4);
  });

  it('verify-alg sha256: two changed blocks are found, counted and resynced by disconnect/connect', async () => {
    pair = await Pair.create({ sizeMiB: 16, net: 'verify-alg sha256;' });
    const { node1, node2 } = pair;
    await pair.initialSync();
    const fd = fs.openSync(node2.disk, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0x11), 0, 4096, 1 * 1024 * 1024);
    fs.writeSync(fd, Buffer.alloc(4096, 0x22), 0, 4096, 9 * 1024 * 1024 + 8192);
    fs.closeSync(fd);
    await node1.admOk('verify', 'r0');
    await node1.waitState((s) => s.cs === 'Connected' && s.counters.oos === 8, 'verify found 8 KiB out of sync');
    expect(node1.logs).toMatch(/Online verify found 2 4k block out of sync!/);
    // as in DRBD: disconnect and connect resync what verify marked
    await node1.admOk('disconnect', 'r0');
    await node1.admOk('connect', 'r0');
    await node1.waitState((s) => s.cs === 'Connected' && s.counters.oos === 0 && s.peerDisk === 'UpToDate', 'resynced', 30_000);
    expect(node2.readDisk(1024 * 1024, 4096).equals(node1.readDisk(1024 * 1024, 4096))).toBe(true);
    expect(node2.readDisk(9 * 1024 * 1024 + 8192, 4096).equals(node1.readDisk(9 * 1024 * 1024 + 8192, 4096))).toBe(true);
  });

  it('pri-on-incon-degr: a Primary on Inconsistent data that loses its UpToDate peer', async () => {
    pair = await Pair.create({ sizeMiB: 24, rate: '4M', handlers: { 'pri-on-incon-degr': 'true' } });
    const { node1, node2 } = pair;
    await pair.startInitialSync();
    await node2.waitState((s) => s.cs === 'SyncTarget', 'node2 SyncTarget');
    await node1.admOk('secondary', 'r0');
    // DRBD allows a Primary on Inconsistent data while the peer is UpToDate (reads go to the peer)
    await node2.admOk('primary', 'r0');
    expect(node2.handlerCalls()).toEqual([]);
    await node1.kill();
    await waitFor(() => node2.handlerCalls().some((c) => c.handler === 'pri-on-incon-degr'), 15_000, 'pri-on-incon-degr on node2');
    expect(node1.handlerCalls().filter((c) => c.handler === 'pri-on-incon-degr')).toEqual([]);
  });

  it('before-resync-source: a failing handler drops the connection before any resync data moves', async () => {
    pair = await Pair.create({ sizeMiB: 16, handlers: { 'before-resync-source': 'exit 1' } });
    const { node1, node2 } = pair;
    await pair.startInitialSync();
    await node1.waitState((s) => s.cs === 'StandAlone', 'node1 dropped the connection');
    expect(node1.logs).toMatch(/before-resync-source handler returned 1, dropping connection\./);
    expect(node1.handlerCalls().map((c) => c.handler)).toEqual(['before-resync-source']);
    expect((await node2.status()).counters.nr).toBe(0);
    expect((await node2.status()).disk).toBe('Inconsistent');
  });
});
