// What the torture rounds need from a two-node cluster, whatever it runs on: the loopback pair of
// the integration tests (no root) or the namespace lab (root). Every process signalled is one the
// driver started, by its PID.
import type { NodeName } from './summary.js';

export type { NodeName } from './summary.js';

/** The fields of `tandemadm status --json` the rounds read. */
export interface NodeStatus {
  cs: string;
  role: string;
  peerRole: string;
  disk: string;
  peerDisk: string;
}

export interface AdmOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TortureNode {
  readonly name: NodeName;
  /** the resource's NBD export (served while Primary) */
  readonly nbdSocket: string;
  /** where the host reads this node's backing disk for the byte comparison */
  readonly diskPath: string;
  /** the config's `device`: a symlink to the kernel block device while Primary; absent where the cluster makes none (the lab) */
  readonly devicePath?: string;
  running(): boolean;
  /** start tandemd (the resource is not up yet) */
  start(): Promise<void>;
  /** kill -9 and wait for the exit */
  crash(): Promise<void>;
  /** SIGTERM (a clean stop) and wait for the exit */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT */
  freeze(): void;
  thaw(): void;
  adm(...args: string[]): Promise<AdmOutcome>;
  status(): Promise<NodeStatus | null>;
  logTail(chars?: number): string;
}

export interface Netem {
  /** null when delay/loss can be applied, else why not (no tc, no sch_netem) */
  unsupported(): Promise<string | null>;
  apply(delayMs: number, lossPct: number): Promise<void>;
  clear(): Promise<void>;
}

export interface TortureCluster {
  readonly mode: 'loopback' | 'lab';
  readonly nodes: Record<NodeName, TortureNode>;
  /** bytes of the data area of each backing disk (the metadata behind it differs per node) */
  readonly dataBytes: number;
  /** create-md on both, start, up, skip the initial sync of the zeroed disks, node1 Primary */
  setup(): Promise<void>;
  /** stop everything; returns the directory kept for inspection, if `keep` */
  teardown(keep: boolean): Promise<string | null>;
  /** the replication link of one node, where the cluster has cables (lab) */
  cable?(node: NodeName, state: 'up' | 'down'): Promise<void>;
  netem?: Netem;
}

export const otherNode = (n: NodeName): NodeName => (n === 'node1' ? 'node2' : 'node1');

/** Connection states in which the replication link carries writes. */
const LINK_UP = new Set(['Connected', 'SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT', 'WFBitMapS', 'WFBitMapT', 'WFSyncUUID', 'VerifyS', 'VerifyT', 'StartingSyncS', 'StartingSyncT']);

export function linkUp(s: NodeStatus | null): boolean {
  return s !== null && LINK_UP.has(s.cs);
}

/** Connected, both disks UpToDate: nothing left to resync. */
export function healthy(s: NodeStatus | null): boolean {
  return s !== null && s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate';
}
