// The haresources controller, driven through a small simulation of two nodes: control messages go
// straight to the peer's controller, resource operations complete at once (or fail on demand),
// and after every step the test checks that no group has resources running on both nodes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseHaresources, unwrap } from '../../../src/config/heartbeat/index.js';
import type { AutoFailback } from '../../../src/config/heartbeat/ha-cf.js';
import { Controller, type ControllerAction, type ControllerConfig, type ControllerEvent } from '../../../src/cluster/controller.js';

const HARESOURCES = `alpha IPaddr::10.0.0.10/24 drbddisk::r0 Filesystem::/dev/drbd0::/srv::ext4 httpd
beta IPaddr::10.0.0.20/24 mysqld
`;
const G1 = 'IPaddr::10.0.0.10/24';
const G2 = 'IPaddr::10.0.0.20/24';
const GROUPS = unwrap(parseHaresources(HARESOURCES)).groups;
const NODES = ['alpha', 'beta'] as const;
type Node = (typeof NODES)[number];
const other = (n: Node): Node => (n === 'alpha' ? 'beta' : 'alpha');

interface Op { node: Node; op: 'start' | 'stop'; resource: string }

class Sim {
  now = 0;
  readonly ctl = new Map<Node, Controller>();
  /** resources currently running on each node, as `group#index` */
  readonly running = new Map<Node, Set<string>>([['alpha', new Set()], ['beta', new Set()]]);
  ops: Op[] = [];
  logs: string[] = [];
  stonithCalls: Array<{ by: Node; node: string }> = [];
  controlLink = true;
  /** deliver every control message twice (UDP on two media) */
  duplicate = false;
  allowDouble = false;
  failStart = new Map<string, number>();
  failStop = new Map<string, number>();
  private queue: Array<[Node, ControllerEvent]> = [];

  constructor(private readonly cfg: Partial<ControllerConfig> & { autoFailback: AutoFailback }) {}

  boot(node: Node, peer: string | null = other(node)): this {
    this.ctl.set(node, new Controller({ stonith: false, stopRetries: 0, ...this.cfg, self: node, peer, groups: GROUPS }, this.now));
    return this;
  }
  /** both controllers learn that the other is up (membership node-up) */
  meet(opts: { restarted?: boolean } = {}): this {
    for (const n of NODES) this.send(n, { type: 'membership', node: other(n), state: 'up', restarted: opts.restarted });
    return this;
  }
  send(node: Node, e: ControllerEvent): this {
    this.queue.push([node, e]);
    this.run();
    return this;
  }
  tick(ms: number, step = 100): this {
    for (let t = 0; t < ms; t += step) {
      this.now += step;
      for (const [n, c] of this.ctl) this.apply(n, c.tick(this.now));
      this.run();
    }
    return this;
  }
  /** the node crashes: its controller and resources are gone; the peer sees it die */
  crash(node: Node): this {
    this.ctl.delete(node);
    this.running.get(node)!.clear();
    return this.send(other(node), { type: 'membership', node, state: 'dead' });
  }
  /** STONITH succeeded on the node: it was reset */
  reset(node: Node): this {
    this.ctl.delete(node);
    this.running.get(node)!.clear();
    return this;
  }
  groupOn(node: Node, group: string): 'all' | 'none' | 'some' {
    const g = GROUPS.find((x) => x.key === group)!;
    const n = g.resources.filter((_, i) => this.running.get(node)!.has(`${group}#${i}`)).length;
    return n === 0 ? 'none' : n === g.resources.length ? 'all' : 'some';
  }
  opsText(): string[] {
    return this.ops.map((o) => `${o.node} ${o.op} ${o.resource}`);
  }
  private run(): void {
    let budget = 5000; // a correct controller settles in a few dozen steps; more is a message storm
    while (this.queue.length > 0) {
      if (--budget === 0) throw new Error(`livelock: ${this.logs.slice(-12).join(' | ')}`);
      const [node, e] = this.queue.shift()!;
      const c = this.ctl.get(node);
      if (c) this.apply(node, c.handle(e, this.now));
    }
  }
  private apply(node: Node, actions: ControllerAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'log': this.logs.push(`${node} ${a.level}: ${a.msg}`); break;
        case 'stonith': this.stonithCalls.push({ by: node, node: a.node }); break;
        case 'send-control':
          if (this.controlLink && this.ctl.has(other(node))) {
            this.queue.push([other(node), { type: 'control', from: node, msg: a.msg }]);
            if (this.duplicate) this.queue.push([other(node), { type: 'control', from: node, msg: a.msg }]);
          }
          break;
        case 'start-resource':
        case 'stop-resource': {
          const op = a.type === 'start-resource' ? 'start' : 'stop';
          this.ops.push({ node, op, resource: a.resource.text });
          const id = `${a.group}#${a.index}`;
          const failures = op === 'start' ? this.failStart : this.failStop;
          const key = `${node} ${a.resource.text}`;
          const left = failures.get(key) ?? 0;
          if (left > 0) failures.set(key, left - 1);
          else if (op === 'start') this.running.get(node)!.add(id);
          else this.running.get(node)!.delete(id);
          if (!this.allowDouble) {
            for (const g of GROUPS) {
              const both = this.groupOn('alpha', g.key) !== 'none' && this.groupOn('beta', g.key) !== 'none';
              if (both) throw new Error(`group ${g.key} runs on both nodes after ${node} ${op} ${a.resource.text}`);
            }
          }
          this.queue.push([node, { type: 'resource-result', group: a.group, index: a.index, op, ok: left === 0, message: left > 0 ? 'rc=1' : undefined }]);
          break;
        }
      }
    }
  }
}

