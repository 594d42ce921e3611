/**
 * What the NBD server exports. Later this is the replicated device; tests use MemoryBackend
 * and FileBackend.
 *
 * Contract:
 * - Calls may overlap (many requests in flight, several connections); a backend that needs
 *   ordering between overlapping writes provides it itself.
 * - flush() makes every write that has completed (on any connection) durable. The server keeps
 *   no cache of its own, which is what makes NBD_FLAG_CAN_MULTI_CONN correct.
 * - write(..., fua = true) and writeZeroes(..., fua = true) resolve only once the data is durable.
 * - trim() may leave the range's contents unspecified; writeZeroes() must make it read as zeroes.
 * - A rejection with NbdError (or a Node system error with `code`) picks the NBD error sent to
 *   the client; anything else is EIO.
 * - `data` passed to write() may be a view of a network buffer: keep it only until the
 *   promise settles, or copy it.
 */
export interface NbdBackend {
  readonly size: number;
  readonly readOnly: boolean;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  flush(): Promise<void>;
  trim(offset: number, length: number): Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void>;
}
