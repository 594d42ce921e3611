// tandemd: the resources of this node, the control socket tandemadm talks to, the status file and
// the block-device export of whichever resource is Primary here.
import { DEFAULT_SCORES_TEXT, parseScoreTable } from '../ocf/agent-decisions.js';
import { ocfStatusLines, promoteLines } from '../ocf/status-lines.js';
import path from 'node:path';
import fs from 'node:fs';
import type net from 'node:net';
import type { Logger } from 'pino';
import { loadConfig, resolveResource, type TandemConfig } from '../config/index.js';
import { Resource, ResourceError } from '../replication/resource.js';
import type { Verdict } from '../replication/state-rules.js';
import { defaultUuidEngine } from '../replication/uuid-engine.js';
import { NbdServer } from '../nbd/server.js';
import type { NbdBackend } from '../nbd/server.js';
import { adoptOrCleanup, attachKernelDevice, describeHolders, detachKernelDevice, deviceHolders, resizeKernelDevice, type Holder, type KernelDeviceRecord } from '../nbd/kernel-device.js';
import { kernelDeviceFacts, planKernelDevice } from '../nbd/kernel-device-plan.js';
import { kernelDir } from '../nbd/kernel-device-record.js';
import { refuse } from '../replication/state-rules.js';
import { chooseWfcTimeout, waitConnectStep, waitSettingsOf, wfcTimeoutType } from '../replication/wait-connect.js';
import { controlSocketPath, serveControl, type ControlRequest, type ControlResponse } from './control-protocol.js';
import { StatusWriter } from './status-writer.js';
import { EventsServer, eventsSocketPath } from './events-server.js';
import { buildRegistry, type TandemdMetrics } from './metrics.js';
import { MetricsServer, type ListenAddress } from '../net/metrics-server.js';
import { renderProcDrbd, renderStatusText } from './status-render.js';
import { runHandler } from './handler-runner.js';
import { TANDEM_VERSION } from './version.js';

export interface DaemonOptions {
  configPath: string;
  node: string;
  runDir: string;
  logger: Logger;
  /** serve Prometheus metrics on this address (metrics.ts); off when absent */
  metrics?: ListenAddress;
}

/** A write travels to the peer in one frame (payload limit 16 MiB), so NBD requests stay below it. */
const NBD_MAX_PAYLOAD = 8 << 20;

type Waiter = { check: () => boolean; resolve: () => void };

export class Daemon {
  private config: TandemConfig;
  readonly resources = new Map<string, Resource>();
  private readonly exports = new Map<string, NbdServer>();
  /**
   * The kernel device's own NBD server (a private socket) when it goes through nbdfuse or
   * nbd-client: its connections (nbdfuse keeps up to four open for as long as the device exists)
   * do not make the device "open"; connections to the public socket do.
   */
  private readonly kernelServers = new Map<string, NbdServer>();
  /** kernel devices made here, or left by a previous tandemd and still held open */
  private readonly kernelDevices = new Map<string, KernelDeviceRecord>();
  /** holders found by the check before `secondary`/`down` (deviceOpen must answer synchronously) */
  private readonly kernelHolders = new Map<string, Holder[]>();
  private control: net.Server | null = null;
  private status: StatusWriter;
  private readonly events: EventsServer;
  private metrics: MetricsServer | null = null;
  /** made in the constructor when --metrics is given, so the resources report to it from the start */
  private readonly metricsData: TandemdMetrics | null;
  private waiters: Waiter[] = [];
  private stopping = false;

  constructor(private readonly opts: DaemonOptions) {
    this.config = loadConfig(opts.configPath);
    this.status = new StatusWriter(path.join(opts.runDir, 'status'), () => this.renderStatusFile());
    this.events = new EventsServer(eventsSocketPath(opts.runDir), () => [...this.resources.values()].map((r) => r.status()));
    this.metricsData = opts.metrics ? buildRegistry(() => [...this.resources.values()].map((r) => r.status())) : null;
    for (const r of this.config.resources) {
      if (!r.hosts?.some((h) => h.names.includes(opts.node))) continue;
      const resolved = resolveResource(this.config, r.name, opts.node);
      this.resources.set(r.name, this.makeResource(resolved));
    }
  }

