// `tandemadm resize` on real tandemd pairs: both backing files grow with truncate while the
// daemons run, the resize makes the new size effective on both nodes, the grown area is resynced
// from the Primary (the peer's garbage there is overwritten), data written into it through NBD
// lands on both disks, and a restart of both daemons attaches with the new size. Refusals carry
// DRBD's words.
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Pair, disksEqual, waitFor, type Node } from '../helpers/two-nodes.js';
import { BLOCK, openNbd, pattern, writeBlocks } from '../helpers/blocks.js';
import { internalUsableSize } from '../../src/storage/metadata-layout.js';

let pair: Pair | null = null;
afterEach(async (t) => {
  if (t.task.result?.state === 'fail' && pair) for (const n of pair.nodes) fs.writeFileSync(`/tmp/resize-it-${n.name}.log`, n.logs);
  await pair?.destroy();
  pair = null;
});

const MiB = 1024 * 1024;
const OLD = 16 * MiB;
const NEW = 32 * MiB;
const oldUsable = internalUsableSize(OLD);
const newUsable = internalUsableSize(NEW);

async function sizeOf(n: Node): Promise<number> {
  return ((await n.status()) as { sizeBytes?: number }).sizeBytes ?? -1;
}

function grow(n: Node, bytes: number): void {
  fs.truncateSync(n.disk, bytes);
}

