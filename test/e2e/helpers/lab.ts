// The lab from TypeScript: scripts/lab.sh builds the namespaces; this drives what runs inside them
// (tandemd, tandemadm, tandem-hb, shell commands, the HTTP client). Used by the e2e test and by
// `npm run demo`. Every process started here runs inside a lab namespace, so `lab.sh down` ends
// it even after a crash; a clean stop ends it by its PID first.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TANDEMD_NODE_FLAGS } from '../../../src/daemon/node-flags.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const LAB_SH = path.join(REPO, 'scripts/lab.sh');
export const LAB_ASSETS = path.join(REPO, 'scripts/lab');
export const STATE_DIR = process.env.TANDEM_LAB_STATE ?? '/run/tandem-lab';
/** daemon logs and probe traces outlive `lab down`, so a failed run can be read afterwards */
export const LOG_DIR = process.env.TANDEM_LAB_LOGS ?? '/tmp/tandem-lab-logs';
export const VIP = '10.213.0.100';
export const NODE_ADDR = { node1: '10.213.0.1', node2: '10.213.0.2' } as const;

export type NodeName = 'node1' | 'node2';
export type LabHost = NodeName | 'client';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The JSON that `tandemadm status --json` prints per resource (the fields the lab reads). */
export interface ResStatus {
  cs: string;
  role: string;
  peerRole: string;
  disk: string;
  peerDisk: string;
  dirtyBits?: number;
  counters?: Record<string, number>;
  [k: string]: unknown;
}

/** One line of scripts/lab/http-probe.mjs. */
export interface Probe {
  t: number;
  ms: number;
  ok: boolean;
  status?: number;
  servedBy?: string | null;
  body?: string;
  error?: string;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; killed?: boolean; signal?: string }) | null;
      let code = 0;
      if (e) code = typeof e.code === 'number' ? e.code : e.killed ? 124 : 1;
      const why = e && typeof e.code !== 'number' ? `${e.message}\n` : '';
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + why });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export async function waitFor<T>(check: () => Promise<T | false | null | undefined> | T | false | null | undefined, timeoutMs: number, what: string | (() => string)): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

function render(template: string, vars: Record<string, string>): string {
  const text = fs.readFileSync(path.join(LAB_ASSETS, template), 'utf8');
  return text.replace(/@([A-Z0-9_]+)@/g, (m, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`${template}: no value for ${m}`);
    return v;
  });
}

/** A background process inside a lab namespace, its output appended to a log file. */
export class LabProcess {
  private exited: Promise<number | null>;
  exitCode: number | null = null;
  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? 128 : null);
      resolve(this.exitCode);
    }));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM by PID, SIGKILL after the grace time. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  logTail(chars = 4000): string {
    try {
      const s = fs.readFileSync(this.logFile, 'utf8');
      return s.slice(-chars);
    } catch {
      return '(no log)';
    }
  }
}

function spawnLogged(name: string, args: string[], logFile: string): LabProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  // lab.sh exec ends in `exec nsenter … -- CMD` and nsenter execs CMD: this PID is CMD's own
  const proc = spawn('bash', [LAB_SH, 'exec', ...args], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  return new LabProcess(name, proc, logFile);
}

export class LabNode {
  tandemd: LabProcess | null = null;
  hb: LabProcess | null = null;

  constructor(
    readonly lab: Lab,
    readonly name: NodeName,
    /** the node's raw disk: a loop device over a sparse file */
    readonly disk: string,
  ) {}

  /** host paths of what the node sees as /etc/tandem and /run/tandem/NODE */
  get etcDir(): string {
    return path.join(STATE_DIR, this.name, 'etc');
  }
  /** the run dir as the node sees it (see lab.sh: not plain /run/tandem, the nodes share a kernel) */
  get nodeRunDir(): string {
    return `/run/tandem/${this.name}`;
  }
  get runDir(): string {
    return path.join(STATE_DIR, this.name, 'run', this.name);
  }
  get statusFile(): string {
    return path.join(this.runDir, 'status');
  }

  exec(args: string[], timeoutMs = 60_000): Promise<ExecResult> {
    return this.lab.exec(this.name, args, timeoutMs);
  }

  /** A shell command on the node; throws with its output when it fails. */
  async sh(script: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.exec(['sh', '-c', script], timeoutMs);
    if (r.code !== 0) throw new Error(`${this.name}: \`${script}\` failed (exit ${r.code}): ${(r.stderr + r.stdout).trim()}`);
    return r.stdout;
  }

  startTandemd(): LabProcess {
    this.tandemd = spawnLogged(`${this.name} tandemd`, [this.name, process.execPath, ...TANDEMD_NODE_FLAGS, path.join(REPO, 'bin/tandemd.js'),
      '--config', '/etc/tandem/tandem.conf', '--node', this.name, '--run-dir', this.nodeRunDir, '--log-level', 'debug'],
      path.join(LOG_DIR, `${this.name}-tandemd.log`));
    return this.tandemd;
  }

