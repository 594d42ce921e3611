// The kernel block device on the Primary, a loop device over the file tandemd serves on its own
// FUSE mount (and over nbdfuse, the other way): mkfs, mount, failover to the peer, refusals while
// mounted or held open, write barriers, and clean-up after kill -9.
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
    expect(JSON.parse(fs.readFileSync(path.join(node1.runDir, 'kernel', 'r0.json'), 'utf8')).method).toBe('fuse-loop');
    await node1.kill();
    // the crash leaves the loop device and the (now dead) FUSE mount behind; no other process served it
    const stale = kernelLeftovers(pair.dir);
    expect(stale.some((x) => x.startsWith('loop '))).toBe(true);
    expect(stale.some((x) => x.startsWith('mount ') && x.includes('fuse.tandem'))).toBe(true);
    expect(stale.some((x) => x.startsWith('nbdfuse['))).toBe(false);
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

  // The loop device declares a volatile write cache, so the block layer sends it flushes (and
  // turns FUA into write + flush); with direct I/O on, the loop driver still answers a flush with
  // vfs_fsync() on its backing file, which reaches the backend as FSYNC (own FUSE) or NBD FLUSH
  // (nbdfuse). Checked with a backend that logs every call, for each way of serving the file.
  it.each(['fuse-loop', 'nbdfuse-loop'] as const)('write barriers (%s, loop direct I/O on): fsync, O_DSYNC, O_DIRECT + fdatasync and an ext4 fsync reach the backend as a flush after the write', async (method) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-kdev-'));
    scratch.push(dir);
    const ops: string[] = [];
    const mem = new MemoryBackend(64 * MiB);
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
      trim: async (o: number, l: number) => {
        await mem.trim(o, l);
        ops.push(`trim ${o}+${l}`);
      },
      writeZeroes: async (o: number, l: number) => {
        await mem.writeZeroes(o, l);
        ops.push(`zeroes ${o}+${l}`);
      },
    };
    let server: NbdServer | null = null;
    if (method === 'nbdfuse-loop') {
      server = new NbdServer({ socketPath: path.join(dir, 'k.sock'), exportName: 'r0', backend });
      await server.listen();
    }
    fs.mkdirSync(path.join(dir, 'dev'));
    const devicePath = path.join(dir, 'dev', 'tandem0');
    const logger = pino({ level: 'silent' });
    const runDir = path.join(dir, 'run');
    const rec = await attachKernelDevice({
      resource: 'r0', devicePath, runDir, logger, size: mem.size, method,
      ...(server ? { nbdSocket: server.socketPath } : { backend }),
    });
    /** the writes since `mark` include `write`, and a flush came after it */
    const flushedAfter = (mark: number, write: string): void => {
      const seen = ops.slice(mark);
      const w = seen.lastIndexOf(write);
      expect(w, JSON.stringify(seen)).toBeGreaterThanOrEqual(0);
      expect(seen.indexOf('flush', w), JSON.stringify(seen)).toBeGreaterThan(w);
    };
    try {
      // async I/O only: the server answering the loop device runs on this event loop
      expect(rec.method).toBe(method);
      const loop = rec.method === 'nbd-client' ? null : rec.loopDevice;
      expect((await sh('losetup', '-l', '-n', '-O', 'DIO', loop!)).trim()).toBe('1');

      const a = crypto.randomBytes(4096);
      const fh = await fsp.open(devicePath, 'r+');
      try {
        const mark = ops.length;
        await fh.write(a, 0, a.length, 8192);
        await fh.sync();
        flushedAfter(mark, 'write 8192+4096');
      } finally {
        await fh.close();
      }
      expect(mem.data.subarray(8192, 8192 + 4096).equals(a)).toBe(true);

      const b = crypto.randomBytes(4096);
      const fd = await fsp.open(devicePath, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
      try {
        const mark = ops.length;
        await fd.write(b, 0, b.length, 65536);
        flushedAfter(mark, 'write 65536+4096');
      } finally {
        await fd.close();
      }
      expect(mem.data.subarray(65536, 65536 + 4096).equals(b)).toBe(true);

      // O_DIRECT on the device (passed on as direct I/O to the FUSE file), then fdatasync
      const c = crypto.randomBytes(4096);
      const src = path.join(dir, 'c.bin');
      fs.writeFileSync(src, c);
      let mark = ops.length;
      await execFileP('dd', [`if=${src}`, `of=${devicePath}`, 'bs=4096', 'seek=32', 'count=1', 'oflag=direct', 'conv=fdatasync,notrunc', 'status=none']);
      flushedAfter(mark, 'write 131072+4096');
      expect(mem.data.subarray(131072, 131072 + 4096).equals(c)).toBe(true);

      // a filesystem's own barrier: ext4's fsync commits its journal with PREFLUSH + FUA, so a
      // flush is the last thing the backend sees before fsync returns
      await sh('mkfs.ext4', '-q', '-F', '-E', 'nodiscard', devicePath);
      const m = path.join(dir, 'mnt');
      fs.mkdirSync(m);
      await sh('mount', devicePath, m);
      try {
        const file = await fsp.open(path.join(m, 'db.dat'), 'w');
        try {
          await file.write(crypto.randomBytes(8192), 0, 8192, 0);
          await file.sync();
          mark = ops.length;
          await file.write(crypto.randomBytes(4096), 0, 4096, 4096);
          await file.datasync();
          const seen = ops.slice(mark);
          expect(seen.some((x) => x.startsWith('write ')), JSON.stringify(seen)).toBe(true);
          expect(seen[seen.length - 1], JSON.stringify(seen)).toBe('flush');
        } finally {
          await file.close();
        }
      } finally {
        await sh('umount', m);
      }
      expect(await deviceHolders(rec)).toEqual([]);
    } finally {
      expect(await detachKernelDevice(rec, { runDir, logger })).toEqual({ kind: 'detached' });
      await server?.close();
    }
    expect(fs.existsSync(devicePath)).toBe(false);
    expect(fs.readdirSync(path.join(runDir, 'kernel'))).toEqual([]);
  });

  it('O_DIRECT writes of 1 MiB, 256 KiB and 4 KiB in flight together through /dev/tandem0 land on both disks byte for byte', async () => {
    // FUSE payloads above 128 KiB travel in chunks of their own, smaller ones in the shared arena
    // (native/fuse_channel.cc): both kinds, many at once, and reads of them back
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 64 });
    await pair.initialSync();
    const { node1, node2 } = pair;
    await expectBlockDevice(node1);
    const data = crypto.randomBytes(24 * MiB);
    const src = path.join(pair.dir, 'data.bin');
    fs.writeFileSync(src, data);
    const dd = (bs: string, skipSeek: number, count: number): Promise<unknown> => execFileP('dd', [`if=${src}`, `of=${node1.devicePath}`, `bs=${bs}`, `skip=${skipSeek}`, `seek=${skipSeek}`, `count=${count}`, 'oflag=direct', 'iflag=direct', 'conv=notrunc', 'status=none']);
    // 0-8 MiB in 1 MiB writes, 8-16 MiB in 256 KiB writes, 16-24 MiB in 4 KiB writes, all at once
    await Promise.all([dd('1M', 0, 8), dd('256K', 32, 32), dd('4K', 4096, 2048)]);
    await execFileP('sync', []);
    const back = await sh('sh', '-c', `dd if=${node1.devicePath} bs=1M count=24 iflag=direct status=none | sha256sum`);
    expect(back.split(' ')[0]).toBe(crypto.createHash('sha256').update(data).digest('hex'));
    await node1.admOk('secondary', 'r0');
    expect(node1.readDisk(0, data.length).equals(data)).toBe(true);
    expect(node2.readDisk(0, data.length).equals(data)).toBe(true);
  });

  it('a flush through /dev/tandem0 of a protocol C pair reaches both disks: both tandemd call fdatasync before it returns, and the data is on both', async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 64 });
    await pair.initialSync();
    const { node1, node2 } = pair;
    const traces = [node1, node2].map((n) => {
      const file = path.join(pair!.dir, `strace-${n.name}.txt`);
      const proc = spawn('strace', ['-f', '-ttt', '-T', '-e', 'trace=fdatasync,fsync,pwrite64,pwritev,pwritev2', '-s', '0', '-o', file, '-p', String(n.proc!.pid)], { stdio: 'ignore' });
      return { n, file, proc };
    });
    try {
      // strace prints nothing when it attaches; wait until it has stopped the threads it follows
      await waitFor(() => traces.every((t) => fs.readFileSync(`/proc/${t.n.proc!.pid}/status`, 'utf8').match(/TracerPid:\s+(\d+)/)?.[1] === String(t.proc.pid)), 10_000, 'strace to attach to both daemons');
      const data = crypto.randomBytes(4096);
      const src = path.join(pair.dir, 'block.bin');
      fs.writeFileSync(src, data);
      await execFileP('dd', [`if=${src}`, `of=${node1.devicePath}`, 'bs=4096', 'seek=100', 'count=1', 'oflag=direct', 'conv=fdatasync,notrunc', 'status=none']);
      const t1 = Date.now() / 1000;
      for (const t of traces) {
        const exited = new Promise((res) => t.proc.once('exit', res));
        t.proc.kill('SIGINT');
        await exited;
      }
      for (const t of traces) {
        const lines = fs.readFileSync(t.file, 'utf8').split('\n');
        // the block's own write (offset 409600), then an fdatasync entered after it and finished
        // (on the same thread: unfinished/resumed pairs) before dd returned
        const write = lines.map((l) => /^\d+\s+(\d+\.\d+)\s+pwrite(?:64|v2?)\(\d+, .*, 409600(?:, \d+)?[,)]/.exec(l)).find((m) => m !== null);
        expect(write, `${t.n.name} never wrote the block:\n${lines.slice(0, 40).join('\n')}`).toBeTruthy();
        const wroteAt = Number(write![1]);
        const entered = new Map<string, number>();
        const synced: Array<[number, number]> = []; // [entered, finished] (-T: time spent in the call)
        for (const l of lines) {
          const whole = /^(\d+)\s+(\d+\.\d+)\s+f(?:data)?sync\(\d+\)\s+= 0 <(\d+\.\d+)>/.exec(l);
          if (whole) synced.push([Number(whole[2]), Number(whole[2]) + Number(whole[3])]);
          const start = /^(\d+)\s+(\d+\.\d+)\s+f(?:data)?sync\(\d+ <unfinished/.exec(l);
          if (start) entered.set(start[1]!, Number(start[2]));
          const end = /^(\d+)\s+\d+\.\d+\s+<\.\.\. f(?:data)?sync resumed>.*= 0 <(\d+\.\d+)>/.exec(l);
          if (end && entered.has(end[1]!)) synced.push([entered.get(end[1]!)!, entered.get(end[1]!)! + Number(end[2])]);
        }
        expect(synced.some(([from, to]) => from >= wroteAt && to <= t1), `${t.n.name}: block written at ${wroteAt}, fdatasync ${JSON.stringify(synced)}, dd returned at ${t1}`).toBe(true);
      }
      expect(node1.readDisk(100 * 4096, 4096).equals(data)).toBe(true);
      expect(node2.readDisk(100 * 4096, 4096).equals(data)).toBe(true);
    } finally {
      for (const t of traces) if (t.proc.exitCode === null) t.proc.kill('SIGKILL');
    }
  });

  it('TANDEM_KERNEL_DEVICE=nbdfuse still makes the device through nbdfuse: ext4 written and read back', async () => {
    pair = await Pair.create({ kernelDevice: true, sizeMiB: 64, env: { TANDEM_KERNEL_DEVICE: 'nbdfuse' } });
    await pair.initialSync();
    const { node1 } = pair;
    await expectBlockDevice(node1);
    expect(JSON.parse(fs.readFileSync(path.join(node1.runDir, 'kernel', 'r0.json'), 'utf8')).method).toBe('nbdfuse-loop');
    expect(kernelLeftovers(pair.dir).some((x) => x.startsWith('nbdfuse['))).toBe(true);
    await sh('mkfs.ext4', '-q', '-F', node1.devicePath);
    const m1 = mountpoint('mnt1');
    await sh('mount', node1.devicePath, m1);
    const data = crypto.randomBytes(MiB + 17);
    await fsp.writeFile(path.join(m1, 'f.bin'), data);
    await sh('umount', m1);
    await sh('mount', '-o', 'ro', node1.devicePath, m1);
    expect((await fsp.readFile(path.join(m1, 'f.bin'))).equals(data)).toBe(true);
    await sh('umount', m1);
    await node1.admOk('secondary', 'r0');
    expect(kernelLeftovers(pair.dir)).toEqual([]);
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
