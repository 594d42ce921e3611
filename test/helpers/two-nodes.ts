// A two-node Tandem pair on loopback for integration tests: a temp directory with the config, two
// backing files, two run dirs, and real tandemd processes started from dist/. Only processes this
// harness started are ended, by their PID.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEMD = path.join(REPO, 'bin/tandemd.js');
const TANDEMADM = path.join(REPO, 'bin/tandemadm.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface PairOptions {
  sizeMiB?: number;
  protocol?: 'A' | 'B' | 'C';
  /** extra lines inside `net { }` */
  net?: string;
  /** extra lines inside `disk { }` */
  disk?: string;
  /** per-node net lines (e.g. a different shared-secret) */
  netFor?: Partial<Record<'node1' | 'node2', string>>;
  rate?: string;
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
  get statusFile(): string {
    return path.join(this.runDir, 'status');
  }

  async start(): Promise<void> {
    const proc = spawn(process.execPath, [TANDEMD, '--config', this.config, '--node', this.name, '--run-dir', this.runDir, '--log-level', 'debug'], {
      stdio: ['ignore', 'pipe', 'pipe'],
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

  private constructor(dir: string, config: string) {
    this.dir = dir;
    this.config = config;
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
    const host = (name: 'node1' | 'node2', port: number, disk: string): string => `
  on ${name} {
    device /dev/tandem0;
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
${host('node1', p1, 'disk1.img')}
${host('node2', p2, 'disk2.img')}
}
`);
    return new Pair(dir, config);
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

  /** create-md, start, up, force node1 Primary and wait for the initial full sync to finish */
  async initialSync(): Promise<void> {
    await this.createMd();
    await this.startBoth();
    await this.upBoth();
    await this.node1.admOk('wait-connect', 'r0', '--timeout', '30');
    await this.node1.admOk('primary', '--force', 'r0');
    await this.node1.admOk('wait-sync', 'r0', '--timeout', '60');
    await this.node2.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected', 'UpToDate after initial sync');
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
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

/** Byte-compare a range of both backing files. */
export function disksEqual(a: Node, b: Node, offset: number, length: number): boolean {
  return a.readDisk(offset, length).equals(b.readDisk(offset, length));
}
