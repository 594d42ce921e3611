// The haresources controller's interface: its configuration, the events it takes, the actions
// it returns and the status it reports (controller.ts holds the state machine itself).

import type { AutoFailback } from '../config/heartbeat/ha-cf.js';
import type { HaResource, HaResourceGroup } from '../config/heartbeat/haresources.js';
import type { ControlMessage } from './control-messages.js';
import type { LogLevel } from './membership.js';

/** hb_standby / hb_takeover keywords. */
export type Scope = 'all' | 'local' | 'foreign' | 'failback';

export interface ControllerConfig {
  self: string;
  /** the other node of ha.cf; null in a one-node cluster */
  peer: string | null;
  groups: readonly HaResourceGroup[];
  autoFailback: AutoFailback;
  /** a fencing command is configured (ha.cf stonith_host) */
  stonith: boolean;
  /** heartbeat retries a failed STONITH every 5 s */
  stonithRetryMs?: number;
  /** retries of a failed stop before the group is FAILED (ResourceManager: 10) */
  stopRetries?: number;
  /** delay between stop retries (ResourceManager: 1 s) */
  stopRetryMs?: number;
  /** re-announce rsc_state this often, against lost packets */
  announceMs?: number;
  /** re-send an unanswered claim this often */
  claimRetryMs?: number;
  /** resource monitoring (Tandem extension): restarts in place before the group moves; default 3 */
  monitorMaxRestarts?: number;
}

export type ControllerEvent =
  | { type: 'membership'; node: string; state: 'up' | 'dead'; restarted?: boolean }
  | { type: 'control'; from: string; msg: ControlMessage }
  | { type: 'resource-result'; group: string; index: number; op: 'start' | 'stop'; ok: boolean; message?: string }
  | { type: 'standby-request'; scope?: Scope }
  | { type: 'takeover-request'; scope?: Scope }
  | { type: 'stonith-result'; node?: string; ok: boolean; message?: string }
  /** operator: a FAILED group has been stopped by hand here; manage it again */
  | { type: 'cleanup'; group: string }
  /** this node's own cluster links are all down (true), or it is connected again (false) */
  | { type: 'isolation'; isolated: boolean }
  /** the daemon is stopping: release every group (the peer may claim them) and start nothing */
  | { type: 'shutdown' }
  /** monitoring found a started resource not running: restart it in place, or move the group */
  | { type: 'monitor-failed'; group: string; index: number; message?: string };

export type ControllerAction =
  | { type: 'start-resource'; group: string; index: number; resource: HaResource }
  | { type: 'stop-resource'; group: string; index: number; resource: HaResource }
  | { type: 'stonith'; node: string }
  | { type: 'send-control'; msg: ControlMessage }
  | { type: 'log'; level: LogLevel; msg: string; fields: Record<string, unknown> };

export type LocalGroupState = 'stopped' | 'starting' | 'started' | 'stopping' | 'failed';
export type PeerGroupState = 'unknown' | 'free' | 'held' | 'busy' | 'claimed' | 'failed' | 'declined' | 'dead';
export type ResourceState = 'stopped' | 'started' | 'failed';

export interface GroupStatus {
  group: string;
  owner: string;
  local: LocalGroupState;
  declined: 'standby' | 'start-failed' | null;
  peer: PeerGroupState;
  resources: Array<{ resource: string; state: ResourceState }>;
}

export interface ControllerStatus {
  self: string;
  peer: string | null;
  peerState: 'unknown' | 'up' | 'dead';
  fencing: 'none' | 'running' | 'retry-wait' | 'done';
  isolated: boolean;
  leaving: boolean;
  groups: GroupStatus[];
}

/** The configuration with every default filled in (names lower-cased). */
export type ControllerTunables = Required<Omit<ControllerConfig, 'peer' | 'groups'>> & { peer: string | null };

export function withDefaults(self: string, peer: string | null, cfg: Omit<ControllerConfig, 'self' | 'peer' | 'groups'>): ControllerTunables {
  return {
    self, peer,
    autoFailback: cfg.autoFailback,
    stonith: cfg.stonith,
    stonithRetryMs: cfg.stonithRetryMs ?? 5000,
    stopRetries: cfg.stopRetries ?? 10,
    stopRetryMs: cfg.stopRetryMs ?? 1000,
    announceMs: cfg.announceMs ?? 2000,
    claimRetryMs: cfg.claimRetryMs ?? 1000,
    monitorMaxRestarts: cfg.monitorMaxRestarts ?? 3,
  };
}
