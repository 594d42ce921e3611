// ipfail's rule between two runners on a fake network with a manual clock: each node's pinger is
// simulated by feeding onPingReply every keepalive while its ping node is reachable from it. After
// every 20 ms step the test checks that no resource runs on both nodes.
import { describe, expect, it } from 'vitest';
import { parseAuthkeys, parseHaCf, parseHaresources, unwrap } from '../../../src/config/heartbeat/index.js';
import type { HaResource } from '../../../src/config/heartbeat/haresources.js';
import { DEFAULT_EXTENSIONS } from '../../../src/cluster/ha-extensions.js';
import { HbRunner, type RunnerLogger } from '../../../src/cluster/hb-runner.js';
import { pingTargets } from '../../../src/cluster/ping-nodes.js';
import type { OpResult, ResourceAgent } from '../../../src/cluster/agents/types.js';

const HA_CF = unwrap(parseHaCf('keepalive 100ms\ndeadtime 500ms\nwarntime 300ms\ninitdead 1\nudpport 7000\nucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nnode node1 node2\nauto_failback on\nlogfile /dev/null\nping 10.0.0.254\nping_group uplinks 192.0.2.1 192.0.2.2\n'));
const KEYS = unwrap(parseAuthkeys('auth 1\n1 sha1 s3cret\n'));
const GROUPS = unwrap(parseHaresources('node1 rec::a rec::b\nnode2 rec::c\n')).groups;
const PING_HOSTS = ['10.0.0.254', '192.0.2.1', '192.0.2.2'];
type Node = 'node1' | 'node2';
const other = (n: Node): Node => (n === 'node1' ? 'node2' : 'node1');
const flush = () => new Promise<void>((r) => setImmediate(r));

class Cluster {
  now = 1_000_000;
  runners = new Map<Node, HbRunner>();
  ops = new Map<Node, string[]>([['node1', []], ['node2', []]]);
  running = new Map<Node, Set<string>>([['node1', new Set()], ['node2', new Set()]]);
  /** the ping hosts that answer each node */
  reach = new Map<Node, Set<string>>([['node1', new Set(PING_HOSTS)], ['node2', new Set(PING_HOSTS)]]);
  opsText: string[] = [];
  private queue: Array<{ to: Node; data: Buffer }> = [];
  private nextBeat = 0;

  boot(n: Node, generation: number): this {
    const logger = Object.fromEntries((['debug', 'info', 'warn', 'error', 'fatal'] as const).map((l) => [l, () => undefined])) as unknown as RunnerLogger;
    this.runners.set(n, new HbRunner({
      self: n, peer: other(n), haCf: HA_CF, groups: GROUPS, keys: KEYS, generation, ext: DEFAULT_EXTENSIONS, stonith: false,
      media: [`ucast eth0 ${n === 'node1' ? '10.0.0.2' : '10.0.0.1'}`], isolationIfaces: ['eth0'],
      ping: { targets: pingTargets(HA_CF.ping, HA_CF.pingGroups), deadpingMs: HA_CF.deadpingMs },
    }, {
      now: () => this.now,
      send: (data) => this.queue.push({ to: other(n), data }),
      agentFor: (r) => this.agent(n, r),
      agentClass: (r) => `heartbeat:${r.name}`,
      stonith: async () => ({ ok: false, message: 'not configured' }),
      logger,
      ops: (level, msg) => this.opsText.push(`${n} ${level}: ${msg}`),
    }));
    return this;
  }

  private agent(n: Node, r: HaResource): ResourceAgent {
    const op = async (what: 'start' | 'stop'): Promise<OpResult> => {
      await flush();
      this.ops.get(n)!.push(`${what} ${r.text}`);
      if (what === 'start') this.running.get(n)!.add(r.text); else this.running.get(n)!.delete(r.text);
      return { ok: true, rc: 0, message: '', output: '' };
    };
    return {
      agent: r.name, start: () => op('start'), stop: () => op('stop'),
      status: async () => ({ state: this.running.get(n)!.has(r.text) ? 'running' : 'stopped', detail: '' }),
    };
  }

