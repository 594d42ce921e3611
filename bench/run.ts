// `npm run bench [-- --quick] [-- --only device,fio,full,bitmap,rate,memory]`: Tandem's kernel
// block device (root) against nbdkit through the same plumbing and a loop device on a file, then
// Tandem (protocol C and A) against nbdkit's file plugin and the raw backing file over NBD, in one
// run; prints progress and a table and writes bench/results.json. Everything it starts is stopped by PID and its scratch directory
// is removed, also on an error or Ctrl-C.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIO_CASES, runFioSuite, type ContenderId } from './fio-suite.js';
import type { FioTarget } from './lib/fio.js';
import { NbdkitServer } from './lib/nbdkit.js';
import { REPO_ROOT } from './lib/paths.js';
import { killAllTracked, run } from './lib/proc.js';
import { copyFile, makeScratchDir, timedCopy, writeTemplate } from './lib/scratch.js';
import { GiB, MiB } from './lib/stats.js';
import { TandemPair } from './lib/tandem-pair.js';
import { buildResults, renderTable, type Measured } from './report.js';
import { bitmapResync, fullResyncByInvalidate, identicalResync, memoryAt1TiB, rateLimitAccuracy, type BitmapResyncResult } from './resync-suite.js';
import { deviceJson, deviceSuiteUnavailable, renderDeviceTable, runDeviceSuite, type DeviceResult } from './device-suite.js';

type Part = 'device' | 'fio' | 'full' | 'bitmap' | 'csums' | 'rate' | 'memory';
const ALL_PARTS: Part[] = ['device', 'fio', 'full', 'bitmap', 'csums', 'rate', 'memory'];

interface Options {
  quick: boolean;
  /** --reps N: repetitions of every fio case (default 3, 1 with --quick) */
  reps: number | null;
  parts: Set<Part>;
  out: string;
}

function parseArgs(argv: string[]): Options {
  let quick = false;
  let reps: number | null = null;
  let parts = new Set<Part>(ALL_PARTS);
  let out = path.join(REPO_ROOT, 'bench', 'results.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only') {
      const list = (argv[++i] ?? '').split(',').filter(Boolean);
      const bad = list.filter((p) => !ALL_PARTS.includes(p as Part));
      if (bad.length > 0 || list.length === 0) throw new Error(`--only takes a comma list of ${ALL_PARTS.join(', ')}; got '${list.join(',')}'`);
      parts = new Set(list as Part[]);
    } else if (a === '--out') out = path.resolve(argv[++i] ?? '');
    else if (a === '--reps') {
      reps = Number(argv[++i]);
      if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw new Error(`--reps takes a whole number 1..20; got '${argv[i] ?? ''}'`);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/bench/run.js [--quick] [--reps N] [--only device,fio,full,bitmap,rate,memory] [--out results.json]\n');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (try --help)`);
  }
  return { quick, reps, parts, out };
}

