// The acknowledged-write checker with its writes through the Primary's kernel block device
// (O_DIRECT on the loop device over tandemd's FUSE file), then kill -9 of the Primary (and of both
// nodes): nothing acknowledged may be lost; and a build whose protocol C completes writes before
// the peer's ack must be caught through the device too. Root only (loop devices, FUSE).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../scripts/torture/args.js';
import { makeBrokenCopy, runTortureIn } from '../../scripts/torture/broken-build.js';
import { runTorture } from '../../scripts/torture/run.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('torture through /dev/tandem0 (root)', () => {
  it('O_DIRECT writes through the kernel device, kill -9 of the Primary and of both nodes: nothing acknowledged lost, disks identical', async () => {
    const parsed = parseArgs(['--rounds', '3', '--seed', '3', '--faults', 'device-kill-primary,device-crash-both'], () => 0);
    if (parsed.ok !== true) throw new Error('bad arguments');
    const lines: string[] = [];
    const { summary } = await runTorture(parsed.options, (l) => lines.push(l));
    const why = `${lines.join('\n')}\n${JSON.stringify(summary.notes)}`;
    expect(summary.rounds, why).toBe(3);
    expect(Object.keys(summary.faultsInjected).sort(), why).toEqual(['device-crash-both', 'device-kill-primary']);
    expect(summary.errors, why).toBe(0);
    expect(summary.ackedWrites, why).toBeGreaterThan(500);
    expect(summary.lost, why).toBe(0);
    expect(summary.disksDiffer, why).toBe(0);
    expect(summary.ok, why).toBe(true);
    expect(lines.some((l) => l.includes("kernel device, kill -9 of")), why).toBe(true);
  }, 300_000);

  it('a build that completes protocol C writes before the peer acknowledged them loses writes through the device, and the checker says so', async () => {
    const copy = makeBrokenCopy(REPO);
    try {
      const run = await runTortureIn(copy.dir, ['--rounds', '2', '--seed', '7', '--faults', 'device-crash-both'], 240_000);
      const why = run.stderr.slice(-6000);
      expect(run.summary, why).not.toBeNull();
      expect(run.summary!.errors, why).toBe(0);
      expect(run.summary!.lost, why).toBeGreaterThan(0);
      expect(run.code).toBe(1);
    } finally {
      copy.remove();
    }
  }, 300_000);
});
