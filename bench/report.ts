// results.json (stable keys) and the printed table, from the measured figures.
import type { FioSuiteResult, ContenderId } from './fio-suite.js';
import type { BitmapResyncResult, IdenticalResyncResult, MemoryResult, RateLimitResult } from './resync-suite.js';
import { median, MiB } from './lib/stats.js';

export interface Measured {
  fio: FioSuiteResult;
  fullResync: { bytes: number; tandemMs: number[]; copyMiBs: number[]; copyNoSyncMiBs: number[] };
  bitmap: { runs: BitmapResyncResult[]; copyMiBs: number[] } | null;
  /** full resyncs of identical contents, without and with csums-alg */
  identical: IdenticalResyncResult[];
  rate: RateLimitResult | null;
  memory: MemoryResult | null;
}

export interface Meta {
  quick: boolean;
  reps: number;
  sizeBytes: number;
  runtimeSec: number;
  fio: string;
  nbdkit: string;
  node: string;
  cpus: number;
  startedAt: string;
  elapsedSec: number;
}

type Json = Record<string, unknown>;
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export interface Target {
  key: string;
  description: string;
  measured: number;
  limit: number;
  kind: 'min' | 'max' | 'band';
  met: boolean;
}

export function buildResults(m: Measured, meta: Meta): { json: Json; targets: Target[] } {
  const json: Json = { meta };
  const fioCase = (id: keyof FioSuiteResult, metric: (c: ContenderId) => Json): Json => {
    const out: Json = {};
    for (const who of Object.keys(m.fio[id]) as ContenderId[]) out[who] = metric(who);
    return out;
  };
  const med = (id: keyof FioSuiteResult, who: ContenderId) => m.fio[id][who]?.median;

  const qd1 = fioCase('randwrite4k_qd1', (w) => ({ iops: Math.round(med('randwrite4k_qd1', w)!.iops), p50_us: r1(med('randwrite4k_qd1', w)!.latP50Us), p99_us: r1(med('randwrite4k_qd1', w)!.latP99Us) }));
  const c1 = med('randwrite4k_qd1', 'tandem_c');
  const n1 = med('randwrite4k_qd1', 'nbdkit');
  if (c1 && n1) {
    qd1.p50_added_us_vs_nbdkit = r1(c1.latP50Us - n1.latP50Us);
    qd1.ratio_vs_nbdkit = r3(c1.iops / n1.iops);
  }
  json.randwrite4k_qd1 = qd1;

  const iopsCase = (id: keyof FioSuiteResult): Json => {
    const o = fioCase(id, (w) => ({ iops: Math.round(med(id, w)!.iops), mibs: r1(med(id, w)!.bwMiBs) }));
    const c = med(id, 'tandem_c');
    const a = med(id, 'tandem_a');
    const n = med(id, 'nbdkit');
    if (c && n) o.ratio_vs_nbdkit = r3(c.iops / n.iops);
    if (a && n) o.ratio_a_vs_nbdkit = r3(a.iops / n.iops);
    return o;
  };
  json.randwrite4k_qd32 = iopsCase('randwrite4k_qd32');
  json.seqwrite1m = iopsCase('seqwrite1m');
  json.randread4k_qd32 = iopsCase('randread4k_qd32');

  const fr = m.fullResync;
  const tandemMiBs = fr.tandemMs.map((ms) => fr.bytes / MiB / (ms / 1000));
  const full = {
    bytes: fr.bytes,
    tandem_c: { mibs: r1(median(tandemMiBs)), samples_mibs: tandemMiBs.map(r1) },
    copy: { mibs: r1(median(fr.copyMiBs)), samples_mibs: fr.copyMiBs.map(r1), how: 'dd bs=1M conv=fdatasync' },
    copy_nosync: { mibs: r1(median(fr.copyNoSyncMiBs)), how: 'dd bs=1M (page cache only)' },
    ratio_vs_copy: r3(median(tandemMiBs) / median(fr.copyMiBs)),
  };
  json.resync_full = full;

  if (m.bitmap) {
    const b = m.bitmap;
    const bytes = median(b.runs.map((x) => x.dirtyBytes));
    const totalMiBs = b.runs.map((x) => x.dirtyBytes / MiB / (x.totalMs / 1000));
    const syncMiBs = b.runs.map((x) => x.dirtyBytes / MiB / (x.syncMs / 1000));
    json.resync_bitmap10 = {
      dirty_bytes: bytes,
      tandem_c: { mibs: r1(median(totalMiBs)), sync_phase_mibs: r1(median(syncMiBs)), ms: Math.round(median(b.runs.map((x) => x.totalMs))) },
      copy: { mibs: r1(median(b.copyMiBs)), how: 'dd of the same byte count, sequential, conv=fdatasync' },
      ratio_vs_copy: r3(median(totalMiBs) / median(b.copyMiBs)),
    };
  }
  if (m.rate) {
    json.rate_limit = {
      configured_mibs: r1(m.rate.configuredBytesPerSec / MiB),
      achieved_mibs: r1(m.rate.achievedBytesPerSec / MiB),
      steady_mibs: r1(m.rate.steadyBytesPerSec / MiB),
      bytes: m.rate.bytes,
      ratio: r3(m.rate.achievedBytesPerSec / m.rate.configuredBytesPerSec),
    };
  }
  if (m.identical.length > 0) {
    const plain = m.identical.find((r) => r.alg === null);
    json.resync_identical = {
      bytes: m.identical[0]!.bytes,
      ...Object.fromEntries(m.identical.map((r) => [r.alg ? `csums_${r.alg}` : 'plain', {
        sent_mib: r1(r.sentBytes / MiB),
        seconds: r1(r.ms / 1000) ,
        mibs: r1(r.bytes / MiB / (r.ms / 1000)),
        ...(plain && r.alg ? { sent_ratio_vs_plain: r3(r.sentBytes / Math.max(1, plain.sentBytes)) } : {}),
      }])),
    };
  }
  if (m.memory) {
    const x = m.memory;
    json.rss_1tib = {
      idle: { node1_mib: r1(x.idleNode1 / MiB), node2_mib: r1(x.idleNode2 / MiB), max_mib: r1(Math.max(x.idleNode1, x.idleNode2) / MiB) },
      resync: x.resyncError !== undefined
        ? { error: x.resyncError }
        : { node1_mib: r1(x.resyncNode1 / MiB), node2_mib: r1(x.resyncNode2 / MiB), max_mib: r1(Math.max(x.resyncNode1, x.resyncNode2) / MiB), resynced_mib: r1(x.resyncedBytes / MiB) },
    };
  }

  const targets: Target[] = [];
  const t = (key: string, description: string, measured: number | undefined, limit: number, kind: 'min' | 'max'): void => {
    if (measured === undefined || Number.isNaN(measured)) return;
    targets.push({ key, description, measured: r3(measured), limit, kind, met: kind === 'min' ? measured >= limit : measured <= limit });
  };
  const get = (o: unknown, ...path: string[]): number | undefined => {
    let v: unknown = o;
    for (const p of path) v = v && typeof v === 'object' ? (v as Json)[p] : undefined;
    return typeof v === 'number' ? v : undefined;
  };
  t('randwrite4k_qd32.ratio_vs_nbdkit', 'protocol C 4k randwrite qd32 IOPS >= 0.5 x nbdkit', get(json, 'randwrite4k_qd32', 'ratio_vs_nbdkit'), 0.5, 'min');
  t('randwrite4k_qd1.p50_added_us_vs_nbdkit', 'protocol C 4k randwrite qd1 p50 <= nbdkit + 150 us', get(json, 'randwrite4k_qd1', 'p50_added_us_vs_nbdkit'), 150, 'max');
  t('seqwrite1m.ratio_vs_nbdkit', '1 MiB seq write >= 0.7 x nbdkit', get(json, 'seqwrite1m', 'ratio_vs_nbdkit'), 0.7, 'min');
  t('randread4k_qd32.ratio_vs_nbdkit', '4k randread qd32 >= 0.8 x nbdkit', get(json, 'randread4k_qd32', 'ratio_vs_nbdkit'), 0.8, 'min');
  t('resync_full.ratio_vs_copy', 'full resync >= 0.7 x plain copy', get(json, 'resync_full', 'ratio_vs_copy'), 0.7, 'min');
  const rl = get(json, 'rate_limit', 'ratio');
  if (rl !== undefined) targets.push({ key: 'rate_limit.ratio', description: 'achieved/configured resync rate within 1 +- 0.1', measured: rl, limit: 0.1, kind: 'band', met: Math.abs(rl - 1) <= 0.1 });
  t('rss_1tib.idle.max_mib', 'tandemd RSS at 1 TiB, idle, <= 96 MiB', get(json, 'rss_1tib', 'idle', 'max_mib'), 96, 'max');
  const memResync = (json.rss_1tib as Json | undefined)?.resync as Json | undefined;
  if (memResync && typeof memResync.error === 'string') {
    targets.push({ key: 'rss_1tib.resync.max_mib', description: `tandemd RSS at 1 TiB during resync <= 96 MiB (resync failed: ${memResync.error})`, measured: NaN, limit: 96, kind: 'max', met: false });
  } else t('rss_1tib.resync.max_mib', 'tandemd RSS at 1 TiB during resync <= 96 MiB', get(json, 'rss_1tib', 'resync', 'max_mib'), 96, 'max');
  json.targets = Object.fromEntries(targets.map((x) => [x.key, { description: x.description, measured: x.measured, limit: x.limit, met: x.met }]));
  return { json, targets };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function renderTable(json: Json, targets: Target[]): string {
  const lines: string[] = [];
  const row = (cols: string[], widths: number[]): string => cols.map((c, i) => pad(c, widths[i]!)).join('  ');
  const W = [20, 11, 11, 11, 11, 11, 11];
  lines.push(row(['case', 'tandem_c', 'tandem_a', 'nbdkit', 'raw', 'raw_direct', 'C/nbdkit'], W));
  lines.push('-'.repeat(W.reduce((a, b) => a + b + 2, 0)));
  const cell = (c: unknown, f: (o: Json) => string): string => (c && typeof c === 'object' ? f(c as Json) : '-');
  const fioRow = (id: string, label: string, f: (o: Json) => string, ratioKey: string): void => {
    const o = json[id] as Json | undefined;
    if (!o || !o.nbdkit && !o.tandem_c) return;
    const ratio = o[ratioKey];
    lines.push(row([label, cell(o.tandem_c, f), cell(o.tandem_a, f), cell(o.nbdkit, f), cell(o.raw, f), cell(o.raw_direct, f), typeof ratio === 'number' ? String(ratio) : '-'], W));
  };
  fioRow('randwrite4k_qd1', 'rw4k qd1 IOPS', (o) => String(o.iops), 'ratio_vs_nbdkit');
  fioRow('randwrite4k_qd1', 'rw4k qd1 p50 us', (o) => String(o.p50_us), 'p50_added_us_vs_nbdkit');
  fioRow('randwrite4k_qd1', 'rw4k qd1 p99 us', (o) => String(o.p99_us), '-');
  fioRow('randwrite4k_qd32', 'rw4k qd32 IOPS', (o) => String(o.iops), 'ratio_vs_nbdkit');
  fioRow('seqwrite1m', 'seqw 1M MiB/s', (o) => String(o.mibs), 'ratio_vs_nbdkit');
  fioRow('randread4k_qd32', 'rr4k qd32 IOPS', (o) => String(o.iops), 'ratio_vs_nbdkit');
  lines.push('');
  const W2 = [32, 16, 14, 10];
  lines.push(row(['resync / memory', 'tandem', 'baseline', 'ratio'], W2));
  lines.push('-'.repeat(W2.reduce((a, b) => a + b + 2, 0)));
  const full = json.resync_full as Json | undefined;
  if (full) lines.push(row([`full resync MiB/s (${Math.round((full.bytes as number) / MiB)} MiB)`, String((full.tandem_c as Json).mibs), `${(full.copy as Json).mibs} dd+sync`, String(full.ratio_vs_copy)], W2));
  if (full) lines.push(row(['  (copy w/o fdatasync)', '', `${(full.copy_nosync as Json).mibs}`, ''], W2));
  const bm = json.resync_bitmap10 as Json | undefined;
  if (bm) {
    lines.push(row([`bitmap resync 10% MiB/s`, String((bm.tandem_c as Json).mibs), `${(bm.copy as Json).mibs} dd+sync`, String(bm.ratio_vs_copy)], W2));
    lines.push(row(['  (sync phase only)', String((bm.tandem_c as Json).sync_phase_mibs), '', ''], W2));
  }
  const ident = json.resync_identical as Json | undefined;
  if (ident) {
    for (const [k, v] of Object.entries(ident)) {
      if (k === 'bytes') continue;
      const o = v as Json;
      lines.push(row([`identical resync ${k}`, `${o.sent_mib} MiB sent`, `${o.mibs} MiB/s`, o.sent_ratio_vs_plain === undefined ? '' : String(o.sent_ratio_vs_plain)], W2));
    }
  }
  const rl = json.rate_limit as Json | undefined;
  if (rl) lines.push(row(['rate limit MiB/s', `${rl.achieved_mibs} (st ${rl.steady_mibs})`, `${rl.configured_mibs} set`, String(rl.ratio)], W2));
  const mem = json.rss_1tib as Json | undefined;
  if (mem) {
    const i = mem.idle as Json;
    const s = mem.resync as Json;
    lines.push(row(['RSS 1 TiB idle MiB n1/n2', `${i.node1_mib}/${i.node2_mib}`, '96 max', ''], W2));
    lines.push(row(['RSS 1 TiB resync MiB n1/n2', typeof s.error === 'string' ? 'failed' : `${s.node1_mib}/${s.node2_mib}`, '96 max', ''], W2));
    if (typeof s.error === 'string') lines.push(`  resync at 1 TiB failed: ${s.error}`);
  }
  lines.push('');
  lines.push('targets:');
  for (const t of targets) lines.push(`  ${t.met ? 'MET   ' : 'MISSED'} ${t.description}: measured ${t.measured}${t.kind === 'band' ? '' : t.kind === 'min' ? ` (min ${t.limit})` : ` (max ${t.limit})`}`);
  return lines.join('\n');
}
