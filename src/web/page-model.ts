// What the status page shows, computed from tandem-hb's snapshot and tandemd's resource statuses:
// plain strings and numbers, so the browser only lays them out (web/render.js) and every wording
// decision is here, typed and unit-tested. Pure.
import { groupHolder } from '../cluster/hb-metrics.js';
import { resourceWord, type HbStatusSnapshot } from '../cluster/status-text.js';
import type { ResourceStatus } from '../daemon/status-types.js';
import { connectionOf } from '../daemon/events2.js';

export type Tone = 'ok' | 'warn' | 'bad' | 'idle';

export interface WebEvent {
  atMs: number;
  source: 'tandemd' | 'tandem-hb' | 'page';
  level: 'info' | 'warn' | 'error';
  text: string;
}

export type TandemdState = { ok: true; resources: ResourceStatus[] } | { ok: false; error: string };

export interface NodeModel {
  name: string;
  self: boolean;
  /** `online`, `OFFLINE`, `unknown` (not heard since start) */
  state: 'online' | 'OFFLINE' | 'unknown';
  tone: Tone;
  links: Array<{ medium: string; state: 'up' | 'FAULTY' | 'unknown'; tone: Tone }>;
}

export interface GroupModel {
  key: string;
  preferred: string;
  /** the node running it, as this node sees it */
  heldBy: string | null;
  /** this node's part: stopped, starting, started, stopping, FAILED */
  local: string;
  note: string | null;
  tone: Tone;
  resources: Array<{ text: string; agent: string; word: string; tone: Tone }>;
}

export interface SyncModel {
  state: string;
  percent: number;
  doneKiB: number;
  totalKiB: number;
  speedKiBs: number;
  etaSec: number;
  paused: boolean;
}

export interface ResourceModel {
  name: string;
  minor: number;
  peer: string;
  role: string;
  peerRole: string;
  disk: string;
  peerDisk: string;
  /** DRBD 8.4 connection state (cs:) */
  cs: string;
  /** DRBD 9 connection state */
  connection: string;
  protocol: string;
  suspended: boolean;
  outOfSyncKiB: number;
  tone: Tone;
  sync: SyncModel | null;
}

export interface PageModel {
  node: string;
  peer: string | null;
  summary: string;
  tone: Tone;
  notices: string[];
  nodes: NodeModel[];
  groups: GroupModel[];
  tandemd: { error: string | null; resources: ResourceModel[] };
  events: Array<{ at: string; source: string; level: string; text: string }>;
  actions: { enabled: boolean; resources: string[] };
}

const GOOD_DISK = new Set(['UpToDate']);

export function resourceModel(s: ResourceStatus): ResourceModel {
  const connection = connectionOf(s.cs);
  const p = s.sync ?? s.verify;
  const degraded = s.role === 'Primary' && !GOOD_DISK.has(s.peerDisk);
  const bad = s.cs === 'StandAlone' || s.flags.suspended.length > 0 || s.disk === 'Diskless' || s.disk === 'Failed' || (s.role === 'Primary' && s.disk !== 'UpToDate');
  return {
    name: s.name,
    minor: s.minor,
    peer: s.peerName ?? 'peer',
    role: s.role,
    peerRole: s.peerRole,
    disk: s.disk,
    peerDisk: s.peerDisk,
    cs: s.cs,
    connection,
    protocol: s.protocol ?? '',
    suspended: s.flags.suspended.length > 0,
    outOfSyncKiB: s.counters.oos,
    tone: bad ? 'bad' : degraded || connection !== 'Connected' || s.disk !== 'UpToDate' ? 'warn' : 'ok',
    sync: p ? {
      state: s.cs,
      percent: p.percent,
      doneKiB: Math.max(0, p.totalKiB - p.leftKiB),
      totalKiB: p.totalKiB,
      speedKiBs: p.speedKiBs,
      etaSec: p.etaSec,
      paused: p.paused,
    } : null,
  };
}

