// Two tandem-hb daemons on loopback for integration tests. Both use `udpport` P: node1 binds
// 127.0.0.1:P and node2 127.0.0.2:P (--bind; both addresses are on lo), and the shared ha.cf has
// `ucast lo 127.0.0.1` and `ucast lo 127.0.0.2`; each node ignores the line naming itself, as
// heartbeat does. Resources are `rec::NAME` scripts in resource.d that record start/stop in
// <dir>/<node>/ops.log and keep <dir>/<node>/NAME.running while started; a file
// <dir>/<node>/fail-start-NAME or fail-stop-NAME makes that action fail. Only processes this
// harness started are ended, by their PID.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEM_HB = path.join(REPO, 'bin/tandem-hb.js');

export type HbNodeName = 'node1' | 'node2';
export const ADDR: Record<HbNodeName, string> = { node1: '127.0.0.1', node2: '127.0.0.2' };

export async function freeUdpPort(): Promise<number> {
  // Free on both addresses: bind the first, then check the second.
  for (;;) {
    const a = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      a.once('error', reject);
      a.bind(0, ADDR.node1, () => resolve(a.address().port));
    });
    const b = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      b.once('error', () => resolve(false));
      b.bind(port, ADDR.node2, () => resolve(true));
    });
    a.close();
    if (ok) b.close();
    if (ok) return port;
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const REC_SCRIPT = `#!/bin/sh
# rec NAME ACTION: a resource that records its operations (tandem-hb integration tests)
d="$TANDEM_TEST_DIR"
name="$1"; action="$2"
case "$action" in
start)
  [ -e "$d/fail-start-$name" ] && { echo "start of $name refused by the test" >&2; exit 1; }
  echo "start $name" >> "$d/ops.log"; : > "$d/$name.running";;
stop)
  [ -e "$d/fail-stop-$name" ] && { echo "stop of $name refused by the test" >&2; exit 1; }
  echo "stop $name" >> "$d/ops.log"; rm -f "$d/$name.running";;
status)
  if [ -e "$d/$name.running" ]; then echo "$name is running"; else echo "$name is not running"; fi;;
esac
exit 0
`;

/** fails $STONITH_FAILS times (counted in a file), then "resets" the node: its resources are gone */
const STONITH_SCRIPT = `#!/bin/sh
base="$(dirname "$0")/.."
node="$1"
echo "reset $node" >> "$base/stonith.log"
n=$(cat "$base/stonith.count" 2>/dev/null || echo 0)
n=$((n + 1)); echo $n > "$base/stonith.count"
if [ "$n" -le "\${STONITH_FAILS:-0}" ]; then echo "power switch unreachable" >&2; exit 1; fi
rm -f "$base/$node/"*.running
exit 0
`;

export interface HbPairOptions {
  haresources?: string;
  autoFailback?: 'on' | 'off';
  /** extra ha.cf lines */
  haCf?: string;
  stonithFails?: number;
  /** tandem-hb --log-level (default debug) */
  logLevel?: string;
  /** extra environment for the daemons */
  env?: Record<string, string>;
}

export class HbNode {
  proc: ChildProcess | null = null;
  readonly dir: string;
  readonly runDir: string;
  readonly logFile: string;
  constructor(readonly pair: HbPair, readonly name: HbNodeName) {
    this.dir = path.join(pair.dir, name);
    this.runDir = path.join(pair.dir, `run-${name}`);
    this.logFile = path.join(pair.dir, `${name}.log`);
    fs.mkdirSync(this.dir, { recursive: true });
  }

