import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cmd, encodeRequestHeader } from '../../../src/nbd/protocol.js';
import { RequestParser, type NbdRequest, type RequestStreamError } from '../../../src/nbd/request-parser.js';
import { native } from '../../../src/storage/native.js';
import { IN_PLACE_FROM_BYTES, InPlaceReader } from '../../../src/net/in-place-reader.js';

const MAX = 1024;

interface Frame {
  command: number;
  flags: number;
  handleHi: number;
  handleLo: number;
  offset: number;
  length: number;
  payload: Buffer | undefined;
}

function encode(f: Frame): Buffer {
  const h = encodeRequestHeader(f);
  return f.payload ? Buffer.concat([h, f.payload]) : h;
}

const frameArb: fc.Arbitrary<Frame> = fc
  .record({
    command: fc.constantFrom(Cmd.READ, Cmd.WRITE, Cmd.FLUSH, Cmd.TRIM, Cmd.WRITE_ZEROES, Cmd.DISC, 9, 0xffff),
    flags: fc.integer({ min: 0, max: 0xffff }),
    handleHi: fc.integer({ min: 0, max: 0xffffffff }),
    handleLo: fc.integer({ min: 0, max: 0xffffffff }),
    offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    length: fc.oneof(fc.integer({ min: 0, max: MAX }), fc.integer({ min: MAX + 1, max: 3 * MAX })),
    seed: fc.integer(),
  })
  .map(({ seed, ...f }) => ({
    ...f,
    payload: f.command === Cmd.WRITE && f.length > 0 ? Buffer.alloc(f.length, seed & 0xff) : undefined,
  }));

/** Splits `bytes` at the given cut points. */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) out.push(Buffer.from(bytes.subarray(prev, p)));
    prev = Math.max(prev, p);
  }
  return out;
}

function collect(chunks: Buffer[], max = MAX): { reqs: NbdRequest[]; fatal: RequestStreamError[] } {
  const reqs: NbdRequest[] = [];
  const fatal: RequestStreamError[] = [];
  const p = new RequestParser(max, { request: (r) => reqs.push(r), fatal: (e) => fatal.push(e) });
  for (const c of chunks) p.push(c);
  return { reqs, fatal };
}

