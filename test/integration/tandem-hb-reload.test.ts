// `tandem-hb reload` and SIGHUP on real tandem-hb processes: new files are applied without
// stopping what runs (a new group starts, logging to syslog and a respawn client begin, a
// running group keeps its definition), what needs a restart is named, invalid files are refused
// with their reasons while the daemon runs on, and authkeys' key rollover keeps the cluster
// together. The syslog socket is the test's own.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HbPair, REPO, waitFor, type HbNode } from '../helpers/hb-pair.js';
import { SyslogListener } from '../helpers/syslog-listener.js';

let pair: HbPair | null = null;
let syslog: SyslogListener | null = null;
let syslogDir: string | null = null;
afterEach(async () => {
  await pair?.cleanup();
  pair = null;
  syslog?.stop();
  syslog = null;
  if (syslogDir) fs.rmSync(syslogDir, { recursive: true, force: true });
  syslogDir = null;
});

const edit = (file: string, f: (text: string) => string) => fs.writeFileSync(file, f(fs.readFileSync(file, 'utf8')));
const stops = (n: HbNode) => n.ops().filter((o) => o.startsWith('stop '));

describe('tandem-hb reload', () => {
  it('applies new files in place (reload on one node, SIGHUP on the other) and names what waits for a restart', async () => {
    const dir = (syslogDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-hb-reload-')));
    syslog = await SyslogListener.start(dir);
    pair = new HbPair({ env: { TANDEM_SYSLOG_SOCKET: syslog.socket } });
    await pair.setup();
    await pair.startBoth();
    const { node1, node2 } = pair.nodes;
    const haCf = path.join(pair.haDir, 'ha.cf');
    const client = path.join(pair.dir, 'client');
    fs.writeFileSync(client, `#!/bin/sh\necho $$ >> "${path.join(pair.dir, 'client.starts')}"\nexec sleep 600\n`, { mode: 0o755 });
    edit(haCf, (t) => t.replace('deadtime 600ms', 'deadtime 900ms').replace(`udpport ${pair!.port}`, `udpport ${pair!.port + 1}`)
      + `logfacility local0\nrespawn root ${client}\n`);
    edit(path.join(pair.haDir, 'haresources'), (t) => `${t}node2 rec::d\n`);

    const r1 = await node1.cli('reload');
    expect(r1.code).toBe(0);
    expect(r1.stdout).toContain('keepalive 100ms, deadtime 900ms, warntime 400ms');
    expect(r1.stdout).toContain('resource group rec::d added');
    expect(r1.stdout).toContain('WARN: udpport changed: not applied until tandem-hb is restarted (the running value stays)');
    expect(r1.stdout).toMatch(/Configuration reloaded; waiting for a restart: udpport, media/);
    // logfacility applies at once: node1's lines reach syslog
    await waitFor(() => new RegExp(`^<134>.* tandem-hb: \\[${node1.proc!.pid}\\]: info: `, 'm').test(syslog!.text()), 10_000, "node1's lines on the syslog socket");
    await waitFor(() => fs.existsSync(path.join(pair!.dir, 'client.starts')), 10_000, 'the new respawn client');

    process.kill(node2.proc!.pid!, 'SIGHUP');
    await waitFor(() => node2.log().includes('Configuration reloaded; waiting for a restart'), 10_000, 'node2 to reload on SIGHUP');
    // rec::d is node2's: it starts once both nodes know it (node1 grants it)
    await waitFor(() => node2.running('d'), 15_000, 'the new group rec::d to start on node2');
    expect(node1.running('a') && node1.running('b') && node2.running('c')).toBe(true);
    expect([...stops(node1), ...stops(node2)]).toEqual([]); // nothing that ran was stopped
    const status = await node1.cli('status');
    expect(status.stdout).toContain('Online: [ node1 node2 ]');
    expect(status.stdout).toMatch(/rec::d\t\(heartbeat:rec\):\t Started node2/);
  });

  it('refuses invalid files with their reasons and runs on; a running group keeps its definition', async () => {
    pair = new HbPair({});
    await pair.setup();
    const { node1 } = pair.nodes;
    const down = await node1.cli('reload');
    expect(down.code).toBe(3); // LSB: not running
    await pair.startBoth();
    const haCf = path.join(pair.haDir, 'ha.cf');
    const good = fs.readFileSync(haCf, 'utf8');
    edit(haCf, (t) => t.replace('deadtime 600ms', 'deadtime 150ms'));
    fs.chmodSync(path.join(pair.haDir, 'authkeys'), 0o644);
    const r = await node1.cli('reload');
    expect(r.code).toBe(6);
    expect(r.stdout).toMatch(/ERROR: .*ha\.cf:\d+:\d+: deadtime 150ms is too small compared to keepalive 100ms/);
    expect(r.stdout).toMatch(/ERROR: .*authkeys: Bad permissions on keyfile/);
    expect(r.stdout).toContain('ERROR: Config errors: configuration NOT reloaded; tandem-hb runs on with the files it read before');
    expect(r.stderr).toContain('configuration NOT reloaded');
    expect(node1.opsLog()).toContain('ERROR: Config errors: configuration NOT reloaded');
    expect((await node1.cli('status')).code).toBe(0);

    fs.writeFileSync(haCf, good);
    fs.chmodSync(path.join(pair.haDir, 'authkeys'), 0o600);
    edit(path.join(pair.haDir, 'haresources'), (t) => t.replace('node1 rec::a rec::b', 'node1 rec::a rec::b rec::x'));
    const ok = await node1.cli('reload');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('WARN: resource group rec::a runs on node1: it keeps its running definition (changed in haresources)');
    expect(node1.running('x')).toBe(false);
    expect(node1.running('a') && node1.running('b')).toBe(true);
    expect(stops(node1)).toEqual([]);
    // the init script's reload is the same request
    const rc = spawnSync('sh', [path.join(REPO, 'scripts/rc.tandem-hb'), 'reload'], {
      encoding: 'utf8',
      env: { ...process.env, TANDEM_HA_DIR: pair.haDir, TANDEM_RUN_DIR: node1.runDir, TANDEM_NODE: 'node1', TANDEM_HB: `${process.execPath} ${path.join(REPO, 'bin/tandem-hb.js')}` },
    });
    expect(rc.status).toBe(0);
    expect(rc.stdout).toContain('Configuration reloaded.');
  });

  it('authkeys key rollover: add a key on both, switch to it on both, drop the old one; the nodes never lose each other', async () => {
    pair = new HbPair({});
    await pair.setup();
    await pair.startBoth();
    const keys = path.join(pair.haDir, 'authkeys');
    const both = async (expectText: string) => {
      for (const n of Object.values(pair!.nodes)) {
        const r = await n.cli('reload');
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(expectText);
      }
    };
    fs.writeFileSync(keys, 'auth 1\n1 sha1 integration-secret\n2 sha1 rolled-secret\n', { mode: 0o600 });
    await both('Rereading authentication file.');
    fs.writeFileSync(keys, 'auth 2\n1 sha1 integration-secret\n2 sha1 rolled-secret\n', { mode: 0o600 });
    await both('Rereading authentication file.');
    fs.writeFileSync(keys, 'auth 2\n2 sha1 rolled-secret\n', { mode: 0o600 });
    await both('Rereading authentication file.');
    // control messages still pass (signed with key 2 only): a standby moves rec::c to node1
    expect((await pair.nodes.node2.cli('standby')).code).toBe(0);
    await waitFor(() => pair!.nodes.node1.running('c'), 15_000, 'rec::c to move to node1 under the new key');
    for (const n of Object.values(pair.nodes)) expect(n.opsLog()).not.toMatch(/is lost\.|FAULTY/);
  });
});
