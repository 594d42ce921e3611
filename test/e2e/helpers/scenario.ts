// The user's story, step by step, on the lab: a two-node web cluster on a replicated disk that
// survives a pulled cable. Each step does what the user's notes do, waits for the outcome with a
// deadline, and throws a specific error when the outcome does not come; it returns what it
// observed so the e2e test can assert on it and the demo can show it. The narrator decides how
// much a person sees.
import fs from 'node:fs';
import path from 'node:path';
import { Lab, LabNode, REPO, VIP, run, waitFor, type ClientProbe, type Probe, type ResStatus } from './lab.js';

export interface Narrator {
  /** a numbered step of the scenario */
  step(n: number, title: string): void;
  /** a sentence about what happens now */
  say(text: string): void;
  /** a command as the user would type it on a node */
  cmd(host: string, command: string): void;
  /** a block of output: a status file, an HTTP answer */
  show(label: string, text: string): void;
}

export const quietNarrator: Narrator = { step() {}, say() {}, cmd() {}, show() {} };

export const SETTINGS = {
  /** ha.cf deadtime, seconds: the takeover bound is deadtime + 5 s */
  deadtimeS: 2,
  /** syncer rate: slow enough that a person sees the progress bar move on the 256 MiB disk */
  syncRate: '40M',
  hbSecret: 'It-is-my-cluster',
  readme: 'My first cluster',
  page: 'It is my cluster !',
};

export const hbAvailable = (): boolean => fs.existsSync(path.join(REPO, 'dist/src/cluster/tandem-hb-main.js'));
export const kernelDeviceAvailable = (): boolean => fs.existsSync(path.join(REPO, 'dist/src/nbd/kernel-device.js'));

const short = (s: ResStatus) => `${s.cs} ${s.role}/${s.peerRole} ${s.disk}/${s.peerDisk}`;
const answer = (p: Probe) => (p.ok ? `HTTP 200 from ${p.servedBy}: ${JSON.stringify(p.body?.trim())}` : `no page (${p.error ?? `HTTP ${p.status}`})`);

export interface FailoverResult {
  /** from the cable action to the client's first page from the new holder */
  takeoverMs: number;
  /** the longest time the client got no page in that window */
  outageMs: number;
  servedBy: string;
  /** why the figure may be off (e.g. no gratuitous ARP) */
  note?: string;
}

/** IPaddr announces a moved VIP with arping when it is installed (as heartbeat's send_arp does). */
export async function arpingInstalled(node: LabNode): Promise<boolean> {
  return (await node.exec(['sh', '-c', 'command -v arping'])).code === 0;
}

export class Scenario {
  probe: ClientProbe | null = null;
  readonly measurements: Record<string, FailoverResult> = {};

  constructor(
    readonly lab: Lab,
    readonly say: Narrator = quietNarrator,
  ) {}

  get node1(): LabNode {
    return this.lab.node1;
  }
  get node2(): LabNode {
    return this.lab.node2;
  }

  private async adm(node: LabNode, ...args: string[]): Promise<string> {
    this.say.cmd(node.name, `tandemadm ${args.join(' ')}`);
    return node.admOk(...args);
  }

  private async sh(node: LabNode, script: string, timeoutMs = 60_000): Promise<string> {
    this.say.cmd(node.name, script);
    return node.sh(script, timeoutMs);
  }

  private catStatus(node: LabNode): string {
    return `${node.name}: cat ${node.nodeRunDir}/status`;
  }

  /** The status file's resource lines (what `cat <run-dir>/status` shows), without the version line. */
  statusLines(node: LabNode): string {
    return node.readStatusFile().split('\n').filter((l) => l && !l.startsWith('version:')).join('\n');
  }

  private async waitDevice(node: LabNode, present: boolean): Promise<void> {
    await waitFor(async () => (await node.hasBlockDevice()) === present, 20_000,
      `${node.name}: /dev/tandem0 ${present ? 'to appear as a block device (kernel device of the Primary)' : 'to go away after secondary'}`);
  }

