// The torture cluster on loopback: the integration tests' Pair (two real tandemd processes, file
// disks in a temp dir), unchanged.
import fs from 'node:fs';
import path from 'node:path';
import { Pair, type Node } from '../../test/helpers/two-nodes.js';
import { internalUsableSize } from '../../src/storage/metadata-layout.js';
import { statusOf } from './control.js';
import type { AdmOutcome, NodeStatus, TortureCluster, TortureNode } from './cluster.js';
import type { NodeName } from './summary.js';

class LoopbackNode implements TortureNode {
  constructor(private readonly node: Node) {}

  get name(): NodeName {
    return this.node.name;
  }
  get nbdSocket(): string {
    return this.node.nbdSocket;
  }
  get diskPath(): string {
    return this.node.disk;
  }
  get devicePath(): string {
    return this.node.devicePath;
  }
  running(): boolean {
    const p = this.node.proc;
    return p !== null && p.exitCode === null && p.signalCode === null;
  }
  async start(): Promise<void> {
    await this.node.start();
  }
  async crash(): Promise<void> {
    await this.node.kill();
  }
  async stop(): Promise<void> {
    this.thaw(); // a stopped process would sit on SIGTERM until the harness's 10 s fallback
    await this.node.stop();
  }
  freeze(): void {
    if (this.running()) this.node.proc!.kill('SIGSTOP');
  }
  thaw(): void {
    if (this.running()) this.node.proc!.kill('SIGCONT');
  }
  adm(...args: string[]): Promise<AdmOutcome> {
    return this.node.adm(...args);
  }
  status(): Promise<NodeStatus | null> {
    return statusOf(this.node.runDir);
  }
  logTail(chars = 4000): string {
    return this.node.logs.slice(-chars);
  }
  /** the whole log, for a kept directory */
  get logs(): string {
    return this.node.logs;
  }
}

export class LoopbackCluster implements TortureCluster {
  readonly mode = 'loopback' as const;
  readonly nodes: Record<NodeName, LoopbackNode>;
  readonly dataBytes: number;

  private constructor(private readonly pair: Pair, sizeMiB: number) {
    this.nodes = { node1: new LoopbackNode(pair.node1), node2: new LoopbackNode(pair.node2) };
    this.dataBytes = internalUsableSize(sizeMiB * 1024 * 1024);
  }

  /** kernelDevice: the Primary makes its kernel block device (root; the device rounds) */
  static async create(sizeMiB: number, kernelDevice = false): Promise<LoopbackCluster> {
    return new LoopbackCluster(await Pair.create({ sizeMiB, protocol: 'C', kernelDevice }), sizeMiB);
  }

  get dir(): string {
    return this.pair.dir;
  }

  async setup(): Promise<void> {
    const { node1, node2 } = this.pair;
    await this.pair.createMd();
    await this.pair.startBoth();
    await this.pair.upBoth();
    await node1.admOk('wait-connect', 'r0', '--timeout', '30');
    // both backing files are all zeros: DRBD's way to skip the initial sync of a new pair
    await node1.admOk('new-current-uuid', '--clear-bitmap', 'r0');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'skip initial sync');
    await node1.admOk('primary', 'r0');
  }

  async teardown(keep: boolean): Promise<string | null> {
    for (const n of Object.values(this.nodes)) n.thaw();
    if (keep) {
      for (const n of Object.values(this.nodes)) fs.writeFileSync(path.join(this.pair.dir, `${n.name}.log`), n.logs);
      await Promise.all(this.pair.nodes.map((n) => n.stop()));
      return this.pair.dir;
    }
    await this.pair.destroy();
    return null;
  }
}
