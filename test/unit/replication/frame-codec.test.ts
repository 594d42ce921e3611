import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  FRAME_MAGIC, FrameDecoder, FrameTooLargeError, MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES, PREFIX_BYTES,
  decodeChunks, encodeFrame,
} from '../../../src/replication/frame-codec.js';
import type { PeerMessage } from '../../../src/replication/messages.js';
import { DATA_HEADER_BYTES } from '../../../src/replication/data-frame.js';
import { native } from '../../../src/storage/native.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const uuids = { current: '0123456789abcdef', bitmap: '0', history: ['1', '2'] as [string, string] };

/** One valid message of every type. */
const SAMPLES: PeerMessage[] = [
  { type: 'hello', version: 1, resource: 'r0', node: 'alice', nonce: 'abc' },
  { type: 'hello', version: 1, resource: 'r0', node: 'alice', nonce: 'abc', auth: 'sha1' },
  { type: 'auth-challenge', challenge: Buffer.alloc(64, 7) },
  { type: 'auth-response', response: Buffer.alloc(20, 9) },
  { type: 'auth-result', ok: true },
  { type: 'auth-result', ok: false, reason: 'Authentication of peer failed' },
  {
    type: 'params', protocol: 'C', usableSize: 2 ** 40, uuids, flags: ['consistent'], dirtyBits: 3,
    role: 'Primary', disk: 'UpToDate', discardMyData: false,
  },
  { type: 'ping' },
  { type: 'ping-ack' },
  { type: 'state', role: 'Secondary', disk: 'Inconsistent' },
  { type: 'uuids', uuids, dirtyBits: 0, skipInitialSync: true },
  { type: 'sync-uuid', uuid: 'ffff' },
  { type: 'sync-plan', plan: 'source', mode: 'bitmap' },
  { type: 'bitmap', granularity: 4096, offset: 0, words: 1, total: 8, payload: Buffer.from([1, 2, 3]) },
  { type: 'bitmap', granularity: 4096, offset: 0, words: 0, total: 0, payload: Buffer.alloc(0) },
  { type: 'data', seq: 1, offset: 8192, length: 4, kind: 'write', fua: true, payload: Buffer.from('abcd') },
  { type: 'data', seq: 2, offset: 0, length: 1 << 20, kind: 'trim', fua: false },
  { type: 'data', seq: 3, offset: 0, length: 4096, kind: 'zeroes', fua: false },
  { type: 'recv-ack', seq: 1 },
  { type: 'write-ack', seq: 1, ok: false },
  { type: 'write-acks', seqs: [1, 2, 2 ** 40] },
  { type: 'flush', seq: 5 },
  { type: 'flush-ack', seq: 5, ok: true },
  { type: 'out-of-sync', offset: 4096, length: 4096 },
  { type: 'resync-request', offset: 0, length: 1 << 20 },
  { type: 'resync-data', offset: 0, length: 2, payload: Buffer.from([0, 255]) },
  { type: 'checksum-request', offset: 0, length: 4096, crc: 0xffffffff, purpose: 'verify' },
  { type: 'checksum-reply', offset: 0, length: 4096, equal: true, purpose: 'csum-resync' },
  { type: 'resync-done', ok: true },
  { type: 'disconnect', reason: 'bye ✓' },
];

function concat(chunks: Buffer[]): Buffer {
  return Buffer.concat(chunks);
}

/** A frame with a hand-made header object, to test what the decoder refuses. */
function rawFrame(header: unknown, payload: Buffer = Buffer.alloc(0), magic = FRAME_MAGIC): Buffer {
  const h = packr.pack(header);
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.writeUInt32BE(magic, 0);
  prefix.writeUInt32BE(h.length, 4);
  prefix.writeUInt32BE(payload.length, 8);
  return Buffer.concat([prefix, h, payload]);
}

function malformedReason(bytes: Buffer): string {
  const r = decodeChunks([bytes]);
  expect(r.messages).toEqual([]);
  expect(r.error?.kind).toBe('malformed');
  return r.error!.reason;
}

