// `fencing resource-only` (reference §2.3, §6.2): a Primary that loses its peer, and a node that wants
// to become Primary without knowing its peer, run the fence-peer handler. The handler here does what
// a real one does over ssh or the cluster manager: `tandemadm outdate` against the peer's tandemd,
// exiting 4 (peer outdated) on success and 5 (peer unreachable) when that daemon is not running.
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pair, waitFor } from '../helpers/two-nodes.js';
import { BLOCK, openNbd, pattern, writeBlocks } from '../helpers/blocks.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const FENCE_PEER = `
if [ "$TANDEM_NODE" = node1 ]; then PEER=node2; PEER_RUN="$RUN2"; else PEER=node1; PEER_RUN="$RUN1"; fi
$TANDEMADM --config "$CONF" --node $PEER --run-dir "$PEER_RUN" outdate r0
case $? in
  0) exit 4 ;;
  20) exit 5 ;;
  *) exit 1 ;;
esac
`;

describe('fencing resource-only', () => {
  it('a Primary that loses its peer outdates it through fence-peer; Outdated refuses Primary and persists', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 16, disk: 'fencing resource-only;', handlers: { 'fence-peer': FENCE_PEER } }));
    await p.initialSync();
    const { node1, node2 } = p;
    const refused = await node2.adm('outdate', 'r0');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('Refusing to be Outdated while Connected');

    await node2.admOk('disconnect', 'r0');
    await node2.waitState((s) => s.disk === 'Outdated' && s.cs === 'StandAlone', 'node2 outdated by the fence-peer handler');
    await node1.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'Outdated' && s.role === 'Primary', 'node1 knows its peer is Outdated');
    const call = node1.handlerCalls().find((c) => c.handler === 'fence-peer');
    expect(call?.env.DRBD_RESOURCE).toBe('r0');
    expect(call?.env.DRBD_PEER).toBe('node2');
    expect(node1.logs).toMatch(/fence-peer helper returned 4 \(peer was fenced\)/);
    await waitFor(() => /ds:UpToDate\/Outdated/.test(fs.readFileSync(node1.statusFile, 'utf8')), 5000, 'node1 status file');
    await waitFor(() => /ds:Outdated\/DUnknown/.test(fs.readFileSync(node2.statusFile, 'utf8')), 5000, 'node2 status file');

    // Outdated data may not become Primary, unless forced
    const r = await node2.adm('primary', 'r0');
    expect(r.code).toBe(17);
    expect(r.stderr).toContain('Need access to UpToDate data');
    await writeBlocks(node1, [7, 8], 'while-fenced');

    // both states survive a restart (was-up-to-date off on node2, peer-outdated on node1)
    await node2.stop();
    await node2.start();
    await node2.admOk('attach', 'r0');
    expect((await node2.admOk('dstate', 'r0')).trim()).toBe('Outdated/DUnknown');
    expect((await node2.adm('primary', 'r0')).code).toBe(17);
    await node1.stop();
    await node1.start();
    await node1.admOk('attach', 'r0');
    expect((await node1.admOk('dstate', 'r0')).trim()).toBe('UpToDate/Outdated');
    // a known-outdated peer needs no fencing: promotion goes ahead without the handler
    const calls = node1.handlerCalls().length;
    await node1.admOk('primary', 'r0');
    expect(node1.handlerCalls().length).toBe(calls);

    // reconnecting brings the outdated node up to date
    await node1.admOk('connect', 'r0');
    await node2.admOk('connect', 'r0');
    await node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'node2 resynced');
    await node1.waitState((s) => s.peerDisk === 'UpToDate', 'node1 sees node2 UpToDate');
  });

  it('an Outdated node becomes Primary with --force (its data is declared good)', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 16, disk: 'fencing resource-only;', handlers: { 'fence-peer': FENCE_PEER } }));
    await p.initialSync();
    await p.node2.admOk('disconnect', 'r0');
    await p.node2.waitState((s) => s.disk === 'Outdated', 'node2 outdated');
    expect((await p.node2.adm('primary', 'r0')).code).toBe(17);
    await p.node2.admOk('primary', '--force', 'r0');
    expect((await p.node2.admOk('role', 'r0')).trim()).toBe('Primary/Unknown');
    expect((await p.node2.admOk('dstate', 'r0')).trim()).toBe('UpToDate/DUnknown');
  });

  it('promoting with an unknown peer runs fence-peer; an unreachable peer counts as fenced for UpToDate data', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 16, disk: 'fencing resource-only;', handlers: { 'fence-peer': FENCE_PEER } }));
    await p.initialSync();
    const { node1, node2 } = p;
    await node1.admOk('secondary', 'r0');
    await node1.stop();
    await node2.waitState((s) => s.cs === 'WFConnection' && s.peerDisk === 'DUnknown', 'node2 lost its peer');
    await node2.admOk('primary', 'r0');
    expect(node2.logs).toMatch(/fence-peer helper returned 5 \(peer is unreachable, assumed to be dead\)/);
    expect((await node2.admOk('dstate', 'r0')).trim()).toBe('UpToDate/Outdated');
  });

  it('a hanging fence-peer handler is killed after the timeout and the promotion is refused', async () => {
    const p = (pair = await Pair.create({
      sizeMiB: 16,
      disk: 'fencing resource-only;',
      handlers: { 'fence-peer': 'sleep 30; exit 4' },
      env: { TANDEM_HANDLER_TIMEOUT_MS: '800' },
    }));
    await p.initialSync();
    const { node1, node2 } = p;
    await node1.admOk('secondary', 'r0');
    await node1.stop();
    await node2.waitState((s) => s.cs === 'WFConnection', 'node2 lost its peer');
    const started = Date.now();
    const r = await node2.adm('primary', 'r0');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('Refusing to be Primary while peer is not outdated');
    expect(node2.logs).toMatch(/helper command: fence-peer did not finish within 800 ms; killed it/);
    expect(node2.logs).toMatch(/fence-peer helper broken/);
  });
});

describe('fencing resource-and-stonith: IO is suspended while the peer is fenced', () => {
  /** One write through node1's NBD export that the test can watch settle. */
  function watchedWrite(p: Pair, block: number, tag: string): { done: Promise<void>; settled: () => boolean } {
    let settled = false;
    const done = writeBlocks(p.node1, [block], tag).finally(() => {
      settled = true;
    });
    return { done, settled: () => settled };
  }

  async function readBack(p: Pair, block: number): Promise<Buffer> {
    const c = await openNbd(p.node1);
    try {
      return await c.read(block * BLOCK, BLOCK);
    } finally {
      await c.close();
    }
  }

  it('a write waits for the fence-peer handler and completes once it reports the peer stonithed', async () => {
    const gateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fence-gate-'));
    const gate = path.join(gateDir, 'go');
    try {
      // the handler stands for a slow STONITH: it returns 7 once the test opens the gate
      const p = (pair = await Pair.create({
        sizeMiB: 16,
        disk: 'fencing resource-and-stonith;',
        handlers: { 'fence-peer': `while [ ! -e ${gate} ]; do sleep 0.05; done\nexit 7` },
      }));
      await p.initialSync();
      await p.node2.admOk('disconnect', 'r0');
      await waitFor(() => /ds:UpToDate\/DUnknown C s/.test(fs.readFileSync(p.node1.statusFile, 'utf8')), 10_000, 'node1 IO suspended (s flag)');
      const w = watchedWrite(p, 3, 'frozen');
      await p.node1.waitState((s) => s.counters.ap >= 1, 'the write held by the freeze (ap)');
      expect(w.settled()).toBe(false);
      fs.writeFileSync(gate, '');
      await w.done;
      expect(p.node1.logs).toMatch(/fence-peer helper returned 7 \(peer was stonithed\)/);
      expect(p.node1.logs).toMatch(/IO resumed/);
      await waitFor(() => /ds:UpToDate\/Outdated C r/.test(fs.readFileSync(p.node1.statusFile, 'utf8')), 5000, 'node1 IO running, peer Outdated');
      expect((await readBack(p, 3)).equals(pattern('frozen', 3))).toBe(true);
    } finally {
      fs.rmSync(gateDir, { recursive: true, force: true });
    }
  });

  it('after a failed handler IO stays suspended until resume-io', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 16, disk: 'fencing resource-and-stonith;', handlers: { 'fence-peer': 'exit 1' } }));
    await p.initialSync();
    await p.node2.admOk('disconnect', 'r0');
    await waitFor(() => /fence-peer helper broken, returned 1/.test(p.node1.logs), 10_000, 'the broken handler reported');
    await waitFor(() => /IO stays suspended until resume-io/.test(p.node1.logs), 5000, 'IO left suspended');
    const w = watchedWrite(p, 5, 'after-resume');
    await p.node1.waitState((s) => s.counters.ap >= 1, 'the write held by the freeze (ap)');
    expect(w.settled()).toBe(false);
    expect(fs.readFileSync(p.node1.statusFile, 'utf8')).toMatch(/ds:UpToDate\/DUnknown C s/);
    await p.node1.admOk('resume-io', 'r0');
    await w.done;
    expect((await readBack(p, 5)).equals(pattern('after-resume', 5))).toBe(true);
    await waitFor(() => /ds:UpToDate\/DUnknown C r/.test(fs.readFileSync(p.node1.statusFile, 'utf8')), 5000, 'node1 IO running again');
  });
});
