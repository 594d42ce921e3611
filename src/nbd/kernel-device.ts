// The resource's `device` path as a real kernel block device on the Primary: a symlink to
// /dev/loopN over a file tandemd serves itself on a private FUSE mount (src/fuse/; the default),
// over an nbdfuse file, or to /dev/nbdN (nbd-client, where the kernel has the nbd module; opt-in). Every step is written to <run-dir>/kernel/<res>.json before the next one starts, so a
// detach, or a tandemd restarted after kill -9, tears down exactly what this code made.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { blockDeviceHolders, isTransientProber, type Holder } from './device-holders.js';
import {
  blockDeviceOf, listRecords, removeRecord, resourceKernelDir, writeRecord,
  type FuseLoopRecord, type KernelDeviceRecord, type NbdClientRecord, type NbdfuseLoopRecord,
} from './kernel-device-record.js';
import type { NbdBackend } from './backend.js';
import { mountFuseFile, type FuseFileMount } from '../fuse/fuse-mount.js';
import { attachLoop, detachLoopIfOurs, loopBackingFile, loopsBackedBy, setLoopCapacity } from './loop-device.js';
import { endNbdfuse, nbdUnixUri, startNbdfuse, unmountFuse } from './nbdfuse.js';
import { attachNbdClient, detachNbdClient, nbdClientConnected } from './nbd-client-device.js';

export type { Holder } from './device-holders.js';
export { describeHolders } from './device-holders.js';
export type { KernelDeviceRecord } from './kernel-device-record.js';

const NBDFUSE_FILE = 'disk';
const DEFAULT_TIMEOUT_MS = 20_000;

/** The FUSE mounts this process serves, by mountpoint: teardown stops the server after the unmount. */
const ownFuse = new Map<string, FuseFileMount>();

export interface AttachKernelDeviceOptions {
  resource: string;
  /** the config's `device` path; becomes a symlink to the kernel device */
  devicePath: string;
  /** nbdfuse-loop, nbd-client: unix socket of an NBD server exporting `resource` under that name */
  nbdSocket?: string;
  /** fuse-loop: what the file serves (the Resource) */
  backend?: NbdBackend;
  runDir: string;
  logger: Logger;
  /** the export's size in bytes: the device is ready once it shows this size */
  size: number;
  method: KernelDeviceRecord['method'];
  timeoutMs?: number;
}

export async function attachKernelDevice(o: AttachKernelDeviceOptions): Promise<KernelDeviceRecord> {
  const log = o.logger.child({ resource: o.resource, part: 'kernel-device' });
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const dir = resourceKernelDir(o.runDir, o.resource);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (o.method === 'fuse-loop') return attachFuseLoop(o, dir, log, timeoutMs);
  if (!o.nbdSocket) throw new Error(`kernel device method ${o.method} needs an NBD socket`);
  const nbdSocket = o.nbdSocket;
  if (o.method === 'nbd-client') {
    const rec: NbdClientRecord = { version: 1, method: 'nbd-client', resource: o.resource, devicePath: o.devicePath, nbdSocket, nbdDevice: null, symlink: null };
    await writeRecord(o.runDir, rec);
    try {
      rec.nbdDevice = await attachNbdClient({ exportName: o.resource, socket: nbdSocket, size: o.size, timeoutMs, onChosen: async (dev) => {
        rec.nbdDevice = dev;
        await writeRecord(o.runDir, rec);
      } });
      await placeSymlink(o.devicePath, rec.nbdDevice);
      rec.symlink = o.devicePath;
      await writeRecord(o.runDir, rec);
    } catch (err) {
      await undoFailedAttach(rec, o.runDir, log, timeoutMs);
      throw err;
    }
    log.info({ method: rec.method, device: o.devicePath, nbdDevice: rec.nbdDevice }, 'kernel block device ready');
    return rec;
  }
  const mountpoint = path.join(dir, 'mnt');
  const rec: NbdfuseLoopRecord = {
    version: 1, method: 'nbdfuse-loop', resource: o.resource, devicePath: o.devicePath, nbdSocket,
    mountpoint, file: path.join(mountpoint, NBDFUSE_FILE), nbdfusePid: null, loopDevice: null, symlink: null,
  };
  await writeRecord(o.runDir, rec);
  try {
    await startNbdfuse({
      mountpoint, fileName: NBDFUSE_FILE, uri: nbdUnixUri(o.resource, nbdSocket), size: o.size,
      logFile: path.join(dir, 'nbdfuse.log'), timeoutMs,
      onSpawn: async (pid) => {
        rec.nbdfusePid = pid;
        await writeRecord(o.runDir, rec);
      },
    });
    // a crash between losetup and this record is covered too: cleanup also looks for loops on rec.file
    rec.loopDevice = await attachLoop(rec.file);
    await writeRecord(o.runDir, rec);
    await placeSymlink(o.devicePath, rec.loopDevice);
    rec.symlink = o.devicePath;
    await writeRecord(o.runDir, rec);
  } catch (err) {
    await undoFailedAttach(rec, o.runDir, log, timeoutMs);
    throw err;
  }
  log.info({ method: rec.method, device: o.devicePath, loopDevice: rec.loopDevice, nbdfusePid: rec.nbdfusePid, mountpoint }, 'kernel block device ready');
  return rec;
}

