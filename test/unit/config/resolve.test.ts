// Valid snippets → resolved values: DRBD 8.4 defaults, unit conversions (rates in KiB/s,
// times in seconds or tenths, fill target in sectors), 8.3 ≡ 8.4 spellings, common inheritance.
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveResource, type ResolvedResource } from '../../../src/config/index.js';
import { parse, res } from './helpers.js';

const resolve = (text: string, node = 'alice'): ResolvedResource => resolveResource(parse(text), 'r0', node);
const MiB = 1024 * 1024;

describe('DRBD 8.4 defaults (reference §8.3, drbd_limits.h)', () => {
  const r = resolve(res(''));
  it.each([
    ['protocol', r.protocol, 'C'],
    ['ping-int 10 s', r.net.pingIntSec, 10],
    ['ping-timeout 5 tenths', r.net.pingTimeoutMs, 500],
    ['connect-int 10 s', r.net.connectIntSec, 10],
    ['timeout 60 tenths', r.net.timeoutMs, 6000],
    ['after-sb-0pri', r.net.afterSb0pri, 'disconnect'],
    ['after-sb-1pri', r.net.afterSb1pri, 'disconnect'],
    ['after-sb-2pri', r.net.afterSb2pri, 'disconnect'],
    ['rr-conflict', r.net.rrConflict, 'disconnect'],
    ['max-buffers', r.net.maxBuffers, 2048],
    ['max-epoch-size', r.net.maxEpochSize, 2048],
    ['ko-count (8.4: 7)', r.net.koCount, 7],
    ['allow-two-primaries', r.net.allowTwoPrimaries, false],
    ['on-io-error (8.4: detach)', r.disk.onIoError, 'detach'],
    ['fencing', r.disk.fencing, 'dont-care'],
    ['resync-rate 250 KiB/s', r.disk.resyncRateBytesPerSec, 250 * 1024],
    ['al-extents (8.4: 1237)', r.disk.alExtents, 1237],
    ['c-plan-ahead (8.4: 20 tenths)', r.disk.cPlanAheadMs, 2000],
    ['c-delay-target 10 tenths', r.disk.cDelayTargetMs, 1000],
    ['c-fill-target 100 sectors', r.disk.cFillTargetBytes, 100 * 512],
    ['c-max-rate 102400 KiB/s', r.disk.cMaxRateBytesPerSec, 100 * MiB],
    ['c-min-rate 250 KiB/s', r.disk.cMinRateBytesPerSec, 250 * 1024],
    ['disk-flushes', r.disk.diskFlushes, true],
    ['disk-barrier', r.disk.diskBarrier, false],
    ['size (whole device)', r.disk.sizeBytes, 0],
  ])('%s', (_n, actual, expected) => expect(actual).toBe(expected));
  it('has no authentication, checksums or handlers unless configured', () => {
    expect(r.net.cramHmacAlg).toBeUndefined();
    expect(r.net.sharedSecret).toBeUndefined();
    expect(r.disk.csumsAlg).toBeUndefined();
    expect(r.disk.verifyAlg).toBeUndefined();
    expect(r.handlers).toEqual({});
    expect(r.startup['wfc-timeout']).toEqual({ kind: 'number', value: 0, text: '0' });
    expect(r.unsupported).toEqual([]);
  });
});

