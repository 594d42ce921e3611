// The Pacemaker story on the lab (issue 16, the seeds' pcs guide): Tandem under Pacemaker +
// Corosync as a promotable clone of ocf:tandem:tandem, with Filesystem, IPaddr2 and the lab's web
// server in a group colocated with the Promoted role and ordered after promote. Each step waits
// for its outcome with a deadline and returns what it observed; the e2e test asserts on it, the
// demo narrates it. scripts/lab-pacemaker.sh runs corosync and pacemakerd in the nodes.
import fs from 'node:fs';
import path from 'node:path';
import { Lab, LabNode, LAB_ASSETS, LOG_DIR, REPO, STATE_DIR, VIP, run, waitFor, type ExecResult, type NodeName, type Probe, type ResStatus } from './lab.js';
import { quietNarrator, type Narrator } from './scenario.js';
import { configurationSummary, crmConfigureLines, pcsFileCommands, readmePacemakerBlocks } from './readme-cib.js';

const LAB_PCMK = path.join(REPO, 'scripts/lab-pacemaker.sh');
export const CLONE = 'tandem_r0-clone';
export const CONSTRAINT_ID = `tandem-fence-by-handler-r0-${CLONE}`;
/** corosync's token timeout in the lab, ms (scripts/lab-pacemaker.sh) */
export const TOKEN_MS = 1000;

/** Everything the story needs on the host: the cluster stack, pcs, the agents, ping. */
export function pacemakerMissing(): string | null {
  const need = ['/usr/sbin/corosync', '/usr/sbin/pacemakerd', '/usr/sbin/pcs', '/usr/lib/ocf/resource.d/heartbeat/Filesystem', '/usr/lib/ocf/resource.d/heartbeat/IPaddr2', '/usr/lib/ocf/resource.d/pacemaker/ping', '/usr/bin/ping'];
  const missing = need.filter((p) => !fs.existsSync(p));
  return missing.length ? `missing ${missing.join(', ')} (sudo bash scripts/install-deps.sh)` : null;
}

/** The clone's instances by role, from `crm_mon --output-as xml`. */
export function cloneRoles(xml: string, clone = CLONE): { promoted: string[]; unpromoted: string[]; stopped: number } {
  const out = { promoted: [] as string[], unpromoted: [] as string[], stopped: 0 };
  const m = new RegExp(`<clone id="${clone}"[^>]*>([\\s\\S]*?)</clone>`).exec(xml);
  if (!m) return out;
  for (const r of m[1]!.matchAll(/<resource\b([^>]*?)(\/>|>([\s\S]*?)<\/resource>)/g)) {
    const role = /\brole="([^"]*)"/.exec(r[1]!)?.[1];
    const node = /<node name="([^"]*)"/.exec(r[3] ?? '')?.[1];
    if (!node) out.stopped++;
    else if (role === 'Promoted' || role === 'Master') out.promoted.push(node);
    else if (role === 'Unpromoted' || role === 'Slave') out.unpromoted.push(node);
  }
  return out;
}

export interface TakeoverResult {
  /** from the cable pull to the survivor's tandemd becoming Primary (its log's role change) */
  takeoverMs: number;
  /** from the cable pull to Pacemaker's promote operation returning (the agent done) */
  promotedMs: number | null;
  /** from the cable pull to the client's first page from the survivor */
  pageMs: number;
  /** the longest time the client got no page between the pull and that page */
  outageMs: number;
  survivor: NodeName;
}

const other = (n: NodeName): NodeName => (n === 'node1' ? 'node2' : 'node1');

export class PacemakerStory {
  readonly dataFiles = new Map<string, string>();
  primary: NodeName = 'node1';

  constructor(
    readonly lab: Lab,
    readonly say: Narrator = quietNarrator,
  ) {}

  node(n: NodeName): LabNode {
    return n === 'node1' ? this.lab.node1 : this.lab.node2;
  }

  private async sh(n: NodeName, script: string, timeoutMs = 60_000): Promise<string> {
    this.say.cmd(n, script);
    return this.node(n).sh(script, timeoutMs);
  }

