// A two-node Tandem pair on loopback for integration tests: a temp directory with the config, two
// backing files, two run dirs, and real tandemd processes started from dist/. Only processes this
// harness started are ended, by their PID.
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseMountinfo } from '../../src/nbd/device-holders.js';
import { adoptOrCleanup } from '../../src/nbd/kernel-device.js';
import { freePort } from './free-port.js';
import { TANDEMD_NODE_FLAGS } from '../../src/daemon/node-flags.js';

const execFileP = promisify(execFile);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEMD = path.join(REPO, 'bin/tandemd.js');
const TANDEMADM = path.join(REPO, 'bin/tandemadm.js');

export { freePort };

export interface PairOptions {
  sizeMiB?: number;
  protocol?: 'A' | 'B' | 'C';
  /** extra lines inside `net { }` */
  net?: string;
  /** extra lines inside `disk { }` */
  disk?: string;
  /** lines inside `startup { }` */
  startup?: string;
  /** per-node net lines (e.g. a different shared-secret) */
  netFor?: Partial<Record<'node1' | 'node2', string>>;
  rate?: string;
  /**
   * Let tandemd make the kernel block device (root only). Off by default: tandemd gets
   * TANDEM_KERNEL_DEVICE=off, so integration tests run as root (CI) touch no loop device or
   * FUSE mount. Either way each node's `device` is a path under the pair's temp dir
   * (<dir>/dev-node1/tandem0), never in /dev.
   */
  kernelDevice?: boolean;
  /**
   * handlers { } entries: handler name → shell commands run after the harness has logged the call
   * (name and every DRBD_ and TANDEM_ variable) to a file of its own in <dir>/handler-log. Inside, $TANDEMADM,
   * $CONF, $RUN1 and $RUN2 let a script drive either node, e.g. a fence-peer that outdates the peer.
   */
  handlers?: Record<string, string>;
  /** extra environment for both tandemd processes (TANDEM_TEST_FAULTS, TANDEM_HANDLER_TIMEOUT_MS…) */
  env?: Record<string, string>;
}

export interface HandlerCall {
  handler: string;
  env: Record<string, string>;
}

export interface AdmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Node {
  proc: ChildProcess | null = null;
  logs = '';
  constructor(
    readonly name: 'node1' | 'node2',
    readonly pair: Pair,
    readonly disk: string,
    readonly runDir: string,
    readonly config: string,
  ) {}

  get nbdSocket(): string {
    return path.join(this.runDir, 'nbd', 'r0.sock');
  }
  /** the config's `device` path of this node: a symlink to /dev/loopN while Primary (kernelDevice) */
  get devicePath(): string {
    return path.join(this.pair.dir, `dev-${this.name}`, 'tandem0');
  }
  get statusFile(): string {
    return path.join(this.runDir, 'status');
  }

