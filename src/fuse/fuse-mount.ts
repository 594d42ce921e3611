// tandemd's own FUSE mount: /dev/fuse opened and mounted by the addon, requests served on this
// event loop by a FuseServer. This replaces nbdfuse (a second process) and the NBD socket between
// it and tandemd on the kernel device's path: per 4 KiB write that hop cost more CPU than the
// replication itself (bench/README.md, "The kernel device").
//
// Never touch the mounted file synchronously from this process: the thread that would block is
// the one that has to answer. Async fs calls (libuv's threads) and child processes are fine.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { NbdBackend } from '../nbd/backend.js';
import { native, type NativeFuseChannel } from '../storage/native.js';
import { runTool } from '../nbd/run-tool.js';
import { waitUntil } from '../nbd/wait-until.js';
import { decodeRequest, NO_REPLY } from './abi.js';
import { FuseServer } from './fuse-server.js';
import { noteBulkReceived } from '../storage/bulk-buffer.js';

export interface MountFuseFileOptions {
  mountpoint: string;
  fileName: string;
  backend: NbdBackend;
  logger: Logger;
  timeoutMs: number;
}

export interface FuseFileMount {
  readonly mountpoint: string;
  readonly file: string;
  readonly server: FuseServer;
  /** errno the connection ended with (ENODEV after an unmount); pending while it serves */
  readonly ended: Promise<number>;
  /** Stops serving. A mount still in place is aborted: every access to it fails from then on. */
  close(): void;
}

const EMPTY = Buffer.alloc(0);
/** what a reply after close() gets, as from the kernel after an unmount */
const ENODEV = 19;
const EINVAL = 22;

export async function mountFuseFile(o: MountFuseFileOptions): Promise<FuseFileMount> {
  await fs.mkdir(o.mountpoint, { recursive: true, mode: 0o700 });
  const { slotBytes, headBytes } = native.fuseLimits;
  const table = Buffer.alloc(slotBytes * native.fuseLimits.maxBatch);
  const log = o.logger.child({ part: 'fuse', mountpoint: o.mountpoint });
  // allow_other: root's mount, but udev and other root tools in other credentials may probe it;
  // default_permissions: the kernel checks the file's mode (0600, root) itself
  const fd = native.fuseMount(o.mountpoint, 'tandem', 'allow_other,default_permissions');
  let channel: NativeFuseChannel | null = null;
  let endedResolve!: (errno: number) => void;
  const ended = new Promise<number>((r) => (endedResolve = r));
  const server = new FuseServer({
    backend: o.backend, fileName: o.fileName, logger: log,
    transport: {
      reply: (u, e, a, b) => (channel ? channel.reply(u, e, a, b) : ENODEV),
      replyWrite: (u, n) => (channel ? channel.replyWrite(u, n) : ENODEV),
      notify: (code, data) => (channel ? channel.notify(code, data) : ENODEV),
    },
  });
  const onRequests = (count: number, arena: Buffer | null, chunks: Buffer[] | null): void => {
    if (count < 0) {
      log.debug({ errno: -count }, 'FUSE connection ended');
      channel?.close();
      channel = null;
      endedResolve(-count);
      return;
    }
    for (let i = 0; i < count; i++) {
      const at = i * slotBytes;
      const off = table.readUInt32LE(at + headBytes);
      const rest = table.readUInt32LE(at + headBytes + 4);
      const total = table.readUInt32LE(at + headBytes + 8);
      const chunk = table.readUInt32LE(at + headBytes + 12);
      const head = table.subarray(at, at + headBytes);
      let req;
      try {
        let payload: Buffer = EMPTY;
        if (chunk > 0 && chunks) {
          payload = chunks[chunk - 1]!;
          // a large payload's chunk is freed by a young-generation GC once its request is done
          noteBulkReceived(rest);
        } else if (rest > 0 && arena) payload = arena.subarray(off, off + rest);
        req = decodeRequest(head, payload, total);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'malformed FUSE request');
        const opcode = head.readUInt32LE(4);
        if (!NO_REPLY.has(opcode)) channel?.reply(head.readUInt32LE(8) + head.readUInt32LE(12) * 0x1_0000_0000, EINVAL);
        continue;
      }
      server.handle(req);
    }
  };
  try {
    channel = new native.FuseChannel(fd, table, onRequests);
  } catch (err) {
    await unmountNow(o.mountpoint);
    throw err;
  }
  const file = path.join(o.mountpoint, o.fileName);
  const mount: FuseFileMount = {
    mountpoint: o.mountpoint,
    file,
    server,
    ended,
    close: () => {
      if (!channel) return;
      channel.close();
      channel = null;
      endedResolve(0);
    },
  };
  try {
    await waitUntil(async () => {
      try {
        return (await fs.stat(file)).size === o.backend.size;
      } catch {
        return false;
      }
    }, o.timeoutMs, `the FUSE mount to show ${file} with ${o.backend.size} bytes`);
  } catch (err) {
    mount.close();
    await unmountNow(o.mountpoint);
    throw err;
  }
  return mount;
}

async function unmountNow(mountpoint: string): Promise<void> {
  await runTool('umount', ['-l', mountpoint]).catch(() => undefined);
}
