// tandem-hb's Prometheus metrics (ha.cf `tandem_metrics ADDR`), read from the controller's status
// at scrape time: each node's membership state and links, each group's local state and which node
// holds it, isolation and fencing. One series per state value, 1 for the current one, as
// drbd-reactor does for DRBD's states. Counted as they happen (hb-runner.ts's observe): groups
// started here (takeovers) and STONITH results.
import client from 'prom-client';
import type { ControllerStatus, LocalGroupState } from './controller.js';
import type { RunnerNote } from './hb-runner.js';
import type { NodeStatus } from './membership.js';

const NODE_STATES = ['up', 'dead', 'unknown'] as const;
const LOCAL_STATES: readonly LocalGroupState[] = ['stopped', 'starting', 'started', 'stopping', 'failed'];
const FENCING = ['none', 'running', 'retry-wait', 'done'] as const;

/** Which node holds a group now: this one while it has it started, the peer while it says so. */
export function groupHolder(st: ControllerStatus, g: ControllerStatus['groups'][number]): string | null {
  if (g.local === 'started' || g.local === 'stopping' || g.local === 'starting') return st.self;
  if (g.peer === 'held' && st.peer) return st.peer;
  return null;
}

export interface HbMetrics {
  registry: client.Registry;
  observe(n: RunnerNote): void;
}

export function buildHbRegistry(status: () => ControllerStatus, nodes: () => NodeStatus[] = () => []): HbMetrics {
  const reg = new client.Registry();
  new client.Gauge({
    name: 'tandem_hb_node_state', help: 'Membership state of each cluster node as this node sees it', labelNames: ['node', 'tandem_hb_node_state'], registers: [reg],
    collect() {
      this.reset();
      const st = status();
      for (const s of NODE_STATES) this.set({ node: st.self, tandem_hb_node_state: s }, s === 'up' ? 1 : 0);
      if (st.peer) for (const s of NODE_STATES) this.set({ node: st.peer, tandem_hb_node_state: s }, s === st.peerState ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'tandem_hb_group_state', help: "State of each resource group on this node", labelNames: ['group', 'owner', 'tandem_hb_group_state'], registers: [reg],
    collect() {
      this.reset();
      for (const g of status().groups) for (const s of LOCAL_STATES) this.set({ group: g.group, owner: g.owner, tandem_hb_group_state: s }, s === g.local ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'tandem_hb_group_holder', help: 'Which node holds each resource group (1), as this node sees it', labelNames: ['group', 'node'], registers: [reg],
    collect() {
      this.reset();
      const st = status();
      for (const g of st.groups) {
        const holder = groupHolder(st, g);
        for (const n of [st.self, ...(st.peer ? [st.peer] : [])]) this.set({ group: g.group, node: n }, n === holder ? 1 : 0);
      }
    },
  });
  new client.Gauge({ name: 'tandem_hb_isolated', help: 'Boolean whether all of this node\'s cluster links are down', registers: [reg], collect() { this.set(status().isolated ? 1 : 0); } });
  new client.Gauge({
    name: 'tandem_hb_fencing', help: 'STONITH of the peer', labelNames: ['tandem_hb_fencing'], registers: [reg],
    collect() {
      this.reset();
      const f = status().fencing;
      for (const s of FENCING) this.set({ tandem_hb_fencing: s }, s === f ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'tandem_hb_link_up', help: 'Boolean whether heartbeats from the node arrive on the medium (up), 0 while it is dead or not heard yet', labelNames: ['node', 'medium'], registers: [reg],
    collect() {
      this.reset();
      for (const n of nodes()) if (!n.self) for (const l of n.links) this.set({ node: n.node, medium: l.medium }, l.state === 'up' ? 1 : 0);
    },
  });
  const takeovers = new client.Counter({
    name: 'tandem_hb_takeovers_total', help: 'Times this node finished starting the resource group (took it over), with the group\'s preferred node', labelNames: ['group', 'owner', 'node'], registers: [reg],
  });
  const stonith = new client.Counter({ name: 'tandem_hb_stonith_total', help: 'STONITH operations run by this node, by result', labelNames: ['node', 'result'], registers: [reg] });
  client.collectDefaultMetrics({ register: reg, prefix: 'tandem_hb_' });
  return {
    registry: reg,
    observe(n) {
      if (n.type === 'stonith') { stonith.inc({ node: n.node, result: n.ok ? 'ok' : 'failed' }); return; }
      if (n.transition !== 'started') return;
      const st = status();
      const owner = st.groups.find((g) => g.group === n.group)?.owner ?? '';
      takeovers.inc({ group: n.group, owner, node: st.self });
    },
  };
}
