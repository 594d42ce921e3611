import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listRecords, parseRecord, recordPath, removeRecord, writeRecord, type KernelDeviceRecord } from '../../../src/nbd/kernel-device-record.js';
import { nbdUnixUri } from '../../../src/nbd/nbdfuse.js';

const fuseRec: KernelDeviceRecord = {
  version: 1, method: 'nbdfuse-loop', resource: 'r0', devicePath: '/dev/tandem0', nbdSocket: '/run/tandem/kernel/r0.sock',
  mountpoint: '/run/tandem/kernel/r0/mnt', file: '/run/tandem/kernel/r0/mnt/disk', nbdfusePid: 4242, loopDevice: '/dev/loop3', symlink: '/dev/tandem0',
};
const ownFuseRec: KernelDeviceRecord = {
  version: 1, method: 'fuse-loop', resource: 'r2', devicePath: '/dev/tandem2',
  mountpoint: '/run/tandem/kernel/r2/mnt', file: '/run/tandem/kernel/r2/mnt/disk', loopDevice: '/dev/loop4', symlink: '/dev/tandem2',
};
const nbdRec: KernelDeviceRecord = {
  version: 1, method: 'nbd-client', resource: 'r1', devicePath: '/dev/drbd1', nbdSocket: '/run/tandem/kernel/r1.sock', nbdDevice: '/dev/nbd0', symlink: null,
};

describe('parseRecord', () => {
  it('round-trips every method', () => {
    for (const r of [ownFuseRec, fuseRec, nbdRec]) expect(parseRecord(JSON.stringify(r), 'f')).toEqual(r);
  });

  it('accepts a record written before the first steps finished', () => {
    const early = { ...fuseRec, nbdfusePid: null, loopDevice: null, symlink: null };
    expect(parseRecord(JSON.stringify(early), 'f')).toEqual(early);
  });

  const bad: Array<[string, unknown, string]> = [
    ['not JSON', '{', 'f: not JSON'],
    ['wrong version', { ...fuseRec, version: 2 }, 'f: unknown record version 2 (expected 1)'],
    ['unknown method', { ...fuseRec, method: 'iscsi' }, `f: unknown method "iscsi" (expected 'fuse-loop', 'nbdfuse-loop' or 'nbd-client')`],
    ['an own FUSE record without its file', { ...ownFuseRec, file: undefined }, "f: field 'file' must be a non-empty string"],
    ['an own FUSE record with a loop field that is not a loop device', { ...ownFuseRec, loopDevice: '/dev/nbd0' }, "f: field 'loopDevice' must look like /dev/loopN, got '/dev/nbd0'"],
    ['relative path', { ...fuseRec, mountpoint: 'mnt' }, "f: field 'mountpoint' must be an absolute path, got 'mnt'"],
    ['a loop field that is not a loop device', { ...fuseRec, loopDevice: '/dev/sda' }, "f: field 'loopDevice' must look like /dev/loopN, got '/dev/sda'"],
    ['pid 1 is never ours', { ...fuseRec, nbdfusePid: 1 }, "f: field 'nbdfusePid' must be a process id or null"],
    ['an nbd field that is not an nbd device', { ...nbdRec, nbdDevice: '/dev/loop0' }, "f: field 'nbdDevice' must look like /dev/nbdN, got '/dev/loop0'"],
    ['missing resource', { ...fuseRec, resource: '' }, "f: field 'resource' must be a non-empty string"],
  ];
  it.each(bad)('refuses %s', (_, value, message) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    expect(() => parseRecord(text, 'f')).toThrow(message);
  });

  it('never throws anything but a clear error on arbitrary JSON', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      try {
        parseRecord(JSON.stringify(v), 'f');
      } catch (err) {
        expect((err as Error).message.startsWith('f: ')).toBe(true);
      }
    }));
  });
});

describe('record files', () => {
  it('writes atomically, lists records and reports damaged ones without touching them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-rec-'));
    try {
      await writeRecord(dir, fuseRec);
      await writeRecord(dir, nbdRec);
      fs.writeFileSync(path.join(dir, 'kernel', 'r9.json'), '{"version":1');
      fs.writeFileSync(path.join(dir, 'kernel', 'r8.json'), JSON.stringify(fuseRec)); // names r0, filed as r8
      const listed = await listRecords(dir);
      expect(listed.filter((l) => l.kind === 'record').map((l) => l.kind === 'record' && l.record)).toEqual([fuseRec, nbdRec]);
      const damaged = listed.filter((l) => l.kind === 'damaged').map((l) => l.file);
      expect(damaged).toEqual([path.join(dir, 'kernel', 'r8.json'), path.join(dir, 'kernel', 'r9.json')]);
      await removeRecord(dir, 'r0');
      expect(fs.existsSync(recordPath(dir, 'r0'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'kernel', 'r9.json'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists nothing when the run dir has no kernel directory', async () => {
    expect(await listRecords(path.join(os.tmpdir(), 'tandem-no-such-dir-x'))).toEqual([]);
  });
});

describe('nbdUnixUri', () => {
  it('names the export and the socket as libnbd expects', () => {
    expect(nbdUnixUri('r0', '/run/tandem/kernel/r0.sock')).toBe('nbd+unix:///r0?socket=/run/tandem/kernel/r0.sock');
    expect(nbdUnixUri('r 0', '/tmp/a b/&x.sock')).toBe('nbd+unix:///r%200?socket=/tmp/a%20b/%26x.sock');
  });
});
