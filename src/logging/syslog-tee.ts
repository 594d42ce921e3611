// tandemd's `--syslog [FACILITY]`: the pino JSON lines still go to stdout, and those at info and
// above also to the local syslog as a daemon using syslog(3) with LOG_PID writes them:
// `<PRI>Dec  4 04:05:06 tandemd[1234]: r0: attached` (the resource first, as DRBD's kernel
// messages name the device). The severity carries the level.
import { Writable } from 'node:stream';
import { formatRfc3164, levelInfo, SyslogSender } from './syslog.js';

export interface TeeRecord { level?: number; msg?: string; resource?: string; time?: number }

/** Pure: the syslog message of one pino record, or null when it stays out of syslog. */
export function teeMessage(rec: TeeRecord, minLevel = 30): { severity: ReturnType<typeof levelInfo>['severity']; text: string } | null {
  const level = rec.level ?? 30;
  if (level < minLevel) return null;
  return { severity: levelInfo(level).severity, text: `${rec.resource ? `${rec.resource}: ` : ''}${rec.msg ?? ''}` };
}

export class SyslogTee extends Writable {
  private readonly sender: SyslogSender;
  private readonly tag: string;

  constructor(program: string, private readonly facility: string, socket?: string) {
    super();
    this.tag = `${program}[${process.pid}]`;
    this.sender = new SyslogSender(socket, (msg) => process.stdout.write(`${JSON.stringify({ level: 40, time: Date.now(), msg })}\n`));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const line = chunk.toString();
    process.stdout.write(line);
    let rec: TeeRecord | null = null;
    try {
      rec = JSON.parse(line) as TeeRecord;
    } catch {
      /* not JSON: stdout only */
    }
    const m = rec ? teeMessage(rec) : null;
    if (m) this.sender.send(formatRfc3164(this.facility, m.severity, new Date(rec!.time ?? Date.now()), this.tag, m.text));
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sender.close();
    cb();
  }
}
