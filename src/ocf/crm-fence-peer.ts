// crm-fence-peer / crm-unfence-peer: the fence-peer and after-resync-target handlers for Tandem under
// Pacemaker (DRBD's crm-fence-peer.sh / crm-unfence-peer.sh). The I/O edge: reads the CIB with
// cibadmin, asks crmadmin whether the peer's controller answers, polls until the peer's state is
// known, reads this node's disk states from tandemd, and writes or deletes the constraint.
// fence-decisions.ts decides. Messages go to stderr, which tandemd logs with the handler's exit code.
import type { DiskState } from '../replication/drbd-states.js';
import { cloneOfResource, clusterProperty, elementById, firstElementAttrs, nodeNames, nodeState } from './cib-view.js';
import {
  cibPeerView, fenceConstraintId, fenceConstraintXml, fenceVerdict, unfenceVerdict,
  type ConstraintOwner, type PeerState,
} from './fence-decisions.js';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The outside world of the handler, replaced by fakes in tests. */
export interface FenceIo {
  run(cmd: string, args: string[], timeoutMs: number): Promise<ToolResult>;
  /** this node's and the peer's disk, or null when tandemd does not know the resource */
  disks(resource: string): Promise<{ disk: DiskState; peerDisk: DiskState } | null>;
  sleep(ms: number): Promise<void>;
  /** ms, monotonic */
  now(): number;
  log(line: string): void;
}

export interface FenceOptions {
  resource: string;
  /** this node's name (#uname) */
  node: string;
  /** the peer's node name (DRBD_PEER); empty: the only other node in the CIB */
  peer: string;
  /** the promotable clone's id; empty: found in the CIB by the primitive's `resource` parameter */
  cloneId: string;
  idPrefix: string;
  role: string;
  /** how long to poll for a definite peer state, s (DRBD's --timeout) */
  timeoutSec: number;
  /** how long to keep trying to reach the DC, s (DRBD's --dc-timeout) */
  dcTimeoutSec: number;
  /** Tandem's extension: addresses that a node still in the cluster's network can ping */
  pingNodes: string[];
  /** crm-unfence-peer: remove only a constraint this node placed */
  onlyIfOwnerMatch: boolean;
}

export const DEFAULT_FENCE_OPTIONS = { idPrefix: 'tandem-fence-by-handler', role: 'Promoted', timeoutSec: 90, dcTimeoutSec: 20 } as const;

export { firstElementAttrs } from './cib-view.js';

class FenceRun {
  constructor(private readonly o: FenceOptions, private readonly io: FenceIo) {}

  /** The whole CIB (`cibadmin -Q`, from the DC; -t: how long to wait for it, s). */
  async readCib(timeoutSec?: number): Promise<{ ok: true; cib: string } | { ok: false; err: string }> {
    const args = ['-Q'];
    if (timeoutSec !== undefined) args.push('-t', String(timeoutSec));
    const r = await this.io.run('cibadmin', args, ((timeoutSec ?? 30) + 5) * 1000);
    if (r.code !== 0) return { ok: false, err: r.stderr.trim() || `cibadmin exit ${r.code}` };
    return { ok: true, cib: r.stdout };
  }

  cloneId(cib: string): string | null {
    if (this.o.cloneId) return this.o.cloneId;
    const id = cloneOfResource(cib, this.o.resource);
    if (id === null) this.io.log(`WARNING tandem-fencing could not determine the clone id of tandem resource ${this.o.resource}`);
    return id;
  }

  constraintOwner(cib: string, id: string): ConstraintOwner {
    const found = elementById(cib, 'rsc_location', id);
    if (found === null) return 'none';
    const rule = firstElementAttrs(found, 'rule');
    const expr = firstElementAttrs(found, 'expression');
    const ours = rule?.role === this.o.role && rule?.score === '-INFINITY' && expr?.attribute === '#uname' && expr?.operation === 'ne' && expr?.value === this.o.node;
    return ours ? 'ours' : 'other';
  }

  private peerName(cib: string): string | null {
    if (this.o.peer) return this.o.peer;
    const names = nodeNames(cib).filter((n) => n !== this.o.node);
    return names.length === 1 ? names[0]! : null;
  }

