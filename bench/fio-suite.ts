// The fio cases, run against every contender in the same run. Repetitions are interleaved (rep 1
// of every case on every contender, then rep 2, …) so a noisy minute on the shared machine hits
// all contenders rather than one.
import { medianResult, runFio, type FioJob, type FioResult, type FioTarget } from './lib/fio.js';
import { evictPageCache, warmPageCache } from './lib/scratch.js';
import { median } from './lib/stats.js';

export type ContenderId = 'tandem_c' | 'tandem_a' | 'nbdkit' | 'raw' | 'raw_direct';
export type CaseId = 'randwrite4k_qd1' | 'randwrite4k_qd32' | 'seqwrite1m' | 'randread4k_qd32';

export interface FioCase {
  id: CaseId;
  title: string;
  job: Omit<FioJob, 'sizeBytes' | 'runtimeSec' | 'rampSec'>;
  contenders: ContenderId[];
  /**
   * Page-cache state every contender starts the case from: 'cold' writes back and drops all
   * backing files' pages (evictPageCache), 'warm' reads them all into the cache (warmPageCache),
   * so no contender inherits a cheaper or dearer state from the cases before.
   */
  cache: 'cold' | 'warm';
}

export const FIO_CASES: FioCase[] = [
  { id: 'randwrite4k_qd1', cache: 'cold', title: '4 KiB random write, depth 1', job: { rw: 'randwrite', bs: '4k', iodepth: 1 }, contenders: ['tandem_c', 'tandem_a', 'nbdkit', 'raw'] },
  { id: 'randwrite4k_qd32', cache: 'cold', title: '4 KiB random write, depth 32', job: { rw: 'randwrite', bs: '4k', iodepth: 32 }, contenders: ['tandem_c', 'tandem_a', 'nbdkit', 'raw', 'raw_direct'] },
  { id: 'seqwrite1m', cache: 'cold', title: '1 MiB sequential write, depth 8', job: { rw: 'write', bs: '1m', iodepth: 8 }, contenders: ['tandem_c', 'tandem_a', 'nbdkit', 'raw', 'raw_direct'] },
  { id: 'randread4k_qd32', cache: 'warm', title: '4 KiB random read, depth 32', job: { rw: 'randread', bs: '4k', iodepth: 32 }, contenders: ['tandem_c', 'nbdkit', 'raw', 'raw_direct'] },
];

export interface FioSuiteOptions {
  sizeBytes: number;
  runtimeSec: number;
  rampSec: number;
  reps: number;
  /** fio target of each contender that is set up */
  targets: Partial<Record<ContenderId, FioTarget>>;
  /** every backing file of every contender (both nodes of each pair included) */
  cacheFiles: string[];
  progress: (line: string) => void;
}

/** per case, per contender: the median over repetitions of each figure, plus the raw samples */
export type FioSuiteResult = Record<CaseId, Partial<Record<ContenderId, { median: FioResult; samples: FioResult[] }>>>;

export async function runFioSuite(o: FioSuiteOptions): Promise<FioSuiteResult> {
  const samples = new Map<string, FioResult[]>();
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const c of FIO_CASES) {
      for (const who of c.contenders) {
        const target = o.targets[who];
        if (!target) continue;
        o.progress(`[${c.id}] ${who} rep ${rep}/${o.reps}`);
        if (c.cache === 'cold') await evictPageCache(o.cacheFiles);
        else await warmPageCache(o.cacheFiles);
        const r = await runFio({ ...c.job, sizeBytes: o.sizeBytes, runtimeSec: o.runtimeSec, rampSec: o.rampSec }, target);
        o.progress(`    iops ${r.iops.toFixed(0)}  ${r.bwMiBs.toFixed(1)} MiB/s  p50 ${r.latP50Us.toFixed(0)} us  p99 ${r.latP99Us.toFixed(0)} us`);
        const key = `${c.id}/${who}`;
        samples.set(key, [...(samples.get(key) ?? []), r]);
      }
    }
  }
  const out = {} as FioSuiteResult;
  for (const c of FIO_CASES) {
    out[c.id] = {};
    for (const who of c.contenders) {
      const s = samples.get(`${c.id}/${who}`);
      if (!s) continue;
      out[c.id][who] = {
        samples: s,
        median: medianResult(s),
      };
    }
  }
  return out;
}
