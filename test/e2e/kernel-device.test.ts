// The kernel block device on the Primary, through loop + nbdfuse: mkfs, mount, failover to the
// peer, refusals while mounted or held open, write barriers, and clean-up after kill -9.
//
// Needs root (loop devices, FUSE, mount). Run as another user, every test is skipped: the kernel
// would refuse losetup and mount, so there is nothing meaningful to check. Everything lives under
// the test's temp dir (device symlinks <tmp>/dev-nodeN/tandem0, mountpoints, run dirs); /dev is
// only touched by losetup itself. afterEach unmounts, detaches and ends whatever a failed test
// left and then asserts that nothing of ours remains.
import { describe, it, expect, afterEach } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { Pair, kernelLeftovers, waitFor, type Node } from '../helpers/two-nodes.js';
import { NbdServer } from '../../src/nbd/server.js';
import { MemoryBackend } from '../../src/nbd/memory-backend.js';
import { attachKernelDevice, detachKernelDevice, deviceHolders } from '../../src/nbd/kernel-device.js';

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

let pair: Pair | null = null;
let holderProc: ChildProcess | null = null;
const scratch: string[] = [];

afterEach(async () => {
  if (holderProc && holderProc.exitCode === null) holderProc.kill('SIGKILL');
  holderProc = null;
  const dirs = [...scratch];
  scratch.length = 0;
  if (pair) {
    dirs.push(pair.dir);
    await pair.destroy();
    pair = null;
  }
  for (const d of dirs) expect(kernelLeftovers(d)).toEqual([]);
});

function mountpoint(name: string): string {
  const m = path.join(pair!.dir, name);
  fs.mkdirSync(m, { recursive: true });
  return m;
}

function isMounted(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

async function expectBlockDevice(n: Node): Promise<string> {
  const target = fs.readlinkSync(n.devicePath);
  expect(target).toMatch(/^\/dev\/loop\d+$/);
  expect(fs.statSync(n.devicePath).isBlockDevice()).toBe(true);
  // the kernel device is exactly as large as the NBD export
  const exported = (await sh('nbdinfo', '--size', `nbd+unix:///r0?socket=${n.nbdSocket}`)).trim();
  expect((await sh('blockdev', '--getsize64', n.devicePath)).trim()).toBe(exported);
  return target;
}

function files(): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  m.set('hello.txt', Buffer.from('written on node1, read on node2\n'));
  m.set('random.bin', crypto.randomBytes(3 * MiB + 123));
  m.set('sub/dir/small.bin', crypto.randomBytes(4096));
  return m;
}

