// ha.cf's `respawn USER COMMAND`: programs tandem-hb runs for as long as it runs, as heartbeat's
// managed children (heartbeat.c ManagedChildDied, start_a_child_client, shutdown_last_client_child):
// - run as `/bin/sh -c "exec COMMAND"` as USER, in a process group of their own, stdio on /dev/null;
// - a child that exits with status 100 is not restarted; any other end restarts it at once, but a
//   child that died within 30 s of its start is a short run and waits 1 s before its exec;
// - more than 10 short runs in a row: "respawning too fast", and it is not started again (until a
//   reload or restart of tandem-hb);
// - at stop the children are ended last first, one after the other, SIGTERM to the process group
//   (SIGKILL after a grace period: a Tandem addition so stop always ends).
// The decision is pure (respawnDecision); Respawner runs it against an injected process and timer
// layer, so tests drive it with a fake clock.
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Respawn } from '../config/heartbeat/index.js';

export const SHORT_RUN_MS = 30_000;
export const MAX_SHORT_RUNS = 10;
/** heartbeat's child sleeps this long before its exec when its previous run was short */
export const SHORT_RUN_DELAY_MS = 1000;
export const STOP_GRACE_MS = 10_000;

export type RespawnDecision =
  | { action: 'restart'; shortRuns: number; delayMs: number }
  | { action: 'leave'; shortRuns: number; reason: 'exit-100' | 'too-fast' | 'stopping' };

/** Pure: what to do when a respawn child ended after `ranMs`, with `shortRuns` short runs before. */
export function respawnDecision(exitCode: number | null, ranMs: number, shortRuns: number, stopping: boolean): RespawnDecision {
  if (stopping) return { action: 'leave', shortRuns, reason: 'stopping' };
  if (exitCode === 100) return { action: 'leave', shortRuns, reason: 'exit-100' };
  const short = ranMs < SHORT_RUN_MS ? shortRuns + 1 : 0;
  if (short > MAX_SHORT_RUNS) return { action: 'leave', shortRuns: 0, reason: 'too-fast' };
  return { action: 'restart', shortRuns: short, delayMs: short > 0 ? SHORT_RUN_DELAY_MS : 0 };
}

export function respawnKey(r: Pick<Respawn, 'user' | 'command'>): string {
  return `${r.user} ${r.command.join(' ')}`;
}

/** what Respawner needs of a child process */
export interface ChildProc {
  readonly pid?: number | undefined;
  once(event: 'exit', cb: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', cb: (err: Error) => void): unknown;
}

export interface RespawnIo {
  /** start `sh -c "exec COMMAND"` as uid/gid (null: as ourselves) in a new process group */
  spawn(command: string, ids: { uid: number; gid: number } | null, env: NodeJS.ProcessEnv): ChildProc;
  /** signal the child's process group */
  killGroup(pid: number, signal: NodeJS.Signals): void;
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(t: unknown): void;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
}

/** a respawn line with its user resolved (ha-load.ts checks them at start and reload) */
export interface RespawnSpec extends Respawn { uid: number; gid: number }

interface Child {
  spec: RespawnSpec;
  text: string;
  proc: ChildProc | null;
  startedAt: number;
  shortRuns: number;
  timer: unknown;
  /** respawning has ended for it: exit 100, too fast, or removed */
  done: boolean;
}

export class Respawner {
  private children: Child[] = [];
  private stopping = false;

  constructor(specs: readonly RespawnSpec[], private readonly io: RespawnIo, private readonly env: () => NodeJS.ProcessEnv = () => ({})) {
    this.children = specs.map((s) => this.child(s));
  }

  start(): void {
    const me = process.getuid?.();
    const others = this.children.filter((c) => c.spec.uid !== me).map((c) => c.spec.user);
    if (me !== 0 && others.length > 0) {
      this.io.log.warn({ users: others }, `not running as root: respawn clients run as uid ${me}, not as ${[...new Set(others)].join(', ')}`);
    }
    for (const c of this.children) this.run(c);
  }

  /**
   * Reload: children of lines that stay keep running (and their count of short runs); lines that
   * went away are ended; new lines start; a child given up on gets a new chance, as heartbeat's
   * restart gives it.
   */
  async update(specs: readonly RespawnSpec[]): Promise<void> {
    const next = new Map(specs.map((s) => [respawnKey(s), s]));
    const gone = this.children.filter((c) => !next.has(respawnKey(c.spec)));
    const kept = new Map(this.children.filter((c) => next.has(respawnKey(c.spec))).map((c) => [respawnKey(c.spec), c]));
    this.children = specs.map((s) => kept.get(respawnKey(s)) ?? this.child(s));
    for (const c of gone) this.io.log.info({ command: c.text }, `respawn line removed: ending client "${c.text}"`);
    await this.end(gone.reverse());
    for (const c of this.children) {
      if (c.proc || c.timer !== null) continue;
      if (c.done) this.io.log.info({ command: c.text }, `giving client "${c.text}" a new chance (reload)`);
      c.done = false;
      c.shortRuns = 0;
      this.run(c);
    }
  }

