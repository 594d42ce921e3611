// The user's story on real kernels: two nodes and a client in network namespaces (scripts/lab.sh),
// loop devices as raw disks, the replicated device as a kernel block device with ext4 on it, a
// web server on a VIP under tandem-hb, and a pulled cable. The steps run in the order of the
// user's notes (issue 7) and share one lab, so a failed step makes the later ones skip instead of
// failing for the same reason. `lab.sh down` runs before (a leftover from a crashed run) and after.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Lab, LOG_DIR, VIP, isRoot } from './helpers/lab.js';
import { Scenario, SETTINGS, hbAvailable, kernelDeviceAvailable, type Narrator } from './helpers/scenario.js';

// Everything here needs root: network namespaces, a bridge, loop devices, mounts, ext4.
// Without root the whole file is skipped (`npm run test:e2e` is run as root by .ci/run).
const root = isRoot();

// Steps 4-7 need the tandem-hb daemon (src/cluster/tandem-hb-main.ts, bin `tandem-hb`), built
// after the cluster core; until dist/ has it they are skipped. Step 8 does not need it.
const hb = hbAvailable();

const log = (line: string) => process.stdout.write(`[lab] ${line}\n`);
const narrator: Narrator = {
  step: (n, title) => log(`step ${n}: ${title}`),
  say: () => {},
  cmd: () => {},
  show: () => {},
};

describe.skipIf(!root)('lab scenario: a two-node web cluster that survives a pulled cable', () => {
  let lab: Lab | null = null;
  let sc: Scenario;
  let broken: string | null = null;

  beforeAll(async () => {
    lab = await Lab.up();
    sc = new Scenario(lab, narrator);
  });

  afterAll(async () => {
    if (sc) log(sc.summary());
    if (broken) log(`daemon logs and client traces kept in ${LOG_DIR}`);
    const r = lab ? await lab.down() : await Lab.down();
    if (r.code !== 0) log(`lab.sh down: exit ${r.code}: ${r.stderr}`);
  });

  /** a step that runs only while every earlier step passed */
  const step = (title: string, fn: () => Promise<void>, opts: { skip?: boolean } = {}) =>
    it.skipIf(opts.skip ?? false)(title, async (ctx) => {
      if (broken) ctx.skip(`an earlier step failed: ${broken}`);
      try {
        await fn();
      } catch (err) {
        broken = title;
        throw err;
      }
    });

  step('1. create-md and up on both nodes: Secondary/Secondary Inconsistent/Inconsistent', async () => {
    const r = await sc.step1CreateAndUp();
    expect(r.node1).toMatchObject({ cs: 'Connected', role: 'Secondary', peerRole: 'Secondary', disk: 'Inconsistent', peerDisk: 'Inconsistent' });
    expect(r.node2).toMatchObject({ cs: 'Connected', role: 'Secondary', peerRole: 'Secondary', disk: 'Inconsistent', peerDisk: 'Inconsistent' });
    expect(r.statusFile).toMatch(/0: cs:Connected ro:Secondary\/Secondary ds:Inconsistent\/Inconsistent C/);
  });

  step('2. primary --force (and the 8.3 form) on node1: SyncSource with a progress bar until UpToDate/UpToDate', async () => {
    if (!kernelDeviceAvailable()) log('dist/src/nbd/kernel-device.js is missing: /dev/tandem0 will not appear');
    const r = await sc.step2InitialSync();
    expect(r.legacyFormExit).toBe(0);
    expect(r.progressSnapshots.length).toBeGreaterThan(0);
    expect(r.progressSnapshots.some((s) => /cs:SyncSource ro:Primary\/Secondary ds:UpToDate\/Inconsistent/.test(s))).toBe(true);
    expect(r.progressSnapshots.some((s) => /\[[=>.]+\] sync'ed: *\d+\.\d%/.test(s))).toBe(true);
    expect(r.final).toMatchObject({ cs: 'Connected', role: 'Primary', disk: 'UpToDate', peerDisk: 'UpToDate' });
    log(`initial sync: ${(r.syncMs / 1000).toFixed(1)} s, ${r.progressSnapshots.length} progress snapshots`);
  });

  step('3. ext4 on /dev/tandem0: readme.txt written on node1 is read on node2, and back', async () => {
    const r = await sc.step3Filesystem();
    expect(r.readOnNode2).toBe(SETTINGS.readme);
    expect(r.readBackOnNode1).toBe(SETTINGS.readme);
    expect(r.secondaryWhileMounted.code).not.toBe(0);
    expect(r.secondaryWhileMounted.message).toMatch(/held open|in use|mounted|open/i);
  });

  // Steps 4-7 wait for the tandem-hb daemon: skipped while dist/src/cluster/tandem-hb-main.js is missing.
  step('4. tandem-hb on both nodes starts the group (VIP, tandemdisk, Filesystem, httpd) on node1', async () => {
    const r = await sc.step4Heartbeat();
    expect(r.first.ok).toBe(true);
    log(`group started ${(r.startMs / 1000).toFixed(1)} s after tandem-hb started`);
  }, { skip: !hb });

  step(`5. the client gets "${SETTINGS.page}" from ${VIP}, served by node1`, async () => {
    const r = await sc.step5ClientSeesNode1();
    expect(r.answer).toMatchObject({ ok: true, status: 200, servedBy: 'node1' });
    expect(r.answer.body?.trim()).toBe(SETTINGS.page);
    expect(r.node1).toMatchObject({ role: 'Primary', cs: 'Connected' });
  }, { skip: !hb });

  step("6. pull node1's cable: node2 serves the page within deadtime + 5 s; a file is written through node2", async () => {
    const r = await sc.step6PullCable();
    log(`takeover by node2: ${(r.takeoverMs / 1000).toFixed(2)} s after the pull (bound ${r.boundMs / 1000} s), longest client outage ${(r.outageMs / 1000).toFixed(2)} s`);
    expect(r.servedBy).toBe('node2');
    expect(r.takeoverMs, `takeover within deadtime + 5 s${r.note ? `; ${r.note}` : ''}`).toBeLessThanOrEqual(r.boundMs);
    expect(r.written).toMatchObject({ ok: true, servedBy: 'node2' });
    expect(r.written.body).toContain('written on node2');
  }, { skip: !hb });

  step('7. plug it back: auto_failback moves the group to node1 after it resynced; the file from node2 is there; e2fsck clean', async () => {
    const r = await sc.step7PlugBack();
    log(`failback to node1: ${(r.takeoverMs / 1000).toFixed(2)} s after the plug-back, longest client outage ${(r.outageMs / 1000).toFixed(2)} s, SyncTarget seen on node1: ${r.sawSyncTarget}`);
    expect(r.servedBy).toBe('node1');
    expect(r.fromNode2).toMatchObject({ ok: true, servedBy: 'node1' });
    expect(r.fromNode2.body).toContain('written on node2');
    expect(r.node1).toMatchObject({ role: 'Primary', cs: 'Connected', disk: 'UpToDate', peerDisk: 'UpToDate' });
    expect(r.node2).toMatchObject({ role: 'Secondary', disk: 'UpToDate' });
  }, { skip: !hb });

  step('8. split-brain: both Primary while apart; resolved by hand, the survivor (node1) wins on both disks', async () => {
    const r = await sc.step8SplitBrain();
    expect([r.detected.node1.cs, r.detected.node2.cs]).toContain('StandAlone');
    expect(r.onNode2).toBe('written on node1 during the split (the survivor)');
    expect(r.node2OnlyGone).toBe(true);
    expect(r.disksEqual).toBe(true);
  });
});
