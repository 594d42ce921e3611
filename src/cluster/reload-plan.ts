// `tandem-hb reload` (and SIGHUP): what a new set of ha.cf, authkeys and haresources changes in a
// running tandem-hb, decided with no I/O. Heartbeat rereads authkeys in place and restarts itself
// keeping its resources for a changed ha.cf (hb_signal.c hb_signal_reread_config_action,
// heartbeat.c restart_heartbeat); tandem-hb applies what it can in place and names the rest:
//
// applied live                         waits for a restart (the running value stays)
// keepalive, deadtime, warntime,        node, udpport, bcast/mcast/ucast, ping, ping_group,
// initdead                              deadping
// logfile, debugfile, logfacility,      tandem_timeout, tandem_config, tandem_run_dir,
// use_logd, debug                       tandem_isolation, tandem_metrics
// authkeys (sign with the new `auth`)
// respawn lines, stonith_host, auto_failback,
// tandem_stop_retries, tandem_stonith_retry, tandem_monitor
// haresources: groups added, and groups changed or removed that do not run here
//
// A group that runs on this node (starting, started, stopping or FAILED) keeps its old definition:
// its change is applied by a later reload once it is stopped here, or by a restart. Nothing that
// runs is stopped by a reload.
import type { HaResourceGroup } from '../config/heartbeat/haresources.js';
import type { HaCf } from '../config/heartbeat/ha-cf.js';
import { mediumName } from '../config/heartbeat/ha-cf.js';
import type { HbSetup } from './ha-load.js';
import { haLogPlan } from './ha-logging.js';
import type { HbExtensions } from './ha-extensions.js';
import { respawnKey } from './respawn.js';

export interface ReloadNote { level: 'info' | 'warn'; msg: string }

export interface ReloadPlan {
  /** the configuration to run with from now on */
  effective: HbSetup;
  notes: ReloadNote[];
  /** what changed and is applied now */
  live: {
    times: boolean; logging: boolean; authkeys: boolean; respawn: boolean; stonith: boolean;
    controller: boolean; monitor: boolean; groups: boolean;
  };
  /** directives whose new value waits for a restart */
  restartNeeded: string[];
}

export interface GroupPlan {
  groups: HaResourceGroup[];
  added: string[];
  changed: string[];
  removed: string[];
  /** running here: the old definition stays */
  kept: Array<{ key: string; change: 'changed' | 'removed' }>;
}

const groupText = (g: HaResourceGroup): string => `${g.node} ${g.resources.map((r) => r.text).join(' ')}`;

