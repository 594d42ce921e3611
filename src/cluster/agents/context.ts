// The real AgentContext: child processes, files and timers of this machine.
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import { findOnPath, runCommand } from './exec.js';
import type { AgentContext, AgentTimeouts } from './types.js';

export function systemAgentContext(timeoutsMs: AgentTimeouts, logger: Logger): AgentContext {
  return {
    exec: runCommand,
    timeoutsMs,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
    readFile: (p) => fs.readFile(p, 'utf8'),
    which: (name) => findOnPath(name),
    mkdirp: async (dir) => { await fs.mkdir(dir, { recursive: true }); },
    log: (level, msg, fields) => logger[level](fields ?? {}, msg),
  };
}
