// Log lines to the local syslog, as daemons of this field do (heartbeat users look there first).
// Through logger(1) (util-linux, on every Debian system): Node has no unix datagram sockets, and
// logger speaks /dev/log's protocol (RFC 3164) exactly. One logger at a time, in order; a syslog
// that is gone or slow never blocks the daemon (after 1000 waiting lines new ones are dropped).
// TANDEM_SYSLOG_SOCKET names another socket than /dev/log (the tests listen on their own).
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';

/** syslog(3)'s facility names, and heartbeat's `none` */
export const SYSLOG_FACILITIES: ReadonlySet<string> = new Set([
  'auth', 'authpriv', 'cron', 'daemon', 'ftp', 'kern', 'lpr', 'mail', 'news', 'syslog', 'user', 'uucp',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7', 'none',
]);

/** pino's numeric levels → syslog priorities and the words heartbeat prints */
export const SYSLOG_LEVELS: Readonly<Record<number, { prio: string; word: string }>> = {
  10: { prio: 'debug', word: 'debug' },
  20: { prio: 'debug', word: 'debug' },
  30: { prio: 'info', word: 'info' },
  40: { prio: 'warning', word: 'WARN' },
  50: { prio: 'err', word: 'ERROR' },
  60: { prio: 'crit', word: 'CRIT' },
};

export class SyslogQueue {
  private queue: string[][] = [];
  private running = false;

  constructor(
    private readonly tag: string,
    private readonly facility: string,
    private readonly socket: string | undefined = process.env.TANDEM_SYSLOG_SOCKET,
  ) {}

  send(prio: string, text: string): void {
    if (this.queue.length > 1000) return;
    this.queue.push(['-t', this.tag, `--id=${process.pid}`, '-p', `${this.facility}.${prio}`, ...(this.socket ? ['-u', this.socket] : []), '--', text]);
    this.next();
  }

  private next(): void {
    if (this.running) return;
    const args = this.queue.shift();
    if (!args) return;
    this.running = true;
    const child = spawn('logger', args, { stdio: 'ignore' });
    const done = () => {
      this.running = false;
      this.next();
    };
    child.once('error', done);
    child.once('exit', done);
  }
}

/**
 * A pino destination for a daemon's `--syslog`: every JSON line to stdout as before, and those at
 * info or above to syslog as `info: r0: message` (the resource first, as DRBD's kernel messages
 * name it).
 */
export class SyslogTee extends Writable {
  private readonly syslog: SyslogQueue;

  constructor(tag: string, facility: string, socket?: string) {
    super();
    this.syslog = new SyslogQueue(tag, facility, socket);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const line = chunk.toString();
    process.stdout.write(line);
    try {
      const rec = JSON.parse(line) as { level?: number; msg?: string; resource?: string };
      const level = rec.level ?? 30;
      if (level >= 30) {
        const lv = SYSLOG_LEVELS[level] ?? SYSLOG_LEVELS[30]!;
        this.syslog.send(lv.prio, `${lv.word}: ${rec.resource ? `${rec.resource}: ` : ''}${rec.msg ?? ''}`);
      }
    } catch {
      /* not JSON: stdout only */
    }
    cb();
  }
}