/** Pure: the groups to manage after a reload, given the groups active on this node. */
export function planGroups(current: readonly HaResourceGroup[], next: readonly HaResourceGroup[], active: ReadonlySet<string>): GroupPlan {
  const cur = new Map(current.map((g) => [g.key, g]));
  const nxt = new Map(next.map((g) => [g.key, g]));
  const plan: GroupPlan = { groups: [], added: [], changed: [], removed: [], kept: [] };
  for (const g of next) {
    const old = cur.get(g.key);
    if (!old) { plan.added.push(g.key); plan.groups.push(g); continue; }
    if (groupText(old) === groupText(g)) { plan.groups.push(old); continue; }
    if (active.has(g.key)) { plan.kept.push({ key: g.key, change: 'changed' }); plan.groups.push(old); continue; }
    plan.changed.push(g.key);
    plan.groups.push(g);
  }
  for (const g of current) {
    if (nxt.has(g.key)) continue;
    if (active.has(g.key)) { plan.kept.push({ key: g.key, change: 'removed' }); plan.groups.push(g); continue; }
    plan.removed.push(g.key);
  }
  return plan;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

type CfKey = keyof HaCf;
/** ha.cf values that need a restart, with the directive names an operator knows them by */
const RESTART_CF: ReadonlyArray<[CfKey, string]> = [
  ['nodes', 'node'], ['udpport', 'udpport'], ['ping', 'ping'], ['pingGroups', 'ping_group'], ['deadpingMs', 'deadping'],
];
const RESTART_EXT: ReadonlyArray<[keyof HbExtensions, string]> = [
  ['timeoutsMs', 'tandem_timeout'], ['tandemConfig', 'tandem_config'], ['tandemRunDir', 'tandem_run_dir'],
  ['isolation', 'tandem_isolation'], ['metrics', 'tandem_metrics'],
];

/** Pure: what `next` changes in a tandem-hb running `current`, with `active` the groups running here. */
export function planReload(current: HbSetup, next: HbSetup, active: ReadonlySet<string>): ReloadPlan {
  const notes: ReloadNote[] = [];
  const info = (msg: string) => notes.push({ level: 'info', msg });
  const warn = (msg: string) => notes.push({ level: 'warn', msg });
  const c = current.haCf;
  const n = next.haCf;

  const restartNeeded: string[] = [];
  const haCf: HaCf = { ...n };
  const pinging = c.ping.length + c.pingGroups.length > 0;
  for (const [k, name] of RESTART_CF) {
    if (same(c[k], n[k])) continue;
    // deadping follows deadtime by default; it matters only with ping nodes
    if (k === 'deadpingMs' && !pinging) continue;
    restartNeeded.push(name);
    (haCf as unknown as Record<string, unknown>)[k] = c[k];
  }
  if (!same(c.media.map(mediumName), n.media.map(mediumName)) || !same(c.media.map((m) => m.port), n.media.map((m) => m.port))) {
    restartNeeded.push('media (bcast/mcast/ucast)');
  }
  haCf.media = c.media;
  const ext: HbExtensions = { ...next.ext };
  for (const [k, name] of RESTART_EXT) {
    if (same(current.ext[k], next.ext[k])) continue;
    restartNeeded.push(name);
    (ext as unknown as Record<string, unknown>)[k] = current.ext[k];
  }
  for (const name of restartNeeded) warn(`${name} changed: not applied until tandem-hb is restarted (the running value stays)`);

  const times = !same([c.keepaliveMs, c.deadtimeMs, c.warntimeMs, c.initdeadMs], [n.keepaliveMs, n.deadtimeMs, n.warntimeMs, n.initdeadMs]);
  if (times) info(`keepalive ${n.keepaliveMs}ms, deadtime ${n.deadtimeMs}ms, warntime ${n.warntimeMs}ms, initdead ${n.initdeadMs}ms applied`);
  const logging = !same(haLogPlan(c.logging, c.debug), haLogPlan(n.logging, n.debug));
  if (logging) info('logging settings applied (logfile, debugfile, logfacility, use_logd, debug)');
  const authkeys = !same(current.authkeys.keys, next.authkeys.keys) || !same(current.authkeys.active, next.authkeys.active);
  if (authkeys) {
    info('Rereading authentication file.');
    const known = current.authkeys.keys.some((k) => same(k, next.authkeys.active));
    if (!known) {
      warn(`packets are now signed with key ${next.authkeys.active.index}, which the running configuration did not have: `
        + 'the peer drops them until it has that key too (to change keys, add the new key on both nodes and reload both, then switch `auth` on both)');
    }
  }
  const respawn = !same(current.respawn.map(respawnKey), next.respawn.map(respawnKey));
  if (respawn) info('respawn lines applied');
  const stonith = !same(c.stonithHosts, n.stonithHosts);
  if (stonith) info('stonith_host applied');
  const controller = c.autoFailback !== n.autoFailback || current.ext.stopRetries !== next.ext.stopRetries
    || current.ext.stopRetryMs !== next.ext.stopRetryMs || current.ext.stonithRetryMs !== next.ext.stonithRetryMs || times;
  if (c.autoFailback !== n.autoFailback) info(`auto_failback ${n.autoFailback} applied`);
  const monitor = !same(current.ext.monitor, next.ext.monitor);
  if (monitor) info(next.ext.monitor ? `tandem_monitor ${next.ext.monitor.intervalMs}ms ${next.ext.monitor.maxRestarts} applied` : 'tandem_monitor off');

  const gp = planGroups(current.haresources.groups, next.haresources.groups, active);
  for (const k of gp.added) info(`resource group ${k} added`);
  for (const k of gp.changed) info(`resource group ${k} changed`);
  for (const k of gp.removed) info(`resource group ${k} removed`);
  for (const { key, change } of gp.kept) {
    warn(`resource group ${key} runs on ${current.self}: it keeps its running definition (${change} in haresources); `
      + `stop it here (tandem-hb standby) and reload again, or restart tandem-hb, to apply it`);
  }
  const groups = gp.added.length + gp.changed.length + gp.removed.length > 0
    || !same(current.haresources.groups.map((g) => g.key), gp.groups.map((g) => g.key));

  const live = { times, logging, authkeys, respawn, stonith, controller, monitor, groups };
  if (!Object.values(live).some(Boolean) && restartNeeded.length === 0 && gp.kept.length === 0) info('Configuration unchanged.');
  return {
    effective: { ...next, peer: current.peer, haCf, ext, haresources: { ...next.haresources, groups: gp.groups } },
    notes,
    live,
    restartNeeded,
  };
}
