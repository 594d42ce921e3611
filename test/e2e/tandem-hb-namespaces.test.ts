// Two real tandem-hb daemons in two network namespaces this file creates, talking ucast over
// veth cables to a bridge in a third namespace, with a three-resource haresources group of
// resource.d scripts that record every start and stop (with a timestamp and the node). This is
// issue 6's "Done when" for membership and failover on real links: pulling the owner's cable,
// healing it with auto_failback on (order and outage measured), and kill -9 of the owner's daemon.
//
// Why a bridge and not one veth pair between the two namespaces: tandem-hb releases its groups
// while every cluster link of its own has no carrier (docs/tandem-hb.md, "Isolation"). On a
// back-to-back veth pair, `ip link set <end> down` takes the carrier of *both* ends down, so
// both nodes would consider themselves isolated and nobody would take the group over. A bridge
// in a third namespace is the switch of a real cluster: pulling node a's cable takes only a's
// carrier down, b stays connected and takes over, which is the behaviour under test.
// (`tandem_isolation off` would also do, but then the isolation rule itself would go untested.)
//
// Only what this file created is removed afterwards (its three namespaces, which takes their
// veths and bridge with them, and its temporary directory); its daemons are ended by PID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Network namespaces need root; as another user this file is skipped.
const isRoot = process.getuid?.() === 0;

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEM_HB = path.join(REPO, 'bin/tandem-hb.js');

const KEEPALIVE_MS = 250;
const DEADTIME_MS = 1000;
/** every start or stop of one resource takes this long, so the group's stop and start times are real */
const ACTION_SLEEP = '0.1';
const RESOURCES = ['r1', 'r2', 'r3'] as const;
const PROBE_EVERY_MS = 50;
/**
 * Beyond the group's measured stop + start time, the outage may include: b's release message
 * reaching a and a's agent starting (one control round trip plus process spawns) and the probe's
 * own granularity (one poll interval at each edge).
 */
const OUTAGE_TOLERANCE_MS = 400;

type NodeId = 'a' | 'b';
const NODE_NAME: Record<NodeId, string> = { a: 'nodea', b: 'nodeb' };
const SUFFIX = crypto.randomBytes(3).toString('hex');
const NS: Record<NodeId | 'sw', string> = { a: `thb-${SUFFIX}-a`, b: `thb-${SUFFIX}-b`, sw: `thb-${SUFFIX}-sw` };
const ADDR: Record<NodeId, string> = { a: '10.213.90.1', b: '10.213.90.2' };
/** the same name in both node namespaces, so one ha.cf serves both */
const HB_IFACE = 'hb0';

// rec NAME ACTION: records "<ms> <node> <action>-begin|end <name>" and keeps <name>.running while
// started. The group holder marker `holder` exists while the group's last resource is started:
// it is created at the end of the last resource's start and removed at the beginning of its stop,
// which is exactly when the whole group is up (start left to right, stop right to left).
const REC_SCRIPT = `#!/bin/sh
d="$TANDEM_TEST_DIR"
name="$1"; action="$2"
now() { date +%s%3N; }
case "$action" in
start)
  echo "$(now) $TANDEM_TEST_NODE start-begin $name" >> "$d/ops.log"
  sleep ${ACTION_SLEEP}
  : > "$d/$name.running"
  [ "$name" = "${RESOURCES.at(-1)}" ] && : > "$d/holder"
  echo "$(now) $TANDEM_TEST_NODE start-end $name" >> "$d/ops.log";;
stop)
  echo "$(now) $TANDEM_TEST_NODE stop-begin $name" >> "$d/ops.log"
  [ "$name" = "${RESOURCES.at(-1)}" ] && rm -f "$d/holder"
  sleep ${ACTION_SLEEP}
  rm -f "$d/$name.running"
  echo "$(now) $TANDEM_TEST_NODE stop-end $name" >> "$d/ops.log";;
status)
  if [ -e "$d/$name.running" ]; then echo "$name is running"; else echo "$name is not running"; fi;;
esac
exit 0
`;

interface OpRecord {
  t: number;
  node: string;
  action: 'start-begin' | 'start-end' | 'stop-begin' | 'stop-end';
  name: string;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, ...args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, ...args]);
}

/** daemons that are meant to be running; one that exits makes every wait fail at once, with its log */
const started: Node[] = [];