const G1_START = ['IPaddr::10.0.0.10/24', 'drbddisk::r0', 'Filesystem::/dev/drbd0::/srv::ext4', 'httpd'];
const G1_STOP = [...G1_START].reverse();
const started = (sim: Sim) => ({ alpha: [G1, G2].filter((g) => sim.groupOn('alpha', g) === 'all'), beta: [G1, G2].filter((g) => sim.groupOn('beta', g) === 'all') });

describe('controller: normal start', () => {
  it('each node starts the groups it prefers, left to right, once the peer granted them', () => {
    const sim = new Sim({ autoFailback: 'on' }).boot('alpha').boot('beta');
    sim.tick(1000);
    expect(sim.ops).toEqual([]); // nothing before membership has spoken
    sim.meet();
    expect(started(sim)).toEqual({ alpha: [G1], beta: [G2] });
    expect(sim.opsText().filter((o) => o.startsWith('alpha'))).toEqual(G1_START.map((r) => `alpha start ${r}`));
    expect(sim.logs).toContain('alpha info: Resource httpd started. (rc=0)');
    expect(sim.logs).toContain('alpha info: Resource IPaddr::10.0.0.10/24 tries to start.');
  });

  it('a one-node cluster starts everything on its own', () => {
    const sim = new Sim({ autoFailback: 'on' }).boot('alpha', null);
    sim.tick(100);
    expect(started(sim).alpha).toEqual([G1, G2]);
  });

  it('a peer never heard within initdead is fenced before anything starts (status unknown)', () => {
    const sim = new Sim({ autoFailback: 'on', stonith: true }).boot('alpha');
    sim.send('alpha', { type: 'membership', node: 'beta', state: 'dead' });
    expect(sim.stonithCalls).toEqual([{ by: 'alpha', node: 'beta' }]);
    expect(sim.ops).toEqual([]);
    sim.send('alpha', { type: 'stonith-result', ok: true });
    expect(started(sim).alpha).toEqual([G1, G2]);
  });
});