  /** check_peer_node_reachable, starting from the CIB already read */
  async peerState(first: string): Promise<PeerState> {
    const start = this.io.now();
    const elapsed = (): number => (this.io.now() - start) / 1000;
    // unset means Pacemaker's default, true for both; crm_is_not_false
    const prop = (name: string): boolean => !['no', 'n', 'false', '0', 'off'].includes((clusterProperty(first, name) ?? 'true').trim().toLowerCase());
    const cluster = { stonithEnabled: prop('stonith-enabled'), startupFencing: prop('startup-fencing') };
    const peer = this.peerName(first);
    if (!peer) {
      this.io.log("WARNING don't know who my peer is");
      return 'unknown';
    }
    let cib = first;
    let cibTimeout = 18; // deciseconds, scaled by 5/4 per failed try as crm-fence-peer does
    for (;;) {
      const ns = nodeState(cib, peer);
      const view = cibPeerView(ns, cluster);
      if (view === 'unreachable' || view === 'fenced') return view;
      if (view === 'online') {
        const r = await this.io.run('crmadmin', ['-t', String(cibTimeout * 200), '-S', peer], cibTimeout * 200 + 5000);
        // Pacemaker 2.1: 'Controller on NODE in state S_NOT_DC: ok'; 1.x: '... (ok)'
        if (r.code === 0 && /(\(ok\)|: ok)$/.test(r.stdout.trim())) return 'reachable';
      }
      if (elapsed() >= this.o.timeoutSec) return ns?.crmd === 'offline' ? 'unreachable' : 'unknown';
      await this.io.sleep(2000);
      for (;;) {
        const r = await this.readCib(Math.max(1, Math.floor(cibTimeout / 10)));
        if (r.ok) {
          cib = r.cib;
          break;
        }
        if (elapsed() > this.o.dcTimeoutSec) return 'DC-unreachable';
        await this.io.sleep(1000);
        cibTimeout = Math.floor((cibTimeout * 5) / 4);
      }
    }
  }

  /** Tandem's --ping-node: isolated when none of them answers. */
  async isolated(): Promise<boolean> {
    if (this.o.pingNodes.length === 0) return false;
    for (const host of this.o.pingNodes) {
      const r = await this.io.run('ping', ['-n', '-q', '-c', '1', '-W', '1', host], 5000);
      if (r.code === 0) return false;
    }
    return true;
  }
}

/** The CIB, the clone, the constraint id both handlers use and who owns that constraint now; null: said why, exit 1. */
async function findConstraint(run: FenceRun, o: FenceOptions, io: FenceIo) {
  const read = await run.readCib();
  if (!read.ok) {
    io.log(`WARNING tandem-fencing could not read the CIB: ${read.err}`);
    return null;
  }
  const cloneId = run.cloneId(read.cib);
  if (cloneId === null) return null;
  const id = fenceConstraintId(o.idPrefix, o.resource, cloneId);
  return { cib: read.cib, cloneId, id, constraint: run.constraintOwner(read.cib, id) };
}

/** The fence-peer handler. Returns the exit code (fencing.ts: 4, 5, 7 fenced; 1 nothing established). */
export async function crmFencePeer(o: FenceOptions, io: FenceIo): Promise<number> {
  const run = new FenceRun(o, io);
  // on the failover path every 100 ms counts: the independent questions go out together (the
  // ping answer is only used when no constraint is in place yet)
  const [found, isolatedNow, disks] = await Promise.all([findConstraint(run, o, io), run.isolated(), io.disks(o.resource)]);
  if (!found) return 1;
  const { cib, cloneId, id, constraint } = found;
  const isolated = constraint === 'none' && isolatedNow;
  const peer: PeerState = constraint === 'none' && !isolated ? await run.peerState(cib) : 'unknown';
  const v = fenceVerdict({ peer, disk: disks?.disk ?? null, peerDisk: disks?.peerDisk ?? null, constraint, isolated }, id);
  if (v.place) {
    const xml = fenceConstraintXml({ id, cloneId, node: o.node, role: o.role });
    const r = await io.run('cibadmin', ['-C', '-o', 'constraints', '-X', xml], 60_000);
    if (r.code !== 0) {
      io.log(`WARNING DATA INTEGRITY at RISK: could not place the fencing constraint '${id}': ${r.stderr.trim() || `cibadmin exit ${r.code}`}`);
      return 1;
    }
  }
  io.log(`${v.level.toUpperCase()} ${v.message}`);
  return v.exitCode;
}

/** The after-resync-target handler: removes the constraint once both disks are UpToDate. */
export async function crmUnfencePeer(o: FenceOptions, io: FenceIo): Promise<number> {
  const run = new FenceRun(o, io);
  const found = await findConstraint(run, o, io);
  if (!found) return 1;
  const { cloneId, id, constraint } = found;
  const disks = constraint === 'none' ? null : await io.disks(o.resource);
  const v = unfenceVerdict({ constraint, disk: disks?.disk ?? null, peerDisk: disks?.peerDisk ?? null, onlyIfOwnerMatch: o.onlyIfOwnerMatch }, id);
  if (v.remove) {
    const r = await io.run('cibadmin', ['-D', '-X', `<rsc_location rsc="${cloneId}" id="${id}"/>`], 60_000);
    if (r.code !== 0) {
      io.log(`WARNING could not remove the constraint '${id}': ${r.stderr.trim() || `cibadmin exit ${r.code}`}`);
      return 1;
    }
  }
  io.log(`${v.exitCode === 0 ? 'INFO' : 'WARNING'} ${v.message}`);
  return v.exitCode;
}
