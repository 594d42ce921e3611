import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DATA_HEADER_BYTES, decodeDataHeader, encodeDataHeader } from '../../../src/replication/data-frame.js';
import { DATA_FRAME_MAGIC, FRAME_MAGIC, PREFIX_BYTES, decodeChunks, encodeFrame } from '../../../src/replication/frame-codec.js';
import type { DataMsg } from '../../../src/replication/messages.js';

const uint = fc.nat({ max: Number.MAX_SAFE_INTEGER });

function header(msg: DataMsg): Buffer {
  const h = Buffer.alloc(DATA_HEADER_BYTES);
  encodeDataHeader(msg, h, 0);
  return h;
}

const write: DataMsg = { type: 'data', seq: 7, offset: 4096, length: 4, kind: 'write', fua: false, payload: Buffer.from('abcd') };

describe('data frame header (binary)', () => {
  it('round-trips any safe seq, offset and length, every kind and fua', () => {
    fc.assert(
      fc.property(uint, uint, uint, fc.constantFrom('trim' as const, 'zeroes' as const), fc.boolean(), (seq, offset, length, kind, fua) => {
        const msg: DataMsg = { type: 'data', seq, offset, length, kind, fua };
        expect(decodeDataHeader(header(msg), Buffer.alloc(0))).toEqual(msg);
      }),
    );
    expect(decodeDataHeader(header(write), write.payload!)).toEqual(write);
  });

  it('data frames carry the TNDD magic and a fixed header; other messages keep msgpack under TNDM', () => {
    const [head, payload] = encodeFrame(write);
    expect(head!.readUInt32BE(0)).toBe(DATA_FRAME_MAGIC);
    expect(head!.readUInt32BE(4)).toBe(DATA_HEADER_BYTES);
    expect(head!.length).toBe(PREFIX_BYTES + DATA_HEADER_BYTES);
    expect(payload).toBe(write.payload); // not copied
    expect(encodeFrame({ type: 'write-ack', seq: 1, ok: true })[0]!.readUInt32BE(0)).toBe(FRAME_MAGIC);
  });

  const corrupt = (at: number, v: number): Buffer => {
    const h = header(write);
    h[at] = v;
    return h;
  };
  it.each([
    ['an unknown kind', corrupt(24, 3), write.payload!, /data: unknown kind 3/],
    ['a fua flag other than 0/1', corrupt(25, 2), write.payload!, /data: fua flag 2/],
    ['reserved bytes set', corrupt(31, 1), write.payload!, /reserved bytes are not zero/],
    ['a seq beyond 2^53', corrupt(0, 0xff), write.payload!, /seq is not a safe integer/],
    ['an offset beyond 2^53', corrupt(8, 0x01), write.payload!, /offset is not a safe integer/],
    ['a length beyond 2^53', corrupt(16, 0x80), write.payload!, /length is not a safe integer/],
    ['a write whose payload is shorter than its length', header(write), Buffer.from('abc'), /says length 4 but carries 3 bytes/],
    ['a trim with a payload', header({ ...write, kind: 'trim', payload: undefined }), Buffer.from('abcd'), /trim carries an unexpected 4-byte payload/],
    ['a short header', Buffer.alloc(10), Buffer.alloc(0), /header is 10 bytes/],
  ])('refuses %s', (_name, h, payload, reason) => {
    const r = decodeDataHeader(h, payload);
    expect(r).toMatchObject({ kind: 'malformed' });
    expect((r as { reason: string }).reason).toMatch(reason);
  });

  it('a TNDD prefix with another header length is malformed before the body is read', () => {
    const prefix = Buffer.alloc(PREFIX_BYTES);
    prefix.writeUInt32BE(DATA_FRAME_MAGIC, 0);
    prefix.writeUInt32BE(DATA_HEADER_BYTES + 1, 4);
    const r = decodeChunks([prefix]);
    expect(r.error?.reason).toMatch(/data header length 33, not 32/);
  });
});
