// ha.cf's `respawn USER COMMAND`: programs tandem-hb runs for as long as it runs and restarts when
// they exit, as heartbeat does (ha.cf(5); heartbeat.c ManagedChildDied): an exit status of 100
// means "do not restart me"; a child that dies within 30 s of its start counts as a fast death,
// and after more than 10 of those heartbeat logs "respawning too fast" and gives up on it. The
// decision is pure (respawnDecision); Respawner runs the children as USER and ends them, by PID,
// when tandem-hb stops.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Respawn } from '../config/heartbeat/index.js';

export const FAST_DEATH_MS = 30_000;
export const MAX_FAST_RESPAWNS = 10;
/** a short pause before a restart, so a program that cannot start does not spin */
export const RESTART_DELAY_MS = 1000;

export type RespawnDecision =
  | { action: 'restart'; fastDeaths: number }
  | { action: 'give-up'; fastDeaths: number; reason: string };

export function respawnDecision(exit: { code: number | null; signal: string | null }, ranMs: number, fastDeaths: number): RespawnDecision {
  if (exit.code === 100) return { action: 'give-up', fastDeaths, reason: 'exited with status 100: not respawning it' };
  const fast = ranMs < FAST_DEATH_MS ? fastDeaths + 1 : 0;
  if (fast > MAX_FAST_RESPAWNS) return { action: 'give-up', fastDeaths: fast, reason: 'respawning too fast: giving up on it' };
  return { action: 'restart', fastDeaths: fast };
}

interface Child {
  spec: Respawn;
  proc: ChildProcess | null;
  startedAt: number;
  fastDeaths: number;
  timer: NodeJS.Timeout | null;
}

function lookupUser(user: string): { uid: number; gid: number } {
  const id = (args: string[]) => Number(execFileSync('id', [...args, user], { encoding: 'utf8' }).trim());
  return { uid: id(['-u']), gid: id(['-g']) };
}

export class Respawner {
  private readonly children: Child[] = [];
  private stopping = false;

  constructor(specs: readonly Respawn[], private readonly log: Logger, private readonly now: () => number = Date.now) {
    for (const spec of specs) this.children.push({ spec, proc: null, startedAt: 0, fastDeaths: 0, timer: null });
  }

  start(): void {
    for (const c of this.children) this.run(c);
  }

  private run(c: Child): void {
    if (this.stopping) return;
    const [cmd, ...args] = c.spec.command;
    let ids: { uid: number; gid: number } | undefined;
    try {
      // as root, run as USER; as another user we can only run as ourselves
      if (process.getuid?.() === 0) ids = lookupUser(c.spec.user);
    } catch {
      this.log.error({ user: c.spec.user, command: c.spec.command }, `respawn: unknown user '${c.spec.user}'; not starting ${cmd}`);
      return;
    }
    const proc = spawn(cmd!, args, { stdio: 'ignore', ...(ids ?? {}) });
    c.proc = proc;
    c.startedAt = this.now();
    proc.once('error', (err) => this.log.error({ command: c.spec.command, err: err.message }, `respawn: cannot start ${cmd}`));
    proc.once('spawn', () => this.log.info({ command: c.spec.command, pid: proc.pid, user: c.spec.user }, `Starting child client "${c.spec.command.join(' ')}" (pid ${proc.pid})`));
    proc.once('exit', (code, signal) => {
      c.proc = null;
      if (this.stopping) return;
      const d = respawnDecision({ code, signal }, this.now() - c.startedAt, c.fastDeaths);
      c.fastDeaths = d.fastDeaths;
      if (d.action === 'give-up') {
        this.log.error({ command: c.spec.command, code, signal }, `Client "${c.spec.command.join(' ')}" ${d.reason}`);
        return;
      }
      this.log.warn({ command: c.spec.command, code, signal }, `Managed "${c.spec.command.join(' ')}" process exited (${signal ?? `status ${code}`}); respawning`);
      c.timer = setTimeout(() => {
        c.timer = null;
        this.run(c);
      }, RESTART_DELAY_MS);
    });
  }

  /** Ends every child (SIGTERM, then SIGKILL after `graceMs`) and restarts none. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    await Promise.all(this.children.map(async (c) => {
      if (c.timer) clearTimeout(c.timer);
      const p = c.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    }));
  }

  /** PIDs of the children running now (status, tests). */
  pids(): number[] {
    return this.children.flatMap((c) => (c.proc?.pid !== undefined && c.proc.exitCode === null ? [c.proc.pid] : []));
  }
}
