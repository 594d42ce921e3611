// Filesystem, tandemdisk/drbddisk and resource scripts: the commands they run, how they read
// status, and their retry rules (busy umount → fuser -km; peer still Primary → wait).
import { describe, expect, it } from 'vitest';
import { parseHaresources, unwrap, type HaResource } from '../../../src/config/heartbeat/index.js';
import { FilesystemAgent } from '../../../src/cluster/agents/filesystem.js';
import { mountArgv, mountsAt, parseMountinfo } from '../../../src/cluster/agents/mountinfo.js';
import { judgeStatusText, locateScript, ScriptAgent } from '../../../src/cluster/agents/script.js';
import { roleHeld, tandemAdmArgv, TandemDiskAgent } from '../../../src/cluster/agents/tandemdisk.js';
import { FakeSystem } from './agent-helpers.js';

function res<K extends HaResource['kind']>(text: string, kind: K): Extract<HaResource, { kind: K }> {
  const r = unwrap(parseHaresources(`node1 ${text}\n`)).groups[0]!.resources[0]!;
  if (r.kind !== kind) throw new Error(`not ${kind}`);
  return r as Extract<HaResource, { kind: K }>;
}

const MOUNTINFO_EMPTY = '22 27 0:21 / /proc rw,relatime - proc proc rw\n';
const MOUNTED = MOUNTINFO_EMPTY + '90 27 7:3 / /srv/data rw,relatime shared:40 - ext4 /dev/loop3 rw\n';
const ESCAPED = '91 27 7:4 / /srv/my\\040data rw,relatime shared:41 - ext4 /dev/loop4 rw\n';

describe('mountinfo', () => {
  it('parses mount points with octal escapes, optional fields and the source after the dash', () => {
    const m = parseMountinfo(MOUNTED + ESCAPED + 'bad line\n');
    expect(m).toHaveLength(3);
    expect(m[2]).toEqual({ root: '/', mountPoint: '/srv/my data', options: 'rw,relatime', fstype: 'ext4', source: '/dev/loop4' });
    expect(mountsAt(m, '/srv/my data/')).toHaveLength(1);
    expect(mountsAt(m, '/srv')).toHaveLength(0);
  });

  it.each([
    [['/dev/drbd0', '/cluster/drbd0', 'ext4', 'defaults'], 'mount -t ext4 -o defaults /dev/drbd0 /cluster/drbd0'],
    [['/dev/sdb1', '/data/', null, null], 'mount /dev/sdb1 /data'],
    [['-Lwebdata', '/data', 'xfs', null], 'mount -t xfs LABEL=webdata /data'],
    [['-U0a1b-22', '/data', null, 'noatime,ro'], 'mount -o noatime,ro UUID=0a1b-22 /data'],
  ] as const)('mount argv for %j', ([dev, dir, type, opts], want) => {
    expect(mountArgv(dev, dir, type, opts).join(' ')).toBe(want);
  });
});

