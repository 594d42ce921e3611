// ha.cf's `respawn USER COMMAND` on real tandem-hb processes: a client that exits is started
// again, one that exits with 100 is not, and all of them end when tandem-hb stops.
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

describe('tandem-hb respawn', () => {
  it('restarts a client that exits, leaves one that exits 100, and ends the rest at stop', async () => {
    pair = new HbPair({});
    const d = pair.dir;
    const script = (name: string, body: string) => {
      const f = path.join(d, name);
      fs.writeFileSync(f, `#!/bin/sh\necho $$ >> "${path.join(d, `${name}.starts`)}"\n${body}\n`, { mode: 0o755 });
      return f;
    };
    const crashes = script('crashes', 'exit 1');
    const done = script('done', 'exit 100');
    const stays = script('stays', 'exec sleep 600');
    (pair.opts as { haCf?: string }).haCf = [`respawn root ${crashes}`, `respawn root ${done}`, `respawn root ${stays}`].join('\n');
    await pair.setup();
    await pair.startBoth();
    const starts = (name: string) => (fs.existsSync(path.join(d, `${name}.starts`)) ? fs.readFileSync(path.join(d, `${name}.starts`), 'utf8').trim().split('\n') : []);
    // both nodes run the clients (one ha.cf): each start appends a pid
    await waitFor(() => starts('crashes').length >= 4, 15_000, 'the crashing client to be started again');
    await waitFor(() => starts('stays').length >= 2, 10_000, 'the long-running client on both nodes');
    expect(starts('done').length).toBe(2); // once per node, never again
    const sleepers = starts('stays').map(Number);
    expect(sleepers.every(alive)).toBe(true);
    for (const n of Object.values(pair.nodes)) expect((await n.cli('stop', '--timeout', '30')).code).toBe(0);
    await waitFor(() => sleepers.every((p) => !alive(p)), 10_000, 'the respawned clients to end with tandem-hb');
    expect(fs.readFileSync(pair.nodes.node1.logFile, 'utf8')).toMatch(/exited with status 100: not respawning it/);
  });
});
