// The server side of the fixed newstyle option phase as a pure state machine: bytes in,
// actions out (bytes to send, enter transmission, close). The socket glue lives in server.ts.
import { ByteQueue } from './byte-queue.js';
import {
  CLIENT_FLAGS_LENGTH,
  Info,
  MAX_STRING_LENGTH,
  OPTION_HEADER_LENGTH,
  Opt,
  Rep,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoString,
  encodeOptionReply,
  encodeServerEntry,
  optionName,
  parseClientFlags,
  parseInfoRequest,
  parseOptionHeader,
  type BlockSizes,
} from './protocol.js';

export interface ExportDescription {
  name: string;
  size: number;
  transmissionFlags: number;
  blockSizes: BlockSizes;
  description?: string;
}

export type HandshakeCloseReason =
  | 'unknown-client-flags'
  | 'bad-option-magic'
  | 'client-abort'
  | 'unknown-export'
  | 'export-name-too-long';

export type HandshakeAction =
  | { kind: 'send'; data: Buffer }
  | { kind: 'enter-transmission'; via: 'go' | 'export-name'; exportName: string; leftover: Buffer[] }
  | { kind: 'close'; reason: HandshakeCloseReason; detail: string };

export interface HandshakeOptions {
  /** Option data longer than this is skipped and answered NBD_REP_ERR_TOO_BIG. */
  maxOptionLength?: number;
}

type State =
  | { kind: 'client-flags' }
  | { kind: 'option-header' }
  | { kind: 'option-data'; option: number; length: number }
  | { kind: 'option-skip'; option: number; remaining: number }
  | { kind: 'done' };

const DEFAULT_MAX_OPTION_LENGTH = 64 * 1024;

export class ServerHandshake {
  private readonly queue = new ByteQueue();
  private state: State = { kind: 'client-flags' };
  private noZeroes = false;
  private readonly maxOptionLength: number;

  constructor(
    private readonly exp: ExportDescription,
    opts: HandshakeOptions = {},
  ) {
    this.maxOptionLength = opts.maxOptionLength ?? DEFAULT_MAX_OPTION_LENGTH;
  }

  /** The 18 bytes the server sends first. */
  greeting(): Buffer {
    return encodeGreeting();
  }

  get finished(): boolean {
    return this.state.kind === 'done';
  }

  push(chunk: Buffer): HandshakeAction[] {
    const actions: HandshakeAction[] = [];
    if (this.state.kind === 'done') return actions;
    this.queue.push(chunk);
    for (;;) {
      const before = this.queue.length;
      const st: State = this.state;
      if (st.kind === 'client-flags') {
        if (this.queue.length < CLIENT_FLAGS_LENGTH) break;
        const parsed = parseClientFlags(this.queue.take(CLIENT_FLAGS_LENGTH));
        if (!parsed.ok) {
          const flags = parsed.error.kind === 'unknown-client-flags' ? parsed.error.flags : 0;
          return this.finish(actions, {
            kind: 'close',
            reason: 'unknown-client-flags',
            detail: `client sent unknown handshake flags 0x${flags.toString(16)}`,
          });
        }
        // A client without FIXED_NEWSTYLE gets fixed-newstyle behaviour anyway: it only ever
        // differs in how unknown options are answered, and such a client sends none.
        this.noZeroes = parsed.value.noZeroes;
        this.state = { kind: 'option-header' };
      } else if (st.kind === 'option-header') {
        if (this.queue.length < OPTION_HEADER_LENGTH) break;
        const parsed = parseOptionHeader(this.queue.take(OPTION_HEADER_LENGTH));
        if (!parsed.ok) {
          return this.finish(actions, { kind: 'close', reason: 'bad-option-magic', detail: 'option without IHAVEOPT magic' });
        }
        const { option, length } = parsed.value;
        this.state =
          length > this.maxOptionLength
            ? { kind: 'option-skip', option, remaining: length }
            : { kind: 'option-data', option, length };
      } else if (st.kind === 'option-skip') {
        st.remaining -= this.queue.skip(st.remaining);
        if (st.remaining > 0) break;
        if (st.option === Opt.EXPORT_NAME) {
          return this.finish(actions, {
            kind: 'close',
            reason: 'export-name-too-long',
            detail: 'NBD_OPT_EXPORT_NAME with an oversized name (that option cannot carry an error reply)',
          });
        }
        actions.push(this.error(st.option, Rep.ERR_TOO_BIG, `${optionName(st.option)} data exceeds ${this.maxOptionLength} bytes`));
        this.state = { kind: 'option-header' };
      } else {
        if (this.queue.length < st.length) break;
        const data = this.queue.take(st.length);
        this.state = { kind: 'option-header' };
        const end = this.handleOption(st.option, data, actions);
        if (end) return this.finish(actions, end);
      }
      if (this.queue.length === before && this.state === st) break;
    }
    return actions;
  }