/** Garbage in the part of the disk that becomes data after the resize: only a resync removes it. */
function scribble(n: Node, offset: number, length: number): void {
  const fd = fs.openSync(n.disk, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

describe('tandemadm resize', () => {
  it('grows both nodes, resyncs the new area, serves it over NBD, and survives a restart', { timeout: 60_000 }, async () => {
    pair = await Pair.create({ sizeMiB: 16 });
    await pair.initialSync();
    const { node1, node2 } = pair;
    expect(await sizeOf(node1)).toBe(oldUsable);
    const before = [0, 1, Math.floor(oldUsable / BLOCK) - 1];
    await writeBlocks(node1, before, 'old');

    grow(node1, NEW);
    grow(node2, NEW);
    // between the old end and the new usable end: new data area on node2 only, different from node1's zeroes
    scribble(node2, OLD, 2 * MiB);
    const out = await node1.adm('resize', 'r0');
    expect(out.code, out.stderr).toBe(0);
    for (const n of pair.nodes) await n.waitState((s) => (s as { sizeBytes?: number }).sizeBytes === newUsable, 'the new size');
    await node1.admOk('wait-sync', 'r0', '--timeout', '60');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected' && s.dirtyBits === 0, 'in sync after the resize');
    // the resync replaced node2's garbage with node1's contents
    expect(disksEqual(node1, node2, 0, newUsable)).toBe(true);

    const client = await openNbd(node1);
    const lastBlock = Math.floor(newUsable / BLOCK) - 1;
    const grown = [Math.floor(oldUsable / BLOCK), Math.floor(oldUsable / BLOCK) + 100, lastBlock];
    try {
      expect(client.size).toBe(newUsable);
      for (const b of grown) await client.write(b * BLOCK, pattern('new', b));
      await client.flush();
      for (const b of [...before, ...grown]) {
        expect((await client.read(b * BLOCK, BLOCK)).equals(pattern(before.includes(b) ? 'old' : 'new', b))).toBe(true);
      }
    } finally {
      await client.close();
    }
    for (const b of grown) expect(node2.readDisk(b * BLOCK, BLOCK).equals(pattern('new', b))).toBe(true);
    expect(disksEqual(node1, node2, 0, newUsable)).toBe(true);

    // both daemons restart: the metadata is found at the new end, with the new size
    await node1.admOk('secondary', 'r0');
    await Promise.all(pair.nodes.map((n) => n.stop()));
    await pair.startBoth();
    await pair.upBoth();
    await node1.admOk('wait-connect', 'r0', '--timeout', '30');
    await node1.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'connected after the restart');
    for (const n of pair.nodes) expect(await sizeOf(n)).toBe(newUsable);
    // two Secondaries: DRBD's refusal
    const both = await node1.adm('resize', 'r0');
    expect(both.code).toBe(10);
    expect(both.stderr).toMatch(/^0: Failure: \(131\) Need one Primary node to resize\./m);
    await node1.admOk('primary', 'r0');
    const again = await openNbd(node1);
    try {
      expect(again.size).toBe(newUsable);
      expect((await again.read(lastBlock * BLOCK, BLOCK)).equals(pattern('new', lastBlock))).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('refuses with DRBD-style reasons, and --assume-clean skips the resync', async () => {
    pair = await Pair.create({ sizeMiB: 16 });
    await pair.initialSync();
    const { node1, node2 } = pair;

    // peer too small for --size
    grow(node1, NEW);
    const tooBig = await node1.adm('resize', 'r0', '--size=24M');
    expect(tooBig.code).toBe(10);
    expect(tooBig.stderr).toContain(`0: Failure: (111) Low.dev. smaller than requested DRBD-dev. size: --size asks for ${24 * MiB} bytes, the peer node2 holds only ${oldUsable} usable bytes`);
    expect(await sizeOf(node1)).toBe(oldUsable);

    // a paused resync is still a resync
    await node1.admOk('pause-sync', 'r0');
    await node1.admOk('invalidate-remote', 'r0');
    await node1.waitState((s) => s.cs === 'PausedSyncS', 'paused resync');
    const syncing = await node1.adm('resize', 'r0');
    expect(syncing.code).toBe(10);
    expect(syncing.stderr).toMatch(/^0: Failure: \(130\) Resize not allowed during resync\./m);
    await node1.admOk('resume-sync', 'r0');
    await node1.admOk('wait-sync', 'r0', '--timeout', '60');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected', 'resync done');

    // without the peer
    await node2.admOk('disconnect', 'r0');
    await node1.waitState((s) => s.cs !== 'Connected', 'peer gone');
    const alone = await node1.adm('resize', 'r0');
    expect(alone.code).toBe(10);
    expect(alone.stderr).toMatch(/^0: Failure: Resize needs the peer connected \(connection state \w+\)/m);
    await node2.admOk('connect', 'r0');
    await node1.waitState((s) => s.cs === 'Connected' && s.peerDisk === 'UpToDate', 'reconnected');

    // --assume-clean: the new area is declared identical; node2's garbage there stays
    grow(node2, NEW);
    scribble(node2, OLD, MiB);
    await node1.admOk('resize', 'r0', '--assume-clean');
    for (const n of pair.nodes) await n.waitState((s) => (s as { sizeBytes?: number }).sizeBytes === newUsable, 'the new size');
    const st = await node1.status();
    expect(st.cs).toBe('Connected');
    expect(st.dirtyBits).toBe(0);
    expect(disksEqual(node1, node2, OLD, MiB)).toBe(false);
    expect(node1.logs).toContain('Resync of new storage suppressed with --assume-clean');

    // --size may shrink (the admin says the filesystem fits); growing back later resyncs what comes back
    await node1.admOk('resize', 'r0', '--size=20M');
    for (const n of pair.nodes) await n.waitState((s) => (s as { sizeBytes?: number }).sizeBytes === 20 * MiB, 'the shrunk size');
    await node1.admOk('resize', 'r0', `--size=${newUsable / 1024}k`);
    await node1.admOk('wait-sync', 'r0', '--timeout', '60');
    await waitFor(async () => (await sizeOf(node2)) === newUsable && (await node2.status()).dirtyBits === 0, 30_000, 'grown back and resynced');
    expect(disksEqual(node1, node2, 20 * MiB, newUsable - 20 * MiB)).toBe(true);
  });

  it('run on the Secondary: the Primary peer still resyncs the new area to it', async () => {
    pair = await Pair.create({ sizeMiB: 16 });
    await pair.initialSync();
    const { node1, node2 } = pair;
    grow(node1, NEW);
    grow(node2, NEW);
    scribble(node2, OLD, MiB);
    const out = await node2.adm('resize', 'r0');
    expect(out.code, out.stderr).toBe(0);
    for (const n of pair.nodes) await n.waitState((s) => (s as { sizeBytes?: number }).sizeBytes === newUsable, 'the new size');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected' && s.dirtyBits === 0, 'in sync after the resize');
    expect(disksEqual(node1, node2, 0, newUsable)).toBe(true);
    expect((await node1.status()).role).toBe('Primary');
  });

  it('disk { size } raised in the config: adjust on both resizes, as drbdadm adjust does; and it caps a grown disk', async () => {
    pair = await Pair.create({ sizeMiB: 16, disk: 'size 8M;' });
    await pair.initialSync();
    const { node1, node2 } = pair;
    fs.writeFileSync(pair.config, fs.readFileSync(pair.config, 'utf8').replace('size 8M;', 'size 12M;'));
    // the first adjust finds the peer still at 8M: nothing grows yet; the second one grows both
    await node1.admOk('adjust', 'r0');
    expect((await node1.status()).sizeBytes).toBe(8 * MiB);
    await node2.admOk('adjust', 'r0');
    for (const n of pair.nodes) await n.waitState((s) => (s as { sizeBytes?: number }).sizeBytes === 12 * MiB, 'disk { size } of 12M');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected' && s.dirtyBits === 0, 'the new area synced');
    // lowering it is an implicit shrink: adjust refuses, as DRBD's resize does, and nothing changes
    fs.writeFileSync(pair.config, fs.readFileSync(pair.config, 'utf8').replace('size 12M;', 'size 10M;'));
    const shrink = await node1.adm('adjust', 'r0');
    expect(shrink.code).not.toBe(0);
    expect(shrink.stderr).toMatch(/Implicit device shrinking not allowed: disk \{ size \} limits it to 10485760 bytes/);
    expect((await node1.status()).sizeBytes).toBe(12 * MiB);
    fs.writeFileSync(pair.config, fs.readFileSync(pair.config, 'utf8').replace('size 10M;', 'size 12M;'));
    for (const n of pair.nodes) await n.admOk('adjust', 'r0');
    // both disks grow, but the config still caps the device
    grow(node1, NEW);
    grow(node2, NEW);
    await node1.admOk('resize', 'r0');
    for (const n of pair.nodes) await n.waitState((s) => (s as { sizeBytes?: number }).sizeBytes === 12 * MiB, 'still 12M');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected' && s.dirtyBits === 0, 'in sync');
    const client = await openNbd(node1);
    try {
      expect(client.size).toBe(12 * MiB);
    } finally {
      await client.close();
    }
    expect(disksEqual(node1, node2, 0, 12 * MiB)).toBe(true);
  });

  it('a disk grown while its node was down: attach says what to do, and the old size back plus resize works', async () => {
    pair = await Pair.create({ sizeMiB: 16 });
    await pair.initialSync();
    const { node1, node2 } = pair;
    await node2.stop();
    grow(node2, NEW);
    await node2.start();
    const up = await node2.adm('up', 'r0');
    expect(up.code).toBe(10);
    expect(up.stderr).toMatch(/no Tandem metadata found at offset \d+ .*if the backing device grew while the resource was down, give it its old size back, attach, and run tandemadm resize/);
    grow(node2, OLD);
    await node2.admOk('up', 'r0');
    await node1.waitState((s) => s.cs === 'Connected' && s.peerDisk === 'UpToDate', 'reconnected');
    grow(node1, NEW);
    grow(node2, NEW);
    await node1.admOk('resize', 'r0');
    for (const n of pair.nodes) await n.waitState((s) => (s as { sizeBytes?: number }).sizeBytes === newUsable, 'the new size');
  });
});
