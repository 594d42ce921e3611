// Routes the addon's completion records to the callbacks that asked for them. The addon wakes
// the JS thread once per batch of finished requests and calls dispatch(count) once per up to
// CAPACITY of them, so a burst of completions costs one call into JS, not one per request.
import { native } from './native.js';

/** err: 0, a positive errno, or one of the ERR_* values below. */
export type Completion = (err: number, failIndex: number, done: number) => void;

/** Values of `err` that are not errnos (kErrShortIo, kErrClosed in native/io_job.h). */
export const ERR_SHORT_IO = -1;
export const ERR_CLOSED = -2;
/** readSync only: a page is not in the cache, so the read belongs on the I/O pool */
export const ERR_WOULD_BLOCK = -3;

const FIELDS = 4; // [id, err, failIndex, done], as in native/io_pool.h
const CAPACITY = 1024;
const records = new Float64Array(CAPACITY * FIELDS);

// Ids are slot indexes, recycled through a free list: no Map and no growth in steady state.
const slots: (Completion | undefined)[] = [];
const freeIds: number[] = [];

function dispatch(count: number): void {
  for (let i = 0; i < count; i++) {
    const b = i * FIELDS;
    const id = records[b];
    const err = records[b + 1];
    const failIndex = records[b + 2];
    const done = records[b + 3];
    const cb = slots[id];
    slots[id] = undefined;
    freeIds.push(id);
    if (cb === undefined) continue;
    try {
      cb(err, failIndex, done);
    } catch (e) {
      // One throwing callback must not strand the rest of the batch; surface it as an
      // uncaught exception afterwards, as an EventEmitter listener's throw would be.
      process.nextTick(() => {
        throw e;
      });
    }
  }
}

native.setCompletionHandler(records, dispatch);

/** Reserves an id whose completion will call `cb` exactly once. */
export function track(cb: Completion): number {
  const id = freeIds.length > 0 ? (freeIds.pop() as number) : slots.length;
  slots[id] = cb;
  return id;
}

/** Gives back an id whose request never reached the addon (it threw synchronously). */
export function untrack(id: number): void {
  slots[id] = undefined;
  freeIds.push(id);
}

export function pendingCount(): number {
  return slots.length - freeIds.length;
}
