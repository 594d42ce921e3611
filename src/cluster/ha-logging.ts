// ha.cf's logging as heartbeat's cl_log does it (cluster-glue cl_log.c cl_direct_log, heartbeat
// config.c check_logd_usage):
// - `logfacility F` sends every message to syslog with facility F, as `tandem-hb: [PID]: info: msg`
//   (heartbeat's `heartbeat: [PID]: info: msg`); `none` switches syslog off;
// - `use_logd yes` (the default when no logfile, debugfile or logfacility is given) hands messages
//   to logd, whose default is syslog as daemon: there is no separate logd here, so it is that;
// - `logfile FILE` gets every message but debug ones, `debugfile FILE` every message, both as
//   `tandem-hb[PID]: 2026/12/04_04:05:06 info: msg`, the file opened for each line (logrotate-safe);
// - debug messages exist only with `debug N` (N > 0) or tandem-hb's own `--log-level debug`
//   (heartbeat's -d); then they go to syslog and the debugfile too.
// tandem-hb's pino JSON still goes to stdout at --log-level. The plan can change while running
// (tandem-hb reload): HaLogStream.setPlan.
import fs from 'node:fs';
import { Writable } from 'node:stream';
import type { HaLogging } from '../config/heartbeat/index.js';
import { formatRfc3164, levelInfo, SyslogSender } from '../logging/syslog.js';

export interface HaLogPlan {
  /** syslog facility, or null: not to syslog */
  facility: string | null;
  logfile: string | null;
  debugfile: string | null;
  /** ha.cf `debug N` */
  debugLevel: number;
}

/** Pure: what ha.cf's logging lines ask for. */
export function haLogPlan(logging: HaLogging, debugLevel: number): HaLogPlan {
  const facility = logging.facility && logging.facility !== 'none' ? logging.facility : logging.useLogd ? 'daemon' : null;
  return { facility, logfile: logging.logfile, debugfile: logging.debugfile, debugLevel };
}

/** for the log: `syslog (local0), /var/log/ha-log, debug 1` */
export function describeLogPlan(plan: HaLogPlan): string {
  const parts = [
    plan.facility ? `syslog (${plan.facility})` : null,
    plan.logfile ? `logfile ${plan.logfile}` : null,
    plan.debugfile ? `debugfile ${plan.debugfile}` : null,
    plan.debugLevel > 0 ? `debug ${plan.debugLevel}` : null,
  ].filter((p): p is string => p !== null);
  return parts.length > 0 ? parts.join(', ') : 'stdout only';
}

export const DEBUG = 20;
export const INFO = 30;

/** Pure: the lowest pino level worth producing at all: debug when ha.cf or --log-level asks for it. */
export function haMinLevel(plan: HaLogPlan, stdoutLevel: number): number {
  return Math.min(stdoutLevel, plan.debugLevel > 0 ? DEBUG : INFO);
}

export interface HaLogTargets { stdout: boolean; syslog: boolean; logfile: boolean; debugfile: boolean }

/** Pure: where one message of pino level `level` goes. */
export function haLogTargets(plan: HaLogPlan, stdoutLevel: number, level: number): HaLogTargets {
  const produced = level >= haMinLevel(plan, stdoutLevel);
  return {
    stdout: level >= stdoutLevel,
    syslog: produced && plan.facility !== null,
    logfile: produced && plan.logfile !== null && level >= INFO,
    debugfile: produced && plan.debugfile !== null,
  };
}

/** heartbeat's file line (cl_log.c, ha_timestamp): `tandem-hb[PID]: 2026/12/04_04:00:00 info: message` */
export function formatHaLine(levelWord: string, msg: string, time: Date, pid: number): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const ts = `${time.getFullYear()}/${p(time.getMonth() + 1)}/${p(time.getDate())}_${p(time.getHours())}:${p(time.getMinutes())}:${p(time.getSeconds())}`;
  return `tandem-hb[${pid}]: ${ts} ${levelWord}: ${msg}`;
}

/** heartbeat's syslog message body (cl_direct_log: `syslog(priority, "[%d]: %s: %s", pid, pristr, buf)`) */
export function formatHaSyslogMessage(levelWord: string, msg: string, pid: number): string {
  return `[${pid}]: ${levelWord}: ${msg}`;
}

/** A pino destination that routes every JSON line as the current plan says. */
export class HaLogStream extends Writable {
  private plan: HaLogPlan;
  private syslog: SyslogSender | null = null;
  private readonly brokenFiles = new Set<string>();

  constructor(plan: HaLogPlan, private stdoutLevel: number, private readonly socket?: string) {
    super();
    this.plan = plan;
    this.openSyslog();
  }

  /** Applies a new plan (reload); the syslog socket is reopened only when the facility changed. */
  setPlan(plan: HaLogPlan): void {
    const reopen = (plan.facility === null) !== (this.plan.facility === null);
    this.plan = plan;
    if (reopen) {
      this.syslog?.close();
      this.syslog = null;
      this.openSyslog();
    }
  }

  minLevel(): number {
    return haMinLevel(this.plan, this.stdoutLevel);
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
    const level = rec.level ?? INFO;
    const to = haLogTargets(this.plan, this.stdoutLevel, level);
    if (to.stdout) process.stdout.write(line);
    const { severity, word } = levelInfo(level);
    const time = new Date(rec.time ?? Date.now());
    const msg = rec.msg ?? '';
    if (to.logfile || to.debugfile) {
      const text = `${formatHaLine(word, msg, time, process.pid)}\n`;
      if (to.debugfile) this.append(this.plan.debugfile!, text);
      if (to.logfile) this.append(this.plan.logfile!, text);
    }
    if (to.syslog && this.syslog && this.plan.facility) {
      this.syslog.send(formatRfc3164(this.plan.facility, severity, time, 'tandem-hb', formatHaSyslogMessage(word, msg, process.pid)));
    }
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.syslog?.close();
    cb();
  }

  private openSyslog(): void {
    if (!this.plan.facility) return;
    this.syslog = new SyslogSender(this.socket, (msg) => this.note(msg));
  }

  /** a file that cannot be written must not stop the daemon: said once on stdout, until it works again */
  private append(file: string, text: string): void {
    try {
      fs.appendFileSync(file, text);
      this.brokenFiles.delete(file);
    } catch (e) {
      if (this.brokenFiles.has(file)) return;
      this.brokenFiles.add(file);
      this.note(`cannot write ${file}: ${(e as Error).message}`);
    }
  }

  private note(msg: string): void {
    process.stdout.write(`${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, msg })}\n`);
  }
}
