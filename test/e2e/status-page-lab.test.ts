// The status page during a real failover in the lab (root; run under `flock /tmp/tandem-lab.lock`):
// both nodes run tandemd and tandem-hb with `tandem_web 0.0.0.0:9944`, node1 holds the group
// (VIP + tandemdisk::r0). Headless Chromium (Debian's, through playwright-core) keeps node1's and
// node2's pages open through the initial resync and a pulled cable; node2's page must show r0
// Primary within a second of node2's status file, and node1's page must say it lost its server.
// Screenshots of each step go to test-artifacts/status-page-lab/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Lab, LOG_DIR, NODE_ADDR, VIP, isRoot, type LabNode } from './helpers/lab.js';
import { forwardIntoLab, type Forward } from './helpers/ns-forward.js';
import { SETTINGS, hbAvailable } from './helpers/scenario.js';
import { artifactsDir, chromiumAvailable, launchChromium, type Browser } from '../helpers/browser.js';

const WEB_PORT = 9944;
const ready = isRoot() && hbAvailable() && chromiumAvailable();
if (!ready) console.log(`status page lab test skipped: ${!isRoot() ? 'needs root' : !chromiumAvailable() ? '/usr/bin/chromium missing (scripts/install-deps.sh)' : 'dist/ has no tandem-hb'}`);

const log = (line: string) => process.stdout.write(`[lab] ${line}\n`);

