// crm-fence-peer / crm-unfence-peer against a fake CIB: what they ask cibadmin/crmadmin, what they
// write, how long they poll (fake clock), and the exit code.
import { describe, expect, it } from 'vitest';
import { crmFencePeer, crmUnfencePeer, DEFAULT_FENCE_OPTIONS, firstElementAttrs, type FenceIo, type FenceOptions, type ToolResult } from '../../../src/ocf/crm-fence-peer.js';
import type { DiskState } from '../../../src/replication/drbd-states.js';

const CLONE = `<clone id="ms_r0"><primitive id="tandem_r0" class="ocf" provider="tandem" type="tandem"><instance_attributes id="ia"><nvpair id="n" name="resource" value="r0"/></instance_attributes></primitive></clone>`;

class FakeCluster implements FenceIo {
  t = 0;
  calls: string[] = [];
  logs: string[] = [];
  constraint: string | null = null;
  /** the peer's node_state attributes over time: [from ms, attrs] */
  peerStates: Array<[number, string]> = [[0, 'in_ccm="true" crmd="online" join="member" expected="member"']];
  crmadminOk = true;
  pingOk = true;
  cibUp = true;
  disk: { disk: DiskState; peerDisk: DiskState } | null = { disk: 'UpToDate', peerDisk: 'DUnknown' };

  async run(cmd: string, args: string[]): Promise<ToolResult> {
    this.calls.push(`${cmd} ${args.join(' ')}`);
    const ok = (stdout: string): ToolResult => ({ code: 0, stdout, stderr: '' });
    const none: ToolResult = { code: 105, stdout: '', stderr: 'Call cib_query failed (-6): No such device or address' };
    if (cmd === 'cibadmin' && args[0] === '-Q') {
      if (!this.cibUp) return { code: 102, stdout: '', stderr: 'Could not connect to the CIB: Transport endpoint is not connected' };
      return ok(this.cib());
    }
    if (cmd === 'cibadmin' && args[0] === '-C') {
      this.constraint = args[4]!;
      return ok('');
    }
    if (cmd === 'cibadmin' && args[0] === '-D') {
      this.constraint = null;
      return ok('');
    }
    if (cmd === 'crm_attribute') return args.includes('stonith-enabled') ? ok('false\n') : { code: 105, stdout: '', stderr: 'not found' };
    if (cmd === 'crmadmin') return this.crmadminOk ? ok('Controller on node2 in state S_NOT_DC: ok') : { code: 124, stdout: '', stderr: 'timeout' };
    if (cmd === 'ping') return this.pingOk ? ok('1 received') : { code: 1, stdout: '0 received', stderr: '' };
    throw new Error(`unexpected ${cmd} ${args.join(' ')}`);
  }
  /** the whole CIB, as `cibadmin -Q` prints it (indented, one element per line) */
  cib(): string {
    const attrs = [...this.peerStates].reverse().find(([from]) => from <= this.t)![1];
    return [
      '<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="7" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">',
      '  <configuration>',
      '    <crm_config>',
      '      <cluster_property_set id="cib-bootstrap-options">',
      '        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>',
      '      </cluster_property_set>',
      '    </crm_config>',
      '    <nodes>',
      '      <node id="1" uname="node1"/>',
      '      <node id="2" uname="node2"/>',
      '    </nodes>',
      '    <resources>',
      `      ${this.clones}`,
      '    </resources>',
      `    <constraints>${this.constraint ?? ''}</constraints>`,
      '  </configuration>',
      '  <status>',
      '    <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>',
      `    <node_state id="2" uname="node2" ${attrs}>`,
      '      <lrm id="2"/>',
      '    </node_state>',
      '  </status>',
      '</cib>',
    ].join('\n');
  }
  clones = CLONE;
  async disks() {
    return this.disk;
  }
  async sleep(ms: number) {
    this.t += ms;
  }
  now() {
    return this.t;
  }
  log(line: string) {
    this.logs.push(line);
  }
}

const opts = (over: Partial<FenceOptions> = {}): FenceOptions => ({
  resource: 'r0', node: 'node1', peer: 'node2', cloneId: '', ...DEFAULT_FENCE_OPTIONS, pingNodes: [], onlyIfOwnerMatch: false, ...over,
});

