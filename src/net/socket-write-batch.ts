// The chunks a tick (or a loop turn) wants to send on one socket, written with one Writable.write
// where possible. Headers and small payloads are copied together: copying 4 KiB costs less than a
// Writable.write per chunk (stream bookkeeping, a callback record, a longer writev list). Large
// payloads are written as their own chunks, never copied. Used by the NBD server's replies.
import type { Socket } from 'node:net';

/** Chunks below this size are copied together; larger ones are written as they are. */
export const COPY_BELOW = 8 * 1024;

export class SocketWriteBatch {
  private parts: Buffer[] = [];
  private bytes = 0;

  /** Bytes pushed and not yet written. */
  get pendingBytes(): number {
    return this.bytes;
  }

  get empty(): boolean {
    return this.parts.length === 0;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.parts.push(chunk);
    this.bytes += chunk.length;
  }

  /** Writes everything pushed so far, in order; a destroyed socket just drops it. */
  flushTo(socket: Socket): void {
    const parts = this.parts;
    if (parts.length === 0) return;
    this.parts = [];
    this.bytes = 0;
    if (socket.destroyed) return;
    const merged = coalesceSmall(parts);
    if (merged.length === 1) {
      socket.write(merged[0]!);
      return;
    }
    socket.cork();
    for (const b of merged) socket.write(b);
    socket.uncork();
  }
}

/** Joins runs of chunks below COPY_BELOW into single Buffers, keeping the order. */
export function coalesceSmall(parts: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let runStart = 0;
  let runBytes = 0;
  const endRun = (end: number): void => {
    if (end - runStart === 1) out.push(parts[runStart]!);
    else if (end > runStart) out.push(Buffer.concat(parts.slice(runStart, end), runBytes));
    runBytes = 0;
  };
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length >= COPY_BELOW) {
      endRun(i);
      out.push(p);
      runStart = i + 1;
    } else {
      runBytes += p.length;
    }
  }
  endRun(parts.length);
  return out;
}