  // 1. create-md, up: both Secondary, both Inconsistent
  async step1CreateAndUp(): Promise<{ node1: ResStatus; node2: ResStatus; statusFile: string }> {
    this.say.step(1, 'On both nodes: create-md r0, up r0');
    for (const n of this.lab.nodes) {
      n.writeConfig({
        NODE1_DISK: this.node1.disk, NODE2_DISK: this.node2.disk, SYNC_RATE: SETTINGS.syncRate,
        DEADTIME: String(SETTINGS.deadtimeS), HB_SECRET: SETTINGS.hbSecret, VIP,
      });
    }
    this.say.say(`node1's raw disk is ${this.node1.disk}, node2's is ${this.node2.disk} (loop devices over sparse files); the config is /etc/tandem/tandem.conf on each node.`);
    for (const n of this.lab.nodes) await this.adm(n, 'create-md', 'r0');
    for (const n of this.lab.nodes) {
      this.say.cmd(n.name, 'tandemd &');
      n.startTandemd();
    }
    for (const n of this.lab.nodes) await n.waitTandemd();
    for (const n of this.lab.nodes) await this.adm(n, 'up', 'r0');
    const want = (s: ResStatus) => s.cs === 'Connected' && s.role === 'Secondary' && s.peerRole === 'Secondary' && s.disk === 'Inconsistent' && s.peerDisk === 'Inconsistent';
    const s1 = await this.node1.waitState(want, 'Connected Secondary/Secondary Inconsistent/Inconsistent');
    const s2 = await this.node2.waitState(want, 'Connected Secondary/Secondary Inconsistent/Inconsistent');
    const statusFile = await waitFor(() => {
      const t = this.statusLines(this.node1);
      return t.includes('ro:Secondary/Secondary ds:Inconsistent/Inconsistent') ? t : null;
    }, 10_000, 'node1 status file to show Secondary/Secondary Inconsistent/Inconsistent');
    this.say.show(this.catStatus(this.node1), statusFile);
    return { node1: s1, node2: s2, statusFile };
  }

  // 2. forced promotion starts the initial full sync; the status file shows the progress bar
  async step2InitialSync(): Promise<{ progressSnapshots: string[]; legacyFormExit: number; final: ResStatus; syncMs: number }> {
    this.say.step(2, 'node1: primary --force r0 — the initial full sync');
    const t0 = Date.now();
    await this.adm(this.node1, 'primary', '--force', 'r0');
    this.say.say('drbdadm 8.3 spelled it differently; Tandem takes that form too:');
    this.say.cmd('node1', 'tandemadm -- --overwrite-data-of-peer primary r0');
    const legacy = await this.node1.adm('--', '--overwrite-data-of-peer', 'primary', 'r0');
    if (legacy.code !== 0) throw new Error(`node1: tandemadm -- --overwrite-data-of-peer primary r0 failed (exit ${legacy.code}): ${legacy.stderr.trim()}`);
    const snapshots: string[] = [];
    let lastShown = '';
    let lastShownAt = 0;
    const final = await waitFor(async () => {
      const text = this.statusLines(this.node1);
      if (/sync'ed:/.test(text) && text !== snapshots.at(-1)) {
        snapshots.push(text);
        // a person sees the bar move about once a second, not every poll
        if (Date.now() - lastShownAt >= 1000 && text !== lastShown) {
          this.say.show(this.catStatus(this.node1), text);
          lastShown = text;
          lastShownAt = Date.now();
        }
      }
      const s = await this.node1.status();
      return s && s.cs === 'Connected' && s.role === 'Primary' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate' ? s : null;
    }, 180_000, 'node1: initial sync to finish (Connected Primary/Secondary UpToDate/UpToDate)');
    const syncMs = Date.now() - t0;
    await this.node2.waitState((s) => s.cs === 'Connected' && s.role === 'Secondary' && s.disk === 'UpToDate', 'node2 UpToDate after the initial sync');
    this.say.show(`${this.catStatus(this.node1)} (sync done)`, this.statusLines(this.node1));
    this.say.say(`initial sync of the whole device took ${(syncMs / 1000).toFixed(1)} s`);
    await this.waitDevice(this.node1, true);
    return { progressSnapshots: snapshots, legacyFormExit: legacy.code, final, syncMs };
  }

