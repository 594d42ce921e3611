// The boot story: Tandem installed as a package would be (scripts/install.sh), then its init
// scripts called the way rc.local calls them — no systemd, an empty environment but for
// PATH=/usr/sbin:/usr/bin:/sbin:/bin and the settings /etc/default/tandem would hold — on the two
// nodes of the namespace lab. `start` must leave tandemd running with the configured resource
// attached and connected, `status` must print the /proc/drbd-style status file, and `stop` must
// bring the resource down and release the kernel device; the same for rc.tandem-hb with a VIP.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Lab, REPO, VIP, isRoot, waitFor, type LabNode, type ExecResult } from './helpers/lab.js';
import { SETTINGS } from './helpers/scenario.js';

const execFileP = promisify(execFile);
const BARE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

// Namespaces, loop devices and kernel block devices need root; as another user this is skipped.
describe.skipIf(!isRoot())('init scripts from rc.local on an installed Tandem (root, lab)', () => {
  let lab: Lab | null = null;
  let root = '';
  const rcCalls: Array<{ node: string; cmd: string; r: ExecResult }> = [];

  /** `/etc/init.d/SCRIPT ACTION` on a node, from an empty environment as rc.local would run it. */
  async function rc(node: LabNode, script: 'tandem' | 'tandem-hb', action: string): Promise<ExecResult> {
    const settings = script === 'tandem'
      ? [`TANDEM_CONFIG=/etc/tandem/tandem.conf`, `TANDEM_LOG=${path.join(root, `var/log/${node.name}-tandemd.log`)}`]
      : [`TANDEM_HA_DIR=/etc/tandem/ha.d`, `TANDEM_HB_LOG=${path.join(root, `var/log/${node.name}-tandem-hb.log`)}`];
    // the lab's nodes share one kernel, so each keeps its run dir under /run/tandem/NODE (lab.sh)
    const r = await node.exec(['env', '-i', `PATH=${BARE_PATH}`, `TANDEM_RUN_DIR=${node.nodeRunDir}`, ...settings,
      path.join(root, 'etc/init.d', script), action], 120_000);
    rcCalls.push({ node: node.name, cmd: `${script} ${action}`, r });
    return r;
  }

  async function rcOk(node: LabNode, script: 'tandem' | 'tandem-hb', action: string): Promise<string> {
    const r = await rc(node, script, action);
    if (r.code !== 0) throw new Error(`${node.name}: /etc/init.d/${script} ${action} exited ${r.code}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** the installed tandemadm, run on the node */
  const adm = (node: LabNode, ...args: string[]) => node.exec(['env', '-i', `PATH=${BARE_PATH}`,
    path.join(root, 'usr/bin/tandemadm'), '--config', '/etc/tandem/tandem.conf', '--run-dir', node.nodeRunDir, ...args]);

  const pidOf = (node: LabNode, file: string): number | null => {
    try {
      return Number(fs.readFileSync(path.join(node.runDir, file), 'utf8').trim()) || null;
    } catch {
      return null;
    }
  };
  const alive = (pid: number | null) => {
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-rc-'));
    fs.mkdirSync(path.join(root, 'var/log'), { recursive: true });
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? BARE_PATH}` };
    await execFileP('bash', [path.join(REPO, 'scripts/install.sh'), '--root', root], { env, maxBuffer: 16 << 20, timeout: 300_000 });
    lab = await Lab.up();
    for (const n of lab.nodes) {
      n.writeConfig({
        NODE1_DISK: lab.node1.disk, NODE2_DISK: lab.node2.disk, SYNC_RATE: '100M',
        DEADTIME: String(SETTINGS.deadtimeS), HB_SECRET: SETTINGS.hbSecret, VIP,
      });
      // only the VIP: this test is about the init scripts, not the whole web stack
      fs.writeFileSync(path.join(n.etcDir, 'ha.d/haresources'), `node1 IPaddr::${VIP}/24\n`);
      const md = await adm(n, 'create-md', '--force', 'r0');
      if (md.code !== 0) throw new Error(`${n.name}: create-md: ${md.stderr}`);
    }
  }, 400_000);

  afterAll(async () => {
    // stop what the scripts started (by the PIDs they recorded) before the lab goes
    if (lab) {
      for (const n of lab.nodes) {
        for (const f of ['tandem-hb.pid', 'tandemd.pid']) {
          const pid = pidOf(n, f);
          if (alive(pid)) process.kill(pid!, 'SIGTERM');
        }
      }
      await waitFor(() => lab!.nodes.every((n) => !alive(pidOf(n, 'tandemd.pid')) && !alive(pidOf(n, 'tandem-hb.pid'))), 30_000, 'daemons to exit')
        .catch(() => undefined);
    }
    const r = lab ? await lab.down() : await Lab.down();
    if (r.code !== 0) process.stdout.write(`lab.sh down: exit ${r.code}: ${r.stderr}\n`);
    for (const c of rcCalls) if (c.r.code !== 0 && !(c.cmd.endsWith(" status") && c.r.code === 3)) process.stdout.write(`[rc] ${c.node} ${c.cmd} → ${c.r.code}: ${c.r.stdout}${c.r.stderr}\n`);
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('rc.tandem start: tandemd runs, r0 is up and connected on both nodes; status prints the status file', async () => {
    const l = lab!;
    for (const n of l.nodes) {
      const out = await rcOk(n, 'tandem', 'start');
      expect(out).toMatch(/tandemd started \(pid \d+\)/);
      expect(alive(pidOf(n, 'tandemd.pid'))).toBe(true);
    }
    for (const n of l.nodes) {
      await waitFor(async () => (await adm(n, 'cstate', 'r0')).stdout.trim() === 'Connected', 30_000, `${n.name}: r0 Connected`);
      expect((await adm(n, 'dstate', 'r0')).stdout.trim()).toBe('Inconsistent/Inconsistent');
    }
    const st = await rcOk(l.node1, 'tandem', 'status');
    expect(st).toMatch(/^tandemd is running OK \(pid \d+\); device status:\n/);
    expect(st).toMatch(/\nversion: \S+ \(api:\d+\/proto:\d+\)\n/);
    expect(st).toMatch(/\n 0: cs:Connected ro:Secondary\/Secondary ds:Inconsistent\/Inconsistent C r-----\n/);
    // a second start does not start a second daemon
    expect(await rcOk(l.node1, 'tandem', 'start')).toMatch(/already running/);
  });

  it('rc.tandem stop: the Primary brings r0 down and releases /dev/tandem0; status then says not running (3)', async () => {
    const l = lab!;
    const p = await adm(l.node1, 'primary', '--force', 'r0');
    expect(p.code, p.stderr).toBe(0);
    await waitFor(() => l.node1.hasBlockDevice(), 30_000, 'node1: /dev/tandem0 as a block device');
    const pid = pidOf(l.node1, 'tandemd.pid');
    expect(await rcOk(l.node1, 'tandem', 'stop')).toMatch(/tandemd stopped/);
    expect(alive(pid)).toBe(false);
    expect(await l.node1.hasBlockDevice()).toBe(false);
    // nothing of the kernel device is left on the node: no loop over the nbdfuse file, no FUSE mount
    const loops = await l.node1.exec(['losetup', '-l', '-n', '-O', 'BACK-FILE']);
    expect(loops.stdout).not.toContain(l.node1.nodeRunDir);
    expect((await l.node1.exec(['cat', '/proc/self/mountinfo'])).stdout).not.toContain(`${l.node1.nodeRunDir}/`);
    // the peer saw it go
    await waitFor(async () => /WFConnection/.test((await adm(l.node2, 'cstate', 'r0')).stdout), 30_000, 'node2: WFConnection');
    const st = await rc(l.node1, 'tandem', 'status');
    expect(st.code).toBe(3);
    expect(st.stdout).toMatch(/tandemd is not running/);
    expect((await rcOk(l.node2, 'tandem', 'stop'))).toMatch(/tandemd stopped/);
  });

  it('rc.tandem-hb start on both nodes: node1 takes its group (the VIP); stop hands it to node2', async () => {
    const l = lab!;
    for (const n of l.nodes) expect(await rcOk(n, 'tandem-hb', 'start')).toMatch(/tandem-hb started/);
    const hasVip = async (n: LabNode) => (await n.exec(['ip', '-o', '-4', 'addr', 'show'])).stdout.includes(` ${VIP}/24 `);
    await waitFor(() => hasVip(l.node1), 60_000, 'node1 to raise the VIP');
    const st = await rcOk(l.node1, 'tandem-hb', 'status');
    expect(st).toMatch(/node1/);
    expect(st).toMatch(/node2/);
    expect(await hasVip(l.node2)).toBe(false);

    const hbPid = pidOf(l.node1, 'tandem-hb.pid');
    await rcOk(l.node1, 'tandem-hb', 'stop');
    expect(alive(hbPid)).toBe(false);
    expect(await hasVip(l.node1)).toBe(false);
    await waitFor(() => hasVip(l.node2), 60_000, 'node2 to take the VIP over');
    expect((await rc(l.node1, 'tandem-hb', 'status')).code).toBe(3);
    await rcOk(l.node2, 'tandem-hb', 'stop');
    expect(await hasVip(l.node2)).toBe(false);
  });
});