  private makeResource(cfg: ReturnType<typeof resolveResource>): Resource {
    const log = this.opts.logger;
    return new Resource(cfg, {
      logger: log,
      now: () => performance.now(),
      onChange: () => this.changed(),
      runHandler: async (name, env) => {
        const res = this.resources.get(cfg.name);
        const cmd = res?.cfg.handlers[name];
        if (!cmd) return null;
        return runHandler(log.child({ resource: cfg.name }), name, cmd, { ...env, DRBD_CONF: this.opts.configPath });
      },
      exportDevice: (res, backend) => this.exportDevice(res, backend),
      unexportDevice: (res) => this.unexportDevice(res),
      resizeDevice: (res) => this.resizeDevice(res),
      deviceOpen: (res) => (this.exports.get(res.name)?.connectionCount ?? 0) > 0 || (this.kernelHolders.get(res.name)?.length ?? 0) > 0,
      uuids: defaultUuidEngine(),
      onHelper: this.metricsData ? (res, handler) => this.metricsData?.helperCalled(res.name, handler) : undefined,
    });
  }

  nbdSocketPath(resource: string): string {
    return path.join(this.opts.runDir, 'nbd', `${resource}.sock`);
  }

  private async exportDevice(res: Resource, device: NbdBackend): Promise<void> {
    if (this.exports.has(res.name)) return;
    const backend = this.metricsData ? this.metricsData.requests.instrument(device, res.name, res.cfg.self.minor) : device;
    const server = new NbdServer({ socketPath: this.nbdSocketPath(res.name), exportName: res.name, backend, maxPayload: NBD_MAX_PAYLOAD, logger: this.opts.logger.child({ resource: res.name, part: 'nbd' }) });
    await server.listen();
    this.exports.set(res.name, server);
    this.opts.logger.info({ resource: res.name, socket: this.nbdSocketPath(res.name) }, 'NBD export started');
    await this.makeKernelDevice(res, backend);
  }

  private kernelSocketPath(resource: string): string {
    return path.join(kernelDir(this.opts.runDir), `${resource}.sock`);
  }

  /**
   * Never throws: the replicated device works without its kernel device (the NBD socket is
   * served either way), and Resource.primary() has already switched the role when this runs.
   */
  private async makeKernelDevice(res: Resource, backend: NbdBackend): Promise<void> {
    const log = this.opts.logger.child({ resource: res.name, part: 'kernel-device' });
    const devicePath = res.cfg.self.device;
    if (this.kernelDevices.has(res.name)) {
      const still = await this.releaseKernelDevice(res.name);
      if (still.length > 0) {
        log.error({ device: devicePath, holders: still }, `kernel block device not made: the one left from before is still held open ${describeHolders(still)}`);
        return;
      }
    }
    const plan = planKernelDevice(await kernelDeviceFacts(devicePath));
    if (plan.kind === 'skip') {
      log.info({ device: devicePath, reason: plan.reason }, `kernel block device skipped: ${plan.reason}`);
      return;
    }
    if (plan.kind === 'fuse-loop') {
      // served from this process: no NBD socket, no second process between the kernel and the Resource
      try {
        const rec = await attachKernelDevice({
          resource: res.name, devicePath, backend, runDir: this.opts.runDir, logger: this.opts.logger,
          size: backend.size, method: plan.kind,
        });
        this.kernelDevices.set(res.name, rec);
      } catch (err) {
        log.error({ device: devicePath, err: (err as Error).message }, 'kernel block device could not be made; only the NBD socket is served');
      }
      return;
    }
    const server = new NbdServer({ socketPath: this.kernelSocketPath(res.name), exportName: res.name, backend, maxPayload: NBD_MAX_PAYLOAD, logger: log.child({ part: 'nbd-kernel' }) });
    try {
      await server.listen();
      this.kernelServers.set(res.name, server);
      const rec = await attachKernelDevice({
        resource: res.name, devicePath, nbdSocket: server.socketPath, runDir: this.opts.runDir, logger: this.opts.logger,
        size: backend.size, method: plan.kind,
      });
      this.kernelDevices.set(res.name, rec);
    } catch (err) {
      log.error({ device: devicePath, err: (err as Error).message }, 'kernel block device could not be made; only the NBD socket is served');
      this.kernelServers.delete(res.name);
      await server.close().catch(() => undefined);
    }
  }

  /** Tears down the resource's kernel device unless it is held open; returns the holders if so. */
  private async releaseKernelDevice(resource: string): Promise<Holder[]> {
    const rec = this.kernelDevices.get(resource);
    if (!rec) return [];
    try {
      const out = await detachKernelDevice(rec, { runDir: this.opts.runDir, logger: this.opts.logger });
      if (out.kind === 'held') return out.holders;
      this.kernelDevices.delete(resource);
      return [];
    } catch (err) {
      this.opts.logger.error({ resource, err: (err as Error).message }, 'kernel block device could not be removed; will retry');
      return [];
    }
  }