const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1, maxLength: 16 });
const uint = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const messageArb: fc.Arbitrary<PeerMessage> = fc.oneof(
  fc.record({ seq: uint, offset: uint, fua: fc.boolean(), payload: fc.uint8Array({ maxLength: 9000 }) }).map(
    (r): PeerMessage => ({ type: 'data', seq: r.seq, offset: r.offset, length: r.payload.length, kind: 'write', fua: r.fua, payload: Buffer.from(r.payload) }),
  ),
  fc.record({ seq: uint, offset: uint, length: uint, kind: fc.constantFrom('trim' as const, 'zeroes' as const), fua: fc.boolean() })
    .map((r): PeerMessage => ({ type: 'data', ...r })),
  fc.record({ seq: uint, ok: fc.boolean() }).map((r): PeerMessage => ({ type: 'write-ack', ...r })),
  fc.array(uint, { maxLength: 50 }).map((seqs): PeerMessage => ({ type: 'write-acks', seqs })),
  fc.constant<PeerMessage>({ type: 'ping' }),
  fc.record({ reason: fc.string({ unit: 'grapheme', maxLength: 50 }) }).map((r): PeerMessage => ({ type: 'disconnect', ...r })),
  fc.record({ resource: fc.string(), node: fc.string(), nonce: hex }).map((r): PeerMessage => ({ type: 'hello', version: 1, ...r })),
  fc.uint8Array({ minLength: 64, maxLength: 64 }).map((c): PeerMessage => ({ type: 'auth-challenge', challenge: Buffer.from(c) })),
  fc.record({ granularity: uint, payload: fc.uint8Array({ maxLength: 3000 }) })
    .map((r): PeerMessage => ({ type: 'bitmap', granularity: r.granularity, offset: 0, words: r.payload.length, total: r.payload.length * 8, payload: Buffer.from(r.payload) })),
  fc.record({ offset: uint, length: uint, crc: fc.nat({ max: 0xffffffff }), purpose: fc.constantFrom('verify' as const, 'csum-resync' as const) })
    .map((r): PeerMessage => ({ type: 'checksum-request', ...r })),
  fc.record({ current: hex, bitmap: hex, h0: hex, h1: hex, dirty: uint, flags: fc.array(fc.string(), { maxLength: 4 }) }).map((r): PeerMessage => ({
    type: 'params', protocol: 'A', usableSize: 1 << 30, uuids: { current: r.current, bitmap: r.bitmap, history: [r.h0, r.h1] },
    flags: r.flags, dirtyBits: r.dirty, role: 'Unknown', disk: 'Outdated', discardMyData: true,
  })),
);

/** Splits a byte string at random cut points. */
const chunked = (bytes: Buffer) =>
  fc.uniqueArray(fc.nat({ max: Math.max(0, bytes.length) }), { maxLength: 40 }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
    const out: Buffer[] = [];
    for (let i = 1; i < points.length; i++) out.push(bytes.subarray(points[i - 1], points[i]));
    return out;
  });

describe('frame codec: encoding', () => {
  it('round-trips one message of every type', () => {
    for (const m of SAMPLES) {
      const r = decodeChunks([concat(encodeFrame(m))]);
      expect(r.error).toBeNull();
      expect(r.messages).toEqual([m]);
      expect(r.buffered).toBe(0);
    }
  });

  it('writes the prefix: magic TNDM, header length, payload length', () => {
    const payload = Buffer.alloc(4096, 1);
    const chunks = encodeFrame({ type: 'resync-data', offset: 0, length: 4096, payload });
    expect(chunks[0]!.subarray(0, 4).toString('latin1')).toBe('TNDM');
    expect(chunks[0]!.readUInt32BE(4)).toBe(chunks[0]!.length - PREFIX_BYTES);
    expect(chunks[0]!.readUInt32BE(8)).toBe(4096);
  });

  it('hands the payload Buffer itself to the socket (no copy)', () => {
    const payload = Buffer.alloc(65536, 3);
    const chunks = encodeFrame({ type: 'resync-data', offset: 0, length: payload.length, payload });
    expect(chunks).toHaveLength(2);
    expect(chunks[1]).toBe(payload);
  });

  it('refuses to encode a frame over the limits', () => {
    const payload = Buffer.alloc(101);
    expect(() => encodeFrame({ type: 'bitmap', granularity: 1, offset: 0, words: 1, total: payload.length, payload }, { maxHeaderBytes: 1000, maxPayloadBytes: 100 }))
      .toThrow(FrameTooLargeError);
    expect(() => encodeFrame({ type: 'disconnect', reason: 'x'.repeat(2000) }, { maxHeaderBytes: 1000, maxPayloadBytes: 100 }))
      .toThrow(/header is \d+ bytes, limit 1000/);
  });
});

