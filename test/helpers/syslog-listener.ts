// A syslog socket of the test's own: a unix datagram socket (what /dev/log is) bound in this
// process with the addon's UnixDgram, the socket the daemons send with. The daemons are pointed at
// it with TANDEM_SYSLOG_SOCKET, so no test needs root or touches the machine's /dev/log.
import fs from 'node:fs';
import path from 'node:path';
import { native, type NativeUnixDgram } from '../../src/storage/native.js';

const EAGAIN = -11;

export class SyslogListener {
  private readonly lines: string[] = [];
  private readonly buf = Buffer.alloc(65536);
  private readonly timer: NodeJS.Timeout;

  private constructor(readonly socket: string, private readonly sock: NativeUnixDgram) {
    // the socket is non-blocking: read what has arrived every few milliseconds
    this.timer = setInterval(() => this.drain(), 5);
  }

  static async start(dir: string, name = 'log.sock'): Promise<SyslogListener> {
    const socket = path.join(dir, name);
    fs.rmSync(socket, { force: true });
    const s = new native.UnixDgram();
    const r = s.bind(socket);
    if (r !== 0) {
      s.close();
      throw new Error(`cannot bind the test syslog socket ${socket}: errno ${-r}`);
    }
    return new SyslogListener(socket, s);
  }

  private drain(): void {
    for (;;) {
      const n = this.sock.recv(this.buf);
      if (n === EAGAIN || n < 0) return;
      this.lines.push(this.buf.subarray(0, n).toString().replace(/\0$/, ''));
    }
  }

  /** every datagram received so far, one per line */
  text(): string {
    this.drain();
    return this.lines.map((l) => `${l}\n`).join('');
  }

  messages(): readonly string[] {
    this.drain();
    return this.lines;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sock.close();
    fs.rmSync(this.socket, { force: true });
  }
}