describe('units and spellings', () => {
  it.each([
    ['8.3 syncer rate 30M', 'syncer { rate 30M; }', 30 * MiB],
    ['8.4 resync-rate 30M', 'disk { resync-rate 30M; }', 30 * MiB],
    ['resync-rate 100M', 'disk { resync-rate 100M; }', 100 * MiB],
    ['bare number is KiB/s', 'disk { resync-rate 500; }', 500 * 1024],
    ['K suffix', 'disk { resync-rate 500K; }', 500 * 1024],
    ['G suffix', 'disk { resync-rate 1G; }', 1024 * MiB],
    ['s suffix (sectors) rounds up to whole KiB', 'disk { resync-rate 3s; }', 2 * 1024],
    ['8.3 rate inside disk (drbdadm-84 alias)', 'disk { rate 40M; }', 40 * MiB],
  ])('%s', (_n, body, bytesPerSec) => {
    expect(resolve(res(`  ${body}\n`)).disk.resyncRateBytesPerSec).toBe(bytesPerSec);
  });

  it('8.3 and 8.4 spellings resolve identically', () => {
    const v83 = resolve(
      res('  protocol B;\n  syncer { rate 33M; al-extents 257; verify-alg sha1; csums-alg md5; c-plan-ahead 0; after r1; }\n  disk { no-disk-barrier; no-disk-flushes; no-md-flushes; }\n'),
    );
    const v84 = resolve(
      res('  net { protocol B; verify-alg sha1; csums-alg md5; }\n  disk { resync-rate 33M; al-extents 257; c-plan-ahead 0; resync-after r1; disk-barrier no; disk-flushes no; md-flushes no; }\n'),
    );
    // Equal apart from where the (unsupported) resync-after was written.
    const opts = (r: ResolvedResource) => ({ ...r, unsupported: r.unsupported.map((u) => u.option) });
    expect(opts(v83)).toEqual(opts(v84));
    expect(v84.protocol).toBe('B');
    expect(v84.disk).toMatchObject({ resyncRateBytesPerSec: 33 * MiB, alExtents: 257, verifyAlg: 'sha1', csumsAlg: 'md5', cPlanAheadMs: 0, diskFlushes: false, mdFlushes: false });
  });

  it.each([
    ['timeout 50 → 5 s', 'net { timeout 50; }', (r: ResolvedResource) => r.net.timeoutMs, 5000],
    ['ping-timeout 50 → 5 s', 'net { ping-timeout 50; }', (r: ResolvedResource) => r.net.pingTimeoutMs, 5000],
    ['ping-int 5 s', 'net { ping-int 5; }', (r: ResolvedResource) => r.net.pingIntSec, 5],
    ['c-fill-target 16M (sectors option)', 'disk { c-fill-target 16M; }', (r: ResolvedResource) => r.disk.cFillTargetBytes, 16 * MiB],
    ['c-fill-target 100 = 100 sectors', 'disk { c-fill-target 100; }', (r: ResolvedResource) => r.disk.cFillTargetBytes, 51200],
    ['sndbuf-size 512k (bytes option)', 'net { sndbuf-size 512k; }', (r: ResolvedResource) => r.net.sndbufSizeBytes, 512 * 1024],
    ['sndbuf-size 1000 = bytes', 'net { sndbuf-size 1000; }', (r: ResolvedResource) => r.net.sndbufSizeBytes, 1000],
    ['max-buffers 8K = 8192 buffers', 'net { max-buffers 8K; }', (r: ResolvedResource) => r.net.maxBuffers, 8192],
    ['size 10G', 'disk { size 10G; }', (r: ResolvedResource) => r.disk.sizeBytes, 10 * 1024 * MiB],
    ['c-plan-ahead 0 = fixed rate', 'disk { c-plan-ahead 0; }', (r: ResolvedResource) => r.disk.cPlanAheadMs, 0],
    ['8.4 resync-rate: the controller stays on (8.4 default)', 'disk { resync-rate 30M; }', (r: ResolvedResource) => r.disk.cPlanAheadMs, 2000],
    ["8.3 syncer rate: c-plan-ahead defaults to 8.3's 0 (fixed rate)", 'syncer { rate 30M; }', (r: ResolvedResource) => r.disk.cPlanAheadMs, 0],
    ['8.3 syncer rate with c-plan-ahead given', 'syncer { rate 30M; c-plan-ahead 30; }', (r: ResolvedResource) => r.disk.cPlanAheadMs, 3000],
    ['c-fill-target 1M in bytes', 'disk { c-fill-target 1M; }', (r: ResolvedResource) => r.disk.cFillTargetBytes, MiB],
    ['c-max-rate 200M', 'disk { c-max-rate 200M; }', (r: ResolvedResource) => r.disk.cMaxRateBytesPerSec, 200 * MiB],
    ['8.3 protocol at resource level', 'protocol A;', (r: ResolvedResource) => r.protocol, 'A'],
    ['lower-case protocol', 'net { protocol b; }', (r: ResolvedResource) => r.protocol, 'B'],
    ['flag without value = yes', 'net { allow-two-primaries; }', (r: ResolvedResource) => r.net.allowTwoPrimaries, true],
    ['discard-node-NAME', 'net { after-sb-0pri discard-node-bob; }', (r: ResolvedResource) => r.net.afterSb0pri, 'discard-node-bob'],
    ['outdate-peer is fence-peer', 'handlers { outdate-peer "/bin/x"; }', (r: ResolvedResource) => r.handlers['fence-peer'], '/bin/x'],
    ['DRBD 9 net fencing', 'net { fencing resource-only; }', (r: ResolvedResource) => r.disk.fencing, 'resource-only'],
    ['duplicate: last wins', 'net { ko-count 4; ko-count 5; }', (r: ResolvedResource) => r.net.koCount, 5],
  ])('%s', (_n, body, pick, expected) => {
    expect(pick(resolve(res(`  ${body}\n`)))).toBe(expected);
  });
});

