// ha.cf's logging as heartbeat does it: `logfacility F` sends every message to syslog with that
// facility (heartbeat users look there first), `use_logd yes` too (there is no separate logd: the
// local syslog is it), `debugfile FILE` gets every message including debug ones, `debug N` (N > 0)
// lets debug messages reach syslog as well. tandem-hb's pino JSON still goes to stdout.
// Syslog lines go through src/logging/syslog.ts.
import fs from 'node:fs';
import { Writable } from 'node:stream';
import type { HaLogging } from '../config/heartbeat/index.js';
import { SYSLOG_LEVELS, SyslogQueue } from '../logging/syslog.js';

export interface HaLogPlan {
  /** syslog facility, or null: not to syslog */
  facility: string | null;
  debugfile: string | null;
  /** debug messages also to syslog and stdout */
  debug: boolean;
}

/** Pure: what ha.cf's logging lines ask for. `logfacility none` switches syslog off. */
export function haLogPlan(logging: HaLogging, debugLevel: number): HaLogPlan {
  const facility = logging.facility && logging.facility !== 'none' ? logging.facility : logging.useLogd ? 'daemon' : null;
  return { facility, debugfile: logging.debugfile, debug: debugLevel > 0 };
}

/** heartbeat's log line: `tandem-hb[PID]: 2026/12/04_04:00:00 info: message` */
export function formatHaLine(levelWord: string, msg: string, time: Date, pid: number): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const ts = `${time.getFullYear()}/${p(time.getMonth() + 1)}/${p(time.getDate())}_${p(time.getHours())}:${p(time.getMinutes())}:${p(time.getSeconds())}`;
  return `tandem-hb[${pid}]: ${ts} ${levelWord}: ${msg}`;
}

/**
 * A pino destination: every JSON line at or above `stdoutLevel` to stdout as before, and to the
 * debugfile and syslog as the plan says.
 */
export class HaLogStream extends Writable {
  private readonly syslog: SyslogQueue | null;

  constructor(private readonly plan: HaLogPlan, private readonly stdoutLevel: number, socket = process.env.TANDEM_SYSLOG_SOCKET) {
    super();
    this.syslog = plan.facility ? new SyslogQueue('tandem-hb', plan.facility, socket) : null;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const line = chunk.toString();
    let rec: { level?: number; msg?: string; time?: number };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      process.stdout.write(line);
      cb();
      return;
    }
    const level = rec.level ?? 30;
    const isDebug = level < 30;
    if (level >= this.stdoutLevel) process.stdout.write(line);
    const lv = SYSLOG_LEVELS[level] ?? SYSLOG_LEVELS[30]!;
    const text = formatHaLine(lv.word, rec.msg ?? '', new Date(rec.time ?? Date.now()), process.pid);
    if (this.plan.debugfile) {
      try {
        fs.appendFileSync(this.plan.debugfile, `${text}\n`);
      } catch {
        /* a debugfile that cannot be written must not stop the daemon */
      }
    }
    if (this.syslog && (!isDebug || this.plan.debug)) this.syslog.send(lv.prio, `${lv.word}: ${rec.msg ?? ''}`);
    cb();
  }
}
