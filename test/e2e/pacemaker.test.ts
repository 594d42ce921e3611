// Issue 16's story with two real Pacemaker 2.1 + Corosync 3.1 nodes in the namespace lab: Tandem as a
// promotable clone of ocf:tandem:tandem, Filesystem (ext4 on /dev/tandem0), IPaddr2 and the lab's
// web server, configured with the pcs commands from the README. Pull the Primary's cable: the
// other node is promoted and serves the page with every file written before; plug it back: it
// resyncs as SyncTarget; a replication-link split: the fence constraint keeps the stale node from
// being promoted. Root only; run under `flock -o /tmp/tandem-lab.lock` (npm run test:e2e does).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, isRoot } from './helpers/lab.js';
import { PacemakerStory, TOKEN_MS, pacemakerMissing } from './helpers/pacemaker.js';

const why = !isRoot() ? 'needs root (network namespaces, loop devices, mounts)' : pacemakerMissing();
if (why) console.log(`skipping the Pacemaker e2e test: ${why}`);

describe.skipIf(why !== null)('Tandem under Pacemaker + Corosync (ocf:tandem:tandem)', () => {
  let lab: Lab;
  let story: PacemakerStory;
  const figures: string[] = [];

  beforeAll(async () => {
    lab = await Lab.up();
    story = new PacemakerStory(lab);
  }, 120_000);

  afterAll(async () => {
    if (!story) return;
    story.saveLogs();
    await story.stopCluster().catch(() => undefined);
    await lab.down();
    if (figures.length) console.log(figures.join('\n'));
  }, 240_000);

  it('runs the story: promote, cable pull, plug back, split brain', async () => {
    await story.prepareDisk();
    const onlineMs = await story.startCluster();
    figures.push(`both nodes online ${(onlineMs / 1000).toFixed(1)} s after corosync started (shared machine)`);

    const { promoted, page } = await story.configure();
    expect(page.body?.trim()).toBe('It is my cluster !');
    expect((await story.roles(promoted === 'node1' ? 'node2' : 'node1')).unpromoted.length).toBe(1);

    // the README's pcs and crm blocks configure the same cluster (run on node1 against empty CIB files)
    const readme = await story.readmeConfigurations();
    expect(readme.crm).toEqual(readme.pcs);
    expect(readme.pcs).toContain('primitive tandem_r0 ocf:tandem:tandem resource=r0 | monitor 20s Promoted, monitor 30s Unpromoted');

    const before = await story.writeData('before-pull.bin');
    const old = story.primary;
    const t = await story.pullCable();
    const s = (ms: number | null): string => (ms === null ? '?' : (ms / 1000).toFixed(2));
    figures.push(`takeover after the cable pull: ${t.survivor} Primary ${s(t.takeoverMs)} s, promote done ${s(t.promotedMs)} s (goal: token ${TOKEN_MS / 1000} s + 3 s); ` +
      `the client got the page back after ${s(t.pageMs)} s, longest outage it saw ${s(t.outageMs)} s`);
    expect(t.survivor).not.toBe(old);
    // nothing lost: the file written before the pull is on the new Primary, byte for byte
    expect(await story.checksum(t.survivor, 'before-pull.bin')).toBe(before);
    // the survivor was promoted without its peer: its fence-peer handler kept promotion on it
    expect(t.constraintOnSurvivor).toBe(t.survivor);

    // the cut-off node stepped down in its own partition and placed no constraint there
    const iso = await story.isolatedSide(old);
    expect(iso.role).toBe('Secondary');
    expect(iso.mounted).toBe(false);
    expect(iso.constraint).toBeNull();

    const back = await story.plugBack(old);
    expect(back.sawSyncTarget).toBe(true);
    expect(back.b.role).toBe('Secondary');
    const roles = await story.roles(t.survivor);
    expect(roles).toMatchObject({ promoted: [t.survivor], unpromoted: [old] });
    // crm_mon's text, as a user reads it (an instance being monitored is listed on its own line)
    expect(back.crmMon).toMatch(new RegExp(`Promoted(: \\[ | )${t.survivor}`));
    expect(back.crmMon).toMatch(new RegExp(`Unpromoted(: \\[ | )${old}`));
    expect(await story.checksum(t.survivor, 'before-pull.bin')).toBe(before);

    const sb = await story.splitBrain();
    expect(sb.constraint).not.toBeNull();
    expect(sb.constraint).not.toBe(sb.stale);
    // the stale node scores itself as UpToDate: only the constraint keeps it from promotion
    expect(Number(sb.staleScore)).toBeGreaterThan(0);
    expect(sb.promotedDuringStandby).toEqual([]);
    expect(sb.staleRole).toBe('Secondary');
    expect([sb.a.disk, sb.a.peerDisk, sb.b.disk, sb.b.peerDisk]).toEqual(['UpToDate', 'UpToDate', 'UpToDate', 'UpToDate']);
    // whichever node Pacemaker promoted afterwards has everything written before and after the split
    expect(await story.checksum(sb.promotedAfter, 'after-split.bin')).toBe(story.dataFiles.get('after-split.bin'));
    expect(await story.checksum(sb.promotedAfter, 'before-pull.bin')).toBe(before);
  }, 420_000);
});
