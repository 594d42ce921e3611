// ipfail's rule, as a pure state machine fed with ping replies, the peer's announced count and a
// clock. Heartbeat treats each `ping IP` as a pseudo-node and each `ping_group NAME IP…` as one
// pseudo-node that is up while any member answers; a ping node is dead after `deadping` (default:
// deadtime) without a reply. ipfail compares how many ping nodes each cluster node sees:
//
// - fewer than the peer: "Giving up because we have less visible ping nodes." and hand every group
//   to the peer (hb_standby all);
// - more: "Telling other node that we have more visible ping nodes." The peer, running the same
//   rule, gives its groups up and this node takes them through the usual claim/grant handshake,
//   so nothing is taken without the peer's consent;
// - equal: nothing moves, and a give-up still pending is abandoned.
//
// The give-up waits `settleMs` with the peer still seeing more: when a ping node (or the router in
// front of it) dies for both nodes, one of them notices up to a probe interval before the other
// and must not hand its groups over in that window. Recovery needs one reply, as in heartbeat.

import type { PingGroup } from '../config/heartbeat/ha-cf.js';

/** one ping node of ipfail's count: a `ping` address, or a whole `ping_group` */
export interface PingTarget { name: string; hosts: string[] }

export type PingStanding = 'unknown' | 'fewer' | 'equal' | 'more';
export type PingAction = 'none' | 'release-groups' | 'take-groups';
export interface PingDecision { action: PingAction; standing: PingStanding; visible: number; peerVisible: number | null }

export type PingEvent =
  | { type: 'lost'; target: string; visible: number }
  | { type: 'recovered'; target: string; visible: number };

export interface PingNodesConfig {
  targets: readonly PingTarget[];
  deadpingMs: number;
  /** how long 'fewer' must last before the groups are given up */
  settleMs: number;
}

/** ha.cf's `ping` addresses (one target each) and `ping_group`s (one target per group). */
export function pingTargets(ping: readonly string[], groups: readonly PingGroup[]): PingTarget[] {
  return [
    ...[...new Set(ping)].map((h) => ({ name: h, hosts: [h] })),
    ...groups.map((g) => ({ name: g.name, hosts: [...new Set(g.hosts)] })),
  ];
}

/** Where this node stands against the peer; unknown while the peer's count is not known. */
export function comparePing(visible: number, peerVisible: number | null): PingStanding {
  if (peerVisible === null) return 'unknown';
  return visible < peerVisible ? 'fewer' : visible > peerVisible ? 'more' : 'equal';
}

interface TargetState { target: PingTarget; lastReplyMs: number; up: boolean }

export class PingNodes {
  private readonly states: TargetState[];
  private readonly byHost = new Map<string, TargetState[]>();
  private peerVisible: number | null = null;
  /** the standing the last decision acted on */
  private acted: PingStanding = 'unknown';
  private fewerSinceMs: number | null = null;

  /** Every target counts as up at start: a node is not judged before deadping has passed. */
  constructor(private readonly cfg: PingNodesConfig, nowMs: number) {
    this.states = cfg.targets.map((target) => ({ target, lastReplyMs: nowMs, up: true }));
    for (const s of this.states) {
      for (const h of s.target.hosts) this.byHost.set(h, [...(this.byHost.get(h) ?? []), s]);
    }
  }

  get total(): number { return this.states.length; }
  get visible(): number { return this.states.filter((s) => s.up).length; }
  get peer(): number | null { return this.peerVisible; }

  targets(): Array<{ name: string; up: boolean }> {
    return this.states.map((s) => ({ name: s.target.name, up: s.up }));
  }

  /** an echo reply from host; hosts that are no ping node are ignored */
  onReply(host: string, nowMs: number): PingEvent[] {
    const out: PingEvent[] = [];
    for (const s of this.byHost.get(host) ?? []) {
      s.lastReplyMs = Math.max(s.lastReplyMs, nowMs);
      if (!s.up) {
        s.up = true;
        out.push({ type: 'recovered', target: s.target.name, visible: this.visible });
      }
    }
    return out;
  }

  tick(nowMs: number): PingEvent[] {
    const out: PingEvent[] = [];
    for (const s of this.states) {
      if (s.up && nowMs - s.lastReplyMs >= this.cfg.deadpingMs) {
        s.up = false;
        out.push({ type: 'lost', target: s.target.name, visible: this.visible });
      }
    }
    return out;
  }

  /** the peer's announced count; null when the peer is dead, restarted, or never said */
  onPeer(visible: number | null): void {
    this.peerVisible = visible === null || !Number.isInteger(visible) || visible < 0 ? null : visible;
  }

  /**
   * Edge-triggered: an action is returned once per change of standing, so the caller can feed it
   * to the controller as it comes. 'fewer' acts only after it has lasted settleMs.
   */
  decide(nowMs: number): PingDecision {
    const standing = comparePing(this.visible, this.peerVisible);
    const d = (action: PingAction): PingDecision => ({ action, standing, visible: this.visible, peerVisible: this.peerVisible });
    if (standing !== 'fewer') this.fewerSinceMs = null;
    if (standing === this.acted) return d('none');
    switch (standing) {
      case 'unknown':
      case 'equal':
        this.acted = standing;
        return d('none');
      case 'more':
        this.acted = standing;
        return d('take-groups');
      case 'fewer':
        this.fewerSinceMs ??= nowMs;
        if (nowMs - this.fewerSinceMs < this.cfg.settleMs) return d('none');
        this.acted = standing;
        return d('release-groups');
    }
  }
}
