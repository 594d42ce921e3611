// The torture run: a cluster, the seed's schedule, one round per plan, a summary. Used by main.ts
// (the command line) and in-process by test/integration/torture.test.ts.
import crypto from 'node:crypto';
import type { TortureOptions } from './args.js';
import type { TortureCluster } from './cluster.js';
import { WriteLedger } from './ledger.js';
import { recover, runRound, type RoundContext } from './rounds.js';
import { DEVICE_FAULTS, drawSchedule } from './schedule.js';
import { summarize, type RoundResult, type RunSummary } from './summary.js';

async function makeCluster(o: TortureOptions): Promise<TortureCluster> {
  if (o.mode === 'lab') {
    const { LabCluster } = await import('./lab-cluster.js');
    return LabCluster.create();
  }
  const { LoopbackCluster } = await import('./loopback-cluster.js');
  return LoopbackCluster.create(o.sizeMiB, o.faults.some((f) => (DEVICE_FAULTS as readonly string[]).includes(f)));
}

export async function runTorture(o: TortureOptions, log: (line: string) => void): Promise<{ summary: RunSummary; keptDir: string | null }> {
  const started = Date.now();
  const cluster = await makeCluster(o);
  const notes: string[] = [];
  const results: RoundResult[] = [];
  let keptDir: string | null = null;
  try {
    await cluster.setup();
    const ctx: RoundContext = {
      cluster,
      ledger: new WriteLedger(crypto.randomInt(1, 0xffffffff)),
      blocks: o.blocks,
      depth: o.depth,
      primary: 'node1',
      lostWrites: new Set(),
      log,
    };
    let kinds = o.faults;
    const netemWhy = kinds.includes('netem') && cluster.netem ? await cluster.netem.unsupported() : null;
    if (netemWhy) {
      // detected once, before the schedule is drawn, so that no round is spent on a fault that cannot run
      kinds = kinds.filter((k) => k !== 'netem');
      notes.push(`netem left out of the schedule: ${netemWhy}`);
      if (kinds.length === 0) throw new Error(`no fault kind left to run (${netemWhy})`);
    }
    for (const plan of drawSchedule(o.seed, o.rounds, kinds)) {
      const acksBefore = ctx.ledger.acknowledged;
      const primaryBefore = ctx.primary;
      try {
        const r = await runRound(ctx, plan);
        results.push(r);
        log(`round ${r.round} [${r.fault}] done in ${(r.durationMs / 1000).toFixed(1)} s: ${r.acked} acked, ${r.checked} checked, lost ${r.lost}, disks ${r.disksIdentical ? 'identical' : 'DIFFER'}${r.forced ? ', promotion needed --force' : ''}${r.splitBrain ? ', split brain healed' : ''}`);
      } catch (err) {
        const message = (err as Error).message;
        log(`round ${plan.round} [${plan.fault}] FAILED: ${message}`);
        log(`--- node1 log tail ---\n${cluster.nodes.node1.logTail(2500)}\n--- node2 log tail ---\n${cluster.nodes.node2.logTail(2500)}`);
        results.push({
          round: plan.round, fault: plan.fault, primaryBefore, primaryAfter: ctx.primary, acked: ctx.ledger.acknowledged - acksBefore, checked: 0, lost: 0, torn: 0,
          anomalies: 0, unackedVisible: 0, forced: false, splitBrain: false, disksIdentical: false, error: message, lostExamples: [], durationMs: 0,
        });
        try {
          await recover(ctx);
        } catch (e) {
          notes.push(`stopped after round ${plan.round}: the pair could not be brought back (${(e as Error).message})`);
          break;
        }
      }
    }
  } catch (err) {
    notes.push(`setup failed: ${(err as Error).message}`);
  } finally {
    const passed = results.length > 0 && summarize(o.mode, o.seed, results, 0, notes).ok;
    keptDir = await cluster.teardown(o.keep && !passed);
  }
  return { summary: summarize(o.mode, o.seed, results, Date.now() - started, notes), keptDir };
}
