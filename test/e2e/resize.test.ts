// `tandemadm resize` under a mounted filesystem: ext4 on the Primary's kernel device (loop over
// tandemd's FUSE file), both backing files grown with truncate, resize, then resize2fs grows the
// mounted filesystem into the new space (unmounted where the container lacks CAP_SYS_RESOURCE); the files written before and after are intact, fsck is
// clean, and the peer's disk is the same byte for byte. The same with XFS, grown by xfs_growfs
// while mounted (what online growth needs is there: CAP_SYS_ADMIN).
//
// Needs root (loop devices, FUSE, mount); skipped otherwise. Run with
// `flock -o /tmp/tandem-lab.lock npx vitest run --project e2e test/e2e/resize.test.ts`.
import { afterEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Pair, disksEqual, kernelLeftovers } from '../helpers/two-nodes.js';
import { internalUsableSize } from '../../src/storage/metadata-layout.js';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;

async function sh(cmd: string, ...args: string[]): Promise<string> {
  try {
    return (await execFileP(cmd, args, { encoding: 'utf8' })).stdout;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed (${e.code}): ${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

/** CAP_SYS_RESOURCE (bit 24) in the effective set: what online resize2fs needs. */
function canResizeOnline(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  return eff !== undefined && (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

let pair: Pair | null = null;
let mounted: string | null = null;

/**
 * The filesystem made and mounted on node1's /dev/tandem0 with 8 MiB written, then both backing
 * files grown to `mib` and `tandemadm resize`: the device shows `newSize` under the mounted
 * filesystem. Returns the mount point, the data written and the filesystem's size before.
 */
async function mountAndGrow(p: Pair, mkfs: string[], mib: number, newSize: number): Promise<{ m: string; before: Buffer; sizeBefore: number }> {
  const dev = p.node1.devicePath;
  await sh(mkfs[0]!, ...mkfs.slice(1), dev);
  const m = path.join(p.dir, 'mnt');
  fs.mkdirSync(m);
  await sh('mount', dev, m);
  mounted = m;
  const before = crypto.randomBytes(8 * MiB);
  await fsp.writeFile(path.join(m, 'before.bin'), before);
  const sizeBefore = Number((await sh('df', '--output=size', '-B1', m)).split('\n')[1]);
  for (const n of p.nodes) fs.truncateSync(n.disk, mib * MiB);
  await p.node1.admOk('resize', 'r0');
  expect(Number((await sh('blockdev', '--getsize64', dev)).trim())).toBe(newSize);
  return { m, before, sizeBefore };
}
/** Unmounts, checks the filesystem read-only (`check` + the device), waits for the pair to be in sync and compares the disks up to `size`. */
async function unmountCheckAndCompare(p: Pair, m: string, check: string[], size: number): Promise<void> {
  const { node1, node2 } = p;
  await sh('umount', m);
  mounted = null;
  await sh(check[0]!, ...check.slice(1), node1.devicePath);
  await node1.admOk('wait-sync', 'r0', '--timeout', '120');
  await node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected' && s.dirtyBits === 0, 'in sync');
  await node1.admOk('secondary', 'r0');
  expect(disksEqual(node1, node2, 0, size)).toBe(true);
}

afterEach(async () => {
  if (mounted) await sh('umount', mounted).catch(() => undefined);
  mounted = null;
  if (pair) {
    const dir = pair.dir;
    await pair.destroy();
    pair = null;
    expect(kernelLeftovers(dir)).toEqual([]);
  }
});

describe.skipIf(!isRoot)('resize under a mounted filesystem (root: loop, FUSE, mount)', () => {
  it('grows /dev/tandem0 under a mounted ext4; resize2fs grows it (online with CAP_SYS_RESOURCE); both disks equal', { timeout: 180_000 }, async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 64 });
    await pair.initialSync();
    const { node1 } = pair;
    const oldSize = internalUsableSize(64 * MiB);
    const newSize = internalUsableSize(128 * MiB);
    expect(Number((await sh('blockdev', '--getsize64', node1.devicePath)).trim())).toBe(oldSize);

    const { m, before, sizeBefore: blocksBefore } = await mountAndGrow(pair, ['mkfs.ext4', '-q', '-F'], 128, newSize);
    // the mounted filesystem keeps working on the device that grew under it
    await fsp.writeFile(path.join(m, 'during.txt'), 'written after the resize, before resize2fs\n');
    await sh('sync', '-f', path.join(m, 'during.txt'));
    if (canResizeOnline()) {
      await sh('resize2fs', node1.devicePath);
    } else {
      // EXT4_IOC_RESIZE_FS needs CAP_SYS_RESOURCE, which some containers drop (even for a plain
      // loop device): grow it unmounted there, which checks the same device size
      await sh('umount', m);
      mounted = null;
      await sh('e2fsck', '-fy', node1.devicePath);
      await sh('resize2fs', node1.devicePath);
      await sh('mount', node1.devicePath, m);
      mounted = m;
    }
    const blocksAfter = Number((await sh('df', '--output=size', '-B1', m)).split('\n')[1]);
    expect(blocksAfter).toBeGreaterThan(blocksBefore + 48 * MiB);
    // more than the old device could hold: the new space is in use
    const after = crypto.randomBytes(70 * MiB);
    await fsp.writeFile(path.join(m, 'after.bin'), after);
    await sh('sync', '-f', path.join(m, 'after.bin'));
    expect((await fsp.readFile(path.join(m, 'before.bin'))).equals(before)).toBe(true);
    expect(await fsp.readFile(path.join(m, 'during.txt'), 'utf8')).toBe('written after the resize, before resize2fs\n');
    expect((await fsp.readFile(path.join(m, 'after.bin'))).equals(after)).toBe(true);

    await unmountCheckAndCompare(pair, m, ['e2fsck', '-fn'], newSize);
  });

  // Growing a mounted filesystem, tested where it can be: xfs_growfs needs CAP_SYS_ADMIN only
  // (ext4's online resize above needs CAP_SYS_RESOURCE too). XFS wants at least 300 MiB.
  it.skipIf(!fs.existsSync('/usr/sbin/xfs_growfs'))('grows /dev/tandem0 under a mounted XFS and xfs_growfs grows the mounted filesystem; both disks equal', { timeout: 180_000 }, async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 320 });
    await pair.initialSync();
    const { node1 } = pair;
    const newSize = internalUsableSize(448 * MiB);
    const { m, before, sizeBefore: bytesBefore } = await mountAndGrow(pair, ['mkfs.xfs', '-q', '-f'], 448, newSize);
    // the filesystem grows while mounted and in use
    await sh('xfs_growfs', m);
    const bytesAfter = Number((await sh('df', '--output=size', '-B1', m)).split('\n')[1]);
    expect(bytesAfter).toBeGreaterThan(bytesBefore + 100 * MiB);
    // more than the old filesystem had free: the new space is in use
    const after = crypto.randomBytes(Math.ceil((bytesBefore - 8 * MiB) / MiB) * MiB + 16 * MiB);
    await fsp.writeFile(path.join(m, 'after.bin'), after);
    await sh('sync', '-f', path.join(m, 'after.bin'));
    expect((await fsp.readFile(path.join(m, 'before.bin'))).equals(before)).toBe(true);
    expect((await fsp.readFile(path.join(m, 'after.bin'))).equals(after)).toBe(true);

    await unmountCheckAndCompare(pair, m, ['xfs_repair', '-n'], newSize);
  });
});
