// Every real-world heartbeat file of the shared corpus parses, or is refused with a message that
// names what Tandem does not support. The corpus is read in place, never copied.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAuthkeys, parseHaCf, parseHaresources, type HaParseResult } from '../../../src/config/heartbeat/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const corpus = path.resolve(repoRoot, '../shared/corpus/heartbeat');

/** files Tandem refuses, and what each refusal must name */
const REFUSED: Record<string, RegExp[]> = {
  '004-7layer.org.ha.cf': [/'crm yes'.*CRM\/Pacemaker/, /'autojoin any'/],
  '017-vagrant-pacemaker.ha.cf': [/'pacemaker on'.*haresources \(v1\)/],
};

function parse(name: string, text: string): HaParseResult<unknown> {
  if (name.endsWith('.ha.cf')) return parseHaCf(text, { file: name });
  if (name.endsWith('.authkeys')) return parseAuthkeys(text, { file: name });
  if (name.endsWith('.haresources')) return parseHaresources(text, { file: name });
  throw new Error(`unknown corpus file kind: ${name}`);
}

// ../shared/corpus sits beside the clone in CI and here; a clone elsewhere has no corpus to walk
const present = existsSync(corpus);
if (!present) console.warn(`heartbeat corpus tests skipped: ${corpus} is absent (../shared is not beside this clone)`);
const files = present ? readdirSync(corpus).sort() : [];

describe.skipIf(!present)('heartbeat corpus', () => {
  it('holds all three kinds of file', () => {
    for (const kind of ['.ha.cf', '.authkeys', '.haresources']) expect(files.filter((f) => f.endsWith(kind)).length).toBeGreaterThan(2);
  });

  it.each(files)('%s parses or is refused with a reason', (name) => {
    const result = parse(name, readFileSync(path.join(corpus, name), 'utf8'));
    const refused = REFUSED[name];
    if (refused) {
      expect(result.ok).toBe(false);
      if (result.ok) return;
      const messages = result.errors.map((e) => e.message);
      for (const re of refused) expect(messages.some((m) => re.test(m)), `${messages.join('\n')} should match ${re}`).toBe(true);
      for (const m of messages) expect(m.startsWith(`${name}:`)).toBe(true);
    } else {
      expect(result.ok ? [] : result.errors.map((e) => e.message)).toEqual([]);
    }
  });

  const load = <T>(r: HaParseResult<T>): T => { if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n')); return r.value; };
  const read = (n: string) => readFileSync(path.join(corpus, n), 'utf8');

  it('reads the values people wrote', () => {
    const linux = load(parseHaCf(read('026-linux.ha.cf')));
    expect(linux.nodes).toEqual(['host41', 'host42']);
    expect(linux.udpport).toBe(6942);
    expect(linux.media).toEqual([{ kind: 'ucast', iface: 'eth1', peer: '172.16.12.42', port: 6942, line: expect.any(Number) }]);
    expect(linux.pingGroups).toEqual([{ name: 'group1', hosts: ['172.16.12.1'] }]);
    expect([linux.keepaliveMs, linux.deadtimeMs, linux.warntimeMs, linux.initdeadMs]).toEqual([2000, 30000, 5000, 120000]);

    const dist = load(parseHaCf(read('008-Distribuidas.ha.cf')));
    expect(dist.nodes).toEqual(['server1', 'server2']);
    expect(dist.initdeadMs).toBe(12000); // deadtime < 6 s: heartbeat's 12 s
    expect(dist.autoFailback).toBe('legacy');

    // nice_failback after auto_failback on: heartbeat turns it into auto_failback off
    const layer = parseHaCf(read('005-7layer.org.ha.cf'));
    expect(load(layer).autoFailback).toBe('off');
    expect(layer.warnings.some((w) => /nice_failback is obsolete/.test(w.message))).toBe(true);

    const crc = load(parseAuthkeys(read('016-asterrisk-project.authkeys')));
    expect(crc.active).toEqual({ index: 2, method: 'crc', secret: '' });
    expect(crc.keys.map((k) => k.index)).toEqual([3, 2]);

    const mysql = load(parseHaresources(read('022-coscup2015-mysql-hands-on.haresources')));
    const [g] = mysql.groups;
    expect(g!.node).toBe('db-drbd-1');
    expect(g!.resources.map((r) => r.kind)).toEqual(['script', 'tandemdisk', 'filesystem', 'script', 'ipaddr']);
    expect(g!.resources[2]).toMatchObject({ device: '/dev/drbd0', directory: '/srv', fstype: 'ext4', options: 'noatime,nodiratime' });
    expect(g!.resources[4]).toMatchObject({ name: 'IPaddr', ip: '192.168.50.103', text: '192.168.50.103' });

    const samba = load(parseHaresources(read('030-drbd-heartbeat.haresources')));
    expect(samba.groups[0]!.resources[1]).toMatchObject({ kind: 'tandemdisk', agent: 'drbddisk', resource: null });
    expect(samba.groups[0]!.resources[3]).toMatchObject({ kind: 'script', name: 'Delay', args: ['10', '0'] });

    const alias = load(parseHaresources(read('006-7layer.org.haresources')));
    expect(alias.groups[0]!.resources[0]).toMatchObject({ ip: '85.13.220.237', cidr: 29, iface: 'eth0', label: '1' });

    const two = load(parseHaresources(read('024-config.haresources')));
    expect(two.groups.map((x) => [x.node, x.key])).toEqual([['lin-node-01', 'IPaddr::172.16.1.200/24/eth0:1'], ['lin-node-01', 'drbddisk::lin-mirror']]);
  });
});
