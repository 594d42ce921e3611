// One torture round: writes through NBD (or the kernel device) to the Primary, one fault from the schedule, the survivor
// promoted where the Primary is gone, every acknowledged write read back, then healing (restart,
// up, reconnect, resync) and the two data areas compared byte for byte.
import fs from 'node:fs';
import { healthy, linkUp, otherNode, type NodeStatus, type TortureCluster, type TortureNode } from './cluster.js';
import { compareDisks } from './disks.js';
import type { WriteLedger } from './ledger.js';
import { Prng } from './prng.js';
import { baseFault, DEVICE_FAULTS, type RoundPlan } from './schedule.js';
import type { NodeName, RoundResult } from './summary.js';
import { verifyThroughNbd, type VerifyOutcome } from './verify.js';
import { Writer, deviceTarget, nbdTarget } from './writer.js';

export interface RoundContext {
  cluster: TortureCluster;
  ledger: WriteLedger;
  blocks: number;
  depth: number;
  /** acknowledged writes already reported lost (`block@vN`), so that each counts once */
  lostWrites: Set<string>;
  /** the node that is Primary between rounds */
  primary: NodeName;
  log: (line: string) => void;
}

const NOTICE_MS = 20_000; // ping-int + ping-timeout are 2 s in both clusters; generous for a loaded CI box
const ACKS_MS = 60_000;
const HEAL_MS = 120_000;

export class RoundError extends Error {}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The Primary's kernel block device, once tandemd has made it after the promotion. */
async function kernelDevice(node: TortureNode): Promise<string> {
  const dev = node.devicePath;
  if (!dev) throw new RoundError(`${node.name} makes no kernel block device here (the device rounds run on the loopback pair as root)`);
  await waitFor(async () => {
    try {
      return fs.statSync(dev).isBlockDevice();
    } catch {
      return false;
    }
  }, NOTICE_MS, () => `${node.name}'s kernel block device ${dev}`);
  return dev;
}

