// The outcome of a run: per round, per fault kind and in total, as text, Markdown and JSON.
import type { FaultKind } from './schedule.js';

export type NodeName = 'node1' | 'node2';

export interface RoundResult {
  round: number;
  fault: FaultKind;
  primaryBefore: NodeName;
  primaryAfter: NodeName;
  /** writes acknowledged during this round */
  acked: number;
  /** block reads compared against an acknowledged version (after the fault and after healing) */
  checked: number;
  lost: number;
  torn: number;
  anomalies: number;
  /** reads that returned a sent-but-unacknowledged (later) version: allowed */
  unackedVisible: number;
  /** the survivor needed `primary --force` */
  forced: boolean;
  /** healing met a split brain and resolved it with connect --discard-my-data on the dead node */
  splitBrain: boolean;
  /** data areas of both backing disks byte-identical after healing */
  disksIdentical: boolean;
  /** the fault was skipped (e.g. netem without kernel support) and replaced by this note */
  skipped?: string;
  /** the round could not complete (a timeout, a refused command) */
  error?: string;
  /** the first few losses, for the report */
  lostExamples: string[];
  durationMs: number;
}

export interface KindTotals {
  rounds: number;
  skipped: number;
  acked: number;
  checked: number;
  lost: number;
  torn: number;
  forced: number;
  splitBrains: number;
  disksDiffer: number;
  errors: number;
}

export interface RunSummary {
  mode: 'loopback' | 'lab';
  seed: number;
  rounds: number;
  ok: boolean;
  faultsInjected: Partial<Record<FaultKind, number>>;
  ackedWrites: number;
  checked: number;
  lost: number;
  torn: number;
  anomalies: number;
  unackedVisible: number;
  forcedPromotions: number;
  splitBrains: number;
  disksDiffer: number;
  errors: number;
  byKind: Partial<Record<FaultKind, KindTotals>>;
  results: RoundResult[];
  durationMs: number;
  notes: string[];
}

export function summarize(mode: RunSummary['mode'], seed: number, results: RoundResult[], durationMs: number, notes: string[] = []): RunSummary {
  const byKind: Partial<Record<FaultKind, KindTotals>> = {};
  const faultsInjected: Partial<Record<FaultKind, number>> = {};
  for (const r of results) {
    const k = (byKind[r.fault] ??= { rounds: 0, skipped: 0, acked: 0, checked: 0, lost: 0, torn: 0, forced: 0, splitBrains: 0, disksDiffer: 0, errors: 0 });
    k.rounds++;
    if (r.skipped) k.skipped++;
    else faultsInjected[r.fault] = (faultsInjected[r.fault] ?? 0) + 1;
    k.acked += r.acked;
    k.checked += r.checked;
    k.lost += r.lost;
    k.torn += r.torn;
    if (r.forced) k.forced++;
    if (r.splitBrain) k.splitBrains++;
    if (!r.disksIdentical) k.disksDiffer++;
    if (r.error) k.errors++;
  }
  const sum = (f: (r: RoundResult) => number): number => results.reduce((a, r) => a + f(r), 0);
  const s: Omit<RunSummary, 'ok'> = {
    mode,
    seed,
    rounds: results.length,
    faultsInjected,
    ackedWrites: sum((r) => r.acked),
    checked: sum((r) => r.checked),
    lost: sum((r) => r.lost),
    torn: sum((r) => r.torn),
    anomalies: sum((r) => r.anomalies),
    unackedVisible: sum((r) => r.unackedVisible),
    forcedPromotions: sum((r) => (r.forced ? 1 : 0)),
    splitBrains: sum((r) => (r.splitBrain ? 1 : 0)),
    disksDiffer: sum((r) => (r.disksIdentical ? 0 : 1)),
    errors: sum((r) => (r.error ? 1 : 0)),
    byKind,
    results,
    durationMs,
    notes,
  };
  return { ...s, ok: s.lost === 0 && s.anomalies === 0 && s.disksDiffer === 0 && s.errors === 0 && s.rounds > 0 };
}

const FAULT_TEXT: Record<FaultKind, string> = {
  'kill-primary': 'kill -9 Primary, promote Secondary',
  'kill-secondary': 'kill -9 Secondary',
  'hang-primary': 'SIGSTOP Primary past ping-timeout, SIGCONT',
  'hang-secondary': 'SIGSTOP Secondary past ping-timeout, SIGCONT',
  'restart-secondary': 'SIGTERM Secondary under load, restart',
  'switch-roles': 'planned role switch',
  'crash-both': 'Secondary hangs, Primary then Secondary kill -9; promote Secondary',
  'cable-primary': "pull the Primary's cable, plug back",
  'cable-secondary': "pull the Secondary's cable, plug back",
  netem: 'tc netem delay + loss on the link',
  'device-kill-primary': "O_DIRECT writes through the Primary's /dev/tandem0, kill -9 Primary, promote Secondary",
  'device-crash-both': "O_DIRECT writes through the Primary's /dev/tandem0; Secondary hangs, both kill -9; promote Secondary",
};

/** The table for the README: what was tried, how often, what was lost. */
export function markdownTable(s: RunSummary): string {
  const lines = [
    `| fault (${s.mode}, seed ${s.seed}) | rounds | acked writes | checked reads | lost | forced promotions | split brains healed | disks differ |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [kind, t] of Object.entries(s.byKind) as Array<[FaultKind, KindTotals]>) {
    const skipped = t.skipped > 0 ? ` (${t.skipped} skipped)` : '';
    lines.push(`| ${kind}: ${FAULT_TEXT[kind]} | ${t.rounds}${skipped} | ${t.acked} | ${t.checked} | ${t.lost} | ${t.forced} | ${t.splitBrains} | ${t.disksDiffer} |`);
  }
  lines.push(`| **total** | **${s.rounds}** | **${s.ackedWrites}** | **${s.checked}** | **${s.lost}** | **${s.forcedPromotions}** | **${s.splitBrains}** | **${s.disksDiffer}** |`);
  return lines.join('\n');
}

export function textReport(s: RunSummary): string {
  const kinds = Object.entries(s.faultsInjected).map(([k, n]) => `${k}=${n}`).join(' ');
  const out = [
    `rounds: ${s.rounds}  (mode ${s.mode}, seed ${s.seed}, ${(s.durationMs / 1000).toFixed(1)} s)`,
    `faults injected: ${kinds || 'none'}`,
    `acknowledged writes: ${s.ackedWrites}  checked reads: ${s.checked}  unacked-but-visible: ${s.unackedVisible}  torn (unacked): ${s.torn}`,
    `forced promotions: ${s.forcedPromotions}  split brains healed: ${s.splitBrains}  disks differ after heal: ${s.disksDiffer}  round errors: ${s.errors}  anomalies: ${s.anomalies}`,
    `lost: ${s.lost}`,
    '',
    markdownTable(s),
  ];
  for (const r of s.results) {
    if (r.lost > 0 || r.error || !r.disksIdentical || r.anomalies > 0) {
      out.push('', `round ${r.round} (${r.fault}): lost ${r.lost}, anomalies ${r.anomalies}, disks identical ${r.disksIdentical}${r.error ? `, error: ${r.error}` : ''}`);
      for (const e of r.lostExamples) out.push(`  ${e}`);
    }
  }
  for (const n of s.notes) out.push(`note: ${n}`);
  out.push('', s.ok ? 'PASS: no acknowledged write lost' : 'FAIL');
  return out.join('\n');
}
