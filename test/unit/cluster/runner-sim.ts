// The two-node simulator of the tandem-hb runner: heartbeats, control messages and agent
// operations flow as in the daemon over a fake network with a manual clock; every packet, link,
// failure and ping reply is scripted. After every 20 ms step it checks that no resource runs on
// both nodes (unless a scenario allows it).
import { parseAuthkeys, parseHaCf, parseHaresources, unwrap, type HaCf } from '../../../src/config/heartbeat/index.js';
import type { HaResource } from '../../../src/config/heartbeat/haresources.js';
import { DEFAULT_EXTENSIONS, type HbExtensions } from '../../../src/cluster/ha-extensions.js';
import { HbRunner, type RunnerLogger } from '../../../src/cluster/hb-runner.js';
import { pingTargets } from '../../../src/cluster/ping-nodes.js';
import type { OpResult, ResourceAgent } from '../../../src/cluster/agents/types.js';
import type { LogLevel } from '../../../src/cluster/membership.js';

export type Node = 'node1' | 'node2';

export const HA_CF = unwrap(parseHaCf('keepalive 100ms\ndeadtime 500ms\nwarntime 300ms\ninitdead 1\nudpport 7000\nucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nnode node1 node2\nauto_failback on\nlogfile /dev/null\n'));
export const KEYS = unwrap(parseAuthkeys('auth 1\n1 sha1 s3cret\n'));
export const GROUPS = unwrap(parseHaresources('node1 rec::a rec::b\nnode2 rec::c\n')).groups;
export const other = (n: Node): Node => (n === 'node1' ? 'node2' : 'node1');
const flush = () => new Promise<void>((r) => setImmediate(r));

export interface NodeSim {
  runner: HbRunner;
  generation: number;
  nextBeat: number;
  ops: string[];
  logs: Array<{ level: LogLevel; msg: string }>;
  /** every packet it sent, for replay tests */
  sent: Buffer[];
}

export class Cluster {
  now = 1_000_000;
  nodes = new Map<Node, NodeSim>();
  /** resources running on each node (what the agents did) */
  running = new Map<Node, Set<string>>([['node1', new Set()], ['node2', new Set()]]);
  /** packets pass from the key node to the other */
  wire = new Map<Node, boolean>([['node1', true], ['node2', true]]);
  carrier = new Map<Node, boolean>([['node1', true], ['node2', true]]);
  failStart = new Set<string>();
  failStop = new Set<string>();
  stonithResults: boolean[] = [];
  stonithCalls: string[] = [];
  opsText: string[] = [];
  allowBoth = false;
  private queue: Array<{ to: Node; data: Buffer }> = [];
  private generations = new Map<Node, number>([['node1', 10], ['node2', 20]]);

  /** the ping hosts that answer each node (only with ha.cf `ping`/`ping_group`) */
  reach = new Map<Node, Set<string>>([['node1', new Set()], ['node2', new Set()]]);

  constructor(private readonly ext: HbExtensions = DEFAULT_EXTENSIONS, private readonly stonith = false, private readonly haCf: HaCf = HA_CF) {
    const hosts = [...haCf.ping, ...haCf.pingGroups.flatMap((g) => g.hosts)];
    for (const n of ['node1', 'node2'] as const) this.reach.set(n, new Set(hosts));
  }

