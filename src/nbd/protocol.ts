// NBD wire format (fixed newstyle handshake, simple replies): constants and pure
// encoders/parsers. Parsers never throw on garbage: they return a typed error.
// Source: NetworkBlockDevice/nbd doc/proto.md.

export const NBD_MAGIC = Buffer.from('NBDMAGIC', 'latin1');
export const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
/** 0x3e889045565a9, the magic of every option reply. */
export const OPTION_REPLY_MAGIC_HI = 0x0003e889;
export const OPTION_REPLY_MAGIC_LO = 0x045565a9;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

export const GREETING_LENGTH = 18;
export const CLIENT_FLAGS_LENGTH = 4;
export const OPTION_HEADER_LENGTH = 16;
export const OPTION_REPLY_HEADER_LENGTH = 20;
export const REQUEST_HEADER_LENGTH = 28;
export const SIMPLE_REPLY_HEADER_LENGTH = 16;
/** Longest string (export name, message) the spec allows. */
export const MAX_STRING_LENGTH = 4096;

export const HandshakeFlag = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;
export const ClientFlag = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;
export const KNOWN_CLIENT_FLAGS = ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES;

export const Opt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

const ERR = 0x80000000;
export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
} as const;
export function isErrorReply(type: number): boolean {
  return type >= ERR;
}

export const Info = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

export const TxFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const;

export const CmdFlag = { FUA: 1 << 0, NO_HOLE: 1 << 1, DF: 1 << 2, REQ_ONE: 1 << 3, FAST_ZERO: 1 << 4 } as const;

/** Error values of the transmission phase (not the host's errno numbers). */
export const Errno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type ErrnoName = keyof typeof Errno;

export function errnoName(value: number): ErrnoName | undefined {
  for (const [name, v] of Object.entries(Errno)) if (v === value) return name as ErrnoName;
  return undefined;
}

export type Parsed<T, E> = { ok: true; value: T } | { ok: false; error: E };
const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
const fail = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });

// ---------------------------------------------------------------------------------------------
// 64-bit numbers: offsets and sizes are kept as JS numbers. Anything past 2^53 cannot be a valid
// offset into an export anyway, so an imprecise (but still huge) number is safe for range checks.

export function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}
export function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000) >>> 0, at);
  buf.writeUInt32BE(value >>> 0, at + 4);
}

// ---------------------------------------------------------------------------------------------
// Handshake

export function encodeGreeting(handshakeFlags: number = HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES): Buffer {
  const b = Buffer.allocUnsafe(GREETING_LENGTH);
  NBD_MAGIC.copy(b, 0);
  IHAVEOPT.copy(b, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export type GreetingError = { kind: 'short-greeting' } | { kind: 'bad-greeting-magic' } | { kind: 'oldstyle-server' };
export function parseGreeting(buf: Buffer): Parsed<{ handshakeFlags: number }, GreetingError> {
  if (buf.length < GREETING_LENGTH) return fail({ kind: 'short-greeting' });
  if (!buf.subarray(0, 8).equals(NBD_MAGIC)) return fail({ kind: 'bad-greeting-magic' });
  if (!buf.subarray(8, 16).equals(IHAVEOPT)) return fail({ kind: 'oldstyle-server' });
  return ok({ handshakeFlags: buf.readUInt16BE(16) });
}

export interface ClientFlags {
  fixedNewstyle: boolean;
  noZeroes: boolean;
}
export type ClientFlagsError = { kind: 'short-client-flags' } | { kind: 'unknown-client-flags'; flags: number };
export function parseClientFlags(buf: Buffer): Parsed<ClientFlags, ClientFlagsError> {
  if (buf.length < CLIENT_FLAGS_LENGTH) return fail({ kind: 'short-client-flags' });
  const flags = buf.readUInt32BE(0);
  if ((flags & ~KNOWN_CLIENT_FLAGS) !== 0) return fail({ kind: 'unknown-client-flags', flags });
  return ok({
    fixedNewstyle: (flags & ClientFlag.FIXED_NEWSTYLE) !== 0,
    noZeroes: (flags & ClientFlag.NO_ZEROES) !== 0,
  });
}
export function encodeClientFlags(flags: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

export interface OptionHeader {
  option: number;
  length: number;
}
export type OptionHeaderError = { kind: 'short-option-header' } | { kind: 'bad-option-magic' };
export function parseOptionHeader(buf: Buffer): Parsed<OptionHeader, OptionHeaderError> {
  if (buf.length < OPTION_HEADER_LENGTH) return fail({ kind: 'short-option-header' });
  if (!buf.subarray(0, 8).equals(IHAVEOPT)) return fail({ kind: 'bad-option-magic' });
  return ok({ option: buf.readUInt32BE(8), length: buf.readUInt32BE(12) });
}
export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_HEADER_LENGTH + data.length);
  IHAVEOPT.copy(b, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, OPTION_HEADER_LENGTH);
  return b;
}

export function encodeOptionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_REPLY_HEADER_LENGTH + data.length);
  b.writeUInt32BE(OPTION_REPLY_MAGIC_HI, 0);
  b.writeUInt32BE(OPTION_REPLY_MAGIC_LO, 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, OPTION_REPLY_HEADER_LENGTH);
  return b;
}
export interface OptionReplyHeader {
  option: number;
  type: number;
  length: number;
}
export type OptionReplyError = { kind: 'short-option-reply' } | { kind: 'bad-option-reply-magic' };
export function parseOptionReplyHeader(buf: Buffer): Parsed<OptionReplyHeader, OptionReplyError> {
  if (buf.length < OPTION_REPLY_HEADER_LENGTH) return fail({ kind: 'short-option-reply' });
  if (buf.readUInt32BE(0) !== OPTION_REPLY_MAGIC_HI || buf.readUInt32BE(4) !== OPTION_REPLY_MAGIC_LO) {
    return fail({ kind: 'bad-option-reply-magic' });
  }
  return ok({ option: buf.readUInt32BE(8), type: buf.readUInt32BE(12), length: buf.readUInt32BE(16) });
}

