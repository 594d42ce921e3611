// tandem-hb's daemon shell: configuration, the generation file, the UDP media, the timers, the
// control socket and the pid file around an HbRunner. Everything that decides lives elsewhere.
import dns from 'node:dns/promises';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { HaResource } from '../config/heartbeat/haresources.js';
import { systemAgentContext } from './agents/context.js';
import { runCommand } from './agents/exec.js';
import { agentFor } from './agents/resolve.js';
import { INIT_DIRS, locateScript } from './agents/script.js';
import { defaultTandemAdmCommand } from './agents/tandemdisk.js';
import { serveJsonLines } from '../daemon/json-lines-socket.js';
import { bumpGenerationFile } from './generation-file.js';
import { hbPidPath, hbSocketPath, type HbRequest, type HbResponse } from './hb-control.js';
import { HbConfigError, loadHbSetup, type HbSetup } from './ha-load.js';
import { planReload } from './reload-plan.js';
import { checkHaSetup } from '../config/heartbeat/index.js';
import { describeLogPlan, HaLogStream, haLogPlan } from './ha-logging.js';
import { HbRunner } from './hb-runner.js';
import { Respawner, systemRespawnIo } from './respawn.js';
import { buildHbRegistry } from './hb-metrics.js';
import { MetricsServer } from '../net/metrics-server.js';
import { WebStatus } from '../web/web-status.js';
import { interfacesWithCarrier } from './link-state.js';
import { HbTransport, ipv4Addresses } from './media.js';
import { planMedia, type MediaPlan } from './media-plan.js';
import { fileOpsSink, type OpsSink } from './ops-log.js';
import { pingTargets } from './ping-nodes.js';
import { Pinger, pingTimeoutS } from './pinger.js';
import { planStonith } from './stonith.js';
import { runStonith } from './stonith.js';

export interface HbDaemonOptions {
  haDir: string;
  node: string;
  runDir: string;
  /** --bind: the address the UDP sockets bind to, and this host's own address for ucast lines */
  bindAddress: string | null;
  logger: Logger;
}

export const OPS_LOG = 'tandem-hb.ops.log';

