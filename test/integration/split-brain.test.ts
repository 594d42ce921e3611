// Split brain on loopback, one test per after-sb-0pri and after-sb-1pri policy: both nodes write
// different blocks while disconnected, with the roles each case needs, then reconnect. Every test
// checks byte for byte whose data survived on both disks, that the handlers ran with DRBD's
// environment, and that the resync copied exactly the blocks either side changed (the SyncTarget's
// `nr` grows by |changed on node1 ∪ changed on node2| × 4 KiB), not the whole device.
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import { Pair, disksEqual, waitFor, type Node } from '../helpers/two-nodes.js';
import { BLOCK, openNbd, pattern, union, writeBlocks } from '../helpers/blocks.js';

const MiB = 1024 * 1024;
const SIZE_MIB = 16;
const UNRESOLVED = 'Split-Brain detected but unresolved, dropping connection!';

/** node1 is the older primary (Primary when the link broke), node2 the younger one (promoted after). */
const NODE1_BLOCKS = [10, 11, 12, 700, 2500];
const NODE2_BLOCKS = [12, 13, 1500, 1501, 1502, 1503, 2600];

const HANDLERS = {
  'initial-split-brain': 'exit 0',
  'split-brain': 'exit 0',
  'pri-lost-after-sb': 'exit 0',
  'pri-lost': 'exit 0',
  'before-resync-target': 'exit 0',
  'after-resync-target': 'exit 0',
};

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

function usable(): number {
  return SIZE_MIB * MiB - 2 * MiB;
}

interface Scenario {
  net: string;
  node1Blocks?: number[];
  node2Blocks?: number[];
  /** roles when they reconnect */
  node1Role: 'Primary' | 'Secondary';
  node2Role: 'Primary' | 'Secondary';
}

interface SplitBrain {
  pair: Pair;
  changed: number[];
  /** each node's contents of the changed blocks just before reconnecting */
  before: Map<Node, Map<number, Buffer>>;
  nrBefore: Map<Node, number>;
}

async function waitCs(node: Node, cs: string): Promise<void> {
  await node.waitState((s) => s.cs === cs, `cs ${cs}`);
}

/** A synced pair, split, written on both sides with the roles of the scenario; not yet reconnected. */
async function makeSplitBrain(sc: Scenario): Promise<SplitBrain> {
  const p = (pair = await Pair.create({ sizeMiB: SIZE_MIB, net: sc.net, handlers: HANDLERS }));
  await p.initialSync();
  const { node1, node2 } = p;
  await node1.admOk('disconnect', 'r0');
  await node2.admOk('disconnect', 'r0');
  await waitCs(node1, 'StandAlone');
  await waitCs(node2, 'StandAlone');

  const b1 = sc.node1Blocks ?? NODE1_BLOCKS;
  const b2 = sc.node2Blocks ?? NODE2_BLOCKS;
  if (b1.length > 0) await writeBlocks(node1, b1, 'node1');
  if (sc.node1Role === 'Secondary') await node1.admOk('secondary', 'r0');
  await node2.admOk('primary', 'r0');
  if (b2.length > 0) await writeBlocks(node2, b2, 'node2');
  if (sc.node2Role === 'Secondary') await node2.admOk('secondary', 'r0');

  const changed = union(b1, b2);
  const before = new Map<Node, Map<number, Buffer>>();
  const nrBefore = new Map<Node, number>();
  for (const n of p.nodes) {
    before.set(n, new Map(changed.map((b) => [b, n.readDisk(b * BLOCK, BLOCK)])));
    nrBefore.set(n, (await n.status()).counters.nr!);
  }
  // the split really happened: block 12 (written by node1, and by node2 unless it wrote nothing) differs
  expect(node1.readDisk(12 * BLOCK, BLOCK).equals(node2.readDisk(12 * BLOCK, BLOCK))).toBe(false);
  return { pair: p, changed, before, nrBefore };
}

