// What `tandem-hb reload` applies in place and what waits for a restart (reload-plan.ts), from
// pairs of configurations; and that a group running here keeps its definition.
import { describe, expect, it } from 'vitest';
import { checkRespawns, type HbSetup } from '../../../src/cluster/ha-load.js';
import { parseHbExtensions } from '../../../src/cluster/ha-extensions.js';
import { planGroups, planReload } from '../../../src/cluster/reload-plan.js';
import { parseAuthkeys, parseHaCf, parseHaresources, unwrap } from '../../../src/config/heartbeat/index.js';

const BASE_CF = 'keepalive 1\ndeadtime 10\nwarntime 5\ninitdead 20\nudpport 694\nucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nnode n1 n2\nauto_failback on\nlogfile /var/log/ha-log\n';
const BASE_RES = 'n1 10.0.0.10 Filesystem::/dev/tandem0::/srv::ext4\nn2 httpd\n';
const BASE_KEYS = 'auth 1\n1 sha1 secret\n';

function setup(cf = BASE_CF, res = BASE_RES, keys = BASE_KEYS): HbSetup {
  const haCf = unwrap(parseHaCf(cf));
  const respawn = checkRespawns(haCf, { user: () => ({ uid: 0, gid: 0 }), executable: () => true });
  return {
    haDir: '/etc/ha.d', self: 'n1', peer: 'n2', haCf, authkeys: unwrap(parseAuthkeys(keys)), haresources: unwrap(parseHaresources(res)),
    ext: unwrap(parseHbExtensions(haCf)), respawn: respawn.run, warnings: [],
  };
}

const none = new Set<string>();
const msgs = (p: ReturnType<typeof planReload>) => p.notes.map((n) => `${n.level}: ${n.msg}`);

describe('planReload', () => {
  it('the same files: Configuration unchanged.', () => {
    const p = planReload(setup(), setup(), none);
    expect(msgs(p)).toEqual(['info: Configuration unchanged.']);
    expect(Object.values(p.live).some(Boolean)).toBe(false);
    expect(p.restartNeeded).toEqual([]);
  });

  it.each([
    ['keepalive and deadtime', BASE_CF.replace('keepalive 1', 'keepalive 500ms').replace('deadtime 10', 'deadtime 3'), 'times'],
    ['logfacility', `${BASE_CF}logfacility local0\n`, 'logging'],
    ['debug', `${BASE_CF}debug 1\n`, 'logging'],
    ['respawn', `${BASE_CF}respawn root /usr/bin/client\n`, 'respawn'],
    ['stonith_host', `${BASE_CF}stonith_host * /usr/sbin/fence\n`, 'stonith'],
    ['auto_failback', BASE_CF.replace('auto_failback on', 'auto_failback off'), 'controller'],
    ['tandem_stop_retries', `${BASE_CF}tandem_stop_retries 3\n`, 'controller'],
    ['tandem_monitor', `${BASE_CF}tandem_monitor 5\n`, 'monitor'],
  ] as const)('%s is applied live', (_n, cf, flag) => {
    const p = planReload(setup(), setup(cf), none);
    expect(p.live[flag]).toBe(true);
    expect(p.restartNeeded).toEqual([]);
    expect(p.effective.haCf).toEqual(setup(cf).haCf);
  });

  it.each([
    ['a medium', `${BASE_CF}bcast eth1\n`, 'media (bcast/mcast/ucast)', (s: HbSetup) => s.haCf.media.length],
    ['a ping node', `${BASE_CF}ping 10.0.0.254\n`, 'ping', (s: HbSetup) => s.haCf.ping],
    ['tandem_timeout', `${BASE_CF}tandem_timeout start 30\n`, 'tandem_timeout', (s: HbSetup) => s.ext.timeoutsMs],
    ['tandem_metrics', `${BASE_CF}tandem_metrics 9943\n`, 'tandem_metrics', (s: HbSetup) => s.ext.metrics],
    ['tandem_isolation', `${BASE_CF}tandem_isolation off\n`, 'tandem_isolation', (s: HbSetup) => s.ext.isolation],
  ] as const)('%s waits for a restart and keeps its running value', (_n, cf, name, pick) => {
    const cur = setup();
    const p = planReload(cur, setup(cf), none);
    expect(p.restartNeeded).toEqual([name]);
    expect(pick(p.effective)).toEqual(pick(cur));
    expect(msgs(p)).toContain(`warn: ${name} changed: not applied until tandem-hb is restarted (the running value stays)`);
  });

  it('with ping nodes, a deadtime that moves the default deadping: deadtime live, deadping at restart', () => {
    const cf = `${BASE_CF}ping 10.0.0.254\n`;
    const p = planReload(setup(cf), setup(cf.replace('deadtime 10', 'deadtime 12')), none);
    expect(p.restartNeeded).toEqual(['deadping']);
    expect(p.effective.haCf.deadtimeMs).toBe(12_000);
    expect(p.effective.haCf.deadpingMs).toBe(10_000);
  });

  it('a new udpport moves the media too: both wait for a restart', () => {
    const p = planReload(setup(), setup(BASE_CF.replace('udpport 694', 'udpport 695')), none);
    expect(p.restartNeeded).toEqual(['udpport', 'media (bcast/mcast/ucast)']);
    expect(p.effective.haCf.media.map((m) => m.port)).toEqual([694, 694]);
  });

  it('applies the live part of a mixed change and keeps the rest', () => {
    const p = planReload(setup(), setup(BASE_CF.replace('udpport 694', 'udpport 700').replace('deadtime 10', 'deadtime 20')), none);
    expect(p.effective.haCf.deadtimeMs).toBe(20_000);
    expect(p.effective.haCf.udpport).toBe(694);
    expect(p.live.times).toBe(true);
  });

  it('rereads authkeys, and warns when the new signing key was not known before', () => {
    const added = planReload(setup(), setup(BASE_CF, BASE_RES, 'auth 1\n1 sha1 secret\n2 sha1 next\n'), none);
    expect(added.live.authkeys).toBe(true);
    expect(msgs(added)).toEqual(['info: Rereading authentication file.']);
    const switched = planReload(setup(), setup(BASE_CF, BASE_RES, 'auth 2\n2 sha1 next\n'), none);
    expect(msgs(switched)[1]).toMatch(/^warn: packets are now signed with key 2, which the running configuration did not have/);
    const rolled = planReload(setup(BASE_CF, BASE_RES, 'auth 1\n1 sha1 secret\n2 sha1 next\n'), setup(BASE_CF, BASE_RES, 'auth 2\n1 sha1 secret\n2 sha1 next\n'), none);
    expect(msgs(rolled)).toEqual(['info: Rereading authentication file.']);
  });

  it('adds a group and changes one that does not run here; a group running here keeps its definition', () => {
    const res = 'n1 10.0.0.10 Filesystem::/dev/tandem0::/srv::xfs\nn2 httpd mysql\nn1 rec::new\n';
    const p = planReload(setup(), setup(BASE_CF, res), new Set(['10.0.0.10']));
    expect(p.effective.haresources.groups.map((g) => `${g.node} ${g.resources.map((r) => r.text).join(' ')}`)).toEqual([
      'n1 10.0.0.10 Filesystem::/dev/tandem0::/srv::ext4', // runs here: unchanged
      'n2 httpd mysql',
      'n1 rec::new',
    ]);
    expect(msgs(p)).toEqual([
      'info: resource group rec::new added',
      'info: resource group httpd changed',
      'warn: resource group 10.0.0.10 runs on n1: it keeps its running definition (changed in haresources); stop it here (tandem-hb standby) and reload again, or restart tandem-hb, to apply it',
    ]);
    expect(p.live.groups).toBe(true);
  });
});