export function agentClass(r: HaResource, haDir: string): string {
  switch (r.kind) {
    case 'ipaddr': return `heartbeat:${r.agent}`;
    case 'filesystem': return 'heartbeat:Filesystem';
    case 'tandemdisk': return `tandem:${r.agent}`;
    case 'script': {
      const p = locateScript(r.name, haDir);
      if (!p) return `missing:${r.name}`;
      return (INIT_DIRS as readonly string[]).includes(path.dirname(p)) ? `lsb:${r.name}` : `heartbeat:${r.name}`;
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class HbDaemon {
  private setup!: HbSetup;
  private runner!: HbRunner;
  private transport: HbTransport | null = null;
  private pinger: Pinger | null = null;
  private server: net.Server | null = null;
  private timers: NodeJS.Timeout[] = [];
  private plan!: MediaPlan;
  private log: Logger;
  private respawner: Respawner | null = null;
  private metrics: MetricsServer | null = null;
  private logStream: HaLogStream | null = null;
  private stonithPlan: ReturnType<typeof planStonith> = null;
  private ops: OpsSink | null = null;
  private reloading = false;
  private web: WebStatus | null = null;

  constructor(private readonly opts: HbDaemonOptions) {
    this.log = opts.logger;
  }

  /** Throws HbConfigError on a configuration problem (nothing started then). */
  loadConfig(): HbSetup {
    this.setup = loadHbSetup(this.opts.haDir, this.opts.node);
    for (const w of this.setup.warnings) this.log.warn({ file: w.file, line: w.line }, w.message);
    return this.setup;
  }

  async start(): Promise<void> {
    const s = this.setup ?? this.loadConfig();
    // ha.cf's logfacility / use_logd / logfile / debugfile / debug (ha-logging.ts)
    const plan = haLogPlan(s.haCf.logging, s.haCf.debug);
    const base = this.opts.logger;
    this.logStream = new HaLogStream(plan, pino.levels.values[base.level] ?? 30);
    this.log = pino({ level: pino.levels.labels[this.logStream.minLevel()] ?? 'info', base: base.bindings() }, this.logStream);
    this.log.info({ ...plan }, `logging: ${describeLogPlan(plan)}`);
    const { runDir } = this.opts;
    fs.mkdirSync(runDir, { recursive: true });
    const pidFile = hbPidPath(runDir);
    try {
      const old = Number(fs.readFileSync(pidFile, 'utf8').trim());
      if (Number.isInteger(old) && old > 0 && old !== process.pid && processAlive(old)) {
        throw new Error(`tandem-hb is already running (pid ${old}, ${pidFile})`);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }

    // Media: resolve ucast peers, drop the lines that name this host.
    const resolved = new Map<string, string>();
    for (const m of s.haCf.media) {
      if (m.kind !== 'ucast' || resolved.has(m.peer)) continue;
      try {
        resolved.set(m.peer, (await dns.lookup(m.peer, { family: 4 })).address);
      } catch (e) {
        this.log.error({ peer: m.peer, err: (e as Error).message }, `cannot resolve ucast peer ${m.peer}; that medium stays silent`);
      }
    }
    const own = new Set(this.opts.bindAddress ? [this.opts.bindAddress] : ipv4Addresses().map((a) => a.address));
    this.plan = planMedia(s.haCf.media, own, resolved);
    for (const i of this.plan.ignored) this.log.info({ medium: i.name }, `ignoring ${i.name}: ${i.reason}`);
    if (this.plan.active.length === 0) throw new Error('no heartbeat medium left after ignoring the ucast lines that name this host');

    const { generation, seeded } = bumpGenerationFile(runDir);
    if (seeded) this.log.info({ generation }, `No previous generation - starting at ${generation}`);

    this.stonithPlan = planStonith(s.haCf.stonithHosts, s.self, s.haDir);
    const fileOps = fileOpsSink([path.join(runDir, OPS_LOG)], s.self, (file, err) => this.log.error({ file, err: err.message }, 'cannot write the operational log'));
    // the status page lists the operational log's lines as they are written
    const ops: typeof fileOps = (level, msg) => {
      fileOps(level, msg);
      this.web?.opsLine(level, msg);
    };
    this.ops = ops;
    const ctx = systemAgentContext({ start: s.ext.timeoutsMs.start, stop: s.ext.timeoutsMs.stop, status: s.ext.timeoutsMs.status }, this.log);
    const tandemAdm = { command: defaultTandemAdmCommand(), node: s.self, config: s.ext.tandemConfig, runDir: s.ext.tandemRunDir };

    const hbMetrics = s.ext.metrics ? buildHbRegistry(() => this.runner.controller.status(), () => this.runner.membership.status()) : null;
    this.transport = new HbTransport(this.plan.active, { bindAddress: this.opts.bindAddress, logger: this.log });
    this.runner = new HbRunner({
      self: s.self, peer: s.peer, haCf: s.haCf, groups: s.haresources.groups, keys: s.authkeys, generation, ext: s.ext,
      stonith: this.stonithPlan !== null,
      media: this.plan.active.map((m) => m.name),
      isolationIfaces: [...new Set(this.plan.active.map((m) => m.medium.iface))],
      ignoredMedia: this.plan.ignored.map((i) => `${i.name} (${i.reason})`),
      ping: { targets: pingTargets(s.haCf.ping, s.haCf.pingGroups), deadpingMs: s.haCf.deadpingMs },
    }, {
      now: () => Date.now(),
      send: (data) => this.transport?.send(data),
      agentFor: (r) => agentFor(r, ctx, { haDir: s.haDir, tandemAdm }),
      agentClass: (r) => agentClass(r, s.haDir),
      stonith: (node) => this.stonithPlan
        ? runStonith(runCommand, this.stonithPlan, node, this.setup.ext.timeoutsMs.stonith)
        : Promise.resolve({ ok: false, message: 'no stonith_host configured' }),
      logger: this.log,
      ops,
      observe: (n) => hbMetrics?.observe(n),
    });

    await this.transport.start((data, medium, from) => this.runner.onDatagram(data, medium, from));
    this.respawner = new Respawner(s.respawn, systemRespawnIo(this.log), () => this.respawnEnv());
    this.respawner.start();
    const sameListener = !!s.ext.metrics && !!s.ext.web && s.ext.metrics.host === s.ext.web.host && s.ext.metrics.port === s.ext.web.port;
    const registry = hbMetrics?.registry;
    if (s.ext.metrics && registry && !sameListener) {
      // monitoring is not worth losing the cluster over: a listener that cannot bind is logged
      const m = new MetricsServer(s.ext.metrics, registry);
      try {
        await m.listen();
        this.metrics = m;
        this.log.info({ metrics: `http://${s.ext.metrics.host}:${m.port}/metrics` }, 'serving Prometheus metrics');
      } catch (e) {
        this.log.error({ err: (e as Error).message, address: s.ext.metrics }, 'cannot serve Prometheus metrics; going on without them');
      }
    }
    if (s.ext.web) {
      const web = new WebStatus({
        address: s.ext.web, users: s.webUsers,
        tandemdRunDir: s.ext.tandemRunDir ?? process.env.TANDEM_RUN_DIR ?? '/run/tandem',
        snapshot: () => this.runner.snapshot(),
        request: (req) => this.runner.request(req),
        ops,
        metrics: sameListener ? registry : undefined,
        logger: this.log,
      });
      try {
        await web.start();
        this.web = web;
        this.log.info({ web: `http://${s.ext.web.host}:${web.server.port}/`, actions: s.webUsers !== null, metrics: sameListener }, 'serving the status page');
      } catch (e) {
        await web.stop().catch(() => undefined);
        this.log.error({ err: (e as Error).message, address: s.ext.web }, 'cannot serve the status page; going on without it');
      }
    }
    this.server = await serveJsonLines<HbRequest, HbResponse>(hbSocketPath(runDir),
      (req) => (req.cmd === 'reload' ? this.reload('tandem-hb reload') : this.runner.request(req)),
      (err) => this.log.error({ err: err.message }, 'control socket error'), {
        malformed: () => ({ ok: false, message: 'malformed request', exitCode: 1 }),
        failed: (err) => ({ ok: false, message: err.message, exitCode: 1 }),
      });
    fs.writeFileSync(pidFile, `${process.pid}\n`);

    const targets = pingTargets(s.haCf.ping, s.haCf.pingGroups);
    if (targets.length > 0) {
      const warned = new Set<string>();
      this.pinger = new Pinger(targets.flatMap((t) => t.hosts), pingTimeoutS(s.haCf.keepaliveMs), (host, r) => {
        if (r.ok) { warned.delete(host); this.runner.onPingReply(host); return; }
        // Log a failing ping node once per failure streak, not once per keepalive.
        if (warned.has(host)) return;
        warned.add(host);
        this.log.warn({ host, detail: r.detail }, `ping ${host}: ${r.detail}`);
      });
    }
    this.runner.sendHeartbeat();
    this.startTimers();
    this.log.info({ node: s.self, peer: s.peer, generation, media: this.plan.active.map((m) => m.name), groups: s.haresources.groups.map((g) => g.key) },
      `tandem-hb started on ${s.self} (generation ${generation})`);
    ops('info', `tandem-hb started on ${s.self}.`);
  }

  /** the keepalive-paced timers, (re)started with the current keepalive */
  private startTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const k = this.setup.haCf.keepaliveMs;
    const ifaces = [...new Set(this.plan.active.map((m) => m.medium.iface))];
    this.timers.push(setInterval(() => this.runner.sendHeartbeat(), k));
    this.timers.push(setInterval(() => this.runner.tick(), Math.min(250, Math.max(20, Math.floor(k / 4)))));
    const pollLinks = () => void interfacesWithCarrier(ifaces).then((up) => this.runner.onLinks(up));
    pollLinks();
    this.timers.push(setInterval(pollLinks, Math.min(500, Math.max(50, Math.floor(k / 2)))));
    if (this.pinger) {
      const probe = () => this.pinger?.probe();
      probe();
      this.timers.push(setInterval(probe, k));
    }
  }

  /**
   * `tandem-hb reload` and SIGHUP: reread ha.cf, authkeys and haresources. Invalid files are
   * refused as a whole (the running configuration stays, the reasons are logged); otherwise what
   * can change while running is applied (reload-plan.ts) and the rest is named as waiting for a
   * restart. Nothing that runs is stopped, but for respawn clients whose line went away.
   */
  async reload(trigger: string): Promise<HbResponse> {
    if (this.reloading) return { ok: false, message: 'a reload is already running', exitCode: 1 };
    this.reloading = true;
    const lines: string[] = [];
    const say = (level: 'info' | 'warn' | 'error', msg: string, ops = false) => {
      this.log[level]({ trigger }, msg);
      if (ops) this.ops?.(level, msg);
      lines.push(level === 'info' ? msg : `${level === 'warn' ? 'WARN' : 'ERROR'}: ${msg}`);
    };
    try {
      const { haDir } = this.setup;
      say('info', `Rereading ${path.join(haDir, 'ha.cf')}, authkeys and haresources (${trigger})`);
      let next: HbSetup;
      try {
        next = loadHbSetup(this.opts.haDir, this.opts.node);
      } catch (e) {
        if (!(e instanceof HbConfigError)) throw e;
        return this.refuseReload(e.errors.map((x) => x.message), say, lines);
      }
      for (const w of next.warnings) say('warn', w.message);
      const active = new Set(this.runner.controller.status().groups.filter((g) => g.local !== 'stopped').map((g) => g.group));
      const plan = planReload(this.setup, next, active);
      const cross = checkHaSetup({ haCf: plan.effective.haCf, haresources: plan.effective.haresources, self: this.setup.self });
      if (cross.length > 0) return this.refuseReload([...cross.map((x) => x.message), 'node changes need a restart of tandem-hb'], say, lines);
      this.setup = plan.effective;
      const e = plan.effective;
      if (plan.live.logging && this.logStream) {
        this.logStream.setPlan(haLogPlan(e.haCf.logging, e.haCf.debug));
        this.log.level = pino.levels.labels[this.logStream.minLevel()] ?? 'info';
      }
      this.stonithPlan = planStonith(e.haCf.stonithHosts, e.self, e.haDir);
      this.runner.reconfigure({ haCf: e.haCf, groups: e.haresources.groups, keys: e.authkeys, ext: e.ext, stonith: this.stonithPlan !== null });
      if (plan.live.times) this.startTimers();
      for (const n of plan.notes) say(n.level, n.msg, n.level === 'warn' || /^resource group/.test(n.msg));
      if (plan.live.respawn) await this.respawner?.update(e.respawn);
      say('info', plan.restartNeeded.length > 0
        ? `Configuration reloaded; waiting for a restart: ${plan.restartNeeded.join(', ')}`
        : 'Configuration reloaded.');
      return { ok: true, log: lines };
    } finally {
      this.reloading = false;
    }
  }

  private refuseReload(reasons: string[], say: (l: 'error', m: string, ops?: boolean) => void, lines: string[]): HbResponse {
    for (const r of reasons) say('error', r);
    say('error', 'Config errors: configuration NOT reloaded; tandem-hb runs on with the files it read before', true);
    return { ok: false, message: 'configuration NOT reloaded', exitCode: 6, log: lines };
  }

  /** heartbeat's environment for its children (make_daemon), which its shellfuncs' ha_log reads */
  private respawnEnv(): NodeJS.ProcessEnv {
    const s = this.setup;
    const plan = haLogPlan(s.haCf.logging, s.haCf.debug);
    return {
      HA_d: s.haDir,
      ...(plan.facility ? { HA_LOGFACILITY: plan.facility } : {}),
      ...(plan.logfile ? { HA_LOGFILE: plan.logfile } : {}),
      ...(plan.debugfile ? { HA_DEBUGLOG: plan.debugfile } : {}),
      ...(s.haCf.debug > 0 ? { HA_DEBUG: String(s.haCf.debug) } : {}),
    };
  }

  /** Give up every group (the peer may take them), then close everything. */
  async stop(): Promise<void> {
    if (!this.runner) return;
    const s = this.setup;
    const maxResources = Math.max(1, ...s.haresources.groups.map((g) => g.resources.length));
    const budget = s.ext.timeoutsMs.stop * maxResources + s.ext.stopRetries * s.ext.stopRetryMs + 5000;
    this.log.info({}, 'stopping: releasing all resource groups');
    const released = await this.runner.shutdown(budget);
    if (!released) this.log.error({}, 'some resource groups were not released before the shutdown deadline');
    // Stay on the wire a little so the peer's claims for the released groups get their grants.
    const mine = new Set(s.haresources.groups.map((g) => g.key));
    await this.runner.waitFor(() => {
      const st = this.runner.controller.status();
      return st.peerState !== 'up' || st.groups.every((g) => !mine.has(g.group) || g.local === 'failed' || g.peer === 'held');
    }, Math.min(s.haCf.deadtimeMs, 10_000));
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.respawner?.stop();
    await this.metrics?.close();
    await this.web?.stop();
    this.web = null;
    this.pinger?.close();
    this.transport?.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    for (const f of [hbSocketPath(this.opts.runDir), hbPidPath(this.opts.runDir)]) {
      try { fs.unlinkSync(f); } catch { /* gone */ }
    }
    this.log.info({}, 'tandem-hb stopped');
  }
}
