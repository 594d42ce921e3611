// heartbeat's respawn rules (heartbeat.c ManagedChildDied, start_a_child_client,
// shutdown_last_client_child; config.c add_client_child_base), as a table and on a fake clock:
// exit 100 is never restarted; a run under 30 s is short and the restart waits 1 s; a longer run
// restarts at once and resets the count; more than 10 short runs in a row: "respawning too fast";
// stop ends the children last first. And the checks at start: unknown user, program not
// executable, ipfail left to the built-in rule.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { checkRespawns, type RespawnChecks } from '../../../src/cluster/ha-load.js';
import {
  MAX_SHORT_RUNS, respawnDecision, Respawner, SHORT_RUN_DELAY_MS, SHORT_RUN_MS, type ChildProc, type RespawnIo, type RespawnSpec,
} from '../../../src/cluster/respawn.js';
import { unwrap, parseHaCf } from '../../../src/config/heartbeat/index.js';

describe('respawnDecision', () => {
  it.each([
    ['a crash after a long run restarts at once and resets the count', 1, 60_000, 5, false, { action: 'restart', shortRuns: 0, delayMs: 0 }],
    ['a clean exit 0 after a long run restarts too (heartbeat keeps clients running)', 0, 40_000, 0, false, { action: 'restart', shortRuns: 0, delayMs: 0 }],
    ['killed by a signal (no exit code) restarts', null, 60_000, 0, false, { action: 'restart', shortRuns: 0, delayMs: 0 }],
    ['a short run restarts after 1 s and counts', 1, 2_000, 0, false, { action: 'restart', shortRuns: 1, delayMs: SHORT_RUN_DELAY_MS }],
    ['29.999 s is still short', 1, SHORT_RUN_MS - 1, 3, false, { action: 'restart', shortRuns: 4, delayMs: SHORT_RUN_DELAY_MS }],
    ['30 s is not short', 1, SHORT_RUN_MS, 3, false, { action: 'restart', shortRuns: 0, delayMs: 0 }],
    ['the tenth short run still restarts', 1, 100, MAX_SHORT_RUNS - 1, false, { action: 'restart', shortRuns: MAX_SHORT_RUNS, delayMs: SHORT_RUN_DELAY_MS }],
    ['the eleventh short run in a row: respawning too fast', 1, 100, MAX_SHORT_RUNS, false, { action: 'leave', shortRuns: 0, reason: 'too-fast' }],
    ['after a long run the count starts again', 1, 100_000, MAX_SHORT_RUNS, false, { action: 'restart', shortRuns: 0, delayMs: 0 }],
    ['exit status 100 is never restarted', 100, 60_000, 0, false, { action: 'leave', shortRuns: 0, reason: 'exit-100' }],
    ['nothing restarts while tandem-hb stops', 1, 60_000, 0, true, { action: 'leave', shortRuns: 0, reason: 'stopping' }],
  ] as const)('%s', (_n, code, ranMs, short, stopping, want) => expect(respawnDecision(code, ranMs, short, stopping)).toEqual(want));
});

class FakeProc extends EventEmitter implements ChildProc {
  constructor(readonly pid: number, readonly command: string) { super(); }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void { this.emit('exit', code, signal); }
}

/** a process layer on a manual clock: timers fire only when advance() passes them */
class FakeIo implements RespawnIo {
  t = 0;
  nextPid = 100;
  procs: FakeProc[] = [];
  killed: Array<[number, NodeJS.Signals]> = [];
  lines: string[] = [];
  timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  exitOnTerm = true;
  spawn(command: string): ChildProc {
    const p = new FakeProc(this.nextPid++, command);
    this.procs.push(p);
    return p;
  }
  killGroup(pid: number, signal: NodeJS.Signals): void {
    this.killed.push([pid, signal]);
    const p = this.procs.find((x) => x.pid === pid);
    if (p && (this.exitOnTerm || signal === 'SIGKILL')) queueMicrotask(() => p.exit(null, signal));
  }
  now(): number { return this.t; }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(id: unknown): void { this.timers = this.timers.filter((x) => x.id !== id); }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
  log = {
    info: (_o: object, m: string) => { this.lines.push(`info: ${m}`); },
    warn: (_o: object, m: string) => { this.lines.push(`WARN: ${m}`); },
    error: (_o: object, m: string) => { this.lines.push(`ERROR: ${m}`); },
  };
  last(): FakeProc { return this.procs.at(-1)!; }
}

const spec = (cmd: string): RespawnSpec => ({ user: 'root', command: cmd.split(' '), line: 1, col: 1, uid: 0, gid: 0 });