describe('controller: failover and failback', () => {
  const running = () => {
    const sim = new Sim({ autoFailback: 'on' }).boot('alpha').boot('beta').meet();
    sim.ops = [];
    sim.logs = [];
    return sim;
  };

  it('takes over the dead owner\'s group (no STONITH configured: warns, takes over anyway)', () => {
    const sim = running();
    sim.crash('alpha');
    expect(started(sim).beta).toEqual([G1, G2]);
    expect(sim.opsText()).toEqual(G1_START.map((r) => `beta start ${r}`));
    expect(sim.logs).toEqual(expect.arrayContaining([
      'beta error: Start to fail-over.', 'beta warn: No STONITH device configured.', 'beta warn: Shared disks are not protected.', 'beta info: fail-over succeeded.',
    ]));
  });

  it('auto_failback on: the owner asks for its group back; the holder stops it right to left, then the owner starts it left to right', () => {
    const sim = running();
    sim.crash('alpha');
    sim.ops = [];
    sim.boot('alpha').meet({ restarted: false });
    expect(started(sim)).toEqual({ alpha: [G1], beta: [G2] });
    expect(sim.opsText()).toEqual([...G1_STOP.map((r) => `beta stop ${r}`), ...G1_START.map((r) => `alpha start ${r}`)]);
    expect(sim.logs).toContain(`beta info: Releasing resource group ${G1}: auto_failback to its owner alpha`);
  });

  it('auto_failback legacy fails back like on', () => {
    const sim = new Sim({ autoFailback: 'legacy' }).boot('alpha').boot('beta').meet();
    sim.crash('alpha').boot('alpha').meet();
    expect(started(sim)).toEqual({ alpha: [G1], beta: [G2] });
  });

  it('auto_failback off: the group stays where it runs', () => {
    const sim = new Sim({ autoFailback: 'off' }).boot('alpha').boot('beta').meet();
    sim.crash('alpha');
    sim.ops = [];
    sim.boot('alpha').meet();
    sim.tick(10_000);
    expect(started(sim)).toEqual({ alpha: [], beta: [G1, G2] });
    expect(sim.ops).toEqual([]);
  });

  it('claims lost on the wire are sent again', () => {
    const sim = running();
    sim.crash('alpha');
    sim.boot('alpha');
    sim.controlLink = false;
    sim.meet();
    expect(started(sim).alpha).toEqual([]);
    sim.controlLink = true;
    sim.tick(3000);
    expect(started(sim)).toEqual({ alpha: [G1], beta: [G2] });
  });
});

describe('controller: standby and takeover', () => {
  it('standby hands the local groups to the peer, and auto_failback does not pull them back', () => {
    const sim = new Sim({ autoFailback: 'on' }).boot('alpha').boot('beta').meet();
    sim.ops = [];
    sim.send('alpha', { type: 'standby-request', scope: 'local' });
    expect(started(sim)).toEqual({ alpha: [], beta: [G1, G2] });
    expect(sim.opsText()).toEqual([...G1_STOP.map((r) => `alpha stop ${r}`), ...G1_START.map((r) => `beta start ${r}`)]);
    sim.tick(10_000);
    expect(started(sim)).toEqual({ alpha: [], beta: [G1, G2] });
  });

  it('standby all gives everything away; takeover failback brings back only what we prefer', () => {
    const sim = new Sim({ autoFailback: 'off' }).boot('alpha').boot('beta').meet();
    sim.send('beta', { type: 'standby-request' });
    expect(started(sim)).toEqual({ alpha: [G1, G2], beta: [] });
    sim.send('beta', { type: 'takeover-request', scope: 'failback' });
    expect(started(sim)).toEqual({ alpha: [G1], beta: [G2] });
  });

  it('takeover pulls a group from a running peer even with auto_failback off', () => {
    const sim = new Sim({ autoFailback: 'off' }).boot('alpha').boot('beta').meet();
    sim.ops = [];
    sim.send('beta', { type: 'takeover-request', scope: 'foreign' });
    expect(started(sim)).toEqual({ alpha: [], beta: [G1, G2] });
    expect(sim.opsText()).toEqual([...G1_STOP.map((r) => `alpha stop ${r}`), ...G1_START.map((r) => `beta start ${r}`)]);
  });

  it.each([
    ['legacy', true, /standby refused: standby is only implemented with auto_failback on or off/],
    ['on', false, /standby refused: beta is not up, so nobody would run the groups/],
  ] as const)('standby is refused with auto_failback %s (peer up: %s)', (mode, peerUp, re) => {
    const sim = new Sim({ autoFailback: mode }).boot('alpha').boot('beta');
    if (peerUp) sim.meet();
    else sim.send('alpha', { type: 'membership', node: 'beta', state: 'dead' });
    const before = started(sim);
    sim.send('alpha', { type: 'standby-request' });
    expect(started(sim)).toEqual(before);
    expect(sim.logs.some((l) => re.test(l))).toBe(true);
  });
});

