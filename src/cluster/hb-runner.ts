// The tandem-hb runner: joins the pure parts (Membership, Controller, IsolationDetector, PingNodes) to the
// outside world handed in as RunnerIo. Datagrams, link samples, timer ticks and operator requests
// come in as method calls; packets, agent operations, STONITH and logs go out through io. It owns
// no timers and no sockets, so tests drive it with a manual clock and a fake network.
import type { AuthKeys } from '../config/heartbeat/authkeys.js';
import type { HaCf } from '../config/heartbeat/ha-cf.js';
import type { HaResource, HaResourceGroup } from '../config/heartbeat/haresources.js';
import type { ResourceAgent, OpResult } from './agents/types.js';
import { controlFromPacket, controlToPacket, isControlPacket } from './control-messages.js';
import { Controller, type ControllerAction, type ControllerEvent, type Scope } from './controller.js';
import type { HbRequest, HbResponse } from './hb-control.js';
import type { HbExtensions } from './ha-extensions.js';
import { IsolationDetector, type IsolationEvent } from './isolation.js';
import { Membership, type LogLevel, type MembershipAction } from './membership.js';
import { PingNodes, type PingEvent, type PingTarget } from './ping-nodes.js';
import type { OpsSink } from './ops-log.js';
import { decodePacket, PacketSender } from './packet.js';
import type { HbStatusSnapshot } from './status-text.js';

export interface RunnerLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
}

export interface RunnerIo {
  now(): number;
  /** send one packet on every heartbeat medium */
  send(data: Buffer): void;
  agentFor(r: HaResource): ResourceAgent;
  /** `heartbeat:IPaddr2`, `lsb:httpd`, … for status output */
  agentClass(r: HaResource): string;
  stonith(node: string): Promise<{ ok: boolean; message: string }>;
  logger: RunnerLogger;
  ops: OpsSink;
  /** told of what metrics count (hb-metrics.ts): group transitions on this node, STONITH results */
  observe?: (n: RunnerNote) => void;
}

export type RunnerNote =
  | { type: 'group'; group: string; transition: string }
  | { type: 'stonith'; node: string; ok: boolean };

export interface RunnerConfig {
  self: string;
  peer: string | null;
  haCf: Pick<HaCf, 'nodes' | 'keepaliveMs' | 'warntimeMs' | 'deadtimeMs' | 'initdeadMs' | 'autoFailback'>;
  groups: readonly HaResourceGroup[];
  keys: AuthKeys;
  generation: number;
  ext: HbExtensions;
  /** a STONITH command is configured */
  stonith: boolean;
  /** names of the active media */
  media: string[];
  /** interfaces of the active media, watched for isolation (empty: never isolated) */
  isolationIfaces: string[];
  ignoredMedia?: string[];
  /** ha.cf's ping nodes (ipfail's rule); absent or empty: not used */
  ping?: { targets: PingTarget[]; deadpingMs: number };
}

type Waiter = { pred: () => boolean; resolve: () => void };

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

function controllerTunables(cfg: Pick<RunnerConfig, 'haCf' | 'groups' | 'ext' | 'stonith'>) {
  const { haCf, ext } = cfg;
  return {
    groups: cfg.groups, autoFailback: haCf.autoFailback, stonith: cfg.stonith,
    stonithRetryMs: ext.stonithRetryMs, stopRetries: ext.stopRetries, stopRetryMs: ext.stopRetryMs,
    // Control traffic follows the heartbeat's pace, within heartbeat-like bounds.
    announceMs: clamp(4 * haCf.keepaliveMs, 500, 2000),
    claimRetryMs: clamp(2 * haCf.keepaliveMs, 200, 1000),
    monitorMaxRestarts: ext.monitor?.maxRestarts,
  };
}

export class HbRunner {
  readonly membership: Membership;
  readonly controller: Controller;
  private readonly sender: PacketSender;
  private readonly isolation: IsolationDetector | null;
  readonly ping: PingNodes | null;
  private pingVersion = 0;
  private lastPingAnnounceMs = 0;
  private peerPingVersion = -1;
  private announceMs: number;
  private readonly agents = new Map<string, ResourceAgent>();
  private readonly waiters: Waiter[] = [];
  private outstanding = 0;
  private nextMonitorMs: number;
  private readonly monitoring = new Set<string>();
  /** the log lines produced while handling an operator request */
  private capture: Array<{ level: LogLevel; msg: string }> | null = null;

