// pause-sync / resume-sync as DRBD 8.4 does them: the flag of the node that paused (user_isp, `u`
// in /proc/drbd) reaches the peer (peer_isp, `p`), both ends show PausedSync{S,T} and no resync
// data moves until the pausing node resumes; a second pause or an unpaired resume is refused.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { Pair, disksEqual, holdsFor } from '../helpers/two-nodes.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const MiB = 1024 * 1024;

async function syncingPair(): Promise<Pair> {
  // 24 MiB at 4 MiB/s: a resync that runs long enough to pause it mid-way
  pair = await Pair.create({ sizeMiB: 24, rate: '4M' });
  await pair.createMd();
  await pair.startBoth();
  await pair.upBoth();
  await pair.node1.admOk('wait-connect', 'r0', '--timeout', '30');
  await pair.node1.admOk('primary', '--force', 'r0');
  await pair.node2.waitState((s) => s.cs === 'SyncTarget' && s.counters.nr > 0, 'resync running');
  return pair;
}

describe('pause-sync', () => {
  for (const where of ['SyncSource', 'SyncTarget'] as const) {
    it(`on the ${where}: both ends pause, no resync data moves, and resume-sync finishes it`, async () => {
      const p = await syncingPair();
      const [pauser, other] = where === 'SyncSource' ? [p.node1, p.node2] : [p.node2, p.node1];
      await pauser.admOk('pause-sync', 'r0');
      await p.node1.waitState((s) => s.cs === 'PausedSyncS', 'node1 PausedSyncS');
      await p.node2.waitState((s) => s.cs === 'PausedSyncT', 'node2 PausedSyncT');
      // the flags: `u` where it was paused, `p` on the peer
      await pauser.waitState(() => fs.readFileSync(pauser.statusFile, 'utf8').includes(' C r--u--\n'), 'u flag');
      await other.waitState(() => fs.readFileSync(other.statusFile, 'utf8').includes(' C r-p---\n'), 'p flag');
      // requests already on the wire may still land; after that nothing moves
      let nr = -1;
      await p.node2.waitState(async (s) => {
        const same = s.counters.nr === nr;
        nr = s.counters.nr;
        return same;
      }, 'in-flight resync data drained');
      await holdsFor(async () => (await p.node2.status()).counters.nr === nr, 1500, 'no resync data while paused');
      // only the node that paused can resume; the other is told why it cannot
      const refused = await other.adm('resume-sync', 'r0');
      expect(refused.code).toBe(10);
      expect(refused.stderr).toMatch(/0: Failure: \(135\) Sync-pause flag is already cleared\nNote: Resync pause caused by the peer node\./);
      const twice = await pauser.adm('pause-sync', 'r0');
      expect(twice.code).toBe(10);
      expect(twice.stderr).toContain('0: Failure: (134) Sync-pause flag is already set');
      await pauser.admOk('resume-sync', 'r0');
      await p.node2.waitState((s) => s.cs === 'SyncTarget' || s.cs === 'Connected', 'resumed');
      await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'resync finished', 60_000);
      expect(disksEqual(p.node1, p.node2, 0, 24 * MiB - 64 * 1024)).toBe(true);
    });
  }
});
