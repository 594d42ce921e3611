// Runs a system tool (losetup, fusermount3, nbd-client) with a deadline and turns a failure into an
// error that names the command and quotes what the tool said.
import { execFile } from 'node:child_process';

export class ToolError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ToolOutput {
  stdout: string;
  stderr: string;
}

export function runTool(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<ToolOutput> {
  const shown = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) {
        resolve({ stdout, stderr });
        return;
      }
      const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
      if (e.code === 'ENOENT') {
        reject(new ToolError(shown, null, '', `${cmd} is not installed (needed for: ${shown})`));
        return;
      }
      if (e.killed) {
        reject(new ToolError(shown, null, stderr, `${shown} did not finish within ${timeoutMs} ms`));
        return;
      }
      const code = typeof e.code === 'number' ? e.code : null;
      const said = stderr.trim() || stdout.trim() || e.message;
      reject(new ToolError(shown, code, stderr, `${shown} failed (exit ${code ?? '?'}): ${said}`));
    });
  });
}