async function reconnect(sb: SplitBrain): Promise<void> {
  await sb.pair.node1.admOk('connect', 'r0');
  await sb.pair.node2.admOk('connect', 'r0');
}

async function waitInSync(p: Pair): Promise<void> {
  for (const n of p.nodes) {
    await n.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'Connected UpToDate/UpToDate');
  }
}

/** The survivor's data is on both disks, block by block and as a whole, and only the changed blocks were resynced. */
async function expectSurvivor(sb: SplitBrain, survivor: Node, victim: Node): Promise<void> {
  await waitInSync(sb.pair);
  const kept = sb.before.get(survivor)!;
  for (const b of sb.changed) {
    expect(survivor.readDisk(b * BLOCK, BLOCK).equals(kept.get(b)!), `block ${b} on the survivor ${survivor.name}`).toBe(true);
    expect(victim.readDisk(b * BLOCK, BLOCK).equals(kept.get(b)!), `block ${b} on the victim ${victim.name}`).toBe(true);
  }
  expect(disksEqual(survivor, victim, 0, usable())).toBe(true);
  const nr = (await victim.status()).counters.nr! - sb.nrBefore.get(victim)!;
  expect(nr).toBe(sb.changed.length * BLOCK / 1024);
}

async function waitHandler(node: Node, handler: string): Promise<Record<string, string>> {
  let env: Record<string, string> | undefined;
  await waitFor(() => {
    env = node.handlerCalls().find((c) => c.handler === handler)?.env;
    return env !== undefined;
  }, 10_000, `${node.name}: handler ${handler}`);
  return env!;
}

function expectDrbdEnv(env: Record<string, string>, node: Node, peer: Node, p: Pair): void {
  expect(env.DRBD_RESOURCE).toBe('r0');
  expect(env.DRBD_PEER).toBe(peer.name);
  expect(env.DRBD_PEERS).toBe(peer.name);
  expect(env.DRBD_PEER_ADDRESS).toBe('127.0.0.1');
  expect(env.DRBD_PEER_AF).toBe('ipv4');
  expect(env.DRBD_MY_ADDRESS).toBe('127.0.0.1');
  expect(env.DRBD_MY_AF).toBe('ipv4');
  expect(env.DRBD_CONF).toBe(p.config);
  expect(env.DRBD_BACKING_DEV).toBe(node.disk);
  expect(env.DRBD_MINOR).toMatch(/^\d+$/);
  expect(env.TANDEM_NODE).toBe(node.name);
}

function handlersRun(node: Node): string[] {
  return node.handlerCalls().map((c) => c.handler);
}

async function expectUnresolved(sb: SplitBrain): Promise<void> {
  const { node1, node2 } = sb.pair;
  await waitCs(node1, 'StandAlone');
  await waitCs(node2, 'StandAlone');
  for (const [n, peer] of [[node1, node2], [node2, node1]] as const) {
    await waitFor(() => n.logs.includes(UNRESOLVED), 10_000, `${n.name} logs "${UNRESOLVED}"`);
    expectDrbdEnv(await waitHandler(n, 'split-brain'), n, peer, sb.pair);
    // nothing was copied: each keeps its own data
    for (const b of sb.changed) expect(n.readDisk(b * BLOCK, BLOCK).equals(sb.before.get(n)!.get(b)!)).toBe(true);
  }
}

/** DRBD's manual recovery: on the victim `disconnect` + `connect --discard-my-data`, on the survivor `connect`. */
async function manualRecovery(sb: SplitBrain, victim: Node, survivor: Node): Promise<void> {
  sb.nrBefore.set(victim, (await victim.status()).counters.nr!);
  await victim.admOk('disconnect', 'r0');
  await victim.admOk('connect', '--discard-my-data', 'r0');
  await survivor.admOk('connect', 'r0');
  await victim.waitState((s) => s.cs === 'SyncTarget' || (s.cs === 'Connected' && s.disk === 'UpToDate'), 'victim becomes SyncTarget');
  await expectSurvivor(sb, survivor, victim);
  expect(victim.logs).toMatch(/Split-Brain detected, manually solved\. Sync from peer node/);
}