async function waitFor(check: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<number> {
  const start = Date.now();
  for (;;) {
    for (const n of started) {
      const p = n.proc;
      if (p && (p.exitCode !== null || p.signalCode !== null)) throw new Error(`${NODE_NAME[n.id]}'s tandem-hb exited (${p.exitCode ?? p.signalCode}):\n${n.tail()}`);
    }
    if (check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

class Node {
  proc: ChildProcess | null = null;
  readonly dir: string;
  readonly runDir: string;
  readonly logFile: string;
  constructor(readonly id: NodeId, readonly base: string, readonly haDir: string) {
    this.dir = path.join(base, id);
    this.runDir = path.join(base, `run-${id}`);
    this.logFile = path.join(base, `${id}.log`);
    fs.mkdirSync(this.dir, { recursive: true });
  }

  start(): void {
    const out = fs.openSync(this.logFile, 'a');
    // `ip netns exec` execs the command after entering the namespace: the PID is the daemon's own
    this.proc = spawn('ip', ['netns', 'exec', NS[this.id], process.execPath, TANDEM_HB, '--ha-dir', this.haDir,
      '--node', NODE_NAME[this.id], '--run-dir', this.runDir, '--log-level', 'debug', 'start'], {
      env: { ...process.env, TANDEM_TEST_DIR: this.dir, TANDEM_TEST_NODE: NODE_NAME[this.id] },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    if (!started.includes(this)) started.push(this);
  }

  async kill9(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid, 'SIGKILL');
    await exited;
  }

  /** `tandem-hb status` through the control socket (a path in the shared file system) */
  status(): string {
    try {
      return execFileSync(process.execPath, [TANDEM_HB, '--ha-dir', this.haDir, '--node', NODE_NAME[this.id], '--run-dir', this.runDir, 'status'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    } catch (e) {
      return `status failed: ${(e as Error).message}`;
    }
  }

  holds(): boolean {
    return fs.existsSync(path.join(this.dir, 'holder'));
  }

  ops(): OpRecord[] {
    let text = '';
    try { text = fs.readFileSync(path.join(this.dir, 'ops.log'), 'utf8'); } catch { return []; }
    return text.split('\n').filter((l) => l !== '').map((l) => {
      const [t, node, action, name] = l.split(' ');
      return { t: Number(t), node: node!, action: action as OpRecord['action'], name: name! };
    });
  }

  /** the holder marker changes inside an action; its record is written when the action ends */
  async waitRecord(action: OpRecord['action'], name: string, afterIndex: number): Promise<void> {
    await waitFor(() => this.ops().slice(afterIndex).some((r) => r.action === action && r.name === name), 5000, `${NODE_NAME[this.id]}: record ${action} ${name}`);
  }

  tail(): string {
    try { return fs.readFileSync(this.logFile, 'utf8').slice(-3000); } catch { return '(no log)'; }
  }
}

/** duration of a run of actions: first `<kind>-begin` to last `<kind>-end`, and the names in order */
function span(records: OpRecord[], kind: 'start' | 'stop'): { ms: number; order: string[]; from: number; to: number } {
  const begins = records.filter((r) => r.action === `${kind}-begin`);
  const ends = records.filter((r) => r.action === `${kind}-end`);
  if (begins.length === 0 || ends.length === 0) return { ms: NaN, order: [], from: NaN, to: NaN };
  const from = begins[0]!.t;
  const to = ends.at(-1)!.t;
  return { ms: to - from, order: begins.map((r) => r.name), from, to };
}

describe.skipIf(!isRoot)('tandem-hb in two network namespaces (root)', () => {
  let base = '';
  const created: string[] = [];
  let nodes: Record<NodeId, Node>;
  const measured: Record<string, number> = {};

  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-hb-netns-'));
    for (const ns of [NS.sw, NS.a, NS.b]) {
      sh('ip', ['netns', 'add', ns]);
      created.push(ns);
    }
    inNs(NS.sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs(NS.sw, 'ip', 'link', 'set', 'br0', 'up');
    for (const id of ['a', 'b'] as const) {
      // created inside the node's namespace with its peer end moved straight to the switch
      // namespace, so nothing ever appears in the host's namespace
      sh('ip', ['-n', NS[id], 'link', 'add', HB_IFACE, 'type', 'veth', 'peer', 'name', `port-${id}`, 'netns', NS.sw]);
      inNs(NS.sw, 'ip', 'link', 'set', `port-${id}`, 'master', 'br0');
      inNs(NS.sw, 'ip', 'link', 'set', `port-${id}`, 'up');
      inNs(NS[id], 'ip', 'addr', 'add', `${ADDR[id]}/24`, 'dev', HB_IFACE);
      inNs(NS[id], 'ip', 'link', 'set', HB_IFACE, 'up');
      inNs(NS[id], 'ip', 'link', 'set', 'lo', 'up');
    }

    const haDir = path.join(base, 'ha.d');
    fs.mkdirSync(path.join(haDir, 'resource.d'), { recursive: true });
    fs.writeFileSync(path.join(haDir, 'ha.cf'), [
      `keepalive ${KEEPALIVE_MS}ms`, `deadtime ${DEADTIME_MS}ms`, 'warntime 750ms', 'initdead 3',
      'udpport 694', `ucast ${HB_IFACE} ${ADDR.a}`, `ucast ${HB_IFACE} ${ADDR.b}`,
      'auto_failback on', `node ${NODE_NAME.a} ${NODE_NAME.b}`, 'use_logd no', `logfile ${path.join(base, 'ha-log')}`,
      'tandem_timeout start 10', 'tandem_timeout stop 10', '',
    ].join('\n'));
    fs.writeFileSync(path.join(haDir, 'authkeys'), 'auth 1\n1 sha1 netns-e2e-secret\n', { mode: 0o600 });
    fs.chmodSync(path.join(haDir, 'authkeys'), 0o600);
    fs.writeFileSync(path.join(haDir, 'haresources'), `${NODE_NAME.a} ${RESOURCES.map((r) => `rec::${r}`).join(' ')}\n`);
    fs.writeFileSync(path.join(haDir, 'resource.d', 'rec'), REC_SCRIPT, { mode: 0o755 });
    fs.chmodSync(path.join(haDir, 'resource.d', 'rec'), 0o755);
    nodes = { a: new Node('a', base, haDir), b: new Node('b', base, haDir) };
  });

  afterAll(async () => {
    for (const n of Object.values(nodes ?? {})) await n.kill9().catch(() => undefined);
    for (const ns of created.reverse()) {
      try { sh('ip', ['netns', 'del', ns]); } catch { /* already gone */ }
    }
    // TANDEM_KEEP_TEST_DIR=1 keeps the records and daemon logs for reading after a failed run
    if (base && !process.env.TANDEM_KEEP_TEST_DIR) fs.rmSync(base, { recursive: true, force: true });
    console.log(`tandem-hb netns timings (ms): ${JSON.stringify(measured)}`);
  });

  it('the owner starts the group left to right once both daemons run', async () => {
    nodes.a.start();
    nodes.b.start();
    await waitFor(() => nodes.a.holds(), 15_000, 'nodea to start the group');
    await nodes.a.waitRecord('start-end', RESOURCES.at(-1)!, 0);
    expect(nodes.a.ops().filter((r) => r.action === 'start-begin').map((r) => r.name)).toEqual([...RESOURCES]);
    // both see each other over the bridge; b leaves a's group alone
    for (const n of [nodes.a, nodes.b]) {
      await waitFor(() => n.status().includes(`* Online: [ ${NODE_NAME.a} ${NODE_NAME.b} ]`), 5000, () => `${NODE_NAME[n.id]} to see both nodes online:\n${n.status()}`);
    }
    expect(nodes.b.ops()).toEqual([]);
  });

  it('pulling nodea\'s link makes nodeb start the group within deadtime + 1 s', async () => {
    const aBefore = nodes.a.ops().length;
    inNs(NS.a, 'ip', 'link', 'set', HB_IFACE, 'down');
    const took = await waitFor(() => nodes.b.holds(), DEADTIME_MS + 5000, () => `nodeb to start the group\n--- nodeb log ---\n${nodes.b.tail()}`);
    measured.failoverLinkDown = took;
    expect(took).toBeLessThanOrEqual(DEADTIME_MS + 1000);
    // a lost every cluster link of its own: it released the group instead of keeping a copy
    await waitFor(() => !nodes.a.holds(), 5000, 'nodea to release the group while isolated');
    await nodes.a.waitRecord('stop-end', RESOURCES[0], aBefore);
    await nodes.b.waitRecord('start-end', RESOURCES.at(-1)!, 0);
    expect(span(nodes.a.ops().slice(aBefore), 'stop').order).toEqual([...RESOURCES].reverse());
    expect(span(nodes.b.ops(), 'start').order).toEqual([...RESOURCES]);
  });

  it('restoring the link fails the group back once, in order, with an outage no longer than stop + start', async () => {
    const aBefore = nodes.a.ops().length;
    const bBefore = nodes.b.ops().length;
    const samples: Array<{ t: number; a: boolean; b: boolean }> = [];
    let probing = true;
    // the probe: look at both holder markers every 50 ms
    const probe = (async () => {
      while (probing) {
        samples.push({ t: Date.now(), a: nodes.a.holds(), b: nodes.b.holds() });
        await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
      }
    })();
    const t0 = Date.now();
    inNs(NS.a, 'ip', 'link', 'set', HB_IFACE, 'up');
    try {
      await waitFor(() => nodes.a.holds() && !nodes.b.holds(), 15_000, 'the group to fail back to nodea');
      await nodes.a.waitRecord('start-end', RESOURCES.at(-1)!, aBefore);
      // the group settles: nothing else moves for a few heartbeats
      const settleUntil = Date.now() + 4 * KEEPALIVE_MS;
      await waitFor(() => Date.now() >= settleUntil, 5000, 'the settle time');
    } finally {
      probing = false;
      await probe;
    }
    const bOps = nodes.b.ops().slice(bBefore);
    const aOps = nodes.a.ops().slice(aBefore);
    const stop = span(bOps, 'stop');
    const start = span(aOps, 'start');
    // moved once: one stop of the group on b (right to left), one start on a (left to right)
    expect(stop.order).toEqual([...RESOURCES].reverse());
    expect(start.order).toEqual([...RESOURCES]);
    expect(bOps.filter((r) => r.action.startsWith('start'))).toEqual([]);
    expect(aOps.filter((r) => r.action.startsWith('stop'))).toEqual([]);
    // a started nothing before b had stopped everything
    expect(start.from).toBeGreaterThanOrEqual(stop.to);

    // never both
    const both = samples.filter((s) => s.a && s.b);
    expect(both, `both nodes held the group; records:\n${[...aOps, ...bOps].sort((x, y) => x.t - y.t).map((r) => `${r.t} ${r.node} ${r.action} ${r.name}`).join('\n')}`).toEqual([]);
    // the longest run of samples where nobody held the group, from the last sample with a holder
    // to the first sample with a holder again
    let outage = 0;
    let lastHeld: number | null = null;
    let gapOpen = false;
    for (const s of samples) {
      const held = s.a || s.b;
      if (held) {
        if (gapOpen && lastHeld !== null) outage = Math.max(outage, s.t - lastHeld);
        gapOpen = false;
        lastHeld = s.t;
      } else gapOpen = true;
    }
    expect(gapOpen).toBe(false);
    measured.failbackTotal = start.to - t0;
    measured.groupStop = stop.ms;
    measured.groupStart = start.ms;
    measured.handoffGap = start.from - stop.to;
    measured.outage = outage;
    expect(samples.length).toBeGreaterThan(10);
    expect(outage).toBeLessThanOrEqual(stop.ms + start.ms + OUTAGE_TOLERANCE_MS);
  });

  it('kill -9 of nodea\'s daemon makes nodeb start the group within deadtime + 1 s', async () => {
    const bBefore = nodes.b.ops().length;
    // the machine went down with its daemon: its resources are gone too (no STONITH configured)
    const t0 = Date.now();
    await nodes.a.kill9();
    for (const r of RESOURCES) fs.rmSync(path.join(nodes.a.dir, `${r}.running`), { force: true });
    fs.rmSync(path.join(nodes.a.dir, 'holder'), { force: true });
    await waitFor(() => nodes.b.holds(), DEADTIME_MS + 5000, () => `nodeb to take over from the dead nodea\n--- nodeb log ---\n${nodes.b.tail()}`);
    const took = Date.now() - t0;
    measured.failoverKill9 = took;
    expect(took).toBeLessThanOrEqual(DEADTIME_MS + 1000);
    await nodes.b.waitRecord('start-end', RESOURCES.at(-1)!, bBefore);
    expect(span(nodes.b.ops().slice(bBefore), 'start').order).toEqual([...RESOURCES]);
  });
});