  /**
   * `resize` changed the size: the NBD socket serves it to the next client by itself (it asks the
   * Resource at every handshake); the kernel device is told here.
   */
  private async resizeDevice(res: Resource): Promise<void> {
    const rec = this.kernelDevices.get(res.name);
    if (!rec) return;
    await resizeKernelDevice(rec, res.size, this.opts.logger);
  }

  private async unexportDevice(res: Resource): Promise<void> {
    const held = await this.releaseKernelDevice(res.name);
    if (held.length > 0) {
      // only reachable by a race with the check before `secondary`, or at SIGTERM: never pull a
      // device out from under a mounted filesystem; a later `secondary`/`down`/start cleans it up
      this.opts.logger.warn({ resource: res.name, holders: held }, `kernel block device still held open ${describeHolders(held)}; left in place, it serves no I/O any more`);
    }
    this.kernelHolders.delete(res.name);
    const kernelServer = this.kernelServers.get(res.name);
    this.kernelServers.delete(res.name);
    await kernelServer?.close();
    const server = this.exports.get(res.name);
    if (!server) return;
    this.exports.delete(res.name);
    await server.close();
    this.opts.logger.info({ resource: res.name }, 'NBD export stopped');
  }

  /**
   * DRBD refuses to demote an open device. The holder search reads /proc asynchronously, so it
   * runs here, before Resource.secondary(), whose deviceOpen check is synchronous and reads the
   * result. A device left over from before a restart (the role is then already Secondary) is
   * torn down here, or the command is refused while it is still held.
   */
  private async refuseIfHeld(r: Resource): Promise<ControlResponse | null> {
    const refusal = (who: string): ControlResponse => {
      const v = refuse('SS_DEVICE_IN_USE');
      return { ok: false, message: `${r.cfg.self.minor}: ${v.message} ${who}`, exitCode: v.exitCode };
    };
    const rec = this.kernelDevices.get(r.name);
    if (r.role !== 'Primary') {
      const held = await this.releaseKernelDevice(r.name);
      return held.length > 0 ? refusal(`${describeHolders(held)}; ${rec?.devicePath ?? 'the device'} is left from before tandemd restarted`) : null;
    }
    const holders = rec ? await deviceHolders(rec) : [];
    this.kernelHolders.set(r.name, holders);
    if (holders.length > 0) return refusal(describeHolders(holders));
    const clients = this.exports.get(r.name)?.connectionCount ?? 0;
    if (clients > 0) return refusal(`(${clients} NBD client${clients === 1 ? '' : 's'} connected to ${this.nbdSocketPath(r.name)})`);
    return null;
  }