function nodesOf(h: HbStatusSnapshot): NodeModel[] {
  return h.nodes.map((n) => {
    const state: NodeModel['state'] = n.self || n.state === 'up' ? 'online' : n.state === 'dead' ? 'OFFLINE' : 'unknown';
    return {
      name: n.node,
      self: n.self,
      state,
      tone: state === 'online' ? 'ok' : state === 'OFFLINE' ? 'bad' : 'idle',
      links: n.self ? [] : n.links.map((l) => {
        const st = l.state === 'up' ? 'up' : l.state === 'dead' ? 'FAULTY' : 'unknown';
        return { medium: l.medium, state: st, tone: st === 'up' ? 'ok' : st === 'FAULTY' ? 'bad' : 'idle' } as const;
      }),
    };
  });
}

function groupsOf(h: HbStatusSnapshot): GroupModel[] {
  const st = h.controller;
  return st.groups.map((g) => {
    const heldBy = groupHolder(st, g);
    const notes: string[] = [];
    if (g.declined === 'standby') notes.push('standby');
    if (g.declined === 'start-failed') notes.push('start failed here');
    if (g.peer === 'failed') notes.push(`FAILED on ${h.peer ?? 'the peer'}`);
    const agents = h.agents[g.group] ?? [];
    const failed = g.local === 'failed' || g.peer === 'failed';
    return {
      key: g.group,
      preferred: g.owner,
      heldBy,
      local: g.local === 'failed' ? 'FAILED' : g.local,
      note: notes.length ? notes.join(', ') : null,
      tone: failed ? 'bad' : g.local === 'starting' || g.local === 'stopping' ? 'warn' : heldBy ? 'ok' : 'warn',
      resources: g.resources.map((r, i) => {
        const w = resourceWord(g, i, h.self, h.peer);
        return {
          text: r.resource,
          agent: agents[i] ?? 'unknown',
          word: w.word === 'Stopped' ? 'Stopped' : `${w.word} ${w.node}`,
          tone: w.word === 'FAILED' ? 'bad' : w.word === 'Started' ? 'ok' : 'idle',
        } as const;
      }),
    };
  });
}

const pad = (n: number) => String(n).padStart(2, '0');
/** local wall-clock time of day, as the operational log shows it */
export function clock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function pageModel(h: HbStatusSnapshot, tandemd: TandemdState, events: readonly WebEvent[], actions: boolean): PageModel {
  const c = h.controller;
  const nodes = nodesOf(h);
  const groups = groupsOf(h);
  const resources = tandemd.ok ? tandemd.resources.map(resourceModel).sort((a, b) => a.minor - b.minor) : [];
  const notices: string[] = [];
  if (c.isolated) notices.push(`${h.self} is isolated: all of its cluster links are down`);
  if (c.leaving) notices.push(`${h.self} is shutting down`);
  if (c.fencing === 'running' || c.fencing === 'retry-wait') notices.push(`${h.peer ?? 'the peer'} is UNCLEAN: being fenced (STONITH)`);
  for (const r of resources) {
    if (r.cs === 'StandAlone') notices.push(`${r.name} is StandAlone: it will not connect by itself (split brain, authentication or disconnect)`);
    if (r.suspended) notices.push(`${r.name}: IO suspended until the peer is fenced (resume-io after a failed fence-peer)`);
  }
  const peerNode = nodes.find((n) => !n.self);
  const tones = [...nodes.map((n) => n.tone), ...groups.map((g) => g.tone), ...resources.map((r) => r.tone)];
  const tone: Tone = tones.includes('bad') || !tandemd.ok ? 'bad' : tones.includes('warn') ? 'warn' : 'ok';
  const held = groups.filter((g) => g.heldBy !== null).length;
  const summary = [
    `${nodes.filter((n) => n.state === 'online').length} of ${nodes.length} nodes online`,
    `${held} of ${groups.length} groups running`,
    ...(peerNode && peerNode.state === 'OFFLINE' ? [`${peerNode.name} OFFLINE`] : []),
  ].join(' · ');
  return {
    node: h.self,
    peer: h.peer,
    summary,
    tone,
    notices,
    nodes,
    groups,
    tandemd: { error: tandemd.ok ? null : tandemd.error, resources },
    events: [...events].reverse().map((e) => ({ at: clock(e.atMs), source: e.source, level: e.level, text: e.text })),
    actions: { enabled: actions, resources: resources.map((r) => r.name) },
  };
}
