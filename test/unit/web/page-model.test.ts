// The status page's model: what each node, group and replicated resource looks like on the page,
// from tables of tandem-hb snapshots and tandemd statuses; and its layout (web/render.js).
import { describe, expect, it } from 'vitest';
import { pageModel, resourceModel, type TandemdState } from '../../../src/web/page-model.js';
import type { HbStatusSnapshot } from '../../../src/cluster/status-text.js';
import type { GroupStatus } from '../../../src/cluster/controller.js';
import { IDLE_IO_FLAGS, type ResourceStatus } from '../../../src/daemon/status-types.js';
// web/render.js is plain JavaScript, served to the browser as it is
import { renderPage, esc, duration, size } from '../../../web/render.js';

function status(p: Partial<ResourceStatus> = {}): ResourceStatus {
  return {
    minor: 0, name: 'r0', peerName: 'node1', cs: 'Connected', role: 'Secondary', peerRole: 'Primary', disk: 'UpToDate', peerDisk: 'UpToDate',
    protocol: 'C', flags: { ...IDLE_IO_FLAGS },
    counters: { ns: 0, nr: 0, dw: 0, dr: 0, al: 0, bm: 0, lo: 0, pe: 0, ua: 0, ap: 0, ep: 1, wo: 'f', oos: 0 },
    ...p,
  } as ResourceStatus;
}

const group = (over: Partial<GroupStatus>): GroupStatus => ({
  group: 'IPaddr::10.0.0.10/24', owner: 'node1', local: 'stopped', declined: null, peer: 'held',
  resources: [{ resource: 'IPaddr::10.0.0.10/24', state: 'stopped' }, { resource: 'tandemdisk::r0', state: 'stopped' }], ...over,
});

function snap(groups: GroupStatus[], peerState: 'up' | 'dead' | 'init', extra: Partial<HbStatusSnapshot['controller']> = {}): HbStatusSnapshot {
  return {
    self: 'node2', peer: 'node1', generation: 7, nowMs: 0,
    nodes: [
      { node: 'node2', self: true, state: 'up', generation: null, lastSeq: null, lastHeardMs: null, links: [] },
      { node: 'node1', self: false, state: peerState, generation: 3, lastSeq: 9, lastHeardMs: 0, links: [{ medium: 'ucast eth0 10.213.0.1', state: peerState === 'up' ? 'up' : peerState === 'dead' ? 'dead' : 'init', lastSeenMs: 0 }] },
    ],
    controller: { self: 'node2', peer: 'node1', peerState: peerState === 'init' ? 'unknown' : peerState, fencing: 'none', isolated: false, leaving: false, groups, ...extra },
    agents: { 'IPaddr::10.0.0.10/24': ['heartbeat:IPaddr', 'tandem:tandemdisk'] },
    ignoredMedia: [],
  };
}

const ok = (...r: ResourceStatus[]): TandemdState => ({ ok: true, resources: r });

describe('resources as the page shows them', () => {
  it.each<[string, Partial<ResourceStatus>, string]>([
    ['connected, both UpToDate', {}, 'ok'],
    ['Primary whose peer is Inconsistent (degraded)', { role: 'Primary', peerRole: 'Secondary', cs: 'SyncSource', peerDisk: 'Inconsistent' }, 'warn'],
    ['peer gone (WFConnection)', { cs: 'WFConnection', peerRole: 'Unknown', peerDisk: 'DUnknown' }, 'warn'],
    ['StandAlone after a split brain', { cs: 'StandAlone', peerRole: 'Unknown', peerDisk: 'DUnknown' }, 'bad'],
    ['IO suspended by fencing', { role: 'Primary', flags: { ...IDLE_IO_FLAGS, suspended: ['fencing'] } }, 'bad'],
    ['Diskless', { disk: 'Diskless' }, 'bad'],
  ])('%s → %s', (_what, p, tone) => {
    expect(resourceModel(status(p)).tone).toBe(tone);
  });

  it('a resync shows done/total from the status snapshot', () => {
    const m = resourceModel(status({ cs: 'SyncTarget', disk: 'Inconsistent', sync: { percent: 31.3, totalKiB: 65496, leftKiB: 45000, speedKiBs: 78408, avgSpeedKiBs: 70000, etaSec: 1, paused: false } }));
    expect(m.sync).toEqual({ state: 'SyncTarget', percent: 31.3, doneKiB: 20496, totalKiB: 65496, speedKiBs: 78408, etaSec: 1, paused: false });
    expect(m.connection).toBe('Connected');
  });
});