  boot(n: Node): this {
    const gen = this.generations.get(n)! + 1;
    this.generations.set(n, gen);
    const sim: NodeSim = { runner: undefined as unknown as HbRunner, generation: gen, nextBeat: this.now, ops: [], logs: [], sent: [] };
    const logger = Object.fromEntries((['debug', 'info', 'warn', 'error', 'fatal'] as const).map((level) =>
      [level, (_: object, msg: string) => sim.logs.push({ level, msg })])) as unknown as RunnerLogger;
    sim.runner = new HbRunner({
      self: n, peer: other(n), haCf: this.haCf, groups: GROUPS, keys: KEYS, generation: gen, ext: this.ext, stonith: this.stonith,
      media: [`ucast eth0 ${n === 'node1' ? '10.0.0.2' : '10.0.0.1'}`], isolationIfaces: ['eth0'],
      ...(this.haCf.ping.length + this.haCf.pingGroups.length > 0
        ? { ping: { targets: pingTargets(this.haCf.ping, this.haCf.pingGroups), deadpingMs: this.haCf.deadpingMs } }
        : {}),
    }, {
      now: () => this.now,
      send: (data) => {
        sim.sent.push(data);
        if (this.wire.get(n) && this.carrier.get(n) && this.carrier.get(other(n))) this.queue.push({ to: other(n), data });
      },
      agentFor: (r) => this.agent(n, r),
      agentClass: (r) => `heartbeat:${r.name}`,
      stonith: async (node) => {
        this.stonithCalls.push(`${n}->${node}`);
        const ok = this.stonithResults.shift() ?? true;
        if (ok) this.crash(node as Node, true); // reset: its daemon and resources are gone
        return { ok, message: ok ? '(rc=0)' : '(rc=1) power switch unreachable' };
      },
      logger,
      ops: (level, msg) => this.opsText.push(`${n} ${level}: ${msg}`),
    });
    this.nodes.set(n, sim);
    return this;
  }

  private agent(n: Node, r: HaResource): ResourceAgent {
    const op = async (what: 'start' | 'stop'): Promise<OpResult> => {
      await flush();
      const sim = this.nodes.get(n);
      sim?.ops.push(`${what} ${r.text}`);
      const fail = what === 'start' ? this.failStart.has(`${n} ${r.text}`) : this.failStop.has(`${n} ${r.text}`);
      if (fail) return { ok: false, rc: 1, message: '(rc=1) unknown error', output: '' };
      if (what === 'start') this.running.get(n)!.add(r.text); else this.running.get(n)!.delete(r.text);
      return { ok: true, rc: 0, message: '', output: '' };
    };
    return {
      agent: r.name,
      start: () => op('start'),
      stop: () => op('stop'),
      status: async () => ({ state: this.running.get(n)!.has(r.text) ? 'running' : 'stopped', detail: '' }),
    };
  }

  /** the node's daemon dies (kill -9); with clear, its resources die too (reset) */
  crash(n: Node, clear = false): this {
    this.nodes.delete(n);
    if (clear) this.running.get(n)!.clear();
    return this;
  }

  /** run for ms of simulated time in 20 ms steps */
  async run(ms: number): Promise<this> {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 20;
      for (const [n, sim] of this.nodes) {
        if (this.now >= sim.nextBeat) {
          sim.runner.sendHeartbeat();
          sim.nextBeat = this.now + this.haCf.keepaliveMs;
          for (const h of this.reach.get(n)!) sim.runner.onPingReply(h); // the pinger's replies
        }
        sim.runner.onLinks(new Set(this.carrier.get(n) ? ['eth0'] : []));
        sim.runner.tick();
      }
      const q = this.queue;
      this.queue = [];
      for (const p of q) this.nodes.get(p.to)?.runner.onDatagram(p.data, `ucast eth0 ${p.to === 'node1' ? '10.0.0.2' : '10.0.0.1'}`, 'peer');
      for (let i = 0; i < 4; i++) await flush();
      this.checkInvariant();
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
    const want = group === 'a' ? ['rec::a', 'rec::b'] : ['rec::c'];
    return want.every((r) => this.running.get(n)!.has(r));
  }

  private checkInvariant(): void {
    if (this.allowBoth) return;
    for (const r of this.running.get('node1')!) {
      if (this.running.get('node2')!.has(r)) throw new Error(`${r} runs on both nodes at ${this.now}`);
    }
  }

  sim(n: Node): NodeSim { return this.nodes.get(n)!; }
}

