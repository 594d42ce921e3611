// Whether and how the `device` path of a resource becomes a kernel block device: a pure decision
// over facts gathered at the edge (kernelDeviceFacts), so every case is a table row in a unit test.
import fs from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import path from 'node:path';

/** TANDEM_KERNEL_DEVICE: `auto` (default), `off`, or force one method. */
export type KernelDeviceMode = 'auto' | 'off' | 'fuse' | 'nbd-client' | 'nbdfuse';

export type DevicePathState =
  | { kind: 'absent' }
  | { kind: 'symlink'; target: string }
  | { kind: 'other'; what: string }
  | { kind: 'no-parent'; parent: string };

export interface KernelDeviceFacts {
  uid: number | null;
  mode: KernelDeviceMode | { invalid: string };
  devicePath: string;
  pathState: DevicePathState;
  /** /dev/nbd0 exists: the kernel has the nbd module */
  nbdModule: boolean;
  nbdClient: boolean;
  nbdfuse: boolean;
  losetup: boolean;
  fuseDevice: boolean;
}

export type KernelDevicePlan = { kind: 'fuse-loop' } | { kind: 'nbd-client' } | { kind: 'nbdfuse-loop' } | { kind: 'skip'; reason: string };

/** A symlink we may replace: one to a loop or nbd node, as an earlier run of ours left it. */
export function replaceableSymlinkTarget(target: string): boolean {
  return /^\/dev\/(loop|nbd)\d+$/.test(target);
}

export function planKernelDevice(f: KernelDeviceFacts): KernelDevicePlan {
  if (typeof f.mode === 'object') return { kind: 'skip', reason: `TANDEM_KERNEL_DEVICE='${f.mode.invalid}' is not one of auto, off, fuse, nbdfuse, nbd-client` };
  if (f.mode === 'off') return { kind: 'skip', reason: 'disabled by TANDEM_KERNEL_DEVICE=off' };
  if (f.uid !== 0) return { kind: 'skip', reason: 'tandemd is not running as root (only the NBD socket is served)' };
  const p = f.pathState;
  if (p.kind === 'no-parent') return { kind: 'skip', reason: `the directory ${p.parent} of device ${f.devicePath} does not exist` };
  if (p.kind === 'other') return { kind: 'skip', reason: `device ${f.devicePath} exists and is ${p.what}, not a symlink Tandem may replace` };
  if (p.kind === 'symlink' && !replaceableSymlinkTarget(p.target)) {
    return { kind: 'skip', reason: `device ${f.devicePath} is a symlink to ${p.target}, not to a loop or nbd device; refusing to replace it` };
  }
  const nbdClientOk = f.nbdModule && f.nbdClient;
  const ownFuseOk = f.losetup && f.fuseDevice;
  const ownFuseMissing = [!f.losetup && 'losetup (util-linux)', !f.fuseDevice && '/dev/fuse'].filter(Boolean).join(', ');
  const fuseOk = f.nbdfuse && f.losetup && f.fuseDevice;
  const fuseMissing = [!f.nbdfuse && 'nbdfuse (libnbd-bin)', !f.losetup && 'losetup (util-linux)', !f.fuseDevice && '/dev/fuse'].filter(Boolean).join(', ');
  if (f.mode === 'nbd-client') {
    if (nbdClientOk) return { kind: 'nbd-client' };
    return { kind: 'skip', reason: `TANDEM_KERNEL_DEVICE=nbd-client but ${!f.nbdModule ? 'the kernel has no nbd module (/dev/nbd0 is missing)' : 'nbd-client is not installed'}` };
  }
  if (f.mode === 'nbdfuse') return fuseOk ? { kind: 'nbdfuse-loop' } : { kind: 'skip', reason: `TANDEM_KERNEL_DEVICE=nbdfuse but missing: ${fuseMissing}` };
  if (f.mode === 'fuse') return ownFuseOk ? { kind: 'fuse-loop' } : { kind: 'skip', reason: `TANDEM_KERNEL_DEVICE=fuse but missing: ${ownFuseMissing}` };
  // auto: tandemd's own FUSE file under a loop device, the path every test runs and the fastest.
  // nbdfuse is not needed for it, and nbd-client is opt-in: no machine Tandem is tested on has the
  // nbd module, so it is never chosen for the user.
  if (ownFuseOk) return { kind: 'fuse-loop' };
  return { kind: 'skip', reason: `no way to make a kernel block device: missing ${ownFuseMissing}${nbdClientOk ? ' (nbd-client is installed: TANDEM_KERNEL_DEVICE=nbd-client uses it, untested)' : ''}` };
}

export function parseMode(raw: string | undefined): KernelDeviceMode | { invalid: string } {
  const v = (raw ?? '').trim();
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'off' || v === 'fuse' || v === 'nbd-client' || v === 'nbdfuse') return v;
  return { invalid: v };
}

async function onPath(cmd: string): Promise<boolean> {
  const dirs = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter(Boolean);
  for (const d of [...dirs, '/usr/sbin', '/sbin']) {
    try {
      await fs.access(path.join(d, cmd), fsc.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

async function existsPath(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

export async function devicePathState(devicePath: string): Promise<DevicePathState> {
  const parent = path.dirname(devicePath);
  try {
    const st = await fs.lstat(devicePath);
    if (st.isSymbolicLink()) return { kind: 'symlink', target: await fs.readlink(devicePath) };
    const what = st.isBlockDevice() ? 'a block device' : st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file' : 'a special file';
    return { kind: 'other', what };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { kind: 'other', what: `unreadable (${(err as Error).message})` };
  }
  try {
    if (!(await fs.stat(parent)).isDirectory()) return { kind: 'no-parent', parent };
  } catch {
    return { kind: 'no-parent', parent };
  }
  return { kind: 'absent' };
}

export async function kernelDeviceFacts(devicePath: string, env: NodeJS.ProcessEnv = process.env): Promise<KernelDeviceFacts> {
  const [pathState, nbdModule, nbdClient, nbdfuse, losetup, fuseDevice] = await Promise.all([
    devicePathState(devicePath),
    existsPath('/dev/nbd0'),
    onPath('nbd-client'),
    onPath('nbdfuse'),
    onPath('losetup'),
    existsPath('/dev/fuse'),
  ]);
  return {
    uid: process.getuid?.() ?? null,
    mode: parseMode(env.TANDEM_KERNEL_DEVICE),
    devicePath,
    pathState,
    nbdModule,
    nbdClient,
    nbdfuse,
    losetup,
    fuseDevice,
  };
}