describe('the page model', () => {
  it('nodes online/OFFLINE with their links, groups with who holds them', () => {
    const m = pageModel(snap([group({ peer: 'held' })], 'up'), ok(status()), [], false);
    expect(m.nodes.map((n) => [n.name, n.state, n.links.map((l) => l.state).join()])).toEqual([['node2', 'online', ''], ['node1', 'online', 'up']]);
    expect(m.groups[0]).toMatchObject({ heldBy: 'node1', local: 'stopped', tone: 'ok' });
    expect(m.groups[0]!.resources.map((r) => r.word)).toEqual(['Started node1', 'Started node1']);
    expect(m.summary).toBe('2 of 2 nodes online · 1 of 1 groups running');
    expect(m.tone).toBe('ok');
    expect(m.actions).toEqual({ enabled: false, resources: ['r0'] });
  });

  it('a dead peer: OFFLINE, FAULTY link, the group taken over here, a bad tone', () => {
    const g = group({ local: 'started', peer: 'dead', resources: [{ resource: 'IPaddr::10.0.0.10/24', state: 'started' }, { resource: 'tandemdisk::r0', state: 'started' }] });
    const m = pageModel(snap([g], 'dead', { fencing: 'running' }), ok(status({ role: 'Primary', cs: 'WFConnection', peerRole: 'Unknown', peerDisk: 'DUnknown' })), [], true);
    expect(m.nodes[1]).toMatchObject({ state: 'OFFLINE', tone: 'bad', links: [{ state: 'FAULTY', tone: 'bad' }] });
    expect(m.groups[0]).toMatchObject({ heldBy: 'node2', local: 'started' });
    expect(m.summary).toBe('1 of 2 nodes online · 1 of 1 groups running · node1 OFFLINE');
    expect(m.notices).toEqual(['node1 is UNCLEAN: being fenced (STONITH)']);
    expect(m.tone).toBe('bad');
  });

  it('tandemd not running: the reason instead of resources, and no resource actions', () => {
    const m = pageModel(snap([], 'up'), { ok: false, error: 'tandemd is not running (no control socket at /run/tandem/tandemd.sock)' }, [], true);
    expect(m.tandemd).toEqual({ error: 'tandemd is not running (no control socket at /run/tandem/tandemd.sock)', resources: [] });
    expect(m.actions.resources).toEqual([]);
    expect(m.tone).toBe('bad');
  });

  it('events newest first; standby, FAILED and StandAlone are said', () => {
    const events = [{ atMs: 1000, source: 'tandem-hb' as const, level: 'info' as const, text: 'first' }, { atMs: 2000, source: 'tandemd' as const, level: 'warn' as const, text: 'second' }];
    const g = group({ declined: 'standby', peer: 'failed' });
    const m = pageModel(snap([g], 'up'), ok(status({ cs: 'StandAlone' })), events, false);
    expect(m.events.map((e) => e.text)).toEqual(['second', 'first']);
    expect(m.groups[0]).toMatchObject({ note: 'standby, FAILED on node1', tone: 'bad' });
    expect(m.notices[0]).toMatch(/^r0 is StandAlone/);
  });
});

describe('web/render.js', () => {
  it('escapes every value from the model', () => {
    expect(esc('<img src=x onerror="a">&\'')).toBe('&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;');
    const m = pageModel(snap([group({ group: '<script>x</script>' })], 'up'), ok(status({ name: 'r<0>' })), [{ atMs: 0, source: 'tandemd', level: 'info', text: '<b>hi</b>' }], true);
    const html = renderPage(m) as string;
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>hi</b>');
    expect(html).toContain('data-resource="r&lt;0&gt;"');
  });

  it('lays out role, states, progress and the action button of a resource', () => {
    const s = status({ cs: 'SyncTarget', disk: 'Inconsistent', sync: { percent: 31.3, totalKiB: 65536, leftKiB: 45000, speedKiBs: 2048, avgSpeedKiBs: 2048, etaSec: 3725, paused: false } });
    const html = renderPage(pageModel(snap([], 'up'), ok(s), [], true)) as string;
    expect(html).toContain('<span class="role" data-field="role">Secondary</span>');
    expect(html).toContain('<progress max="1000" value="313"');
    expect(html).toContain('20.1 MiB of 64.0 MiB · 2.0 MiB/s · 1:02:05 left');
    expect(html).toContain('data-action="primary" data-resource="r0"');
    expect(renderPage(pageModel(snap([], 'up'), ok(s), [], false))).not.toContain('data-action=');
  });

  it.each([[0, '0:00:00'], [59.6, '0:01:00'], [3600, '1:00:00']])('duration(%s) = %s', (s, text) => expect(duration(s)).toBe(text));
  it.each([[512, '512 KiB'], [1536, '1.5 MiB'], [3 * 1024 * 1024, '3.0 GiB']])('size(%s) = %s', (k, text) => expect(size(k)).toBe(text));
});