describe('frame codec: decoding', () => {
  it('slices small payloads that arrived in one read out of the read slab (no copy per frame)', () => {
    const payload = Buffer.alloc(4096, 0xab);
    const a = concat(encodeFrame({ type: 'data', seq: 1, offset: 0, length: 4096, kind: 'write', fua: false, payload }));
    const b = concat(encodeFrame({ type: 'data', seq: 2, offset: 4096, length: 4096, kind: 'write', fua: false, payload }));
    const chunk = Buffer.concat([a, b]);
    const got: PeerMessage[] = [];
    new FrameDecoder().push(chunk, (m) => got.push(m));
    expect(got).toHaveLength(2);
    for (const m of got) {
      if (m.type !== 'data') throw new Error('expected data');
      expect(m.payload!.buffer).toBe((got[0] as { payload: Buffer }).payload.buffer);
      expect(m.payload!.equals(payload)).toBe(true);
    }
  });

  it('reads a large payload in place: after the header, the next reads land in the payload itself', () => {
    const payload = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff));
    const bytes = concat(encodeFrame({ type: 'data', seq: 3, offset: 0, length: payload.length, kind: 'write', fua: false, payload }));
    const d = new FrameDecoder();
    const got: PeerMessage[] = [];
    d.setEmitter((m) => got.push(m));
    // the first read brings the prefix, the header and 1000 payload bytes
    const at = PREFIX_BYTES + DATA_HEADER_BYTES + 1000;
    const first = d.nextBuffer();
    bytes.copy(first, 0, 0, at);
    expect(d.received(at)).toBe(true);
    const target = d.nextBuffer();
    expect(target.length).toBe(payload.length - 1000);
    bytes.copy(target, 0, at);
    expect(d.received(bytes.length - at)).toBe(true);
    expect(got).toHaveLength(1);
    const m = got[0] as { payload: Buffer };
    expect(m.payload.buffer).toBe(target.buffer);
    expect(m.payload.equals(payload)).toBe(true);
    expect(native.alignPad(m.payload, 4096)).toBe(0);
    expect(d.buffered).toBe(0);
  });

  it('copies a payload split across chunks, and it is intact', () => {
    const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff));
    const bytes = concat(encodeFrame({ type: 'resync-data', offset: 0, length: payload.length, payload }));
    const r = decodeChunks([bytes.subarray(0, 100), bytes.subarray(100, 2600), bytes.subarray(2600)]);
    expect(r.error).toBeNull();
    expect(r.messages).toHaveLength(1);
    expect((r.messages[0] as { payload: Buffer }).payload.equals(payload)).toBe(true);
  });

  it('joins a large split payload into a page-aligned Buffer (a bulk write needs no bounce copy)', () => {
    const payload = Buffer.alloc(256 * 1024, 7);
    const bytes = concat(encodeFrame({ type: 'resync-data', offset: 0, length: payload.length, payload }));
    const r = decodeChunks([bytes.subarray(0, 65536), bytes.subarray(65536)]);
    const got = (r.messages[0] as { payload: Buffer }).payload;
    expect(got.equals(payload)).toBe(true);
    expect(native.alignPad(got, 4096)).toBe(0);
  });

  it('waits for more bytes on a partial frame and keeps them buffered', () => {
    const bytes = concat(encodeFrame({ type: 'write-ack', seq: 9, ok: true }));
    const d = new FrameDecoder();
    const got: PeerMessage[] = [];
    for (let i = 0; i < bytes.length - 1; i++) expect(d.push(bytes.subarray(i, i + 1), (m) => got.push(m))).toBeNull();
    expect(got).toEqual([]);
    expect(d.buffered).toBe(bytes.length - 1);
    d.push(bytes.subarray(bytes.length - 1), (m) => got.push(m));
    expect(got).toEqual([{ type: 'write-ack', seq: 9, ok: true }]);
  });

  it('rejects oversized lengths from the prefix alone, before buffering the body', () => {
    const prefix = Buffer.alloc(PREFIX_BYTES);
    prefix.writeUInt32BE(FRAME_MAGIC, 0);
    prefix.writeUInt32BE(MAX_HEADER_BYTES + 1, 4);
    expect(new FrameDecoder().push(prefix, () => {})?.reason).toMatch(/header length 65537 exceeds 65536/);
    prefix.writeUInt32BE(10, 4);
    prefix.writeUInt32BE(MAX_PAYLOAD_BYTES + 1, 8);
    expect(new FrameDecoder().push(prefix, () => {})?.reason).toMatch(/payload length 16777217 exceeds 16777216/);
  });

  it.each([
    ['bad magic', rawFrame({ type: 'ping' }, undefined, 0x12345678), /bad magic 0x12345678/],
    ['unknown type', rawFrame({ type: 'launch-missiles' }), /unknown message type "launch-missiles"/],
    ['no type', rawFrame({ seq: 1 }), /unknown message type/],
    ['header not a map', rawFrame([1, 2, 3]), /header is not a map/],
    ['missing field', rawFrame({ type: 'write-ack', seq: 1 }), /write-ack: field 'ok' missing or not bool/],
    ['wrong primitive', rawFrame({ type: 'write-ack', seq: '1', ok: true }), /field 'seq' missing or not uint/],
    ['a negative seq among acks', rawFrame({ type: 'write-acks', seqs: [1, -2] }), /write-acks: field 'seqs' missing or not uints/],
    ['acks that are not a list', rawFrame({ type: 'write-acks', seqs: 5 }), /write-acks: field 'seqs' missing or not uints/],
    ['negative number', rawFrame({ type: 'recv-ack', seq: -1 }), /field 'seq'/],
    ['fractional number', rawFrame({ type: 'recv-ack', seq: 1.5 }), /field 'seq'/],
    ['huge integer (bigint)', rawFrame({ type: 'recv-ack', seq: 2n ** 62n }), /field 'seq'/],
    ['enum out of range', rawFrame({ type: 'state', role: 'Emperor', disk: 'UpToDate' }), /field 'role' must be one of/],
    ['bad uuids', rawFrame({ type: 'uuids', uuids: { current: 'a' }, dirtyBits: 0, skipInitialSync: false }), /field 'uuids'/],
    ['challenge not bytes', rawFrame({ type: 'auth-challenge', challenge: 'abc' }), /field 'challenge' missing or not bytes/],
    ['payload on a ping', rawFrame({ type: 'ping' }, Buffer.from([1])), /ping frame carries an unexpected 1-byte payload/],
    // data has its own binary header (data-frame.test.ts): one encoding per message
    ['data as msgpack', rawFrame({ type: 'data', seq: 1, offset: 0, length: 4, kind: 'write', fua: false }, Buffer.alloc(4)), /data travels in TNDD frames/],
    ['resync-data length mismatch', rawFrame({ type: 'resync-data', offset: 0, length: 3 }, Buffer.alloc(2)), /resync-data says length 3/],
  ])('refuses %s', (_name, bytes, reason) => {
    expect(malformedReason(bytes)).toMatch(reason);
  });

  it('refuses an empty header and a header that is not msgpack', () => {
    const empty = Buffer.alloc(PREFIX_BYTES);
    empty.writeUInt32BE(FRAME_MAGIC, 0);
    expect(malformedReason(empty)).toBe('empty header');
    const junk = Buffer.alloc(PREFIX_BYTES + 2);
    junk.writeUInt32BE(FRAME_MAGIC, 0);
    junk.writeUInt32BE(2, 4);
    junk[PREFIX_BYTES] = 0x92; // an array of two elements ...
    junk[PREFIX_BYTES + 1] = 0x01; // ... that has only one
    expect(malformedReason(junk)).toMatch(/header is not valid msgpack/);
    const trailing = rawFrame({ type: 'ping' });
    const longer = Buffer.concat([trailing, Buffer.from([0x01])]);
    longer.writeUInt32BE(longer.length - PREFIX_BYTES, 4);
    expect(malformedReason(longer)).toMatch(/not valid msgpack/);
  });

  it('keeps only declared fields: extra keys and __proto__ do not reach the daemon', () => {
    const r = decodeChunks([rawFrame({ type: 'recv-ack', seq: 4, extra: 'x', __proto__: { polluted: true } })]);
    expect(r.messages).toEqual([{ type: 'recv-ack', seq: 4 }]);
    expect(Object.getPrototypeOf(r.messages[0])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('stays poisoned after a malformed frame: framing is lost for good', () => {
    const d = new FrameDecoder();
    const first = d.push(rawFrame({ type: 'nope' }), () => {});
    expect(first?.kind).toBe('malformed');
    const got: PeerMessage[] = [];
    expect(d.push(concat(encodeFrame({ type: 'ping' })), (m) => got.push(m))).toBe(first);
    expect(got).toEqual([]);
  });
});

describe('frame codec: properties', () => {
  it('valid frames round-trip across random chunkings', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 12 }).chain((msgs) => {
          const bytes = Buffer.concat(msgs.flatMap((m) => encodeFrame(m)));
          return fc.tuple(fc.constant(msgs), chunked(bytes));
        }),
        ([msgs, chunks]) => {
          const r = decodeChunks(chunks);
          expect(r.error).toBeNull();
          expect(r.buffered).toBe(0);
          expect(r.messages).toEqual(msgs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('large payloads (read in place) and small frames interleaved decode the same at any split points', () => {
    const frameArb = fc.oneof(
      fc.record({ size: fc.integer({ min: 64 * 1024, max: 300 * 1024 }), seed: fc.nat({ max: 255 }) }),
      fc.record({ size: fc.integer({ min: 0, max: 9000 }), seed: fc.nat({ max: 255 }) }),
    );
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 200 * 1024 }), { minLength: 1, maxLength: 30 }),
        (frames, cuts) => {
          const msgs: PeerMessage[] = frames.map(({ size, seed }, i) => size === 0
            ? { type: 'write-ack', seq: i, ok: true }
            : { type: 'data', seq: i, offset: i * 4096, length: size, kind: 'write', fua: false, payload: Buffer.alloc(size, seed) });
          const bytes = Buffer.concat(msgs.flatMap((m) => encodeFrame(m)));
          const chunks: Buffer[] = [];
          let at = 0;
          for (let i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            chunks.push(bytes.subarray(at, at + n));
            at += n;
          }
          const r = decodeChunks(chunks);
          expect(r.error).toBeNull();
          expect(r.buffered).toBe(0);
          // payloads compared with equals(): toEqual walks large Buffers byte by byte
          const strip = (m: PeerMessage) => ({ ...m, payload: undefined });
          expect(r.messages.map(strip)).toEqual(msgs.map(strip));
          r.messages.forEach((m, i) => {
            if ('payload' in m) expect(m.payload!.equals((msgs[i] as { payload: Buffer }).payload)).toBe(true);
          });
        }),
      { numRuns: 100 },
    );
  });

  it('random bytes never throw, and whatever decodes is a valid message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, withMagic) => {
        const buf = Buffer.from(bytes);
        if (withMagic && buf.length >= 4) buf.writeUInt32BE(FRAME_MAGIC, 0);
        const r = decodeChunks([buf]);
        for (const m of r.messages) expect(() => encodeFrame(m)).not.toThrow();
        expect(r.error === null || r.error.kind === 'malformed').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated valid frames never throw: bit flips, truncation, insertions', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    );
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 4 }), fc.array(mutation, { minLength: 1, maxLength: 5 }), fc.nat({ max: 50 }),
        (msgs, mutations, chunkSize) => {
          let buf = Buffer.concat(msgs.flatMap((m) => encodeFrame(m)));
          for (const mu of mutations) {
            const at = mu.at % (buf.length + 1);
            if (mu.kind === 'flip' && at < buf.length) buf[at] = mu.value;
            else if (mu.kind === 'truncate') buf = buf.subarray(0, at);
            else if (mu.kind === 'insert') buf = Buffer.concat([buf.subarray(0, at), Buffer.from(mu.bytes), buf.subarray(at)]);
          }
          const size = chunkSize + 1;
          const chunks: Buffer[] = [];
          for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
          const r = decodeChunks(chunks);
          for (const m of r.messages) expect(() => encodeFrame(m)).not.toThrow();
        }),
      { numRuns: 2000 },
    );
  });
});
