// nbdfuse (libnbd-bin): shows an NBD export as one file on a private FUSE mount, so that a loop
// device can give it a /dev node on kernels without the nbd module. It runs in its own session
// (a signal to tandemd's process group must not take the mount away under a filesystem), with
// its output in a log file next to the mount.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { parseMountinfo } from './device-holders.js';
import { runTool, ToolError } from './run-tool.js';
import { waitUntil, waitUntilOrFalse } from './wait-until.js';

/** The libnbd URI for a named export on a unix socket. */
export function nbdUnixUri(exportName: string, socketPath: string): string {
  // libnbd percent-decodes the query; keep '/' readable, escape everything else that could clash
  const sock = socketPath.split('/').map(encodeURIComponent).join('/');
  return `nbd+unix:///${encodeURIComponent(exportName)}?socket=${sock}`;
}

export interface StartNbdfuse {
  mountpoint: string;
  /** name of the file inside the mountpoint */
  fileName: string;
  uri: string;
  /** the export's size: the file is ready once it shows this size */
  size: number;
  logFile: string;
  timeoutMs: number;
  /** called with the PID as soon as nbdfuse is spawned, before waiting for the mount */
  onSpawn?: (pid: number) => Promise<void>;
}

export async function startNbdfuse(o: StartNbdfuse): Promise<{ pid: number; file: string }> {
  await fs.mkdir(o.mountpoint, { recursive: true, mode: 0o700 });
  const file = path.join(o.mountpoint, o.fileName);
  const pidFile = `${o.logFile}.pid`;
  await fs.rm(pidFile, { force: true });
  const log = openSync(o.logFile, 'a', 0o600);
  let child;
  try {
    child = spawn('nbdfuse', ['-P', pidFile, file, o.uri], { detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('nbdfuse is not installed (Debian package libnbd-bin)') : err));
  });
  child.unref();
  let exit: string | null = null;
  child.once('exit', (code, signal) => (exit = signal ? `killed by ${signal}` : `exit code ${code}`));
  await o.onSpawn?.(pid);
  try {
    await waitUntil(async () => {
      if (exit !== null) throw new Error(`nbdfuse exited (${exit}) before the device appeared: ${await tail(o.logFile)}`);
      if (!(await exists(pidFile))) return false;
      try {
        return (await fs.stat(file)).size === o.size;
      } catch {
        return false;
      }
    }, o.timeoutMs, `nbdfuse to show ${file} with ${o.size} bytes`);
  } catch (err) {
    throw new Error(`${(err as Error).message}${exit === null ? `; nbdfuse log: ${await tail(o.logFile)}` : ''}`);
  }
  return { pid, file };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function tail(file: string): Promise<string> {
  try {
    const t = (await fs.readFile(file, 'utf8')).trim();
    return t ? t.slice(-600) : '(empty)';
  } catch {
    return '(no log)';
  }
}

/** True when PID is a live nbdfuse serving `mountpoint` (a PID from a stale record may be reused). */
export async function isOurNbdfuse(pid: number, mountpoint: string): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false; // exited, only waiting to be reaped
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return path.basename(argv[0] ?? '') === 'nbdfuse' && argv.some((a) => a === mountpoint || path.dirname(a) === mountpoint);
  } catch {
    return false;
  }
}

export async function fuseMounted(mountpoint: string): Promise<boolean> {
  try {
    const mounts = parseMountinfo(await fs.readFile('/proc/self/mountinfo', 'utf8'));
    return mounts.some((m) => m.mountPoint === mountpoint && m.fsType.startsWith('fuse'));
  } catch {
    return false;
  }
}

export type FuseUnmount = { kind: 'unmounted' } | { kind: 'not-mounted' } | { kind: 'lazy'; reason: string };

/**
 * Unmounts our FUSE mount; nbdfuse exits by itself once it is gone. A mount that stays busy past
 * the deadline (a loop device the kernel has not released yet) is detached lazily, so nothing
 * new can open it and it disappears with its last user.
 */
export async function unmountFuse(mountpoint: string, timeoutMs: number): Promise<FuseUnmount> {
  if (!(await fuseMounted(mountpoint))) return { kind: 'not-mounted' };
  let last = '';
  const ok = await waitUntilOrFalse(async () => {
    if (!(await fuseMounted(mountpoint))) return true;
    try {
      await runTool('fusermount3', ['-u', mountpoint]);
      return true;
    } catch (err) {
      last = err instanceof ToolError ? err.message : String(err);
      return false;
    }
  }, timeoutMs);
  if (ok) return { kind: 'unmounted' };
  await runTool('fusermount3', ['-u', '-z', mountpoint]);
  return { kind: 'lazy', reason: last };
}

/**
 * Waits for nbdfuse to exit after its unmount; if it does not, ends it, but only after checking
 * that the PID is still our nbdfuse.
 */
export async function endNbdfuse(pid: number, mountpoint: string, timeoutMs: number): Promise<'exited' | 'killed' | 'not-ours'> {
  if (!(await isOurNbdfuse(pid, mountpoint))) return 'not-ours';
  if (await waitUntilOrFalse(async () => !(await isOurNbdfuse(pid, mountpoint)), timeoutMs)) return 'exited';
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    if (!(await isOurNbdfuse(pid, mountpoint))) return 'killed';
    try {
      process.kill(pid, sig);
    } catch {
      return 'killed';
    }
    if (await waitUntilOrFalse(async () => !(await isOurNbdfuse(pid, mountpoint)), 2_000)) return 'killed';
  }
  return 'killed';
}