  constructor(private cfg: RunnerConfig, private readonly io: RunnerIo) {
    const now = io.now();
    const { haCf } = cfg;
    this.membership = new Membership({
      self: cfg.self, nodes: haCf.nodes, keepaliveMs: haCf.keepaliveMs, warntimeMs: haCf.warntimeMs,
      deadtimeMs: haCf.deadtimeMs, initdeadMs: haCf.initdeadMs, media: cfg.media,
    }, now);
    this.controller = new Controller({ self: cfg.self, peer: cfg.peer, ...controllerTunables(cfg) }, now);
    this.announceMs = clamp(4 * haCf.keepaliveMs, 500, 2000);
    this.ping = cfg.ping && cfg.ping.targets.length > 0
      // Both nodes notice a ping node that died for everyone within about one probe interval of
      // each other: the give-up waits two keepalives for the peer's count to follow.
      ? new PingNodes({ targets: cfg.ping.targets, deadpingMs: cfg.ping.deadpingMs, settleMs: 2 * haCf.keepaliveMs }, now)
      : null;
    this.sender = new PacketSender(cfg.self.toLowerCase(), cfg.generation, cfg.keys.active);
    this.isolation = cfg.ext.isolation && cfg.isolationIfaces.length > 0 ? new IsolationDetector(cfg.isolationIfaces, haCf.deadtimeMs) : null;
    this.nextMonitorMs = now + (cfg.ext.monitor?.intervalMs ?? 0);
  }

  /**
   * tandem-hb reload: what reload-plan.ts decided may change while running (times, keys, groups,
   * STONITH, controller tunables, monitoring). Nodes, media and ping nodes stay as they are.
   */
  reconfigure(next: Pick<RunnerConfig, 'haCf' | 'groups' | 'keys' | 'ext' | 'stonith'>): void {
    const now = this.io.now();
    const old = new Map(this.cfg.groups.map((g) => [g.key, g]));
    this.cfg = { ...this.cfg, ...next };
    const { haCf } = this.cfg;
    this.membership.setTimes({ keepaliveMs: haCf.keepaliveMs, warntimeMs: haCf.warntimeMs, deadtimeMs: haCf.deadtimeMs, initdeadMs: haCf.initdeadMs });
    this.sender.setKey(this.cfg.keys.active);
    this.announceMs = clamp(4 * haCf.keepaliveMs, 500, 2000);
    // an agent belongs to its resource: drop those of groups whose definition changed or went away
    for (const [key, g] of old) {
      if (this.cfg.groups.find((x) => x.key === key) === g) continue;
      for (const k of [...this.agents.keys()]) if (k.startsWith(`${key}#`)) this.agents.delete(k);
    }
    this.nextMonitorMs = now + (this.cfg.ext.monitor?.intervalMs ?? 0);
    this.apply(this.controller.reconfigure(controllerTunables(this.cfg), now));
    this.checkWaiters();
  }

  /** keepalive timer */
  sendHeartbeat(): void {
    this.io.send(this.sender.status('active', this.cfg.haCf.deadtimeMs, this.io.now()));
  }

  onDatagram(data: Uint8Array, medium: string, from: string): void {
    const now = this.io.now();
    const decoded = decodePacket(data, this.cfg.keys.keys);
    const acts = this.membership.onPacket(from, medium, decoded, now);
    this.onMembership(acts);
    const fromPeer = decoded.ok && decoded.packet.src.toLowerCase() !== this.cfg.self.toLowerCase();
    if (fromPeer && this.isolation && !acts.some((a) => a.type === 'drop')) this.onIsolation(this.isolation.onHeard());
  }

  /** link poll: the interfaces of the media that have carrier */
  onLinks(up: ReadonlySet<string>): void {
    if (this.isolation) this.onIsolation(this.isolation.onLinks(up, this.io.now()));
  }

