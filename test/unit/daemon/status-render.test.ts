import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  formatFinish,
  formatIoFlags,
  formatProgress,
  groupThousands,
  perMilleDone,
  progressBar,
  renderProcDrbd,
  renderStatusJson,
  renderStatusText,
} from '../../../src/daemon/status-render.js';
import { IDLE_IO_FLAGS, type ResourceStatus, type StatusCounters, type SyncProgress } from '../../../src/daemon/status-types.js';

const zero: StatusCounters = { ns: 0, nr: 0, dw: 0, dr: 0, al: 0, bm: 0, lo: 0, pe: 0, ua: 0, ap: 0, ep: 1, wo: 'f', oos: 0 };

/** KiB for a total that DRBD shows as `mib` M (the bit count is a whole number of 1024-bit groups). */
const mibTotal = (mib: number) => (mib / 4) * 1024 * 4;

function res(over: Partial<ResourceStatus>): ResourceStatus {
  return {
    minor: 0,
    name: 'r0',
    cs: 'Connected',
    role: 'Secondary',
    peerRole: 'Secondary',
    disk: 'UpToDate',
    peerDisk: 'UpToDate',
    protocol: 'C',
    flags: IDLE_IO_FLAGS,
    counters: zero,
    ...over,
  };
}

function sync(leftKiB: number, totalKiB: number, speed: number, avg: number, eta: number, extra: Partial<SyncProgress> = {}): SyncProgress {
  return { percent: perMilleDone(leftKiB, totalKiB) / 10, totalKiB, leftKiB, speedKiBs: speed, avgSpeedKiBs: avg, etaSec: eta, paused: false, ...extra };
}