  start(): void {
    const out = fs.openSync(this.logFile, 'a');
    this.proc = spawn(process.execPath, [TANDEM_HB, '--ha-dir', this.pair.haDir, '--node', this.name, '--run-dir', this.runDir,
      '--bind', ADDR[this.name], '--log-level', this.pair.opts.logLevel ?? 'debug', 'start'], {
      env: { ...process.env, TANDEM_TEST_DIR: this.dir, STONITH_FAILS: String(this.pair.opts.stonithFails ?? 0), ...this.pair.opts.env },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
  }

  /** kill -9; with crash, its resources die too (the machine went down) */
  kill9(crash: boolean): void {
    if (this.proc?.pid) process.kill(this.proc.pid, 'SIGKILL');
    this.proc = null;
    if (crash) for (const f of fs.readdirSync(this.dir)) if (f.endsWith('.running')) fs.unlinkSync(path.join(this.dir, f));
  }

  async cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await execFileP(process.execPath, [TANDEM_HB, '--ha-dir', this.pair.haDir, '--node', this.name, '--run-dir', this.runDir, ...args], { timeout: 60_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    }
  }

  running(name: string): boolean {
    return fs.existsSync(path.join(this.dir, `${name}.running`));
  }

  ops(): string[] {
    try {
      return fs.readFileSync(path.join(this.dir, 'ops.log'), 'utf8').split('\n').filter((l) => l !== '');
    } catch {
      return [];
    }
  }

  log(): string {
    try { return fs.readFileSync(this.logFile, 'utf8'); } catch { return ''; }
  }

  opsLog(): string {
    try { return fs.readFileSync(path.join(this.runDir, 'tandem-hb.ops.log'), 'utf8'); } catch { return ''; }
  }

  failNext(action: 'start' | 'stop', resource: string, on = true): void {
    const f = path.join(this.dir, `fail-${action}-${resource}`);
    if (on) fs.writeFileSync(f, ''); else fs.rmSync(f, { force: true });
  }
}

export class HbPair {
  readonly dir: string;
  readonly haDir: string;
  port = 0;
  readonly nodes: Record<HbNodeName, HbNode>;

  constructor(readonly opts: HbPairOptions = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-hb-'));
    this.haDir = path.join(this.dir, 'ha.d');
    this.nodes = { node1: new HbNode(this, 'node1'), node2: new HbNode(this, 'node2') };
  }

  async setup(): Promise<this> {
    this.port = await freeUdpPort();
    fs.mkdirSync(path.join(this.haDir, 'resource.d'), { recursive: true });
    fs.writeFileSync(path.join(this.haDir, 'ha.cf'), [
      'keepalive 100ms', 'deadtime 600ms', 'warntime 400ms', 'initdead 3',
      `udpport ${this.port}`, 'ucast lo 127.0.0.1', 'ucast lo 127.0.0.2',
      `auto_failback ${this.opts.autoFailback ?? 'on'}`, 'node node1 node2', 'use_logd no', `logfile ${path.join(this.dir, 'ha-log')}`,
      'tandem_timeout start 5', 'tandem_timeout stop 5', 'tandem_stop_retries 1 200ms', 'tandem_stonith_retry 300ms',
      this.opts.haCf ?? '', '',
    ].join('\n'));
    fs.writeFileSync(path.join(this.haDir, 'authkeys'), 'auth 1\n1 sha1 integration-secret\n', { mode: 0o600 });
    fs.chmodSync(path.join(this.haDir, 'authkeys'), 0o600);
    fs.writeFileSync(path.join(this.haDir, 'haresources'), this.opts.haresources ?? 'node1 rec::a rec::b\nnode2 rec::c\n');
    fs.writeFileSync(path.join(this.haDir, 'resource.d', 'rec'), REC_SCRIPT, { mode: 0o755 });
    fs.writeFileSync(path.join(this.haDir, 'stonith.sh'), STONITH_SCRIPT, { mode: 0o755 });
    return this;
  }

  async startBoth(): Promise<void> {
    this.nodes.node1.start();
    this.nodes.node2.start();
    await waitFor(() => this.nodes.node1.running('b') && this.nodes.node2.running('c'), 15_000, 'each node to start its groups');
  }

  /** stops whatever this harness started, by PID */
  async cleanup(keepDir = false): Promise<void> {
    for (const n of Object.values(this.nodes)) {
      const p = n.proc;
      if (p?.pid && p.exitCode === null) {
        process.kill(p.pid, 'SIGKILL');
        await new Promise((r) => p.once('exit', r));
      }
    }
    if (!keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