  private finish(actions: HandshakeAction[], last: HandshakeAction): HandshakeAction[] {
    this.state = { kind: 'done' };
    if (last.kind === 'enter-transmission') last.leftover = this.queue.takeAll();
    else this.queue.takeAll();
    actions.push(last);
    return actions;
  }

  /** Handles one complete option; returns the final action when the option ends the phase. */
  private handleOption(option: number, data: Buffer, out: HandshakeAction[]): HandshakeAction | undefined {
    switch (option) {
      case Opt.EXPORT_NAME: {
        const name = data.toString('utf8');
        if (data.length > MAX_STRING_LENGTH || !this.matches(name)) {
          return {
            kind: 'close',
            reason: 'unknown-export',
            detail: `NBD_OPT_EXPORT_NAME for unknown export '${name.slice(0, 256)}' (this server exports '${this.exp.name}')`,
          };
        }
        out.push({ kind: 'send', data: encodeExportNameReply(this.exp.size, this.exp.transmissionFlags, this.noZeroes) });
        return { kind: 'enter-transmission', via: 'export-name', exportName: name, leftover: [] };
      }
      case Opt.ABORT:
        out.push({ kind: 'send', data: encodeOptionReply(option, Rep.ACK) });
        return { kind: 'close', reason: 'client-abort', detail: 'client sent NBD_OPT_ABORT' };
      case Opt.LIST:
        if (data.length !== 0) {
          out.push(this.error(option, Rep.ERR_INVALID, 'NBD_OPT_LIST carries no data'));
          return undefined;
        }
        out.push({ kind: 'send', data: encodeOptionReply(option, Rep.SERVER, encodeServerEntry(this.exp.name)) });
        out.push({ kind: 'send', data: encodeOptionReply(option, Rep.ACK) });
        return undefined;
      case Opt.INFO:
      case Opt.GO: {
        const req = parseInfoRequest(data);
        if (!req.ok) {
          out.push(this.error(option, Rep.ERR_INVALID, `malformed ${optionName(option)} request (${req.error.kind})`));
          return undefined;
        }
        const { name, infos } = req.value;
        if (!this.matches(name)) {
          out.push(this.error(option, Rep.ERR_UNKNOWN, `unknown export '${name}' (this server exports '${this.exp.name}')`));
          return undefined;
        }
        out.push({ kind: 'send', data: encodeOptionReply(option, Rep.INFO, encodeInfoExport(this.exp.size, this.exp.transmissionFlags)) });
        // Block sizes are the defaults (minimum 1), so sending them unasked is harmless and lets
        // clients that honour them learn the maximum payload.
        out.push({ kind: 'send', data: encodeOptionReply(option, Rep.INFO, encodeInfoBlockSize(this.exp.blockSizes)) });
        if (infos.includes(Info.NAME)) {
          out.push({ kind: 'send', data: encodeOptionReply(option, Rep.INFO, encodeInfoString(Info.NAME, this.exp.name)) });
        }
        if (infos.includes(Info.DESCRIPTION) && this.exp.description !== undefined) {
          out.push({
            kind: 'send',
            data: encodeOptionReply(option, Rep.INFO, encodeInfoString(Info.DESCRIPTION, this.exp.description)),
          });
        }
        out.push({ kind: 'send', data: encodeOptionReply(option, Rep.ACK) });
        return option === Opt.GO ? { kind: 'enter-transmission', via: 'go', exportName: name, leftover: [] } : undefined;
      }
      case Opt.STRUCTURED_REPLY:
        out.push(this.error(option, Rep.ERR_UNSUP, 'structured replies are not supported; simple replies only'));
        return undefined;
      case Opt.STARTTLS:
        out.push(this.error(option, Rep.ERR_UNSUP, 'TLS is not supported (the export is a local unix socket)'));
        return undefined;
      case Opt.LIST_META_CONTEXT:
      case Opt.SET_META_CONTEXT:
        out.push(this.error(option, Rep.ERR_UNSUP, 'metadata contexts are not supported'));
        return undefined;
      default:
        out.push(this.error(option, Rep.ERR_UNSUP, `${optionName(option)} is not supported`));
        return undefined;
    }
  }

  /** The empty name is the protocol's "default export": this server has exactly one. */
  private matches(name: string): boolean {
    return name === this.exp.name || name === '';
  }

  private error(option: number, type: number, message: string): HandshakeAction {
    return { kind: 'send', data: encodeOptionReply(option, type, Buffer.from(message, 'utf8')) };
  }
}
