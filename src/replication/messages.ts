// The peer-link protocol: every message that crosses the replication link, as a named type.
// A frame is a small msgpackr-encoded header (one of these objects, without `payload`) plus,
// for messages that carry block data, the raw bytes as a separate chunk: large payloads are
// never wrapped inside an encoded object (that would copy them; see PERFORMANCE.md).

/** 2: write-acks (several protocol C acks in one frame), binary data headers, run-length bitmap pieces */
export const PROTOCOL_VERSION = 2;

import type { DiskState, Role } from './drbd-states.js';
export type { DiskState, Role } from './drbd-states.js';

/** Generation UUIDs travel as hex strings: msgpackr would otherwise need bigint extensions. */
export interface WireUuids { current: string; bitmap: string; history: [string, string] }

// --- handshake (before anything else) ---
export interface HelloMsg {
  type: 'hello';
  version: number;
  resource: string;
  node: string;
  /** random per connection attempt; both sides' nonces together name the connection (PeerConnection.id) */
  nonce: string;
  /** the cram-hmac-alg this side will authenticate with, absent without a shared-secret: lets both
   *  sides refuse a one-sided or mismatched auth configuration with a clear reason before any challenge */
  auth?: string;
}
export interface AuthChallengeMsg { type: 'auth-challenge'; challenge: Buffer }
export interface AuthResponseMsg { type: 'auth-response'; response: Buffer }
/** `reason` says why a refusal happened (wrong secret, one-sided or mismatched cram-hmac-alg) so both logs say it */
export interface AuthResultMsg { type: 'auth-result'; ok: boolean; reason?: string }
/** DRBD's ReportParams + ReportSizes + ReportUUIDs + ReportState in one message. */
export interface ParamsMsg {
  type: 'params';
  protocol: 'A' | 'B' | 'C';
  usableSize: number;      // bytes of the peer's local usable size
  uuids: WireUuids;
  flags: string[];         // metadata flags names (consistent, crashed-primary, …)
  dirtyBits: number;       // bitmap population count
  role: Role;
  disk: DiskState;
  discardMyData: boolean;
  /** net { csums-alg; }: both nodes must agree (DRBD refuses the connection otherwise) */
  csumsAlg?: string;
  /** what this node understands beyond protocol version 2 ('resize'); absent from older nodes */
  features?: string[];
}

// --- keepalive ---
export interface PingMsg { type: 'ping' }
export interface PingAckMsg { type: 'ping-ack' }

// --- state changes, after the handshake ---
/** `userPaused`: the sender's pause-sync flag (DRBD's user_isp, seen by the receiver as peer_isp); absent means not paused */
export interface StateMsg { type: 'state'; role: Role; disk: DiskState; userPaused?: boolean }
/** `skipInitialSync` is DRBD's UUID flag 8, sent by `new-current-uuid --clear-bitmap` on a just-created pair */
export interface UuidsMsg { type: 'uuids'; uuids: WireUuids; dirtyBits: number; skipInitialSync: boolean }
/** P_SYNC_UUID: the SyncSource's new bitmap UUID, which the SyncTarget adopts as its current UUID */
export interface SyncUuidMsg { type: 'sync-uuid'; uuid: string }
/** the outcome of the sync decision, announced by the side that decided (both decide identically; this cross-checks) */
export interface SyncPlanMsg { type: 'sync-plan'; plan: 'none' | 'source' | 'target'; mode: 'bitmap' | 'full' }
/** the bitmap of the sending side (raw bytes in the payload), for a merged resync */
/**
 * A piece of the sender's bitmap: bytes [offset, offset + payload.length) of a bitmap of `total`
 * bytes. Large bitmaps (1 TiB of data = 32 MiB) go in pieces below the frame payload limit.
 */
/** `payload` is the run-length form (DirtyBitmap.encodeRange) of the `words` 64-bit words at byte `offset` */
export interface BitmapMsg { type: 'bitmap'; granularity: number; offset: number; words: number; total: number; payload: Buffer }