describe('common inheritance and hosts', () => {
  const text = `global { usage-count no; }
common {
  protocol A;
  net { cram-hmac-alg sha1; shared-secret "s3cret"; after-sb-0pri discard-zero-changes; }
  disk { on-io-error pass_on; resync-rate 10M; }
  handlers { split-brain "/usr/lib/drbd/notify-split-brain.sh root"; }
  startup { wfc-timeout 15; }
}
resource r0 {
  net { protocol C; }
  disk { resync-rate 20M; }
  device /dev/drbd3;
  meta-disk /dev/md [2];
  on alice { disk /dev/sdb1; address 10.0.0.1:7789; }
  on bob { disk /dev/sdc1; address ipv6 [fd00::2]:7790; meta-disk internal; }
}
`;
  it('resource settings override common, the rest is inherited', () => {
    const r = resolve(text);
    expect(r.protocol).toBe('C');
    expect(r.disk.resyncRateBytesPerSec).toBe(20 * MiB);
    expect(r.disk.onIoError).toBe('pass_on');
    expect(r.net).toMatchObject({ cramHmacAlg: 'sha1', sharedSecret: 's3cret', afterSb0pri: 'discard-zero-changes' });
    expect(r.handlers).toEqual({ 'split-brain': '/usr/lib/drbd/notify-split-brain.sh root' });
    expect(r.startup['wfc-timeout']).toMatchObject({ value: 15 });
  });
  it('self and peer, with resource-level device/meta-disk inherited', () => {
    const a = resolve(text, 'alice');
    expect(a.self).toEqual({
      name: 'alice',
      device: '/dev/drbd3',
      minor: 3,
      disk: '/dev/sdb1',
      address: { family: 'ipv4', host: '10.0.0.1', port: 7789 },
      metaDisk: { kind: 'external', path: '/dev/md', index: 2 },
    });
    expect(a.peer).toMatchObject({ name: 'bob', address: { family: 'ipv6', host: 'fd00::2', port: 7790 }, metaDisk: { kind: 'internal' } });
    const b = resolve(text, 'bob');
    expect([b.self.name, b.peer.name]).toEqual(['bob', 'alice']);
  });
  it.each([
    ['device minor N', 'device minor 7;', { device: '/dev/drbd7', minor: 7 }],
    ['free-form device path', 'device /dev/tandem/r0-12;', { device: '/dev/tandem/r0-12', minor: 12 }],
    ['path with explicit minor', 'device "/dev/drbd_fancy" minor 5;', { device: '/dev/drbd_fancy', minor: 5 }],
    ['flexible external meta-disk', 'meta-disk /dev/md1;', { metaDisk: { kind: 'flexible', path: '/dev/md1' } }],
    ['flexible-meta-disk', 'flexible-meta-disk /dev/md1;', { metaDisk: { kind: 'flexible', path: '/dev/md1' } }],
    ['index with a space', 'meta-disk /dev/md1 [7];', { metaDisk: { kind: 'external', path: '/dev/md1', index: 7 } }],
    ['quoted internal', 'meta-disk "internal";', { metaDisk: { kind: 'internal' } }],
  ])('%s', (_n, stmt, expected) => {
    const text2 = `resource r0 {\n  on alice { ${stmt} ${stmt.startsWith('device') ? '' : 'device /dev/drbd0;'} disk /dev/sdb; address 10.0.0.1:7789; ${stmt.includes('meta-disk') ? '' : 'meta-disk internal;'} }\n  on bob { device /dev/drbd9; disk /dev/sdb; address 10.0.0.2:7789; meta-disk internal; }\n}\n`;
    expect(resolve(text2).self).toMatchObject(expected);
  });
});

