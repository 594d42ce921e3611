// Two real tandemd processes on loopback, for the benchmark: a config in a scratch directory, two
// backing files, two run dirs. Control requests go straight to each daemon's control socket (the
// same line protocol tandemadm speaks) so a timed phase does not include a Node.js start-up per
// command. Only the processes this module started are ever signalled, by PID.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { controlSocketPath, sendControl, type ControlRequest, type ControlResponse } from '../../src/daemon/control-protocol.js';
import type { ResourceStatus } from '../../src/daemon/status-types.js';
import { TANDEMD_NODE_FLAGS } from '../../src/daemon/node-flags.js';
import { REPO_ROOT } from './paths.js';
import { runOk, startTracked, stopProcess, waitFor } from './proc.js';

const TANDEMD = path.join(REPO_ROOT, 'bin/tandemd.js');
const TANDEMADM = path.join(REPO_ROOT, 'bin/tandemadm.js');

export type NodeName = 'node1' | 'node2';

export interface PairSpec {
  /** scratch directory for this pair (created; removed by destroy) */
  dir: string;
  protocol: 'A' | 'B' | 'C';
  /** `syncer { rate … }` in DRBD units, e.g. '20M' */
  rate: string;
  /** size of each backing file in bytes (internal metadata is carved from its end) */
  backingBytes: number;
  /** if given, node1's backing file starts as a copy of this file (node2's stays sparse) */
  node1Template?: string;
  /** node flags for a node's tandemd, e.g. ['--cpu-prof'] (Node refuses that one in NODE_OPTIONS) */
  nodeArgs?: Partial<Record<NodeName, string[]>>;
  logLevel?: string;
  /** node1's tandemd makes the kernel block device (root; the device benchmark): true for the default way, or TANDEM_KERNEL_DEVICE's value */
  kernelDevice?: boolean | 'fuse' | 'nbdfuse';
  /** more `net` options, e.g. 'csums-alg md5;' */
  net?: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export class TandemNode {
  proc: ChildProcess | null = null;
  logTail = '';

  constructor(
    readonly name: NodeName,
    readonly disk: string,
    readonly runDir: string,
    readonly config: string,
    private readonly nodeArgs: string[],
    private readonly logLevel: string,
    private readonly kernelDevice: boolean | 'fuse' | 'nbdfuse' = false,
  ) {}

  /** the config's `device` path: a symlink to /dev/loopN while Primary, with kernelDevice */
  get devicePath(): string {
    return path.join(path.dirname(this.config), `dev-${this.name}`, 'tandem0');
  }

  get nbdSocket(): string {
    return path.join(this.runDir, 'nbd', 'r0.sock');
  }

  get nbdUri(): string {
    return `nbd+unix:///r0?socket=${this.nbdSocket}`;
  }

  get pid(): number {
    const pid = this.proc?.pid;
    if (pid === undefined) throw new Error(`${this.name}: tandemd is not running`);
    return pid;
  }

  async start(): Promise<void> {
    // the NBD benchmarks measure the export: no kernel device (nothing under /dev) unless asked
    const proc = startTracked(process.execPath, [...TANDEMD_NODE_FLAGS, ...this.nodeArgs, TANDEMD, '--config', this.config, '--node', this.name, '--run-dir', this.runDir, '--log-level', this.logLevel], { cwd: this.runDir, env: { ...process.env, TANDEM_KERNEL_DEVICE: this.kernelDevice === true ? 'auto' : this.kernelDevice || 'off' } });
    this.proc = proc;
    const keep = (d: Buffer): void => {
      this.logTail = (this.logTail + d.toString()).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`${this.name}: tandemd exited with ${proc.exitCode} during start: ${this.logTail}`);
      try {
        return (await this.control({ cmd: 'ping' })).ok;
      } catch {
        return false;
      }
    }, 20_000, `${this.name} control socket`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p) await stopProcess(p);
  }

  control(req: ControlRequest): Promise<ControlResponse> {
    return sendControl(controlSocketPath(this.runDir), req);
  }

  async ok(req: ControlRequest): Promise<ControlResponse> {
    const r = await this.control(req);
    if (!r.ok) throw new Error(`${this.name}: ${req.cmd} failed (${r.exitCode}): ${r.message}\n--- log tail ---\n${this.logTail.slice(-3000)}`);
    return r;
  }

  async status(): Promise<ResourceStatus> {
    return (await this.ok({ cmd: 'status', resource: 'r0' })).data as ResourceStatus;
  }

  /** bytes the resource exports (the usable size below the internal metadata) */
  async sizeBytes(): Promise<number> {
    const s = await this.status();
    if (s.sizeBytes === undefined) throw new Error(`${this.name}: status has no size (not attached?)`);
    return s.sizeBytes;
  }

  async waitStatus(pred: (s: ResourceStatus) => boolean, what: string, timeoutMs = 60_000): Promise<ResourceStatus> {
    let last: ResourceStatus | null = null;
    await waitFor(async () => {
      last = await this.status();
      return pred(last);
    }, timeoutMs, `${this.name}: ${what} (last cs=${(last as ResourceStatus | null)?.cs})`).catch((err: Error) => {
      throw new Error(`${err.message}\n--- log tail ---\n${this.logTail.slice(-3000)}`);
    });
    return last!;
  }
}

