// The fault schedule: one fault per round, drawn from the seed, with the timings around it. Pure,
// so a failing run is replayed exactly with the same --seed (and --faults).
import { Prng } from './prng.js';

export type FaultKind =
  /** kill -9 of the Primary under write load; the Secondary is promoted */
  | 'kill-primary'
  /** kill -9 of the Secondary under write load; the Primary carries on alone */
  | 'kill-secondary'
  /** SIGSTOP of the Primary until the Secondary declares it dead (ping-timeout), then SIGCONT */
  | 'hang-primary'
  /** SIGSTOP of the Secondary until the Primary declares it dead, then SIGCONT */
  | 'hang-secondary'
  /** SIGTERM of the Secondary under write load (a clean daemon stop), then start and up */
  | 'restart-secondary'
  /** a planned switchover: writer closes, secondary on the Primary, primary on the peer */
  | 'switch-roles'
  /**
   * The Secondary hangs, and within ping-timeout (before anyone noticed) the Primary crashes and
   * then the Secondary: the whole cluster goes down. The Secondary is brought back and promoted.
   * With protocol C nothing it acknowledged can be missing there; a build that completes writes
   * before the peer's ack loses the writes acknowledged while the Secondary hung.
   */
  | 'crash-both'
  /** lab only: pull the Primary's cable (replication link down), writes go on, plug it back */
  | 'cable-primary'
  /** lab only: pull the Secondary's cable */
  | 'cable-secondary'
  /** lab only: tc netem delay and loss on the replication link while writing */
  | 'netem'
  /**
   * Loopback, root, asked for by name: the writes go through the Primary's kernel block device
   * (the config's `device`, a loop device over tandemd's FUSE file) with O_DIRECT, then kill -9
   * of the Primary's tandemd; the Secondary is promoted, and the restarted node must remove the
   * stale device.
   */
  | 'device-kill-primary'
  /** crash-both with the writes through the Primary's kernel device (the broken build fails it) */
  | 'device-crash-both';

export const LOOPBACK_FAULTS: readonly FaultKind[] = [
  'kill-primary', 'kill-secondary', 'hang-primary', 'hang-secondary', 'restart-secondary', 'switch-roles', 'crash-both',
];
export const LAB_ONLY_FAULTS: readonly FaultKind[] = ['cable-primary', 'cable-secondary', 'netem'];
/** Not in any default set: they need root and make loop devices and mounts. */
export const DEVICE_FAULTS: readonly FaultKind[] = ['device-kill-primary', 'device-crash-both'];

/** The fault a device round injects once its writer is on the kernel device. */
export function baseFault(f: FaultKind): FaultKind {
  return f === 'device-kill-primary' ? 'kill-primary' : f === 'device-crash-both' ? 'crash-both' : f;
}
export const ALL_FAULTS: readonly FaultKind[] = [...LOOPBACK_FAULTS, ...LAB_ONLY_FAULTS, ...DEVICE_FAULTS];

export function isFaultKind(s: string): s is FaultKind {
  return (ALL_FAULTS as readonly string[]).includes(s);
}

export interface RoundPlan {
  round: number;
  fault: FaultKind;
  /** acknowledged writes before the fault is injected */
  acksBefore: number;
  /** acknowledged writes after the fault, where the cluster still takes writes without a promotion */
  acksAfter: number;
  /** crash-both: how long the Secondary hangs before the Primary is killed (well below ping-timeout) */
  freezeMs: number;
  /** netem: added one-way delay and loss percentage */
  netem: { delayMs: number; lossPct: number };
  /** seed for this round's writer */
  writerSeed: number;
}

export function drawSchedule(seed: number, rounds: number, kinds: readonly FaultKind[]): RoundPlan[] {
  if (kinds.length === 0) throw new Error('no fault kinds to draw from');
  const rng = new Prng(seed);
  const plans: RoundPlan[] = [];
  for (let round = 1; round <= rounds; round++) {
    plans.push({
      round,
      fault: rng.pick(kinds),
      acksBefore: rng.int(200, 1500),
      acksAfter: rng.int(100, 600),
      freezeMs: rng.int(100, 300),
      netem: { delayMs: rng.int(2, 20), lossPct: rng.int(1, 10) },
      writerSeed: rng.int(1, 0x7fffffff),
    });
  }
  return plans;
}