/**
 * Mount first (recorded before, so a crash during it is cleaned up), then the loop device with
 * direct I/O, then the symlink; each step recorded before the next.
 */
async function attachFuseLoop(o: AttachKernelDeviceOptions, dir: string, log: Logger, timeoutMs: number): Promise<FuseLoopRecord> {
  if (!o.backend) throw new Error('kernel device method fuse-loop needs the backend to serve');
  const mountpoint = path.join(dir, 'mnt');
  const rec: FuseLoopRecord = {
    version: 1, method: 'fuse-loop', resource: o.resource, devicePath: o.devicePath,
    mountpoint, file: path.join(mountpoint, NBDFUSE_FILE), loopDevice: null, symlink: null,
  };
  await writeRecord(o.runDir, rec);
  try {
    const mount = await mountFuseFile({ mountpoint, fileName: NBDFUSE_FILE, backend: o.backend, logger: log, timeoutMs });
    ownFuse.set(mountpoint, mount);
    rec.loopDevice = await attachLoop(rec.file);
    await writeRecord(o.runDir, rec);
    await placeSymlink(o.devicePath, rec.loopDevice);
    rec.symlink = o.devicePath;
    await writeRecord(o.runDir, rec);
  } catch (err) {
    await undoFailedAttach(rec, o.runDir, log, timeoutMs);
    throw err;
  }
  log.info({ method: rec.method, device: o.devicePath, loopDevice: rec.loopDevice, mountpoint }, 'kernel block device ready');
  return rec;
}

/** The attach error is what the caller must see; a failing clean-up is logged, the record kept. */
async function undoFailedAttach(rec: KernelDeviceRecord, runDir: string, log: Logger, timeoutMs: number): Promise<void> {
  try {
    await teardown(rec, runDir, log, timeoutMs);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'could not undo a failed kernel device set-up; the record stays for the next clean-up');
  }
}

/** Replaces devicePath atomically: rename over the old symlink, never a moment without one. */
async function placeSymlink(devicePath: string, target: string): Promise<void> {
  const tmp = `${devicePath}.tandem-tmp`;
  await fs.rm(tmp, { force: true });
  await fs.symlink(target, tmp);
  await fs.rename(tmp, devicePath);
}

/**
 * `resize`: the kernel device shows the backend's new size. The FUSE file's attributes are
 * dropped and read again (the stat below runs on libuv's pool, so this loop keeps serving the
 * GETATTR it causes), then the loop device re-reads its backing file's size (LOOP_SET_CAPACITY,
 * `losetup -c`), which a mounted filesystem survives; resize2fs can grow into it afterwards.
 * nbdfuse and nbd-client fixed their size at connect: those keep the old size until the next
 * primary, and this says so.
 */
