import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { describeHolders, isTransientProber, parseMountinfo, unescapeMountField, type Holder } from '../../../src/nbd/device-holders.js';

// Lines as the kernel writes them (proc(5)): optional fields before the '-' separator vary.
const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro',
  '43 27 0:39 / /run/tandem/kernel/r0/mnt rw,nosuid,nodev,relatime shared:20 - fuse /dev/fuse rw,user_id=0,group_id=0',
  '51 22 7:3 / /mnt/with\\040space rw,relatime shared:25 master:3 - ext4 /dev/loop3 rw',
  '52 22 7:3 /sub /srv/bind rw,relatime - ext4 /dev/loop3 rw',
  'garbage line',
  '',
].join('\n');

describe('parseMountinfo', () => {
  it('reads major:minor, mountpoint, type and source, unescaping octal', () => {
    expect(parseMountinfo(MOUNTINFO)).toEqual([
      { majorMinor: '8:1', mountPoint: '/', fsType: 'ext4', source: '/dev/sda1' },
      { majorMinor: '0:39', mountPoint: '/run/tandem/kernel/r0/mnt', fsType: 'fuse', source: '/dev/fuse' },
      { majorMinor: '7:3', mountPoint: '/mnt/with space', fsType: 'ext4', source: '/dev/loop3' },
      { majorMinor: '7:3', mountPoint: '/srv/bind', fsType: 'ext4', source: '/dev/loop3' },
    ]);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      expect(Array.isArray(parseMountinfo(s))).toBe(true);
    }));
  });

  it('unescapes what the kernel escapes (space, tab, newline, backslash)', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      const escaped = s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
      expect(unescapeMountField(escaped)).toBe(s);
    }));
  });
});

describe('describeHolders', () => {
  const rows: Array<[Holder[], string]> = [
    [[], ''],
    [[{ kind: 'mount', mountPoint: '/mnt/x', fsType: 'ext4' }], '(mounted on /mnt/x)'],
    [[{ kind: 'process', pid: 1234, comm: 'mkfs.ext4' }], '(held by mkfs.ext4[1234])'],
    [[{ kind: 'stacked', device: 'dm-0' }], '(used by dm-0)'],
    [[{ kind: 'exclusive' }], '(claimed exclusively by a holder outside this mount namespace)'],
    [[{ kind: 'mount', mountPoint: '/a', fsType: 'ext4' }, { kind: 'process', pid: 7, comm: 'dd' }], '(mounted on /a, held by dd[7])'],
  ];
  it.each(rows)('%j → %s', (holders, text) => {
    expect(describeHolders(holders)).toBe(text);
  });
});

describe('isTransientProber', () => {
  it.each([
    ['systemd-udevd', true], ['(udev-worker)', true], ['blkid', true], ['mkfs.ext4', false], ['sleep', false],
  ] as const)('%s → %s', (comm, want) => {
    expect(isTransientProber({ kind: 'process', pid: 10, comm })).toBe(want);
  });
  it('a mount is never transient', () => {
    expect(isTransientProber({ kind: 'mount', mountPoint: '/x', fsType: 'ext4' })).toBe(false);
  });
});
