import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServerHandshake, type ExportDescription, type HandshakeAction } from '../../../src/nbd/handshake.js';
import {
  Info,
  Opt,
  Rep,
  TxFlag,
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  parseInfoReply,
  parseOptionReplyHeader,
  readU64,
} from '../../../src/nbd/protocol.js';

const exp: ExportDescription = {
  name: 'r0',
  size: 1 << 30,
  transmissionFlags: TxFlag.HAS_FLAGS | TxFlag.SEND_FLUSH | TxFlag.SEND_FUA,
  blockSizes: { minimum: 1, preferred: 4096, maximum: 1 << 25 },
};
const FLAGS = encodeClientFlags(3);

function sent(actions: HandshakeAction[]): Buffer {
  return Buffer.concat(actions.flatMap((a) => (a.kind === 'send' ? [a.data] : [])));
}
function replies(bytes: Buffer): Array<{ option: number; type: number; data: Buffer }> {
  const out = [];
  let at = 0;
  while (at < bytes.length) {
    const h = parseOptionReplyHeader(bytes.subarray(at));
    if (!h.ok) throw new Error(`bad reply at ${at}`);
    out.push({ option: h.value.option, type: h.value.type, data: bytes.subarray(at + 20, at + 20 + h.value.length) });
    at += 20 + h.value.length;
  }
  return out;
}
function last(actions: HandshakeAction[]): HandshakeAction | undefined {
  return actions[actions.length - 1];
}
function run(...chunks: Buffer[]): { hs: ServerHandshake; actions: HandshakeAction[] } {
  const hs = new ServerHandshake(exp);
  const actions = chunks.flatMap((c) => hs.push(c));
  return { hs, actions };
}

