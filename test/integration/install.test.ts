// A real install, not a clone: scripts/install.sh packs the tree (npm pack), installs the tarball
// with npm into a temporary root and lays out the init scripts, units, samples and handlers. The
// installed commands must run with a bare environment (PATH=/usr/sbin:/usr/bin:/sbin:/bin, as
// rc.local and init give them), load the addon they built, and read the sample configuration.
// Needs the npm registry (the package's dependencies) like `npm ci`; no root.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const BARE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

interface Result { code: number; out: string }

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = { PATH: BARE_PATH }): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { env, encoding: 'utf8', timeout: 240_000, maxBuffer: 16 << 20 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}${typeof e.code === 'number' ? '' : e.message}` };
  }
}

function which(tool: string): string | null {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(d, tool);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

let root = '';
const rootPath = (p: string) => path.join(root, p);
// install.sh finds node with `command -v node`: the one running this test
const installEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` });

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-install-'));
  const r = await run('bash', [path.join(REPO, 'scripts/install.sh'), '--root', root], installEnv());
  if (r.code !== 0) throw new Error(`install.sh failed (exit ${r.code}):\n${r.out}`);
}, 300_000);

afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('scripts/install.sh --root DIR', () => {
  it('puts the three commands on PATH; they run with a bare environment', async () => {
    const bin = rootPath('usr/bin');
    for (const c of ['tandemadm', 'tandemd', 'tandem-hb']) expect(fs.existsSync(path.join(bin, c)), c).toBe(true);
    const env = { PATH: `${bin}:${BARE_PATH}` };
    expect((await run('tandemadm', ['--version'], env)).out.trim()).toBe(VERSION);
    const help = await run('tandemd', ['--help'], env);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: tandemd/);
    expect((await run('tandem-hb', ['--help'], env)).out).toMatch(/Usage: tandem-hb/);
  });

  it('the installed addon works: create-md and dump-md on a file-backed disk with the sample resource', async () => {
    const etc = rootPath('etc/tandem');
    const disk = rootPath('disk.img');
    fs.writeFileSync(disk, Buffer.alloc(0));
    fs.truncateSync(disk, 64 << 20);
    const sample = fs.readFileSync(path.join(etc, 'tandem.d/r0.res.example'), 'utf8');
    fs.writeFileSync(path.join(etc, 'tandem.d/r0.res'), sample.replaceAll('/dev/sdb1', disk));
    const adm = rootPath('usr/bin/tandemadm');
    const conf = path.join(etc, 'tandem.conf');
    const dump = await run(adm, ['--config', conf, '--node', 'node1', 'dump', 'r0']);
    expect(dump.code, dump.out).toBe(0);
    expect(dump.out).toMatch(/resource r0/);
    const md = await run(adm, ['--config', conf, '--node', 'node1', 'create-md', 'r0']);
    expect(md.code, md.out).toBe(0);
    expect(md.out).toContain('New Tandem meta data block successfully created (usable size 67067904 bytes)');
    const dm = await run(adm, ['--config', conf, '--node', 'node1', 'dump-md', 'r0']);
    expect(dm.code, dm.out).toBe(0);
    expect(dm.out).toContain(`# r0 on node1: ${disk}`);
    expect(dm.out).toMatch(/^version "tandem-v1";$/m);
    fs.rmSync(path.join(etc, 'tandem.d/r0.res'));
  });

  it('lays out init scripts, units and commented samples that point at the install', () => {
    const rc = fs.readFileSync(rootPath('etc/init.d/tandem'), 'utf8');
    expect(rc).toContain(`INSTALL_BINDIR=${rootPath('usr/bin')}\n`);
    expect(rc).toContain(`INSTALL_SYSCONFDIR=${rootPath('etc')}\n`);
    expect(fs.statSync(rootPath('etc/init.d/tandem')).mode & 0o111).toBeTruthy();
    expect(fs.statSync(rootPath('etc/init.d/tandem-hb')).mode & 0o111).toBeTruthy();
    const unit = fs.readFileSync(rootPath('usr/lib/systemd/system/tandemd.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${rootPath('usr/bin/tandemd')} `);
    expect(unit).not.toMatch(/@[A-Z_]+@/);
    expect(fs.readFileSync(rootPath('usr/lib/systemd/system/tandem-hb.service'), 'utf8')).not.toMatch(/@[A-Z_]+@/);
    expect(fs.statSync(rootPath('etc/tandem/ha.d/authkeys')).mode & 0o777).toBe(0o600);
    for (const f of ['tandem.conf', 'ha.d/ha.cf', 'ha.d/haresources', 'tandem.d/r0.res.example']) {
      expect(fs.readFileSync(rootPath(`etc/tandem/${f}`), 'utf8'), f).toMatch(/^# /);
    }
    const manifest = fs.readFileSync(rootPath('usr/lib/tandem/install-manifest'), 'utf8').trim().split('\n');
    expect(manifest).toContain(rootPath('etc/init.d/tandem'));
    expect(manifest).not.toContain(rootPath('etc/tandem/tandem.conf'));
    // tandem-hb's status page (ha.cf tandem_web) is served from the package's web/
    expect(fs.readFileSync(rootPath('usr/lib/node_modules/tandem/web/index.html'), 'utf8')).toContain('/assets/app.js');
  });

  it("installs DRBD's notify handlers: notify-split-brain.sh mails the recipient and logs to syslog", async () => {
    const lib = rootPath('usr/lib/tandem');
    expect(fs.readlinkSync(path.join(lib, 'notify-split-brain.sh'))).toBe('notify.sh');
    expect(fs.readFileSync(rootPath('etc/tandem/tandem.conf'), 'utf8')).toContain(`"${lib}/notify-split-brain.sh root"`);
    // stand-ins for sendmail and logger record what they were given
    const bin = rootPath('fakebin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'sendmail'), `#!/bin/sh\ncat > "${rootPath('mail.txt')}"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, 'logger'), `#!/bin/sh\necho "$@" > "${rootPath('syslog.txt')}"\n`, { mode: 0o755 });
    const r = await run(path.join(lib, 'notify-split-brain.sh'), ['admin@example.org'],
      { PATH: `${bin}:${BARE_PATH}`, DRBD_RESOURCE: 'r0', DRBD_MINOR: '0', DRBD_PEERS: 'node2' });
    expect(r.code, r.out).toBe(0);
    const mail = fs.readFileSync(rootPath('mail.txt'), 'utf8');
    expect(mail).toMatch(/^To: admin@example\.org\nSubject: Tandem split-brain on \S+ \(resource r0\)\n\n/);
    expect(mail).toContain('Tandem detected a split brain in resource r0');
    expect(mail).toMatch(/peer: +node2/);
    expect(fs.readFileSync(rootPath('syslog.txt'), 'utf8')).toMatch(/^-t tandem-notify -p daemon\.warning Tandem split-brain on/);
  });

  it('installs ocf:tandem:tandem and the Pacemaker fencing handlers, pointing at the installed tandemadm', async () => {
    const agent = rootPath('usr/lib/ocf/resource.d/tandem/tandem');
    expect(fs.readFileSync(agent, 'utf8')).toContain(`INSTALL_BINDIR=${rootPath('usr/bin')}\n`);
    const md = await run(agent, ['meta-data'], { PATH: BARE_PATH, OCF_ROOT: '/usr/lib/ocf' });
    expect(md.code, md.out).toBe(0);
    expect(md.out).toContain('<resource-agent name="tandem"');
    const lib = rootPath('usr/lib/tandem');
    expect(fs.readFileSync(path.join(lib, 'crm-fence-peer.sh'), 'utf8')).toContain(`TANDEMADM=${rootPath('usr/bin')}/tandemadm\n`);
    expect(fs.readlinkSync(path.join(lib, 'crm-unfence-peer.sh'))).toBe('crm-fence-peer.sh');
    // run by its second name, the wrapper runs the unfence command of the installed tandemadm
    const r = await run(path.join(lib, 'crm-unfence-peer.sh'), ['--help'], { PATH: BARE_PATH });
    expect(r.out).toContain('Usage: tandemadm crm-unfence-peer');
    const manifest = fs.readFileSync(rootPath('usr/lib/tandem/install-manifest'), 'utf8').trim().split('\n');
    expect(manifest).toEqual(expect.arrayContaining([agent, path.join(lib, 'crm-fence-peer.sh'), path.join(lib, 'crm-unfence-peer.sh')]));
  });

  // systemd-analyze ships with systemd; where it is missing there is nothing to verify the units with
  it.skipIf(!which('systemd-analyze'))('the installed systemd units pass systemd-analyze verify', async () => {
    const r = await run('systemd-analyze', ['verify', rootPath('usr/lib/systemd/system/tandemd.service'), rootPath('usr/lib/systemd/system/tandem-hb.service')], process.env);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/tandem/i);
  });

  it('a second install keeps edited configuration; --uninstall removes the program files and keeps it', async () => {
    const conf = rootPath('etc/tandem/tandem.conf');
    fs.appendFileSync(conf, '# edited by the admin\n');
    const again = await run('bash', [path.join(REPO, 'scripts/install.sh'), '--root', root, '--system-only'], installEnv());
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain(`keeping ${conf}`);
    expect(fs.readFileSync(conf, 'utf8')).toMatch(/# edited by the admin\n$/);

    const un = await run('bash', [path.join(REPO, 'scripts/install.sh'), '--root', root, '--uninstall'], installEnv());
    expect(un.code, un.out).toBe(0);
    expect(fs.existsSync(rootPath('etc/init.d/tandem'))).toBe(false);
    expect(fs.existsSync(rootPath('usr/lib/systemd/system/tandemd.service'))).toBe(false);
    expect(fs.existsSync(rootPath('usr/bin/tandemadm'))).toBe(false);
    expect(fs.existsSync(rootPath('usr/lib/node_modules/tandem'))).toBe(false);
    expect(fs.readFileSync(conf, 'utf8')).toMatch(/# edited by the admin\n$/);
  });

  it('refuses an unknown option and a relative prefix with a clear message', async () => {
    const a = await run('bash', [path.join(REPO, 'scripts/install.sh'), '--frobnicate'], installEnv());
    expect(a.code).not.toBe(0);
    expect(a.out).toMatch(/unknown option '--frobnicate'/);
    const b = await run('bash', [path.join(REPO, 'scripts/install.sh'), '--prefix', 'usr'], installEnv());
    expect(b.code).not.toBe(0);
    expect(b.out).toMatch(/'usr' is not an absolute path/);
  });
});