export async function resizeKernelDevice(rec: KernelDeviceRecord, size: number, logger: Logger, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  const log = logger.child({ resource: rec.resource, part: 'kernel-device' });
  if (rec.method !== 'fuse-loop') throw new Error(`the ${rec.method} kernel device keeps its size until the device is made again (secondary, then primary)`);
  const own = ownFuse.get(rec.mountpoint);
  if (!own) throw new Error(`the FUSE mount ${rec.mountpoint} is not served by this process`);
  const err = own.server.sizeChanged();
  if (err !== 0) throw new Error(`could not tell the kernel the new size of ${rec.file} (errno ${err})`);
  await waitUntil(async () => (await fs.stat(rec.file)).size === size, timeoutMs, `${rec.file} to show ${size} bytes`);
  if (!rec.loopDevice) return;
  await setLoopCapacity(rec.loopDevice);
  const sysfs = `/sys/block/${path.basename(rec.loopDevice)}/size`;
  await waitUntil(async () => Number((await fs.readFile(sysfs, 'utf8')).trim()) * 512 === size, timeoutMs, `${rec.loopDevice} to show ${size} bytes`);
  log.info({ device: rec.devicePath, loopDevice: rec.loopDevice, size }, 'kernel block device resized');
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The kernel device of the record, if it still exists and is still ours. */
async function ownedBlockDevice(rec: KernelDeviceRecord): Promise<string | null> {
  const dev = blockDeviceOf(rec);
  if (dev === null) return null;
  if (rec.method === 'nbd-client') return (await nbdClientConnected(dev)) ? dev : null;
  return (await loopBackingFile(dev)) === rec.file ? dev : null;
}

const PROBER_GRACE_MS = 2_000;

/**
 * Who holds the record's device open: mounts, stacked devices, processes (not our nbdfuse).
 * A udev probe that is the only holder is given a moment to finish first.
 */
export async function deviceHolders(rec: KernelDeviceRecord): Promise<Holder[]> {
  const dev = await ownedBlockDevice(rec);
  if (dev === null) return [];
  const ignorePids = rec.method === 'nbdfuse-loop' && rec.nbdfusePid !== null ? [rec.nbdfusePid] : [];
  const deadline = Date.now() + PROBER_GRACE_MS;
  for (;;) {
    const holders = await blockDeviceHolders(dev, { ignorePids });
    if (holders.length === 0 || !holders.every(isTransientProber) || Date.now() >= deadline) return holders;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type DetachOutcome = { kind: 'detached' } | { kind: 'held'; holders: Holder[] };

export interface DetachOptions {
  runDir: string;
  logger: Logger;
  timeoutMs?: number;
}

/** Tears the device down unless something holds it open; then nothing is touched. */
export async function detachKernelDevice(rec: KernelDeviceRecord, o: DetachOptions): Promise<DetachOutcome> {
  const log = o.logger.child({ resource: rec.resource, part: 'kernel-device' });
  const holders = await deviceHolders(rec);
  if (holders.length > 0) return { kind: 'held', holders };
  await teardown(rec, o.runDir, log, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  log.info({ method: rec.method, device: rec.devicePath }, 'kernel block device removed');
  return { kind: 'detached' };
}

/**
 * After a restart: every record in the run dir belongs to a device the previous tandemd made and
 * nobody serves any more (a restarted node is Secondary). Tear each one down; one that is still
 * held open (a filesystem still mounted on it) is kept and returned, to be retried later.
 */
export async function adoptOrCleanup(runDir: string, logger: Logger): Promise<KernelDeviceRecord[]> {
  const kept: KernelDeviceRecord[] = [];
  for (const entry of await listRecords(runDir)) {
    if (entry.kind === 'damaged') {
      logger.error({ file: entry.file, err: entry.error }, 'kernel device record is damaged; leaving it and whatever it names alone');
      continue;
    }
    const rec = entry.record;
    try {
      const out = await detachKernelDevice(rec, { runDir, logger });
      if (out.kind === 'held') {
        logger.warn({ resource: rec.resource, device: rec.devicePath, holders: out.holders }, 'stale kernel device from before the restart is still held open; keeping it until it is released');
        kept.push(rec);
      } else {
        logger.info({ resource: rec.resource, device: rec.devicePath }, 'removed stale kernel device left by a previous tandemd');
      }
    } catch (err) {
      logger.error({ resource: rec.resource, err: (err as Error).message }, 'could not remove stale kernel device');
      kept.push(rec);
    }
  }
  return kept;
}

/** Undoes every step the record names, newest first; each step checks ownership before acting. */
async function teardown(rec: KernelDeviceRecord, runDir: string, log: Logger, timeoutMs: number): Promise<void> {
  const dev = await ownedBlockDevice(rec);
  await removeSymlink(rec.devicePath, dev ?? blockDeviceOf(rec), log);
  if (rec.method === 'nbd-client') {
    if (rec.nbdDevice) await detachNbdClient(rec.nbdDevice, timeoutMs, log);
  } else if (rec.method === 'fuse-loop') {
    await detachLoops(rec, log, timeoutMs);
    const um = await unmountFuse(rec.mountpoint, timeoutMs);
    if (um.kind === 'lazy') log.warn({ mountpoint: rec.mountpoint, reason: um.reason }, 'FUSE mount stayed busy; detached lazily');
    // served here: the unmount ended the connection; a lazily detached mount is cut off now
    const own = ownFuse.get(rec.mountpoint);
    ownFuse.delete(rec.mountpoint);
    own?.close();
    await fs.rmdir(rec.mountpoint).catch(() => undefined);
  } else {
    await detachLoops(rec, log, timeoutMs);
    const um = await unmountFuse(rec.mountpoint, timeoutMs);
    if (um.kind === 'lazy') log.warn({ mountpoint: rec.mountpoint, reason: um.reason }, 'FUSE mount stayed busy; detached lazily');
    if (rec.nbdfusePid !== null) {
      const end = await endNbdfuse(rec.nbdfusePid, rec.mountpoint, timeoutMs);
      if (end === 'killed') log.warn({ pid: rec.nbdfusePid }, 'nbdfuse did not exit after its unmount; ended it');
    }
    await fs.rmdir(rec.mountpoint).catch(() => undefined); // non-recursive: never reaches into a mount
  }
  const dir = resourceKernelDir(runDir, rec.resource);
  await fs.rm(path.join(dir, 'nbdfuse.log.pid'), { force: true });
  await fs.rm(path.join(dir, 'nbdfuse.log'), { force: true });
  await fs.rmdir(dir).catch(() => undefined);
  await removeRecord(runDir, rec.resource);
}

/** The record's loop device, and any other on its file (a crash between losetup and the record). */
async function detachLoops(rec: NbdfuseLoopRecord | FuseLoopRecord, log: Logger, timeoutMs: number): Promise<void> {
  const loops = new Set<string>(rec.loopDevice ? [rec.loopDevice] : []);
  for (const l of await loopsBackedBy(rec.file)) loops.add(l);
  for (const loop of loops) {
    const r = await detachLoopIfOurs(loop, rec.file, timeoutMs);
    if (r.kind === 'not-ours') log.info({ loop, backingFile: r.backingFile }, 'loop device no longer backed by our file; left alone');
    else if (r.kind === 'still-attached') log.warn({ loop }, 'loop device still attached after losetup -d (open by someone); it goes when closed');
  }
}

async function removeSymlink(devicePath: string, target: string | null, log: Logger): Promise<void> {
  for (const p of [devicePath, `${devicePath}.tandem-tmp`]) {
    try {
      const st = await fs.lstat(p);
      if (!st.isSymbolicLink()) continue;
      const t = await fs.readlink(p);
      if (target !== null && t === target) await fs.unlink(p);
      else if (p === devicePath) log.info({ device: p, target: t }, 'device symlink points elsewhere now; left alone');
    } catch {
      /* not there */
    }
  }
}
