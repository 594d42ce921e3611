// `npm run demo:pacemaker`: issue 16's story told to a person. Tandem under Pacemaker + Corosync in
// the namespace lab: ocf:tandem:tandem as a promotable clone with ext4, the VIP and the web server,
// configured with the README's pcs commands; a pulled cable, the plug-back resync, and a split
// replication link where the fence constraint keeps the stale node from being promoted. Shares the
// e2e test's steps (test/e2e/helpers/pacemaker.ts), prints the commands, crm_mon and the figures,
// always tears the lab down, and exits non-zero if a step fails. Needs root.
import { Lab, LOG_DIR, isRoot } from '../test/e2e/helpers/lab.js';
import { PacemakerStory, TOKEN_MS, pacemakerMissing } from '../test/e2e/helpers/pacemaker.js';
import type { Narrator } from '../test/e2e/helpers/scenario.js';

const tty = process.stdout.isTTY;
const c = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const out = (s: string) => process.stdout.write(s + '\n');

const narrator: Narrator = {
  step: (n, title) => out(`\n${c('1;36', `━━ Step ${n}: ${title}`)}`),
  say: (text) => out(`   ${text}`),
  cmd: (host, command) => out(`   ${c('33', `${host}#`)} ${c('1', command)}`),
  show: (label, text) => {
    out(`   ${c('2', `┌─ ${label}`)}`);
    for (const line of text.trimEnd().split('\n')) out(`   ${c('2', '│')} ${line}`);
    out(`   ${c('2', '└─')}`);
  },
};

async function main(): Promise<number> {
  if (!isRoot()) {
    out('npm run demo:pacemaker needs root: it builds network namespaces, loop devices and mounts.');
    return 2;
  }
  const missing = pacemakerMissing();
  if (missing) {
    out(`npm run demo:pacemaker: ${missing}`);
    return 2;
  }
  out(c('1', 'Tandem under Pacemaker + Corosync: a promotable clone, a pulled cable, a split replication link'));
  const lab = await Lab.up();
  const story = new PacemakerStory(lab, narrator);
  const say = narrator.say;
  try {
    await story.prepareDisk();
    const onlineMs = await story.startCluster();
    say(`both nodes online after ${(onlineMs / 1000).toFixed(1)} s`);
    const { promoted } = await story.configure();
    say(`Pacemaker promoted ${promoted}; the client gets the page from it`);

    narrator.step(4, `Write a file on ${story.primary} before anything fails`);
    const sum = await story.writeData('before-pull.bin');
    say(`/cluster/data/before-pull.bin sha256 ${sum.slice(0, 16)}…`);

    const old = story.primary;
    const t = await story.pullCable();
    const s = (ms: number | null): string => (ms === null ? '?' : (ms / 1000).toFixed(2));
    say(`${t.survivor} is Primary ${s(t.takeoverMs)} s after the pull, Pacemaker's promote returned at ${s(t.promotedMs)} s (corosync token ${TOKEN_MS / 1000} s); ` +
      `it serves the page at ${s(t.pageMs)} s; longest time without a page: ${s(t.outageMs)} s`);
    say(`fence constraint in ${t.survivor}'s CIB: promotion only on ${t.constraintOnSurvivor}`);
    const same = (await story.checksum(t.survivor, 'before-pull.bin')) === sum;
    say(`before-pull.bin on ${t.survivor}: ${same ? 'identical, nothing lost' : c('31', 'DIFFERENT')}`);
    if (!same) throw new Error('the file written before the pull differs on the new Primary');
    const iso = await story.isolatedSide(old);
    say(`${old}, cut off: ${iso.role}, /cluster/data ${iso.mounted ? 'still mounted' : 'unmounted'}, no constraint placed in its partition (${iso.constraint ?? 'none'})`);

    const back = await story.plugBack(old);
    say(`${old} ${back.sawSyncTarget ? 'resynced as SyncTarget' : 'reconnected'}; both UpToDate; crm-unfence-peer removed the constraint`);

    const sb = await story.splitBrain();
    say(`while ${sb.stale} was cut off from replication and the Primary's node in standby, nothing was promoted (${sb.promotedDuringStandby.length === 0 ? 'as the constraint demands' : c('31', `promoted: ${sb.promotedDuringStandby.join(', ')}`)}), though ${sb.stale} scored itself ${sb.staleScore}`);
    say(`after the standby ${sb.promotedAfter} is Promoted with every file: ${(await story.checksum(sb.promotedAfter, 'after-split.bin')) === story.dataFiles.get('after-split.bin') ? 'identical' : c('31', 'DIFFERENT')}`);
    out(c('1;32', '\nAll steps passed.'));
    return 0;
  } catch (err) {
    out(c('1;31', `\nFAILED — ${(err as Error).message}`));
    out(`logs (tandemd, pacemaker, corosync): ${LOG_DIR}`);
    return 1;
  } finally {
    story.saveLogs();
    out('\nStopping the cluster and tearing the lab down…');
    await story.stopCluster().catch(() => undefined);
    await lab.down();
  }
}

main().then(
  (code) => process.exit(code),
  async (err: Error) => {
    out(`demo: ${err.message}`);
    await Lab.down();
    process.exit(1);
  },
);