  // 3. a filesystem on the replicated device; the file follows the Primary role
  async step3Filesystem(): Promise<{ readOnNode2: string; readBackOnNode1: string; secondaryWhileMounted: { code: number; message: string } }> {
    this.say.step(3, 'node1: mkfs.ext4, mount, write readme.txt; switch to node2 and back');
    // no lazy init: the kernel would otherwise keep zeroing inode tables in the background after
    // mount, and those writes would show up as changes in the split-brain step
    await this.sh(this.node1, 'mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L cluster /dev/tandem0', 180_000);
    await this.sh(this.node1, 'mount /dev/tandem0 /cluster/data');
    await this.sh(this.node1, `echo '${SETTINGS.readme}' > /cluster/data/readme.txt`);
    this.say.say('and the page the web server will serve:');
    await this.sh(this.node1, `mkdir -p /cluster/data/www && echo '${SETTINGS.page}' > /cluster/data/www/index.html`);
    this.say.say('going Secondary while the device is mounted must be refused, as in DRBD:');
    this.say.cmd('node1', 'tandemadm secondary r0');
    const refused = await this.node1.adm('secondary', 'r0');
    const secondaryWhileMounted = { code: refused.code, message: (refused.stderr + refused.stdout).trim() };
    this.say.show('refused', `exit ${refused.code}: ${secondaryWhileMounted.message}`);
    if (refused.code === 0) throw new Error('node1: `secondary` succeeded while /cluster/data was mounted on the device; it must be refused');
    await this.sh(this.node1, 'umount /cluster/data');
    await this.adm(this.node1, 'secondary', 'r0');
    await this.waitDevice(this.node1, false);
    await this.adm(this.node2, 'primary', 'r0');
    await this.waitDevice(this.node2, true);
    await this.sh(this.node2, 'mount /dev/tandem0 /cluster/data');
    const readOnNode2 = (await this.sh(this.node2, 'cat /cluster/data/readme.txt')).trim();
    this.say.show('node2: cat /cluster/data/readme.txt', readOnNode2);
    if (readOnNode2 !== SETTINGS.readme) throw new Error(`node2 read ${JSON.stringify(readOnNode2)} from readme.txt, expected ${JSON.stringify(SETTINGS.readme)}`);
    await this.sh(this.node2, 'umount /cluster/data');
    await this.adm(this.node2, 'secondary', 'r0');
    await this.waitDevice(this.node2, false);
    this.say.say('and back to node1:');
    await this.adm(this.node1, 'primary', 'r0');
    await this.waitDevice(this.node1, true);
    await this.sh(this.node1, 'mount /dev/tandem0 /cluster/data');
    const readBackOnNode1 = (await this.sh(this.node1, 'cat /cluster/data/readme.txt')).trim();
    this.say.show('node1: cat /cluster/data/readme.txt', readBackOnNode1);
    await this.sh(this.node1, 'umount /cluster/data');
    await this.adm(this.node1, 'secondary', 'r0');
    await this.waitDevice(this.node1, false);
    await this.node1.waitState((s) => s.cs === 'Connected' && s.role === 'Secondary' && s.peerRole === 'Secondary' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'both Secondary and UpToDate before the cluster manager takes over');
    this.say.show(this.catStatus(this.node1), this.statusLines(this.node1));
    return { readOnNode2, readBackOnNode1, secondaryWhileMounted };
  }

  // 4. tandem-hb on both nodes starts the group on node1
  async step4Heartbeat(): Promise<{ startMs: number; first: Probe }> {
    this.say.step(4, 'tandem-hb on both nodes (keepalive 500ms, deadtime 2, ucast, auto_failback on)');
    this.say.show('/etc/tandem/ha.d/haresources', fs.readFileSync(path.join(this.node1.etcDir, 'ha.d/haresources'), 'utf8').trim());
    this.say.show('/etc/tandem/ha.d/ha.cf', fs.readFileSync(path.join(this.node1.etcDir, 'ha.d/ha.cf'), 'utf8').trim());
    if (!(await arpingInstalled(this.node1))) {
      this.say.say('warning: arping (iputils-arping) is not installed, so IPaddr sends no gratuitous ARP and the client keeps the old MAC of the VIP for up to a minute after a takeover');
    }
    const t0 = Date.now();
    for (const n of this.lab.nodes) {
      this.say.cmd(n.name, 'tandem-hb start &');
      n.startHb();
    }
    this.probe = this.lab.startProbe(100, 400);
    const first = await this.probe.waitFor((p) => p.ok, t0, 60_000, 'the client to get the page from the VIP once tandem-hb started the group');
    const startMs = first.t + first.ms - t0;
    this.say.say(`the group is up after ${(startMs / 1000).toFixed(1)} s (initdead, then IPaddr, tandemdisk, Filesystem, httpd)`);
    return { startMs, first };
  }

