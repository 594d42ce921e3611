// A syslog socket of the test's own: a unix datagram socket (what /dev/log is) whose messages
// are appended to a file, one per line. Node has no unix datagram sockets; python3 (on every
// Debian) does. The daemons are pointed at it with TANDEM_SYSLOG_SOCKET.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const LISTEN = `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], 'ab', buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b'\\n') + b'\\n')
`;

export class SyslogListener {
  private constructor(readonly socket: string, private readonly file: string, private readonly proc: ChildProcess) {}

  static async start(dir: string): Promise<SyslogListener> {
    const socket = path.join(dir, 'log.sock');
    const file = path.join(dir, 'syslog.txt');
    const proc = spawn('python3', ['-c', LISTEN, socket, file], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(socket)) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error('the test syslog listener (python3) did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    return new SyslogListener(socket, file, proc);
  }

  /** everything received so far */
  text(): string {
    return fs.existsSync(this.file) ? fs.readFileSync(this.file, 'utf8') : '';
  }

  stop(): void {
    if (this.proc.pid && this.proc.exitCode === null) process.kill(this.proc.pid, 'SIGKILL');
  }
}