/** Data of NBD_OPT_INFO / NBD_OPT_GO. */
export interface InfoRequest {
  name: string;
  infos: number[];
}
export type InfoRequestError =
  | { kind: 'short-info-request' }
  | { kind: 'name-length-overflow'; nameLength: number }
  | { kind: 'info-count-mismatch'; count: number; remaining: number }
  | { kind: 'name-too-long'; nameLength: number };
export function parseInfoRequest(data: Buffer): Parsed<InfoRequest, InfoRequestError> {
  if (data.length < 6) return fail({ kind: 'short-info-request' });
  const nameLength = data.readUInt32BE(0);
  if (nameLength > data.length - 6) return fail({ kind: 'name-length-overflow', nameLength });
  if (nameLength > MAX_STRING_LENGTH) return fail({ kind: 'name-too-long', nameLength });
  const name = data.toString('utf8', 4, 4 + nameLength);
  const count = data.readUInt16BE(4 + nameLength);
  const remaining = data.length - 6 - nameLength;
  if (remaining !== count * 2) return fail({ kind: 'info-count-mismatch', count, remaining });
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(6 + nameLength + 2 * i));
  return ok({ name, infos });
}
export function encodeInfoRequest(name: string, infos: readonly number[]): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(6 + nameBytes.length + 2 * infos.length);
  b.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + nameBytes.length);
  infos.forEach((info, i) => b.writeUInt16BE(info, 6 + nameBytes.length + 2 * i));
  return b;
}

