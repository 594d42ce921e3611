// fio jobs and their results. One job description is turned into the same fio command line for
// every contender; only the target (NBD URI or a plain file with psync/libaio) differs.
import { runOk } from './proc.js';

export type FioTarget =
  | { kind: 'nbd'; uri: string }
  | { kind: 'file'; path: string; engine: 'psync' | 'libaio'; direct?: boolean };

export interface FioJob {
  rw: 'randwrite' | 'randread' | 'write' | 'read';
  bs: string;
  iodepth: number;
  /** bytes of the device/file the job covers */
  sizeBytes: number;
  runtimeSec: number;
  rampSec: number;
  /** stop after this many bytes (e.g. dirtying 10 % of the blocks) instead of a time */
  ioSizeBytes?: number;
  /** more fio options, e.g. --fsync=1 */
  extra?: string[];
}

export interface FioResult {
  iops: number;
  bwMiBs: number;
  /** total latency percentiles (submission to completion) in microseconds */
  latP50Us: number;
  latP99Us: number;
  ios: number;
}

export function fioArgs(job: FioJob, target: FioTarget): string[] {
  const a = [
    '--name=bench', `--rw=${job.rw}`, `--bs=${job.bs}`, `--iodepth=${job.iodepth}`,
    `--size=${job.sizeBytes}`, '--output-format=json', '--group_reporting',
    // lat_percentiles: percentiles of the total latency (submission + completion); with the nbd
    // engine clat alone leaves out the time spent sending the request
    '--randrepeat=0', '--percentile_list=50:99', '--lat_percentiles=1',
  ];
  if (job.ioSizeBytes !== undefined) a.push(`--io_size=${job.ioSizeBytes}`);
  else a.push('--time_based', `--runtime=${job.runtimeSec}`, `--ramp_time=${job.rampSec}`);
  if (job.extra) a.push(...job.extra);
  if (target.kind === 'nbd') {
    a.push('--ioengine=nbd', `--uri=${target.uri}`);
  } else {
    // invalidate=0: fio would otherwise drop the file's page cache before each job, while the
    // NBD servers read and write the same kind of file through a warm cache.
    a.push(`--ioengine=${target.engine}`, `--filename=${target.path}`, '--invalidate=0');
    // libaio is only asynchronous with O_DIRECT; a depth-1 psync job goes through the page cache
    // like the NBD servers do (nbdkit's file plugin and tandemd use buffered pwrite).
    if (target.engine === 'libaio' || target.direct) a.push('--direct=1');
  }
  return a;
}

/** fio prints notices before its JSON: parse from the first `{`. */
export function parseFioJson(out: string): FioResult {
  const start = out.indexOf('{');
  if (start < 0) throw new Error(`fio printed no JSON: ${out.slice(0, 500)}`);
  const doc = JSON.parse(out.slice(start)) as { jobs?: FioJobJson[] };
  const job = doc.jobs?.[0];
  if (!job) throw new Error('fio JSON has no jobs');
  const side = job.write.io_bytes >= job.read.io_bytes ? job.write : job.read;
  if (job.error) throw new Error(`fio job failed with error ${job.error}`);
  const pct = side.lat_ns?.percentile ?? side.clat_ns?.percentile ?? {};
  const p = (k: string): number => (pct[k] ?? 0) / 1000;
  return {
    iops: side.iops,
    bwMiBs: side.bw_bytes / (1024 * 1024),
    latP50Us: p('50.000000'),
    latP99Us: p('99.000000'),
    ios: side.total_ios,
  };
}

interface FioSideJson {
  io_bytes: number;
  bw_bytes: number;
  iops: number;
  total_ios: number;
  clat_ns?: { percentile?: Record<string, number> };
  lat_ns?: { percentile?: Record<string, number> };
}

interface FioJobJson {
  error: number;
  read: FioSideJson;
  write: FioSideJson;
}

export async function runFio(job: FioJob, target: FioTarget): Promise<FioResult> {
  const timeoutMs = (job.runtimeSec + job.rampSec + 60) * 1000;
  return parseFioJson(await runOk('fio', fioArgs(job, target), { timeoutMs }));
}