const t0 = performance.now();
function progress(line: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[${s}s] ${line}\n`);
}

async function version(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args).catch(() => null);
  return r ? (r.stdout + r.stderr).split('\n')[0]!.trim() : 'not installed';
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const q = opts.quick;
  const cfg = {
    sizeBytes: q ? 512 * MiB : GiB,
    runtimeSec: q ? 3 : 10,
    rampSec: q ? 1 : 2,
    reps: opts.reps ?? (q ? 1 : 3),
    rateBytes: q ? 100 * MiB : 200 * MiB,
    memorySampleSec: q ? 3 : 6,
  };
  const scratch = makeScratchDir();
  const cleanup: (() => Promise<void>)[] = [];
  let cleaned = false;
  const cleanAll = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    for (const f of cleanup.reverse()) await f().catch((err: Error) => progress(`cleanup: ${err.message}`));
    killAllTracked();
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    progress(`${sig}: cleaning up`);
    // devices and mounts first (they need their servers), then every process, then the files
    void (async () => {
      for (const f of deviceCleanup.splice(0).reverse()) await f().catch(() => undefined);
      killAllTracked();
      fs.rmSync(scratch, { recursive: true, force: true });
      process.exit(130);
    })();
  };
  const deviceCleanup: (() => Promise<void>)[] = [];
  process.stdout.on('error', () => undefined);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  progress(`scratch ${scratch}; ${q ? 'quick' : 'full'} run: ${cfg.sizeBytes / MiB} MiB disks, ${cfg.runtimeSec}s x ${cfg.reps} per fio case`);
  const measured: Measured = { fio: {} as Measured['fio'], fullResync: { bytes: 0, tandemMs: [], copyMiBs: [], copyNoSyncMiBs: [] }, bitmap: null, identical: [], rate: null, memory: null };
  let device: DeviceResult | null = null;
  let deviceSkipped: string | null = null;
  try {
    if (opts.parts.has('device')) {
      deviceSkipped = await deviceSuiteUnavailable();
      if (deviceSkipped) progress(`[device] skipped: ${deviceSkipped}`);
      else {
        device = await runDeviceSuite({
          scratch: path.join(scratch, 'device'), sizeBytes: q ? 512 * MiB : GiB, runtimeSec: q ? 3 : 8, rampSec: 1, reps: cfg.reps,
          // --quick: the three contenders of the targets only
          withoutNbdfusePair: q, progress, onCleanup: (f) => deviceCleanup.push(f),
        });
        deviceCleanup.length = 0;
      }
    }
    const needPairs = opts.parts.has('fio') || opts.parts.has('full') || opts.parts.has('bitmap');
    const template = path.join(scratch, 'template.img');
    if (needPairs || opts.parts.has('csums')) {
      progress(`writing a ${cfg.sizeBytes / MiB} MiB data template`);
      writeTemplate(template, cfg.sizeBytes);
    }
    const pairs: Partial<Record<'C' | 'A', TandemPair>> = {};
    if (needPairs) {
      const protocols: ('C' | 'A')[] = opts.parts.has('fio') ? ['C', 'A'] : ['C'];
      for (const p of protocols) {
        const pair = await TandemPair.create({ dir: path.join(scratch, `pair-${p}`), protocol: p, rate: '4000M', backingBytes: cfg.sizeBytes + MiB, node1Template: template });
        cleanup.push(() => pair.destroy());
        pairs[p] = pair;
        progress(`[resync_full] protocol ${p} pair: up, primary --force, wait-sync`);
        await pair.upAndConnect();
        const usable = await pair.node1.sizeBytes();
        if (usable < cfg.sizeBytes) throw new Error(`usable size ${usable} is smaller than the benchmark size ${cfg.sizeBytes}`);
        const ms = await pair.forcePrimaryAndSync();
        measured.fullResync.bytes = usable;
        measured.fullResync.tandemMs.push(ms);
        progress(`    ${(usable / MiB).toFixed(0)} MiB in ${(ms / 1000).toFixed(2)} s = ${(usable / MiB / (ms / 1000)).toFixed(1)} MiB/s`);
      }
    }

    if (opts.parts.has('fio')) {
      const nbdkitFile = path.join(scratch, 'nbdkit.img');
      const rawFile = path.join(scratch, 'raw.img');
      // O_DIRECT writes drop a file's cached pages, so the direct contender gets its own file
      const rawDirectFile = path.join(scratch, 'raw-direct.img');
      await copyFile(template, nbdkitFile);
      await copyFile(template, rawFile);
      await copyFile(template, rawDirectFile);
      const nbdkit = await NbdkitServer.start(nbdkitFile, path.join(scratch, 'nbdkit.sock'));
      cleanup.push(() => nbdkit.stop());
      const targets: Partial<Record<ContenderId, FioTarget>> = {
        tandem_c: { kind: 'nbd', uri: pairs.C!.node1.nbdUri },
        tandem_a: { kind: 'nbd', uri: pairs.A!.node1.nbdUri },
        nbdkit: { kind: 'nbd', uri: nbdkit.uri },
        raw: { kind: 'file', path: rawFile, engine: 'psync' },
        raw_direct: { kind: 'file', path: rawDirectFile, engine: 'libaio' },
      };
      progress(`fio cases: ${FIO_CASES.map((c) => c.id).join(', ')}`);
      const cacheFiles = [nbdkitFile, rawFile, rawDirectFile, ...(['C', 'A'] as const).flatMap((p) => [pairs[p]!.node1.disk, pairs[p]!.node2.disk])];
      measured.fio = await runFioSuite({ sizeBytes: cfg.sizeBytes, runtimeSec: cfg.runtimeSec, rampSec: cfg.rampSec, reps: cfg.reps, targets, cacheFiles, progress });
      await nbdkit.stop();
      // the A pair has done its job; free its CPU and page cache for the rest
      await pairs.A!.destroy();
    }

    if (opts.parts.has('full') && pairs.C) {
      for (let i = 2; i <= cfg.reps; i++) {
        progress(`[resync_full] invalidate-remote on the C pair, rep ${i}/${cfg.reps}`);
        const ms = await fullResyncByInvalidate(pairs.C, 600_000);
        measured.fullResync.tandemMs.push(ms);
        progress(`    ${(measured.fullResync.bytes / MiB / (ms / 1000)).toFixed(1)} MiB/s`);
      }
      for (let i = 1; i <= measured.fullResync.tandemMs.length; i++) {
        progress(`[resync_full] plain copy (dd, fdatasync) rep ${i}/${measured.fullResync.tandemMs.length}`);
        measured.fullResync.copyMiBs.push(await timedCopy(template, path.join(scratch, 'copy.img'), cfg.sizeBytes, true));
        measured.fullResync.copyNoSyncMiBs.push(await timedCopy(template, path.join(scratch, 'copy.img'), cfg.sizeBytes, false));
        progress(`    ${measured.fullResync.copyMiBs.at(-1)!.toFixed(1)} MiB/s (without fdatasync ${measured.fullResync.copyNoSyncMiBs.at(-1)!.toFixed(1)})`);
      }
    }

    if (opts.parts.has('bitmap') && pairs.C) {
      const runs: BitmapResyncResult[] = [];
      const copyMiBs: number[] = [];
      for (let i = 1; i <= cfg.reps; i++) {
        progress(`[resync_bitmap10] disconnect, dirty 10 % of 4 KiB blocks, reconnect: rep ${i}/${cfg.reps}`);
        const r = await bitmapResync(pairs.C, cfg.sizeBytes, 0.1, 600_000);
        runs.push(r);
        progress(`    ${(r.dirtyBytes / MiB).toFixed(1)} MiB dirty, in sync after ${(r.totalMs / 1000).toFixed(2)} s (sync phase ${(r.syncMs / 1000).toFixed(2)} s)`);
        copyMiBs.push(await timedCopy(template, path.join(scratch, 'copy.img'), r.dirtyBytes, true));
        progress(`    plain copy of the same bytes: ${copyMiBs.at(-1)!.toFixed(1)} MiB/s`);
      }
      measured.bitmap = { runs, copyMiBs };
    }
    for (const f of cleanup.splice(0).reverse()) await f();

    if (opts.parts.has('csums')) {
      for (const alg of [null, 'crc32c', 'md5']) {
        const r = await identicalResync(path.join(scratch, `pair-csums-${alg ?? 'none'}`), template, cfg.sizeBytes, alg, progress);
        measured.identical.push(r);
        progress(`    ${(r.sentBytes / MiB).toFixed(1)} MiB sent for ${(r.bytes / MiB).toFixed(0)} MiB in sync, ${(r.ms / 1000).toFixed(2)} s`);
      }
    }

    if (opts.parts.has('rate')) {
      measured.rate = await rateLimitAccuracy(path.join(scratch, 'pair-rate'), '20M', cfg.rateBytes, progress);
      progress(`    ${(measured.rate.achievedBytesPerSec / MiB).toFixed(2)} MiB/s achieved (steady ${(measured.rate.steadyBytesPerSec / MiB).toFixed(2)}) for ${(measured.rate.configuredBytesPerSec / MiB).toFixed(1)} configured`);
    }
    if (opts.parts.has('memory')) {
      measured.memory = await memoryAt1TiB(path.join(scratch, 'pair-1t'), cfg.memorySampleSec, progress);
      const m = measured.memory;
      progress(`    idle ${(m.idleNode1 / MiB).toFixed(1)}/${(m.idleNode2 / MiB).toFixed(1)} MiB, resync ${(m.resyncNode1 / MiB).toFixed(1)}/${(m.resyncNode2 / MiB).toFixed(1)} MiB (${(m.resyncedBytes / MiB).toFixed(0)} MiB resynced)`);
    }

    const meta = {
      quick: q, reps: cfg.reps, sizeBytes: cfg.sizeBytes, runtimeSec: cfg.runtimeSec,
      fio: await version('fio', ['--version']), nbdkit: await version('nbdkit', ['--version']),
      node: process.version, cpus: os.cpus().length, startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
      elapsedSec: Math.round((performance.now() - t0) / 1000),
    };
    if (!opts.parts.has('fio')) measured.fio = { randwrite4k_qd1: {}, randwrite4k_qd32: {}, seqwrite1m: {}, randread4k_qd32: {} };
    const built = buildResults(measured, meta);
    const { targets } = built;
    if (!opts.parts.has('full')) delete built.json.resync_full;
    // the device rows first: they are what a user mounting /dev/tandem0 sees
    const json = device ? { meta: built.json.meta, device: deviceJson(device, cfg.reps), ...built.json } : deviceSkipped ? { meta: built.json.meta, device: { skipped: deviceSkipped }, ...built.json } : built.json;
    fs.writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
    if (device) process.stdout.write('\n' + renderDeviceTable(json.device as Record<string, unknown>) + '\n');
    if ([...opts.parts].some((p) => p !== 'device')) process.stdout.write('\n' + renderTable(json, targets) + '\n\n');
    progress(`wrote ${opts.out}`);
  } finally {
    await cleanAll();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    killAllTracked();
    process.exit(1);
  },
);