  private async pcmk(...args: string[]): Promise<void> {
    const r = await run('bash', [LAB_PCMK, ...args], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`lab-pacemaker.sh ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}${r.stdout}`);
  }

  /** crm_mon's view from a node (each partition has its own during a split). */
  async roles(n: NodeName): Promise<ReturnType<typeof cloneRoles>> {
    const r = await this.node(n).exec(['crm_mon', '-1', '--output-as', 'xml']);
    return cloneRoles(r.stdout);
  }

  async crmMonText(n: NodeName): Promise<string> {
    return (await this.node(n).exec(['crm_mon', '-1'])).stdout;
  }

  /** The fence constraint in the CIB as a node sees it: null when absent, else the node it keeps promotion on. */
  async fenceConstraint(n: NodeName): Promise<string | null> {
    const r = await this.node(n).exec(['cibadmin', '-Q', '--xpath', `//rsc_location[@id='${CONSTRAINT_ID}']`]);
    if (r.code !== 0) return null;
    return /<expression [^>]*value="([^"]*)"/.exec(r.stdout)?.[1] ?? '?';
  }

  async waitPromoted(on: NodeName, seenFrom: NodeName, timeoutMs: number, unpromoted?: NodeName): Promise<void> {
    let last = '';
    await waitFor(async () => {
      const r = await this.roles(seenFrom);
      last = JSON.stringify(r);
      return r.promoted.length === 1 && r.promoted[0] === on && (unpromoted === undefined || r.unpromoted.includes(unpromoted));
    }, timeoutMs, () => `crm_mon on ${seenFrom} to show ${on} Promoted${unpromoted ? ` and ${unpromoted} Unpromoted` : ''} (last: ${last})`);
  }

  /** 1. Tandem by hand as the guides do it before Pacemaker: metadata, first Primary, ext4, a page. */
  async prepareDisk(): Promise<void> {
    this.say.step(1, 'Tandem by hand first: create-md, up, initial Primary, mkfs.ext4, the web page');
    for (const n of this.lab.nodes) {
      fs.mkdirSync(n.etcDir, { recursive: true });
      const tpl = fs.readFileSync(path.join(LAB_ASSETS, 'tandem-pacemaker.conf.in'), 'utf8');
      const vars: Record<string, string> = { NODE1_DISK: this.lab.node1.disk, NODE2_DISK: this.lab.node2.disk, SYNC_RATE: '100M', HANDLERS: path.join(REPO, 'scripts/handlers') };
      fs.writeFileSync(path.join(n.etcDir, 'tandem.conf'), tpl.replace(/@([A-Z0-9_]+)@/g, (_m, k: string) => vars[k]!));
    }
    for (const n of this.lab.nodes) await n.admOk('create-md', 'r0');
    for (const n of this.lab.nodes) n.startTandemd();
    for (const n of this.lab.nodes) await n.waitTandemd();
    for (const n of this.lab.nodes) await n.admOk('up', 'r0');
    const connected = (s: ResStatus) => s.cs === 'Connected';
    await this.lab.node1.waitState(connected, 'Connected');
    // two blank disks are equal: skip the initial full sync, as DRBD's new-current-uuid --clear-bitmap
    await this.lab.node1.admOk('new-current-uuid', '--clear-bitmap', 'r0');
    await this.lab.node1.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'UpToDate/UpToDate');
    await this.lab.node1.admOk('primary', 'r0');
    await waitFor(() => this.lab.node1.hasBlockDevice(), 20_000, 'node1 /dev/tandem0');
    await this.sh('node1', 'mkfs.ext4 -q -F /dev/tandem0 && mount /dev/tandem0 /cluster/data && mkdir -p /cluster/data/www && echo "It is my cluster !" > /cluster/data/www/index.html && umount /cluster/data');
    await this.lab.node1.admOk('secondary', 'r0');
    for (const n of this.lab.nodes) await n.admOk('down', 'r0');
    // Pacemaker's agent starts its own tandemd: the hand-started ones go
    for (const n of this.lab.nodes) await n.tandemd?.stop();
  }

  /** 2. corosync + pacemakerd on both nodes. */
  async startCluster(): Promise<number> {
    this.say.step(2, 'Corosync and Pacemaker on both nodes');
    const t0 = Date.now();
    await this.pcmk('setup');
    await this.pcmk('start', 'node1');
    await this.pcmk('start', 'node2');
    await this.pcmk('wait-online', '120');
    return Date.now() - t0;
  }

  /** The pcs commands a user types (README), against a CIB file, pushed at once. */
  static pcsCommands(): string[][] {
    const server = path.join(LAB_ASSETS, 'httpd-server.mjs');
    return [
      ['property', 'set', 'stonith-enabled=false'],
      ['resource', 'defaults', 'update', 'resource-stickiness=100'],
      ['resource', 'create', 'tandem_r0', 'ocf:tandem:tandem', 'resource=r0', 'tandemd_log=/run/tandem/tandemd.log',
        'op', 'monitor', 'interval=2s', 'role=Promoted', 'op', 'monitor', 'interval=3s', 'role=Unpromoted',
        'promotable', 'promoted-max=1', 'promoted-node-max=1', 'clone-max=2', 'clone-node-max=1', 'notify=true'],
      ['resource', 'create', 'web_fs', 'ocf:heartbeat:Filesystem', 'device=/dev/tandem0', 'directory=/cluster/data', 'fstype=ext4', '--group', 'web'],
      ['resource', 'create', 'web_ip', 'ocf:heartbeat:IPaddr2', `ip=${VIP}`, 'cidr_netmask=24', 'nic=eth0', '--group', 'web'],
      ['resource', 'create', 'web_httpd', 'ocf:heartbeat:anything', `binfile=${process.execPath}`,
        `cmdline_options=${server} --bind ${VIP} --port 80 --root /cluster/data/www`, '--group', 'web'],
      ['constraint', 'colocation', 'add', 'web', 'with', 'Promoted', CLONE, 'INFINITY'],
      ['constraint', 'order', 'promote', CLONE, 'then', 'start', 'web'],
      // connectivity: a node that cannot reach the client's network steps down (the classic pingd rule)
      // dampen: a cable plugged back answers pings before corosync has merged the partitions; the
      // cut-off node must not see itself eligible in its own partition in that moment
      ['resource', 'create', 'ping', 'ocf:pacemaker:ping', 'host_list=10.213.0.10', 'dampen=5s', 'op', 'monitor', 'interval=1s', 'timeout=5s', 'clone'],
      ['constraint', 'location', CLONE, 'rule', 'role=Promoted', 'score=-INFINITY', 'not_defined', 'pingd', 'or', 'pingd', 'lte', '0'],
    ];
  }

  /** 3. The resources, with pcs on node1; returns the node Pacemaker promoted and the first page. */
  async configure(): Promise<{ promoted: NodeName; page: Probe; crmMon: string }> {
    this.say.step(3, 'pcs: the promotable clone, Filesystem, IPaddr2, the web server, colocation and order');
    const cib = '/run/tandem/pcs-cib.xml';
    await this.sh('node1', `pcs cluster cib ${cib}`);
    for (const args of PacemakerStory.pcsCommands()) {
      const r = await this.node('node1').exec(['pcs', '-f', cib, ...args], 60_000);
      this.say.cmd('node1', `pcs -f ${cib} ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`);
      if (r.code !== 0) throw new Error(`pcs ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
    }
    // the lab's nodes share one (busy) machine: the host's load average is not theirs, and
    // Pacemaker's throttling would run one action at a time on each node
    await this.node('node1').exec(['pcs', '-f', cib, 'property', 'set', 'load-threshold=1000%']);
    await this.sh('node1', `pcs cluster cib-push ${cib} --config`);
    let promoted: NodeName | null = null;
    await waitFor(async () => {
      const r = await this.roles('node1');
      promoted = r.promoted.length === 1 ? (r.promoted[0] as NodeName) : null;
      return promoted !== null && r.unpromoted.length === 1;
    }, 90_000, async () => `one Promoted and one Unpromoted instance:\n${await this.crmMonText('node1')}`);
    this.primary = promoted!;
    const page = await this.waitPage(this.primary);
    const crmMon = await this.crmMonText('node1');
    this.say.show('crm_mon -1', crmMon);
    return { promoted: this.primary, page, crmMon };
  }

  /**
   * The README's pcs and crm blocks, each run on node1 against an empty CIB file (the agents are
   * there, as on a real node): the configuration each produces, summarised (readme-cib.ts).
   */
  async readmeConfigurations(): Promise<{ pcs: string[]; crm: string[] }> {
    const blocks = readmePacemakerBlocks();
    const n = this.node('node1');
    const pcsFile = '/run/tandem/readme-pcs.xml';
    const crmFile = '/run/tandem/readme-crm.xml';
    await n.sh(`cibadmin --empty > ${pcsFile} && cibadmin --empty > ${crmFile}`);
    for (const args of pcsFileCommands(blocks.pcs)) {
      const r = await n.exec(['pcs', '-f', pcsFile, ...args], 60_000);
      if (r.code !== 0) throw new Error(`README's pcs ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
    }
    const crmLines = crmConfigureLines(blocks.crm);
    // a quoted here-document: the lines reach crm as the user typed them ($role included)
    const r = await n.exec(['sh', '-c', `CIB_file=${crmFile} crm -F configure <<'README_CRM'\n${[...crmLines, 'commit'].join('\n')}\nREADME_CRM\n`], 60_000);
    if (r.code !== 0) throw new Error(`README's crm block failed: ${r.stderr}${r.stdout}`);
    const read = async (f: string): Promise<string> => (await n.exec(['cat', f])).stdout;
    return { pcs: configurationSummary(await read(pcsFile)), crm: configurationSummary(await read(crmFile)) };
  }

  /** 4. Files written on the Primary before anything fails (fsync'd), by checksum. */
  async writeData(name: string, mib = 4): Promise<string> {
    const out = await this.sh(this.primary, `dd if=/dev/urandom of=/cluster/data/${name} bs=1M count=${mib} conv=fsync status=none && sha256sum /cluster/data/${name}`);
    const sum = out.split(/\s+/)[0]!;
    this.dataFiles.set(name, sum);
    return sum;
  }

  /** The group runs on `n`: the client gets the page from it (so /cluster/data is mounted there). */
  async waitPage(n: NodeName, timeoutMs = 60_000): Promise<Probe> {
    return waitFor(async () => {
      const p = await this.lab.get('/', 1000);
      return p.ok && p.servedBy === n ? p : null;
    }, timeoutMs, `the page from ${n}`);
  }

  async checksum(n: NodeName, name: string): Promise<string> {
    return (await this.node(n).sh(`sha256sum /cluster/data/${name}`)).split(/\s+/)[0]!;
  }

  /** 5. Pull the Primary's cable: the other node is promoted and serves the page. */
  async pullCable(): Promise<TakeoverResult & { crmMon: string; constraintOnSurvivor: string | null }> {
    const old = this.primary;
    const survivor = other(old);
    this.say.step(5, `Pull ${old}'s cable`);
    const probe = this.lab.startProbe(100, 400);
    await probe.waitFor((p) => p.ok, Date.now(), 10_000, 'the client to see the page before the pull');
    const t0 = Date.now();
    await this.lab.cable(old, 'down');
    const first = await probe.waitFor((p) => p.ok && p.servedBy === survivor, t0, 90_000, `a page from ${survivor}`);
    const outage = probe.longestOutage(t0, first.t);
    await probe.stop();
    await this.waitPromoted(survivor, survivor, 30_000);
    this.primary = survivor;
    const crmMon = await this.crmMonText(survivor);
    this.say.show(`crm_mon -1 on ${survivor}`, crmMon);
    const primaryAt = this.roleChangeAt(survivor, 'Primary', t0);
    if (primaryAt === null) throw new Error(`${survivor}'s tandemd log has no role change to Primary after the pull`);
    const promotedAt = this.promoteDoneAt(survivor, t0);
    return {
      takeoverMs: primaryAt - t0, promotedMs: promotedAt === null ? null : promotedAt - t0, pageMs: first.t - t0,
      outageMs: outage.ms, survivor, crmMon, constraintOnSurvivor: await this.fenceConstraint(survivor),
    };
  }

  /** The isolated node's own partition: the ping rule demotes it, and it placed no constraint. */
  async isolatedSide(isolated: NodeName): Promise<{ role: string; constraint: string | null; mounted: boolean }> {
    const s = await this.node(isolated).waitState((x) => x.role === 'Secondary', 'the isolated node to step down (no ping node)', 60_000);
    await waitFor(async () => !(await this.node(isolated).isMounted()), 30_000, `${isolated} to unmount /cluster/data`);
    return { role: s.role, constraint: await this.fenceConstraint(isolated), mounted: await this.node(isolated).isMounted() };
  }

  /** 6. Plug it back: it resyncs as SyncTarget, crm_mon shows Promoted/Unpromoted, the constraint goes. */
  async plugBack(back: NodeName): Promise<{ sawSyncTarget: boolean; crmMon: string; a: ResStatus; b: ResStatus }> {
    this.say.step(6, `Plug ${back}'s cable back`);
    await this.lab.cable(back, 'up');
    const upToDate = (s: ResStatus) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate';
    const b = await this.node(back).waitState((s) => upToDate(s) && s.role === 'Secondary', 'Connected Secondary UpToDate/UpToDate after the resync', 90_000);
    const a = await this.node(this.primary).waitState((s) => upToDate(s) && s.role === 'Primary', 'Connected Primary UpToDate/UpToDate', 30_000);
    await this.waitPromoted(this.primary, back, 60_000, back);
    await waitFor(async () => (await this.fenceConstraint(this.primary)) === null, 30_000, 'crm-unfence-peer to remove the constraint after the resync');
    const sawSyncTarget = / -> SyncTarget/.test(this.tandemdLog(back));
    const crmMon = await this.crmMonText(this.primary);
    this.say.show('crm_mon -1', crmMon);
    return { sawSyncTarget, crmMon, a, b };
  }

  /**
   * 7. Split brain of the replication link while the cluster still talks: the Primary's fence-peer
   * constraint keeps the stale node from being promoted even when the Primary's node goes standby.
   */
  async splitBrain(): Promise<{ stale: NodeName; constraint: string | null; staleRole: string; promotedDuringStandby: string[]; staleScore: string; promotedAfter: NodeName; a: ResStatus; b: ResStatus }> {
    const primary = this.primary;
    const stale = other(primary);
    this.say.step(7, `Replication link cut (${stale} disconnects); ${primary} goes on writing; then ${primary} goes standby`);
    await this.node(stale).admOk('disconnect', 'r0');
    await waitFor(async () => (await this.fenceConstraint(primary)) === primary, 60_000, `the fence constraint from ${primary}`);
    const constraint = await this.fenceConstraint(primary);
    await this.writeData('after-split.bin', 2);
    const staleScore = (await this.node(stale).exec(['crm_attribute', '-N', stale, '-n', 'master-tandem_r0', '-l', 'reboot', '-G', '-q'])).stdout.trim();
    await this.sh(primary, `pcs node standby ${primary}`);
    // settled: nothing runs on the standby node, and the scheduler has nothing left to do
    await waitFor(async () => (await this.roles(stale)).promoted.length === 0 && !(await this.node(primary).isMounted()), 60_000, `${primary} to give up the promoted role`);
    await this.node(stale).exec(['crm_resource', '--wait', '--timeout=60'], 70_000);
    const promotedDuringStandby = (await this.roles(stale)).promoted;
    const staleRole = (await this.node(stale).status())?.role ?? 'unknown';
    this.say.show(`crm_mon -1 (${primary} standby)`, await this.crmMonText(stale));
    // back: the agent's start notification reconnects the StandAlone node (as ocf:linbit:drbd's
    // adjust does), it resyncs from the newer data, crm-unfence-peer lifts the constraint, and
    // Pacemaker may then promote either node: both hold the same data
    await this.sh(primary, `pcs node unstandby ${primary}`);
    const synced = (s: ResStatus) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate';
    await waitFor(async () => {
      const s = await this.node(stale).status();
      if (s?.cs === 'StandAlone' && s.disk !== 'Diskless') await this.node(stale).adm('connect', 'r0');
      return s !== null && synced(s);
    }, 90_000, `${stale} to resync from ${primary}`);
    await waitFor(async () => (await this.fenceConstraint(primary)) === null, 30_000, 'crm-unfence-peer to remove the constraint');
    let promotedAfter: NodeName | null = null;
    await waitFor(async () => {
      const r = await this.roles(primary);
      promotedAfter = r.promoted.length === 1 ? (r.promoted[0] as NodeName) : null;
      return promotedAfter !== null && r.unpromoted.length === 1;
    }, 60_000, 'one Promoted and one Unpromoted instance after the standby');
    this.primary = promotedAfter!;
    await this.waitPage(this.primary);
    const a = await this.node(this.primary).waitState(synced, 'UpToDate/UpToDate', 30_000);
    const b = await this.node(other(this.primary)).waitState(synced, 'UpToDate/UpToDate', 30_000);
    return { stale, constraint, staleRole, promotedDuringStandby, staleScore, promotedAfter: this.primary, a, b };
  }

  /** When tandemd on `n` logged its role change to `role` (ms since the epoch), the first at or after `since`. */
  roleChangeAt(n: NodeName, role: string, since: number): number | null {
    for (const line of this.tandemdLog(n).split('\n')) {
      if (!line.includes('"role":')) continue;
      try {
        const j = JSON.parse(line) as { time?: number; transition?: { role?: string } };
        if (j.time !== undefined && j.time >= since && j.transition?.role?.endsWith(`-> ${role}`)) return j.time;
      } catch {
        /* a partial last line */
      }
    }
    return null;
  }

  /**
   * When Pacemaker on `n` logged the result of a successful promote of the clone, at or after
   * `since` (pacemaker.log's local time stamps: the lab's nodes share the host's clock and zone).
   */
  promoteDoneAt(n: NodeName, since: number): number | null {
    let log = '';
    try {
      log = fs.readFileSync(path.join(STATE_DIR, n, 'pcmk', 'log-pacemaker', 'pacemaker.log'), 'utf8');
    } catch {
      return null;
    }
    const year = new Date(since).getFullYear();
    for (const m of log.matchAll(/^(\w{3} \d{2} \d{2}:\d{2}:\d{2}\.\d{3}) .*Result of promote operation for tandem_r0 on [^:]+: ok/gm)) {
      const t = new Date(`${m[1]!.replace(/\.(\d{3})$/, '')} ${year}`).getTime() + Number(m[1]!.slice(-3));
      if (t >= since) return t;
    }
    return null;
  }

  tandemdLog(n: NodeName): string {
    try {
      return fs.readFileSync(path.join(STATE_DIR, n, 'run', 'tandemd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Logs worth reading after a failure, copied out of the state dir before `lab down` removes it. */
  saveLogs(): void {
    for (const n of ['node1', 'node2'] as const) {
      const d = path.join(STATE_DIR, n);
      const files: Array<[string, string]> = [
        [path.join(d, 'run', 'tandemd.log'), `${n}-pcmk-tandemd.log`],
        [path.join(d, 'pcmk', 'log-pacemaker', 'pacemaker.log'), `${n}-pacemaker.log`],
        [path.join(d, 'pcmk', 'log-corosync', 'corosync.log'), `${n}-corosync.log`],
      ];
      for (const [from, to] of files) {
        try {
          fs.copyFileSync(from, path.join(LOG_DIR, to));
        } catch {
          /* not there */
        }
      }
    }
  }

  /** Pacemaker stops its resources (umount, demote, stop: tandemd down), then the stack. */
  async stopCluster(): Promise<ExecResult[]> {
    return Promise.all(['node1', 'node2'].map((n) => run('bash', [LAB_PCMK, 'stop', n], { timeoutMs: 90_000 })));
  }
}
