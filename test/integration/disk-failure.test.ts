// A failing backing disk under a running pair (reference §10.2): errors are injected into the
// Primary's disk through the addon's test-only fault switch (tandemd started with
// TANDEM_TEST_FAULTS=1, driven by the hidden `tandemadm inject-fault`), then the pair must behave
// as DRBD does for on-io-error detach, pass_on and call-local-io-error.
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import { Pair, disksEqual, waitFor } from '../helpers/two-nodes.js';
import { BLOCK, openNbd, pattern, union, writeBlocks } from '../helpers/blocks.js';
import { NbdRequestError } from '../../src/nbd/errors.js';

const MiB = 1024 * 1024;
const SIZE_MIB = 16;
const FAULTS = { TANDEM_TEST_FAULTS: '1' };

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

function usable(): number {
  return SIZE_MIB * MiB - 2 * MiB;
}

/** blocks 256..263: inside the failing range [1 MiB, 2 MiB) */
const FAILING = Array.from({ length: 8 }, (_, i) => 256 + i);

async function injectWriteFault(p: Pair, op: 'read' | 'write' = 'write'): Promise<void> {
  await p.node1.admOk('inject-fault', 'r0', '--offset', String(1 * MiB), '--length', String(1 * MiB), '--op', op);
}

describe('on-io-error detach', () => {
  it('detaches the failing disk (Failed → Diskless), keeps serving through the peer, and resyncs by bitmap after reattach', async () => {
    const p = (pair = await Pair.create({ sizeMiB: SIZE_MIB, disk: 'on-io-error detach;', env: FAULTS }));
    await p.initialSync();
    const { node1, node2 } = p;
    await writeBlocks(node1, [1, 2, 3], 'before');
    await injectWriteFault(p);

    // the writes that fail locally still succeed: the peer wrote them
    await writeBlocks(node1, FAILING, 'failing');
    await node1.waitState((s) => s.disk === 'Diskless' && s.peerDisk === 'UpToDate', 'node1 Diskless/UpToDate');
    await node2.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'Diskless', 'node2 UpToDate/Diskless');
    expect(node1.logs).toContain('Local IO failed in write. Detaching...');
    expect(node1.logs).toContain('"disk":"UpToDate -> Failed"');
    expect(node1.logs).toContain('"disk":"Failed -> Diskless"');
    for (const b of FAILING) expect(node2.readDisk(b * BLOCK, BLOCK).equals(pattern('failing', b))).toBe(true);
    expect(fs.readFileSync(node1.statusFile, 'utf8')).toMatch(/cs:Connected ro:Primary\/Secondary ds:Diskless\/UpToDate/);

    // diskless: writes land on the peer only, reads come from the peer
    const LATER = [20, 21, 3000];
    await writeBlocks(node1, LATER, 'diskless');
    const nodeOneLater = LATER.map((b) => node1.readDisk(b * BLOCK, BLOCK));
    for (const [i, b] of LATER.entries()) {
      expect(node2.readDisk(b * BLOCK, BLOCK).equals(pattern('diskless', b))).toBe(true);
      expect(nodeOneLater[i]!.equals(pattern('diskless', b))).toBe(false);
    }
    const client = await openNbd(node1);
    try {
      for (const b of FAILING) expect((await client.read(b * BLOCK, BLOCK)).equals(pattern('failing', b))).toBe(true);
      for (const b of LATER) expect((await client.read(b * BLOCK, BLOCK)).equals(pattern('diskless', b))).toBe(true);
      expect((await client.read(1 * BLOCK, 3 * BLOCK)).equals(Buffer.concat([1, 2, 3].map((b) => pattern('before', b))))).toBe(true);
    } finally {
      await client.close();
    }

    // repair: detach (already diskless), attach the disk again; only the changed blocks come back
    const nrBefore = (await node1.status()).counters.nr!;
    await node1.admOk('clear-faults', 'r0');
    await node1.admOk('detach', 'r0');
    await node1.admOk('attach', 'r0');
    await node1.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate' && s.role === 'Primary', 'node1 reattached and resynced');
    await node2.waitState((s) => s.cs === 'Connected' && s.peerDisk === 'UpToDate', 'node2 sees node1 UpToDate');
    const nr = (await node1.status()).counters.nr! - nrBefore;
    expect(nr).toBe(union(FAILING, LATER).length * BLOCK / 1024);
    expect(disksEqual(node1, node2, 0, usable())).toBe(true);
    expect(node1.logs).toMatch(/uuid_compare\(\)=-1 by rule 50/);
  });

  it('an administrative detach of a Primary with an UpToDate peer also keeps it serving', async () => {
    const p = (pair = await Pair.create({ sizeMiB: SIZE_MIB }));
    await p.initialSync();
    await p.node1.admOk('detach', 'r0');
    await p.node1.waitState((s) => s.disk === 'Diskless' && s.peerDisk === 'UpToDate' && s.cs === 'Connected', 'diskless Primary');
    await writeBlocks(p.node1, [5, 6], 'admin');
    for (const b of [5, 6]) expect(p.node2.readDisk(b * BLOCK, BLOCK).equals(pattern('admin', b))).toBe(true);
    // without a peer to serve it, a Primary may not give up its disk
    await p.node1.admOk('attach', 'r0');
    await p.node1.waitState((s) => s.disk === 'UpToDate' && s.cs === 'Connected', 'reattached');
    await p.node2.admOk('disconnect', 'r0');
    const r = await p.node1.adm('detach', 'r0');
    expect(r.code).toBe(17);
    expect(r.stderr).toContain('Need access to UpToDate data');
  });
});

