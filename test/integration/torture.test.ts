// The acknowledged-write checker in CI: a short run on the loopback pair must lose nothing, and the
// same checker run against a deliberately broken build (protocol C completing writes before the
// peer's ack) must report losses: proof that it can fail.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../../scripts/torture/args.js';
import { makeBrokenCopy, runTortureIn } from '../../scripts/torture/broken-build.js';
import { runTorture } from '../../scripts/torture/run.js';
import { computeLayout } from '../../src/storage/metadata-layout.js';
import { BLOCK, openNbd, pattern, writeBlocks } from '../helpers/blocks.js';
import { Pair } from '../helpers/two-nodes.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('torture: no acknowledged write lost', () => {
  it('4 rounds, seed 1, on the loopback pair: kill -9 of the Primary, a hang of either node, a whole-cluster crash', async () => {
    const parsed = parseArgs(['--rounds', '4', '--seed', '1'], () => 0);
    if (parsed.ok !== true) throw new Error('bad arguments');
    const lines: string[] = [];
    const { summary } = await runTorture(parsed.options, (l) => lines.push(l));
    const why = `${lines.join('\n')}\n${JSON.stringify(summary.notes)}`;
    expect(summary.rounds, why).toBe(4);
    expect(summary.faultsInjected, why).toEqual({ 'crash-both': 1, 'hang-secondary': 1, 'kill-primary': 1, 'hang-primary': 1 });
    expect(summary.errors, why).toBe(0);
    expect(summary.ackedWrites).toBeGreaterThan(1000);
    expect(summary.checked).toBeGreaterThan(summary.ackedWrites / 2);
    expect(summary.lost, why).toBe(0);
    expect(summary.anomalies, why).toBe(0);
    expect(summary.disksDiffer, why).toBe(0);
    expect(summary.ok).toBe(true);
  }, 120_000);
});

describe('torture: the checker can fail', () => {
  // Not a flaky race: while the Secondary hangs, the broken Primary keeps acknowledging writes the
  // Secondary never saw; both then crash and the Secondary is promoted.
  it('reports lost > 0 for a build whose protocol C does not wait for the peer (kill after acks)', async () => {
    const copy = makeBrokenCopy(REPO);
    try {
      const run = await runTortureIn(copy.dir, ['--rounds', '2', '--seed', '7', '--faults', 'crash-both'], 180_000);
      const why = run.stderr.slice(-6000);
      expect(run.summary, why).not.toBeNull();
      expect(run.summary!.errors, why).toBe(0);
      expect(run.summary!.lost, why).toBeGreaterThan(0);
      expect(run.summary!.ok).toBe(false);
      expect(run.code).toBe(1);
      expect(run.summary!.results.flatMap((r) => r.lostExamples)[0]).toMatch(/^block \d+: acknowledged v\d+, read /);
    } finally {
      copy.remove();
    }
  }, 200_000);
});

describe('torture: a disk fault on a degraded Primary', () => {
  let pair: Pair | null = null;
  afterEach(async () => {
    await pair?.destroy();
    pair = null;
  });

  // First seen in a torture run: the Primary, alone (its peer down), loses its disk to an I/O
  // error on the metadata and goes Diskless; the peer, which missed the latest writes, comes back.
  // Like DRBD (receive_uuids: "Can only connect to data with current UUID=…", the exposed data
  // UUID) the Diskless Primary refuses it, so acknowledged writes never read back older.
  it('a Diskless Primary never serves a reconnecting peer\'s older data', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 16, env: { TANDEM_TEST_FAULTS: '1' } }));
    await p.initialSync();
    await writeBlocks(p.node1, [1, 2, 3], 'v1');
    await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'v1 on both');
    await p.node2.admOk('down', 'r0');
    await p.node1.waitState((s) => s.cs === 'WFConnection', 'node1 alone');
    await writeBlocks(p.node1, [1, 2, 3], 'v2'); // acknowledged; only node1 has it
    const layout = computeLayout({ kind: 'internal' }, { dataSize: fs.statSync(p.node1.disk).size });
    const metaStart = layout.bitmapOffset;
    await p.node1.admOk('inject-fault', 'r0', '--offset', String(metaStart), '--length', String(layout.superblockOffset + 4096 - metaStart), '--op', 'write');
    const c = await openNbd(p.node1);
    // writes in fresh extents need activity-log writes, which now fail: node1 detaches its disk
    for (let e = 0; e < 4; e++) await c.write(e * 4 * 1024 * 1024 + 8192, pattern('x', e)).catch(() => undefined);
    await c.close().catch(() => c.destroy());
    await p.node1.waitState((s) => s.disk === 'Diskless', 'node1 Diskless');
    await p.node2.admOk('up', 'r0');
    await p.node1.waitState((s) => s.cs === 'StandAlone', 'node1 refused the stale peer', 15_000);
    expect(p.node1.logs).toMatch(/Can only connect to data with current UUID=[0-9A-F]{16}/);
    const r = await openNbd(p.node1);
    try {
      for (const b of [1, 2, 3]) {
        const got = await r.read(b * BLOCK, BLOCK).catch(() => null);
        expect(got?.equals(pattern('v1', b)) ?? false, `block ${b}: acknowledged v2 read back as v1`).toBe(false);
      }
    } finally {
      await r.close().catch(() => r.destroy());
    }
  }, 60_000);
});
