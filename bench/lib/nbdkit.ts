// nbdkit's file plugin over a unix socket: the non-replicated NBD baseline. Started in the
// foreground (-f) so the process we hold is the server itself, and stopped by that PID.
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { startTracked, stopProcess, waitFor } from './proc.js';

export class NbdkitServer {
  private logTail = '';

  private constructor(readonly socket: string, private readonly proc: ChildProcess) {
    const keep = (d: Buffer): void => {
      this.logTail = (this.logTail + d.toString()).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
  }

  get uri(): string {
    return `nbd+unix:///?socket=${this.socket}`;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  static async start(file: string, socket: string): Promise<NbdkitServer> {
    const proc = startTracked('nbdkit', ['-U', socket, '-f', 'file', `file=${file}`]);
    const s = new NbdkitServer(socket, proc);
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`nbdkit exited with ${proc.exitCode}: ${s.logTail}`);
      return fs.existsSync(socket);
    }, 10_000, 'nbdkit socket');
    return s;
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc);
    fs.rmSync(this.socket, { force: true });
  }
}