  // 5. the client sees the page, served by node1
  async step5ClientSeesNode1(): Promise<{ answer: Probe; node1: ResStatus }> {
    this.say.step(5, `client: GET http://${VIP}/`);
    const a = await this.lab.get('/');
    this.say.show(`client: curl -i http://${VIP}/`, answer(a));
    if (!a.ok) throw new Error(`client got no page from the VIP: ${answer(a)}`);
    const s = await this.node1.waitState((st) => st.role === 'Primary' && st.cs === 'Connected', 'node1 Primary under tandem-hb');
    this.say.show(this.catStatus(this.node1), this.statusLines(this.node1));
    return { answer: a, node1: s };
  }

  // 6. pull node1's cable: node2 takes over within deadtime + 5 s; write a file through node2
  async step6PullCable(): Promise<FailoverResult & { boundMs: number; written: Probe }> {
    this.say.step(6, "Pull node1's cable");
    const probe = this.requireProbe();
    await probe.waitFor((p) => p.ok && p.servedBy === 'node1', Date.now(), 10_000, 'the client to be served by node1 before the pull');
    const t0 = Date.now();
    this.say.cmd('lab', 'ip link set veth-node1 down');
    await this.lab.cable('node1', 'down');
    const boundMs = (SETTINGS.deadtimeS + 5) * 1000;
    const hint = (await arpingInstalled(this.node2)) ? '' : ' (arping is not installed: without a gratuitous ARP the client waits for its ARP entry of the VIP to expire; install iputils-arping)';
    const got = await probe.waitFor((p) => p.ok && p.servedBy === 'node2', t0, boundMs + 60_000, `the client to get the page from node2 after the pull${hint}`);
    const takeoverMs = got.t + got.ms - t0;
    const outage = probe.longestOutage(t0 - 1000, got.t + got.ms);
    const r: FailoverResult = { takeoverMs, outageMs: outage.ms, servedBy: got.servedBy ?? '', ...(hint ? { note: hint.trim() } : {}) };
    this.measurements['takeover by node2 (cable pulled)'] = r;
    this.say.show('client', answer(got));
    this.say.say(`node2 took over: the client got the page from node2 ${(takeoverMs / 1000).toFixed(2)} s after the pull (bound: deadtime + 5 s = ${boundMs / 1000} s); longest time without a page: ${(outage.ms / 1000).toFixed(2)} s`);
    this.say.show(this.catStatus(this.node2), this.statusLines(this.node2));
    const s1 = await this.node1.status();
    this.say.say(`node1, cut off, sees all its cluster links down and gives the group up: ${s1 ? short(s1) : 'no status'}`);
    this.say.say('a file written through node2 while node1 is away:');
    await this.sh(this.node2, "echo 'written on node2 while node1 was unplugged' > /cluster/data/www/from-node2.txt && sync");
    const written = await this.lab.get('/from-node2.txt');
    this.say.show(`client: curl http://${VIP}/from-node2.txt`, answer(written));
    return { ...r, boundMs, written };
  }

  // 7. plug it back: auto_failback returns the group to node1 after node1 resynced
  async step7PlugBack(): Promise<FailoverResult & { fromNode2: Probe; sawSyncTarget: boolean; node1: ResStatus; node2: ResStatus; fsck: string }> {
    this.say.step(7, "Plug node1's cable back: auto_failback");
    const probe = this.requireProbe();
    let sawSyncTarget = false;
    const watch = setInterval(() => {
      if (/cs:SyncTarget/.test(this.node1.readStatusFile())) sawSyncTarget = true;
    }, 50);
    const t1 = Date.now();
    this.say.cmd('lab', 'ip link set veth-node1 up');
    await this.lab.cable('node1', 'up');
    let got: Probe;
    try {
      got = await probe.waitFor((p) => p.ok && p.servedBy === 'node1', t1, 120_000, 'the client to get the page from node1 again (auto_failback)');
    } finally {
      clearInterval(watch);
    }
    const takeoverMs = got.t + got.ms - t1;
    const outage = probe.longestOutage(t1, got.t + got.ms);
    const r: FailoverResult = { takeoverMs, outageMs: outage.ms, servedBy: got.servedBy ?? '' };
    this.measurements['failback to node1 (cable plugged back)'] = r;
    this.say.show('client', answer(got));
    this.say.say(`the group is back on node1 ${(takeoverMs / 1000).toFixed(2)} s after the plug-back; longest time without a page: ${(outage.ms / 1000).toFixed(2)} s${sawSyncTarget ? '; node1 was SyncTarget first' : ''}`);
    const fromNode2 = await this.lab.get('/from-node2.txt');
    this.say.show(`client: curl http://${VIP}/from-node2.txt`, answer(fromNode2));
    const node1 = await this.node1.waitState((s) => s.cs === 'Connected' && s.role === 'Primary' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'node1 Primary, Connected, UpToDate/UpToDate after failback', 60_000);
    const node2 = await this.node2.waitState((s) => s.cs === 'Connected' && s.role === 'Secondary' && s.disk === 'UpToDate', 'node2 Secondary UpToDate after failback', 60_000);
    this.say.show(this.catStatus(this.node1), this.statusLines(this.node1));
    this.say.say('stop tandem-hb on both nodes (node1 releases the group) and check the filesystem:');
    await this.stopHeartbeat();
    const fsck = await this.fsckOn(this.node1);
    return { ...r, fromNode2, sawSyncTarget, node1, node2, fsck };
  }

