// `tandem-hb status`: crm_mon's layout for what the daemon knows.
import { describe, expect, it } from 'vitest';
import { renderHbStatus, resourceWord, type HbStatusSnapshot } from '../../../src/cluster/status-text.js';
import type { GroupStatus } from '../../../src/cluster/controller.js';

const group = (over: Partial<GroupStatus>): GroupStatus => ({
  group: 'IPaddr::10.0.0.10/24', owner: 'node1', local: 'stopped', declined: null, peer: 'free',
  resources: [{ resource: 'IPaddr::10.0.0.10/24', state: 'stopped' }, { resource: 'httpd', state: 'stopped' }], ...over,
});

function snap(groups: GroupStatus[], peerState: 'up' | 'dead', extra: Partial<HbStatusSnapshot['controller']> = {}): HbStatusSnapshot {
  return {
    self: 'node2', peer: 'node1', generation: 7, nowMs: 0,
    nodes: [
      { node: 'node2', self: true, state: 'up', generation: null, lastSeq: null, lastHeardMs: null, links: [] },
      { node: 'node1', self: false, state: peerState, generation: 3, lastSeq: 9, lastHeardMs: 0, links: [{ medium: 'bcast eth0', state: peerState === 'up' ? 'up' : 'dead', lastSeenMs: 0 }] },
    ],
    controller: { self: 'node2', peer: 'node1', peerState, fencing: 'done', isolated: false, leaving: false, groups, ...extra },
    agents: { 'IPaddr::10.0.0.10/24': ['heartbeat:IPaddr', 'lsb:httpd'] },
    ignoredMedia: [],
  };
}

describe('status text', () => {
  it('shows where each resource runs: here, on the peer, FAILED, or Stopped', () => {
    const here = group({ local: 'started', resources: [{ resource: 'a', state: 'started' }, { resource: 'b', state: 'started' }] });
    expect(resourceWord(here, 0, 'node2', 'node1')).toEqual({ word: 'Started', node: 'node2' });
    expect(resourceWord(group({ peer: 'held' }), 1, 'node2', 'node1')).toEqual({ word: 'Started', node: 'node1' });
    expect(resourceWord(group({ peer: 'failed' }), 0, 'node2', 'node1')).toEqual({ word: 'FAILED', node: 'node1' });
    expect(resourceWord(group({ peer: 'busy' }), 0, 'node2', 'node1')).toEqual({ word: 'Stopped' });
    const failed = group({ local: 'failed', resources: [{ resource: 'a', state: 'stopped' }, { resource: 'b', state: 'failed' }] });
    expect(resourceWord(failed, 1, 'node2', 'node1')).toEqual({ word: 'FAILED', node: 'node2' });
  });

  it('renders nodes, links, groups and failed actions like crm_mon', () => {
    const g = group({ local: 'failed', resources: [{ resource: 'IPaddr::10.0.0.10/24', state: 'started' }, { resource: 'httpd', state: 'failed' }] });
    const text = renderHbStatus(snap([g], 'dead', { isolated: true }));
    expect(text).toContain('  * Online: [ node2 ]\n  * OFFLINE: [ node1 ]\n  * Node node2: isolated (all of its cluster links are down)\n  * Link node1:bcast eth0 is FAULTY\n');
    expect(text).toContain('  * Resource Group: IPaddr::10.0.0.10/24 (preferred node1):\n'
      + '    * IPaddr::10.0.0.10/24\t(heartbeat:IPaddr):\t Started node2\n'
      + '    * httpd\t(lsb:httpd):\t FAILED node2\n');
    expect(text).toContain("Failed Resource Actions:\n  * httpd stop on node2 failed: group IPaddr::10.0.0.10/24 is FAILED (stop it by hand, then 'tandem-hb cleanup IPaddr::10.0.0.10/24')");
    expect(text).toContain('  * 2 nodes configured\n  * 2 resource instances configured\n');
  });

  it('marks groups in standby', () => {
    expect(renderHbStatus(snap([group({ declined: 'standby', peer: 'held' })], 'up'))).toContain('(preferred node1) [standby]:\n    * IPaddr::10.0.0.10/24\t(heartbeat:IPaddr):\t Started node1');
  });
});
