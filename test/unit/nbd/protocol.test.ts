import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Cmd,
  Info,
  REQUEST_MAGIC,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoRequest,
  encodeOption,
  encodeOptionReply,
  encodeRequestHeader,
  encodeSimpleReplyHeader,
  parseClientFlags,
  parseGreeting,
  parseInfoReply,
  parseInfoRequest,
  parseOptionHeader,
  parseOptionReplyHeader,
  parseRequestHeader,
  parseSimpleReplyHeader,
  readU64,
  writeU64,
} from '../../../src/nbd/protocol.js';

describe('NBD wire format', () => {
  it('greeting is NBDMAGIC IHAVEOPT + handshake flags FIXED_NEWSTYLE|NO_ZEROES', () => {
    const g = encodeGreeting();
    expect(g.toString('hex')).toBe('4e42444d41474943' + '49484156454f5054' + '0003');
    expect(parseGreeting(g)).toEqual({ ok: true, value: { handshakeFlags: 3 } });
    expect(parseGreeting(g.subarray(0, 10))).toEqual({ ok: false, error: { kind: 'short-greeting' } });
  });

  it('client flags: known bits accepted, unknown bits refused', () => {
    const b = Buffer.from([0, 0, 0, 3]);
    expect(parseClientFlags(b)).toEqual({ ok: true, value: { fixedNewstyle: true, noZeroes: true } });
    expect(parseClientFlags(Buffer.from([0, 0, 0, 4]))).toEqual({ ok: false, error: { kind: 'unknown-client-flags', flags: 4 } });
  });

  it('option header round trip and bad magic', () => {
    const o = encodeOption(7, Buffer.from('abc'));
    expect(parseOptionHeader(o)).toEqual({ ok: true, value: { option: 7, length: 3 } });
    o[0] = 0;
    expect(parseOptionHeader(o)).toEqual({ ok: false, error: { kind: 'bad-option-magic' } });
  });

  it('option reply header carries magic 0x3e889045565a9', () => {
    const r = encodeOptionReply(7, 1);
    expect(r.subarray(0, 8).toString('hex')).toBe('0003e889045565a9');
    expect(parseOptionReplyHeader(r)).toEqual({ ok: true, value: { option: 7, type: 1, length: 0 } });
  });

  it('info request (NBD_OPT_GO data) round trip and malformed variants', () => {
    const d = encodeInfoRequest('r0', [Info.BLOCK_SIZE, Info.NAME]);
    expect(parseInfoRequest(d)).toEqual({ ok: true, value: { name: 'r0', infos: [3, 1] } });
    expect(parseInfoRequest(d.subarray(0, 5)).ok).toBe(false);
    const bad = Buffer.from(d);
    bad.writeUInt32BE(1000, 0);
    expect(parseInfoRequest(bad)).toMatchObject({ ok: false, error: { kind: 'name-length-overflow' } });
    const extra = Buffer.concat([d, Buffer.from([0])]);
    expect(parseInfoRequest(extra)).toMatchObject({ ok: false, error: { kind: 'info-count-mismatch' } });
  });

  it('info replies: export and block size', () => {
    expect(parseInfoReply(encodeInfoExport(2 ** 40 + 5, 0x10d))).toEqual({
      ok: true,
      value: { kind: 'export', size: 2 ** 40 + 5, transmissionFlags: 0x10d },
    });
    expect(parseInfoReply(encodeInfoBlockSize({ minimum: 1, preferred: 4096, maximum: 1 << 25 }))).toEqual({
      ok: true,
      value: { kind: 'block-size', sizes: { minimum: 1, preferred: 4096, maximum: 1 << 25 } },
    });
  });

  it('NBD_OPT_EXPORT_NAME reply is 134 bytes, or 10 with NO_ZEROES', () => {
    expect(encodeExportNameReply(1024, 1, false).length).toBe(134);
    const short = encodeExportNameReply(1024, 0x1ed, true);
    expect(short.length).toBe(10);
    expect(readU64(short, 0)).toBe(1024);
    expect(short.readUInt16BE(8)).toBe(0x1ed);
  });

  it('request header: 28 bytes, magic 0x25609513, round trip of every field', () => {
    fc.assert(
      fc.property(
        fc.record({
          flags: fc.integer({ min: 0, max: 0xffff }),
          command: fc.integer({ min: 0, max: 0xffff }),
          handleHi: fc.integer({ min: 0, max: 0xffffffff }),
          handleLo: fc.integer({ min: 0, max: 0xffffffff }),
          offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          length: fc.integer({ min: 0, max: 0xffffffff }),
        }),
        (h) => {
          const b = encodeRequestHeader(h);
          expect(b.length).toBe(28);
          expect(b.readUInt32BE(0)).toBe(REQUEST_MAGIC);
          expect(parseRequestHeader(b)).toEqual({ ok: true, value: h });
        },
      ),
    );
  });

  it('64-bit offsets survive the hi/lo split', () => {
    const b = Buffer.alloc(8);
    for (const v of [0, 1, 0xffffffff, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      writeU64(b, v, 0);
      expect(readU64(b, 0)).toBe(v);
    }
  });

  it('simple reply header round trip; structured magic reported as such', () => {
    const r = encodeSimpleReplyHeader(1, 2, 22);
    expect(parseSimpleReplyHeader(r)).toEqual({ ok: true, value: { error: 22, handleHi: 1, handleLo: 2 } });
    r.writeUInt32BE(0x668e33ef, 0);
    expect(parseSimpleReplyHeader(r)).toEqual({ ok: false, error: { kind: 'structured-reply-unexpected' } });
  });

  it('parsers never throw on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(40), (bytes, at) => {
        const b = Buffer.from(bytes);
        for (const parse of [parseGreeting, parseClientFlags, parseOptionHeader, parseOptionReplyHeader, parseInfoRequest, parseInfoReply]) {
          expect(typeof parse(b).ok).toBe('boolean');
        }
        expect(typeof parseRequestHeader(b, at).ok).toBe('boolean');
        expect(typeof parseSimpleReplyHeader(b, at).ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('command numbers follow the spec', () => {
    expect(Cmd).toMatchObject({ READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 });
  });
});
