// The built-in agents against the real kernel: IPaddr2 in a private network namespace (its `ip`
// and `arping` commands run inside it through an exec wrapper, so nothing touches the host's
// interfaces) and Filesystem on a temporary loop device with ext4, including a busy file system
// whose holder is killed by `fuser -km`. Everything made here is removed afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseHaresources, unwrap, type HaResource } from '../../src/config/heartbeat/index.js';
import { systemAgentContext } from '../../src/cluster/agents/context.js';
import { runCommand, type Exec } from '../../src/cluster/agents/exec.js';
import { FilesystemAgent } from '../../src/cluster/agents/filesystem.js';
import { IpAddrAgent } from '../../src/cluster/agents/ipaddr.js';
import type { AgentContext } from '../../src/cluster/agents/types.js';

// Namespaces, loop devices and mounts need root; as another user this file is skipped.
const isRoot = process.getuid?.() === 0;
const NS = `thb-agents-${process.pid}`;
const logger = pino({ level: 'silent' });
const timeouts = { start: 20_000, stop: 20_000, status: 5_000 };

function res<K extends HaResource['kind']>(text: string, kind: K): Extract<HaResource, { kind: K }> {
  const r = unwrap(parseHaresources(`node1 ${text}\n`)).groups[0]!.resources[0]!;
  if (r.kind !== kind) throw new Error(`not ${kind}`);
  return r as Extract<HaResource, { kind: K }>;
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

describe.skipIf(!isRoot)('agents on the real system (root)', () => {
  let dir = '';
  let loop = '';
  let nsCtx: AgentContext;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-hb-e2e-'));
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    for (const i of ['lo', 'v0', 'v1']) sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', i, 'up']);
    sh('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', '10.213.77.1/24', 'dev', 'v0']);
    const inNs: Exec = (argv, opts) => runCommand(['ip', 'netns', 'exec', NS, ...argv], opts);
    nsCtx = { ...systemAgentContext(timeouts, logger), exec: inNs };
    const img = path.join(dir, 'disk.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 32 * 1024 * 1024);
    loop = sh('losetup', ['-f', '--show', img]).trim();
    sh('mkfs.ext4', ['-q', '-F', loop]);
  });

  afterAll(() => {
    const mnt = path.join(dir, 'mnt');
    try { if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) sh('umount', ['-l', mnt]); } catch { /* not mounted */ }
    if (loop) try { sh('losetup', ['-d', loop]); } catch { /* gone */ }
    try { sh('ip', ['netns', 'del', NS]); } catch { /* gone */ }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('IPaddr2 finds the interface and netmask from the route, labels the address, and removes it on stop', async () => {
    const agent = new IpAddrAgent(res('IPaddr2::10.213.77.50', 'ipaddr'), nsCtx);
    expect((await agent.status()).state).toBe('stopped');
    const started = await agent.start();
    expect(started).toMatchObject({ ok: true });
    const show = sh('ip', ['netns', 'exec', NS, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'v0']);
    expect(show).toMatch(/inet 10\.213\.77\.50\/24 .*v0:0/);
    expect((await agent.status()).state).toBe('running');
    expect((await agent.start()).ok).toBe(true); // idempotent
    expect((await agent.stop()).ok).toBe(true);
    expect(sh('ip', ['netns', 'exec', NS, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'v0'])).not.toContain('10.213.77.50');
    expect((await agent.stop()).ok).toBe(true); // stopping a stopped address is fine
  });

  it('IPaddr with IP/CIDR/IFACE:LABEL as written, and a clear failure when no interface routes to the address', async () => {
    const agent = new IpAddrAgent(res('IPaddr::10.213.78.9/28/v1:vip', 'ipaddr'), nsCtx);
    expect((await agent.start()).ok).toBe(true);
    expect(sh('ip', ['netns', 'exec', NS, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'v1'])).toMatch(/10\.213\.78\.9\/28 .*v1:vip/);
    expect((await agent.stop()).ok).toBe(true);
    const lost = await new IpAddrAgent(res('IPaddr2::192.0.2.200', 'ipaddr'), nsCtx).start();
    expect(lost.ok).toBe(false);
    expect(lost.message).toContain('192.0.2.200');
  });

  it('Filesystem mounts with type and options, reads mountinfo, and on stop kills a holder with fuser -km', async () => {
    const mnt = path.join(dir, 'mnt');
    const ctx = systemAgentContext(timeouts, logger);
    const agent = new FilesystemAgent(res(`Filesystem::${loop}::${mnt}::ext4::noatime`, 'filesystem'), ctx, { killAfterMs: 500 });
    expect((await agent.status()).state).toBe('stopped');
    expect((await agent.start()).ok).toBe(true);
    const info = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${mnt} `))!;
    expect(info).toContain('noatime');
    expect(info).toContain(' - ext4 ');
    expect((await agent.status()).state).toBe('running');

    fs.writeFileSync(path.join(mnt, 'data'), 'x');
    const holder = spawn('sleep', ['600'], { cwd: mnt, stdio: 'ignore' });
    const gone = new Promise<string | null>((r) => holder.once('exit', (_c, sig) => r(sig)));
    const stopped = await agent.stop();
    expect(stopped.ok).toBe(true);
    expect(await gone).toBe('SIGKILL');
    expect((await agent.status()).state).toBe('stopped');
    expect((await agent.start()).ok).toBe(true);
    expect(fs.readFileSync(path.join(mnt, 'data'), 'utf8')).toBe('x');
    expect((await agent.stop()).ok).toBe(true);
  });
});
