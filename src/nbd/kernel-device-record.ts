// What tandemd set up to give a resource its kernel block device, kept in
// <run-dir>/kernel/<res>.json and rewritten after every step of the set-up. A detach, or a tandemd
// restarted after a crash, tears down exactly what the record names and nothing else.
import fs from 'node:fs/promises';
import path from 'node:path';

export const RECORD_VERSION = 1;

/** nbdfuse exposes the NBD export as one file on a private FUSE mount; a loop device sits on it. */
export interface NbdfuseLoopRecord {
  version: typeof RECORD_VERSION;
  method: 'nbdfuse-loop';
  resource: string;
  /** the config's `device` path; a symlink to `loopDevice` once set up */
  devicePath: string;
  /** the NBD socket nbdfuse connects to */
  nbdSocket: string;
  /** private FUSE mountpoint (a directory under <run-dir>/kernel/<res>/) */
  mountpoint: string;
  /** the file nbdfuse shows inside the mountpoint: the loop device's backing file */
  file: string;
  nbdfusePid: number | null;
  loopDevice: string | null;
  /** set once devicePath is our symlink */
  symlink: string | null;
}

/**
 * tandemd itself serves the file on a private FUSE mount (src/fuse/); a loop device sits on it.
 * After a crash the mount is dead (its server was the crashed process): only the loop device and
 * the mount are left to remove.
 */
export interface FuseLoopRecord {
  version: typeof RECORD_VERSION;
  method: 'fuse-loop';
  resource: string;
  devicePath: string;
  mountpoint: string;
  file: string;
  loopDevice: string | null;
  symlink: string | null;
}

/** nbd-client attaches the export to /dev/nbdN through the kernel's nbd module. */
export interface NbdClientRecord {
  version: typeof RECORD_VERSION;
  method: 'nbd-client';
  resource: string;
  devicePath: string;
  nbdSocket: string;
  nbdDevice: string | null;
  symlink: string | null;
}

export type KernelDeviceRecord = FuseLoopRecord | NbdfuseLoopRecord | NbdClientRecord;
/** the records whose device is a loop over a file on a FUSE mount */
export type LoopRecord = FuseLoopRecord | NbdfuseLoopRecord;
export type KernelDeviceMethod = KernelDeviceRecord['method'];

export function kernelDir(runDir: string): string {
  return path.join(runDir, 'kernel');
}
export function recordPath(runDir: string, resource: string): string {
  return path.join(kernelDir(runDir), `${resource}.json`);
}
/** Private working directory of one resource: FUSE mountpoint (and nbdfuse's log and pid file). */
export function resourceKernelDir(runDir: string, resource: string): string {
  return path.join(kernelDir(runDir), resource);
}

/** The block device the record's symlink points at, once there is one. */
export function blockDeviceOf(rec: KernelDeviceRecord): string | null {
  return rec.method === 'nbd-client' ? rec.nbdDevice : rec.loopDevice;
}

export class RecordError extends Error {}

/** Parse boundary: a damaged record is reported, never half-trusted. */
export function parseRecord(text: string, where: string): KernelDeviceRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RecordError(`${where}: not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null) throw new RecordError(`${where}: not a JSON object`);
  const o = raw as Record<string, unknown>;
  if (o.version !== RECORD_VERSION) throw new RecordError(`${where}: unknown record version ${JSON.stringify(o.version)} (expected ${RECORD_VERSION})`);
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string' || v === '') throw new RecordError(`${where}: field '${k}' must be a non-empty string`);
    return v;
  };
  const strOrNull = (k: string): string | null => {
    const v = o[k];
    if (v === null || v === undefined) return null;
    if (typeof v !== 'string' || v === '') throw new RecordError(`${where}: field '${k}' must be a non-empty string or null`);
    return v;
  };
  const absolute = (k: string, v: string | null): string | null => {
    if (v !== null && !path.isAbsolute(v)) throw new RecordError(`${where}: field '${k}' must be an absolute path, got '${v}'`);
    return v;
  };
  const common = {
    version: RECORD_VERSION,
    resource: str('resource'),
    devicePath: absolute('devicePath', str('devicePath'))!,
    symlink: absolute('symlink', strOrNull('symlink')),
  } as const;
  const loopDevice = (): string | null => {
    const loop = strOrNull('loopDevice');
    if (loop !== null && !/^\/dev\/loop\d+$/.test(loop)) throw new RecordError(`${where}: field 'loopDevice' must look like /dev/loopN, got '${loop}'`);
    return loop;
  };
  if (o.method === 'fuse-loop') {
    return {
      ...common,
      method: 'fuse-loop',
      mountpoint: absolute('mountpoint', str('mountpoint'))!,
      file: absolute('file', str('file'))!,
      loopDevice: loopDevice(),
    };
  }
  const base = { ...common, nbdSocket: absolute('nbdSocket', str('nbdSocket'))! } as const;
  if (o.method === 'nbdfuse-loop') {
    const pid = o.nbdfusePid;
    if (pid !== null && pid !== undefined && !(Number.isInteger(pid) && (pid as number) > 1)) {
      throw new RecordError(`${where}: field 'nbdfusePid' must be a process id or null`);
    }
    return {
      ...base,
      method: 'nbdfuse-loop',
      mountpoint: absolute('mountpoint', str('mountpoint'))!,
      file: absolute('file', str('file'))!,
      nbdfusePid: (pid as number | null | undefined) ?? null,
      loopDevice: loopDevice(),
    };
  }
  if (o.method === 'nbd-client') {
    const dev = strOrNull('nbdDevice');
    if (dev !== null && !/^\/dev\/nbd\d+$/.test(dev)) throw new RecordError(`${where}: field 'nbdDevice' must look like /dev/nbdN, got '${dev}'`);
    return { ...base, method: 'nbd-client', nbdDevice: dev };
  }
  throw new RecordError(`${where}: unknown method ${JSON.stringify(o.method)} (expected 'fuse-loop', 'nbdfuse-loop' or 'nbd-client')`);
}

/** Atomic: a crash leaves the old record or the new one, never a torn file. */
export async function writeRecord(runDir: string, rec: KernelDeviceRecord): Promise<void> {
  const file = recordPath(runDir, rec.resource);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(tmp, file);
}

export async function removeRecord(runDir: string, resource: string): Promise<void> {
  await fs.rm(recordPath(runDir, resource), { force: true });
}

export type ListedRecord = { kind: 'record'; record: KernelDeviceRecord; file: string } | { kind: 'damaged'; file: string; error: string };

/** Every record in <run-dir>/kernel/, damaged ones reported separately. */
export async function listRecords(runDir: string): Promise<ListedRecord[]> {
  const dir = kernelDir(runDir);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ListedRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(dir, name);
    try {
      const record = parseRecord(await fs.readFile(file, 'utf8'), file);
      if (`${record.resource}.json` !== name) throw new RecordError(`${file}: names resource '${record.resource}', not '${name.slice(0, -5)}'`);
      out.push({ kind: 'record', record, file });
    } catch (err) {
      out.push({ kind: 'damaged', file, error: (err as Error).message });
    }
  }
  return out;
}