describe('controller: failures', () => {
  it('a failed start stops what started, right to left, and lets the peer try', () => {
    const sim = new Sim({ autoFailback: 'on' }).boot('alpha').boot('beta');
    sim.failStart.set('alpha Filesystem::/dev/drbd0::/srv::ext4', 1);
    sim.meet();
    expect(sim.opsText().filter((o) => o.includes('10.0.0.10') || o.includes('drbd') || o.includes('httpd'))).toEqual([
      'alpha start IPaddr::10.0.0.10/24', 'alpha start drbddisk::r0', 'alpha start Filesystem::/dev/drbd0::/srv::ext4',
      'alpha stop Filesystem::/dev/drbd0::/srv::ext4', 'alpha stop drbddisk::r0', 'alpha stop IPaddr::10.0.0.10/24',
      ...G1_START.map((r) => `beta start ${r}`),
    ]);
    expect(started(sim)).toEqual({ alpha: [], beta: [G1, G2] });
    expect(sim.logs).toContain('alpha error: Giving up resources due to failure of Filesystem::/dev/drbd0::/srv::ext4');
    // and it does not come straight back with auto_failback on
    sim.tick(10_000);
    expect(started(sim)).toEqual({ alpha: [], beta: [G1, G2] });
  });

  it('a failed stop (after its retries) marks the group FAILED and the peer never starts it', () => {
    const sim = new Sim({ autoFailback: 'on', stopRetries: 2, stopRetryMs: 1000 }).boot('alpha').boot('beta').meet();
    sim.crash('alpha');
    sim.failStop.set('beta Filesystem::/dev/drbd0::/srv::ext4', 99);
    sim.ops = [];
    sim.boot('alpha').meet(); // failback: beta must stop G1 and cannot
    sim.tick(5000);
    expect(sim.opsText()).toEqual([
      'beta stop httpd',
      'beta stop Filesystem::/dev/drbd0::/srv::ext4', 'beta stop Filesystem::/dev/drbd0::/srv::ext4', 'beta stop Filesystem::/dev/drbd0::/srv::ext4',
    ]);
    expect(sim.groupOn('alpha', G1)).toBe('none');
    expect(sim.ctl.get('beta')!.status().groups.find((g) => g.group === G1)).toMatchObject({ local: 'failed', peer: 'free' });
    expect(sim.ctl.get('alpha')!.status().groups.find((g) => g.group === G1)).toMatchObject({ local: 'stopped', peer: 'failed' });
    expect(sim.logs.filter((l) => l.startsWith('beta warn: Retrying failed stop operation'))).toHaveLength(2);
    expect(sim.logs.some((l) => /beta fatal: Resource group IPaddr::10\.0\.0\.10\/24 is FAILED on beta/.test(l))).toBe(true);
    // an operator takeover does not get it either
    sim.send('alpha', { type: 'takeover-request', scope: 'local' });
    sim.tick(5000);
    expect(sim.groupOn('alpha', G1)).toBe('none');
    // and when the holder dies without STONITH, the survivor still refuses it
    sim.allowDouble = true;
    sim.send('alpha', { type: 'membership', node: 'beta', state: 'dead' });
    sim.tick(5000);
    expect(sim.groupOn('alpha', G1)).toBe('none');
    expect(sim.logs).toContain(`alpha error: group ${G1} FAILED on beta (a stop failed there); not taking it over without STONITH`);
  });

  it('cleanup after a failed stop lets the group be managed again', () => {
    const sim = new Sim({ autoFailback: 'on' }).boot('alpha').boot('beta').meet();
    sim.crash('alpha');
    sim.failStop.set('beta drbddisk::r0', 1);
    sim.boot('alpha').meet();
    expect(sim.ctl.get('beta')!.status().groups[0]).toMatchObject({ group: G1, local: 'failed' });
    expect(sim.groupOn('beta', G1)).toBe('some');
    // the operator stops what is left by hand, then tells tandem-hb
    for (const id of [...sim.running.get('beta')!]) if (id.startsWith(G1)) sim.running.get('beta')!.delete(id);
    sim.send('beta', { type: 'cleanup', group: G1 });
    expect(sim.logs).toContain(`beta info: cleanup: group ${G1} marked stopped by the operator; managing it again`);
    expect(started(sim)).toEqual({ alpha: [G1], beta: [G2] });
    expect(sim.ctl.get('beta')!.handle({ type: 'cleanup', group: G2 }, sim.now)).toContainEqual(expect.objectContaining({ msg: `cleanup: group ${G2} is not FAILED (started)` }));
  });
});

