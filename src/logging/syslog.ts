// Lines to the local syslog socket, as syslog(3) writes them (heartbeat users look there first).
// The datagram is RFC 3164 as glibc's syslog(3) sends it to /dev/log: `<PRI>Mmm dd hh:mm:ss TAG: MSG`
// in local time and without a host name (the syslog daemon adds it). Node has no unix datagram
// sockets; Tandem's own addon has one (native/unix_dgram.cc, N-API: it loads on every Node
// version the addon does, where a NAN addon such as unix-dgram must be rebuilt). Nothing here may
// block or crash a daemon: a missing or dead syslog daemon loses lines (reported once), a full
// socket queues up to MAX_QUEUED lines and retries, and beyond that lines are dropped and counted
// ("N messages were dropped", as heartbeat's cl_log says).
// TANDEM_SYSLOG_SOCKET names another socket than /dev/log (tests listen on their own).
import { native, type NativeUnixDgram } from '../storage/native.js';

/** syslog(3)'s facility codes (<sys/syslog.h>), by the names ha.cf and logger(1) use */
export const SYSLOG_FACILITY_CODES: Readonly<Record<string, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

/** the facility names ha.cf's logfacility accepts: syslog(3)'s and heartbeat's `none` */
export const SYSLOG_FACILITIES: ReadonlySet<string> = new Set([...Object.keys(SYSLOG_FACILITY_CODES), 'none']);

export type SyslogSeverity = 'emerg' | 'alert' | 'crit' | 'err' | 'warning' | 'notice' | 'info' | 'debug';
export const SEVERITY_CODES: Readonly<Record<SyslogSeverity, number>> = {
  emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7,
};

/** pino's numeric levels → syslog severities and the words heartbeat's cl_log prints */
export const SYSLOG_LEVELS: Readonly<Record<number, { severity: SyslogSeverity; word: string }>> = {
  10: { severity: 'debug', word: 'debug' },
  20: { severity: 'debug', word: 'debug' },
  30: { severity: 'info', word: 'info' },
  40: { severity: 'warning', word: 'WARN' },
  50: { severity: 'err', word: 'ERROR' },
  60: { severity: 'crit', word: 'CRIT' },
};

export function levelInfo(pinoLevel: number): { severity: SyslogSeverity; word: string } {
  return SYSLOG_LEVELS[pinoLevel] ?? (pinoLevel >= 60 ? SYSLOG_LEVELS[60]! : pinoLevel >= 50 ? SYSLOG_LEVELS[50]! : pinoLevel >= 40 ? SYSLOG_LEVELS[40]! : pinoLevel >= 30 ? SYSLOG_LEVELS[30]! : SYSLOG_LEVELS[20]!);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** syslog(3)'s `%h %e %T` in local time: `Dec  4 04:05:06` */
export function rfc3164Time(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** a datagram longer than this is cut (rsyslog's and journald's defaults take 8 KiB) */
export const MAX_DATAGRAM = 8192;

/**
 * One datagram as syslog(3) sends it to /dev/log. `tag` is openlog's ident (with `[pid]` when the
 * caller wants LOG_PID's form); PRI = facility * 8 + severity.
 */
export function formatRfc3164(facility: string, severity: SyslogSeverity, time: Date, tag: string, msg: string): Buffer {
  const code = SYSLOG_FACILITY_CODES[facility];
  if (code === undefined) throw new Error(`'${facility}' is not a syslog facility`);
  // one line per message: a newline inside would read as two messages in the log files
  const text = `<${code * 8 + SEVERITY_CODES[severity]}>${rfc3164Time(time)} ${tag}: ${msg.replace(/\r?\n/g, ' ')}`;
  const buf = Buffer.from(text);
  return buf.length <= MAX_DATAGRAM ? buf : buf.subarray(0, MAX_DATAGRAM);
}

export function syslogSocketPath(): string {
  return process.env.TANDEM_SYSLOG_SOCKET || '/dev/log';
}

/** The socket the sender uses: the addon's (tests give a fake one). */
export type UnixDgramSocket = Pick<NativeUnixDgram, 'sendTo' | 'close'>;

/** A new non-blocking unix datagram socket (throws when none can be made). */
export function openUnixDgram(): NativeUnixDgram {
  return new native.UnixDgram();
}

export const MAX_QUEUED = 1000;
const RETRY_MS = 50;
const EAGAIN = -11;
const ENOBUFS = -105;

/**
 * A sender of datagrams to one syslog socket. sendto(2) on every line, so a syslog daemon that
 * restarts (or a socket that appears later) is found again without reconnecting.
 * `trouble` hears about a lost syslog once per outage and about dropped lines.
 */
export class SyslogSender {
  private sock: UnixDgramSocket | null = null;
  private queue: Buffer[] = [];
  private retry: NodeJS.Timeout | null = null;
  private dropped = 0;
  private failing: string | null = null;
  private closed = false;

  constructor(
    readonly path: string = syslogSocketPath(),
    private readonly trouble: (msg: string) => void = () => {},
    private readonly createSocket: () => UnixDgramSocket = openUnixDgram,
  ) {}

  send(datagram: Buffer): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUED) {
      this.dropped += 1;
      return;
    }
    this.queue.push(datagram);
    if (!this.retry) this.flush();
  }

  /** lines waiting for room in the socket (tests, status) */
  get pending(): number {
    return this.queue.length;
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.queue = [];
    this.sock?.close();
    this.sock = null;
  }

  private socket(): UnixDgramSocket {
    this.sock ??= this.createSocket();
    return this.sock;
  }

  private flush(): void {
    this.retry = null;
    if (!this.sock) {
      try {
        this.socket();
      } catch (e) {
        // the addon could not load: say so once, drop the lines, never take the daemon down
        this.queue = [];
        if (this.failing === null) {
          this.failing = 'no socket';
          this.trouble(`syslog: cannot open a unix datagram socket (${(e as Error).message}); lines meant for syslog are lost`);
        }
        return;
      }
    }
    while (this.queue.length > 0 && !this.closed) {
      const err = this.sendOne(this.queue[0]!);
      if (err === EAGAIN || err === ENOBUFS) {
        // the syslog daemon is behind: try again shortly, keeping the order
        this.retry = setTimeout(() => this.flush(), RETRY_MS);
        this.retry.unref?.();
        return;
      }
      this.queue.shift();
      if (err === 0) {
        if (this.failing) {
          this.trouble(`syslog: ${this.path} works again`);
          this.failing = null;
        }
      } else if (this.failing === null) {
        // no syslog daemon (ENOENT, ECONNREFUSED) or another error: the line is lost, said once
        this.failing = errnoName(err);
        this.trouble(`syslog: cannot send to ${this.path} (${this.failing}); lines meant for syslog are lost until it works again`);
      }
    }
    if (this.dropped > 0 && !this.closed) {
      const n = this.dropped;
      this.dropped = 0;
      this.trouble(`syslog: ${n} messages were dropped`);
    }
  }

  /** 0, or -errno (the addon answers sendto's outcome; EAGAIN/ENOBUFS: the reader is behind) */
  private sendOne(buf: Buffer): number {
    return this.socket().sendTo(buf, this.path);
  }
}

function errnoName(err: number): string {
  const names: Record<number, string> = { [-2]: 'ENOENT', [-13]: 'EACCES', [-91]: 'EPROTOTYPE', [-111]: 'ECONNREFUSED', [-90]: 'EMSGSIZE' };
  return names[err] ?? `errno ${-err}`;
}