describe('FilesystemAgent', () => {
  const fsRes = () => res('Filesystem::/dev/loop3::/srv/data::ext4::noatime', 'filesystem');

  it('start creates the mount point, mounts with type and options, and checks mountinfo', async () => {
    const sys = new FakeSystem();
    sys.files.set('/proc/self/mountinfo', MOUNTINFO_EMPTY);
    sys.on('mount', () => { sys.files.set('/proc/self/mountinfo', MOUNTED); return { code: 0 }; });
    const a = new FilesystemAgent(fsRes(), sys.ctx());
    expect((await a.status()).state).toBe('stopped');
    expect((await a.start()).ok).toBe(true);
    expect(sys.dirs).toEqual(['/srv/data']);
    expect(sys.calls).toEqual([['mount', '-t', 'ext4', '-o', 'noatime', '/dev/loop3', '/srv/data']]);
    expect((await a.status()).state).toBe('running');
    expect((await a.start()).ok).toBe(true); // already mounted: nothing run
    expect(sys.calls).toHaveLength(1);
  });

  it('a mount that exits 0 but leaves nothing mounted is a failure', async () => {
    const sys = new FakeSystem();
    sys.files.set('/proc/self/mountinfo', MOUNTINFO_EMPTY);
    const r = await new FilesystemAgent(fsRes(), sys.ctx()).start();
    expect(r.ok).toBe(false);
    expect(r.message).toContain('is not in /proc/self/mountinfo');
  });

  it('stop: a busy umount is retried, then the holders are killed with fuser -km, then umount succeeds', async () => {
    const sys = new FakeSystem();
    sys.files.set('/proc/self/mountinfo', MOUNTED);
    let killed = false;
    sys.on('umount', () => {
      if (!killed) return { code: 32, stderr: 'umount: /srv/data: target is busy.' };
      sys.files.set('/proc/self/mountinfo', MOUNTINFO_EMPTY);
      return { code: 0 };
    });
    sys.on('/usr/bin/fuser -km', () => { killed = true; return { code: 0 }; });
    const r = await new FilesystemAgent(fsRes(), sys.ctx(), { killAfterMs: 2000 }).stop();
    expect(r.ok).toBe(true);
    const lines = sys.commandLines();
    const fuserAt = lines.indexOf('/usr/bin/fuser -km /srv/data');
    expect(fuserAt).toBeGreaterThan(1); // some plain retries first
    expect(lines.slice(0, fuserAt).every((l) => l === 'umount /srv/data')).toBe(true);
    expect(lines[lines.length - 1]).toBe('umount /srv/data');
    expect(sys.now).toBeGreaterThanOrEqual(2000);
  });

  it('stop fails at the stop timeout when the file system stays busy; stop of an unmounted one succeeds', async () => {
    const sys = new FakeSystem();
    sys.files.set('/proc/self/mountinfo', MOUNTED);
    sys.on('umount', { code: 32, stderr: 'target is busy' });
    const r = await new FilesystemAgent(fsRes(), sys.ctx({ start: 1000, stop: 4000, status: 1000 })).stop();
    expect(r.ok).toBe(false);
    expect(r.message).toContain('failed until the stop timeout');
    const idle = new FakeSystem();
    idle.files.set('/proc/self/mountinfo', MOUNTINFO_EMPTY);
    expect((await new FilesystemAgent(fsRes(), idle.ctx()).stop()).ok).toBe(true);
    expect(idle.calls).toEqual([]);
  });
});

describe('TandemDiskAgent', () => {
  const adm = { command: ['tandemadm'], node: 'node1', config: '/etc/tandem/tandem.conf', runDir: null };

  it('passes --node, --config and --run-dir (when set) before the command', () => {
    expect(tandemAdmArgv(adm, 'primary', 'r0').join(' ')).toBe('tandemadm --node node1 --config /etc/tandem/tandem.conf primary r0');
    expect(tandemAdmArgv({ ...adm, config: null, runDir: '/run/x' }, 'role', 'all').join(' ')).toBe('tandemadm --node node1 --run-dir /run/x role all');
  });

  it.each([
    ['Primary/Secondary\n', true],
    ['Primary/Unknown\nPrimary/Secondary\n', true],
    ['Secondary/Primary\n', false],
    ['Primary/Secondary\nSecondary/Secondary\n', false],
    ['', false],
  ])('role %j held: %s', (out, held) => {
    expect(roleHeld(out)).toBe(held);
  });

  it('start waits while the peer is still Primary (exit 11 "Multiple primaries"), then promotes', async () => {
    const sys = new FakeSystem();
    let tries = 0;
    sys.on('tandemadm', (argv) => {
      if (argv.includes('primary') && ++tries < 4) return { code: 11, stderr: '0: State change failed: (-1) Multiple primaries not allowed by config' };
      return { code: 0 };
    });
    const a = new TandemDiskAgent(res('drbddisk::r0', 'tandemdisk'), sys.ctx(), adm);
    expect(a.agent).toBe('drbddisk');
    expect((await a.start()).ok).toBe(true);
    expect(tries).toBe(4);
    expect(sys.now).toBe(3000);
    expect(sys.logs.some((l) => l.includes('still Primary'))).toBe(true);
  });

  it('start gives up at the start timeout if the peer never steps down, and after 6 tries on other errors', async () => {
    const sys = new FakeSystem().on('tandemadm', { code: 11, stderr: 'Multiple primaries not allowed by config' });
    const r = await new TandemDiskAgent(res('tandemdisk::r0', 'tandemdisk'), sys.ctx({ start: 5000, stop: 1000, status: 1000 }), adm).start();
    expect(r.ok).toBe(false);
    expect(r.message).toContain('did not succeed before the start timeout');
    const other = new FakeSystem().on('tandemadm', { code: 17, stderr: 'Need access to UpToDate data' });
    const r2 = await new TandemDiskAgent(res('tandemdisk::r0', 'tandemdisk'), other.ctx(), adm).start();
    expect(r2).toMatchObject({ ok: false, rc: 17 });
    expect(other.calls).toHaveLength(6);
  });

  it('stop demotes (3 tries), treats a stopped tandemd as Secondary; status reads the role', async () => {
    const sys = new FakeSystem().on('tandemadm', (argv) => (argv.includes('role') ? { stdout: 'Primary/Secondary\n' } : { code: 0 }));
    const a = new TandemDiskAgent(res('drbddisk', 'tandemdisk'), sys.ctx(), adm);
    expect(await a.status()).toEqual({ state: 'running', detail: 'running (Primary/Secondary)' });
    expect((await a.stop()).ok).toBe(true);
    expect(sys.commandLines()[1]).toBe('tandemadm --node node1 --config /etc/tandem/tandem.conf secondary all');
    const down = new FakeSystem().on('tandemadm', { code: 20, stderr: 'tandemd is not running (no control socket at /run/tandem/tandemd.sock)' });
    expect((await new TandemDiskAgent(res('drbddisk::r0', 'tandemdisk'), down.ctx(), adm).stop()).ok).toBe(true);
    const stuck = new FakeSystem().on('tandemadm', { code: 11, stderr: 'Device is held open by someone' });
    const r = await new TandemDiskAgent(res('drbddisk::r0', 'tandemdisk'), stuck.ctx(), adm).stop();
    expect(r.ok).toBe(false);
    expect(stuck.calls).toHaveLength(3);
  });
});