describe('/proc/drbd golden samples', () => {
  it('DESIGN.md status file example, byte for byte', () => {
    const out = renderProcDrbd('0.1.0', [
      res({
        cs: 'SyncSource',
        role: 'Primary',
        peerRole: 'Secondary',
        disk: 'UpToDate',
        peerDisk: 'Inconsistent',
        counters: { ns: 8563880, nr: 0, dw: 0, dr: 8572696, al: 0, bm: 522, lo: 1, pe: 16, ua: 64, ap: 0, ep: 1, wo: 'f', oos: 69586400 },
        sync: sync(69586400, mibTotal(76316), 11640, 11476, 1 * 3600 + 39 * 60 + 35),
      }),
    ]);
    expect(out).toBe(
      'version: 0.1.0 (api:1/proto:2)\n' +
        ' 0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n' +
        '    ns:8563880 nr:0 dw:0 dr:8572696 al:0 bm:522 lo:1 pe:16 ua:64 ap:0 ep:1 wo:f oos:69586400\n' +
        "\t[=>..................] sync'ed: 11.0% (67952/76316)M\n" +
        '\tfinish: 1:39:35 speed: 11,640 (11,476) K/sec\n',
    );
  });

  it('reference §7.1 sample: SyncTarget with want:, then an unconfigured minor', () => {
    const out = renderProcDrbd('0.1.0', [
      res({
        cs: 'SyncTarget',
        role: 'Secondary',
        peerRole: 'Primary',
        disk: 'Inconsistent',
        peerDisk: 'UpToDate',
        counters: { ...zero, nr: 4462592, dw: 4462592, oos: 69582848 },
        sync: sync(69582848, mibTotal(76316), 11640, 11476, 5975, { wantKiBs: 12000 }),
      }),
      res({ minor: 1, name: 'r1', cs: 'StandAlone', role: 'Secondary', peerRole: 'Unknown', disk: 'Diskless', peerDisk: 'DUnknown', protocol: null }),
    ]);
    expect(out.split('\n').slice(1).join('\n')).toBe(
      ' 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----\n' +
        '    ns:0 nr:4462592 dw:4462592 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:69582848\n' +
        "\t[=>..................] sync'ed: 11.0% (67952/76316)M\n" +
        '\tfinish: 1:39:35 speed: 11,640 (11,476) want: 12,000 K/sec\n' +
        ' 1: cs:Unconfigured\n',
    );
  });

  it('a small device below 5%: K units and DRBD\'s 21-character bar (public 8.4 sample)', () => {
    const out = renderProcDrbd('0.1.0', [
      res({
        minor: 1,
        cs: 'SyncSource',
        role: 'Primary',
        peerDisk: 'Inconsistent',
        counters: { ...zero, ns: 16976, dr: 17616, oos: 802224 },
        sync: sync(802224, 819200, 2828, 2828, 4 * 60 + 39),
      }),
    ]);
    expect(out).toBe(
      'version: 0.1.0 (api:1/proto:2)\n' +
        '\n' + // minor 0 does not exist: DRBD prints one empty line for the gap
        ' 1: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n' +
        '    ns:16976 nr:0 dw:0 dr:17616 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:802224\n' +
        "\t[>....................] sync'ed:  3.0% (802224/819200)K\n" +
        '\tfinish: 0:04:39 speed: 2,828 (2,828) K/sec\n',
    );
  });

  it('public samples of the progress lines (0.5%, 18.6%, 100% stalled)', () => {
    expect(formatProgress('SyncSource', sync(104380216, mibTotal(102400), 11644, 11444, 2 * 3600 + 29 * 60 + 6))).toBe(
      "\t[>....................] sync'ed:  0.5% (101932/102400)M\n\tfinish: 2:29:06 speed: 11,644 (11,444) K/sec\n",
    );
    expect(formatProgress('SyncSource', sync(mibTotal(776076), mibTotal(952288), 40480, 40000, 5 * 3600 + 27 * 60 + 2)).split('\n')[0]).toBe(
      "\t[==>.................] sync'ed: 18.6% (776076/952288)M",
    );
    expect(formatProgress('SyncSource', sync(0, mibTotal(15360), 52956, 71820, 0, { stalled: true }))).toBe(
      "\t[===================>] sync'ed:100.0% (0/15360)M\n\tfinish: 0:00:00 speed: 52,956 (71,820) K/sec (stalled)\n",
    );
  });

  it('verify shows "verified:" and want: on VerifyS only', () => {
    const p = sync(mibTotal(500), mibTotal(1000), 1000, 999, 60, { wantKiBs: 2500 });
    // 1000 MiB is under 4 GiB: K units; DRBD's +1 in the divisor reads 50.2% here
    expect(formatProgress('VerifyS', p)).toContain("\t[=========>..........] verified: 50.2% (512000/1024000)K\n");
    expect(formatProgress('VerifyS', p)).toContain(' want: 2,500 K/sec');
    expect(formatProgress('VerifyT', p)).not.toContain('want:');
  });

  it('no progress lines while paused; flags show who paused', () => {
    const out = renderProcDrbd('0.1.0', [
      res({ cs: 'PausedSyncS', role: 'Primary', peerDisk: 'Inconsistent', flags: { ...IDLE_IO_FLAGS, pausedByUser: true }, sync: sync(100, 200, 0, 0, 0, { paused: true }) }),
    ]);
    expect(out).toBe(
      'version: 0.1.0 (api:1/proto:2)\n' +
        ' 0: cs:PausedSyncS ro:Primary/Secondary ds:UpToDate/Inconsistent C r--u--\n' +
        '    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n',
    );
  });

  it('StandAlone with a disk, no net config: protocol is a space', () => {
    const out = renderProcDrbd('0.1.0', [res({ cs: 'StandAlone', role: 'Primary', peerRole: 'Unknown', peerDisk: 'DUnknown', protocol: null })]);
    expect(out.split('\n')[1]).toBe(' 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----');
  });

  it('minors are sorted; one empty line per gap; wide minors are not truncated', () => {
    const u = (minor: number) => res({ minor, cs: 'StandAlone', disk: 'Diskless', peerRole: 'Unknown', peerDisk: 'DUnknown', protocol: null });
    expect(renderProcDrbd('0.1.0', [u(5), u(0), u(2), u(3), u(100)])).toBe(
      'version: 0.1.0 (api:1/proto:2)\n 0: cs:Unconfigured\n\n 2: cs:Unconfigured\n 3: cs:Unconfigured\n\n 5: cs:Unconfigured\n\n100: cs:Unconfigured\n',
    );
  });

  it('no resources: just the version line', () => {
    expect(renderProcDrbd('0.1.0', [])).toBe('version: 0.1.0 (api:1/proto:2)\n');
  });

  it('bad numbers never crash or print NaN', () => {
    const out = renderProcDrbd('0.1.0', [
      res({ cs: 'SyncTarget', counters: { ...zero, ns: Number.NaN, nr: -5, dw: 1.7 }, sync: sync(Number.NaN, -1, Number.POSITIVE_INFINITY, -3, Number.NaN) }),
    ]);
    expect(out).not.toMatch(/NaN|Infinity|-\d/);
    expect(out).toContain('ns:0 nr:0 dw:1 ');
  });
});

describe('formatting helpers', () => {
  it('thousands grouping like seq_printf_with_thousands_grouping', () => {
    expect([0, 999, 1000, 11640, 999999, 1000000, 1234567, 1000000000].map(groupThousands)).toEqual([
      '0', '999', '1,000', '11,640', '999,999', '1,000,000', '1,234,567', '1000,000,000',
    ]);
  });
  it('finish time: hours are not wrapped', () => {
    expect(formatFinish(0)).toBe('0:00:00');
    expect(formatFinish(59)).toBe('0:00:59');
    expect(formatFinish(100 * 3600 + 61)).toBe('100:01:01');
  });
  it('io flags', () => {
    expect(formatIoFlags(IDLE_IO_FLAGS)).toBe('r-----');
    expect(formatIoFlags({ suspended: ['fencing'], pausedByDependency: true, pausedByPeer: true, pausedByUser: true, blocked: 'backing-and-network', alSuspended: true })).toBe('sapuas');
    expect(formatIoFlags({ ...IDLE_IO_FLAGS, blocked: 'network' })).toBe('r---n-');
    expect(formatIoFlags({ ...IDLE_IO_FLAGS, blocked: 'io-frozen' })).toBe('r---d-');
  });
  it('per-mille: DRBD integer arithmetic, left > total gives 0', () => {
    expect(perMilleDone(0, 0)).toBe(1000);
    expect(perMilleDone(200, 100)).toBe(0);
    expect(perMilleDone(69586400, mibTotal(76316))).toBe(110);
  });
});