  /** Stops tandem-hb on both nodes; when it is gone the group must be stopped everywhere. */
  async stopHeartbeat(): Promise<void> {
    for (const n of this.lab.nodes) {
      if (!n.hb?.running) continue;
      // `tandem-hb stop` gives the groups up, then ends the daemon, and waits for that
      this.say.cmd(n.name, 'tandem-hb stop');
      const r = await n.hbCmd('stop', '--timeout', '50');
      if (r.code !== 0) this.say.say(`tandem-hb stop on ${n.name} failed (exit ${r.code}: ${(r.stderr + r.stdout).trim()}); ending it by its PID`);
      await n.hb.stop(60_000);
    }
    await this.probe?.stop();
    this.probe = null;
    for (const n of this.lab.nodes) {
      if (await n.isMounted()) throw new Error(`${n.name}: /cluster/data is still mounted after tandem-hb stopped; the group was not released`);
      await n.waitState((s) => s.role === 'Secondary', `${n.name} Secondary after tandem-hb released the group`, 20_000);
    }
  }

  /** Promotes the node, runs `e2fsck -fn` on the unmounted device, demotes it again. */
  async fsckOn(node: LabNode): Promise<string> {
    await this.adm(node, 'primary', 'r0');
    await this.waitDevice(node, true);
    this.say.cmd(node.name, 'e2fsck -fn /dev/tandem0');
    const r = await node.exec(['e2fsck', '-fn', '/dev/tandem0'], 120_000);
    const out = (r.stdout + r.stderr).trim();
    this.say.show(`${node.name}: e2fsck -fn /dev/tandem0 (exit ${r.code})`, out);
    await this.adm(node, 'secondary', 'r0');
    await this.waitDevice(node, false);
    if (r.code !== 0) throw new Error(`${node.name}: e2fsck -fn /dev/tandem0 is not clean (exit ${r.code}):\n${out}`);
    return out;
  }

