// The operational log, beside the pino log, in the spirit of pm_logconv: one short line per
// event an operator cares about (`Start to fail-over.`, `Resource X tries to start.`,
// `Resource X started. (rc=0)`, `fail-over succeeded.`, `Node X is lost.`), formatted as
// pm_logconv writes it: `<syslog date> <host> <LEVEL>: <message>` with LEVEL ERROR|WARN|info|debug.
import fs from 'node:fs';
import path from 'node:path';
import type { LogLevel } from './membership.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function syslogDate(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function opsLevel(level: LogLevel): string {
  switch (level) {
    case 'fatal':
    case 'error': return 'ERROR';
    case 'warn': return 'WARN';
    case 'info': return 'info';
    case 'debug': return 'debug';
  }
}

export function opsLine(date: Date, host: string, level: LogLevel, msg: string): string {
  return `${syslogDate(date)} ${host} ${opsLevel(level)}: ${msg}\n`;
}

export type OpsSink = (level: LogLevel, msg: string) => void;

/** Appends to every file given (the run dir's tandem-hb.ops.log and ha.cf's logfile); a write error is reported once per file. */
export function fileOpsSink(files: readonly string[], host: string, onError: (file: string, err: Error) => void): OpsSink {
  const broken = new Set<string>();
  for (const f of files) {
    try { fs.mkdirSync(path.dirname(f), { recursive: true }); } catch { /* reported on write */ }
  }
  return (level, msg) => {
    const line = opsLine(new Date(), host, level, msg);
    for (const f of files) {
      try {
        fs.appendFileSync(f, line);
        broken.delete(f);
      } catch (e) {
        if (!broken.has(f)) { broken.add(f); onError(f, e as Error); }
      }
    }
  };
}