  /** an echo reply from a ping node (pinger.ts) */
  onPingReply(host: string): void {
    if (!this.ping) return;
    this.onPingEvents(this.ping.onReply(host, this.io.now()));
    this.checkWaiters();
  }

  tick(): void {
    const now = this.io.now();
    this.onMembership(this.membership.tick(now));
    if (this.isolation) this.onIsolation(this.isolation.tick(now));
    if (this.ping) {
      this.onPingEvents(this.ping.tick(now));
      if (now - this.lastPingAnnounceMs >= this.announceMs) this.sendPingState();
    }
    this.apply(this.controller.tick(now));
    if (this.cfg.ext.monitor && now >= this.nextMonitorMs) {
      this.nextMonitorMs = now + this.cfg.ext.monitor.intervalMs;
      this.monitor();
    }
    this.checkWaiters();
  }

  async request(req: HbRequest): Promise<HbResponse> {
    switch (req.cmd) {
      case 'ping': return { ok: true };
      case 'status': return { ok: true, data: this.snapshot() };
      case 'standby': return this.operator({ type: 'standby-request', scope: req.scope });
      case 'takeover': return this.operator({ type: 'takeover-request', scope: req.scope });
      case 'cleanup': return this.operator({ type: 'cleanup', group: req.group });
      default: return { ok: false, message: `unknown request '${(req as { cmd?: unknown }).cmd}'`, exitCode: 1 };
    }
  }

  /** Release every group (the peer may claim them) and resolve once none runs here or timeoutMs passed. */
  async shutdown(timeoutMs: number): Promise<boolean> {
    this.feed({ type: 'shutdown' });
    return this.waitFor(() => this.idle(), timeoutMs);
  }