describe('progress bar properties', () => {
  it('the bar is `=`* `>` `.`*: 20 wide from 5.0% on, 21 below (x = 0, as DRBD prints it); percent in [0, 100]', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1n << 46n }).chain((total) => fc.tuple(fc.constant(total), fc.bigInt({ min: 0n, max: total }))),
        ([totalKiB, leftKiB]) => {
          const line = formatProgress('SyncTarget', sync(Number(leftKiB), Number(totalKiB), 1, 1, 1)).split('\n')[0]!;
          const m = /^\t\[([=>.]*)\] sync'ed:([ \d]{3}\.\d)% \((\d+)\/(\d+)\)([MK])$/.exec(line);
          expect(m).not.toBeNull();
          const bar = m![1]!;
          const pct = Number(m![2]!.trim());
          expect(pct).toBeGreaterThanOrEqual(0);
          expect(pct).toBeLessThanOrEqual(100);
          expect(bar).toMatch(/^=*>\.*$/);
          expect(bar.length).toBe(pct >= 5 ? 20 : 21);
          // the head sits at the per-mille / 50 position
          expect(Math.max(1, bar.indexOf('>') + 1)).toBe(Math.max(1, Math.floor((pct * 10) / 50)));
          expect(Number(m![3])).toBeLessThanOrEqual(Number(m![4]));
        },
      ),
      { numRuns: 500 },
    );
  });
  it('per-mille is monotone in progress', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (total, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const leftMore = Math.floor((total * (1000 - lo)) / 1000);
        const leftLess = Math.floor((total * (1000 - hi)) / 1000);
        expect(perMilleDone(leftLess, total)).toBeGreaterThanOrEqual(perMilleDone(leftMore, total));
      }),
    );
  });
  it('progressBar clamps out-of-range input', () => {
    expect(progressBar(5000)).toBe('===================>');
    expect(progressBar(-3)).toBe('>....................');
  });
});

describe('tandemadm status (drbdadm status layout)', () => {
  it('reference §7.2 sample: SyncSource with done:', () => {
    const out = renderStatusText([
      res({
        name: 'r0',
        peerName: 'bob',
        cs: 'SyncSource',
        role: 'Primary',
        peerRole: 'Secondary',
        peerDisk: 'Inconsistent',
        sync: sync(54770, 100000, 1, 1, 1),
      }),
    ]);
    expect(out).toBe('r0 role:Primary\n  disk:UpToDate\n  bob role:Secondary\n    replication:SyncSource peer-disk:Inconsistent done:45.23\n\n');
  });
  it('UG84 sample: Connected shows replication:Established; the connection is named "peer" without a peer name', () => {
    expect(renderStatusText([res({ name: 'home' })])).toBe(
      'home role:Secondary\n  disk:UpToDate\n  peer role:Secondary\n    replication:Established peer-disk:UpToDate\n\n',
    );
  });
  it('not connected: connection state instead of the peer role; WFConnection reads Connecting', () => {
    expect(renderStatusText([res({ name: 'r0', peerName: 'bob', cs: 'WFConnection', role: 'Primary', peerRole: 'Unknown', peerDisk: 'DUnknown' })])).toBe(
      'r0 role:Primary\n  disk:UpToDate\n  bob connection:Connecting\n\n',
    );
    expect(renderStatusText([res({ name: 'r0', cs: 'StandAlone', peerRole: 'Unknown', peerDisk: 'DUnknown' })])).toContain('  peer connection:StandAlone\n');
  });
  it('suspension and paused resync are spelled out', () => {
    const out = renderStatusText([
      res({
        name: 'r0',
        cs: 'PausedSyncT',
        disk: 'Inconsistent',
        flags: { ...IDLE_IO_FLAGS, suspended: ['fencing', 'user'], pausedByUser: true, pausedByDependency: true },
        sync: sync(750, 1000, 0, 0, 0, { paused: true }),
      }),
    ]);
    expect(out).toBe(
      'r0 role:Secondary suspended:user,fencing\n  disk:Inconsistent\n  peer role:Secondary\n' +
        '    replication:PausedSyncT peer-disk:UpToDate done:25.00 resync-suspended:user,dependency\n\n',
    );
  });
  it('several resources, one block each', () => {
    expect(renderStatusText([res({ name: 'a' }), res({ name: 'b', minor: 1 })]).split('\n\n')).toHaveLength(3);
  });
});

describe('status --json', () => {
  it('is the snapshot objects as they are', () => {
    const r = [res({ name: 'r0', sync: sync(1, 2, 3, 4, 5) })];
    expect(JSON.parse(renderStatusJson(r))).toEqual(r);
  });
});
