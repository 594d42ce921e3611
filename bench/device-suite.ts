// The block device users mount, measured as they use it: fio with libaio and O_DIRECT on the
// kernel device (and ext4 on it with a database's commit pattern), for three contenders built
// the same way: Tandem's /dev/tandem0 of a protocol C pair (loop over nbdfuse over the Primary's
// NBD socket), nbdkit's file plugin through the very same nbdfuse + loop plumbing (Tandem's own
// attachKernelDevice), and a loop device on a plain file. Root only (loop devices, FUSE, mount);
// otherwise skipped with the reason printed. Every device, mount and process is removed after.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { attachKernelDevice, detachKernelDevice, type KernelDeviceRecord } from '../src/nbd/kernel-device.js';
import { runFio, type FioJob, type FioResult } from './lib/fio.js';
import { NbdkitServer } from './lib/nbdkit.js';
import { run, runOk, waitFor } from './lib/proc.js';
import { MiB } from './lib/stats.js';
import { TandemPair } from './lib/tandem-pair.js';

export type DeviceContender = 'tandem_c' | 'nbdkit' | 'loop_file';
export const DEVICE_CONTENDERS: DeviceContender[] = ['tandem_c', 'nbdkit', 'loop_file'];

export type DeviceCaseId = 'randwrite4k_qd32' | 'randwrite4k_qd1' | 'seqwrite1m_qd8' | 'randwrite4k_fsync' | 'randread4k_qd32' | 'ext4_fdatasync4k';

interface DeviceCase {
  id: DeviceCaseId;
  label: string;
  job: (sizeBytes: number, runtimeSec: number, rampSec: number) => Omit<FioJob, 'sizeBytes'> & { sizeBytes: number };
  /** libaio + O_DIRECT on the raw device, psync (buffered, with fsync) on it, or psync in a file on ext4 */
  how: 'direct' | 'psync' | 'ext4';
}