describe('after-sb-0pri (both Secondary at reconnect)', () => {
  const both = { node1Role: 'Secondary', node2Role: 'Secondary' } as const;

  it('disconnect: unresolved, both StandAlone, split-brain handler; manual recovery makes node1 the SyncTarget', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-0pri disconnect;', ...both });
    await reconnect(sb);
    await expectUnresolved(sb);
    await manualRecovery(sb, sb.pair.node1, sb.pair.node2);
  });

  it('discard-younger-primary: node2 (promoted after the split) loses', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-0pri discard-younger-primary;', ...both });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node1, sb.pair.node2);
    for (const [n, peer] of [[sb.pair.node1, sb.pair.node2], [sb.pair.node2, sb.pair.node1]] as const) {
      expectDrbdEnv(await waitHandler(n, 'initial-split-brain'), n, peer, sb.pair);
      expect(handlersRun(n)).not.toContain('split-brain');
    }
    expect(sb.pair.node2.logs).toMatch(/Split-Brain detected, 0 primaries, automatically solved\. Sync from peer node/);
    expect(sb.pair.node1.logs).toMatch(/Split-Brain detected, 0 primaries, automatically solved\. Sync from this node/);
    await waitHandler(sb.pair.node2, 'before-resync-target');
    await waitHandler(sb.pair.node2, 'after-resync-target');
    expect(handlersRun(sb.pair.node1)).not.toContain('after-resync-target');
  });

  it('discard-older-primary: node1 (Primary when the link broke) loses', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-0pri discard-older-primary;', ...both });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node2, sb.pair.node1);
    await waitHandler(sb.pair.node1, 'initial-split-brain');
  });

  it('discard-zero-changes: node2 promoted but wrote nothing, so it loses', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-0pri discard-zero-changes;', node2Blocks: [], ...both });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node1, sb.pair.node2);
    expect(sb.changed).toEqual(NODE1_BLOCKS);
    await waitHandler(sb.pair.node2, 'initial-split-brain');
  });

  it('discard-zero-changes with changes on both sides: unresolved', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-0pri discard-zero-changes;', ...both });
    await reconnect(sb);
    await expectUnresolved(sb);
  });

  it('discard-least-changes: node1 changed 5 blocks, node2 7, so node1 loses', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-0pri discard-least-changes;', ...both });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node2, sb.pair.node1);
  });

  it('discard-node-node1: node1 loses whatever happened', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-0pri discard-node-node1;', ...both });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node2, sb.pair.node1);
  });
});