describe('controller: STONITH', () => {
  it('fences a dead peer that held resources, retries every 5 s until it works, then takes over', () => {
    const sim = new Sim({ autoFailback: 'on', stonith: true }).boot('alpha').boot('beta').meet();
    sim.ops = [];
    sim.allowDouble = true; // beta keeps its resources: a partition, not a crash
    sim.controlLink = false;
    sim.send('alpha', { type: 'membership', node: 'beta', state: 'dead' });
    expect(sim.stonithCalls).toEqual([{ by: 'alpha', node: 'beta' }]);
    sim.send('alpha', { type: 'stonith-result', ok: false, message: 'power switch unreachable' });
    expect(sim.logs).toContain('alpha error: STONITH of beta failed.  Retrying...');
    sim.tick(4900);
    expect(sim.stonithCalls).toHaveLength(1);
    sim.tick(100);
    expect(sim.stonithCalls).toHaveLength(2);
    sim.send('alpha', { type: 'stonith-result', ok: false });
    sim.tick(5000);
    expect(sim.stonithCalls).toHaveLength(3);
    expect(sim.ops).toEqual([]); // nothing taken over while beta may still hold it
    sim.reset('beta');
    sim.send('alpha', { type: 'stonith-result', ok: true });
    expect(sim.logs).toContain('alpha info: node beta now reset.');
    expect(started(sim).alpha).toEqual([G1, G2]);
    sim.tick(20_000);
    expect(sim.stonithCalls).toHaveLength(3);
  });

  it('does not fence a peer that announced it held nothing', () => {
    const sim = new Sim({ autoFailback: 'on', stonith: true }).boot('alpha').boot('beta').meet();
    sim.send('beta', { type: 'standby-request' });
    expect(started(sim)).toEqual({ alpha: [G1, G2], beta: [] });
    sim.crash('beta');
    expect(sim.stonithCalls).toEqual([]);
  });

  it('fences before taking over a group the dead peer had FAILED, then takes it', () => {
    const sim = new Sim({ autoFailback: 'on', stonith: true }).boot('alpha').boot('beta');
    sim.failStop.set('alpha mysqld', 1);
    sim.meet();
    sim.send('alpha', { type: 'standby-request', scope: 'foreign' });
    sim.ops = [];
    sim.send('alpha', { type: 'takeover-request', scope: 'foreign' });
    expect(sim.groupOn('alpha', G2)).toBe('all');
    sim.send('beta', { type: 'takeover-request', scope: 'local' }); // alpha must stop G2: mysqld refuses to stop
    expect(sim.ctl.get('alpha')!.status().groups.find((g) => g.group === G2)!.local).toBe('failed');
    sim.allowDouble = true;
    sim.controlLink = false;
    sim.send('beta', { type: 'membership', node: 'alpha', state: 'dead' });
    expect(sim.stonithCalls).toEqual([{ by: 'beta', node: 'alpha' }]);
    expect(sim.groupOn('beta', G2)).toBe('none');
    sim.reset('alpha');
    sim.send('beta', { type: 'stonith-result', ok: true });
    expect(started(sim).beta).toEqual([G1, G2]);
  });
});

