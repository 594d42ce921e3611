import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AuthKey } from '../../../src/config/heartbeat/authkeys.js';
import { controlFromPacket, controlToPacket, isControlPacket, type ControlMessage } from '../../../src/cluster/control-messages.js';
import { decodePacket, PacketSender, type HbPacket } from '../../../src/cluster/packet.js';

const KEY: AuthKey = { index: 1, method: 'sha1', secret: 's' };
const sender = new PacketSender('alpha', 3, KEY);
const viaWire = (msg: ControlMessage): HbPacket => {
  const { type, fields } = controlToPacket(msg);
  const r = decodePacket(sender.build(type, fields, 0, 'beta'), [KEY]);
  if (!r.ok) throw new Error(r.detail);
  return r.packet;
};

describe('control messages', () => {
  it.each<ControlMessage>([
    { type: 'rsc-state', version: 42, held: ['IPaddr::10.0.0.10/24', 'drbddisk::r0'], busy: [], claimed: ['Filesystem::/dev/drbd0::/srv::ext4::noatime,nodiratime'], failed: [], declined: ['httpd'] },
    { type: 'claim', groups: ['g1', 'g2'], reason: 'failback' },
    { type: 'claim', groups: ['g1'], reason: 'peer-standby' },
    { type: 'grant', groups: ['g1'] },
    { type: 'deny', groups: ['g1'], reason: 'failed' },
    { type: 'ping-state', version: 7, visible: 1, total: 2 },
    { type: 'ping-state', version: 1, visible: 0, total: 0 },
  ])('round-trips %o through a signed packet', (msg) => {
    const p = viaWire(msg);
    expect(isControlPacket(p)).toBe(true);
    expect(controlFromPacket(p)).toEqual({ ok: true, msg });
  });

  it('uses heartbeat-style packet type names', () => {
    expect(viaWire({ type: 'grant', groups: ['g'] }).type).toBe('rsc_grant');
  });

  it.each([
    ['rsc_claim', [['groups', 'g']], "rsc_claim with unknown reason ''"],
    ['rsc_claim', [['groups', 'g'], ['reason', 'because']], "rsc_claim with unknown reason 'because'"],
    ['rsc_deny', [['reason', 'held']], "rsc_deny without 'groups'"],
    ['rsc_state', [['held', '']], "rsc_state without a hex 'ver'"],
    ['rsc_state', [['ver', '1'], ['held', 'a']], "rsc_state without 'busy'"],
    ['rsc_frob', [], "unknown control message type 'rsc_frob'"],
    ['ping_state', [['visible', '1'], ['total', '2']], "ping_state without a hex 'ver'"],
    ['ping_state', [['ver', '1'], ['total', '2']], "ping_state without 'visible'"],
    ['ping_state', [['ver', '1'], ['visible', 'two'], ['total', '2']], "ping_state with a bad 'visible' 'two'"],
    ['ping_state', [['ver', '1'], ['visible', '3'], ['total', '2']], 'ping_state with visible 3 > total 2'],
  ] as const)('refuses %s %j', (type, fields, detail) => {
    const r = decodePacket(sender.build(type, fields.map(([a, b]) => [a, b] as [string, string]), 0), [KEY]);
    expect(r.ok).toBe(true);
    if (r.ok) expect(controlFromPacket(r.packet)).toEqual({ ok: false, detail });
  });

  it('fuzz: arbitrary fields never throw', () => {
    const name = fc.constantFrom('ver', 'held', 'busy', 'claimed', 'failed', 'declined', 'groups', 'reason', 'visible', 'total', 'x');
    fc.assert(fc.property(
      fc.constantFrom('rsc_state', 'rsc_claim', 'rsc_grant', 'rsc_deny', 'ping_state', 'status'),
      fc.dictionary(name, fc.string({ maxLength: 20 })),
      (type, fields) => {
        const p: HbPacket = { type, src: 'beta', dest: null, seq: 1, generation: 1, timestamp: 0, fields: new Map(Object.entries(fields)), authIndex: 1 };
        const r = controlFromPacket(p);
        expect(typeof r.ok).toBe('boolean');
      },
    ), { numRuns: 1000 });
  });
});
