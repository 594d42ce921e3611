// The handler runner: exit codes, DRBD's environment reaching the script, and a hung handler (and
// whatever it started) killed after the timeout, which TANDEM_HANDLER_TIMEOUT_MS can shorten.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DEFAULT_HANDLER_TIMEOUT_MS, handlerTimeoutMs, runHandler, runHandlerCommand } from '../../../src/daemon/handler-runner.js';

function capture(): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => chunks.push(s) });
  return { log, lines: () => chunks.map((c) => JSON.parse(c) as Record<string, unknown>) };
}

/** Running (a zombie left for a non-reaping init counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('handlerTimeoutMs', () => {
  it.each([
    [undefined, DEFAULT_HANDLER_TIMEOUT_MS],
    ['', DEFAULT_HANDLER_TIMEOUT_MS],
    ['250', 250],
    ['0', DEFAULT_HANDLER_TIMEOUT_MS],
    ['-5', DEFAULT_HANDLER_TIMEOUT_MS],
    ['soon', DEFAULT_HANDLER_TIMEOUT_MS],
    ['1.5', DEFAULT_HANDLER_TIMEOUT_MS],
  ])('TANDEM_HANDLER_TIMEOUT_MS=%s → %d', (raw, ms) => {
    expect(handlerTimeoutMs(raw === undefined ? {} : { TANDEM_HANDLER_TIMEOUT_MS: raw })).toBe(ms);
  });
});

describe('runHandler', () => {
  it('returns the exit code and logs it', async () => {
    const { log, lines } = capture();
    expect(await runHandler(log, 'fence-peer', 'exit 4', {})).toBe(4);
    expect(await runHandler(log, 'split-brain', 'true', {})).toBe(0);
    expect(lines().map((l) => l.msg)).toEqual(['helper command: fence-peer exit code 4', 'helper command: split-brain exit code 0']);
  });

  it('passes the environment to the shell command', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-hr-'));
    try {
      const out = join(dir, 'env');
      const { log } = capture();
      const code = await runHandler(log, 'split-brain', `echo "$DRBD_RESOURCE $DRBD_PEER $DRBD_MINOR" > ${out}`, {
        DRBD_RESOURCE: 'r0',
        DRBD_PEER: 'beta',
        DRBD_MINOR: '3',
      });
      expect(code).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe('r0 beta 3\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kills a hanging handler and everything it started after the timeout, and logs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-hr-'));
    try {
      const pidFile = join(dir, 'pid');
      const { log, lines } = capture();
      const started = Date.now();
      const r = await runHandlerCommand(log, 'fence-peer', `sleep 30 & echo $! > ${pidFile}; wait`, {}, 300);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(r).toEqual({ exitCode: null, timedOut: true });
      expect(lines().some((l) => l.msg === 'helper command: fence-peer did not finish within 300 ms; killed it' && l.level === 50)).toBe(true);
      const sleeper = Number(readFileSync(pidFile, 'utf8'));
      // the backgrounded sleep was in the handler's process group, so it is gone too
      for (let i = 0; i < 50 && alive(sleeper); i++) await new Promise((res) => setTimeout(res, 20));
      expect(alive(sleeper)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a handler that leaves a background process running still completes', async () => {
    const { log } = capture();
    const r = await runHandlerCommand(log, 'after-resync-target', 'sleep 2 >/dev/null 2>&1 & exit 0', {}, 1500);
    expect(r).toEqual({ exitCode: 0, timedOut: false });
  });
});