export function encodeInfoExport(size: number, transmissionFlags: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(Info.EXPORT, 0);
  writeU64(b, size, 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}
export interface BlockSizes {
  minimum: number;
  preferred: number;
  maximum: number;
}
export function encodeInfoBlockSize(sizes: BlockSizes): Buffer {
  const b = Buffer.allocUnsafe(14);
  b.writeUInt16BE(Info.BLOCK_SIZE, 0);
  b.writeUInt32BE(sizes.minimum, 2);
  b.writeUInt32BE(sizes.preferred, 6);
  b.writeUInt32BE(sizes.maximum, 10);
  return b;
}
export function encodeInfoString(type: typeof Info.NAME | typeof Info.DESCRIPTION, text: string): Buffer {
  const s = Buffer.from(text, 'utf8');
  const b = Buffer.allocUnsafe(2 + s.length);
  b.writeUInt16BE(type, 0);
  s.copy(b, 2);
  return b;
}

export type InfoReply =
  | { kind: 'export'; size: number; transmissionFlags: number }
  | { kind: 'block-size'; sizes: BlockSizes }
  | { kind: 'name'; name: string }
  | { kind: 'description'; description: string }
  | { kind: 'unknown'; type: number };
export type InfoReplyError = { kind: 'short-info-reply'; type: number };
export function parseInfoReply(data: Buffer): Parsed<InfoReply, InfoReplyError> {
  if (data.length < 2) return fail({ kind: 'short-info-reply', type: -1 });
  const type = data.readUInt16BE(0);
  switch (type) {
    case Info.EXPORT:
      if (data.length < 12) return fail({ kind: 'short-info-reply', type });
      return ok({ kind: 'export', size: readU64(data, 2), transmissionFlags: data.readUInt16BE(10) });
    case Info.BLOCK_SIZE:
      if (data.length < 14) return fail({ kind: 'short-info-reply', type });
      return ok({
        kind: 'block-size',
        sizes: { minimum: data.readUInt32BE(2), preferred: data.readUInt32BE(6), maximum: data.readUInt32BE(10) },
      });
    case Info.NAME:
      return ok({ kind: 'name', name: data.toString('utf8', 2) });
    case Info.DESCRIPTION:
      return ok({ kind: 'description', description: data.toString('utf8', 2) });
    default:
      return ok({ kind: 'unknown', type });
  }
}

/** NBD_REP_SERVER data for NBD_OPT_LIST. */
export function encodeServerEntry(name: string): Buffer {
  const s = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(4 + s.length);
  b.writeUInt32BE(s.length, 0);
  s.copy(b, 4);
  return b;
}
export function parseServerEntry(data: Buffer): Parsed<{ name: string }, { kind: 'bad-server-entry' }> {
  if (data.length < 4) return fail({ kind: 'bad-server-entry' });
  const n = data.readUInt32BE(0);
  if (n > data.length - 4) return fail({ kind: 'bad-server-entry' });
  return ok({ name: data.toString('utf8', 4, 4 + n) });
}

/** Reply to NBD_OPT_EXPORT_NAME (it has no option-reply header). */
export function encodeExportNameReply(size: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  writeU64(b, size, 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Transmission

/** The 64-bit handle is carried as two 32-bit halves so the hot path never allocates a BigInt. */
export interface RequestHeader {
  flags: number;
  command: number;
  handleHi: number;
  handleLo: number;
  offset: number;
  length: number;
}
export type RequestHeaderError = { kind: 'short-request-header' } | { kind: 'bad-request-magic'; magic: number };
export function parseRequestHeader(buf: Buffer, at = 0): Parsed<RequestHeader, RequestHeaderError> {
  if (buf.length - at < REQUEST_HEADER_LENGTH) return fail({ kind: 'short-request-header' });
  const magic = buf.readUInt32BE(at);
  if (magic !== REQUEST_MAGIC) return fail({ kind: 'bad-request-magic', magic });
  return ok({
    flags: buf.readUInt16BE(at + 4),
    command: buf.readUInt16BE(at + 6),
    handleHi: buf.readUInt32BE(at + 8),
    handleLo: buf.readUInt32BE(at + 12),
    offset: readU64(buf, at + 16),
    length: buf.readUInt32BE(at + 24),
  });
}
export function encodeRequestHeader(h: RequestHeader, target: Buffer = Buffer.allocUnsafe(REQUEST_HEADER_LENGTH), at = 0): Buffer {
  target.writeUInt32BE(REQUEST_MAGIC, at);
  target.writeUInt16BE(h.flags, at + 4);
  target.writeUInt16BE(h.command, at + 6);
  target.writeUInt32BE(h.handleHi >>> 0, at + 8);
  target.writeUInt32BE(h.handleLo >>> 0, at + 12);
  writeU64(target, h.offset, at + 16);
  target.writeUInt32BE(h.length >>> 0, at + 24);
  return target;
}

export interface SimpleReplyHeader {
  error: number;
  handleHi: number;
  handleLo: number;
}
export type SimpleReplyError =
  | { kind: 'short-reply-header' }
  | { kind: 'structured-reply-unexpected' }
  | { kind: 'bad-reply-magic'; magic: number };
export function parseSimpleReplyHeader(buf: Buffer, at = 0): Parsed<SimpleReplyHeader, SimpleReplyError> {
  if (buf.length - at < SIMPLE_REPLY_HEADER_LENGTH) return fail({ kind: 'short-reply-header' });
  const magic = buf.readUInt32BE(at);
  if (magic === STRUCTURED_REPLY_MAGIC) return fail({ kind: 'structured-reply-unexpected' });
  if (magic !== SIMPLE_REPLY_MAGIC) return fail({ kind: 'bad-reply-magic', magic });
  return ok({ error: buf.readUInt32BE(at + 4), handleHi: buf.readUInt32BE(at + 8), handleLo: buf.readUInt32BE(at + 12) });
}
export function encodeSimpleReplyHeader(handleHi: number, handleLo: number, error: number): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_LENGTH);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error >>> 0, 4);
  b.writeUInt32BE(handleHi >>> 0, 8);
  b.writeUInt32BE(handleLo >>> 0, 12);
  return b;
}

export function optionName(option: number): string {
  for (const [name, v] of Object.entries(Opt)) if (v === option) return `NBD_OPT_${name}`;
  return `option ${option}`;
}
export function commandName(command: number): string {
  for (const [name, v] of Object.entries(Cmd)) if (v === command) return `NBD_CMD_${name}`;
  return `command ${command}`;
}
