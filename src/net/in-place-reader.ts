// Reads a byte stream into buffers of our choosing (net.Socket's `onread` with a buffer function),
// so that a large payload lands straight in its final Buffer. With plain 'data' events every read
// is a fresh 64 KiB libuv Buffer, shrunk (a memmove) when the read was short, and a 1 MiB payload
// is then joined from 16+ of them (another copy); here one read syscall can take the whole rest of
// the payload, and nothing is copied twice.
//
// Small messages are read into a slab and parsed as views into it. A slab is never written again
// once a view may point into it (a payload view can outlive the read: a queued write), so when its
// free tail gets short a new slab is started and only the unparsed bytes move over.
//
// The parser decides what is large: when it meets a payload it wants in place, it allocates the
// Buffer, copies the part already in the slab and calls `fillInPlace`; the reader then aims the
// following reads at the rest of that Buffer and calls back once it is full.

/**
 * A payload of at least this many bytes is worth reading in place (its own Buffer, page-aligned by
 * allocPayload); smaller ones stay views into the slab, or are joined: an in-place read of a
 * small payload's tail would cost a syscall to save a copy of a few KiB.
 */
export const IN_PLACE_FROM_BYTES = 64 * 1024;

/** Parses the complete units in data[start, end); returns the bytes it used, or -1 to stop reading for good. */
export type SlabParser = (data: Buffer, start: number, end: number) => number;

/** Bytes of a slab. 4 KiB write frames are ~4.1 KiB: a read takes dozens of them at once. */
const SLAB_BYTES = 256 * 1024;
/** A slab with less free space than this is replaced: short reads would mean more syscalls. */
const MIN_FREE_BYTES = 64 * 1024;
/**
 * The read after a payload filled in place is capped at this: a large payload is usually followed
 * by another, and a full slab read would pull up to a slab of it in only to copy it out again.
 */
const PEEK_BYTES = 4096;

export class InPlaceReader {
  private slab: Buffer;
  private readPos = 0; // start of the bytes not parsed yet
  private writePos = 0; // end of the bytes received
  /** bytes the next unit needs from readPos (the parser's hint), so a slab can be made big enough */
  private need = 0;
  private target: Buffer | null = null;
  private filled = 0;
  private onFilled: (() => void) | null = null;
  private stopped = false;
  private peek = false;

  constructor(private readonly parse: SlabParser, private readonly slabBytes = SLAB_BYTES) {
    this.slab = Buffer.allocUnsafe(slabBytes);
  }

  /** Bytes received that are not yet part of a complete unit (a payload being filled counts its filled part). */
  get pending(): number {
    return this.target ? this.filled : this.writePos - this.readPos;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** The parser's hint: the unit starting at the first unparsed byte is `bytes` long (0: unknown yet). */
  expect(bytes: number): void {
    this.need = bytes;
  }

  /**
   * Called by the parser (it must then return `end`, having used every byte): the next reads go to
   * target[filled..]; `done` runs when target is full.
   */
  fillInPlace(target: Buffer, filled: number, done: () => void): void {
    this.target = target;
    this.filled = filled;
    this.onFilled = done;
  }

  /** Where the next read lands (net.Socket calls this before every read). */
  nextBuffer(): Buffer {
    if (this.target) return this.target.subarray(this.filled);
    const free = this.slab.length - this.writePos;
    if (free < MIN_FREE_BYTES || this.writePos - this.readPos + free < this.need) this.newSlab();
    return this.slab.subarray(this.writePos, this.peek ? this.writePos + PEEK_BYTES : this.slab.length);
  }

  /** `n` bytes landed in the last nextBuffer(). Returns false once reading should stop (the parser gave up). */
  received(n: number): boolean {
    if (this.stopped) return false;
    if (this.target) {
      this.filled += n;
      if (this.filled < this.target.length) return true;
      const done = this.onFilled!;
      this.target = null;
      this.onFilled = null;
      this.peek = true;
      done();
      return !this.stopped;
    }
    this.writePos += n;
    this.need = 0;
    this.peek = false;
    const used = this.parse(this.slab, this.readPos, this.writePos);
    if (used < 0) {
      this.stop();
      return false;
    }
    if (!this.target) this.readPos += used;
    else this.readPos = this.writePos;
    return !this.stopped;
  }

  /** Drops everything buffered; every later read is refused. */
  stop(): void {
    this.stopped = true;
    this.target = null;
    this.onFilled = null;
    this.readPos = this.writePos;
  }

  private newSlab(): void {
    const pending = this.writePos - this.readPos;
    const next = Buffer.allocUnsafe(Math.max(this.slabBytes, this.need + MIN_FREE_BYTES));
    this.slab.copy(next, 0, this.readPos, this.writePos);
    this.slab = next;
    this.readPos = 0;
    this.writePos = pending;
  }
}