describe.skipIf(!ready)('status page in the lab: a failover watched in headless Chromium', () => {
  let lab: Lab | null = null;
  let browser: Browser | null = null;
  const forwards: Forward[] = [];
  const diskSize = process.env.TANDEM_LAB_DISK_SIZE;

  beforeAll(async () => {
    // a small disk: the resync runs long enough to be seen, not to be waited for
    process.env.TANDEM_LAB_DISK_SIZE = '96M';
    lab = await Lab.up();
  });

  afterAll(async () => {
    await browser?.close();
    for (const f of forwards) await f.close().catch(() => undefined);
    const r = lab ? await lab.down() : await Lab.down();
    if (r.code !== 0) log(`lab.sh down: exit ${r.code}: ${r.stderr}`);
    if (diskSize === undefined) delete process.env.TANDEM_LAB_DISK_SIZE; else process.env.TANDEM_LAB_DISK_SIZE = diskSize;
  });

  const configure = (n: LabNode) => {
    n.writeConfig({
      NODE1_DISK: lab!.node1.disk, NODE2_DISK: lab!.node2.disk, SYNC_RATE: '4M',
      DEADTIME: String(SETTINGS.deadtimeS), HB_SECRET: SETTINGS.hbSecret, VIP,
    });
    const ha = path.join(n.etcDir, 'ha.d');
    // the replicated disk and the VIP only: no filesystem to make, the page is what is watched
    fs.writeFileSync(path.join(ha, 'haresources'), `node1 IPaddr::${VIP}/24 tandemdisk::r0\n`);
    fs.appendFileSync(path.join(ha, 'ha.cf'), `tandem_web 0.0.0.0:${WEB_PORT}\n`);
  };

  it('shows the resync, then node2 taking over within a second of its status file, and node1 gone', async () => {
    const shots = artifactsDir('status-page-lab');
    const { node1, node2 } = lab!;
    for (const n of lab!.nodes) configure(n);
    for (const n of lab!.nodes) await n.admOk('create-md', 'r0');
    for (const n of lab!.nodes) n.startTandemd();
    for (const n of lab!.nodes) await n.waitTandemd();
    for (const n of lab!.nodes) await n.admOk('up', 'r0');
    await node1.waitState((s) => s.cs === 'Connected', 'node1 connected');
    await node1.admOk('primary', '--force', 'r0');
    for (const n of lab!.nodes) n.startHb();

    const f1 = await forwardIntoLab(NODE_ADDR.node1, WEB_PORT);
    forwards.push(f1);
    const f2 = await forwardIntoLab(NODE_ADDR.node2, WEB_PORT);
    forwards.push(f2);
    browser = await launchChromium();
    const page1 = browser.page;
    const page2 = await browser.context.newPage();
    const open = async (page: typeof page1, port: number, who: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await page.goto(`http://127.0.0.1:${port}/`).catch((e: Error) => e);
        if (!(r instanceof Error) && r?.ok()) return;
        if (Date.now() > deadline) throw new Error(`${who}'s status page did not answer: ${r instanceof Error ? r.message : r?.status()}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    };
    await open(page1, f1.port, 'node1');
    await open(page2, f2.port, 'node2');

    // 1. node1's page during the initial resync: SyncSource and a progress bar
    await page1.locator('[data-resource="r0"] [data-field="sync"]').waitFor({ timeout: 30_000 });
    await page1.locator('[data-resource="r0"] [data-field="cs"]', { hasText: 'cs:SyncSource' }).waitFor();
    await page1.screenshot({ path: path.join(shots, '1-node1-resync.png'), fullPage: true });
    // the upper part alone, the size of the README's picture (docs/status-page.png)
    await page1.screenshot({ path: path.join(shots, '1-node1-resync-top.png'), clip: { x: 0, y: 0, width: 1100, height: 640 } });
    expect(await page1.locator('[data-resource="r0"] [data-field="sync"]').count(), 'the resync was still running when the screenshots were taken').toBe(1);

    // 2. resync done, node1 holds the group: both pages agree
    await node1.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate' && s.role === 'Primary', 'node1 Primary UpToDate/UpToDate', 180_000);
    const group = `IPaddr::${VIP}/24`;
    await page2.locator(`[data-group="${group}"] [data-field="held-by"]`, { hasText: 'node1' }).waitFor({ timeout: 30_000 });
    await page2.locator('[data-resource="r0"] [data-field="peer-disk"]', { hasText: 'UpToDate' }).waitFor({ timeout: 10_000 });
    expect(await page2.locator('[data-resource="r0"] [data-field="role"]').textContent()).toBe('Secondary');
    await page2.screenshot({ path: path.join(shots, '2-node2-before.png'), fullPage: true });

    // 3. pull node1's cable: node2's status file and node2's page turn Primary
    const pulled = Date.now();
    await lab!.cable('node1', 'down');
    const fileSaw = (async () => {
      for (;;) {
        if (/ro:Primary\//.test(node2.readStatusFile())) return Date.now();
        if (Date.now() - pulled > 60_000) throw new Error(`node2's status file never showed ro:Primary: ${node2.readStatusFile()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const domSaw = page2.waitForFunction(() => document.querySelector('[data-resource="r0"] [data-field="role"]')?.textContent === 'Primary', null, { timeout: 60_000, polling: 10 }).then(() => Date.now());
    const [tFile, tDom] = await Promise.all([fileSaw, domSaw]);
    log(`node2 Primary: status file ${tFile - pulled} ms, page ${tDom - pulled} ms after the pull (page - file: ${tDom - tFile} ms)`);
    await page2.locator(`[data-group="${group}"] [data-field="held-by"]`, { hasText: 'node2' }).waitFor({ timeout: 30_000 });
    await page2.locator('[data-node="node1"] [data-field="node-state"]', { hasText: 'OFFLINE' }).waitFor({ timeout: 10_000 });
    await page2.screenshot({ path: path.join(shots, '3-node2-took-over.png'), fullPage: true });
    expect(Math.abs(tDom - tFile), `the page showed Primary ${tDom - tFile} ms after the status file`).toBeLessThanOrEqual(1000);

    // 4. node1's page, cut off with its node: it says the connection is lost (no stale "live")
    await page1.locator('#live[data-live="lost"]').waitFor({ timeout: 30_000 });
    await page1.screenshot({ path: path.join(shots, '4-node1-unreachable.png'), fullPage: true });
    expect(await page2.locator('table.events').textContent()).toContain('Node node1 is lost.');
    log(`screenshots in ${shots}; daemon logs in ${LOG_DIR}`);
  });
});
