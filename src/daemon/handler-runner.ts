// Runs DRBD handlers (split-brain, pri-lost-after-sb, local-io-error, fence-peer, before/after-resync-
// target) as shell commands with the resource in the environment under DRBD's variable names, so
// existing notify scripts work. A handler that hangs is killed after a timeout and logged.
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';

/** DRBD waits for its helpers without a limit; a daemon must not, so a hung helper is killed. */
export const DEFAULT_HANDLER_TIMEOUT_MS = 60_000;
export const HANDLER_TIMEOUT_ENV = 'TANDEM_HANDLER_TIMEOUT_MS';

/** The timeout from TANDEM_HANDLER_TIMEOUT_MS (tests shorten it), else the default. */
export function handlerTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[HANDLER_TIMEOUT_ENV];
  if (raw === undefined || raw === '') return DEFAULT_HANDLER_TIMEOUT_MS;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_HANDLER_TIMEOUT_MS;
}

export interface HandlerResult {
  /** the exit code; null when it could not be started or was killed */
  exitCode: number | null;
  timedOut: boolean;
}

/**
 * Runs `command` with /bin/sh in its own process group, so a timeout kills the whole group
 * (a `sleep` started by the script included), not just the shell.
 */
export async function runHandlerCommand(
  log: Logger,
  name: string,
  command: string,
  env: Record<string, string>,
  timeoutMs = handlerTimeoutMs(),
): Promise<HandlerResult> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      log.error({ handler: name, err: (err as Error).message }, `helper command: ${name} could not be started`);
      resolve({ exitCode: null, timedOut: false });
      return;
    }
    let output = '';
    let timedOut = false;
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-4096);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      log.error({ handler: name, command, timeoutMs }, `helper command: ${name} did not finish within ${timeoutMs} ms; killed it`);
      killGroup();
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      log.error({ handler: name, err: err.message }, `helper command: ${name} could not be started`);
      resolve({ exitCode: null, timedOut: false });
    });
    // 'exit', not 'close': a script may leave a background process holding its stdout open
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!timedOut) {
        log.info({ handler: name, command, exitCode: code, signal, output: output.trim() }, `helper command: ${name} exit code ${code}`);
      }
      resolve({ exitCode: timedOut ? null : code, timedOut });
    });
  });
}

/** The exit code only (null if it could not run or was killed). */
export async function runHandler(
  log: Logger,
  name: string,
  command: string,
  env: Record<string, string>,
  timeoutMs = handlerTimeoutMs(),
): Promise<number | null> {
  return (await runHandlerCommand(log, name, command, env, timeoutMs)).exitCode;
}
