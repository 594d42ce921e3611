// Runs DRBD handlers (split-brain, pri-lost-after-sb, local-io-error, fence-peer, before/after-resync-
// target) as shell commands with the resource in the environment under DRBD's variable names, so
// existing notify scripts work. A handler that hangs is killed after a timeout and logged.
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';

export async function runHandler(
  log: Logger,
  name: string,
  command: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4096)));
    child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4096)));
    const timer = setTimeout(() => {
      log.error({ handler: name, command, timeoutMs }, 'handler timed out; killing it');
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      log.error({ handler: name, err: err.message }, 'handler could not be started');
      resolve(null);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      log.info({ handler: name, command, exitCode: code, signal, output: output.trim() }, `helper command: ${name} exit code ${code}`);
      resolve(code);
    });
  });
}