export class TandemPair {
  readonly node1: TandemNode;
  readonly node2: TandemNode;

  private constructor(readonly spec: PairSpec, readonly config: string) {
    const level = spec.logLevel ?? 'warn';
    this.node1 = new TandemNode('node1', path.join(spec.dir, 'disk1.img'), path.join(spec.dir, 'run1'), config, spec.nodeArgs?.node1 ?? [], level, spec.kernelDevice ?? false);
    this.node2 = new TandemNode('node2', path.join(spec.dir, 'disk2.img'), path.join(spec.dir, 'run2'), config, spec.nodeArgs?.node2 ?? [], level);
  }

  /** Writes the config and backing files and runs create-md on both (offline, no daemon). */
  static async create(spec: PairSpec): Promise<TandemPair> {
    fs.mkdirSync(spec.dir, { recursive: true });
    const d1 = path.join(spec.dir, 'disk1.img');
    const d2 = path.join(spec.dir, 'disk2.img');
    if (spec.node1Template) {
      await runOk('cp', ['--sparse=never', spec.node1Template, d1]);
      fs.truncateSync(d1, spec.backingBytes);
    } else {
      fs.writeFileSync(d1, '');
      fs.truncateSync(d1, spec.backingBytes);
    }
    fs.writeFileSync(d2, '');
    fs.truncateSync(d2, spec.backingBytes);
    const [p1, p2] = [await freePort(), await freePort()];
    const host = (name: NodeName, port: number, disk: string): string => `
  on ${name} {
    device ${path.join(spec.dir, `dev-${name}`, 'tandem0')};
    disk ${disk};
    address 127.0.0.1:${port};
    meta-disk internal;
  }`;
    const config = path.join(spec.dir, 'tandem.conf');
    fs.writeFileSync(config, `global { usage-count no; }
common { syncer { rate ${spec.rate}; } }
resource r0 {
  protocol ${spec.protocol};
  net { ping-int 2; ping-timeout 20; connect-int 1; ${spec.net ?? ''} }
  disk { on-io-error pass_on; }
${host('node1', p1, d1)}
${host('node2', p2, d2)}
}
`);
    const pair = new TandemPair(spec, config);
    for (const n of [pair.node1, pair.node2]) {
      fs.mkdirSync(n.runDir, { recursive: true });
      fs.mkdirSync(path.dirname(n.devicePath), { recursive: true });
      await runOk(process.execPath, [TANDEMADM, '--config', config, '--node', n.name, '--run-dir', n.runDir, 'create-md', '--force', 'r0']);
    }
    return pair;
  }

  get nodes(): TandemNode[] {
    return [this.node1, this.node2];
  }

  /** start both daemons, `up` both and wait until they are connected */
  async upAndConnect(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
    for (const n of this.nodes) await n.ok({ cmd: 'up', resource: 'r0' });
    await this.node1.ok({ cmd: 'wait-connect', resource: 'r0', timeoutMs: 30_000 });
    await this.node2.ok({ cmd: 'wait-connect', resource: 'r0', timeoutMs: 30_000 });
  }

  /**
   * `primary --force` on node1 and wait for the full sync to node2; returns the milliseconds from
   * the promote request to wait-sync returning.
   */
  async forcePrimaryAndSync(timeoutMs = 600_000): Promise<number> {
    const t0 = performance.now();
    await this.node1.ok({ cmd: 'primary', resource: 'r0', force: true });
    await this.node1.ok({ cmd: 'wait-sync', resource: 'r0', timeoutMs });
    const ms = performance.now() - t0;
    await this.node2.waitStatus((s) => s.disk === 'UpToDate' && s.cs === 'Connected', 'UpToDate after the initial sync');
    return ms;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    fs.rmSync(this.spec.dir, { recursive: true, force: true });
  }
}