  /** Ends every child, last first (heartbeat's shutdown order), and restarts none. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.stopping = true;
    await this.end([...this.children].reverse(), graceMs);
  }

  /** PIDs of the children running now (status, tests). */
  pids(): number[] {
    return this.children.flatMap((c) => (c.proc?.pid !== undefined ? [c.proc.pid] : []));
  }

  private child(spec: RespawnSpec): Child {
    return { spec, text: spec.command.join(' '), proc: null, startedAt: 0, shortRuns: 0, timer: null, done: false };
  }

  private async end(children: Child[], graceMs = STOP_GRACE_MS): Promise<void> {
    for (const c of children) {
      c.done = true;
      if (c.timer !== null) this.io.clearTimer(c.timer);
      c.timer = null;
      const p = c.proc;
      if (!p || p.pid === undefined) continue;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      this.io.log.info({ command: c.text, pid: p.pid }, `killing ${c.text} process group ${p.pid} with signal 15`);
      this.signal(p.pid, 'SIGTERM');
      const kill = this.io.setTimer(() => {
        this.io.log.warn({ command: c.text, pid: p.pid }, `killing ${c.text} process group ${p.pid} with signal 9`);
        this.signal(p.pid!, 'SIGKILL');
      }, graceMs);
      await exited;
      this.io.clearTimer(kill);
    }
  }

  private signal(pid: number, sig: NodeJS.Signals): void {
    try {
      this.io.killGroup(pid, sig);
    } catch {
      /* already gone */
    }
  }

  private run(c: Child): void {
    if (this.stopping || c.done) return;
    const { uid, gid } = c.spec;
    const asSelf = process.getuid?.() !== 0;
    this.io.log.info({ command: c.text, uid, gid }, `Starting child client "${c.text}" (${uid},${gid})`);
    let proc: ChildProc;
    try {
      proc = this.io.spawn(`exec ${c.text}`, asSelf ? null : { uid, gid }, this.env());
    } catch (e) {
      this.io.log.error({ command: c.text, err: (e as Error).message }, `Cannot exec ${c.text}: ${(e as Error).message}`);
      c.done = true;
      return;
    }
    c.proc = proc;
    c.startedAt = this.io.now();
    this.io.log.info({ command: c.text, pid: proc.pid, user: c.spec.user },
      `Starting "${c.text}" as uid ${asSelf ? process.getuid?.() : uid}  gid ${asSelf ? process.getgid?.() : gid} (pid ${proc.pid})`);
    proc.once('error', (err) => this.io.log.error({ command: c.text, err: err.message }, `Cannot exec ${c.text}: ${err.message}`));
    proc.once('exit', (code, signal) => this.onExit(c, proc, code, signal));
  }

  private onExit(c: Child, proc: ChildProc, code: number | null, signal: NodeJS.Signals | null): void {
    if (c.proc !== proc) return;
    c.proc = null;
    const quiet = this.stopping || c.done;
    if (!quiet && code !== null && code !== 0) this.io.log.error({ command: c.text, code }, `Client ${c.text} exited with return code ${code}.`);
    if (!quiet && signal) this.io.log.error({ command: c.text, signal }, `Client ${c.text} (pid=${proc.pid}) killed by signal ${os.constants.signals[signal] ?? signal}.`);
    const d = respawnDecision(code, this.io.now() - c.startedAt, c.shortRuns, quiet);
    c.shortRuns = d.shortRuns;
    if (d.action === 'leave') {
      if (d.reason === 'too-fast') this.io.log.error({ command: c.text }, `Client ${c.text} "respawning too fast"`);
      if (d.reason !== 'stopping') c.done = true;
      return;
    }
    this.io.log.error({ command: c.text, delayMs: d.delayMs }, `Respawning client "${c.text}":`);
    // heartbeat forks at once and the child sleeps before its exec; a timer here is the same wait
    c.timer = this.io.setTimer(() => {
      c.timer = null;
      this.run(c);
    }, d.delayMs);
  }
}

/** The real process layer: sh -c in a new session (its own process group), killed by group. */
export const systemRespawnIo = (log: RespawnIo['log']): RespawnIo => ({
  spawn: (command, ids, env) => spawn('/bin/sh', ['-c', command], { detached: true, stdio: 'ignore', env: { ...process.env, ...env }, ...(ids ?? {}) }),
  killGroup: (pid, signal) => process.kill(-pid, signal),
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
  log,
});