describe('after-sb-1pri (one Primary at reconnect)', () => {
  it('disconnect: unresolved; manual recovery discards the Secondary while the Primary keeps running', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-1pri disconnect;', node1Role: 'Primary', node2Role: 'Secondary' });
    await reconnect(sb);
    await expectUnresolved(sb);
    await manualRecovery(sb, sb.pair.node2, sb.pair.node1);
    expect((await sb.pair.node1.status()).role).toBe('Primary');
  });

  it('consensus: the 0pri policy (discard-younger-primary) discards the Secondary, so it is accepted', async () => {
    const sb = await makeSplitBrain({
      net: 'after-sb-0pri discard-younger-primary; after-sb-1pri consensus;',
      node1Role: 'Primary',
      node2Role: 'Secondary',
    });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node1, sb.pair.node2);
    expect(sb.pair.node1.logs).toMatch(/Split-Brain detected, 1 primaries, automatically solved\. Sync from this node/);
    await waitHandler(sb.pair.node2, 'initial-split-brain');
  });

  it('consensus: the 0pri policy (discard-older-primary) would discard the Primary, so it is refused', async () => {
    const sb = await makeSplitBrain({
      net: 'after-sb-0pri discard-older-primary; after-sb-1pri consensus;',
      node1Role: 'Primary',
      node2Role: 'Secondary',
    });
    await reconnect(sb);
    await expectUnresolved(sb);
  });

  it('violently-as0p with rr-conflict violently: the losing Primary becomes SyncTarget and serves the peer\'s data', async () => {
    const sb = await makeSplitBrain({
      net: 'after-sb-0pri discard-older-primary; after-sb-1pri violently-as0p; rr-conflict violently;',
      node1Role: 'Primary',
      node2Role: 'Secondary',
    });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node2, sb.pair.node1);
    expect(sb.pair.node1.logs).toContain('Becoming SyncTarget, violating the stable-data assumption');
    expect((await sb.pair.node1.status()).role).toBe('Primary');
    const client = await openNbd(sb.pair.node1);
    try {
      for (const b of NODE2_BLOCKS) expect((await client.read(b * BLOCK, BLOCK)).equals(pattern('node2', b))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('violently-as0p with rr-conflict disconnect: "I shall become SyncTarget, but I am primary!"', async () => {
    const sb = await makeSplitBrain({
      net: 'after-sb-0pri discard-older-primary; after-sb-1pri violently-as0p;',
      node1Role: 'Primary',
      node2Role: 'Secondary',
    });
    await reconnect(sb);
    await waitCs(sb.pair.node1, 'StandAlone');
    await waitFor(() => sb.pair.node1.logs.includes('I shall become SyncTarget, but I am primary!'), 10_000, 'rr-conflict log line');
    // the peer decided to be SyncSource and keeps trying; the Primary's data is untouched
    await sb.pair.node2.waitState((s) => s.cs === 'WFConnection' || s.cs === 'Unconnected', 'node2 waits for a connection');
    for (const b of sb.changed) expect(sb.pair.node1.readDisk(b * BLOCK, BLOCK).equals(sb.before.get(sb.pair.node1)!.get(b)!)).toBe(true);
  });

  it('discard-secondary: node2 is Primary at reconnect, so node1 (Secondary) loses', async () => {
    const sb = await makeSplitBrain({ net: 'after-sb-1pri discard-secondary;', node1Role: 'Secondary', node2Role: 'Primary' });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node2, sb.pair.node1);
    expect((await sb.pair.node2.status()).role).toBe('Primary');
  });

  it('call-pri-lost-after-sb: the losing Primary is not in use, gives up its role and becomes SyncTarget', async () => {
    const sb = await makeSplitBrain({
      net: 'after-sb-0pri discard-older-primary; after-sb-1pri call-pri-lost-after-sb;',
      node1Role: 'Primary',
      node2Role: 'Secondary',
    });
    await reconnect(sb);
    await expectSurvivor(sb, sb.pair.node2, sb.pair.node1);
    expect(sb.pair.node1.logs).toContain('Successfully gave up primary role.');
    expect((await sb.pair.node1.status()).role).toBe('Secondary');
    expect(fs.existsSync(sb.pair.node1.nbdSocket)).toBe(false);
    expect(handlersRun(sb.pair.node1)).not.toContain('pri-lost-after-sb');
  });

  it('call-pri-lost-after-sb: the losing Primary is held open, so pri-lost-after-sb runs and it disconnects', async () => {
    const sb = await makeSplitBrain({
      net: 'after-sb-0pri discard-older-primary; after-sb-1pri call-pri-lost-after-sb;',
      node1Role: 'Primary',
      node2Role: 'Secondary',
    });
    const holder = await openNbd(sb.pair.node1);
    try {
      await reconnect(sb);
      const env = await waitHandler(sb.pair.node1, 'pri-lost-after-sb');
      expectDrbdEnv(env, sb.pair.node1, sb.pair.node2, sb.pair);
      await waitCs(sb.pair.node1, 'StandAlone');
      expect((await sb.pair.node1.status()).role).toBe('Primary');
      for (const b of NODE1_BLOCKS) expect((await holder.read(b * BLOCK, BLOCK)).equals(pattern('node1', b))).toBe(true);
    } finally {
      await holder.close();
    }
  });
});