describe('Respawner on a fake clock', () => {
  it('runs sh -c "exec COMMAND", restarts a short run after 1 s and a long run at once', () => {
    const io = new FakeIo();
    const r = new Respawner([spec('/usr/bin/client -v')], io);
    r.start();
    expect(io.procs.map((p) => p.command)).toEqual(['exec /usr/bin/client -v']);
    io.advance(5_000);
    io.last().exit(1);
    expect(io.lines).toContain('ERROR: Client /usr/bin/client -v exited with return code 1.');
    expect(io.lines).toContain('ERROR: Respawning client "/usr/bin/client -v":');
    io.advance(999);
    expect(io.procs).toHaveLength(1);
    io.advance(1);
    expect(io.procs).toHaveLength(2);
    io.advance(SHORT_RUN_MS);
    io.last().exit(null, 'SIGKILL');
    expect(io.lines).toContain(`ERROR: Client /usr/bin/client -v (pid=${io.last().pid}) killed by signal 9.`);
    io.advance(0);
    expect(io.procs).toHaveLength(3); // long run: no wait
  });

  it('gives up after more than 10 short runs in a row ("respawning too fast") and starts nothing more', () => {
    const io = new FakeIo();
    const r = new Respawner([spec('/bin/false')], io);
    r.start();
    for (let i = 0; i < MAX_SHORT_RUNS; i++) {
      io.last().exit(1);
      io.advance(SHORT_RUN_DELAY_MS);
    }
    expect(io.procs).toHaveLength(MAX_SHORT_RUNS + 1);
    io.last().exit(1);
    expect(io.lines.at(-1)).toBe('ERROR: Client /bin/false "respawning too fast"');
    io.advance(60_000);
    expect(io.procs).toHaveLength(MAX_SHORT_RUNS + 1);
    expect(r.pids()).toEqual([]);
  });

  it('leaves a client that exits with status 100', () => {
    const io = new FakeIo();
    const r = new Respawner([spec('/bin/done')], io);
    r.start();
    io.last().exit(100);
    io.advance(60_000);
    expect(io.procs).toHaveLength(1);
    expect(io.lines).toContain('ERROR: Client /bin/done exited with return code 100.');
    expect(io.lines.some((l) => l.includes('Respawning'))).toBe(false);
  });

  it('stop ends the children last first, SIGTERM to the group, SIGKILL after the grace period, and restarts none', async () => {
    const io = new FakeIo();
    const r = new Respawner([spec('/bin/a'), spec('/bin/b'), spec('/bin/c')], io);
    r.start();
    const [a, b, c] = io.procs;
    io.exitOnTerm = false; // c ignores SIGTERM
    const stopped = r.stop(5000);
    await Promise.resolve();
    expect(io.killed).toEqual([[c!.pid, 'SIGTERM']]);
    io.advance(4999);
    expect(io.killed).toEqual([[c!.pid, 'SIGTERM']]);
    io.exitOnTerm = true;
    io.advance(1);
    expect(io.killed).toEqual([[c!.pid, 'SIGTERM'], [c!.pid, 'SIGKILL']]);
    await stopped;
    expect(io.killed.map(([pid, s]) => `${pid}:${s}`)).toEqual([`${c!.pid}:SIGTERM`, `${c!.pid}:SIGKILL`, `${b!.pid}:SIGTERM`, `${a!.pid}:SIGTERM`]);
    io.advance(60_000);
    expect(io.procs).toHaveLength(3);
    expect(io.lines.some((l) => l.startsWith('ERROR: Client'))).toBe(false); // deaths during stop are not errors
  });

  it('reload keeps the clients of unchanged lines, ends removed ones, starts new ones and retries one given up on', async () => {
    const io = new FakeIo();
    const r = new Respawner([spec('/bin/keep'), spec('/bin/gone'), spec('/bin/quit')], io);
    r.start();
    const [keep, gone, quit] = io.procs;
    quit!.exit(100);
    await r.update([spec('/bin/keep'), spec('/bin/quit'), spec('/bin/new')]);
    expect(io.killed).toEqual([[gone!.pid, 'SIGTERM']]);
    expect(io.procs.slice(3).map((p) => p.command)).toEqual(['exec /bin/quit', 'exec /bin/new']);
    expect(r.pids().sort()).toEqual([keep!.pid, io.procs[3]!.pid, io.procs[4]!.pid].sort());
    expect(io.lines).toContain('info: respawn line removed: ending client "/bin/gone"');
  });
});

describe('checkRespawns (the checks heartbeat makes at start)', () => {
  const checks: RespawnChecks = {
    user: (n) => (n === 'hacluster' ? { uid: 107, gid: 113 } : n === 'root' ? { uid: 0, gid: 0 } : null),
    executable: (f) => f === '/usr/lib/heartbeat/dopd' || f === '/opt/client',
  };
  const cf = (lines: string) => unwrap(parseHaCf(`keepalive 1\ndeadtime 10\nucast eth0 10.0.0.2\nnode a b\nlogfile /l\n${lines}`, { file: 'ha.cf' }));

  it('resolves the user and keeps the line', () => {
    const r = checkRespawns(cf('respawn hacluster /usr/lib/heartbeat/dopd -t 5\n'), checks);
    expect(r.errors).toEqual([]);
    expect(r.run).toMatchObject([{ user: 'hacluster', uid: 107, gid: 113, command: ['/usr/lib/heartbeat/dopd', '-t', '5'] }]);
  });
  it.each([
    ['respawn nobody-here /opt/client', 'ha.cf:6:1: Invalid uid [nobody-here] specified for client child'],
    ['respawn root /opt/missing', 'ha.cf:6:14: Client child command [/opt/missing] is not executable'],
  ])('refuses %j', (line, message) => {
    expect(checkRespawns(cf(`${line}\n`), checks).errors.map((e) => e.message)).toEqual([message]);
  });
  it("leaves ipfail to tandem-hb's built-in rule, with a warning", () => {
    const r = checkRespawns(cf('respawn hacluster /usr/lib64/heartbeat/ipfail\n'), checks);
    expect(r.run).toEqual([]);
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((w) => w.message)).toEqual(["ha.cf:6:19: not running /usr/lib64/heartbeat/ipfail: ipfail's rule is built into tandem-hb (ha.cf ping / ping_group)"]);
  });
});
