// The block device users mount, measured as they use it: fio with libaio and O_DIRECT on the
// kernel device (and ext4 on it with a database's commit pattern), for contenders built alike:
// Tandem's /dev/tandem0 of a protocol C pair as tandemd makes it (a loop device over the file
// tandemd serves on its own FUSE mount), the same pair through nbdfuse + its NBD socket (the path
// before; it shows what that hop costs), nbdkit's file plugin through nbdfuse + loop (Tandem's own
// attachKernelDevice: the baseline of the targets), and a loop device on a plain file. All are set
// up first and the runs interleaved (case by case, contender by contender, rep by rep) so a change
// in the machine's load hits every contender alike; medians are reported. Root only (loop devices,
// FUSE, mount); otherwise skipped with the reason printed. Every device, mount and process is
// removed after, also on an error.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { attachKernelDevice, detachKernelDevice, type KernelDeviceRecord } from '../src/nbd/kernel-device.js';
import { medianResult, runFio, type FioJob, type FioResult } from './lib/fio.js';
import { NbdkitServer } from './lib/nbdkit.js';
import { run, runOk, waitFor } from './lib/proc.js';
import { evictPageCache } from './lib/scratch.js';
import { MiB } from './lib/stats.js';
import { TandemPair } from './lib/tandem-pair.js';

export type DeviceContender = 'tandem_c' | 'tandem_c_nbdfuse' | 'nbdkit' | 'loop_file';
export const DEVICE_CONTENDERS: DeviceContender[] = ['tandem_c', 'tandem_c_nbdfuse', 'nbdkit', 'loop_file'];

export type DeviceCaseId = 'randwrite4k_qd32' | 'randwrite4k_qd1' | 'seqwrite1m_qd8' | 'randwrite4k_fsync' | 'randread4k_qd32' | 'ext4_fdatasync4k';

interface DeviceCase {
  id: DeviceCaseId;
  label: string;
  job: (sizeBytes: number, runtimeSec: number, rampSec: number) => FioJob;
  /** libaio + O_DIRECT on the raw device, psync (buffered, with fsync) on it, or psync in a file on ext4 */
  how: 'direct' | 'psync' | 'ext4';
  writes: boolean;
}

