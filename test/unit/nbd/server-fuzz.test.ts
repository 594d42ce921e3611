import fc from 'fast-check';
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../src/nbd/client.js';
import { MemoryBackend } from '../../../src/nbd/memory-backend.js';
import { Cmd, Opt, encodeClientFlags, encodeInfoRequest, encodeOption, encodeRequestHeader } from '../../../src/nbd/protocol.js';
import { startServer, waitFor, type Running } from './helpers.js';

// Hostile clients: whatever bytes arrive, the server must not crash, must not leak the
// connection, and must go on serving well-behaved clients.

const SIZE = 1024 * 1024;
let r: Running;
beforeAll(async () => {
  r = await startServer(new MemoryBackend(SIZE), { maxPayload: 64 * 1024 });
});
afterAll(async () => {
  await r.stop();
});

/** Sends `bytes` in the given pieces, half-closes, and waits for the server to close. */
async function hostile(pieces: Buffer[]): Promise<void> {
  const s = netConnect(r.socketPath);
  s.on('error', () => {}); // the server may cut us off mid-write
  s.resume();
  const closed = new Promise<void>((res) => s.once('close', () => res()));
  for (const p of pieces) s.write(p);
  s.end();
  await closed;
}

const GO = Buffer.concat([encodeClientFlags(3), encodeOption(Opt.GO, encodeInfoRequest('r0', []))]);

const requestArb = fc
  .record({
    command: fc.oneof(fc.constantFrom(Cmd.READ, Cmd.WRITE, Cmd.FLUSH, Cmd.TRIM, Cmd.WRITE_ZEROES, Cmd.DISC), fc.integer({ min: 0, max: 0xffff })),
    flags: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    handleLo: fc.nat(),
    offset: fc.oneof(fc.integer({ min: 0, max: SIZE }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    length: fc.oneof(fc.integer({ min: 0, max: 8192 }), fc.integer({ min: 0, max: 0xffffffff })),
  })
  .map((h) => {
    const header = encodeRequestHeader({ ...h, handleHi: 0 });
    // Honest payload for small writes; a large declared length is left short (the client lies).
    const payload = h.command === Cmd.WRITE ? Buffer.alloc(Math.min(h.length, 10_000), 0x5a) : Buffer.alloc(0);
    return Buffer.concat([header, payload]);
  });

function mutate(b: Buffer, flips: Array<[number, number]>): Buffer {
  const out = Buffer.from(b);
  for (const [pos, v] of flips) if (out.length > 0) out[pos % out.length] = v;
  return out;
}
function split(b: Buffer, step: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += step) out.push(b.subarray(i, i + step));
  return out;
}

const flipsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 });

describe('NBD server under fuzzed clients', () => {
  it('option phase: random and mutated streams', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
          fc.tuple(fc.constantFrom(GO, Buffer.concat([encodeClientFlags(1), encodeOption(Opt.LIST), encodeOption(Opt.INFO, encodeInfoRequest('x', [1]))])), flipsArb).map(([b, f]) => mutate(b, f)),
        ),
        fc.integer({ min: 1, max: 64 }),
        async (bytes, step) => {
          await hostile(split(bytes, step));
        },
      ),
      { numRuns: 150 },
    );
    await waitFor(() => r.server.connectionCount === 0, 'fuzzed connections to be released');
  });

  it('transmission phase: random and mutated request streams', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
          fc.tuple(fc.array(requestArb, { maxLength: 8 }), flipsArb).map(([reqs, f]) => mutate(Buffer.concat(reqs), f)),
          fc.array(requestArb, { maxLength: 8 }).map((reqs) => Buffer.concat(reqs)),
        ),
        fc.integer({ min: 1, max: 4096 }),
        async (bytes, step) => {
          await hostile([GO, ...split(bytes, step)]);
        },
      ),
      { numRuns: 150 },
    );
    await waitFor(() => r.server.connectionCount === 0, 'fuzzed connections to be released');
  });

  it('a fresh client still works after the fuzzing', async () => {
    const c = await connect(r.socketPath, 'r0');
    await c.write(4096, Buffer.from('survived'));
    expect((await c.read(4096, 8)).toString()).toBe('survived');
    await c.close();
  });
});