describe('RequestParser', () => {
  it('yields the same requests however the stream is chunked', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.map(encode));
        const { reqs, fatal } = collect(cut(stream, cuts));
        expect(fatal).toEqual([]);
        expect(reqs.length).toBe(frames.length);
        frames.forEach((f, i) => {
          const r = reqs[i]!;
          expect({ ...r, data: undefined }).toEqual({
            command: f.command,
            flags: f.flags,
            handleHi: f.handleHi,
            handleLo: f.handleLo,
            offset: f.offset,
            length: f.length,
            data: undefined,
            payloadDiscarded: f.payload !== undefined && f.length > MAX,
          });
          if (f.payload && f.length <= MAX) expect(r.data?.equals(f.payload)).toBe(true);
          else expect(r.data).toBeUndefined();
        });
      }),
      { numRuns: 500 },
    );
  });

  it('read through an InPlaceReader as NbdSession does (large payloads in place), reads of any size yield the same requests', () => {
    const big = 1 << 20;
    const writeArb = fc.record({
      length: fc.oneof(fc.integer({ min: 1, max: 9000 }), fc.integer({ min: IN_PLACE_FROM_BYTES, max: 300 * 1024 })),
      seed: fc.nat({ max: 255 }),
      flush: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(writeArb, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 200 * 1024 }), { minLength: 1, maxLength: 20 }), (writes, reads) => {
        const frames: Frame[] = writes.flatMap(({ length, seed, flush }, i) => {
          const w: Frame = { command: Cmd.WRITE, flags: 0, handleHi: 0, handleLo: i, offset: i * 4096, length, payload: Buffer.alloc(length, seed) };
          return flush ? [w, { command: Cmd.FLUSH, flags: 0, handleHi: 1, handleLo: i, offset: 0, length: 0, payload: undefined }] : [w];
        });
        const stream = Buffer.concat(frames.map(encode));
        const reqs: NbdRequest[] = [];
        const parser = new RequestParser(big, { request: (r) => reqs.push(r), fatal: () => { throw new Error('fatal'); } });
        const reader: InPlaceReader = new InPlaceReader((data, start, end) => {
          parser.push(data.subarray(start, end));
          const p = parser.payloadInProgress();
          if (p && p.payload.length >= IN_PLACE_FROM_BYTES) reader.fillInPlace(p.payload, p.filled, () => parser.payloadFilled());
          return end - start;
        });
        for (let at = 0, i = 0; at < stream.length; i++) {
          const buf = reader.nextBuffer();
          expect(buf.length).toBeGreaterThan(0);
          const n = Math.min(buf.length, reads[i % reads.length]!, stream.length - at);
          stream.copy(buf, 0, at, at + n);
          at += n;
          reader.received(n);
        }
        expect(reqs.length).toBe(frames.length);
        frames.forEach((f, i) => {
          expect(reqs[i]!.handleLo).toBe(f.handleLo);
          expect(reqs[i]!.command).toBe(f.command);
          if (f.payload) expect(reqs[i]!.data!.equals(f.payload)).toBe(true);
        });
      }),
      { numRuns: 100 },
    );
  });

  it('hands a WRITE payload that lies in one chunk on as a view of that chunk (no copy)', () => {
    const payload = Buffer.alloc(4096, 7);
    const frames = [0, 1, 2].map((i) => encode({ command: Cmd.WRITE, flags: 0, handleHi: 0, handleLo: i, offset: i * 4096, length: 4096, payload }));
    const chunk = Buffer.concat(frames);
    const { reqs } = collect([chunk], 1 << 20);
    expect(reqs).toHaveLength(3);
    for (const r of reqs) {
      expect(r.data!.buffer).toBe(chunk.buffer);
      expect(r.data!.equals(payload)).toBe(true);
    }
  });

  it('assembles a payload split across chunks into one buffer of the exact size', () => {
    const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
    const bytes = encode({ command: Cmd.WRITE, flags: 1, handleHi: 0, handleLo: 9, offset: 0, length: 3000, payload });
    const { reqs } = collect([bytes.subarray(0, 100), bytes.subarray(100, 1500), bytes.subarray(1500)], 1 << 20);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]!.data!.length).toBe(3000);
    expect(reqs[0]!.data!.equals(payload)).toBe(true);
  });

  it('assembles a large split payload into a page-aligned Buffer (a bulk write needs no bounce copy)', () => {
    const payload = Buffer.alloc(256 * 1024, 3);
    const bytes = encode({ command: Cmd.WRITE, flags: 0, handleHi: 0, handleLo: 1, offset: 0, length: payload.length, payload });
    const { reqs } = collect([bytes.subarray(0, 65536), bytes.subarray(65536)], 1 << 20);
    expect(reqs[0]!.data!.equals(payload)).toBe(true);
    expect(native.alignPad(reqs[0]!.data!, 4096)).toBe(0);
  });

  it('skips an oversized WRITE payload and keeps parsing after it', () => {
    const big = encode({ command: Cmd.WRITE, flags: 0, handleHi: 0, handleLo: 1, offset: 0, length: 5000, payload: Buffer.alloc(5000, 1) });
    const next = encode({ command: Cmd.READ, flags: 0, handleHi: 0, handleLo: 2, offset: 0, length: 10, payload: undefined });
    const { reqs, fatal } = collect([Buffer.concat([big, next])], 4096);
    expect(fatal).toEqual([]);
    expect(reqs.map((r) => [r.handleLo, r.payloadDiscarded, r.data])).toEqual([
      [1, true, undefined],
      [2, false, undefined],
    ]);
  });

  it('reports a bad magic once and ignores everything after it', () => {
    const good = encode({ command: Cmd.FLUSH, flags: 0, handleHi: 0, handleLo: 1, offset: 0, length: 0, payload: undefined });
    const bad = Buffer.from(good);
    bad.writeUInt32BE(0xdeadbeef, 0);
    const { reqs, fatal } = collect([Buffer.concat([good, bad, good]), good]);
    expect(reqs).toHaveLength(1);
    expect(fatal).toEqual([{ kind: 'bad-request-magic', magic: 0xdeadbeef }]);
  });

  it('never throws on random bytes or on mutated valid streams', () => {
    const mutated = fc
      .tuple(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }))
      .map(([frames, flips]) => {
        const b = Buffer.concat(frames.map(encode));
        for (const [pos, v] of flips) b[pos % b.length] = v;
        return b;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)), mutated), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        expect(() => collect(cut(bytes, cuts))).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});
