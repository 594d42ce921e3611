// Who holds a block device open, so that `secondary` and `down` can refuse the way DRBD does
// ("Device is held open by someone") and also say who: a mount, a stacked device (device-mapper,
// md) or a process with an open file descriptor. When nobody can be named but the kernel still
// refuses an exclusive open (a mount in another mount namespace), that is reported too.
import fs from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import path from 'node:path';

export type Holder =
  | { kind: 'mount'; mountPoint: string; fsType: string }
  | { kind: 'stacked'; device: string }
  | { kind: 'process'; pid: number; comm: string }
  | { kind: 'exclusive' };

export interface MountEntry {
  majorMinor: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

/** The kernel writes space, tab, newline and backslash in mountinfo as octal escapes. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** /proc/PID/mountinfo (proc(5)); lines that do not parse are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || sep + 2 >= f.length) continue;
    const majorMinor = f[2]!;
    if (!/^\d+:\d+$/.test(majorMinor)) continue;
    out.push({ majorMinor, mountPoint: unescapeMountField(f[4]!), fsType: f[sep + 1]!, source: unescapeMountField(f[sep + 2]!) });
  }
  return out;
}

export function describeHolder(h: Holder): string {
  switch (h.kind) {
    case 'mount':
      return `mounted on ${h.mountPoint}`;
    case 'stacked':
      return `used by ${h.device}`;
    case 'process':
      return `held by ${h.comm}[${h.pid}]`;
    case 'exclusive':
      return 'claimed exclusively by a holder outside this mount namespace';
  }
}

/** "(mounted on /mnt/x, held by mkfs.ext4[1234])", or "" when nobody holds it. */
export function describeHolders(holders: readonly Holder[]): string {
  return holders.length === 0 ? '' : `(${holders.map(describeHolder).join(', ')})`;
}

/**
 * udev opens a block device for a moment after every close-after-write (to re-read its
 * signature with blkid), so right after `umount` it may show up as a holder. DRBD users know the
 * same race; a holder like this is waited out briefly instead of refusing.
 */
export function isTransientProber(h: Holder): boolean {
  return h.kind === 'process' && /^(systemd-udevd|udevd|\(udev-worker\)|udev-worker|blkid)$/.test(h.comm);
}

/** "7:0" for /dev/loop0, from sysfs; null when the kernel has no such block device. */
export async function majorMinorOf(device: string): Promise<string | null> {
  try {
    return (await fs.readFile(`/sys/class/block/${path.basename(device)}/dev`, 'utf8')).trim();
  } catch {
    return null;
  }
}

export interface HolderScanOptions {
  /** processes whose open descriptors do not count (our own helpers) */
  ignorePids?: readonly number[];
  /** defaults to /proc; tests may point it elsewhere */
  procRoot?: string;
}

export async function blockDeviceHolders(device: string, opts: HolderScanOptions = {}): Promise<Holder[]> {
  const proc = opts.procRoot ?? '/proc';
  const mm = await majorMinorOf(device);
  if (mm === null) return [];
  const holders: Holder[] = [];
  try {
    for (const m of parseMountinfo(await fs.readFile(path.join(proc, 'self/mountinfo'), 'utf8'))) {
      if (m.majorMinor === mm) holders.push({ kind: 'mount', mountPoint: m.mountPoint, fsType: m.fsType });
    }
  } catch {
    /* no /proc: fall through to the other checks */
  }
  try {
    for (const d of await fs.readdir(`/sys/class/block/${path.basename(device)}/holders`)) holders.push({ kind: 'stacked', device: d });
  } catch {
    /* no holders directory */
  }
  holders.push(...(await processHolders(device, mm, proc, new Set([process.pid, ...(opts.ignorePids ?? [])]))));
  if (holders.length === 0 && (await exclusivelyClaimed(device))) holders.push({ kind: 'exclusive' });
  return holders;
}

function rdevString(rdev: number): string {
  // glibc's encoding of dev_t; what /sys/class/block/X/dev prints as major:minor
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}

async function processHolders(device: string, mm: string, proc: string, ignore: Set<number>): Promise<Holder[]> {
  let pids: string[];
  try {
    pids = (await fs.readdir(proc)).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  const out: Holder[] = [];
  for (const p of pids) {
    const pid = Number(p);
    if (ignore.has(pid)) continue;
    const fdDir = path.join(proc, p, 'fd');
    let fds: string[];
    try {
      fds = await fs.readdir(fdDir);
    } catch {
      continue; // gone, or a kernel thread
    }
    let holds = false;
    for (const fd of fds) {
      let link: string;
      try {
        link = await fs.readlink(path.join(fdDir, fd));
      } catch {
        continue;
      }
      if (link === device) holds = true;
      else if (link.startsWith('/dev/')) {
        // the same device under another node name (/dev/block/7:0, a copy made with mknod)
        try {
          const st = await fs.stat(path.join(fdDir, fd));
          holds = st.isBlockDevice() && rdevString(st.rdev) === mm;
        } catch {
          /* closed meanwhile */
        }
      }
      if (holds) break;
    }
    if (!holds) continue;
    let comm = '?';
    try {
      comm = (await fs.readFile(path.join(proc, p, 'comm'), 'utf8')).trim();
    } catch {
      /* exited meanwhile */
    }
    out.push({ kind: 'process', pid, comm });
  }
  return out;
}

/** A mount or an O_EXCL opener anywhere (also in other mount namespaces) makes this EBUSY. */
async function exclusivelyClaimed(device: string): Promise<boolean> {
  try {
    const fh = await fs.open(device, fsc.O_RDONLY | fsc.O_EXCL | fsc.O_NONBLOCK);
    await fh.close();
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EBUSY';
  }
}