describe('ServerHandshake (fixed newstyle option phase)', () => {
  it('NBD_OPT_GO for the export: INFO export + block size, ACK, then transmission', () => {
    const { actions } = run(FLAGS, encodeOption(Opt.GO, encodeInfoRequest('r0', [Info.BLOCK_SIZE])));
    const rs = replies(sent(actions));
    expect(rs.map((r) => r.type)).toEqual([Rep.INFO, Rep.INFO, Rep.ACK]);
    expect(parseInfoReply(rs[0]!.data)).toEqual({ ok: true, value: { kind: 'export', size: exp.size, transmissionFlags: exp.transmissionFlags } });
    expect(parseInfoReply(rs[1]!.data)).toEqual({ ok: true, value: { kind: 'block-size', sizes: exp.blockSizes } });
    expect(last(actions)).toEqual({ kind: 'enter-transmission', via: 'go', exportName: 'r0', leftover: [] });
  });

  it('NBD_OPT_INFO answers like GO but stays in the option phase', () => {
    const { hs, actions } = run(FLAGS, encodeOption(Opt.INFO, encodeInfoRequest('r0', [Info.NAME])));
    const rs = replies(sent(actions));
    expect(rs.map((r) => r.type)).toEqual([Rep.INFO, Rep.INFO, Rep.INFO, Rep.ACK]);
    expect(parseInfoReply(rs[2]!.data)).toEqual({ ok: true, value: { kind: 'name', name: 'r0' } });
    expect(actions.every((a) => a.kind === 'send')).toBe(true);
    expect(hs.finished).toBe(false);
  });

  it('unknown export name → NBD_REP_ERR_UNKNOWN with a message, and the client may retry', () => {
    const { actions } = run(
      FLAGS,
      encodeOption(Opt.GO, encodeInfoRequest('nope', [])),
      encodeOption(Opt.GO, encodeInfoRequest('r0', [])),
    );
    const rs = replies(sent(actions));
    expect(rs[0]!.type).toBe(Rep.ERR_UNKNOWN);
    expect(rs[0]!.data.toString()).toContain("unknown export 'nope'");
    expect(last(actions)).toMatchObject({ kind: 'enter-transmission', exportName: 'r0' });
  });

  it('the empty name selects the default (only) export', () => {
    const { actions } = run(FLAGS, encodeOption(Opt.GO, encodeInfoRequest('', [])));
    expect(last(actions)).toMatchObject({ kind: 'enter-transmission', exportName: '' });
  });

  it('NBD_OPT_EXPORT_NAME: size + flags, 124 zero bytes unless NO_ZEROES', () => {
    for (const [flags, len] of [[3, 10], [1, 134]] as const) {
      const { actions } = run(encodeClientFlags(flags), encodeOption(Opt.EXPORT_NAME, Buffer.from('r0')));
      const reply = sent(actions);
      expect(reply.length).toBe(len);
      expect(readU64(reply, 0)).toBe(exp.size);
      expect(reply.readUInt16BE(8)).toBe(exp.transmissionFlags);
      expect(last(actions)).toMatchObject({ kind: 'enter-transmission', via: 'export-name' });
    }
  });

  it('NBD_OPT_EXPORT_NAME for an unknown export closes the connection (it has no error reply)', () => {
    const { actions } = run(FLAGS, encodeOption(Opt.EXPORT_NAME, Buffer.from('other')));
    expect(actions).toEqual([expect.objectContaining({ kind: 'close', reason: 'unknown-export' })]);
  });

  it('NBD_OPT_LIST names the export; with data it is ERR_INVALID', () => {
    const { actions } = run(FLAGS, encodeOption(Opt.LIST), encodeOption(Opt.LIST, Buffer.from('x')));
    const rs = replies(sent(actions));
    expect(rs.map((r) => r.type)).toEqual([Rep.SERVER, Rep.ACK, Rep.ERR_INVALID]);
    expect(rs[0]!.data.subarray(4).toString()).toBe('r0');
  });

  it('NBD_OPT_ABORT is acknowledged, then the connection closes', () => {
    const { actions } = run(FLAGS, encodeOption(Opt.ABORT));
    expect(replies(sent(actions)).map((r) => r.type)).toEqual([Rep.ACK]);
    expect(last(actions)).toMatchObject({ kind: 'close', reason: 'client-abort' });
  });

  it.each([
    ['STRUCTURED_REPLY', Opt.STRUCTURED_REPLY],
    ['STARTTLS', Opt.STARTTLS],
    ['LIST_META_CONTEXT', Opt.LIST_META_CONTEXT],
    ['SET_META_CONTEXT', Opt.SET_META_CONTEXT],
    ['EXTENDED_HEADERS', Opt.EXTENDED_HEADERS],
    ['unknown 0x1234', 0x1234],
  ])('NBD_OPT_%s → NBD_REP_ERR_UNSUP', (_name, opt) => {
    const { actions } = run(FLAGS, encodeOption(opt, Buffer.from([0, 0, 0, 0])));
    expect(replies(sent(actions))).toEqual([expect.objectContaining({ option: opt, type: Rep.ERR_UNSUP })]);
  });

  it('malformed NBD_OPT_GO data → NBD_REP_ERR_INVALID', () => {
    const { actions } = run(FLAGS, encodeOption(Opt.GO, Buffer.from([0, 0, 0, 9, 1])));
    expect(replies(sent(actions))).toEqual([expect.objectContaining({ type: Rep.ERR_INVALID })]);
  });

  it('oversized option data is skipped and answered NBD_REP_ERR_TOO_BIG', () => {
    const hs = new ServerHandshake(exp, { maxOptionLength: 100 });
    const actions = [FLAGS, encodeOption(Opt.GO, Buffer.alloc(500)), encodeOption(Opt.LIST)].flatMap((c) => hs.push(c));
    expect(replies(sent(actions)).map((r) => r.type)).toEqual([Rep.ERR_TOO_BIG, Rep.SERVER, Rep.ACK]);
  });

  it('unknown client flags or a bad option magic close the connection', () => {
    expect(run(encodeClientFlags(0x80)).actions).toEqual([expect.objectContaining({ kind: 'close', reason: 'unknown-client-flags' })]);
    const bad = encodeOption(Opt.LIST);
    bad[0] = 0x41;
    expect(run(FLAGS, bad).actions).toEqual([expect.objectContaining({ kind: 'close', reason: 'bad-option-magic' })]);
  });

  it('bytes after NBD_OPT_GO are handed on as leftover; the machine then ignores input', () => {
    const req = Buffer.from('early request bytes');
    const { hs, actions } = run(Buffer.concat([FLAGS, encodeOption(Opt.GO, encodeInfoRequest('r0', [])), req]));
    const end = last(actions);
    expect(end?.kind).toBe('enter-transmission');
    if (end?.kind === 'enter-transmission') expect(Buffer.concat(end.leftover).equals(req)).toBe(true);
    expect(hs.push(Buffer.from('more'))).toEqual([]);
  });

  it('byte-at-a-time delivery gives the same actions', () => {
    const stream = Buffer.concat([FLAGS, encodeOption(Opt.LIST), encodeOption(Opt.GO, encodeInfoRequest('r0', [3]))]);
    const whole = run(stream).actions;
    const bytewise = run(...[...stream].map((b) => Buffer.from([b]))).actions;
    expect(sent(bytewise).equals(sent(whole))).toBe(true);
    expect(last(bytewise)).toEqual(last(whole));
  });

  it('fuzz: random and mutated option streams never throw; at most one terminal action, always last', () => {
    const validOption = fc.oneof(
      fc.constant(encodeOption(Opt.GO, encodeInfoRequest('r0', [3]))),
      fc.constant(encodeOption(Opt.INFO, encodeInfoRequest('r0', [0, 1, 2, 3]))),
      fc.constant(encodeOption(Opt.LIST)),
      fc.constant(encodeOption(Opt.EXPORT_NAME, Buffer.from('r0'))),
      fc.constant(encodeOption(Opt.STRUCTURED_REPLY)),
      fc.string({ maxLength: 20 }).map((n) => encodeOption(Opt.GO, encodeInfoRequest(n, []))),
      fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 40 })).map(([o, d]) => encodeOption(o, Buffer.from(d))),
    );
    const stream = fc
      .tuple(fc.array(validOption, { maxLength: 5 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }))
      .map(([opts, flips]) => {
        const b = Buffer.concat([FLAGS, ...opts]);
        for (const [pos, v] of flips) b[pos % b.length] = v;
        return b;
      });
    fc.assert(
      fc.property(fc.oneof(stream, fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u))), fc.integer({ min: 1, max: 50 }), (bytes, step) => {
        const hs = new ServerHandshake(exp);
        const actions: HandshakeAction[] = [];
        for (let i = 0; i < bytes.length; i += step) actions.push(...hs.push(bytes.subarray(i, i + step)));
        const terminal = actions.filter((a) => a.kind !== 'send');
        expect(terminal.length).toBeLessThanOrEqual(1);
        if (terminal.length === 1) expect(last(actions)).toBe(terminal[0]);
      }),
      { numRuns: 1000 },
    );
  });
});
