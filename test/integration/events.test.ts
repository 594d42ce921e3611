// `tandemadm events` on real processes: the exists lines, then every change as it happens,
// including states that last only a moment (SyncSource of a small resync); `--now` exits.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Pair, REPO, waitFor } from '../helpers/two-nodes.js';

let pair: Pair | null = null;
let follower: ChildProcess | null = null;
afterEach(async () => {
  follower?.kill('SIGTERM');
  follower = null;
  await pair?.destroy();
  pair = null;
});

describe('tandemadm events', () => {
  it('streams exists then change lines through promotion, resync and the peer leaving', async () => {
    pair = await Pair.create({ sizeMiB: 8 });
    const { node1, node2 } = pair;
    await pair.createMd();
    await pair.startBoth();
    const now = await node1.admOk('events', '--now');
    expect(now).toBe([
      'exists resource name:r0 role:Secondary suspended:no',
      'exists connection name:r0 conn-name:node2 connection:StandAlone role:Unknown',
      'exists device name:r0 volume:0 minor:0 disk:Diskless',
      'exists peer-device name:r0 conn-name:node2 volume:0 replication:Off peer-disk:DUnknown resync-suspended:no',
      'exists -',
      '',
    ].join('\n'));

    let out = '';
    follower = spawn(process.execPath, [path.join(REPO, 'bin/tandemadm.js'), '--config', node1.config, '--node', 'node1', '--run-dir', node1.runDir, 'events', 'r0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    follower.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('exists -\n'), 10_000, 'the exists lines');
    await pair.upBoth();
    await node1.admOk('wait-connect', 'r0', '--timeout', '30');
    await node1.admOk('primary', '--force', 'r0');
    await node1.admOk('wait-sync', 'r0', '--timeout', '60');
    await waitFor(() => out.includes('peer-disk:UpToDate'), 10_000, 'the resync to finish in the events');
    await node2.stop();
    await waitFor(() => /change connection name:r0 conn-name:node2 connection:(Connecting|TearDown)/.test(out.split('peer-disk:UpToDate')[1] ?? ''), 15_000, 'the peer leaving');
    const lines = out.trim().split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/^change device name:r0 volume:0 minor:0 disk:Inconsistent$/)).toBeGreaterThan(at(/^exists -$/));
    expect(at(/^change connection name:r0 conn-name:node2 connection:Connected role:Secondary$/)).toBeGreaterThan(0);
    expect(at(/^change resource name:r0 role:Primary$/)).toBeGreaterThan(0);
    expect(at(/replication:SyncSource/)).toBeGreaterThan(at(/^change resource name:r0 role:Primary$/) - 1);
    expect(at(/replication:Established peer-disk:UpToDate|peer-disk:UpToDate/)).toBeGreaterThan(at(/replication:SyncSource/));
    for (const l of lines.slice(at(/^exists -$/) + 1)) expect(l).toMatch(/^change (resource|connection|device|peer-device) name:r0 /);
  });

  it('says tandemd is not running when there is no events socket', async () => {
    pair = await Pair.create({ sizeMiB: 8 });
    const r = await pair.node1.adm('events', '--now');
    expect(r.code).toBe(20);
    expect(r.stderr).toMatch(/tandemd is not running \(no events socket at .*events\.sock\)/);
  });
});