const CASES: DeviceCase[] = [
  { id: 'randwrite4k_qd32', label: 'rw4k qd32 IOPS', how: 'direct', job: (s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 32, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  { id: 'randwrite4k_qd1', label: 'rw4k qd1 IOPS', how: 'direct', job: (s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 1, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  { id: 'seqwrite1m_qd8', label: 'seqw 1M qd8 MiB/s', how: 'direct', job: (s, r, ramp) => ({ rw: 'write', bs: '1M', iodepth: 8, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  { id: 'randwrite4k_fsync', label: 'rw4k+fsync IOPS', how: 'psync', job: (s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 1, sizeBytes: s, runtimeSec: r, rampSec: ramp, extra: ['--fsync=1'] }) },
  { id: 'randread4k_qd32', label: 'rr4k qd32 IOPS', how: 'direct', job: (s, r, ramp) => ({ rw: 'randread', bs: '4k', iodepth: 32, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  // a database's commit: 4 KiB random writes into a file on ext4, each followed by fdatasync
  { id: 'ext4_fdatasync4k', label: 'ext4 4k+fdatasync IOPS', how: 'ext4', job: (_s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 1, sizeBytes: 128 * MiB, runtimeSec: r, rampSec: ramp, extra: ['--fdatasync=1'] }) },
];

export type DeviceResult = Record<DeviceCaseId, Partial<Record<DeviceContender, FioResult>>>;

export interface DeviceSuiteOptions {
  scratch: string;
  sizeBytes: number;
  runtimeSec: number;
  rampSec: number;
  progress: (line: string) => void;
}

/** Why the device cases cannot run here, or null. */
export async function deviceSuiteUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'the kernel-device cases need root (loop devices, FUSE, mount)';
  for (const tool of ['nbdfuse', 'losetup', 'mkfs.ext4', 'fio', 'nbdkit']) {
    const r = await run('sh', ['-c', `command -v ${tool}`]).catch(() => null);
    if (!r || r.code !== 0) return `${tool} is not installed (scripts/install-deps.sh)`;
  }
  if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing';
  return null;
}

interface Device {
  path: string;
  close: () => Promise<void>;
}

async function waitBlockDevice(p: string): Promise<void> {
  await waitFor(() => {
    try {
      return fs.statSync(p).isBlockDevice();
    } catch {
      return false;
    }
  }, 30_000, `${p} to become a block device`);
}

async function tandemDevice(o: DeviceSuiteOptions): Promise<Device> {
  const pair = await TandemPair.create({ dir: path.join(o.scratch, 'dev-pair'), protocol: 'C', rate: '4000M', backingBytes: o.sizeBytes + 2 * MiB, kernelDevice: true });
  try {
    await pair.upAndConnect();
    // both backing files are sparse zeros: no initial sync needed (DRBD's --clear-bitmap)
    await pair.node1.ok({ cmd: 'new-current-uuid', resource: 'r0', clearBitmap: true });
    await pair.node2.waitStatus((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'UpToDate without initial sync');
    await pair.node1.ok({ cmd: 'primary', resource: 'r0' });
    await waitBlockDevice(pair.node1.devicePath);
  } catch (err) {
    await pair.destroy();
    throw err;
  }
  return {
    path: pair.node1.devicePath,
    close: async () => {
      await pair.node1.ok({ cmd: 'secondary', resource: 'r0' }).catch(() => undefined);
      await pair.destroy();
    },
  };
}

async function nbdkitDevice(o: DeviceSuiteOptions): Promise<Device> {
  const dir = path.join(o.scratch, 'dev-nbdkit');
  fs.mkdirSync(path.join(dir, 'dev'), { recursive: true });
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, '');
  fs.truncateSync(file, o.sizeBytes);
  const server = await NbdkitServer.start(file, path.join(dir, 'nbdkit.sock'));
  const logger = pino({ level: 'silent' });
  const runDir = path.join(dir, 'run');
  let rec: KernelDeviceRecord;
  try {
    rec = await attachKernelDevice({ resource: 'bench', devicePath: path.join(dir, 'dev', 'nbd0'), nbdSocket: server.socket, runDir, logger, size: o.sizeBytes, method: 'nbdfuse-loop' });
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    path: rec.devicePath,
    close: async () => {
      await detachKernelDevice(rec, { runDir, logger });
      await server.stop();
    },
  };
}

async function loopFileDevice(o: DeviceSuiteOptions): Promise<Device> {
  const file = path.join(o.scratch, 'dev-loop.img');
  fs.writeFileSync(file, '');
  fs.truncateSync(file, o.sizeBytes);
  const loop = (await runOk('losetup', ['--find', '--show', file])).trim();
  return { path: loop, close: async () => void (await runOk('losetup', ['-d', loop])) };
}

async function onExt4(dev: string, mnt: string, body: (dir: string) => Promise<FioResult>): Promise<FioResult> {
  await runOk('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', dev], { timeoutMs: 300_000 });
  fs.mkdirSync(mnt, { recursive: true });
  await runOk('mount', [dev, mnt]);
  try {
    return await body(mnt);
  } finally {
    await runOk('umount', [mnt]);
  }
}

export async function runDeviceSuite(o: DeviceSuiteOptions): Promise<DeviceResult> {
  fs.mkdirSync(o.scratch, { recursive: true });
  const result = Object.fromEntries(CASES.map((c) => [c.id, {}])) as DeviceResult;
  const makers: Record<DeviceContender, (o: DeviceSuiteOptions) => Promise<Device>> = { tandem_c: tandemDevice, nbdkit: nbdkitDevice, loop_file: loopFileDevice };
  // one contender at a time, so each has the machine to itself
  for (const who of DEVICE_CONTENDERS) {
    o.progress(`[device] ${who}: setting up the block device`);
    const dev = await makers[who](o);
    try {
      for (const c of CASES) {
        const job = c.job(o.sizeBytes, o.runtimeSec, o.rampSec);
        let r: FioResult;
        if (c.how === 'ext4') {
          r = await onExt4(dev.path, path.join(o.scratch, `mnt-${who}`), (dir) => runFio(job, { kind: 'file', path: path.join(dir, 'db.dat'), engine: 'psync' }));
        } else {
          r = await runFio(job, c.how === 'direct' ? { kind: 'file', path: dev.path, engine: 'libaio' } : { kind: 'file', path: dev.path, engine: 'psync' });
        }
        result[c.id][who] = r;
        o.progress(`    ${c.id.padEnd(18)} ${who.padEnd(10)} ${Math.round(r.iops)} IOPS, ${r.bwMiBs.toFixed(1)} MiB/s, p50 ${r.latP50Us.toFixed(0)} us`);
      }
    } finally {
      await dev.close();
    }
  }
  return result;
}

type Json = Record<string, unknown>;
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** results.json's `device` block: per case and contender, and Tandem's ratio to nbdkit. */
export function deviceJson(d: DeviceResult): Json {
  const out: Json = {};
  for (const c of CASES) {
    const o: Json = {};
    for (const who of DEVICE_CONTENDERS) {
      const r = d[c.id][who];
      if (r) o[who] = { iops: Math.round(r.iops), mibs: r1(r.bwMiBs), p50_us: r1(r.latP50Us), p99_us: r1(r.latP99Us) };
    }
    const t = d[c.id].tandem_c;
    const n = d[c.id].nbdkit;
    if (t && n && n.iops > 0) o.ratio_vs_nbdkit = r3(t.iops / n.iops);
    if (t && n && c.id === 'randwrite4k_qd1') o.p50_added_us_vs_nbdkit = r1(t.latP50Us - n.latP50Us);
    out[c.id] = o;
  }
  return out;
}

export function renderDeviceTable(device: Json): string {
  const W = [24, 16, 16, 16, 9];
  const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const row = (cols: string[]): string => cols.map((c, i) => pad(c, W[i]!)).join('  ');
  const lines = [row(['device (/dev/tandem0)', 'tandem_c', 'nbdkit+nbdfuse', 'loop on file', 'C/nbdkit']), '-'.repeat(W.reduce((a, b) => a + b + 2, 0))];
  for (const c of CASES) {
    const o = device[c.id] as Json | undefined;
    if (!o) continue;
    const cell = (who: DeviceContender): string => {
      const x = o[who] as Json | undefined;
      if (!x) return '-';
      if (c.id === 'seqwrite1m_qd8') return String(x.mibs);
      return c.id === 'randwrite4k_qd1' || c.id === 'randwrite4k_fsync' ? `${x.iops}; p50 ${x.p50_us}` : String(x.iops);
    };
    lines.push(row([c.label, cell('tandem_c'), cell('nbdkit'), cell('loop_file'), o.ratio_vs_nbdkit === undefined ? '-' : String(o.ratio_vs_nbdkit)]));
  }
  return lines.join('\n');
}