// --- application I/O ---
export type WriteKind = 'write' | 'trim' | 'zeroes';
export interface DataMsg {
  type: 'data';
  seq: number;           // per-connection sequence, the ack names it
  offset: number;
  length: number;
  kind: WriteKind;
  fua: boolean;
  payload?: Buffer;      // present for kind 'write'
}
/** protocol B: the peer has received the data */
export interface RecvAckMsg { type: 'recv-ack'; seq: number }
/** protocol C: the data is on the peer's disk; `ok` false means the peer's disk failed */
export interface WriteAckMsg { type: 'write-ack'; seq: number; ok: boolean }
/** several successful write-acks in one frame, in the order the writes completed */
export interface WriteAcksMsg { type: 'write-acks'; seqs: number[] }
/** a FLUSH from the client: the peer flushes its disk and acks */
export interface FlushMsg { type: 'flush'; seq: number }
export interface FlushAckMsg { type: 'flush-ack'; seq: number; ok: boolean }
/** blocks the sender could not replicate (peer unreachable mid-write); the receiver marks them too */
export interface OutOfSyncMsg { type: 'out-of-sync'; offset: number; length: number }

// --- resync (SyncTarget asks, SyncSource answers) ---
export interface ResyncRequestMsg { type: 'resync-request'; offset: number; length: number }
export interface ResyncDataMsg { type: 'resync-data'; offset: number; length: number; payload: Buffer }
/** checksum-based resync / verify: the target sends its checksum, the source answers in-sync or with data */
/** `alg` + `digests` (one per 4 KiB block, verify-digest.ts) when present; otherwise `crc` covers the whole range */
export interface ChecksumRequestMsg { type: 'checksum-request'; offset: number; length: number; crc: number; purpose: 'csum-resync' | 'verify'; alg?: string; digests?: Buffer }
/** `diff`: the indices of the 4 KiB blocks that differ, when the request carried per-block digests */
export interface ChecksumReplyMsg { type: 'checksum-reply'; offset: number; length: number; equal: boolean; purpose: 'csum-resync' | 'verify'; diff?: number[] }
export interface ResyncDoneMsg { type: 'resync-done'; ok: boolean }

// --- teardown ---
export interface DisconnectMsg { type: 'disconnect'; reason: string }

// --- reads through the peer (a Primary whose own copy is unusable) ---
/** P_DATA_REQUEST: read these bytes from your disk for me */
export interface ReadRequestMsg { type: 'read-request'; seq: number; offset: number; length: number }
/** P_DATA_REPLY (ok, the bytes in the payload) or P_NEG_DREPLY (not ok, empty payload) */
export interface ReadReplyMsg { type: 'read-reply'; seq: number; offset: number; length: number; ok: boolean; payload: Buffer }

/**
 * `tandemadm resize`, run on either node: the peer reads its backing size again and says what it
 * could hold (resize-info), then applies the agreed size (resize-commit, answered by resize-done).
 * New types, announced by params.features: a node without them is never sent one.
 */
export interface ResizeProbeMsg { type: 'resize-probe' }
export interface ResizeInfoMsg { type: 'resize-info'; ok: boolean; usable: number; configured: number; reason?: string }
/** size: the usable size both record; localSize: what the sender exports from now on */
export interface ResizeCommitMsg { type: 'resize-commit'; size: number; previous: number; assumeClean: boolean; localSize: number; userSize?: number }
export interface ResizeDoneMsg { type: 'resize-done'; ok: boolean; localSize: number; reason?: string }

export type PeerMessage =
  | HelloMsg | AuthChallengeMsg | AuthResponseMsg | AuthResultMsg | ParamsMsg
  | PingMsg | PingAckMsg
  | StateMsg | UuidsMsg | SyncUuidMsg | SyncPlanMsg | BitmapMsg
  | DataMsg | RecvAckMsg | WriteAckMsg | WriteAcksMsg | FlushMsg | FlushAckMsg | OutOfSyncMsg
  | ResyncRequestMsg | ResyncDataMsg | ChecksumRequestMsg | ChecksumReplyMsg | ResyncDoneMsg
  | DisconnectMsg | ResizeProbeMsg | ResizeInfoMsg | ResizeCommitMsg | ResizeDoneMsg
  | ReadRequestMsg | ReadReplyMsg;

export type PeerMessageType = PeerMessage['type'];