  async waitTandemd(timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => {
      if (this.tandemd && !this.tandemd.running) throw new Error(`${this.name}: tandemd exited (${this.tandemd.exitCode}): ${this.tandemd.logTail(2000)}`);
      const r = await this.adm('cstate', 'r0');
      return r.code === 0 || !/not running|ECONNREFUSED|ENOENT/.test(r.stderr);
    }, timeoutMs, `${this.name}: tandemd control socket`);
  }

  startHb(): LabProcess {
    this.hb = spawnLogged(`${this.name} tandem-hb`, [this.name, process.execPath, path.join(REPO, 'bin/tandem-hb.js'),
      '--ha-dir', '/etc/tandem/ha.d', '--node', this.name, '--run-dir', this.nodeRunDir, '--log-level', 'debug', 'start'],
      path.join(LOG_DIR, `${this.name}-tandem-hb.log`));
    return this.hb;
  }

  adm(...args: string[]): Promise<ExecResult> {
    return this.exec([process.execPath, path.join(REPO, 'bin/tandemadm.js'), '--config', '/etc/tandem/tandem.conf', '--node', this.name, '--run-dir', this.nodeRunDir, ...args]);
  }

  async admOk(...args: string[]): Promise<string> {
    const r = await this.adm(...args);
    if (r.code !== 0) {
      throw new Error(`${this.name}: tandemadm ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr + r.stdout).trim()}\n--- ${this.name} tandemd log tail ---\n${this.tandemd?.logTail(3000) ?? ''}`);
    }
    return r.stdout;
  }

  hbCmd(...args: string[]): Promise<ExecResult> {
    return this.exec([process.execPath, path.join(REPO, 'bin/tandem-hb.js'), '--ha-dir', '/etc/tandem/ha.d', '--node', this.name, '--run-dir', this.nodeRunDir, ...args]);
  }

  async status(): Promise<ResStatus | null> {
    const r = await this.adm('status', 'r0', '--json');
    if (r.code !== 0) return null;
    try {
      const list = JSON.parse(r.stdout) as ResStatus[];
      return list[0] ?? null;
    } catch {
      return null;
    }
  }

  async waitState(pred: (s: ResStatus) => boolean, what: string, timeoutMs = 30_000): Promise<ResStatus> {
    let last: ResStatus | null = null;
    return waitFor(async () => {
      last = await this.status();
      return last && pred(last) ? last : null;
    }, timeoutMs, () => `${this.name}: ${what} (last: ${last ? `${last.cs} ${last.role}/${last.peerRole} ${last.disk}/${last.peerDisk}` : 'no status'})`);
  }

  readStatusFile(): string {
    try {
      return fs.readFileSync(this.statusFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** true when the node's own /dev has the device as a block device (it is per node) */
  async hasBlockDevice(dev = '/dev/tandem0'): Promise<boolean> {
    return (await this.exec(['test', '-b', dev])).code === 0;
  }

  async isMounted(mountpoint = '/cluster/data'): Promise<boolean> {
    return (await this.exec(['mountpoint', '-q', mountpoint])).code === 0;
  }

  /** Files for this node's /etc/tandem: tandem.conf and ha.d/{ha.cf,authkeys,haresources,resource.d/httpd}. */
  writeConfig(vars: Record<string, string>): void {
    const ha = path.join(this.etcDir, 'ha.d');
    fs.mkdirSync(path.join(ha, 'resource.d'), { recursive: true });
    fs.writeFileSync(path.join(this.etcDir, 'tandem.conf'), render('tandem.conf.in', vars));
    fs.writeFileSync(path.join(ha, 'ha.cf'), render('ha.cf.in', vars));
    fs.writeFileSync(path.join(ha, 'authkeys'), render('authkeys.in', vars), { mode: 0o600 });
    fs.chmodSync(path.join(ha, 'authkeys'), 0o600);
    fs.writeFileSync(path.join(ha, 'haresources'), render('haresources.in', vars));
    const httpd = path.join(ha, 'resource.d', 'httpd');
    fs.writeFileSync(httpd, render('httpd', { ...vars, SERVER: path.join(LAB_ASSETS, 'httpd-server.mjs') }), { mode: 0o755 });
    fs.chmodSync(httpd, 0o755);
  }
}

export class Lab {
  readonly node1: LabNode;
  readonly node2: LabNode;
  private probes: LabProcess[] = [];

  private constructor(disks: Record<NodeName, string>) {
    this.node1 = new LabNode(this, 'node1', disks.node1);
    this.node2 = new LabNode(this, 'node2', disks.node2);
  }

  get nodes(): [LabNode, LabNode] {
    return [this.node1, this.node2];
  }

  /** lab.sh up (which first removes a lab left over by a crashed run). */
  static async up(): Promise<Lab> {
    fs.rmSync(LOG_DIR, { recursive: true, force: true });
    fs.mkdirSync(LOG_DIR, { recursive: true });
    const r = await run('bash', [LAB_SH, 'up'], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`lab.sh up failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
    const disk = (n: NodeName) => fs.readFileSync(path.join(STATE_DIR, n, 'disk.dev'), 'utf8').trim();
    return new Lab({ node1: disk('node1'), node2: disk('node2') });
  }

  /** lab.sh down: ends every process in the lab's namespaces and removes all it made. */
  static async down(): Promise<ExecResult> {
    return run('bash', [LAB_SH, 'down'], { timeoutMs: 120_000 });
  }

  async down(): Promise<ExecResult> {
    for (const p of this.probes) await p.stop(2000).catch(() => undefined);
    for (const n of this.nodes) {
      await n.hb?.stop(20_000).catch(() => undefined);
    }
    for (const n of this.nodes) {
      // tandemd tears its kernel device down on SIGTERM; lab.sh down catches what is left
      await n.tandemd?.stop(15_000).catch(() => undefined);
    }
    return Lab.down();
  }

  exec(host: LabHost, args: string[], timeoutMs = 60_000): Promise<ExecResult> {
    return run('bash', [LAB_SH, 'exec', host, ...args], { timeoutMs });
  }

  async cable(node: NodeName, state: 'up' | 'down'): Promise<void> {
    const r = await run('bash', [LAB_SH, 'cable', node, state]);
    if (r.code !== 0) throw new Error(`lab.sh cable ${node} ${state} failed: ${r.stderr}`);
  }

  /** One GET from the client namespace. */
  async get(urlPath = '/', timeoutMs = 1000): Promise<Probe> {
    const r = await this.exec('client', [process.execPath, path.join(LAB_ASSETS, 'http-probe.mjs'), '--once', '--url', `http://${VIP}${urlPath}`, '--timeout', String(timeoutMs)], timeoutMs + 10_000);
    try {
      return JSON.parse(r.stdout.trim()) as Probe;
    } catch {
      return { t: Date.now(), ms: 0, ok: false, error: `probe failed: ${r.stderr.trim() || r.stdout.trim()}` };
    }
  }

  /** A client that GETs the VIP every `everyMs` and records every answer (and every failure). */
  startProbe(everyMs = 100, timeoutMs = 400): ClientProbe {
    const file = path.join(LOG_DIR, `client-probe-${Date.now()}.jsonl`);
    const proc = spawn('bash', [LAB_SH, 'exec', 'client', process.execPath, path.join(LAB_ASSETS, 'http-probe.mjs'), '--url', `http://${VIP}/`, '--every', String(everyMs), '--timeout', String(timeoutMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lp = new LabProcess('client probe', proc, file);
    this.probes.push(lp);
    return new ClientProbe(lp, file);
  }
}

/** The probe's answers as they come, and the outages they show. */
export class ClientProbe {
  readonly samples: Probe[] = [];
  private listeners: Array<() => void> = [];

  constructor(
    readonly proc: LabProcess,
    readonly file: string,
  ) {
    const out = fs.createWriteStream(file);
    const rl = readline.createInterface({ input: proc.proc.stdout! });
    rl.on('line', (line) => {
      out.write(line + '\n');
      try {
        this.samples.push(JSON.parse(line) as Probe);
        for (const l of this.listeners) l();
      } catch {
        /* a partial line at shutdown */
      }
    });
    proc.proc.once('exit', () => out.end());
  }

  /** The first answer at or after `since` that satisfies pred, within timeoutMs of now. */
  async waitFor(pred: (p: Probe) => boolean, since: number, timeoutMs: number, what: string): Promise<Probe> {
    const find = () => this.samples.find((p) => p.t >= since && pred(p));
    return waitFor(() => {
      if (!this.proc.running) throw new Error(`client probe exited while waiting for ${what}`);
      return find();
    }, timeoutMs, () => {
      const last = this.samples.at(-1);
      return `${what} (last answer: ${last ? (last.ok ? `200 from ${last.servedBy}` : last.error ?? `status ${last.status}`) : 'none'})`;
    });
  }

  /**
   * The longest time the client went without a good answer between `from` and `to`: from the
   * last success before a run of failures to the first success after it.
   */
  longestOutage(from: number, to: number): { ms: number; start: number; end: number } {
    const s = this.samples.filter((p) => p.t >= from && p.t <= to);
    let best = { ms: 0, start: from, end: from };
    let lastOk: number | null = null;
    let failing = false;
    for (const p of s) {
      if (p.ok) {
        if (failing) {
          const start = lastOk ?? from;
          const ms = p.t - start;
          if (ms > best.ms) best = { ms, start, end: p.t };
        }
        failing = false;
        lastOk = p.t + p.ms;
      } else failing = true;
    }
    if (failing) {
      const start = lastOk ?? from;
      if (to - start > best.ms) best = { ms: to - start, start, end: to };
    }
    return best;
  }

  async stop(): Promise<void> {
    await this.proc.stop(2000);
  }
}