describe.skipIf(!isRoot)('kernel block device (root: loop, nbdfuse, mount)', () => {
  it('primary gives a block device; ext4 written on node1 is read on node2 after failover; e2fsck clean on both', async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 96 });
    await pair.initialSync();
    const { node1, node2 } = pair;
    await expectBlockDevice(node1);
    expect(fs.existsSync(node2.devicePath)).toBe(false); // a Secondary has no device

    await sh('mkfs.ext4', '-q', '-F', node1.devicePath);
    const m1 = mountpoint('mnt1');
    await sh('mount', node1.devicePath, m1);
    const want = files();
    for (const [name, data] of want) {
      await fsp.mkdir(path.dirname(path.join(m1, name)), { recursive: true });
      await fsp.writeFile(path.join(m1, name), data);
    }
    await sh('umount', m1);
    await sh('e2fsck', '-fn', node1.devicePath);
    await node1.admOk('secondary', 'r0');
    expect(fs.existsSync(node1.devicePath)).toBe(false);
    expect(kernelLeftovers(node1.runDir)).toEqual([]);

    await node2.waitState((s) => s.peerRole === 'Secondary', 'peer Secondary');
    await node2.admOk('primary', 'r0');
    await expectBlockDevice(node2);
    await sh('e2fsck', '-fn', node2.devicePath);
    const m2 = mountpoint('mnt2');
    await sh('mount', node2.devicePath, m2);
    for (const [name, data] of want) expect((await fsp.readFile(path.join(m2, name))).equals(data), name).toBe(true);
    await fsp.writeFile(path.join(m2, 'from-node2.txt'), 'back again\n');
    await sh('umount', m2);
    await node2.admOk('secondary', 'r0');

    // and back: node1 sees node2's write, and its filesystem is clean too
    await node1.waitState((s) => s.peerRole === 'Secondary', 'peer Secondary');
    await node1.admOk('primary', 'r0');
    await sh('e2fsck', '-fn', node1.devicePath);
    await sh('mount', '-o', 'ro', node1.devicePath, m1);
    expect(await fsp.readFile(path.join(m1, 'from-node2.txt'), 'utf8')).toBe('back again\n');
    await sh('umount', m1);
    await node1.admOk('secondary', 'r0');
    const size = fs.statSync(node1.disk).size - 2 * MiB;
    expect(node1.readDisk(0, size).equals(node2.readDisk(0, size))).toBe(true);
  });

  it('secondary and down are refused while mounted, naming the mount, and the mount keeps working', async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 64 });
    await pair.initialSync();
    const { node1 } = pair;
    await sh('mkfs.ext4', '-q', '-F', node1.devicePath);
    const m1 = mountpoint('mnt1');
    await sh('mount', node1.devicePath, m1);
    await fsp.writeFile(path.join(m1, 'before.txt'), 'before\n');

    for (const cmd of ['secondary', 'down']) {
      const r = await node1.adm(cmd, 'r0');
      expect(r.code, cmd).not.toBe(0);
      expect(r.stderr + r.stdout).toContain(`State change failed: (-12) Device is held open by someone (mounted on ${m1})`);
    }
    expect((await node1.status()).role).toBe('Primary');
    expect(isMounted(m1)).toBe(true);
    const after = crypto.randomBytes(256 * 1024);
    await fsp.writeFile(path.join(m1, 'after.bin'), after);
    await sh('sync', '-f', path.join(m1, 'after.bin'));
    expect((await fsp.readFile(path.join(m1, 'after.bin'))).equals(after)).toBe(true);
    expect(await fsp.readFile(path.join(m1, 'before.txt'), 'utf8')).toBe('before\n');
    await sh('umount', m1);
    await sh('e2fsck', '-fn', node1.devicePath);

    // an open file descriptor is a holder too, named by process
    const loop = fs.readlinkSync(node1.devicePath);
    holderProc = spawn('sh', ['-c', 'exec 3<>"$1"; exec sleep 300', 'sh', node1.devicePath], { stdio: 'ignore' });
    const pid = holderProc.pid!;
    await waitFor(() => {
      try {
        return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === loop) && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
      } catch {
        return false;
      }
    }, 10_000, 'sleep to hold the device open');
    const r = await node1.adm('secondary', 'r0');
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain(`Device is held open by someone (held by sleep[${pid}])`);
    const exited = new Promise((res) => holderProc!.once('exit', res));
    holderProc.kill('SIGKILL');
    await exited;
    await node1.admOk('secondary', 'r0');
    expect(kernelLeftovers(pair.dir)).toEqual([]);
  });

  it('after kill -9 of the Primary, the restarted tandemd removes the stale loop device and FUSE mount', async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 64 });
    await pair.initialSync();
    const { node1 } = pair;
    await expectBlockDevice(node1);
    await node1.kill();
    // the crash leaves the loop device, the FUSE mount and nbdfuse behind
    const stale = kernelLeftovers(pair.dir);
    expect(stale.some((x) => x.startsWith('loop '))).toBe(true);
    expect(stale.some((x) => x.startsWith('mount ') && x.includes('fuse'))).toBe(true);
    expect(stale.some((x) => x.startsWith('nbdfuse['))).toBe(true);
    await node1.start();
    await node1.admOk('secondary', 'r0');
    expect(kernelLeftovers(pair.dir)).toEqual([]);
    expect(fs.existsSync(node1.devicePath)).toBe(false);
    // the node works as before: up, back in sync, Primary with a fresh device
    await node1.admOk('up', 'r0');
    await node1.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'reconnected');
    await node1.admOk('primary', 'r0');
    await expectBlockDevice(node1);
    // a clean stop (SIGTERM) of a Primary whose device nobody holds removes it too
    await node1.stop();
    expect(kernelLeftovers(pair.dir)).toEqual([]);
    expect(fs.existsSync(node1.devicePath)).toBe(false);
  });

  it('a stale device still mounted after kill -9 is kept, named in the refusal, and removed once unmounted', async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 64 });
    await pair.initialSync();
    const { node1 } = pair;
    await sh('mkfs.ext4', '-q', '-F', node1.devicePath);
    const m1 = mountpoint('mnt1');
    await sh('mount', node1.devicePath, m1);
    await node1.kill();
    await node1.start();
    const r = await node1.adm('secondary', 'r0');
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain(`Device is held open by someone (mounted on ${m1})`);
    expect(r.stderr + r.stdout).toContain('left from before tandemd restarted');
    // the server is gone, so the filesystem sees I/O errors; umount still completes
    await execFileP('umount', [m1]).catch(async () => execFileP('umount', ['-l', m1]));
    await node1.admOk('secondary', 'r0');
    expect(kernelLeftovers(pair.dir)).toEqual([]);
  });

  it('write barriers: fsync, O_DSYNC and O_DIRECT + fdatasync on the loop device (direct I/O on) reach the NBD backend as FLUSH after the WRITE', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-kdev-'));
    scratch.push(dir);
    const ops: string[] = [];
    const mem = new MemoryBackend(16 * MiB);
    const backend = {
      size: mem.size,
      readOnly: false,
      read: (o: number, l: number) => mem.read(o, l),
      write: async (o: number, d: Buffer, fua: boolean) => {
        await mem.write(o, d);
        ops.push(`write ${o}+${d.length}${fua ? ' fua' : ''}`);
      },
      flush: async () => {
        ops.push('flush');
      },
      trim: (o: number, l: number) => mem.trim(o, l),
      writeZeroes: (o: number, l: number) => mem.writeZeroes(o, l),
    };
    const server = new NbdServer({ socketPath: path.join(dir, 'k.sock'), exportName: 'r0', backend });
    await server.listen();
    fs.mkdirSync(path.join(dir, 'dev'));
    const devicePath = path.join(dir, 'dev', 'tandem0');
    const logger = pino({ level: 'silent' });
    const rec = await attachKernelDevice({ resource: 'r0', devicePath, nbdSocket: server.socketPath, runDir: path.join(dir, 'run'), logger, size: mem.size, method: 'nbdfuse-loop' });
    try {
      // async I/O only: the NBD server answering the loop device runs on this event loop
      const a = crypto.randomBytes(4096);
      const fh = await fsp.open(devicePath, 'r+');
      try {
        await fh.write(a, 0, a.length, 8192);
        const mark = ops.length;
        await fh.sync();
        const seen = ops.slice(0, ops.length);
        const lastWrite = seen.lastIndexOf('write 8192+4096');
        expect(lastWrite, JSON.stringify(seen)).toBeGreaterThanOrEqual(0);
        expect(seen.indexOf('flush', Math.max(lastWrite, mark)), JSON.stringify(seen)).toBeGreaterThan(lastWrite);
      } finally {
        await fh.close();
      }
      expect(mem.data.subarray(8192, 8192 + 4096).equals(a)).toBe(true);

      const b = crypto.randomBytes(4096);
      const fd = await fsp.open(devicePath, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
      try {
        const mark = ops.length;
        await fd.write(b, 0, b.length, 65536);
        const seen = ops.slice(mark);
        const w = seen.indexOf('write 65536+4096');
        expect(w, JSON.stringify(seen)).toBeGreaterThanOrEqual(0);
        expect(seen.indexOf('flush', w), JSON.stringify(seen)).toBeGreaterThan(w);
      } finally {
        await fd.close();
      }
      expect(mem.data.subarray(65536, 65536 + 4096).equals(b)).toBe(true);

      expect(rec.method).toBe('nbdfuse-loop');
      const loop = rec.method === 'nbdfuse-loop' ? rec.loopDevice : null;
      expect((await sh('losetup', '-l', '-n', '-O', 'DIO', loop!)).trim()).toBe('1');
      // O_DIRECT on the device (the loop device passes it on as direct I/O to the nbdfuse file),
      // then fdatasync: the write reaches the backend first, the flush after it
      const c = crypto.randomBytes(4096);
      const src = path.join(dir, 'c.bin');
      fs.writeFileSync(src, c);
      const mark = ops.length;
      await execFileP('dd', [`if=${src}`, `of=${devicePath}`, 'bs=4096', 'seek=32', 'count=1', 'oflag=direct', 'conv=fdatasync,notrunc', 'status=none']);
      const seen = ops.slice(mark);
      const w = seen.indexOf('write 131072+4096');
      expect(w, JSON.stringify(seen)).toBeGreaterThanOrEqual(0);
      expect(seen.indexOf('flush', w), JSON.stringify(seen)).toBeGreaterThan(w);
      expect(mem.data.subarray(131072, 131072 + 4096).equals(c)).toBe(true);
      expect(await deviceHolders(rec)).toEqual([]);
    } finally {
      expect(await detachKernelDevice(rec, { runDir: path.join(dir, 'run'), logger })).toEqual({ kind: 'detached' });
      await server.close();
    }
    expect(fs.existsSync(devicePath)).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'run', 'kernel'))).toEqual([]);
  });

  it('a failed set-up (no NBD server on the socket) is reported with nbdfuse\'s words and leaves nothing behind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-kdev-'));
    scratch.push(dir);
    fs.mkdirSync(path.join(dir, 'dev'));
    const devicePath = path.join(dir, 'dev', 'tandem0');
    const runDir = path.join(dir, 'run');
    const attempt = attachKernelDevice({
      resource: 'r0', devicePath, nbdSocket: path.join(dir, 'nobody-listens.sock'), runDir,
      logger: pino({ level: 'silent' }), size: 16 * MiB, method: 'nbdfuse-loop', timeoutMs: 10_000,
    });
    await expect(attempt).rejects.toThrow(/nbdfuse exited \(exit code \d+\) before the device appeared: .+/);
    expect(fs.existsSync(devicePath)).toBe(false);
    expect(fs.readdirSync(path.join(runDir, 'kernel'))).toEqual([]);
  });
});