async function waitFor<T>(check: () => Promise<T | null | false>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new RoundError(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

async function waitStatus(node: TortureNode, pred: (s: NodeStatus) => boolean, what: string, timeoutMs = NOTICE_MS): Promise<NodeStatus> {
  let last: NodeStatus | null = null;
  return waitFor(async () => {
    last = await node.status();
    return last && pred(last) ? last : null;
  }, timeoutMs, () => `${node.name}: ${what} (last: ${show(last)})`);
}

const show = (s: NodeStatus | null): string => (s ? `${s.cs} ${s.role}/${s.peerRole} ${s.disk}/${s.peerDisk}` : 'no status');

async function admOk(node: TortureNode, ...args: string[]): Promise<string> {
  const r = await node.adm(...args);
  if (r.code !== 0) throw new RoundError(`${node.name}: tandemadm ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr + r.stdout).trim()}`);
  return r.stdout;
}

/** start tandemd and bring the resource up (attach + connect) */
async function restart(node: TortureNode): Promise<void> {
  if (!node.running()) await node.start();
  await admOk(node, 'up', 'r0');
}

/**
 * Promote the survivor. Plain `primary` first: only when tandemd refuses it (DRBD: "Need access to
 * UpToDate data", the data is only Consistent after a restart without the peer) is --force used,
 * and the round records that it was.
 */
async function promote(node: TortureNode, log: (l: string) => void): Promise<boolean> {
  await waitStatus(node, (s) => s.disk !== 'Attaching' && s.disk !== 'Diskless' && s.disk !== 'DUnknown', 'attached disk');
  const plain = await node.adm('primary', 'r0');
  if (plain.code === 0) return false;
  log(`  ${node.name}: primary refused (${(plain.stderr + plain.stdout).trim()}); using --force`);
  await admOk(node, 'primary', '--force', 'r0');
  return true;
}

/**
 * Wait until both nodes are Connected and UpToDate/UpToDate with the expected roles. A split brain
 * (both StandAlone) is resolved as DRBD's documentation says: the node that is not the Primary is
 * the victim (`connect --discard-my-data`), the Primary reconnects. Returns whether that was needed.
 */
async function heal(ctx: RoundContext): Promise<boolean> {
  const p = ctx.cluster.nodes[ctx.primary];
  const s = ctx.cluster.nodes[otherNode(ctx.primary)];
  let splitBrain = false;
  let standAloneSeen = 0;
  let lastP: NodeStatus | null = null;
  let lastS: NodeStatus | null = null;
  await waitFor(async () => {
    [lastP, lastS] = await Promise.all([p.status(), s.status()]);
    if (healthy(lastP) && healthy(lastS) && lastP!.role === 'Primary' && lastS!.role === 'Secondary') return true;
    if (lastP?.cs === 'StandAlone' || lastS?.cs === 'StandAlone') {
      if (++standAloneSeen >= 3) {
        splitBrain = true;
        standAloneSeen = 0;
        ctx.log(`  StandAlone (${p.name}: ${show(lastP)}; ${s.name}: ${show(lastS)}): resolving as a split brain, ${s.name} is the victim`);
        if (lastS?.cs === 'StandAlone') await admOk(s, 'connect', '--discard-my-data', 'r0');
        else {
          await s.adm('disconnect', 'r0');
          await admOk(s, 'connect', '--discard-my-data', 'r0');
        }
        if (lastP?.cs === 'StandAlone') await admOk(p, 'connect', 'r0');
      }
    } else standAloneSeen = 0;
    return false;
  }, HEAL_MS, () => `healthy pair (${p.name}: ${show(lastP)}; ${s.name}: ${show(lastS)})`);
  return splitBrain;
}

/**
 * `lost` counts acknowledged writes, each once: a write found missing after the fault, again after
 * healing and again in later rounds (until the block is rewritten) is one loss, in the round that
 * found it.
 */
function addVerify(into: RoundResult, seen: Set<string>, v: VerifyOutcome): void {
  into.checked += v.checked;
  for (const w of v.lostWrites) {
    if (seen.has(w)) continue;
    seen.add(w);
    into.lost++;
  }
  into.torn += v.torn;
  into.anomalies += v.anomalies;
  into.unackedVisible += v.unackedVisible;
  for (const e of v.examples) if (into.lostExamples.length < 10) into.lostExamples.push(e);
}

export async function runRound(ctx: RoundContext, plan: RoundPlan): Promise<RoundResult> {
  const started = Date.now();
  const P = ctx.primary;
  const S = otherNode(P);
  const nodes = ctx.cluster.nodes;
  const nP = nodes[P];
  const nS = nodes[S];
  const acksAtStart = ctx.ledger.acknowledged;
  const result: RoundResult = {
    round: plan.round, fault: plan.fault, primaryBefore: P, primaryAfter: P, acked: 0, checked: 0, lost: 0, torn: 0,
    anomalies: 0, unackedVisible: 0, forced: false, splitBrain: false, disksIdentical: false, lostExamples: [], durationMs: 0,
  };
  const say = (line: string): void => ctx.log(`round ${plan.round} [${plan.fault}] ${line}`);
  const verifyOn = async (name: NodeName, when: string): Promise<void> => {
    const v = await verifyThroughNbd(nodes[name].nbdSocket, ctx.ledger, ctx.blocks);
    addVerify(result, ctx.lostWrites, v);
    say(`${when}: read ${ctx.blocks} blocks on ${name}, ${v.checked} acknowledged checked, lost ${v.lost}${v.unackedVisible ? `, ${v.unackedVisible} unacked-but-visible` : ''}`);
  };

  const onDevice = DEVICE_FAULTS.includes(plan.fault);
  const target = onDevice ? deviceTarget(await kernelDevice(nP)) : nbdTarget(nP.nbdSocket);
  const w = await Writer.start(target, ctx.ledger, new Prng(plan.writerSeed), { blocks: ctx.blocks, depth: ctx.depth });
  try {
    await w.waitAcks(plan.acksBefore, ACKS_MS, `${plan.acksBefore} acknowledged writes before the fault`);
    say(`${w.acked} writes acknowledged by ${P}; injecting`);
    switch (baseFault(plan.fault)) {
      case 'kill-primary': {
        await nP.crash();
        await w.abort();
        await waitStatus(nS, (s) => !linkUp(s), `${S} notices that ${P} is gone`);
        result.forced = await promote(nS, say);
        ctx.primary = S;
        await verifyOn(S, `after ${onDevice ? `O_DIRECT writes through ${P}'s kernel device, ` : ''}kill -9 of ${P} and promotion of ${S}`);
        await restart(nP);
        break;
      }
      case 'kill-secondary': {
        await nS.crash();
        await w.waitAcks(plan.acksAfter, ACKS_MS, `writes on ${P} alone after the Secondary died`);
        await w.stop();
        await verifyOn(P, `after kill -9 of ${S}`);
        await restart(nS);
        break;
      }
      case 'hang-primary': {
        nP.freeze();
        await waitStatus(nS, (s) => !linkUp(s), `${S} declares the hung ${P} dead (ping-timeout)`);
        nP.thaw();
        await w.waitAcks(plan.acksAfter, ACKS_MS, `writes after ${P} resumed`);
        await w.stop();
        await verifyOn(P, `after SIGSTOP/SIGCONT of ${P}`);
        break;
      }
      case 'hang-secondary': {
        nS.freeze();
        await waitStatus(nP, (s) => !linkUp(s), `${P} declares the hung ${S} dead (ping-timeout)`);
        await w.waitAcks(plan.acksAfter, ACKS_MS, `writes on ${P} alone while ${S} hangs`);
        nS.thaw();
        await w.stop();
        await verifyOn(P, `after SIGSTOP/SIGCONT of ${S}`);
        break;
      }
      case 'restart-secondary': {
        await nS.stop();
        await w.waitAcks(plan.acksAfter, ACKS_MS, `writes on ${P} while ${S} is stopped`);
        await restart(nS);
        await w.stop();
        await verifyOn(P, `after a restart of ${S}`);
        break;
      }
      case 'switch-roles': {
        await w.stop(); // a Primary with its device open refuses `secondary`, as DRBD does
        await admOk(nP, 'secondary', 'r0');
        await waitStatus(nS, (s) => s.peerRole === 'Secondary', `${S} sees ${P} as Secondary`);
        result.forced = await promote(nS, say);
        ctx.primary = S;
        await verifyOn(S, `after the switch to ${S}`);
        break;
      }
      case 'crash-both': {
        nS.freeze();
        // the window: shorter than ping-int + ping-timeout, so nobody has noticed the hang yet
        await new Promise((r) => setTimeout(r, plan.freezeMs));
        await nP.crash();
        await nS.crash();
        await w.abort();
        await restart(nS);
        result.forced = await promote(nS, say);
        ctx.primary = S;
        await verifyOn(S, `after both crashed and ${S} was promoted`);
        await restart(nP);
        break;
      }
      case 'cable-primary':
      case 'cable-secondary': {
        const cable = ctx.cluster.cable?.bind(ctx.cluster);
        if (!cable) throw new RoundError(`${plan.fault} needs a cluster with cables (--lab)`);
        const pulled = plan.fault === 'cable-primary' ? P : S;
        await cable(pulled, 'down');
        try {
          await waitStatus(nP, (s) => !linkUp(s), `${P} notices the pulled cable of ${pulled}`);
          await w.waitAcks(plan.acksAfter, ACKS_MS, `writes on ${P} while the link is down`);
        } finally {
          await cable(pulled, 'up');
        }
        await w.stop();
        await verifyOn(P, `after the cable of ${pulled} was pulled and plugged back`);
        break;
      }
      case 'netem': {
        const netem = ctx.cluster.netem;
        const why = netem ? await netem.unsupported() : 'this cluster has no link to shape';
        if (why || !netem) {
          result.skipped = `netem skipped: ${why}`;
          say(result.skipped);
          await w.stop();
          break;
        }
        await netem.apply(plan.netem.delayMs, plan.netem.lossPct);
        try {
          await w.waitAcks(plan.acksAfter, ACKS_MS, `writes over a link with ${plan.netem.delayMs} ms delay and ${plan.netem.lossPct}% loss`);
        } finally {
          await netem.clear();
        }
        await w.stop();
        await verifyOn(P, `after ${plan.netem.delayMs} ms delay / ${plan.netem.lossPct}% loss`);
        break;
      }
    }
    if (onDevice) {
      // the restarted tandemd found the dead device's record and removed it (nobody holds it)
      await waitFor(async () => !isSymlink(nP.devicePath!), NOTICE_MS, () => `${P} to remove its stale kernel device ${nP.devicePath}`);
    }
  } finally {
    if (w.active) await w.abort();
  }
  result.primaryAfter = ctx.primary;
  result.splitBrain = await heal(ctx);
  const diff = compareDisks(nodes.node1.diskPath, nodes.node2.diskPath, ctx.cluster.dataBytes);
  result.disksIdentical = diff.identical;
  if (!diff.identical) say(`disks differ after healing: ${diff.differingBlocks} blocks, first at byte ${diff.firstDiff}`);
  await verifyOn(ctx.primary, 'after healing');
  result.acked = ctx.ledger.acknowledged - acksAtStart;
  result.durationMs = Date.now() - started;
  return result;
}

/** After a failed round: resume and restart what is down, bring the pair back to healthy. */
export async function recover(ctx: RoundContext): Promise<void> {
  for (const n of Object.values(ctx.cluster.nodes)) n.thaw();
  for (const n of Object.values(ctx.cluster.nodes)) {
    if (!n.running()) await restart(n);
    else {
      const s = await n.status();
      if (s && (s.cs === 'StandAlone' || s.disk === 'Diskless')) await n.adm('up', 'r0');
    }
  }
  const p = ctx.cluster.nodes[ctx.primary];
  const s = await p.status();
  if (s?.role !== 'Primary') {
    const other = await ctx.cluster.nodes[otherNode(ctx.primary)].status();
    if (other?.role === 'Primary') ctx.primary = otherNode(ctx.primary);
    else await promote(p, ctx.log);
  }
  await heal(ctx);
}
