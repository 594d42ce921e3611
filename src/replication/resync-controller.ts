// DRBD 8.4's dynamic resync-rate controller (drbd_worker.c drbd_rs_controller), in bytes instead
// of sectors. Every 100 ms step the SyncTarget asks how much to request: it aims at a fixed amount
// in flight (c-fill-target), or at what arrives in c-delay-target's time, and spreads the
// correction over c-plan-ahead's steps; c-max-rate caps each step. resync-rate only seeds the
// first step. Pure: the caller measures what arrived and what is in flight.
//
// c-min-rate (drbd_receiver.c drbd_rs_c_min_rate_throttle) is the other half: while application
// IO hits the disk and the recent resync speed is above c-min-rate, resync requests wait.

/** DRBD's SLEEP_TIME: the resync timer's period. */
export const CONTROLLER_STEP_MS = 100;

export interface ControllerSettings {
  /** c-plan-ahead in ms (> 0: the controller is on) */
  planAheadMs: number;
  /** c-fill-target in bytes (0: use c-delay-target) */
  fillTargetBytes: number;
  /** c-delay-target in ms */
  delayTargetMs: number;
  /** c-max-rate */
  maxRateBytesPerSec: number;
  /** resync-rate: the first step's rate */
  resyncRateBytesPerSec: number;
}

export class ResyncController {
  /** the plan: corrections scheduled for the coming steps, oldest first */
  private readonly plan: number[];
  private planTotal = 0;

  constructor(private readonly s: ControllerSettings) {
    this.plan = new Array<number>(ResyncController.steps(s)).fill(0);
  }

  static steps(s: Pick<ControllerSettings, 'planAheadMs'>): number {
    return Math.max(1, Math.round(s.planAheadMs / CONTROLLER_STEP_MS));
  }

  /**
   * One step: `bytesIn` arrived (was written) since the last step, `inFlightBytes` are requested
   * and not yet answered. Returns how many bytes to request now.
   */
  step(bytesIn: number, inFlightBytes: number): number {
    const steps = this.plan.length;
    const perStep = (rate: number): number => (rate * CONTROLLER_STEP_MS) / 1000;
    let want: number;
    if (inFlightBytes + bytesIn === 0) {
      // the start of a resync: resync-rate over the whole plan
      want = perStep(this.s.resyncRateBytesPerSec) * steps;
    } else {
      want = this.s.fillTargetBytes > 0 ? this.s.fillTargetBytes : (bytesIn * this.s.delayTargetMs) / CONTROLLER_STEP_MS;
    }
    const correction = want - inFlightBytes - this.planTotal;
    // plan ahead: the correction spread evenly over the coming steps
    const cps = Math.trunc(correction / steps);
    for (let i = 0; i < steps; i++) this.plan[i]! += cps;
    this.planTotal += cps * steps;
    // what this step does
    const current = this.plan.shift()!;
    this.plan.push(0);
    this.planTotal -= current;
    const request = Math.max(0, bytesIn + current);
    return Math.min(request, perStep(this.s.maxRateBytesPerSec));
  }
}

/**
 * c-min-rate: whether resync requests should wait this step. `appIoBytes` is the application IO
 * that reached this node's disk since the last check; `recentRateBytesPerSec` the resync's speed
 * over the last few seconds. 0 disables the throttle; DRBD ignores up to 64 sectors of IO.
 */
export function minRateThrottled(minRateBytesPerSec: number, appIoBytes: number, recentRateBytesPerSec: number): boolean {
  if (minRateBytesPerSec <= 0) return false;
  if (appIoBytes <= 64 * 512) return false;
  return recentRateBytesPerSec > minRateBytesPerSec;
}