describe('resource scripts', () => {
  it.each([
    ['httpd (pid 1234) is running...', 'running'],
    ['Status: OK', 'running'],
    ['httpd is not running', 'stopped'],
    ['NOT   Running', 'stopped'],
    ['Stopped', 'stopped'],
    ['', 'stopped'],
    ['running (Primary)', 'running'],
  ] as const)('status text %j means %s (the exit code does not matter)', (text, state) => {
    expect(judgeStatusText(text)).toBe(state);
  });

  it('looks in <ha-dir>/resource.d first, then the init script directories', () => {
    const present = new Set(['/etc/init.d/httpd', '/ha/resource.d/mine', '/etc/init.d/mine']);
    const isExec = (p: string) => present.has(p);
    expect(locateScript('mine', '/ha', isExec)).toBe('/ha/resource.d/mine');
    expect(locateScript('httpd', '/ha', isExec)).toBe('/etc/init.d/httpd');
    expect(locateScript('nothing', '/ha', isExec)).toBeNull();
  });

  it('calls `script arg1 arg2 ACTION`, skips start when status says running, fails when it cannot find the script', async () => {
    const sys = new FakeSystem().on('/ha/resource.d/svc a b status', { stdout: 'svc is not running\n', code: 0 });
    const agent = new ScriptAgent(res('svc::a::b', 'script'), sys.ctx(), () => '/ha/resource.d/svc');
    expect((await agent.start()).ok).toBe(true);
    expect((await agent.stop()).ok).toBe(true);
    expect(sys.commandLines()).toEqual(['/ha/resource.d/svc a b status', '/ha/resource.d/svc a b start', '/ha/resource.d/svc a b stop']);
    const running = new FakeSystem().on('/etc/init.d/httpd status', { stdout: 'httpd is running', code: 3 });
    expect((await new ScriptAgent(res('httpd', 'script'), running.ctx(), () => '/etc/init.d/httpd').start()).ok).toBe(true);
    expect(running.commandLines()).toEqual(['/etc/init.d/httpd status']);
    const missing = await new ScriptAgent(res('nosuch', 'script'), sys.ctx(), () => null).start();
    expect(missing.message).toContain('Cannot locate resource script nosuch');
  });

  it('a start that exits non-zero or times out is a failure with its rc', async () => {
    const sys = new FakeSystem().on('/x start', { code: 1, stderr: 'port in use\n' }).on('/x stop', { code: null, timedOut: true, signal: 'SIGTERM' });
    const agent = new ScriptAgent(res('x', 'script'), sys.ctx(), () => '/x');
    expect(await agent.start()).toMatchObject({ ok: false, rc: 1, message: '(rc=1) port in use' });
    expect(await agent.stop()).toMatchObject({ ok: false, message: '(Timed Out)' });
  });
});
