// The torture cluster in the namespace lab (root): tandemd on node1 and node2 in their own network
// namespaces, loop devices as disks, a real link on a bridge that `lab.sh cable` pulls and that
// tc netem can delay and drop on. The kernel block device is left off (TANDEM_KERNEL_DEVICE=off):
// the torture talks NBD to the export directly, and a kill -9 leaves no FUSE mount behind.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Lab, type LabNode } from '../../test/e2e/helpers/lab.js';
import { internalUsableSize } from '../../src/storage/metadata-layout.js';
import type { AdmOutcome, Netem, NodeStatus, TortureCluster, TortureNode } from './cluster.js';
import { statusOf } from './control.js';
import type { NodeName } from './summary.js';

const LAB_NS = 'tandem-lab';

function run(cmd: string, args: string[]): Promise<AdmOutcome> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) + (e && typeof e.code !== 'number' ? e.message : '') });
    });
  });
}

class LabTortureNode implements TortureNode {
  constructor(private readonly node: LabNode) {}

  get name(): NodeName {
    return this.node.name;
  }
  get nbdSocket(): string {
    // the node's run dir is a host directory bind-mounted into its mount namespace; a unix socket
    // is reached by its path, whatever network namespace it lives in
    return path.join(this.node.runDir, 'nbd', 'r0.sock');
  }
  get diskPath(): string {
    return this.node.disk;
  }
  running(): boolean {
    return this.node.tandemd?.running ?? false;
  }
  async start(): Promise<void> {
    this.node.startTandemd();
    await this.node.waitTandemd();
  }
  async crash(): Promise<void> {
    const p = this.node.tandemd;
    if (!p || !p.running) return;
    const exited = new Promise((r) => p.proc.once('exit', r));
    p.proc.kill('SIGKILL');
    await exited;
  }
  async stop(): Promise<void> {
    this.thaw();
    await this.node.tandemd?.stop(15_000);
  }
  freeze(): void {
    if (this.running()) this.node.tandemd!.proc.kill('SIGSTOP');
  }
  thaw(): void {
    if (this.running()) this.node.tandemd!.proc.kill('SIGCONT');
  }
  adm(...args: string[]): Promise<AdmOutcome> {
    return this.node.adm(...args);
  }
  status(): Promise<NodeStatus | null> {
    return statusOf(this.node.runDir);
  }
  logTail(chars = 4000): string {
    return this.node.tandemd?.logTail(chars) ?? '';
  }
}

/** tc netem on the bridge side of both nodes' veths: each direction of the link gets it once. */
class LabNetem implements Netem {
  private applied = false;

  async unsupported(): Promise<string | null> {
    const which = await run('sh', ['-c', 'command -v tc']);
    if (which.code !== 0) return 'tc (iproute2) is not installed';
    // try it on the lab's bridge port: the only proof that this kernel has sch_netem
    const r = await run('ip', ['netns', 'exec', LAB_NS, 'tc', 'qdisc', 'add', 'dev', 'veth-client', 'root', 'netem', 'delay', '1ms']);
    if (r.code !== 0) return `this kernel refuses tc netem (${r.stderr.trim().split('\n')[0]})`;
    await run('ip', ['netns', 'exec', LAB_NS, 'tc', 'qdisc', 'del', 'dev', 'veth-client', 'root']);
    return null;
  }

  async apply(delayMs: number, lossPct: number): Promise<void> {
    for (const dev of ['veth-node1', 'veth-node2']) {
      const r = await run('ip', ['netns', 'exec', LAB_NS, 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'netem', 'delay', `${delayMs}ms`, 'loss', `${lossPct}%`]);
      if (r.code !== 0) throw new Error(`tc netem on ${dev} failed: ${r.stderr.trim()}`);
    }
    this.applied = true;
  }

  async clear(): Promise<void> {
    if (!this.applied) return;
    for (const dev of ['veth-node1', 'veth-node2']) await run('ip', ['netns', 'exec', LAB_NS, 'tc', 'qdisc', 'del', 'dev', dev, 'root']);
    this.applied = false;
  }
}

export class LabCluster implements TortureCluster {
  readonly mode = 'lab' as const;
  readonly nodes: Record<NodeName, LabTortureNode>;
  readonly netem = new LabNetem();

  private constructor(private readonly lab: Lab, readonly dataBytes: number) {
    this.nodes = { node1: new LabTortureNode(lab.node1), node2: new LabTortureNode(lab.node2) };
  }

  static async create(): Promise<LabCluster> {
    process.env.TANDEM_KERNEL_DEVICE = 'off';
    const lab = await Lab.up();
    const size = await run('blockdev', ['--getsize64', lab.node1.disk]);
    if (size.code !== 0) throw new Error(`cannot size ${lab.node1.disk}: ${size.stderr.trim()}`);
    return new LabCluster(lab, internalUsableSize(Number(size.stdout.trim())));
  }

  cable(node: NodeName, state: 'up' | 'down'): Promise<void> {
    return this.lab.cable(node, state);
  }

  async setup(): Promise<void> {
    for (const n of this.lab.nodes) {
      n.writeConfig({
        NODE1_DISK: this.lab.node1.disk, NODE2_DISK: this.lab.node2.disk, SYNC_RATE: '100M',
        DEADTIME: '2', VIP: '10.213.0.100', HB_SECRET: 'torture',
      });
    }
    for (const n of this.lab.nodes) await n.admOk('create-md', 'r0');
    for (const n of Object.values(this.nodes)) await n.start();
    for (const n of this.lab.nodes) await n.admOk('up', 'r0');
    await this.lab.node1.admOk('wait-connect', 'r0', '--timeout', '30');
    // the lab's disks are fresh sparse files (zeros): skip the initial sync
    await this.lab.node1.admOk('new-current-uuid', '--clear-bitmap', 'r0');
    await this.lab.node2.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'skip initial sync');
    await this.lab.node1.admOk('primary', 'r0');
  }

  async teardown(_keep: boolean): Promise<string | null> {
    for (const n of Object.values(this.nodes)) n.thaw();
    await this.netem.clear().catch(() => undefined);
    await this.lab.down();
    // the lab keeps the daemons' logs outside its state dir (LOG_DIR) in any case
    return null;
  }
}