describe('controller: random schedules (simulation)', () => {
  type Step =
    | { k: 'standby' | 'takeover'; node: Node; scope: 'all' | 'local' | 'foreign' | 'failback' }
    | { k: 'tick'; ms: number }
    | { k: 'crash' | 'restart'; node: Node }
    | { k: 'link'; up: boolean }
    | { k: 'dup'; on: boolean }
    | { k: 'fail'; node: Node; op: 'start' | 'stop'; resource: number };
  const node = fc.constantFrom<Node>('alpha', 'beta');
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ k: fc.constantFrom('standby' as const, 'takeover' as const), node, scope: fc.constantFrom('all' as const, 'local' as const, 'foreign' as const, 'failback' as const) }),
    fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 100, max: 6000 }) }),
    fc.record({ k: fc.constantFrom('crash' as const, 'restart' as const), node }),
    fc.record({ k: fc.constant('link' as const), up: fc.boolean() }),
    fc.record({ k: fc.constant('dup' as const), on: fc.boolean() }),
    fc.record({ k: fc.constant('fail' as const), node, op: fc.constantFrom('start' as const, 'stop' as const), resource: fc.nat({ max: 5 }) }),
  );
  const RESOURCES = GROUPS.flatMap((g) => g.resources.map((r) => r.text));

  it('never runs a group on both nodes, and with no failures every group ends up running once', () => {
    fc.assert(fc.property(fc.constantFrom<AutoFailback>('on', 'off', 'legacy'), fc.array(step, { maxLength: 40 }), (mode, steps) => {
      const sim = new Sim({ autoFailback: mode, stopRetries: 1, stopRetryMs: 500 }).boot('alpha').boot('beta').meet();
      let failures = false;
      for (const st of steps) {
        switch (st.k) {
          case 'standby': if (sim.ctl.has(st.node)) sim.send(st.node, { type: 'standby-request', scope: st.scope }); break;
          case 'takeover': if (sim.ctl.has(st.node)) sim.send(st.node, { type: 'takeover-request', scope: st.scope }); break;
          case 'tick': sim.tick(st.ms, 250); break;
          case 'crash': if (sim.ctl.has(st.node) && sim.ctl.has(other(st.node))) sim.crash(st.node); break;
          case 'restart': if (!sim.ctl.has(st.node)) sim.boot(st.node).meet(); break;
          case 'link': sim.controlLink = st.up; break;
          case 'dup': sim.duplicate = st.on; break;
          case 'fail': {
            failures = true;
            const map = st.op === 'start' ? sim.failStart : sim.failStop;
            map.set(`${st.node} ${RESOURCES[st.resource]}`, 1);
            break;
          }
        }
      }
      // heal: both nodes running, messages flowing
      sim.controlLink = true;
      for (const n of NODES) if (!sim.ctl.has(n)) sim.boot(n).meet();
      sim.tick(20_000, 500);
      if (!failures) {
        for (const g of [G1, G2]) {
          const where = NODES.filter((n) => sim.groupOn(n, g) === 'all');
          expect(where, `${g} after ${JSON.stringify(steps)}`).toHaveLength(1);
        }
      }
    }), { numRuns: 500 });
  });
});