  private changed(): void {
    // the status file follows within its 100 ms render tick (status-writer.ts); events at once
    this.events.publish();
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.check()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private waitFor(check: () => boolean, timeoutMs: number | undefined): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = { check, resolve: () => { if (timer) clearTimeout(timer); resolve(true); } };
      const timer = timeoutMs && timeoutMs > 0 ? setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs) : null;
      this.waiters.push(waiter);
    });
  }

  renderStatusFile(): string {
    const list = [...this.resources.values()].filter((r) => r.isUp).map((r) => r.status());
    return renderProcDrbd(TANDEM_VERSION, list);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.opts.runDir, { recursive: true });
    // a restarted tandemd is Secondary everywhere: kernel devices a crashed one left are removed
    for (const rec of await adoptOrCleanup(this.opts.runDir, this.opts.logger)) this.kernelDevices.set(rec.resource, rec);
    this.control = await serveControl(controlSocketPath(this.opts.runDir), (req) => this.handle(req), (err) =>
      this.opts.logger.error({ err: err.message }, 'control socket error'));
    this.status.start();
    await this.events.listen();
    if (this.opts.metrics && this.metricsData) {
      // monitoring is not worth losing replication over: a listener that cannot bind is logged
      const m = new MetricsServer(this.opts.metrics, this.metricsData.registry);
      try {
        await m.listen();
        this.metrics = m;
        this.opts.logger.info({ metrics: `http://${this.opts.metrics.host}:${m.port}/metrics` }, 'serving Prometheus metrics');
      } catch (e) {
        this.opts.logger.error({ err: (e as Error).message, address: this.opts.metrics }, 'cannot serve Prometheus metrics; going on without them');
      }
    }
    this.opts.logger.info({ node: this.opts.node, resources: [...this.resources.keys()], runDir: this.opts.runDir }, 'tandemd started');
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const r of this.resources.values()) {
      try {
        await r.shutdown();
      } catch (err) {
        this.opts.logger.error({ resource: r.name, err: (err as Error).message }, 'shutdown failed');
      }
    }
    for (const s of [...this.kernelServers.values(), ...this.exports.values()]) await s.close().catch(() => undefined);
    this.kernelServers.clear();
    this.exports.clear();
    this.status.writeNow();
    this.status.stop();
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
    await this.events.close();
    await this.metrics?.close();
    try {
      fs.unlinkSync(controlSocketPath(this.opts.runDir));
    } catch {
      /* gone */
    }
  }

  private targets(req: ControlRequest): Resource[] {
    const name = req.resource;
    if (!name) throw new ResourceError('no resource given', 1);
    if (name === 'all') return [...this.resources.values()];
    const r = this.resources.get(name);
    if (!r) {
      const known = [...this.resources.keys()];
      throw new ResourceError(`'${name}' not defined in your config (for this host); known: ${known.join(', ') || 'none'}`, 10);
    }
    return [r];
  }

  async handle(req: ControlRequest): Promise<ControlResponse> {
    try {
      if (req.cmd === 'ping') return { ok: true, message: 'pong' };
      if (req.cmd === 'adjust') return await this.adjust(req);
      const list = this.targets(req);
      const data: Record<string, unknown> = {};
      const messages: string[] = [];
      for (const r of list) {
        const res = await this.handleOne(r, req);
        if (!res.ok) return res;
        if (res.data !== undefined) data[r.name] = res.data;
        if (res.message) messages.push(res.message);
      }
      const data1 = req.resource === 'all' ? data : data[list[0]?.name ?? ''];
      return messages.length ? { ok: true, data: data1, message: messages.join('\n') } : { ok: true, data: data1 };
    } catch (err) {
      const e = err as Error & { exitCode?: number };
      return { ok: false, message: e.message, exitCode: e.exitCode ?? 20 };
    }
  }

  private verdict(r: Resource, v: Verdict | { ok: false; message: string; exitCode: number }): ControlResponse {
    if (v.ok) return { ok: true };
    return { ok: false, message: `${r.cfg.self.minor}: ${v.message}`, exitCode: v.exitCode };
  }

  private async handleOne(r: Resource, req: ControlRequest): Promise<ControlResponse> {
    switch (req.cmd) {
      case 'up':
        await r.attach();
        r.connect({ discardMyData: false });
        return { ok: true };
      case 'down':
        return (await this.refuseIfHeld(r)) ?? this.verdict(r, await r.down());
      case 'attach':
        await r.attach();
        return { ok: true };
      case 'detach':
        await r.detach();
        return { ok: true };
      case 'connect':
        r.connect({ discardMyData: !!req.discardMyData });
        return { ok: true };
      case 'disconnect':
        return this.verdict(r, await r.disconnect());
      case 'primary':
        return this.verdict(r, await r.primary(!!req.force));
      case 'secondary':
        return (await this.refuseIfHeld(r)) ?? this.verdict(r, await r.secondary());
      case 'invalidate':
        return this.verdict(r, await r.invalidate(false));
      case 'invalidate-remote':
        return this.verdict(r, await r.invalidate(true));
      case 'verify':
        return this.verdict(r, await r.verify());
      case 'resize': {
        const v = await r.resize({ size: req.size ?? null, assumeClean: !!req.assumeClean });
        return v.ok ? { ok: true, message: v.message } : this.verdict(r, v);
      }
      case 'pause-sync':
        return this.verdict(r, r.setPaused(true));
      case 'resume-sync':
        return this.verdict(r, r.setPaused(false));
      case 'new-current-uuid':
        return this.verdict(r, await r.newCurrentUuid(!!req.clearBitmap));
      case 'wait-connect':
      case 'wait-sync':
        return this.waitConnectOrSync(r, req);
      case 'status':
        return { ok: true, data: r.status() };
      case 'ocf-status':
      case 'ocf-promote':
        return this.ocfAnswer(r, req);
      case 'outdate':
        return this.verdict(r, await r.outdate());
      case 'resume-io':
        return this.verdict(r, r.resumeIo());
      case 'inject-fault':
      case 'clear-faults':
        // a test switch: a daemon started without it has no way to fake disk errors
        if (process.env.TANDEM_TEST_FAULTS !== '1') {
          return { ok: false, message: `${req.cmd} is only available when tandemd was started with TANDEM_TEST_FAULTS=1`, exitCode: 20 };
        }
        if (req.cmd === 'clear-faults') r.clearFaults();
        else r.injectFaults(req.faults ?? []);
        return { ok: true };
      default:
        return { ok: false, message: `unknown command '${String(req.cmd)}'`, exitCode: 1 };
    }
  }

  /**
   * ocf:tandem:tandem's monitor and promote in one round trip, as `tandemadm ocf-status` /
   * `ocf-promote` print them: the agent asks here without a Node.js start on the failover path.
   */
  private async ocfAnswer(r: Resource, req: ControlRequest): Promise<ControlResponse> {
    const scores = req.scores ?? DEFAULT_SCORES_TEXT;
    try {
      parseScoreTable(scores);
    } catch (err) {
      return { ok: false, message: (err as Error).message, exitCode: 6 };
    }
    let head = '';
    if (req.cmd === 'ocf-promote') {
      const v = await r.primary(false);
      head = v.ok ? promoteLines(0, '') : promoteLines(v.exitCode, `${r.cfg.self.minor}: ${v.message}`);
    }
    const s = r.status();
    return { ok: true, data: { sh: head + ocfStatusLines({ role: s.role, disk: s.disk, peerDisk: s.peerDisk, cs: s.cs }, scores) } };
  }

  /**
   * drbdsetup's wait-connect / wait-sync: the timeout is --timeout when given, else the
   * startup section's wfc/degr-wfc/outdated-wfc-timeout chosen by the resource's state
   * (wait-connect.ts); a resource that refuses to connect (StandAlone) ends the wait unless
   * wait-after-sb, with exit 0 as in DRBD and the reason in the message.
   */
  private async waitConnectOrSync(r: Resource, req: ControlRequest): Promise<ControlResponse> {
    const settings = { ...waitSettingsOf(r.cfg.startup), ...req.wait };
    const chosen = chooseWfcTimeout(settings, wfcTimeoutType({ peerDisk: r.peerDisk, degradedAtAttach: r.degradedAtAttach }));
    const timeoutMs = req.timeoutMs ?? (chosen.seconds > 0 ? chosen.seconds * 1000 : undefined);
    const notes = req.timeoutMs === undefined ? chosen.notes : [];
    let gaveUp = false;
    const connected = await this.waitFor(() => {
      const step = waitConnectStep(r.cs, settings.waitAfterSb);
      if (step === 'refuses-to-connect') gaveUp = true;
      return step !== 'waiting';
    }, timeoutMs);
    const which = req.timeoutMs !== undefined ? '--timeout' : `${chosen.type === 'default' ? 'wfc' : chosen.type === 'degraded' ? 'degr-wfc' : 'outdated-wfc'}-timeout`;
    if (!connected) return { ok: false, message: [...notes, `${r.name}: timed out waiting for the connection after ${(timeoutMs ?? 0) / 1000}s (${which}; cs:${r.cs})`].join('\n'), exitCode: 5 };
    if (gaveUp) {
      return { ok: true, message: [...notes, `${r.name} is ${r.cs}: it refuses to connect (split brain, authentication or a disconnect); not waiting (startup { wait-after-sb; } would)`].join('\n') };
    }
    if (req.cmd === 'wait-sync') {
      const busy = (): boolean => ['WFBitMapS', 'WFBitMapT', 'WFSyncUUID', 'SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT', 'StartingSyncS', 'StartingSyncT', 'WFReportParams'].includes(r.cs);
      const ok = await this.waitFor(() => !busy(), timeoutMs);
      if (!ok) return { ok: false, message: [...notes, `${r.name}: timed out waiting for the resync to finish (cs:${r.cs})`].join('\n'), exitCode: 5 };
    }
    return notes.length ? { ok: true, message: notes.join('\n') } : { ok: true };
  }

  /** Re-reads the config and applies what can change on a running resource. */
  private async adjust(req: ControlRequest): Promise<ControlResponse> {
    const cfg = loadConfig(this.opts.configPath);
    this.config = cfg;
    const names = req.resource && req.resource !== 'all' ? [req.resource] : [...this.resources.keys()];
    const messages: string[] = [];
    for (const name of names) {
      const r = this.resources.get(name);
      if (!r) continue;
      const resolved = resolveResource(cfg, name, this.opts.node);
      r.applyConfig(resolved);
      // drbdadm adjust resizes when disk { size } was set, changed or removed (adjust.c
      // compare_size); run on the second node too, it takes the device to the new size
      if (r.status().disk !== 'Diskless' && r.sizeChangedInConfig()) {
        const v = await r.resize({ size: null, assumeClean: false });
        if (!v.ok) {
          this.changed();
          return this.verdict(r, v);
        }
        if (v.message) messages.push(v.message);
      }
    }
    this.changed();
    return messages.length ? { ok: true, message: messages.join('\n') } : { ok: true };
  }

  statusText(): string {
    return renderStatusText([...this.resources.values()].map((r) => r.status()));
  }
}
