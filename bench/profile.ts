// Where the time goes for protocol C 4 KiB random writes at depth 32: one fio run with both
// tandemd processes under `node --cpu-prof` (top functions by self time), and one under
// `strace -c -f` (syscalls per NBD request). `node dist/bench/profile.js [--seconds N] [--keep DIR]`.
import fs from 'node:fs';
import path from 'node:path';
import { runFio } from './lib/fio.js';
import { killAllTracked, run, startTracked, stopProcess } from './lib/proc.js';
import { makeScratchDir } from './lib/scratch.js';
import { MiB } from './lib/stats.js';
import { TandemPair, type NodeName } from './lib/tandem-pair.js';
import { NbdkitServer } from './lib/nbdkit.js';
import { copyFile, evictPageCache, writeTemplate } from './lib/scratch.js';
import os from 'node:os';

/** user+system CPU seconds of a process (all its threads) so far */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const hz = 100; // USER_HZ on Linux
  return (Number(f[11]) + Number(f[12])) / hz;
}

/** CPU microseconds per request of each server process while fio runs, and how idle the machine was. */
async function cpuPerRequest(uri: string, pids: Record<string, number>, sizeBytes: number, seconds: number): Promise<{ iops: number; perReq: Record<string, number>; idlePct: number }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const idle0 = os.cpus().reduce((a, c) => a + c.times.idle, 0);
  const t0 = performance.now();
  const r = await runFio({ rw: 'randwrite', bs: '4k', iodepth: 32, sizeBytes, runtimeSec: seconds, rampSec: 0 }, { kind: 'nbd', uri });
  const wallMs = performance.now() - t0;
  const idlePct = (100 * (os.cpus().reduce((a, c) => a + c.times.idle, 0) - idle0)) / (wallMs * os.cpus().length);
  const perReq: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) perReq[k] = ((cpuSeconds(pid) - before[k]!) * 1e6) / r.ios;
  return { iops: r.iops, perReq, idlePct };
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (name + file:line), as a share of the samples where the thread was busy. */
export function topFunctions(profile: CpuProfile, n: number): { fn: string; selfPct: number }[] {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    if (f.functionName === '(idle)') continue;
    const file = f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:');
    const key = `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0) || 1;
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, c]) => ({ fn, selfPct: (100 * c) / total }));
}

interface SyscallRow {
  calls: number;
  name: string;
}

export function parseStraceSummary(text: string): SyscallRow[] {
  const rows: SyscallRow[] = [];
  for (const line of text.split('\n')) {
    // % time  seconds  usecs/call  calls  errors  syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[2] !== 'total') rows.push({ calls: Number(m[1]), name: m[2]! });
  }
  return rows.sort((a, b) => b.calls - a.calls);
}

async function main(): Promise<void> {
  // piping into `head` must not kill us before the scratch directory is removed
  process.stdout.on('error', () => undefined);
  const argv = process.argv.slice(2);
  const seconds = Number(argv[argv.indexOf('--seconds') + 1] ?? 10) || 10;
  const keepIdx = argv.indexOf('--keep');
  const keep = keepIdx >= 0 ? path.resolve(argv[keepIdx + 1] ?? 'profile-out') : null;
  const scratch = makeScratchDir();
  const sizeBytes = 512 * MiB;
  const outDir = keep ?? path.join(scratch, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  const profDir = (n: NodeName): string => path.join(outDir, `cpuprof-${n}`);
  try {
    // run 0: CPU per request of every process, Tandem C against nbdkit, no profiler attached
    const template = path.join(scratch, 'template.img');
    writeTemplate(template, sizeBytes);
    const nbdFile = path.join(scratch, 'nbdkit.img');
    await copyFile(template, nbdFile);
    const nbdkit = await NbdkitServer.start(nbdFile, path.join(scratch, 'nbdkit.sock'));
    try {
      await evictPageCache([nbdFile]);
      const n = await cpuPerRequest(nbdkit.uri, { nbdkit: nbdkit.pid! }, sizeBytes, seconds);
      process.stdout.write(`nbdkit: ${n.iops.toFixed(0)} IOPS; CPU us/request: ${Object.entries(n.perReq).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; machine idle ${n.idlePct.toFixed(0)} %\n`);
    } finally {
      await nbdkit.stop();
    }
    const pair0 = await TandemPair.create({ dir: path.join(scratch, 'pair0'), protocol: 'C', rate: '4000M', backingBytes: sizeBytes + MiB, node1Template: template });
    try {
      await pair0.upAndConnect();
      await pair0.forcePrimaryAndSync();
      await evictPageCache([pair0.node1.disk, pair0.node2.disk]);
      const t = await cpuPerRequest(pair0.node1.nbdUri, { node1: pair0.node1.pid, node2: pair0.node2.pid }, sizeBytes, seconds);
      process.stdout.write(`tandem C: ${t.iops.toFixed(0)} IOPS; CPU us/request: ${Object.entries(t.perReq).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; machine idle ${t.idlePct.toFixed(0)} %\n`);
    } finally {
      await pair0.destroy();
    }

    if (argv.includes('--cpu-only')) return;
    // run 1: CPU profile
    const pair = await TandemPair.create({
      dir: path.join(scratch, 'pair'), protocol: 'C', rate: '4000M', backingBytes: sizeBytes + MiB,
      nodeArgs: { node1: ['--cpu-prof', `--cpu-prof-dir=${profDir('node1')}`], node2: ['--cpu-prof', `--cpu-prof-dir=${profDir('node2')}`] },
    });
    try {
      await pair.upAndConnect();
      await pair.forcePrimaryAndSync();
      await evictPageCache([pair.node1.disk, pair.node2.disk]);
      process.stdout.write(`cpu profile: fio randwrite 4k qd32 for ${seconds} s\n`);
      const r = await runFio({ rw: 'randwrite', bs: '4k', iodepth: 32, sizeBytes, runtimeSec: seconds, rampSec: 0 }, { kind: 'nbd', uri: pair.node1.nbdUri });
      process.stdout.write(`  ${r.iops.toFixed(0)} IOPS under --cpu-prof\n`);
    } finally {
      await pair.destroy();
    }
    for (const n of ['node1', 'node2'] as NodeName[]) {
      const files = fs.existsSync(profDir(n)) ? fs.readdirSync(profDir(n)).filter((f) => f.endsWith('.cpuprofile')) : [];
      if (files.length === 0) {
        process.stdout.write(`${n}: no .cpuprofile written\n`);
        continue;
      }
      const prof = JSON.parse(fs.readFileSync(path.join(profDir(n), files[0]!), 'utf8')) as CpuProfile;
      process.stdout.write(`\n${n} (${n === 'node1' ? 'Primary: NBD + send' : 'Secondary: apply + ack'}) main thread, top functions by self time, % of busy samples (includes setup and resync):\n`);
      for (const t of topFunctions(prof, 25)) process.stdout.write(`  ${t.selfPct.toFixed(1).padStart(5)} %  ${t.fn}\n`);
    }

    // run 2: syscalls
    const pair2 = await TandemPair.create({ dir: path.join(scratch, 'pair2'), protocol: 'C', rate: '4000M', backingBytes: sizeBytes + MiB });
    try {
      await pair2.upAndConnect();
      await pair2.forcePrimaryAndSync();
      const straces = pair2.nodes.map((n) => {
        const file = path.join(outDir, `strace-${n.name}.txt`);
        return { n, file, proc: startTracked('strace', ['-c', '-f', '-o', file, '-p', String(n.pid)]) };
      });
      await new Promise((r) => setTimeout(r, 500));
      process.stdout.write(`\nstrace -c -f: fio randwrite 4k qd32 for ${seconds} s\n`);
      const r = await runFio({ rw: 'randwrite', bs: '4k', iodepth: 32, sizeBytes, runtimeSec: seconds, rampSec: 0 }, { kind: 'nbd', uri: pair2.node1.nbdUri });
      process.stdout.write(`  ${r.ios} requests (${r.iops.toFixed(0)} IOPS under strace)\n`);
      for (const s of straces) {
        s.proc.kill('SIGINT');
        await stopProcess(s.proc, 5000);
        const rows = parseStraceSummary(fs.existsSync(s.file) ? fs.readFileSync(s.file, 'utf8') : '');
        const total = rows.reduce((a, b) => a + b.calls, 0);
        process.stdout.write(`\n${s.n.name}: ${(total / r.ios).toFixed(2)} syscalls per request\n`);
        for (const row of rows.slice(0, 12)) process.stdout.write(`  ${(row.calls / r.ios).toFixed(3).padStart(8)}  ${row.name}\n`);
      }
    } finally {
      await pair2.destroy();
    }
  } finally {
    killAllTracked();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`profile: ${err.stack ?? err.message}\n`);
    killAllTracked();
    process.exit(1);
  },
);
