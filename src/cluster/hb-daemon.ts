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
import { loadHbSetup, type HbSetup } from './ha-load.js';
import { HaLogStream, haLogPlan } from './ha-logging.js';
import { HbRunner } from './hb-runner.js';
import { Respawner } from './respawn.js';
import { buildHbRegistry } from './hb-metrics.js';
import { MetricsServer } from '../net/metrics-server.js';
import { WebStatus } from '../web/web-status.js';
import { interfacesWithCarrier } from './link-state.js';
import { HbTransport, ipv4Addresses } from './media.js';
import { planMedia, type MediaPlan } from './media-plan.js';
import { fileOpsSink } from './ops-log.js';
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
    // ha.cf's logfacility / use_logd / debugfile / debug (ha-logging.ts): a logger that also feeds them
    const plan = haLogPlan(s.haCf.logging, s.haCf.debug);
    if (plan.facility || plan.debugfile) {
      const base = this.opts.logger;
      const stdoutLevel = pino.levels.values[base.level] ?? 30;
      const level = plan.debugfile || plan.debug ? (stdoutLevel < 20 ? base.level : 'debug') : base.level;
      this.log = pino({ level, base: base.bindings() }, new HaLogStream(plan, stdoutLevel));
      this.log.info({ facility: plan.facility, debugfile: plan.debugfile, debug: s.haCf.debug }, `logging to ${[plan.facility && `syslog (${plan.facility})`, plan.debugfile].filter(Boolean).join(' and ')}`);
    }
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

    const stonithPlan = planStonith(s.haCf.stonithHosts, s.self, s.haDir);
    const opsFiles = [path.join(runDir, OPS_LOG), ...(s.haCf.logging.logfile ? [s.haCf.logging.logfile] : [])];
    const fileOps = fileOpsSink(opsFiles, s.self, (file, err) => this.log.error({ file, err: err.message }, 'cannot write the operational log'));
    // the status page lists the operational log's lines as they are written
    const ops: typeof fileOps = (level, msg) => {
      fileOps(level, msg);
      this.web?.opsLine(level, msg);
    };
    const ctx = systemAgentContext({ start: s.ext.timeoutsMs.start, stop: s.ext.timeoutsMs.stop, status: s.ext.timeoutsMs.status }, this.log);
    const tandemAdm = { command: defaultTandemAdmCommand(), node: s.self, config: s.ext.tandemConfig, runDir: s.ext.tandemRunDir };

    const hbMetrics = s.ext.metrics ? buildHbRegistry(() => this.runner.controller.status(), () => this.runner.membership.status()) : null;
    this.transport = new HbTransport(this.plan.active, { bindAddress: this.opts.bindAddress, logger: this.log });
    this.runner = new HbRunner({
      self: s.self, peer: s.peer, haCf: s.haCf, groups: s.haresources.groups, keys: s.authkeys, generation, ext: s.ext,
      stonith: stonithPlan !== null,
      media: this.plan.active.map((m) => m.name),
      isolationIfaces: [...new Set(this.plan.active.map((m) => m.medium.iface))],
      ignoredMedia: this.plan.ignored.map((i) => `${i.name} (${i.reason})`),
      ping: { targets: pingTargets(s.haCf.ping, s.haCf.pingGroups), deadpingMs: s.haCf.deadpingMs },
    }, {
      now: () => Date.now(),
      send: (data) => this.transport?.send(data),
      agentFor: (r) => agentFor(r, ctx, { haDir: s.haDir, tandemAdm }),
      agentClass: (r) => agentClass(r, s.haDir),
      stonith: (node) => stonithPlan
        ? runStonith(runCommand, stonithPlan, node, s.ext.timeoutsMs.stonith)
        : Promise.resolve({ ok: false, message: 'no stonith_host configured' }),
      logger: this.log,
      ops,
      observe: (n) => hbMetrics?.observe(n),
    });

    await this.transport.start((data, medium, from) => this.runner.onDatagram(data, medium, from));
    this.respawner = new Respawner(s.haCf.respawn, this.log);
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
    this.server = await serveJsonLines<HbRequest, HbResponse>(hbSocketPath(runDir), (req) => this.runner.request(req),
      (err) => this.log.error({ err: err.message }, 'control socket error'), {
        malformed: () => ({ ok: false, message: 'malformed request', exitCode: 1 }),
        failed: (err) => ({ ok: false, message: err.message, exitCode: 1 }),
      });
    fs.writeFileSync(pidFile, `${process.pid}\n`);

    const k = s.haCf.keepaliveMs;
    const ifaces = [...new Set(this.plan.active.map((m) => m.medium.iface))];
    this.runner.sendHeartbeat();
    this.timers.push(setInterval(() => this.runner.sendHeartbeat(), k));
    this.timers.push(setInterval(() => this.runner.tick(), Math.min(250, Math.max(20, Math.floor(k / 4)))));
    const pollLinks = () => void interfacesWithCarrier(ifaces).then((up) => this.runner.onLinks(up));
    pollLinks();
    this.timers.push(setInterval(pollLinks, Math.min(500, Math.max(50, Math.floor(k / 2)))));
    const targets = pingTargets(s.haCf.ping, s.haCf.pingGroups);
    if (targets.length > 0) {
      const warned = new Set<string>();
      this.pinger = new Pinger(targets.flatMap((t) => t.hosts), pingTimeoutS(k), (host, r) => {
        if (r.ok) { warned.delete(host); this.runner.onPingReply(host); return; }
        // Log a failing ping node once per failure streak, not once per keepalive.
        if (warned.has(host)) return;
        warned.add(host);
        this.log.warn({ host, detail: r.detail }, `ping ${host}: ${r.detail}`);
      });
      const probe = () => this.pinger?.probe();
      probe();
      this.timers.push(setInterval(probe, k));
    }
    this.log.info({ node: s.self, peer: s.peer, generation, media: this.plan.active.map((m) => m.name), groups: s.haresources.groups.map((g) => g.key) },
      `tandem-hb started on ${s.self} (generation ${generation})`);
    ops('info', `tandem-hb started on ${s.self}.`);
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
