// A syslog socket of the test's own: a unix datagram socket (what /dev/log is) bound in this
// process with unix-dgram, the addon the daemons send with. The daemons are pointed at it with
// TANDEM_SYSLOG_SOCKET, so no test needs root or touches the machine's /dev/log.
import fs from 'node:fs';
import path from 'node:path';
import { unixDgramModule } from '../../src/logging/syslog.js';

export class SyslogListener {
  private readonly lines: string[] = [];

  private constructor(readonly socket: string, private readonly close: () => void) {}

  static async start(dir: string, name = 'log.sock'): Promise<SyslogListener> {
    const socket = path.join(dir, name);
    fs.rmSync(socket, { force: true });
    const s = unixDgramModule().createSocket('unix_dgram');
    let listener: SyslogListener | null = null;
    const failed = new Promise<never>((_r, reject) => s.on('error', (e) => reject(e)));
    s.on('message', (buf) => listener?.lines.push(buf.toString().replace(/\0$/, '')));
    s.bind(socket);
    await Promise.race([new Promise((r) => setImmediate(r)), failed]);
    listener = new SyslogListener(socket, () => s.close());
    return listener;
  }

  /** every datagram received so far, one per line */
  text(): string {
    return this.lines.map((l) => `${l}\n`).join('');
  }

  messages(): readonly string[] {
    return this.lines;
  }

  stop(): void {
    this.close();
    fs.rmSync(this.socket, { force: true });
  }
}
