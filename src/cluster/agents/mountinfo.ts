// /proc/self/mountinfo (proc(5)): `36 35 98:0 /root /mnt/point rw,noatime shared:1 - ext4 /dev/sda1 rw`.
// Paths escape blanks, tabs, newlines and backslashes as octal (\040, \011, \012, \134).

export interface MountEntry {
  mountPoint: string;
  root: string;
  fstype: string;
  source: string;
  options: string;
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0 || f.length < dash + 3) continue;
    out.push({
      root: unescapeOctal(f[3]!),
      mountPoint: unescapeOctal(f[4]!),
      options: f[5]!,
      fstype: f[dash + 1]!,
      source: unescapeOctal(f[dash + 2]!),
    });
  }
  return out;
}

export function normaliseDir(dir: string): string {
  const d = dir.replace(/\/+$/, '');
  return d === '' ? '/' : d;
}

/** The mounts at dir, last (topmost) first. */
export function mountsAt(entries: readonly MountEntry[], dir: string): MountEntry[] {
  const want = normaliseDir(dir);
  return entries.filter((e) => e.mountPoint === want).reverse();
}

/** heartbeat's Filesystem accepts `-Llabel` and `-Uuuid` for the device; mount(8) wants LABEL=/UUID=. */
export function mountSource(device: string): string {
  if (device.startsWith('-L')) return `LABEL=${device.slice(2)}`;
  if (device.startsWith('-U')) return `UUID=${device.slice(2)}`;
  return device;
}

export function mountArgv(device: string, dir: string, fstype: string | null, options: string | null): string[] {
  const argv = ['mount'];
  if (fstype !== null && fstype !== '') argv.push('-t', fstype);
  if (options !== null && options !== '') argv.push('-o', options);
  argv.push(mountSource(device), normaliseDir(dir));
  return argv;
}
