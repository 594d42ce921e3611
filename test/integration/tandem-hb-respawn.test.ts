// ha.cf's `respawn USER COMMAND` on real tandem-hb processes, as heartbeat runs its clients: a
// client that exits is started again (a short run after 1 s), one that exits with 100 is not, a
// client runs as USER (when tandem-hb runs as root), `respawn … ipfail` is left to the built-in
// rule, and at stop every client ends with its whole process group.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { HbPair, waitFor } from '../helpers/hb-pair.js';

let pair: HbPair | null = null;
afterEach(async () => {
  await pair?.cleanup();
  pair = null;
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const uidOf = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const asRoot = process.getuid?.() === 0;

describe('tandem-hb respawn', () => {
  it('restarts a client that exits, leaves one that exits 100, runs as USER, and ends every client and its children at stop', async () => {
    pair = new HbPair({});
    const d = pair.dir;
    // the clients may run as nobody: they need to reach their scripts and write their records
    fs.chmodSync(d, 0o755);
    const rec = path.join(d, 'records');
    fs.mkdirSync(rec, { mode: 0o777 });
    fs.chmodSync(rec, 0o777);
    const script = (name: string, body: string) => {
      const f = path.join(d, name);
      fs.writeFileSync(f, `#!/bin/sh\necho $$ >> "${path.join(rec, `${name}.starts`)}"\n${body}\n`, { mode: 0o755 });
      return f;
    };
    const crashes = script('crashes', 'exit 1');
    const done = script('done', 'exit 100');
    // a client with a child of its own: both must end at stop (the process group is signalled)
    const stays = script('stays', `sleep 600 &\necho $! >> "${path.join(rec, 'stays.kids')}"\nwait`);
    const user = asRoot ? 'nobody' : os_user();
    (pair.opts as { haCf?: string }).haCf = [
      `respawn root ${crashes}`, `respawn root ${done} --flag`, `respawn ${user} ${stays}`, 'respawn hacluster /usr/lib/heartbeat/ipfail',
    ].join('\n');
    await pair.setup();
    await pair.startBoth();
    const lines = (name: string) => (fs.existsSync(path.join(rec, name)) ? fs.readFileSync(path.join(rec, name), 'utf8').trim().split('\n').map(Number) : []);
    // both nodes run the clients (one ha.cf): each start appends a pid
    await waitFor(() => lines('crashes.starts').length >= 6, 15_000, 'the crashing client to be started again');
    await waitFor(() => lines('stays.starts').length >= 2 && lines('stays.kids').length >= 2, 10_000, 'the long-running client on both nodes');
    expect(lines('done.starts')).toHaveLength(2); // once per node, never again
    const sleepers = [...lines('stays.starts'), ...lines('stays.kids')];
    expect(sleepers.every(alive)).toBe(true);
    expect(uidOf(lines('stays.starts')[0]!)).toBe(asRoot ? 65534 : process.getuid!());
    const log1 = pair.nodes.node1.log();
    expect(log1).toContain(`Client ${done} --flag exited with return code 100.`);
    expect(log1).toContain(`Client ${crashes} exited with return code 1.`);
    expect(log1).toContain(`Respawning client \\"${crashes}\\":`);
    expect(log1).toMatch(new RegExp(`Starting \\\\"${stays}\\\\" as uid ${asRoot ? 65534 : process.getuid!()}  gid \\d+ \\(pid \\d+\\)`));
    expect(log1).toContain("not running /usr/lib/heartbeat/ipfail: ipfail's rule is built into tandem-hb");
    for (const n of Object.values(pair.nodes)) expect((await n.cli('stop', '--timeout', '30')).code).toBe(0);
    await waitFor(() => sleepers.every((p) => !alive(p)), 10_000, 'the clients and their children to end with tandem-hb');
    expect(pair.nodes.node1.log()).toContain(`killing ${stays} process group`);
  });
});

function os_user(): string {
  return fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => Number(f[2]) === process.getuid!())?.[0] ?? 'root';
}