describe('resolve refusals', () => {
  it('unknown resource lists the defined ones', () => {
    expect(() => resolveResource(parse(res('')), 'r9', 'alice')).toThrow("unknown resource 'r9' (defined: r0)");
  });
  it('no on section for this node lists the hosts', () => {
    const e = (() => {
      try {
        resolve(res(''), 'carol');
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe("t.conf:1:1: resource r0 has no 'on carol' section (its hosts: alice, bob)");
  });
  it('exactly one peer is required', () => {
    const three = res('  on carol { device /dev/drbd0; disk /dev/sdb; address 10.0.0.3:7789; meta-disk internal; }\n');
    expect(() => resolve(three)).toThrow(/needs exactly one peer: Tandem wants two 'on' sections, this one has 3 \(carol, alice, bob\)/);
  });
  it('discard-node-NAME must name a host', () => {
    expect(() => resolve(res('  net { after-sb-0pri discard-node-carol; }\n'))).toThrow(/t\.conf:2:9: after-sb-0pri discard-node-carol: 'carol' is not a host of resource r0/);
  });
  it('cram-hmac-alg without shared-secret is refused at its position (DRBD would use an empty key)', () => {
    expect(() => resolve(res('  net { cram-hmac-alg sha1; }\n'))).toThrow(/^t\.conf:2:9: cram-hmac-alg sha1 without a shared-secret: peer authentication would use an empty secret/);
    expect(() => resolve(res('  net { cram-hmac-alg sha1; shared-secret ""; }\n'))).toThrow(/cram-hmac-alg sha1 without a shared-secret/);
    // the secret may come from common, as DRBD inherits it
    const cfg = parse(`common { net { shared-secret "s3cret"; } }\n${res('  net { cram-hmac-alg sha256; }\n')}`);
    expect(resolveResource(cfg, 'r0', 'alice').net).toMatchObject({ cramHmacAlg: 'sha256', sharedSecret: 's3cret' });
  });
  it('verify-alg must be a digest Tandem can compute', () => {
    expect(resolve(res('  net { verify-alg sha256; }\n')).disk.verifyAlg).toBe('sha256');
    expect(() => resolve(res('  net { verify-alg crct10dif; }\n'))).toThrow(/^t\.conf:2:9: verify-alg 'crct10dif' is not a digest Tandem can compute \(crc32c, or a hash/);
  });
  it('csums-alg must be a digest Tandem can compute, and is not a warning', () => {
    expect(resolve(res('  net { csums-alg md5; }\n')).disk.csumsAlg).toBe('md5');
    expect(parse(res('  net { csums-alg md5; }\n')).warnings).toEqual([]);
    expect(() => resolve(res('  net { csums-alg crct10dif; }\n'))).toThrow(/^t\.conf:2:9: csums-alg 'crct10dif' is not a digest Tandem can compute/);
  });
  it('volumes are named when they hold the device', () => {
    const text = 'resource r0 {\n  volume 0 { device /dev/drbd1; disk /dev/sdb; meta-disk internal; }\n  on alice { address 10.0.0.1:7789; }\n  on bob { address 10.0.0.2:7789; }\n}\n';
    expect(() => resolve(text)).toThrow(/no device, disk, meta-disk \(it is given in 'volume' sections, which Tandem does not implement\)/);
  });
});

describe('options Tandem does not implement', () => {
  it.each([
    ['allow-two-primaries yes', 'net { allow-two-primaries yes; }', ['allow-two-primaries']],
    ['allow-two-primaries no is what Tandem does', 'net { allow-two-primaries no; }', []],
    ['on-congestion pull-ahead', 'net { on-congestion pull-ahead; }', ['on-congestion']],
    ['on-congestion block', 'net { on-congestion block; }', []],
    ['data-integrity-alg', 'net { data-integrity-alg md5; }', ['data-integrity-alg']],
    ['resync-after', 'disk { resync-after r1; }', ['resync-after']],
    ['volume', 'volume 0 { device /dev/drbd1; disk /dev/sdb; meta-disk internal; }', ['volume']],
    ['proxy', 'proxy { memlimit 500M; plugin { lzma contexts 4 level 9; } }', ['proxy']],
    ['stacked-on-top-of', 'stacked-on-top-of r1 { device /dev/drbd10; address 127.0.0.1:1230; }', ['stacked-on-top-of']],
    ['floating', 'floating 10.0.0.9:7789 { device /dev/drbd5; disk /dev/sdd; meta-disk internal; }', ['floating']],
    ['become-primary-on', 'startup { become-primary-on both; }', ['become-primary-on']],
    ['tuning knobs are fine', 'net { use-rle yes; sndbuf-size 0; max-epoch-size 8000; no-tcp-cork; } disk { md-flushes no; }', []],
  ])('%s', (_n, body, options) => {
    const cfg = parse(res(`  ${body}\n`));
    expect(cfg.resources[0]!.unsupported.map((u) => u.option)).toEqual(options);
    expect(cfg.warnings.filter((w) => /not implemented by Tandem/.test(w.message)).length).toBe(options.length);
    for (const u of cfg.resources[0]!.unsupported) expect(u).toMatchObject({ file: 't.conf', line: 2 });
  });
  it('an unsupported option in common is charged to every resource that inherits it', () => {
    const cfg = parse(`common { net { allow-two-primaries; } }\n${res('')}resource r1 {\n  net { allow-two-primaries no; }\n  on alice { device /dev/drbd1; disk /dev/sdc; address 10.0.0.1:7790; meta-disk internal; }\n  on bob { device /dev/drbd1; disk /dev/sdc; address 10.0.0.2:7790; meta-disk internal; }\n}\n`);
    expect(cfg.resources.map((r) => r.unsupported.map((u) => `${u.option}@${u.line}`))).toEqual([['allow-two-primaries@1'], []]);
    expect(resolveResource(cfg, 'r0', 'alice').unsupported).toEqual([{ option: 'allow-two-primaries', file: 't.conf', line: 1, col: 16 }]);
  });
});