  async run(ms: number): Promise<this> {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 20;
      const beat = this.now >= this.nextBeat;
      if (beat) this.nextBeat = this.now + HA_CF.keepaliveMs;
      for (const [n, runner] of this.runners) {
        if (beat) {
          runner.sendHeartbeat();
          for (const h of this.reach.get(n)!) runner.onPingReply(h); // the pinger's replies
        }
        runner.onLinks(new Set(['eth0']));
        runner.tick();
      }
      const q = this.queue;
      this.queue = [];
      for (const p of q) this.runners.get(p.to)?.onDatagram(p.data, `ucast eth0 ${p.to === 'node1' ? '10.0.0.2' : '10.0.0.1'}`, 'peer');
      for (let i = 0; i < 4; i++) await flush();
      for (const r of this.running.get('node1')!) {
        if (this.running.get('node2')!.has(r)) throw new Error(`${r} runs on both nodes at ${this.now}`);
      }
    }
    return this;
  }

  async until(pred: () => boolean, maxMs: number): Promise<number> {
    const start = this.now;
    while (!pred()) {
      if (this.now - start > maxMs) throw new Error(`condition not met within ${maxMs} ms of simulated time`);
      await this.run(20);
    }
    return this.now - start;
  }

  holds(n: Node, group: 'a' | 'c'): boolean {
    return (group === 'a' ? ['rec::a', 'rec::b'] : ['rec::c']).every((r) => this.running.get(n)!.has(r));
  }
}

async function started(): Promise<Cluster> {
  const c = new Cluster().boot('node1', 11).boot('node2', 21);
  await c.until(() => c.holds('node1', 'a') && c.holds('node2', 'c'), 3000);
  await c.run(600); // ping_state exchanged
  for (const n of ['node1', 'node2'] as const) c.ops.get(n)!.length = 0;
  return c;
}

describe('tandem-hb runner: ping nodes (ipfail)', () => {
  it('node1 loses its ping node while node2 still sees it: the group moves to node2 once, in order', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('10.0.0.254');
    const took = await c.until(() => c.holds('node2', 'a'), 3000);
    // lost after deadping, given up after settling, then stop + grant + start
    expect(took).toBeGreaterThanOrEqual(HA_CF.deadpingMs);
    expect(took).toBeLessThan(HA_CF.deadpingMs + 1000);
    expect(c.ops.get('node1')).toEqual(['stop rec::b', 'stop rec::a']);
    expect(c.ops.get('node2')).toEqual(['start rec::a', 'start rec::b']);
    expect(c.holds('node2', 'c')).toBe(true);
    const story = c.opsText.filter((l) => l.startsWith('node1'));
    expect(story).toContain('node1 error: Network to 10.0.0.254 is unreachable.');
    expect(story.some((l) => l.includes('Giving up because we have less visible ping nodes. (1 of 2, node2 sees 2)'))).toBe(true);
    expect(c.opsText.some((l) => l.startsWith('node2 info: Telling other node that we have more visible ping nodes.'))).toBe(true);

    // The ping node answers again: counts are equal, nothing moves back (ipfail), even with auto_failback on.
    c.reach.get('node1')!.add('10.0.0.254');
    await c.run(2000);
    expect(c.holds('node2', 'a')).toBe(true);
    expect(c.ops.get('node1')).toEqual(['stop rec::b', 'stop rec::a']);
    expect(c.opsText).toContain('node1 info: Network to 10.0.0.254 is reachable again.');
  });

  it('one member of a ping_group down changes nothing: the group is still visible', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('192.0.2.1');
    await c.run(2000);
    expect(c.holds('node1', 'a')).toBe(true);
    expect(c.ops.get('node1')).toEqual([]);
    expect(c.ops.get('node2')).toEqual([]);
  });

  it('the ping node dies for both nodes: equal counts, nothing moves', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('10.0.0.254');
    await c.run(60); // node1 notices first, within a probe interval
    c.reach.get('node2')!.delete('10.0.0.254');
    await c.run(3000);
    expect(c.holds('node1', 'a')).toBe(true);
    expect(c.holds('node2', 'c')).toBe(true);
    expect(c.ops.get('node1')).toEqual([]);
    expect(c.ops.get('node2')).toEqual([]);
    expect(c.opsText.some((l) => l.includes('Giving up'))).toBe(false);
  });

  it('then node2 loses its ping group while node1 sees everything again: the groups go to node1', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('10.0.0.254');
    await c.until(() => c.holds('node2', 'a'), 3000);
    c.reach.get('node1')!.add('10.0.0.254');
    c.reach.get('node2')!.delete('192.0.2.1');
    c.reach.get('node2')!.delete('192.0.2.2');
    await c.until(() => c.holds('node1', 'a') && c.holds('node1', 'c'), 4000);
    expect(c.running.get('node2')!.size).toBe(0);
  });
});