const CASES: DeviceCase[] = [
  { id: 'randwrite4k_qd32', label: 'rw4k qd32 IOPS', how: 'direct', writes: true, job: (s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 32, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  { id: 'randwrite4k_qd1', label: 'rw4k qd1 IOPS', how: 'direct', writes: true, job: (s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 1, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  { id: 'seqwrite1m_qd8', label: 'seqw 1M qd8 MiB/s', how: 'direct', writes: true, job: (s, r, ramp) => ({ rw: 'write', bs: '1M', iodepth: 8, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  // a commit on the raw device: the write goes through the device's page cache, fsync flushes it
  { id: 'randwrite4k_fsync', label: 'rw4k+fsync IOPS', how: 'psync', writes: true, job: (s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 1, sizeBytes: s, runtimeSec: r, rampSec: ramp, extra: ['--fsync=1'] }) },
  { id: 'randread4k_qd32', label: 'rr4k qd32 IOPS', how: 'direct', writes: false, job: (s, r, ramp) => ({ rw: 'randread', bs: '4k', iodepth: 32, sizeBytes: s, runtimeSec: r, rampSec: ramp }) },
  // a database's commit: 4 KiB random writes into a file on ext4, each followed by fdatasync
  { id: 'ext4_fdatasync4k', label: 'ext4 4k+fdatasync IOPS', how: 'ext4', writes: true, job: (_s, r, ramp) => ({ rw: 'randwrite', bs: '4k', iodepth: 1, sizeBytes: 128 * MiB, runtimeSec: r, rampSec: ramp, extra: ['--fdatasync=1'] }) },
];

export interface DeviceSample {
  samples: FioResult[];
  median: FioResult;
}
export type DeviceResult = Record<DeviceCaseId, Partial<Record<DeviceContender, DeviceSample>>>;

export interface DeviceSuiteOptions {
  scratch: string;
  sizeBytes: number;
  runtimeSec: number;
  rampSec: number;
  reps: number;
  /** leave out tandem_c_nbdfuse (the path before tandemd served its own FUSE file) */
  withoutNbdfusePair?: boolean;
  progress: (line: string) => void;
  /** registers a clean-up the caller runs if it is interrupted before the suite returns */
  onCleanup?: (f: () => Promise<void>) => void;
}

/** Why the device cases cannot run here, or null. */
export async function deviceSuiteUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'the kernel-device cases need root (loop devices, FUSE, mount)';
  for (const tool of ['nbdfuse', 'losetup', 'mkfs.ext4', 'fio', 'nbdkit', 'fusermount3']) {
    const r = await run('sh', ['-c', `command -v ${tool}`]).catch(() => null);
    if (!r || r.code !== 0) return `${tool} is not installed (scripts/install-deps.sh)`;
  }
  if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing';
  return null;
}

export interface Device {
  path: string;
  /** the user-space processes serving the device (CPU per request: bench/device-profile.ts) */
  pids: Record<string, number>;
  /** the files whose page cache holds this device's data (dropped before each write case) */
  backing: string[];
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

export async function tandemDevice(o: Pick<DeviceSuiteOptions, 'scratch' | 'sizeBytes'>, dir: string, how: 'fuse' | 'nbdfuse'): Promise<Device> {
  const pair = await TandemPair.create({ dir: path.join(o.scratch, dir), protocol: 'C', rate: '4000M', backingBytes: o.sizeBytes + 2 * MiB, kernelDevice: how });
  try {
    await pair.upAndConnect();
    // both backing files are sparse zeros: no initial sync needed (DRBD's --clear-bitmap)
    await pair.node1.ok({ cmd: 'new-current-uuid', resource: 'r0', clearBitmap: true });
    await pair.node2.waitStatus((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'UpToDate without initial sync');
    await pair.node1.ok({ cmd: 'primary', resource: 'r0' });
    await waitBlockDevice(pair.node1.devicePath);
  } catch (err) {
    const tail = pair.node1.logTail.split('\n').slice(-15).join('\n');
    await pair.destroy();
    throw new Error(`${(err as Error).message}\nnode1's log:\n${tail}`);
  }
  return {
    path: pair.node1.devicePath,
    pids: { tandemd_primary: pair.node1.pid, tandemd_secondary: pair.node2.pid },
    backing: [pair.node1.disk, pair.node2.disk],
    close: async () => {
      await pair.node1.ok({ cmd: 'secondary', resource: 'r0' }).catch(() => undefined);
      await pair.destroy();
    },
  };
}

export async function nbdkitDevice(o: Pick<DeviceSuiteOptions, 'scratch' | 'sizeBytes'>): Promise<Device> {
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
    pids: { nbdkit: server.pid!, ...(rec.method === 'nbdfuse-loop' && rec.nbdfusePid ? { nbdfuse: rec.nbdfusePid } : {}) },
    backing: [file],
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
  return { path: loop, pids: {}, backing: [file], close: async () => void (await runOk('losetup', ['-d', loop])) };
}

async function mkfsAndMount(dev: string, mnt: string): Promise<void> {
  // nodiscard: mkfs would otherwise trim the whole device first, which only measures the trim
  await runOk('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0', dev], { timeoutMs: 300_000 });
  fs.mkdirSync(mnt, { recursive: true });
  await runOk('mount', [dev, mnt]);
}

export async function runDeviceSuite(o: DeviceSuiteOptions): Promise<DeviceResult> {
  fs.mkdirSync(o.scratch, { recursive: true });
  const who = DEVICE_CONTENDERS.filter((c) => !(c === 'tandem_c_nbdfuse' && o.withoutNbdfusePair));
  const makers: Record<DeviceContender, () => Promise<Device>> = {
    tandem_c: () => tandemDevice(o, 'dev-pair', 'fuse'),
    tandem_c_nbdfuse: () => tandemDevice(o, 'dev-pair-nbdfuse', 'nbdfuse'),
    nbdkit: () => nbdkitDevice(o),
    loop_file: () => loopFileDevice(o),
  };
  const devices = new Map<DeviceContender, Device>();
  const mounts: string[] = [];
  const closeAll = async (): Promise<void> => {
    for (const m of mounts.splice(0)) await runOk('umount', [m]).catch(() => runOk('umount', ['-l', m]).catch(() => undefined));
    for (const [k, d] of [...devices].reverse()) {
      devices.delete(k);
      await d.close().catch((err: Error) => o.progress(`[device] ${k}: clean-up failed: ${err.message}`));
    }
  };
  o.onCleanup?.(closeAll);
  const samples = new Map<string, FioResult[]>();
  const record = (c: DeviceCase, w: DeviceContender, r: FioResult): void => {
    const k = `${c.id}/${w}`;
    samples.set(k, [...(samples.get(k) ?? []), r]);
    const sync = r.syncP50Us > 0 ? `, sync p50 ${r.syncP50Us.toFixed(0)} us` : '';
    o.progress(`    ${c.id.padEnd(18)} ${w.padEnd(17)} ${Math.round(r.iops)} IOPS, ${r.bwMiBs.toFixed(1)} MiB/s, p50 ${r.latP50Us.toFixed(0)} us${sync}`);
  };
  try {
    for (const w of who) {
      o.progress(`[device] ${w}: setting up the block device`);
      devices.set(w, await makers[w]());
      // a disk in use, not a new sparse one: the backing files' blocks allocated (on this ext4 a
      // first write into a hole cost Tandem's two daemons twice the CPU of a rewrite) and
      // Tandem's activity log warm, as after any real use
      await runFio({ rw: 'write', bs: '1M', iodepth: 8, sizeBytes: o.sizeBytes, runtimeSec: 0, rampSec: 0, ioSizeBytes: o.sizeBytes }, { kind: 'file', path: devices.get(w)!.path, engine: 'libaio' });
    }
    const dropCaches = async (): Promise<void> => evictPageCache([...devices.values()].flatMap((d) => d.backing));
    for (const c of CASES.filter((x) => x.how !== 'ext4')) {
      for (let rep = 1; rep <= o.reps; rep++) {
        for (const w of who) {
          if (c.writes) await dropCaches();
          const dev = devices.get(w)!;
          const job = c.job(o.sizeBytes, o.runtimeSec, o.rampSec);
          record(c, w, await runFio(job, { kind: 'file', path: dev.path, engine: c.how === 'direct' ? 'libaio' : 'psync' }));
        }
      }
    }
    const ext4 = CASES.find((x) => x.how === 'ext4')!;
    for (const w of who) {
      const mnt = path.join(o.scratch, `mnt-${w}`);
      await mkfsAndMount(devices.get(w)!.path, mnt);
      mounts.push(mnt);
    }
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const w of who) {
        await dropCaches();
        record(ext4, w, await runFio(ext4.job(o.sizeBytes, o.runtimeSec, o.rampSec), { kind: 'file', path: path.join(o.scratch, `mnt-${w}`, 'db.dat'), engine: 'psync' }));
      }
    }
  } finally {
    await closeAll();
  }
  const result = Object.fromEntries(CASES.map((c) => [c.id, {}])) as DeviceResult;
  for (const c of CASES) {
    for (const w of who) {
      const s = samples.get(`${c.id}/${w}`);
      if (s) result[c.id][w] = { samples: s, median: medianResult(s) };
    }
  }
  return result;
}

type Json = Record<string, unknown>;
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A commit's latency: the write, then its fsync/fdatasync (p50 of each). */
const commitP50 = (r: FioResult): number => r.latP50Us + r.syncP50Us;

export interface DeviceTarget {
  what: string;
  value: string;
  goal: string;
  met: boolean;
}

/** The targets, from the medians of one run. */
export function deviceTargets(d: DeviceResult): DeviceTarget[] {
  const t = (id: DeviceCaseId, w: DeviceContender): FioResult | undefined => d[id][w]?.median;
  const out: DeviceTarget[] = [];
  const qd32 = t('randwrite4k_qd32', 'tandem_c');
  const qd32n = t('randwrite4k_qd32', 'nbdkit');
  const qd1 = t('randwrite4k_qd1', 'tandem_c');
  if (qd32 && qd32n) out.push({ what: '4k randwrite qd32 vs nbdkit (same plumbing)', value: r3(qd32.iops / qd32n.iops).toString(), goal: '>= 0.8', met: qd32.iops / qd32n.iops >= 0.8 });
  if (qd32 && qd1) out.push({ what: '4k randwrite qd32 vs Tandem qd1', value: r3(qd32.iops / qd1.iops).toString(), goal: '>= 3', met: qd32.iops / qd1.iops >= 3 });
  const seq = t('seqwrite1m_qd8', 'tandem_c');
  const seqn = t('seqwrite1m_qd8', 'nbdkit');
  if (seq && seqn) out.push({ what: '1 MiB seq write vs nbdkit', value: r3(seq.bwMiBs / seqn.bwMiBs).toString(), goal: '>= 0.7', met: seq.bwMiBs / seqn.bwMiBs >= 0.7 });
  const e = t('ext4_fdatasync4k', 'tandem_c');
  const en = t('ext4_fdatasync4k', 'nbdkit');
  if (e && en) {
    const added = commitP50(e) - commitP50(en);
    out.push({ what: 'ext4 4k+fdatasync commit p50 vs nbdkit', value: `${added >= 0 ? '+' : ''}${Math.round(added)} us`, goal: '<= +100 us', met: added <= 100 });
  }
  return out;
}

/** results.json's `device` block: medians per case and contender, Tandem's ratio to nbdkit, the targets. */
export function deviceJson(d: DeviceResult, reps: number): Json {
  const out: Json = { reps };
  for (const c of CASES) {
    const o: Json = {};
    for (const who of DEVICE_CONTENDERS) {
      const s = d[c.id][who];
      if (!s) continue;
      const r = s.median;
      o[who] = {
        iops: Math.round(r.iops), mibs: r1(r.bwMiBs), p50_us: r1(r.latP50Us), p99_us: r1(r.latP99Us),
        ...(r.syncP50Us > 0 ? { sync_p50_us: r1(r.syncP50Us), commit_p50_us: r1(commitP50(r)) } : {}),
        samples_iops: s.samples.map((x) => Math.round(x.iops)),
      };
    }
    const t = d[c.id].tandem_c?.median;
    const n = d[c.id].nbdkit?.median;
    const via = d[c.id].tandem_c_nbdfuse?.median;
    if (t && n && n.iops > 0) o.ratio_vs_nbdkit = r3(t.iops / n.iops);
    if (t && via && via.iops > 0) o.ratio_vs_own_nbdfuse_path = r3(t.iops / via.iops);
    if (t && n && c.id === 'randwrite4k_qd1') o.p50_added_us_vs_nbdkit = r1(t.latP50Us - n.latP50Us);
    if (t && n && t.syncP50Us > 0) o.commit_p50_added_us_vs_nbdkit = r1(commitP50(t) - commitP50(n));
    if (t && c.id === 'randwrite4k_qd32') {
      const qd1 = d.randwrite4k_qd1.tandem_c?.median;
      if (qd1 && qd1.iops > 0) o.ratio_vs_own_qd1 = r3(t.iops / qd1.iops);
    }
    out[c.id] = o;
  }
  out.targets = deviceTargets(d);
  return out;
}

export function renderDeviceTable(device: Json): string {
  const W = [24, 16, 16, 16, 16, 9];
  const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const row = (cols: string[]): string => cols.map((c, i) => pad(c, W[i]!)).join('  ');
  const lines = [
    row(['device (/dev/tandem0)', 'tandem_c', 'tandem via nbdfuse', 'nbdkit+nbdfuse', 'loop on file', 'C/nbdkit']),
    '-'.repeat(W.reduce((a, b) => a + b + 2, 0)),
  ];
  for (const c of CASES) {
    const o = device[c.id] as Json | undefined;
    if (!o) continue;
    const cell = (who: DeviceContender): string => {
      const x = o[who] as Json | undefined;
      if (!x) return '-';
      if (c.id === 'seqwrite1m_qd8') return String(x.mibs);
      if (x.commit_p50_us !== undefined) return `${x.iops}; ${x.commit_p50_us} us`;
      return c.id === 'randwrite4k_qd1' ? `${x.iops}; p50 ${x.p50_us}` : String(x.iops);
    };
    lines.push(row([c.label, cell('tandem_c'), cell('tandem_c_nbdfuse'), cell('nbdkit'), cell('loop_file'), o.ratio_vs_nbdkit === undefined ? '-' : String(o.ratio_vs_nbdkit)]));
  }
  lines.push('(fsync/fdatasync rows: IOPS; p50 of a commit = write + sync)');
  const targets = (device.targets as DeviceTarget[] | undefined) ?? [];
  for (const t of targets) lines.push(`target ${t.what}: ${t.value} (${t.goal}) ${t.met ? 'met' : 'MISSED'}`);
  return lines.join('\n');
}