  // 8. split-brain: both Primary while apart, both write; resolve by hand, node1's data survives
  async step8SplitBrain(): Promise<{ detected: { node1: ResStatus; node2: ResStatus }; onNode2: string; node2OnlyGone: boolean; disksEqual: boolean; fsck: string }> {
    this.say.step(8, 'Split-brain: both nodes Primary while the replication link is cut');
    await this.stopHeartbeat();
    for (const n of this.lab.nodes) {
      await n.waitState((s) => s.cs === 'Connected' && s.role === 'Secondary' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', `${n.name} Connected Secondary UpToDate before the split`, 60_000);
    }
    this.say.say("tandem-hb is stopped, so nothing arbitrates. Cut node1's link (it carries the replication):");
    this.say.cmd('lab', 'ip link set veth-node1 down');
    await this.lab.cable('node1', 'down');
    for (const n of this.lab.nodes) await n.waitState((s) => s.cs !== 'Connected' && s.peerDisk === 'DUnknown', `${n.name} to notice the peer is gone`, 30_000);
    for (const [n, text] of [[this.node1, 'written on node1 during the split (the survivor)'], [this.node2, 'written on node2 during the split (the victim)']] as const) {
      await this.adm(n, 'primary', 'r0');
      await this.waitDevice(n, true);
      await this.sh(n, `mount /dev/tandem0 /cluster/data && echo '${text}' > /cluster/data/split.txt && touch /cluster/data/only-on-${n.name}.txt && umount /cluster/data`);
    }
    this.say.say('both nodes are Primary with different data. Heal the link:');
    this.say.cmd('lab', 'ip link set veth-node1 up');
    await this.lab.cable('node1', 'up');
    // DRBD's after-sb-2pri disconnect: the handshake finds the split brain and drops the link
    const [d1, d2] = await waitFor(async () => {
      const [a, b] = [await this.node1.status(), await this.node2.status()];
      if (a?.cs === 'Connected' || b?.cs === 'Connected' || a?.cs.startsWith('Sync') || b?.cs.startsWith('Sync')) {
        throw new Error(`the nodes connected after a split brain with two Primaries (node1 ${a ? short(a) : '?'}, node2 ${b ? short(b) : '?'}); after-sb-2pri disconnect must refuse`);
      }
      return a && b && (a.cs === 'StandAlone' || b.cs === 'StandAlone') ? ([a, b] as const) : null;
    }, 30_000, 'one side to go StandAlone (split-brain detected)');
    this.say.show('tandemadm status r0 (split brain detected: the link is refused)', `node1: ${short(d1)}\nnode2: ${short(d2)}`);
    this.say.say('resolve as in the notes: node2 is the victim, node1 the survivor');
    await this.adm(this.node2, 'secondary', 'r0');
    await this.waitDevice(this.node2, false);
    await this.adm(this.node2, 'disconnect', 'r0');
    await this.adm(this.node2, 'connect', '--discard-my-data', 'r0');
    if ((await this.node1.status())?.cs === 'StandAlone') await this.adm(this.node1, 'connect', 'r0');
    await this.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'node2 resynced from node1 (UpToDate/UpToDate)', 120_000);
    await this.node1.waitState((s) => s.cs === 'Connected' && s.role === 'Primary' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'node1 Connected Primary UpToDate/UpToDate', 30_000);
    this.say.show(this.catStatus(this.node1), this.statusLines(this.node1));
    // the survivor's bytes on both raw disks: compare the data area (metadata is internal, at the end)
    const sizeText = (await this.node1.sh('blockdev --getsize64 /dev/tandem0')).trim();
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size) || size <= 0) {
      const diag = await this.node1.exec(['sh', '-c', 'ls -la /dev/tandem0; losetup -l; cat "$TANDEM_RUN_DIR"/kernel/*.json 2>/dev/null']);
      throw new Error(`node1: /dev/tandem0 reports size ${JSON.stringify(sizeText)} while Primary and UpToDate:\n${diag.stdout}${diag.stderr}`);
    }
    const cmp = await run('cmp', ['-n', String(size), this.node1.disk, this.node2.disk], { timeoutMs: 120_000 });
    const disksEqual = cmp.code === 0;
    this.say.say(disksEqual ? `the first ${size} bytes (the whole device) are identical on both raw disks` : `raw disks differ: ${cmp.stdout.trim()}`);
    await this.adm(this.node1, 'secondary', 'r0');
    await this.waitDevice(this.node1, false);
    await this.adm(this.node2, 'primary', 'r0');
    await this.waitDevice(this.node2, true);
    const onNode2 = (await this.sh(this.node2, 'mount /dev/tandem0 /cluster/data && cat /cluster/data/split.txt')).trim();
    const node2OnlyGone = (await this.node2.exec(['test', '-e', '/cluster/data/only-on-node2.txt'])).code !== 0;
    const node1File = (await this.node2.exec(['test', '-e', '/cluster/data/only-on-node1.txt'])).code === 0;
    this.say.show('node2: cat /cluster/data/split.txt', onNode2);
    await this.sh(this.node2, 'umount /cluster/data');
    await this.adm(this.node2, 'secondary', 'r0');
    await this.waitDevice(this.node2, false);
    if (!node1File) throw new Error("node2 lacks only-on-node1.txt after the resolution: the survivor's data did not reach the victim");
    const fsck = await this.fsckOn(this.node2);
    return { detected: { node1: d1, node2: d2 }, onNode2, node2OnlyGone, disksEqual, fsck };
  }

  private requireProbe(): ClientProbe {
    if (!this.probe) throw new Error('the client probe is not running (step 4 starts it)');
    return this.probe;
  }

  summary(): string {
    const rows = Object.entries(this.measurements).map(([k, v]) => `  ${k.padEnd(40)} ${(v.takeoverMs / 1000).toFixed(2).padStart(6)} s   longest outage ${(v.outageMs / 1000).toFixed(2).padStart(6)} s   (served by ${v.servedBy})${v.note ? ` — ${v.note}` : ''}`);
    return rows.length ? `failover times (client's view):\n${rows.join('\n')}` : 'no failover was measured';
  }
}

export { short, answer };