describe('on-io-error pass_on', () => {
  it('reports a read error up (NBD EIO), marks the disk Inconsistent; a failed write the peer wrote succeeds; alone, it fails', async () => {
    const p = (pair = await Pair.create({ sizeMiB: SIZE_MIB, disk: 'on-io-error pass_on;', env: FAULTS }));
    await p.initialSync();
    const { node1, node2 } = p;
    await writeBlocks(node1, FAILING, 'data');
    await injectWriteFault(p, 'read');
    const client = await openNbd(node1);
    try {
      const err = await client.read(FAILING[0]! * BLOCK, BLOCK).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(NbdRequestError);
      expect((err as NbdRequestError).errno).toBe('EIO');
      await node1.waitState((s) => s.disk === 'Inconsistent' && s.cs === 'Connected', 'pass_on: Inconsistent, still attached');
      expect(node1.logs).toContain('Local IO failed in read.');
      expect(node1.logs).not.toContain('Detaching...');
      // the failed block is out of sync now, so the next read of it is served by the peer
      expect((await client.read(FAILING[0]! * BLOCK, BLOCK)).equals(pattern('data', FAILING[0]!))).toBe(true);

      await node1.admOk('clear-faults', 'r0');
      await injectWriteFault(p, 'write');
      await client.write(FAILING[1]! * BLOCK, pattern('peer-has-it', FAILING[1]!));
      expect(node2.readDisk(FAILING[1]! * BLOCK, BLOCK).equals(pattern('peer-has-it', FAILING[1]!))).toBe(true);

      await node2.admOk('disconnect', 'r0');
      await node1.waitState((s) => s.cs === 'WFConnection', 'node1 alone');
      const werr = await client.write(FAILING[2]! * BLOCK, pattern('nobody', FAILING[2]!)).then(() => null, (e: unknown) => e);
      expect(werr).toBeInstanceOf(NbdRequestError);
      expect((werr as NbdRequestError).errno).toBe('EIO');
      // writes outside the failing range still work
      await client.write(40 * BLOCK, pattern('fine', 40));
      expect(node1.readDisk(40 * BLOCK, BLOCK).equals(pattern('fine', 40))).toBe(true);
    } finally {
      await client.close().catch(() => undefined);
    }
  });
});

describe('on-io-error call-local-io-error', () => {
  it('runs the local-io-error handler with DRBD\'s environment and detaches', async () => {
    const p = (pair = await Pair.create({
      sizeMiB: SIZE_MIB,
      disk: 'on-io-error call-local-io-error;',
      env: FAULTS,
      handlers: { 'local-io-error': 'exit 0' },
    }));
    await p.initialSync();
    await injectWriteFault(p);
    await writeBlocks(p.node1, FAILING, 'x');
    await p.node1.waitState((s) => s.disk === 'Diskless' && s.peerDisk === 'UpToDate', 'Diskless');
    let env: Record<string, string> | undefined;
    await waitFor(() => (env = p.node1.handlerCalls().find((c) => c.handler === 'local-io-error')?.env) !== undefined, 10_000, 'local-io-error handler');
    expect(env!.DRBD_RESOURCE).toBe('r0');
    expect(env!.DRBD_BACKING_DEV).toBe(p.node1.disk);
    expect(env!.DRBD_PEER).toBe('node2');
    expect(p.node2.handlerCalls()).toEqual([]);
  });
});

describe('fault injection is a test switch', () => {
  it('is refused by a tandemd started without TANDEM_TEST_FAULTS=1', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 8 }));
    await p.createMd();
    await p.node1.start();
    await p.node1.admOk('up', 'r0');
    const r = await p.node1.adm('inject-fault', 'r0', '--offset', '0', '--length', '4096', '--op', 'write');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('only available when tandemd was started with TANDEM_TEST_FAULTS=1');
    expect((await p.node1.adm('clear-faults', 'r0')).code).not.toBe(0);
  });
});