  async start(): Promise<void> {
    const proc = spawn(process.execPath, [...TANDEMD_NODE_FLAGS, TANDEMD, '--config', this.config, '--node', this.name, '--run-dir', this.runDir, '--log-level', 'debug'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TANDEM_KERNEL_DEVICE: this.pair.kernelDevice ? 'auto' : 'off', ...this.pair.env },
    });
    this.proc = proc;
    proc.stdout!.on('data', (d: Buffer) => (this.logs += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.logs += d.toString()));
    await waitFor(async () => (await this.adm('cstate', 'r0')).stderr.includes('not running') ? false : true, 15_000, `${this.name} control socket`);
  }

  /** SIGKILL: a crash, nothing persisted beyond what was already on disk */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
    this.proc = null;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (p.exitCode === null) p.kill('SIGKILL');
    this.proc = null;
  }

  async adm(...args: string[]): Promise<AdmResult> {
    try {
      const { stdout, stderr } = await execFileP(process.execPath, [TANDEMADM, '--config', this.config, '--node', this.name, '--run-dir', this.runDir, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  async admOk(...args: string[]): Promise<string> {
    const r = await this.adm(...args);
    if (r.code !== 0) throw new Error(`tandemadm ${args.join(' ')} on ${this.name} failed (${r.code}): ${r.stderr}${r.stdout}\n--- daemon log tail ---\n${this.logs.slice(-3000)}`);
    return r.stdout;
  }

  async status(): Promise<{ cs: string; role: string; peerRole: string; disk: string; peerDisk: string; dirtyBits: number; counters: Record<string, number> }> {
    const out = await this.admOk('status', 'r0', '--json');
    return JSON.parse(out)[0];
  }

  async waitState(pred: (s: Awaited<ReturnType<Node['status']>>) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    let last: unknown;
    await waitFor(async () => {
      const r = await this.adm('status', 'r0', '--json');
      if (r.code !== 0) return false;
      const s = JSON.parse(r.stdout)[0];
      last = s;
      return pred(s);
    }, timeoutMs, `${this.name}: ${what} (last: ${JSON.stringify(last)})`);
  }

  /** The handler calls this node's tandemd made so far, oldest first. */
  handlerCalls(): HandlerCall[] {
    const dir = path.join(this.pair.dir, 'handler-log');
    if (!fs.existsSync(dir)) return [];
    // one file per call, named <node>.<start time in ns>.<pid>.call (handlers may run concurrently)
    const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${this.name}.`) && f.endsWith('.call'));
    const key = (f: string): bigint => BigInt(f.split('.')[1] ?? '0');
    files.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const calls: HandlerCall[] = [];
    for (const f of files) {
      const lines = fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l.length > 0);
      const head = lines.shift();
      if (!head?.startsWith('handler=')) continue;
      const env: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf('=');
        if (i > 0) env[l.slice(0, i)] = l.slice(i + 1);
      }
      calls.push({ handler: head.slice('handler='.length), env });
    }
    return calls;
  }

  readDisk(offset: number, length: number): Buffer {
    const fd = fs.openSync(this.disk, 'r');
    try {
      const b = Buffer.alloc(length);
      fs.readSync(fd, b, 0, length, offset);
      return b;
    } finally {
      fs.closeSync(fd);
    }
  }
}

export class Pair {
  readonly dir: string;
  readonly node1: Node;
  readonly node2: Node;
  readonly config: string;
  readonly kernelDevice: boolean;
  /** extra environment for both tandemd processes */
  env: Record<string, string> = {};

  private constructor(dir: string, config: string, kernelDevice: boolean) {
    this.dir = dir;
    this.config = config;
    this.kernelDevice = kernelDevice;
    this.node1 = new Node('node1', this, path.join(dir, 'disk1.img'), path.join(dir, 'run1'), config);
    this.node2 = new Node('node2', this, path.join(dir, 'disk2.img'), path.join(dir, 'run2'), config);
  }

  static async create(opts: PairOptions = {}): Promise<Pair> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-it-'));
    const [p1, p2] = [await freePort(), await freePort()];
    const size = (opts.sizeMiB ?? 64) * 1024 * 1024;
    for (const n of ['disk1.img', 'disk2.img']) {
      fs.writeFileSync(path.join(dir, n), '');
      fs.truncateSync(path.join(dir, n), size);
    }
    const config = path.join(dir, 'tandem.conf');
    for (const n of ['node1', 'node2']) fs.mkdirSync(path.join(dir, `dev-${n}`));
    const handlers = writeHandlerScripts(dir, config, opts.handlers ?? {});
    const host = (name: 'node1' | 'node2', port: number, disk: string): string => `
  on ${name} {
    device ${path.join(dir, `dev-${name}`, 'tandem0')};
    disk ${path.join(dir, disk)};
    address 127.0.0.1:${port};
    meta-disk internal;
  }`;
    fs.writeFileSync(config, `global { usage-count no; }
common { syncer { rate ${opts.rate ?? '200M'}; } }
resource r0 {
  protocol ${opts.protocol ?? 'C'};
  net {
    ping-int 1;
    ping-timeout 10;
    connect-int 1;
    ${opts.net ?? ''}
  }
  disk { on-io-error pass_on; ${opts.disk ?? ''} }
  startup { ${opts.startup ?? ''} }
  handlers {
${handlers}  }
${host('node1', p1, 'disk1.img')}
${host('node2', p2, 'disk2.img')}
}
`);
    const pair = new Pair(dir, config, opts.kernelDevice ?? false);
    pair.env = { ...(opts.env ?? {}) };
    // per-node net lines: that node reads its own copy of the config
    for (const n of pair.nodes) {
      const line = opts.netFor?.[n.name];
      if (!line) continue;
      const own = path.join(dir, `${n.name}.conf`);
      fs.writeFileSync(own, fs.readFileSync(config, 'utf8').replace('    connect-int 1;\n', `    connect-int 1;\n    ${line}\n`));
      (n as { config: string }).config = own;
    }
    return pair;
  }

  get nodes(): Node[] {
    return [this.node1, this.node2];
  }

  async createMd(): Promise<void> {
    for (const n of this.nodes) await n.admOk('create-md', 'r0');
  }

  async startBoth(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
  }

  async upBoth(): Promise<void> {
    for (const n of this.nodes) await n.admOk('up', 'r0');
  }

  /** create-md, start, up, force node1 Primary: the initial full sync starts (and runs on) */
  async startInitialSync(): Promise<void> {
    await this.createMd();
    await this.startBoth();
    await this.upBoth();
    await this.node1.admOk('wait-connect', 'r0', '--timeout', '30');
    await this.node1.admOk('primary', '--force', 'r0');
  }

  /** startInitialSync, then wait for the initial full sync to finish */
  async initialSync(): Promise<void> {
    await this.startInitialSync();
    await this.node1.admOk('wait-sync', 'r0', '--timeout', '60');
    await this.node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected', 'UpToDate after initial sync');
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    // after a failed or killed run, remove mounts, loop devices and nbdfuse left under the temp
    // dir before deleting it: rm -r must never walk into a mounted filesystem
    if (this.kernelDevice) await cleanupKernelLeftovers(this.dir, this.nodes.map((n) => n.runDir));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  logs(): string {
    return `--- node1 ---\n${this.node1.logs.slice(-4000)}\n--- node2 ---\n${this.node2.logs.slice(-4000)}`;
  }
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}

/** Byte-compare a range of both backing files (in chunks, so large disks need little memory). */
export function disksEqual(a: Node, b: Node, offset: number, length: number): boolean {
  const chunk = 64 * 1024 * 1024;
  for (let at = offset; at < offset + length; at += chunk) {
    const n = Math.min(chunk, offset + length - at);
    if (!a.readDisk(at, n).equals(b.readDisk(at, n))) return false;
  }
  return true;
}

/** One script per handler that logs its call and environment, then runs `body`; returns the config lines. */
function writeHandlerScripts(dir: string, config: string, handlers: Record<string, string>): string {
  const names = Object.keys(handlers);
  if (names.length === 0) return '';
  const hdir = path.join(dir, 'handlers');
  const logDir = path.join(dir, 'handler-log');
  fs.mkdirSync(hdir, { recursive: true });
  fs.mkdirSync(logDir, { recursive: true });
  let lines = '';
  for (const name of names) {
    const script = path.join(hdir, `${name}.sh`);
    fs.writeFileSync(script, `#!/bin/sh
CALL="${logDir}/$TANDEM_NODE.$(date +%s%N).$$"
{ echo "handler=${name}"; env | grep -E '^(DRBD_|TANDEM_)' | sort; } > "$CALL.tmp" && mv "$CALL.tmp" "$CALL.call"
TANDEMADM="${process.execPath} ${TANDEMADM}"
CONF="${config}"
RUN1="${path.join(dir, 'run1')}"
RUN2="${path.join(dir, 'run2')}"
${handlers[name]}
`);
    fs.chmodSync(script, 0o755);
    lines += `    ${name} "${script}";\n`;
  }
  return lines;
}

function mountsUnder(dir: string): Array<{ mountPoint: string; fsType: string }> {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.mountPoint.startsWith(`${dir}/`))
    .map((m) => ({ mountPoint: m.mountPoint, fsType: m.fsType }));
}

/** Everything of ours that is still attached under `dir`: mounts, loop devices, nbdfuse processes. */
export function kernelLeftovers(dir: string): string[] {
  const left: string[] = mountsUnder(dir).map((m) => `mount ${m.mountPoint} (${m.fsType})`);
  try {
    const out = execFileSync('losetup', ['-J', '-l'], { encoding: 'utf8' });
    const list = out.trim() ? (JSON.parse(out) as { loopdevices: Array<{ name: string; 'back-file': string | null }> }).loopdevices : [];
    for (const d of list) if (d['back-file']?.startsWith(`${dir}/`)) left.push(`loop ${d.name} on ${d['back-file']}`);
  } catch {
    /* no losetup: nothing can be attached either */
  }
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (path.basename(argv[0] ?? '') === 'nbdfuse' && argv.some((a) => a.startsWith(`${dir}/`))) left.push(`nbdfuse[${pid}]`);
    } catch {
      /* exited */
    }
  }
  return left;
}

async function cleanupKernelLeftovers(dir: string, runDirs: string[]): Promise<void> {
  // deepest first; filesystems on our devices before the FUSE mounts under them
  for (const m of mountsUnder(dir).filter((x) => !x.fsType.startsWith('fuse')).sort((a, b) => b.mountPoint.length - a.mountPoint.length)) {
    try {
      execFileSync('umount', [m.mountPoint]);
    } catch {
      execFileSync('umount', ['-l', m.mountPoint]);
    }
  }
  const log = pino({ level: 'silent' });
  for (const runDir of runDirs) await adoptOrCleanup(runDir, log).catch(() => undefined);
  for (const m of mountsUnder(dir).filter((x) => x.fsType.startsWith('fuse'))) {
    try {
      execFileSync('fusermount3', ['-u', '-z', m.mountPoint]);
    } catch {
      /* already gone */
    }
  }
}

/**
 * For "nothing must happen" checks: polls `check` for `windowMs` and fails at the first moment it
 * does not hold, naming what broke. The window is the property being asserted (e.g. no failback
 * within N heartbeats), not a sleep standing in for a condition.
 */
export async function holdsFor(check: () => Promise<boolean> | boolean, windowMs: number, what: string): Promise<void> {
  const end = Date.now() + windowMs;
  for (;;) {
    if (!(await check())) throw new Error(`${what} stopped holding`);
    if (Date.now() >= end) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
