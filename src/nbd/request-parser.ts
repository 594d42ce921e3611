// Incremental parser of the transmission-phase request stream. A WRITE payload that arrived
// inside one received chunk is handed on as a view of that chunk (no copy); a payload split
// across chunks is assembled in a buffer of its exact size, which the socket may also read the
// rest of the payload into directly (`payloadInProgress` / `payloadFilled`).
import { Cmd, REQUEST_HEADER_LENGTH, REQUEST_MAGIC, readU64 } from './protocol.js';
import { allocPayload } from '../storage/bulk-buffer.js';

export interface NbdRequest {
  command: number;
  flags: number;
  handleHi: number;
  handleLo: number;
  offset: number;
  length: number;
  /** The WRITE payload; undefined for other commands and for a discarded payload. */
  data: Buffer | undefined;
  /** True when a WRITE payload longer than maxPayload was read and thrown away. */
  payloadDiscarded: boolean;
}

export type RequestStreamError = { kind: 'bad-request-magic'; magic: number };

export interface RequestSink {
  request(req: NbdRequest): void;
  /** The stream cannot be resynchronised; the parser ignores all further input. */
  fatal(err: RequestStreamError): void;
}

type State = 'header' | 'payload' | 'skip' | 'failed';

export class RequestParser {
  private state: State = 'header';
  private readonly scratch = Buffer.allocUnsafe(REQUEST_HEADER_LENGTH);
  private scratchFill = 0;
  private pending: NbdRequest | undefined;
  private payload: Buffer | undefined;
  private payloadFill = 0;
  private skipRemaining = 0;

  constructor(
    private readonly maxPayload: number,
    private readonly sink: RequestSink,
  ) {}

  get failed(): boolean {
    return this.state === 'failed';
  }

  /** True between requests: nothing partial is buffered. */
  get idle(): boolean {
    return this.state === 'header' && this.scratchFill === 0;
  }

  /** The WRITE payload being assembled and how much of it is there (undefined between payloads). */
  payloadInProgress(): { payload: Buffer; filled: number } | undefined {
    return this.state === 'payload' ? { payload: this.payload!, filled: this.payloadFill } : undefined;
  }

  /** The rest of the payload in progress was written into it directly (by a read into its tail). */
  payloadFilled(): void {
    if (this.state !== 'payload') return;
    this.payloadFill = this.payload!.length;
    this.completePayload();
  }

  private completePayload(): void {
    const req = this.pending!;
    req.data = this.payload;
    this.pending = undefined;
    this.payload = undefined;
    this.state = 'header';
    this.sink.request(req);
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      switch (this.state) {
        case 'failed':
          return;
        case 'skip': {
          const n = Math.min(this.skipRemaining, end - pos);
          pos += n;
          this.skipRemaining -= n;
          if (this.skipRemaining === 0) this.state = 'header';
          break;
        }
        case 'payload': {
          const payload = this.payload!;
          const n = Math.min(payload.length - this.payloadFill, end - pos);
          chunk.copy(payload, this.payloadFill, pos, pos + n);
          pos += n;
          this.payloadFill += n;
          if (this.payloadFill === payload.length) this.completePayload();
          break;
        }
        case 'header': {
          let src: Buffer;
          let at: number;
          if (this.scratchFill === 0 && end - pos >= REQUEST_HEADER_LENGTH) {
            src = chunk;
            at = pos;
            pos += REQUEST_HEADER_LENGTH;
          } else {
            const n = Math.min(REQUEST_HEADER_LENGTH - this.scratchFill, end - pos);
            chunk.copy(this.scratch, this.scratchFill, pos, pos + n);
            pos += n;
            this.scratchFill += n;
            if (this.scratchFill < REQUEST_HEADER_LENGTH) return;
            this.scratchFill = 0;
            src = this.scratch;
            at = 0;
          }
          const magic = src.readUInt32BE(at);
          if (magic !== REQUEST_MAGIC) {
            this.state = 'failed';
            this.sink.fatal({ kind: 'bad-request-magic', magic });
            return;
          }
          const req: NbdRequest = {
            flags: src.readUInt16BE(at + 4),
            command: src.readUInt16BE(at + 6),
            handleHi: src.readUInt32BE(at + 8),
            handleLo: src.readUInt32BE(at + 12),
            offset: readU64(src, at + 16),
            length: src.readUInt32BE(at + 24),
            data: undefined,
            payloadDiscarded: false,
          };
          if (req.command !== Cmd.WRITE || req.length === 0) {
            this.sink.request(req);
          } else if (req.length > this.maxPayload) {
            // Reading past the payload keeps the stream in sync so the client gets an error
            // reply for this request instead of a dropped connection.
            req.payloadDiscarded = true;
            this.skipRemaining = req.length;
            this.state = 'skip';
            this.sink.request(req);
          } else if (end - pos >= req.length) {
            req.data = chunk.subarray(pos, pos + req.length);
            pos += req.length;
            this.sink.request(req);
          } else {
            this.pending = req;
            this.payload = allocPayload(req.length);
            this.payloadFill = 0;
            this.state = 'payload';
          }
          break;
        }
      }
    }
  }
}
