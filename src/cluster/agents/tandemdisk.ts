// tandemdisk (alias drbddisk): makes this node Primary of a Tandem resource on start and
// Secondary on stop, through tandemadm as drbddisk does through drbdadm. During a failback the
// peer may still be Primary for a moment ("Multiple primaries", exit 11): start waits for it to
// step down until the start timeout. Status is the local role: Primary = running.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TandemDiskResource } from '../../config/heartbeat/haresources.js';
import { describeExit, type ExecResult } from './exec.js';
import { failed, ok, type AgentContext, type OpResult, type ResourceAgent, type StatusResult } from './types.js';

export interface TandemAdmOptions {
  /** the command that runs tandemadm (env TANDEM_ADM, else node + this package's bin/tandemadm.js) */
  command: string[];
  node: string;
  /** ha.cf tandem_config; null: tandemadm's default */
  config: string | null;
  /** ha.cf tandem_run_dir; null: tandemadm's default (env TANDEM_RUN_DIR, then /run/tandem) */
  runDir: string | null;
}

/** drbdadm exit status of a refused state change; with "Multiple primaries" the peer is still Primary. */
const EXIT_STATE_CHANGE = 11;
const RETRY_MS = 1000;
/** drbddisk tries 6 times to promote and 3 times to demote on other errors */
const PROMOTE_TRIES = 6;
const DEMOTE_TRIES = 3;

export function defaultTandemAdmCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.TANDEM_ADM) return env.TANDEM_ADM.split(' ').filter((w) => w !== '');
  // dist/src/cluster/agents or src/cluster/agents: the package root holds bin/tandemadm.js
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'bin', 'tandemadm.js');
    if (fs.existsSync(candidate)) return [process.execPath, candidate];
    dir = path.dirname(dir);
  }
  return ['tandemadm'];
}

export function tandemAdmArgv(o: TandemAdmOptions, command: string, resource: string): string[] {
  const argv = [...o.command, '--node', o.node];
  if (o.config !== null) argv.push('--config', o.config);
  if (o.runDir !== null) argv.push('--run-dir', o.runDir);
  argv.push(command, resource);
  return argv;
}

/** `tandemadm role RES|all` prints `Primary/Secondary` per resource: running when every local role is Primary. */
export function roleHeld(stdout: string): boolean {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.length > 0 && lines.every((l) => l.split('/')[0] === 'Primary');
}

function peerStillPrimary(r: ExecResult): boolean {
  return r.code === EXIT_STATE_CHANGE && /multiple primaries/i.test(r.stderr + r.stdout);
}

function daemonDown(r: ExecResult): boolean {
  return /is not running/i.test(r.stderr + r.stdout);
}

export class TandemDiskAgent implements ResourceAgent {
  readonly agent: string;
  private readonly res: string;
  constructor(r: TandemDiskResource, private readonly ctx: AgentContext, private readonly adm: TandemAdmOptions) {
    this.agent = r.agent;
    this.res = r.resource ?? 'all';
  }

  private run(cmd: string, timeoutMs: number): Promise<ExecResult> {
    return this.ctx.exec(tandemAdmArgv(this.adm, cmd, this.res), { timeoutMs });
  }

  async status(): Promise<StatusResult> {
    const r = await this.run('role', this.ctx.timeoutsMs.status);
    if (r.code !== 0) return { state: 'stopped', detail: `cannot determine the role of ${this.res} ${describeExit(r)}` };
    const role = r.stdout.trim().replace(/\n/g, ', ');
    return roleHeld(r.stdout) ? { state: 'running', detail: `running (${role})` } : { state: 'stopped', detail: `stopped (${role})` };
  }

  async start(): Promise<OpResult> {
    const deadline = this.ctx.now() + this.ctx.timeoutsMs.start;
    let otherFailures = 0;
    let waitingLogged = false;
    for (;;) {
      const r = await this.run('primary', Math.max(1000, deadline - this.ctx.now()));
      if (r.code === 0) return ok(r.stdout);
      if (peerStillPrimary(r)) {
        if (!waitingLogged) {
          waitingLogged = true;
          this.ctx.log('info', `${this.res}: the peer is still Primary; waiting for it to step down`, { resource: this.res });
        }
      } else if (++otherFailures >= PROMOTE_TRIES) {
        return failed(`tandemadm primary ${this.res} failed ${describeExit(r)}`, r.code, r.stderr);
      }
      if (this.ctx.now() + RETRY_MS >= deadline) {
        return failed(`tandemadm primary ${this.res} did not succeed before the start timeout ${describeExit(r)}`, r.code, r.stderr);
      }
      await this.ctx.sleep(RETRY_MS);
    }
  }

  async stop(): Promise<OpResult> {
    let last: ExecResult | null = null;
    for (let i = 0; i < DEMOTE_TRIES; i++) {
      if (i > 0) await this.ctx.sleep(RETRY_MS);
      last = await this.run('secondary', this.ctx.timeoutsMs.stop);
      if (last.code === 0) return ok(last.stdout);
      // No tandemd: nothing here can be Primary.
      if (daemonDown(last)) return ok(last.stderr);
    }
    return failed(`tandemadm secondary ${this.res} failed ${describeExit(last!)}`, last!.code, last!.stderr);
  }
}
