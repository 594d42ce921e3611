// crm-fence-peer's decisions from tables of what DRBD's crm-fence-peer.sh does (drbd-utils
// scripts/crm-fence-peer.sh: guess_if_pacemaker_will_fence, check_peer_node_reachable,
// try_place_constraint, drbd_peer_fencing), plus Tandem's --ping-node.
import { describe, expect, it } from 'vitest';
import { cibPeerView, fenceConstraintXml, fenceVerdict, unfenceVerdict, type FenceInput, type NodeStateAttrs } from '../../../src/ocf/fence-decisions.js';
import { fencePeerOutcome } from '../../../src/replication/fencing.js';

const online: NodeStateAttrs = { in_ccm: 'true', crmd: 'online', join: 'member', expected: 'member' };
const lost: NodeStateAttrs = { in_ccm: 'false', crmd: 'offline', join: 'down', expected: 'member' };
const shutDown: NodeStateAttrs = { in_ccm: 'false', crmd: 'offline', join: 'down', expected: 'down' };

describe("the peer's CIB node_state", () => {
  const noStonith = { stonithEnabled: false, startupFencing: true };
  const stonith = { stonithEnabled: true, startupFencing: true };
  it.each([
    ['online member, no STONITH', online, noStonith, 'online'],
    ['lost from the membership, no STONITH: nobody will shoot it', lost, noStonith, 'unreachable'],
    ['cleanly shut down (expected down)', shutDown, noStonith, 'fenced'],
    ['no node_state at all, no STONITH', null, noStonith, 'unreachable'],
    ['online member, STONITH', online, stonith, 'online'],
    ['lost, STONITH pending: wait for the shot', lost, stonith, 'undecided'],
    ['cleanly down, STONITH: no shot needed', shutDown, stonith, 'fenced'],
    ['no node_state, STONITH with startup-fencing', null, stonith, 'undecided'],
    ['no node_state, STONITH without startup-fencing', null, { stonithEnabled: true, startupFencing: false }, 'unreachable'],
  ] as const)('%s → %s', (_what, ns, cluster, view) => {
    expect(cibPeerView(ns, cluster)).toBe(view);
  });
});

const ID = 'tandem-fence-by-handler-r0-ms_r0';
const base: FenceInput = { peer: 'unreachable', disk: 'UpToDate', peerDisk: 'DUnknown', constraint: 'none', isolated: false };

describe('fence-peer verdict', () => {
  it.each([
    ['Primary lost a reachable peer (replication link down)', { peer: 'reachable' }, true, 4],
    ['Consistent node, reachable peer: constraint, the peer would have scored higher', { peer: 'reachable', disk: 'Consistent' }, true, 4],
    ['peer unreachable, UpToDate (promotion after the Primary died)', {}, true, 5],
    ['peer unknown after the timeout, UpToDate', { peer: 'unknown' }, true, 5],
    ['peer fenced, UpToDate', { peer: 'fenced' }, true, 7],
    ['peer fenced but only Consistent: shooting it does not make our data better', { peer: 'fenced', disk: 'Consistent' }, false, 5],
    ['peer unreachable and only Consistent: refuse (DRBD will refuse promotion)', { disk: 'Consistent' }, false, 5],
    ['DC unreachable: the constraint cannot be written', { peer: 'DC-unreachable' }, false, 1],
    ['peer disk UpToDate: nothing to fence', { peerDisk: 'UpToDate', peer: 'reachable' }, false, 1],
    ['resource unknown to tandemd', { disk: null }, false, 1],
    ['our constraint already there', { constraint: 'ours' }, false, 4],
    ["another node's constraint: we may have lost a shoot-out", { constraint: 'other' }, false, 1],
    ['no ping node answers: this node is the one cut off', { isolated: true }, false, 1],
  ] as const)('%s', (_what, over, place, exitCode) => {
    const v = fenceVerdict({ ...base, ...over } as FenceInput, ID);
    expect({ place: v.place, exitCode: v.exitCode }).toEqual({ place, exitCode });
  });

  it("every exit code means to tandemd what DRBD's kernel makes of it", () => {
    expect(fencePeerOutcome(fenceVerdict({ ...base, peer: 'reachable' }, ID).exitCode, { disk: 'UpToDate', fencing: 'resource-only' })).toMatchObject({ fenced: true, peerDisk: 'Outdated' });
    expect(fencePeerOutcome(fenceVerdict(base, ID).exitCode, { disk: 'UpToDate', fencing: 'resource-only' })).toMatchObject({ fenced: true });
    // an isolated Primary learns nothing about its peer: it must not mark it Outdated
    expect(fencePeerOutcome(fenceVerdict({ ...base, isolated: true }, ID).exitCode, { disk: 'UpToDate', fencing: 'resource-only' })).toMatchObject({ fenced: false });
    expect(fencePeerOutcome(fenceVerdict({ ...base, isolated: true }, ID).exitCode, { disk: 'UpToDate', fencing: 'resource-only' }).peerDisk).toBeUndefined();
  });
});

describe('unfence verdict (after-resync-target)', () => {
  it.each([
    ['no constraint', { constraint: 'none', disk: 'UpToDate', peerDisk: 'UpToDate' }, false, 0],
    ['resync done: both UpToDate', { constraint: 'other', disk: 'UpToDate', peerDisk: 'UpToDate' }, true, 0],
    ['own constraint, both UpToDate', { constraint: 'ours', disk: 'UpToDate', peerDisk: 'UpToDate' }, true, 0],
    ['still Inconsistent here', { constraint: 'other', disk: 'Inconsistent', peerDisk: 'UpToDate' }, false, 1],
    ['peer not UpToDate', { constraint: 'other', disk: 'UpToDate', peerDisk: 'DUnknown' }, false, 1],
  ] as const)('%s', (_what, i, remove, exitCode) => {
    const v = unfenceVerdict({ ...i, onlyIfOwnerMatch: false }, ID);
    expect({ remove: v.remove, exitCode: v.exitCode }).toEqual({ remove, exitCode });
  });
  it('--unfence-only-if-owner-match leaves a foreign constraint', () => {
    expect(unfenceVerdict({ constraint: 'other', disk: 'UpToDate', peerDisk: 'UpToDate', onlyIfOwnerMatch: true }, ID).remove).toBe(false);
    expect(unfenceVerdict({ constraint: 'ours', disk: 'UpToDate', peerDisk: 'UpToDate', onlyIfOwnerMatch: true }, ID).remove).toBe(true);
  });
});

describe('the constraint', () => {
  it("forbids the promoted role wherever #uname is not this node, as crm-fence-peer's", () => {
    expect(fenceConstraintXml({ id: ID, cloneId: 'ms_r0', node: 'node2', role: 'Promoted' })).toBe(
      `<rsc_location rsc="ms_r0" id="${ID}"><rule role="Promoted" score="-INFINITY" id="${ID}-rule">` +
      `<expression attribute="#uname" operation="ne" value="node2" id="${ID}-expr"/></rule></rsc_location>`);
  });
  it('escapes attribute values', () => {
    expect(fenceConstraintXml({ id: 'a', cloneId: 'c', node: 'x"<&', role: 'Promoted' })).toContain('value="x&quot;&lt;&amp;"');
  });
});
