// Where the time goes on the kernel-device path (root): fio with libaio + O_DIRECT on Tandem's
// /dev/tandem0 (loop device over tandemd's FUSE file, protocol C pair on loopback) and on nbdkit's
// file plugin through nbdfuse + loop, and the CPU microseconds per request of every user-space
// process serving each, plus the kernel's share (the machine's system time not in those
// processes: loop and FUSE work in kworkers and in fio's own syscalls).
// `node dist/bench/device-profile.js [--seconds N]`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deviceSuiteUnavailable, nbdkitDevice, tandemDevice, type Device } from './device-suite.js';
import { runFio, type FioJob } from './lib/fio.js';
import { killAllTracked } from './lib/proc.js';
import { makeScratchDir } from './lib/scratch.js';
import { MiB } from './lib/stats.js';

/** user + system CPU seconds of a process and all its threads so far */
function cpuSeconds(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
}

/** the machine's user and system CPU seconds (all cores) */
function machineCpu(): { user: number; system: number; idle: number } {
  const c = os.cpus();
  return {
    user: c.reduce((a, x) => a + x.times.user + x.times.nice, 0) / 1000,
    system: c.reduce((a, x) => a + x.times.sys + x.times.irq, 0) / 1000,
    idle: c.reduce((a, x) => a + x.times.idle, 0) / 1000,
  };
}

interface Row {
  device: string;
  job: string;
  iops: number;
  mibs: number;
  p50Us: number;
  /** CPU us per request: each serving process (user+system), then the machine's system time outside them */
  perReq: Record<string, number>;
}

async function measure(name: string, dev: Device, label: string, job: FioJob): Promise<Row> {
  const before = Object.fromEntries(Object.entries(dev.pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const m0 = machineCpu();
  const r = await runFio(job, { kind: 'file', path: dev.path, engine: 'libaio' });
  const m1 = machineCpu();
  const perReq: Record<string, number> = {};
  let serversSystem = 0;
  for (const [k, pid] of Object.entries(dev.pids)) {
    const a = cpuSeconds(pid);
    const b = before[k]!;
    perReq[k] = ((a.user - b.user + a.system - b.system) * 1e6) / r.ios;
    serversSystem += a.system - b.system;
  }
  perReq['kernel (rest)'] = ((m1.system - m0.system - serversSystem) * 1e6) / r.ios;
  perReq['machine idle %'] = (100 * (m1.idle - m0.idle)) / (m1.idle - m0.idle + m1.user - m0.user + m1.system - m0.system);
  return { device: name, job: label, iops: r.iops, mibs: r.bwMiBs, p50Us: r.latP50Us, perReq };
}

async function main(): Promise<void> {
  process.stdout.on('error', () => undefined);
  const why = await deviceSuiteUnavailable();
  if (why) {
    process.stdout.write(`device profile skipped: ${why}\n`);
    return;
  }
  const argv = process.argv.slice(2);
  const seconds = Number(argv[argv.indexOf('--seconds') + 1] ?? 8) || 8;
  const scratch = makeScratchDir();
  const sizeBytes = 512 * MiB;
  const jobs: Array<[string, FioJob]> = [
    ['4k randwrite qd32', { rw: 'randwrite', bs: '4k', iodepth: 32, sizeBytes, runtimeSec: seconds, rampSec: 1 }],
    ['4k randwrite qd1', { rw: 'randwrite', bs: '4k', iodepth: 1, sizeBytes, runtimeSec: seconds, rampSec: 1 }],
    ['1M write qd8', { rw: 'write', bs: '1M', iodepth: 8, sizeBytes, runtimeSec: seconds, rampSec: 1 }],
  ];
  const rows: Row[] = [];
  try {
    for (const [name, make] of [
      ['tandem C /dev/tandem0', () => tandemDevice({ scratch, sizeBytes }, 'prof-tandem', 'fuse')],
      ['nbdkit via nbdfuse + loop', () => nbdkitDevice({ scratch, sizeBytes })],
    ] as const) {
      const dev = await make();
      try {
        // allocate the backing files' blocks first, as in the device suite
        await runFio({ rw: 'write', bs: '1M', iodepth: 8, sizeBytes, runtimeSec: 0, rampSec: 0, ioSizeBytes: sizeBytes }, { kind: 'file', path: dev.path, engine: 'libaio' });
        for (const [label, job] of jobs) {
          const row = await measure(name, dev, label, job);
          rows.push(row);
          const cpu = Object.entries(row.perReq).map(([k, v]) => `${k} ${v.toFixed(k.endsWith('%') ? 0 : 1)}`).join(', ');
          process.stdout.write(`${name} | ${label}: ${row.iops.toFixed(0)} IOPS, ${row.mibs.toFixed(0)} MiB/s, p50 ${row.p50Us.toFixed(0)} us | CPU us/request: ${cpu}\n`);
        }
      } finally {
        await dev.close();
      }
    }
  } finally {
    killAllTracked();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const out = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : null;
  if (out) fs.writeFileSync(path.resolve(out), `${JSON.stringify(rows, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
