// max-buffers: DRBD keeps at most max-buffers / 2 pages of 4 KiB of resync requests in flight.
import { describe, expect, it } from 'vitest';
import { resyncWindow } from '../../../src/replication/resync-planner.js';

describe('resyncWindow (net { max-buffers; })', () => {
  it.each([
    [2048, 4 << 20, 1 << 20], // DRBD 8.4's default: 4 MiB in flight, 1 MiB requests
    [8000, 16_384_000, 1 << 20],
    [32, 64 << 10, 64 << 10], // the minimum: the window bounds the request size too
    [131072, 256 << 20, 1 << 20],
  ])('max-buffers %i → %i bytes in flight, requests of %i', (maxBuffers, inflight, request) => {
    expect(resyncWindow(maxBuffers)).toEqual({ maxInFlightBytes: inflight, maxRequestBytes: request });
  });
});
