// /dev/nbdN through the kernel's nbd module and nbd-client(8), for hosts that have the module.
// The kernel sends REQ_PREFLUSH as NBD_CMD_FLUSH and REQ_FUA as NBD_CMD_FLAG_FUA because the
// server advertises SEND_FLUSH and SEND_FUA, so barriers reach the Resource directly.
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import { runTool } from './run-tool.js';
import { waitUntil, waitUntilOrFalse } from './wait-until.js';

async function readSys(p: string): Promise<string | null> {
  try {
    return (await fs.readFile(p, 'utf8')).trim();
  } catch {
    return null;
  }
}

/** A connected nbd device has a pid file in sysfs (the task that set up the socket). */
export async function nbdClientConnected(dev: string): Promise<boolean> {
  const name = dev.replace(/^\/dev\//, '');
  return (await readSys(`/sys/block/${name}/pid`)) !== null;
}

async function freeNbdDevice(): Promise<string> {
  const names = (await fs.readdir('/sys/block')).filter((n) => /^nbd\d+$/.test(n)).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  for (const n of names) {
    if (!(await nbdClientConnected(`/dev/${n}`))) return `/dev/${n}`;
  }
  throw new Error(`every nbd device is in use (${names.length} in /sys/block); load the module with more: modprobe nbd nbds_max=N`);
}

export interface AttachNbdClient {
  exportName: string;
  socket: string;
  size: number;
  timeoutMs: number;
  onChosen: (dev: string) => Promise<void>;
}

export async function attachNbdClient(o: AttachNbdClient): Promise<string> {
  const dev = await freeNbdDevice();
  await o.onChosen(dev);
  await runTool('nbd-client', ['-N', o.exportName, '-unix', o.socket, dev, '-b', '4096'], o.timeoutMs);
  const name = dev.slice('/dev/'.length);
  await waitUntil(async () => Number(await readSys(`/sys/block/${name}/size`)) * 512 === o.size, o.timeoutMs, `${dev} to show ${o.size} bytes`);
  return dev;
}

/**
 * Unlike a loop device, an nbd device does not say which socket it was connected to, so a stale
 * record can only check that the device is still connected. Not exercised by the tests: the test
 * machines have no nbd module.
 */
export async function detachNbdClient(dev: string, timeoutMs: number, log: Logger): Promise<void> {
  if (!(await nbdClientConnected(dev))) return;
  await runTool('nbd-client', ['-d', dev], timeoutMs);
  if (!(await waitUntilOrFalse(async () => !(await nbdClientConnected(dev)), timeoutMs))) {
    log.warn({ device: dev }, 'nbd device still connected after nbd-client -d');
  }
}