describe('crm-fence-peer', () => {
  it('replication link lost, cluster up: places the constraint for this node, exit 4', async () => {
    const c = new FakeCluster();
    expect(await crmFencePeer(opts(), c)).toBe(4);
    expect(c.constraint).toContain('<rsc_location rsc="ms_r0" id="tandem-fence-by-handler-r0-ms_r0">');
    expect(firstElementAttrs(c.constraint!, 'expression')).toEqual({ attribute: '#uname', operation: 'ne', value: 'node1', id: 'tandem-fence-by-handler-r0-ms_r0-expr' });
    expect(c.calls.some((l) => l.startsWith('crmadmin -t 3600 -S node2'))).toBe(true);
    expect(c.logs.at(-1)).toMatch(/^INFO peer is reachable, my disk is UpToDate: placed constraint/);
  });

  it('peer lost from the membership: polls until the CIB says so, then exit 5', async () => {
    const c = new FakeCluster();
    c.crmadminOk = false;
    c.peerStates.push([4000, 'in_ccm="false" crmd="offline" join="down" expected="member"']);
    expect(await crmFencePeer(opts(), c)).toBe(5);
    expect(c.t).toBeGreaterThanOrEqual(4000);
    expect(c.t).toBeLessThan(10_000);
    expect(c.constraint).not.toBeNull();
  });

  it('peer already gone from the CIB: one cibadmin read and one create, nothing polled, exit 5', async () => {
    const c = new FakeCluster();
    c.peerStates = [[0, 'in_ccm="false" crmd="offline" join="down" expected="member"']];
    expect(await crmFencePeer(opts({ pingNodes: ['10.213.0.10'] }), c)).toBe(5);
    expect(c.calls.filter((l) => l.startsWith('cibadmin')).map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['cibadmin -Q', 'cibadmin -C']);
    expect(c.calls.filter((l) => l.startsWith('crmadmin') || l.startsWith('crm_attribute'))).toEqual([]);
    expect(c.t).toBe(0);
  });

  it('gives up polling after --timeout: unknown peer, UpToDate → constraint, exit 5', async () => {
    const c = new FakeCluster();
    c.crmadminOk = false;
    expect(await crmFencePeer(opts({ timeoutSec: 6 }), c)).toBe(5);
    expect(c.t).toBeGreaterThanOrEqual(6000);
    expect(c.t).toBeLessThan(9000);
  });

  it('cut off from the ping nodes: places nothing, exit 1, without polling the peer', async () => {
    const c = new FakeCluster();
    c.pingOk = false;
    expect(await crmFencePeer(opts({ pingNodes: ['10.213.0.10'] }), c)).toBe(1);
    expect(c.constraint).toBeNull();
    expect(c.calls.filter((l) => l.startsWith('crmadmin'))).toEqual([]);
    expect(c.logs.at(-1)).toMatch(/no ping node answers/);
  });

  it("someone else's constraint: does not overwrite it, exit 1", async () => {
    const c = new FakeCluster();
    const theirs = '<rsc_location rsc="ms_r0" id="tandem-fence-by-handler-r0-ms_r0"><rule role="Promoted" score="-INFINITY" id="r"><expression attribute="#uname" operation="ne" value="node2" id="e"/></rule></rsc_location>';
    c.constraint = theirs;
    expect(await crmFencePeer(opts(), c)).toBe(1);
    expect(c.constraint).toBe(theirs);
    expect(c.calls.some((l) => l.startsWith('cibadmin -C'))).toBe(false);
  });

  it('no clone runs this resource: exit 1 with the reason', async () => {
    const c = new FakeCluster();
    // a clone of another agent with the same parameter name is not it
    c.clones = CLONE.replace('type="tandem"', 'type="drbd"').replace('id="ms_r0"', 'id="ms_drbd"') + CLONE.replace('value="r0"', 'value="r1"');
    expect(await crmFencePeer(opts(), c)).toBe(1);
    expect(c.logs.join('\n')).toMatch(/could not determine the clone id of tandem resource r0/);
    expect(c.constraint).toBeNull();
  });

  it('no DC: DC-unreachable after --dc-timeout, exit 1', async () => {
    const c = new FakeCluster();
    let queries = 0;
    const run = c.run.bind(c);
    c.crmadminOk = false;
    c.run = async (cmd, args) => {
      // the first read answers; every later one (with -t) finds no DC
      if (cmd === 'cibadmin' && args[0] === '-Q' && args[1] === '-t') {
        queries++;
        return { code: 62, stdout: '', stderr: 'Timer expired' };
      }
      return run(cmd, args);
    };
    expect(await crmFencePeer(opts({ dcTimeoutSec: 5 }), c)).toBe(1);
    expect(queries).toBeGreaterThan(1);
    expect(c.constraint).toBeNull();
  });
});

describe('crm-unfence-peer', () => {
  it('removes the constraint once both disks are UpToDate', async () => {
    const c = new FakeCluster();
    await crmFencePeer(opts({ node: 'node2', peer: 'node1' }), c);
    c.disk = { disk: 'UpToDate', peerDisk: 'UpToDate' };
    expect(await crmUnfencePeer(opts(), c)).toBe(0);
    expect(c.constraint).toBeNull();
    expect(c.calls).toContain('cibadmin -D -X <rsc_location rsc="ms_r0" id="tandem-fence-by-handler-r0-ms_r0"/>');
  });
  it('leaves it while this node is not UpToDate, exit 1', async () => {
    const c = new FakeCluster();
    await crmFencePeer(opts({ node: 'node2', peer: 'node1' }), c);
    c.disk = { disk: 'Inconsistent', peerDisk: 'UpToDate' };
    expect(await crmUnfencePeer(opts(), c)).toBe(1);
    expect(c.constraint).not.toBeNull();
  });
});
