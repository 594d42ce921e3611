// The seed config must parse unchanged and resolve on both nodes.
import { describe, expect, it } from 'vitest';
import { dumpConfig, resolveResource } from '../../../src/config/index.js';
import { model, parse } from './helpers.js';

export const SEED = `global { usage-count yes; }
common { syncer { rate 30M; } }
resource r0 {
   protocol C;
   handlers {
    pri-on-incon-degr "/usr/lib/drbd/notify-pri-on-incon-degr.sh; /usr/lib/drbd/notify-emergency-reboot.sh; echo b > /proc/sysrq-trigger ; reboot -f";
    pri-lost-after-sb "/usr/lib/drbd/notify-pri-lost-after-sb.sh; /usr/lib/drbd/notify-emergency-reboot.sh; echo b > /proc/sysrq-trigger ; reboot -f";
    local-io-error "/usr/lib/drbd/notify-io-error.sh; /usr/lib/drbd/notify-emergency-shutdown.sh; echo o > /proc/sysrq-trigger ; halt -f";
   }
   startup {}
   disk { on-io-error detach; }
   net { after-sb-0pri discard-younger-primary; after-sb-1pri consensus; }
   on node1 { device /dev/drbd0; disk /dev/sdb; address 192.168.10.188:7789; meta-disk internal; }
   on node2 { device /dev/drbd0; disk /dev/sdb; address 192.168.10.189:7789; meta-disk internal; }
}
`;

describe('seed config', () => {
  const cfg = parse(SEED);
  it('parses with no warnings and nothing unsupported', () => {
    expect(cfg.warnings).toEqual([]);
    expect(cfg.global).toEqual({ 'usage-count': { kind: 'enum', value: 'yes' } });
    expect(cfg.common.disk).toMatchObject([{ name: 'resync-rate', value: { kind: 'number', value: 30720, text: '30M' }, spelledAs: 'syncer rate' }]);
    expect(cfg.resources.map((r) => r.name)).toEqual(['r0']);
    expect(cfg.resources[0]!.unsupported).toEqual([]);
  });
  it('resolves for node1', () => {
    const r = resolveResource(cfg, 'r0', 'node1');
    expect(r.protocol).toBe('C');
    expect(r.self).toEqual({
      name: 'node1',
      device: '/dev/drbd0',
      minor: 0,
      disk: '/dev/sdb',
      address: { family: 'ipv4', host: '192.168.10.188', port: 7789 },
      metaDisk: { kind: 'internal' },
    });
    expect(r.peer.address.host).toBe('192.168.10.189');
    expect(r.net).toMatchObject({ afterSb0pri: 'discard-younger-primary', afterSb1pri: 'consensus', afterSb2pri: 'disconnect' });
    expect(r.disk).toMatchObject({ onIoError: 'detach', resyncRateBytesPerSec: 30 * 1024 * 1024 });
    expect(Object.keys(r.handlers)).toEqual(['pri-on-incon-degr', 'pri-lost-after-sb', 'local-io-error']);
    expect(r.handlers['local-io-error']).toBe(
      '/usr/lib/drbd/notify-io-error.sh; /usr/lib/drbd/notify-emergency-shutdown.sh; echo o > /proc/sysrq-trigger ; halt -f',
    );
  });
  it('resolves for node2 with the roles swapped', () => {
    const r = resolveResource(cfg, 'r0', 'node2');
    expect([r.self.name, r.peer.name]).toEqual(['node2', 'node1']);
  });
  it('dumps in 8.4 spelling and round-trips', () => {
    const d = dumpConfig(cfg);
    expect(d).toContain('common {\n    disk {\n        resync-rate 30M;\n    }\n}');
    expect(d).toContain('    net {\n        protocol C;\n        after-sb-0pri discard-younger-primary;');
    expect(d).toContain('    on node1 {\n        device /dev/drbd0;\n        disk /dev/sdb;\n        meta-disk internal;\n        address ipv4 192.168.10.188:7789;\n    }');
    expect(model(parse(d))).toEqual(model(cfg));
    expect(dumpConfig(cfg, 'r0')).toMatch(/^resource r0 \{\n/);
    expect(() => dumpConfig(cfg, 'nope')).toThrow("unknown resource 'nope' (defined: r0)");
  });
});
