// Controller.reconfigure (tandem-hb reload) on two controllers passing messages directly:
// a group added on one node first is claimed again once the peer knows it too (the "haresources
// differ" error said once per side), running groups are left alone, a changed definition of a
// group that does not run here is the one started at takeover, and replacing a running group is
// refused.
import { describe, expect, it } from 'vitest';
import { Controller, type ControllerAction, type ControllerConfig, type ControllerEvent } from '../../../src/cluster/controller.js';
import { parseHaresources, unwrap } from '../../../src/config/heartbeat/index.js';

type Node = 'n1' | 'n2';
const other = (n: Node): Node => (n === 'n1' ? 'n2' : 'n1');
const groups = (text: string) => unwrap(parseHaresources(text)).groups;

class Pair {
  now = 0;
  ctl = new Map<Node, Controller>();
  running = new Map<Node, Set<string>>([['n1', new Set()], ['n2', new Set()]]);
  ops: string[] = [];
  logs: string[] = [];
  private queue: Array<[Node, ControllerEvent]> = [];

  constructor(text: string) {
    for (const n of ['n1', 'n2'] as const) {
      this.ctl.set(n, new Controller({ self: n, peer: other(n), groups: groups(text), autoFailback: 'on', stonith: false, stopRetries: 0 }, 0));
    }
    for (const n of ['n1', 'n2'] as const) this.send(n, { type: 'membership', node: other(n), state: 'up' });
  }
  send(node: Node, e: ControllerEvent): void {
    this.queue.push([node, e]);
    this.run();
  }
  reconfigure(node: Node, text: string, extra: Partial<ControllerConfig> = {}): ControllerAction[] {
    const acts = this.ctl.get(node)!.reconfigure({ groups: groups(text), autoFailback: 'on', stonith: false, stopRetries: 0, ...extra }, this.now);
    this.apply(node, acts);
    this.run();
    return acts;
  }
  tick(ms: number): void {
    for (let t = 0; t < ms; t += 100) {
      this.now += 100;
      for (const [n, c] of this.ctl) this.apply(n, c.tick(this.now));
      this.run();
    }
  }
  crash(node: Node): void {
    this.ctl.delete(node);
    this.running.get(node)!.clear();
    this.send(other(node), { type: 'membership', node, state: 'dead' });
  }
  private run(): void {
    let budget = 5000;
    while (this.queue.length > 0) {
      if (--budget === 0) throw new Error(`livelock: ${this.logs.slice(-8).join(' | ')}`);
      const [node, e] = this.queue.shift()!;
      const c = this.ctl.get(node);
      if (c) this.apply(node, c.handle(e, this.now));
    }
  }
  private apply(node: Node, acts: ControllerAction[]): void {
    for (const a of acts) {
      if (a.type === 'log') this.logs.push(`${node} ${a.level}: ${a.msg}`);
      else if (a.type === 'send-control') { if (this.ctl.has(other(node))) this.queue.push([other(node), { type: 'control', from: node, msg: a.msg }]); }
      else if (a.type === 'start-resource' || a.type === 'stop-resource') {
        const op = a.type === 'start-resource' ? 'start' : 'stop';
        this.ops.push(`${node} ${op} ${a.resource.text}`);
        if (op === 'start') this.running.get(node)!.add(a.resource.text); else this.running.get(node)!.delete(a.resource.text);
        this.queue.push([node, { type: 'resource-result', group: a.group, index: a.index, op, ok: true }]);
      }
    }
  }
}

const BASE = 'n1 rec::a rec::b\nn2 rec::c\n';

describe('Controller.reconfigure', () => {
  it('a group added on its owner first waits for the peer, then starts; the running groups are not touched', () => {
    const p = new Pair(BASE);
    expect([...p.running.get('n1')!]).toEqual(['rec::a', 'rec::b']);
    const before = p.ops.length;
    p.reconfigure('n1', `${BASE}n1 rec::d\n`);
    p.tick(5000);
    expect(p.running.get('n1')!.has('rec::d')).toBe(false); // n2 does not know it: no grant
    expect(p.logs.filter((l) => l === 'n1 error: haresources differ between n1 and n2: the peer has no group rec::d')).toHaveLength(1);
    expect(p.logs.filter((l) => l === 'n2 error: peer claimed unknown group rec::d: haresources differ between the nodes')).toHaveLength(1);
    p.reconfigure('n2', `${BASE}n1 rec::d\n`);
    p.tick(3000);
    expect(p.running.get('n1')!.has('rec::d')).toBe(true);
    expect(p.running.get('n2')!.has('rec::d')).toBe(false);
    expect(p.ops.slice(before)).toEqual(['n1 start rec::d']);
  });

  it('a group changed where it does not run: the new definition is what a takeover starts', () => {
    const p = new Pair(BASE);
    p.reconfigure('n1', 'n1 rec::a rec::b\nn2 rec::c rec::e\n');
    p.reconfigure('n2', 'n1 rec::a rec::b\nn2 rec::c rec::e\n'.replace('rec::c rec::e', 'rec::c'));
    expect(p.running.get('n2')!.has('rec::c')).toBe(true); // still the old one there
    p.crash('n2');
    expect([...p.running.get('n1')!]).toEqual(['rec::a', 'rec::b', 'rec::c', 'rec::e']);
  });

  it('a removed group that does not run here is forgotten, and the status follows the new file', () => {
    const p = new Pair(BASE);
    p.reconfigure('n1', 'n1 rec::a rec::b\n');
    expect(p.ctl.get('n1')!.status().groups.map((g) => g.group)).toEqual(['rec::a']);
    expect(p.ctl.get('n1')!.status().groups[0]!.local).toBe('started');
  });

  it('refuses to replace or drop a group that runs here', () => {
    const p = new Pair(BASE);
    expect(() => p.reconfigure('n1', 'n1 rec::a rec::x\nn2 rec::c\n')).toThrow(/group rec::a is started here and cannot be replaced/);
    expect(() => p.reconfigure('n1', 'n2 rec::c\n')).toThrow(/group rec::a is started here and cannot be removed/);
    expect([...p.running.get('n1')!]).toEqual(['rec::a', 'rec::b']);
  });

  it('new tunables apply: auto_failback off keeps a group where it runs when its owner returns', () => {
    const p = new Pair(BASE);
    p.reconfigure('n2', BASE, { autoFailback: 'off' });
    p.crash('n1');
    expect(p.running.get('n2')!.has('rec::a')).toBe(true);
    p.ctl.set('n1', new Controller({ self: 'n1', peer: 'n2', groups: groups(BASE), autoFailback: 'off', stonith: false }, p.now));
    p.send('n1', { type: 'membership', node: 'n2', state: 'up' });
    p.send('n2', { type: 'membership', node: 'n1', state: 'up', restarted: true });
    p.tick(3000);
    expect(p.running.get('n2')!.has('rec::a')).toBe(true);
    expect(p.running.get('n1')!.has('rec::a')).toBe(false);
  });
});