  /** Resolves true once pred holds (checked after every event), false after timeoutMs. */
  waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      const w: Waiter = { pred, resolve: () => { clearTimeout(timer); resolve(true); } };
      this.waiters.push(w);
    });
  }

  /** no group runs or is being started or stopped here, and no agent operation is outstanding */
  idle(): boolean {
    return this.outstanding === 0 && this.controller.status().groups.every((g) => g.local === 'stopped' || g.local === 'failed');
  }

  snapshot(): HbStatusSnapshot {
    const agents: Record<string, string[]> = {};
    for (const g of this.cfg.groups) agents[g.key] = g.resources.map((r) => this.io.agentClass(r));
    return {
      self: this.cfg.self, peer: this.cfg.peer, generation: this.cfg.generation, nowMs: this.io.now(),
      nodes: this.membership.status(), controller: this.controller.status(), agents,
      ignoredMedia: this.cfg.ignoredMedia ?? [],
      ...(this.ping ? { ping: { targets: this.ping.targets(), peerVisible: this.ping.peer } } : {}),
    };
  }

  // --- internals ---

  private operator(e: ControllerEvent): HbResponse {
    this.capture = [];
    try {
      this.feed(e);
      const lines = this.capture;
      const refused = lines.find((l) => l.level === 'error' || l.level === 'fatal');
      return refused
        ? { ok: false, message: refused.msg, exitCode: 1, log: lines.map((l) => l.msg) }
        : { ok: true, log: lines.map((l) => l.msg) };
    } finally {
      this.capture = null;
    }
  }

  private feed(e: ControllerEvent): void {
    this.apply(this.controller.handle(e, this.io.now()));
    this.checkWaiters();
  }

  private onIsolation(events: IsolationEvent[]): void {
    for (const e of events) {
      if (e.type === 'isolated') {
        this.log('error', `All cluster links are down (${e.downIfaces.join(', ')}).`, { ifaces: e.downIfaces }, true);
        this.feed({ type: 'isolation', isolated: true });
      } else {
        this.log('info', e.reason === 'peer-heard' ? 'Cluster links are up: peer heard again.' : 'Cluster links are up (no peer heard within deadtime).', { reason: e.reason }, true);
        this.feed({ type: 'isolation', isolated: false });
      }
    }
  }

  private onMembership(acts: MembershipAction[]): void {
    for (const a of acts) {
      switch (a.type) {
        case 'log': {
          const t = a.fields.transition;
          const medium = a.fields.medium;
          if (typeof medium === 'string' && (t === 'up' || t === 'dead')) {
            this.log(a.level, a.msg, a.fields, false);
            this.io.ops(t === 'up' ? 'info' : 'warn', `Link ${String(a.fields.node)}:${medium} is ${t === 'up' ? 'up' : 'FAULTY'}.`);
          } else this.log(a.level, a.msg, a.fields, false);
          break;
        }
        case 'node-dead':
          this.io.ops('warn', `Node ${a.node} is lost.`);
          if (this.isPeer(a.node)) this.onPeerPing(null);
          this.feed({ type: 'membership', node: a.node, state: 'dead' });
          break;
        case 'node-up':
          this.io.ops('info', `Node ${a.node} is member.`);
          this.feed({ type: 'membership', node: a.node, state: 'up', restarted: a.restarted });
          if (this.isPeer(a.node)) {
            this.onPeerPing(null); // a restarted peer counts its versions from 1 again
            this.sendPingState();
          }
          break;
        case 'deliver': {
          const p = a.packet;
          if (!isControlPacket(p)) {
            this.io.logger.debug({ node: a.node, type: p.type }, `ignored a '${p.type}' packet from ${a.node}`);
            break;
          }
          const c = controlFromPacket(p);
          if (!c.ok) {
            this.io.logger.warn({ node: a.node, type: p.type, detail: c.detail }, `dropped control message from ${a.node}: ${c.detail}`);
            break;
          }
          if (c.msg.type === 'ping-state') {
            if (!this.isPeer(a.node)) break;
            if (!this.ping) {
              this.io.logger.debug({ node: a.node }, `ignored ping_state from ${a.node}: no ping nodes configured here`);
              break;
            }
            if (c.msg.version <= this.peerPingVersion) break; // a late copy
            this.peerPingVersion = c.msg.version;
            if (c.msg.total !== this.ping.total) {
              this.io.logger.warn({ node: a.node, peerTotal: c.msg.total, total: this.ping.total }, `${a.node} has ${c.msg.total} ping nodes, ${this.cfg.self} has ${this.ping.total}: ha.cf differs`);
            }
            this.onPeerPing(c.msg.visible);
            break;
          }
          this.feed({ type: 'control', from: a.node, msg: c.msg });
          break;
        }
        case 'late-heartbeat':
        case 'drop':
          break; // membership logged them
      }
    }
  }

  private isPeer(node: string): boolean {
    return this.cfg.peer !== null && node.toLowerCase() === this.cfg.peer.toLowerCase();
  }

  private onPeerPing(visible: number | null): void {
    if (!this.ping) return;
    if (visible === null) this.peerPingVersion = -1;
    this.ping.onPeer(visible);
    this.decidePing();
  }

  private onPingEvents(events: PingEvent[]): void {
    if (!this.ping) return;
    for (const e of events) {
      const fields = { target: e.target, visible: e.visible, total: this.ping.total };
      if (e.type === 'lost') this.log('error', `Network to ${e.target} is unreachable.`, fields, true);
      else this.log('info', `Network to ${e.target} is reachable again.`, fields, true);
    }
    if (events.length > 0) this.sendPingState();
    this.decidePing();
  }

  /** ipfail: the node that sees fewer ping nodes gives its groups to the peer. */
  private decidePing(): void {
    if (!this.ping) return;
    const d = this.ping.decide(this.io.now());
    const fields = { visible: d.visible, peerVisible: d.peerVisible, total: this.ping.total };
    switch (d.action) {
      case 'none': return;
      case 'release-groups':
        this.log('error', `Giving up because we have less visible ping nodes. (${d.visible} of ${this.ping.total}, ${this.cfg.peer} sees ${d.peerVisible})`, fields, true);
        this.feed({ type: 'standby-request', scope: 'all' });
        return;
      case 'take-groups':
        // The peer gives its groups up by the same rule; our claims then go through its grants.
        this.log('info', `Telling other node that we have more visible ping nodes. (${d.visible} of ${this.ping.total}, ${this.cfg.peer} sees ${d.peerVisible})`, fields, true);
        this.sendPingState();
        return;
    }
  }

  private sendPingState(): void {
    if (!this.ping || !this.cfg.peer) return;
    const now = this.io.now();
    this.lastPingAnnounceMs = now;
    if (this.controller.status().peerState !== 'up') return;
    this.pingVersion += 1;
    const { type, fields } = controlToPacket({ type: 'ping-state', version: this.pingVersion, visible: this.ping.visible, total: this.ping.total });
    this.io.send(this.sender.build(type, fields, now, this.cfg.peer));
  }

  private apply(actions: ControllerAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'log':
          this.log(a.level, a.msg, a.fields, a.level !== 'debug');
          if (typeof a.fields.group === 'string' && typeof a.fields.transition === 'string') {
            this.io.observe?.({ type: 'group', group: a.fields.group, transition: a.fields.transition });
          }
          break;
        case 'send-control': {
          const { type, fields } = controlToPacket(a.msg);
          if (this.cfg.peer) this.io.send(this.sender.build(type, fields, this.io.now(), this.cfg.peer));
          break;
        }
        case 'start-resource':
        case 'stop-resource': {
          const op = a.type === 'start-resource' ? 'start' : 'stop';
          this.runOp(a.group, a.index, a.resource, op);
          break;
        }
        case 'stonith':
          this.runStonith(a.node);
          break;
      }
    }
  }

  private agent(group: string, index: number, r: HaResource): ResourceAgent {
    const key = `${group}#${index}`;
    let a = this.agents.get(key);
    if (!a) {
      a = this.io.agentFor(r);
      this.agents.set(key, a);
    }
    return a;
  }

  private runOp(group: string, index: number, r: HaResource, op: 'start' | 'stop'): void {
    this.outstanding += 1;
    const started = this.io.now();
    let p: Promise<OpResult>;
    try {
      const agent = this.agent(group, index, r);
      p = op === 'start' ? agent.start() : agent.stop();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.catch((e: Error): OpResult => ({ ok: false, rc: null, message: `(agent error: ${e.message})`, output: '' }))
      .then((res) => {
        this.outstanding -= 1;
        const fields = { group, resource: r.text, op, rc: res.rc, ms: this.io.now() - started, output: res.output.slice(-2000) };
        if (res.ok) this.io.logger.debug(fields, `${op} ${r.text}: ok`);
        else this.io.logger.error({ ...fields, reason: res.message }, `${op} ${r.text} failed ${res.message}`);
        this.feed({ type: 'resource-result', group, index, op, ok: res.ok, message: res.ok ? undefined : res.message });
      });
  }

  private runStonith(node: string): void {
    this.io.ops('info', `Resetting node ${node} (STONITH).`);
    this.io.stonith(node)
      .catch((e: Error) => ({ ok: false, message: e.message }))
      .then((r) => {
        this.io.ops(r.ok ? 'info' : 'error', r.ok ? `STONITH of ${node} succeeded.` : `STONITH of ${node} failed. ${r.message}`);
        this.io.observe?.({ type: 'stonith', node, ok: r.ok });
        this.feed({ type: 'stonith-result', node, ok: r.ok, message: r.message });
      });
  }

  private monitor(): void {
    for (const g of this.controller.status().groups) {
      if (g.local !== 'started' || this.monitoring.has(g.group)) continue;
      const def = this.cfg.groups.find((x) => x.key === g.group);
      if (!def) continue;
      this.monitoring.add(g.group);
      void (async () => {
        try {
          for (let i = 0; i < def.resources.length; i++) {
            const st = await this.agent(def.key, i, def.resources[i]!).status().catch((e: Error) => ({ state: 'stopped' as const, detail: e.message }));
            if (st.state === 'stopped') {
              this.feed({ type: 'monitor-failed', group: def.key, index: i, message: st.detail });
              return;
            }
          }
        } finally {
          this.monitoring.delete(def.key);
        }
      })();
    }
  }

  private log(level: LogLevel, msg: string, fields: Record<string, unknown>, ops: boolean): void {
    this.io.logger[level](fields, msg);
    if (ops) this.io.ops(level, msg);
    this.capture?.push({ level, msg });
  }

  private checkWaiters(): void {
    for (const w of [...this.waiters]) {
      if (w.pred()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }
}

export type { Scope };
