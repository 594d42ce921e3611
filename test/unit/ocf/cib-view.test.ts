// The fencing handlers' reading of one `cibadmin -Q` document: clone, constraint, nodes, properties
// and node state, from CIB text as Pacemaker 2.1 prints it (pcs-made configuration).
import { describe, expect, it } from 'vitest';
import { cloneOfResource, clusterProperty, elementById, elements, firstElementAttrs, nodeNames, nodeState } from '../../../src/ocf/cib-view.js';

const CIB = `<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="12" num_updates="4" admin_epoch="0" have-quorum="true" dc-uuid="2">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-have-watchdog" name="have-watchdog" value="false"/>
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="node1"/>
      <node id="2" uname="node2">
        <instance_attributes id="nodes-2"><nvpair id="nodes-2-standby" name="standby" value="off"/></instance_attributes>
      </node>
    </nodes>
    <resources>
      <clone id="drbd-clone">
        <primitive class="ocf" id="drbd_r0" provider="linbit" type="drbd">
          <instance_attributes id="drbd_r0-instance_attributes"><nvpair id="d-res" name="drbd_resource" value="r0"/></instance_attributes>
        </primitive>
      </clone>
      <clone id="tandem_r0-clone">
        <primitive class="ocf" id="tandem_r0" provider="tandem" type="tandem">
          <instance_attributes id="tandem_r0-instance_attributes">
            <nvpair id="tandem_r0-instance_attributes-tandemd_log" name="tandemd_log" value="/run/tandem/tandemd.log"/>
            <nvpair id="tandem_r0-instance_attributes-resource" name="resource" value="r0"/>
          </instance_attributes>
          <operations><op id="tandem_r0-monitor-interval-2s" interval="2s" name="monitor" role="Promoted"/></operations>
        </primitive>
        <meta_attributes id="tandem_r0-clone-meta_attributes"><nvpair id="m1" name="promotable" value="true"/></meta_attributes>
      </clone>
      <clone id="grouped-clone"><group id="g"><primitive class="ocf" id="t1" provider="tandem" type="tandem"><instance_attributes id="i"><nvpair value="r1 &amp; co" name="resource" id="n"/></instance_attributes></primitive></group></clone>
      <group id="web"><primitive class="ocf" id="web_fs" provider="heartbeat" type="Filesystem"/></group>
    </resources>
    <constraints>
      <rsc_location id="location-tandem_r0-clone" rsc="tandem_r0-clone"><rule id="r1" role="Promoted" score="-INFINITY" boolean-op="or"><expression id="e1" attribute="pingd" operation="not_defined"/></rule></rsc_location>
      <rsc_location rsc="tandem_r0-clone" id="tandem-fence-by-handler-r0-tandem_r0-clone"><rule role="Promoted" score="-INFINITY" id="tandem-fence-by-handler-r0-tandem_r0-clone-rule"><expression attribute="#uname" operation="ne" value="node2" id="tandem-fence-by-handler-r0-tandem_r0-clone-expr"/></rule></rsc_location>
    </constraints>
  </configuration>
  <status>
    <node_state id="2" uname="node2" in_ccm="true" crmd="online" crm-debug-origin="do_update_resource" join="member" expected="member">
      <lrm id="2"><lrm_resources/></lrm>
    </node_state>
    <node_state id="1" uname="node1" in_ccm="false" crmd="offline" crm-debug-origin="post_cache_update" join="down" expected="member"/>
  </status>
</cib>`;

describe('cib-view', () => {
  it('finds the clone by the tandem primitive and its resource parameter, not by another agent', () => {
    expect(cloneOfResource(CIB, 'r0')).toBe('tandem_r0-clone');
    // inside a group, attributes in another order, an escaped value
    expect(cloneOfResource(CIB, 'r1 & co')).toBe('grouped-clone');
    expect(cloneOfResource(CIB, 'r2')).toBeNull();
    expect(cloneOfResource('<cib/>', 'r0')).toBeNull();
  });

  it('reads a constraint by id, and the rule and expression in it', () => {
    const c = elementById(CIB, 'rsc_location', 'tandem-fence-by-handler-r0-tandem_r0-clone');
    expect(c).not.toBeNull();
    expect(firstElementAttrs(c!, 'rule')).toMatchObject({ role: 'Promoted', score: '-INFINITY' });
    expect(firstElementAttrs(c!, 'expression')).toMatchObject({ attribute: '#uname', operation: 'ne', value: 'node2' });
    expect(elementById(CIB, 'rsc_location', 'tandem-fence-by-handler-r1-x')).toBeNull();
  });

  it('lists the nodes, reads properties and node states', () => {
    expect(nodeNames(CIB)).toEqual(['node1', 'node2']);
    expect(clusterProperty(CIB, 'stonith-enabled')).toBe('false');
    expect(clusterProperty(CIB, 'startup-fencing')).toBeNull();
    expect(nodeState(CIB, 'node1')).toMatchObject({ in_ccm: 'false', crmd: 'offline', join: 'down', expected: 'member' });
    expect(nodeState(CIB, 'node2')).toMatchObject({ in_ccm: 'true', crmd: 'online' });
    expect(nodeState(CIB, 'node3')).toBeNull();
  });

  it('does not take node_state or nodes for node, and skips over self-closed elements', () => {
    expect(elements(CIB, 'node').map((e) => e.attrs.id)).toEqual(['1', '2']);
    expect(elements('<a><b x="1"/><b x="2">t</b><b x="3"/></a>', 'b').map((e) => [e.attrs.x, e.text])).toEqual([
      ['1', '<b x="1"/>'], ['2', '<b x="2">t</b>'], ['3', '<b x="3"/>'],
    ]);
  });
});