describe('planGroups', () => {
  const groups = (text: string) => unwrap(parseHaresources(text)).groups;
  const cur = groups('n1 a b\nn2 c\nn1 d\n');
  it.each([
    ['nothing changes', 'n1 a b\nn2 c\nn1 d\n', [], { groups: ['a', 'c', 'd'], added: [], changed: [], removed: [], kept: [] }],
    ['a stopped group removed', 'n1 a b\nn2 c\n', [], { groups: ['a', 'c'], added: [], changed: [], removed: ['d'], kept: [] }],
    ['a running group removed stays', 'n1 a b\nn2 c\n', ['d'], { groups: ['a', 'c', 'd'], added: [], changed: [], removed: [], kept: [{ key: 'd', change: 'removed' }] }],
    ['a running group changed stays', 'n1 a b x\nn2 c\nn1 d\n', ['a'], { groups: ['a', 'c', 'd'], added: [], changed: [], removed: [], kept: [{ key: 'a', change: 'changed' }] }],
    ['its preferred node is a change too', 'n2 a b\nn2 c\nn1 d\n', [], { groups: ['a', 'c', 'd'], added: [], changed: ['a'], removed: [], kept: [] }],
    ['new order, new group', 'n1 e\nn1 d\nn2 c\nn1 a b\n', [], { groups: ['e', 'd', 'c', 'a'], added: ['e'], changed: [], removed: [], kept: [] }],
  ] as const)('%s', (_n, text, active, want) => {
    const p = planGroups(cur, groups(text), new Set(active));
    expect({ ...p, groups: p.groups.map((g) => g.key) }).toEqual(want);
  });

  it('keeps the very definition object of an unchanged group (the controller keeps its state)', () => {
    const p = planGroups(cur, groups('n1 a b\nn2 c\nn1 d\n'), new Set());
    expect(p.groups[0]).toBe(cur[0]);
  });
});
