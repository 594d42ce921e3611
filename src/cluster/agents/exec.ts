// Running an agent's command: argv (no shell), a timeout after which the whole process group is
// killed, and stdout/stderr captured (the tail, for the log). Resolves on the child's exit, not on
// its pipes closing: an init script's daemon inherits the pipes and would keep them open forever.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ExecOptions {
  timeoutMs: number;
  /** added to the daemon's environment */
  env?: Record<string, string>;
}

export interface ExecResult {
  /** exit status, null when killed by a signal or not started */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** the command could not be started (ENOENT, EACCES) */
  error: string | null;
}

export type Exec = (argv: readonly string[], opts: ExecOptions) => Promise<ExecResult>;

const MAX_OUTPUT = 64 * 1024;
const KILL_GRACE_MS = 2000;

export const runCommand: Exec = (argv, opts) =>
  new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) {
      resolve({ code: null, signal: null, stdout: '', stderr: '', timedOut: false, error: 'empty command' });
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a timeout kills what it started too
    });
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => { stdout = (stdout + d).slice(-MAX_OUTPUT); });
    child.stderr.on('data', (d: string) => { stderr = (stderr + d).slice(-MAX_OUTPUT); });
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, opts.timeoutMs);
    const finish = (r: Omit<ExecResult, 'stdout' | 'stderr' | 'timedOut'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer && !timedOut) clearTimeout(killTimer);
      // Let what is already in the pipes arrive, then stop reading: daemons keep them open.
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ ...r, stdout, stderr, timedOut });
      }, 20);
    };
    child.on('error', (e) => finish({ code: null, signal: null, error: e.message }));
    child.on('exit', (code, signal) => finish({ code, signal, error: null }));
  });

/** The first executable file named `name` on PATH (like `command -v`), or null. */
export function findOnPath(name: string, pathEnv = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): string | null {
  const dirs = [...pathEnv.split(':'), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return null;
}

export function isExecutableFile(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** One line for logs and the operational log: `(rc=1) unknown error`, `(Timed Out)`. */
export function describeExit(r: ExecResult): string {
  if (r.error) return `(could not run: ${r.error})`;
  if (r.timedOut) return '(Timed Out)';
  if (r.signal) return `(killed by ${r.signal})`;
  const tail = lastLine(r.stderr) || lastLine(r.stdout);
  return `(rc=${r.code})${tail ? ` ${tail}` : ''}`;
}

export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return (lines[lines.length - 1] ?? '').slice(0, 200);
}
