// What every resource agent offers the runner: start, stop and status with heartbeat's meaning
// (start/stop are idempotent; status says whether this node holds the resource).
import type { Exec } from './exec.js';

export interface OpResult {
  ok: boolean;
  /** the exit status of the command that decided it, null when none ran or it was killed */
  rc: number | null;
  /** for the logs: `(rc=1) unknown error`, `(Timed Out)`, '' on success */
  message: string;
  /** captured output of the commands, for the debug log */
  output: string;
}

export type HeldState = 'running' | 'stopped';

export interface StatusResult {
  state: HeldState;
  /** what the status probe printed or read, for the logs */
  detail: string;
}

export interface ResourceAgent {
  /** the agent's name as heartbeat would print it: IPaddr2, Filesystem, drbddisk, httpd */
  readonly agent: string;
  start(): Promise<OpResult>;
  stop(): Promise<OpResult>;
  status(): Promise<StatusResult>;
}

export interface AgentTimeouts { start: number; stop: number; status: number }

/** Everything an agent needs from the outside world, injectable for tests. */
export interface AgentContext {
  exec: Exec;
  timeoutsMs: AgentTimeouts;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  readFile: (path: string) => Promise<string>;
  /** looks a command up on PATH; null when absent (arping, fuser are optional) */
  which: (name: string) => string | null;
  mkdirp: (dir: string) => Promise<void>;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export const ok = (output = ''): OpResult => ({ ok: true, rc: 0, message: '', output });
export const failed = (message: string, rc: number | null = null, output = ''): OpResult => ({ ok: false, rc, message, output });
