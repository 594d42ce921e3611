// tandemadm's Pacemaker commands: `ocf-status` (what ocf:tandem:tandem reports and scores, as shell
// assignments the agent evaluates) and the handlers `crm-fence-peer` / `crm-unfence-peer` that
// scripts/handlers/crm-{fence,unfence}-peer.sh run. Decisions are in src/ocf/.
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { controlSocketPath, sendControl, DaemonNotRunningError } from '../daemon/control-protocol.js';
import type { ResourceStatus } from '../daemon/status-types.js';
import { DEFAULT_SCORES_TEXT, parseScoreTable, type LocalState } from '../ocf/agent-decisions.js';
import { ocfStatusLines, promoteLines } from '../ocf/status-lines.js';
import { crmFencePeer, crmUnfencePeer, DEFAULT_FENCE_OPTIONS, type FenceIo, type FenceOptions } from '../ocf/crm-fence-peer.js';

export interface OcfGlobals {
  config: string;
  node: string;
  runDir: string;
}

/** Failures with an exit code (tandemadm-main prints the message and exits with it). */
export class OcfCommandError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** The resource's state from tandemd; null when tandemd is not running. A resource tandemd does not know throws (exit 10). */
async function localState(g: OcfGlobals, resource: string): Promise<LocalState | null> {
  let res;
  try {
    res = await sendControl(controlSocketPath(g.runDir), { cmd: 'status', resource });
  } catch (err) {
    if (err instanceof DaemonNotRunningError) return null;
    throw err;
  }
  if (!res.ok) throw new OcfCommandError(res.message ?? 'status failed', res.exitCode ?? 20);
  const s = res.data as ResourceStatus;
  return { role: s.role, disk: s.disk, peerDisk: s.peerDisk, cs: s.cs };
}

/** `tandemadm primary`'s exit code and message (0 and '' when promoted); 20 when tandemd is not running. */
async function promote(g: OcfGlobals, resource: string): Promise<{ rc: number; message: string }> {
  try {
    const res = await sendControl(controlSocketPath(g.runDir), { cmd: 'primary', resource });
    return res.ok ? { rc: 0, message: res.message ?? '' } : { rc: res.exitCode ?? 20, message: res.message ?? 'primary failed' };
  } catch (err) {
    if (err instanceof DaemonNotRunningError) return { rc: 20, message: err.message };
    throw err;
  }
}

function execTool(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
      const code = !e ? 0 : typeof e.code === 'number' ? e.code : e.killed ? 124 : 127;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (e && typeof e.code === 'string' ? `${cmd}: ${e.message}` : '') });
    });
  });
}

function realFenceIo(g: OcfGlobals, prog: string): FenceIo {
  return {
    run: execTool,
    disks: async (resource) => {
      const s = await localState(g, resource).catch(() => null);
      return s && { disk: s.disk, peerDisk: s.peerDisk };
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => performance.now(),
    log: (line) => process.stderr.write(`${prog}: ${line}\n`),
  };
}

interface FenceCliOpts {
  resource?: string;
  cloneId?: string;
  idPrefix: string;
  role: string;
  timeout: string;
  dcTimeout: string;
  pingNode: string[];
  unfenceOnlyIfOwnerMatch?: boolean;
  peer?: string;
}

function fenceOptions(g: OcfGlobals, o: FenceCliOpts): FenceOptions {
  const resource = o.resource ?? process.env.DRBD_RESOURCE ?? '';
  if (!resource) throw new OcfCommandError('no resource: give --resource or run as a handler (DRBD_RESOURCE)', 1);
  const sec = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new OcfCommandError(`${name}: '${v}' is not a number of seconds`, 1);
    return n;
  };
  return {
    resource,
    node: g.node,
    peer: o.peer ?? process.env.DRBD_PEER ?? '',
    cloneId: o.cloneId ?? '',
    idPrefix: o.idPrefix,
    role: o.role,
    timeoutSec: sec('--timeout', o.timeout),
    dcTimeoutSec: sec('--dc-timeout', o.dcTimeout),
    pingNodes: o.pingNode,
    onlyIfOwnerMatch: !!o.unfenceOnlyIfOwnerMatch,
  };
}

export function registerOcfCommands(program: Command, g: () => OcfGlobals): void {
  // both print the shell lines the agent evaluates; the scores are checked first (exit 6, OCF_ERR_CONFIGURED)
  const statusCommand = (name: string, desc: string, before: (resource: string) => Promise<string>): void => {
    program.command(`${name} <resource>`).description(desc)
      .option('--scores <list>', "the agent's adjust_master_score: four non-decreasing scores", DEFAULT_SCORES_TEXT)
      .action(async (resource: string, o: { scores: string }) => {
        try {
          parseScoreTable(o.scores);
        } catch (err) {
          throw new OcfCommandError((err as Error).message, 6);
        }
        const head = await before(resource);
        process.stdout.write(head + ocfStatusLines(await localState(g(), resource), o.scores));
      });
  };
  statusCommand('ocf-status', "for ocf:tandem:tandem: the monitor's OCF exit code and the promotion score of this node, as shell assignments", async () => '');
  statusCommand('ocf-promote', "for ocf:tandem:tandem's promote: ask for Primary, then print what ocf-status prints, plus PROMOTE_RC and PROMOTE_MESSAGE (one Node.js start instead of two on the failover path)",
    async (resource) => {
      const r = await promote(g(), resource);
      return promoteLines(r.rc, r.message);
    });

  const fenceCommand = (name: string, desc: string, fn: typeof crmFencePeer): void => {
    program.command(name).description(desc)
      .option('-r, --resource <name>', 'the Tandem resource (default: $DRBD_RESOURCE)')
      .option('-i, --clone-id <id>', "the promotable clone's id (DRBD's --master-id; default: found in the CIB)")
      .option('-p, --id-prefix <prefix>', 'constraint id prefix', DEFAULT_FENCE_OPTIONS.idPrefix)
      .option('-l, --role <role>', 'the role the constraint forbids elsewhere', DEFAULT_FENCE_OPTIONS.role)
      .option('-t, --timeout <sec>', 'how long to poll for a definite peer state', String(DEFAULT_FENCE_OPTIONS.timeoutSec))
      .option('-d, --dc-timeout <sec>', 'how long to try to reach the DC', String(DEFAULT_FENCE_OPTIONS.dcTimeoutSec))
      .option('--ping-node <addr>', 'an address only a node still on the network reaches; none answering: this node is cut off, place nothing (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('--unfence-only-if-owner-match', 'remove only a constraint this node placed')
      .option('--peer <node>', "the peer's node name (default: $DRBD_PEER)")
      .action(async (o: FenceCliOpts) => {
        const code = await fn(fenceOptions(g(), o), realFenceIo(g(), name));
        process.exit(code);
      });
  };
  fenceCommand('crm-fence-peer', "fence-peer handler for Pacemaker: forbid promotion anywhere but here until the peer resynced (exit 4/5/7: fenced)", crmFencePeer);
  fenceCommand('crm-unfence-peer', 'after-resync-target handler for Pacemaker: remove the constraint crm-fence-peer placed once both disks are UpToDate', crmUnfencePeer);
}
