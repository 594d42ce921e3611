// `tandem-hb status`: the cluster as crm_mon prints it (Pacemaker 2 layout: nodes Online/OFFLINE,
// each haresources group and its resources `Started node1` / `Stopped` / `FAILED node1`). Pure:
// the daemon sends an HbStatusSnapshot, the CLI renders it.
import type { ControllerStatus, GroupStatus } from './controller.js';
import type { NodeStatus } from './membership.js';

export interface HbStatusSnapshot {
  self: string;
  peer: string | null;
  generation: number;
  nowMs: number;
  nodes: NodeStatus[];
  controller: ControllerStatus;
  /** per group key, the agent class:type of each resource (`heartbeat:IPaddr2`, `lsb:httpd`) */
  agents: Record<string, string[]>;
  /** ucast lines ignored because they name this host */
  ignoredMedia: string[];
  /** ping nodes (ha.cf `ping`, `ping_group`) and ipfail's counts; absent without ping nodes */
  ping?: { targets: Array<{ name: string; up: boolean }>; peerVisible: number | null };
}

export type ResourceWord = { word: 'Started' | 'FAILED'; node: string } | { word: 'Stopped' };

export function resourceWord(g: GroupStatus, index: number, self: string, peer: string | null): ResourceWord {
  const local = g.resources[index]?.state ?? 'stopped';
  if (local === 'failed') return { word: 'FAILED', node: self };
  if (local === 'started') return { word: 'Started', node: self };
  if (peer !== null && g.peer === 'failed') return { word: 'FAILED', node: peer };
  if (peer !== null && g.peer === 'held') return { word: 'Started', node: peer };
  return { word: 'Stopped' };
}

function wordText(w: ResourceWord): string {
  return w.word === 'Stopped' ? 'Stopped' : `${w.word} ${w.node}`;
}

export function renderHbStatus(s: HbStatusSnapshot): string {
  const lines: string[] = [];
  const total = s.controller.groups.reduce((n, g) => n + g.resources.length, 0);
  const online: string[] = [];
  const offline: string[] = [];
  for (const n of s.nodes) {
    if (n.self) online.push(n.node);
    else (n.state === 'up' ? online : offline).push(n.node);
  }
  online.sort();
  offline.sort();
  lines.push('Cluster Summary:');
  lines.push('  * Stack: tandem-hb (heartbeat haresources)');
  lines.push(`  * Current node: ${s.self} (generation ${s.generation})`);
  lines.push(`  * Last updated: ${new Date(s.nowMs).toString()}`);
  lines.push(`  * ${s.nodes.length} node${s.nodes.length === 1 ? '' : 's'} configured`);
  lines.push(`  * ${total} resource instance${total === 1 ? '' : 's'} configured`);
  lines.push('');
  lines.push('Node List:');
  if (online.length > 0) lines.push(`  * Online: [ ${online.join(' ')} ]`);
  if (offline.length > 0) lines.push(`  * OFFLINE: [ ${offline.join(' ')} ]`);
  if (s.controller.isolated) lines.push(`  * Node ${s.self}: isolated (all of its cluster links are down)`);
  if (s.controller.leaving) lines.push(`  * Node ${s.self}: shutting down`);
  if (s.controller.fencing === 'running' || s.controller.fencing === 'retry-wait') {
    lines.push(`  * Node ${s.peer ?? '?'}: UNCLEAN (being fenced)`);
  }
  for (const n of s.nodes) {
    if (n.self) continue;
    for (const l of n.links) if (l.state === 'dead') lines.push(`  * Link ${n.node}:${l.medium} is FAULTY`);
  }
  lines.push('');
  lines.push('Full List of Resources:');
  for (const g of s.controller.groups) {
    const notes: string[] = [];
    if (g.declined === 'standby') notes.push('standby');
    if (g.declined === 'start-failed') notes.push('start failed here');
    if (g.local === 'starting') notes.push('starting');
    if (g.local === 'stopping') notes.push('stopping');
    lines.push(`  * Resource Group: ${g.group} (preferred ${g.owner})${notes.length ? ` [${notes.join(', ')}]` : ''}:`);
    const agents = s.agents[g.group] ?? [];
    g.resources.forEach((r, i) => {
      lines.push(`    * ${r.resource}\t(${agents[i] ?? 'unknown'}):\t ${wordText(resourceWord(g, i, s.self, s.peer))}`);
    });
  }
  const failed = s.controller.groups.filter((g) => g.local === 'failed');
  if (failed.length > 0) {
    lines.push('');
    lines.push('Failed Resource Actions:');
    for (const g of failed) {
      const r = g.resources.find((x) => x.state === 'failed');
      lines.push(`  * ${r?.resource ?? g.group} stop on ${s.self} failed: group ${g.group} is FAILED (stop it by hand, then 'tandem-hb cleanup ${g.group}')`);
    }
  }
  if (s.ping && s.ping.targets.length > 0) {
    const visible = s.ping.targets.filter((t) => t.up).length;
    const peerSees = s.ping.peerVisible === null || s.peer === null ? '' : `, ${s.peer} sees ${s.ping.peerVisible}`;
    lines.push('');
    lines.push(`Ping Nodes (ipfail: ${s.self} sees ${visible} of ${s.ping.targets.length}${peerSees}):`);
    for (const t of s.ping.targets) lines.push(`  * ${t.name}: ${t.up ? 'reachable' : 'UNREACHABLE'}`);
  }
  if (s.ignoredMedia.length > 0) {
    lines.push('');
    lines.push(`Ignored media (this host's own address): ${s.ignoredMedia.join('; ')}`);
  }
  return lines.join('\n') + '\n';
}
