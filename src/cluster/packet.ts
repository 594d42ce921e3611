// Heartbeat packets in heartbeat's classic signed format (cluster-glue cl_msg.c, heartbeat
// ha_msg_internal.c):
//
//   >>>\n
//   t=status\n            message type first, then the type's own fields (st, dt, protocol, …)
//   src=node1\n           then the default fields: sender,
//   dest=node2\n          optional destination (control messages),
//   seq=1a\n              per-sender sequence number, hex, from 1,
//   hg=4b1f0c2d\n         the sender's generation (bumped at every start), hex,
//   ts=6560a1f0\n         sender's time(NULL), hex,
//   auth=1 9775…cfa5\n    key number and digest of every line above (`name=value\n`, no delimiters)
//   <<<\n
//
// Tandem does not try to talk to real heartbeat daemons, but keeps its format so a packet capture
// reads the same. The decoder never throws: garbage, truncation and forgeries come back as a typed
// error that membership turns into a logged drop.

import type { AuthKey } from '../config/heartbeat/authkeys.js';
import { computeDigest, digestMatches } from './packet-auth.js';

export const MSG_START = '>>>\n';
export const MSG_END = '<<<\n';
/** the largest UDP payload over IPv4 */
export const MAX_PACKET_BYTES = 65507;
export const PROTOCOL_VERSION = '1';

/** A field heartbeat uses for node status in `t=status` packets. */
export type NodeStatusWord = 'init' | 'up' | 'active';

export interface HbPacket {
  /** `t` */
  type: string;
  src: string;
  dest: string | null;
  seq: number;
  /** `hg` */
  generation: number;
  /** `ts`, seconds since the epoch on the sender's clock */
  timestamp: number;
  /** every other field, in packet order */
  fields: ReadonlyMap<string, string>;
  /** the key number the sender signed with */
  authIndex: number;
}

export interface PacketToSend {
  type: string;
  src: string;
  dest?: string | null;
  seq: number;
  generation: number;
  timestamp: number;
  fields?: ReadonlyArray<readonly [string, string]>;
}

export type DecodeErrorReason = 'malformed' | 'bad-auth';
export type DecodeResult =
  | { ok: true; packet: HbPacket }
  | { ok: false; reason: DecodeErrorReason; detail: string };

const NAME_RE = /^[A-Za-z0-9_.-]+$/;
/** heartbeat prefixes non-string fields with their type: `(1)srcuuid=…` */
const WIRE_NAME_RE = /^(\(\d+\))?[A-Za-z0-9_.-]+$/;
const HEX_RE = /^[0-9a-f]{1,13}$/i; // 13 hex digits stay below 2^53
const RESERVED = new Set(['t', 'src', 'dest', 'seq', 'hg', 'ts', 'auth']);

function checkField(name: string, value: string): void {
  if (!NAME_RE.test(name)) throw new TypeError(`invalid packet field name '${name}'`);
  if (value.includes('\n')) throw new TypeError(`packet field '${name}' contains a newline`);
}

/** The fields of a `t=status` heartbeat, as heartbeat's send_local_status writes them. */
export function statusFields(status: NodeStatusWord, deadtimeMs: number): Array<[string, string]> {
  return [['st', status], ['dt', Math.max(0, Math.floor(deadtimeMs)).toString(16)], ['protocol', PROTOCOL_VERSION]];
}

/**
 * Sign and frame a packet. Throws TypeError on a field our own code could not have meant
 * (bad name, newline in a value, reserved name, non-integer counter): that is a bug, not input.
 */
export function encodePacket(p: PacketToSend, key: AuthKey): Buffer {
  const lines: Array<[string, string]> = [['t', p.type]];
  for (const [name, value] of p.fields ?? []) {
    if (RESERVED.has(name)) throw new TypeError(`packet field '${name}' is reserved`);
    lines.push([name, value]);
  }
  lines.push(['src', p.src]);
  if (p.dest) lines.push(['dest', p.dest]);
  for (const [name, n] of [['seq', p.seq], ['hg', p.generation], ['ts', p.timestamp]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`packet ${name} must be a non-negative integer, got ${n}`);
    lines.push([name, n.toString(16)]);
  }
  if (p.type === '' || p.src === '') throw new TypeError('packet type and src must not be empty');
  for (const [name, value] of lines) checkField(name, value);
  const signed = Buffer.from(lines.map(([n, v]) => `${n}=${v}\n`).join(''), 'utf8');
  const digest = computeDigest(key.method, key.secret, signed);
  return Buffer.concat([Buffer.from(MSG_START), signed, Buffer.from(`auth=${key.index} ${digest}\n${MSG_END}`)]);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodePacket(bytes: Uint8Array, keys: readonly AuthKey[]): DecodeResult {
  const malformed = (detail: string): DecodeResult => ({ ok: false, reason: 'malformed', detail });
  try {
    if (bytes.length > MAX_PACKET_BYTES) return malformed(`packet of ${bytes.length} bytes is larger than ${MAX_PACKET_BYTES}`);
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (buf.length < MSG_START.length + MSG_END.length - 1 || buf.toString('latin1', 0, 4) !== MSG_START) {
      return malformed("does not start with '>>>'");
    }
    let end = buf.length;
    if (buf.toString('latin1', end - 4) === MSG_END) end -= 4;
    else if (buf.toString('latin1', end - 3) === '<<<') end -= 3;
    else return malformed("does not end with '<<<' (truncated?)");
    if (end < 4) return malformed('empty packet');
    const body = buf.subarray(4, end);
    if (body.length === 0) return malformed('no fields');
    if (body[body.length - 1] !== 0x0a) return malformed('last field is not terminated by a newline');

    // Split into `name=value` lines, keeping raw bytes for the signature.
    const order: Array<[string, string]> = [];
    const seen = new Set<string>();
    let signedEnd = -1;
    let authValue: string | null = null;
    let start = 0;
    while (start < body.length) {
      const nl = body.indexOf(0x0a, start);
      const line = body.subarray(start, nl);
      const eq = line.indexOf(0x3d);
      if (eq <= 0) return malformed(`line ${order.length + 1} is not name=value`);
      const name = line.toString('latin1', 0, eq);
      if (!WIRE_NAME_RE.test(name)) return malformed(`bad field name '${name.slice(0, 40)}'`);
      if (authValue !== null) return malformed('fields after auth');
      let value: string;
      try { value = utf8.decode(line.subarray(eq + 1)); } catch { return malformed(`field '${name}' is not UTF-8`); }
      if (seen.has(name)) return malformed(`field '${name}' appears twice`);
      seen.add(name);
      if (name === 'auth') { authValue = value; signedEnd = start; } else order.push([name, value]);
      start = nl + 1;
    }
    if (authValue === null) return { ok: false, reason: 'bad-auth', detail: 'unsigned packet (no auth field)' };

    // Authenticate before believing anything the packet says.
    const a = /^(\d{1,2}) ([0-9a-f]{1,128})$/.exec(authValue);
    if (!a) return { ok: false, reason: 'bad-auth', detail: 'auth field is not "N hexdigest"' };
    const authIndex = Number(a[1]);
    const key = keys.find((k) => k.index === authIndex);
    if (!key) return { ok: false, reason: 'bad-auth', detail: `signed with key ${authIndex}, which authkeys does not define` };
    if (!digestMatches(key, body.subarray(0, signedEnd), a[2]!)) {
      return { ok: false, reason: 'bad-auth', detail: `digest does not match key ${authIndex} (${key.method})` };
    }

    const get = (n: string) => order.find(([name]) => name === n)?.[1];
    const type = get('t');
    const src = get('src');
    if (!type) return malformed("no message type field 't'");
    if (!src) return malformed("no sender field 'src'");
    const hex = (n: string): number | string => {
      const v = get(n);
      if (v === undefined) return `no '${n}' field`;
      if (!HEX_RE.test(v)) return `'${n}' is not a hex number`;
      return parseInt(v, 16);
    };
    const seq = hex('seq');
    const generation = hex('hg');
    const timestamp = hex('ts');
    for (const v of [seq, generation, timestamp]) if (typeof v === 'string') return malformed(v);
    if ((seq as number) <= 0) return malformed('bad sequence number 0');
    const fields = new Map(order.filter(([n]) => !RESERVED.has(n)));
    return {
      ok: true,
      packet: {
        type, src, dest: get('dest') ?? null,
        seq: seq as number, generation: generation as number, timestamp: timestamp as number,
        fields, authIndex,
      },
    };
  } catch (e) {
    // Nothing above should throw; if it does, the packet is still only garbage to drop.
    return malformed(`undecodable packet (${e instanceof Error ? e.message : String(e)})`);
  }
}

/**
 * Numbers outgoing packets for one run of this node: seq from 1, the generation fixed for the run
 * (the caller persists it and bumps it at every start, as heartbeat's hb_generation file).
 */
export class PacketSender {
  private seq = 0;
  constructor(readonly src: string, readonly generation: number, private key: AuthKey) {}

  /** authkeys re-read: sign from now on with the new active key */
  setKey(key: AuthKey): void { this.key = key; }

  build(type: string, fields: ReadonlyArray<readonly [string, string]>, nowMs: number, dest: string | null = null): Buffer {
    this.seq += 1;
    return encodePacket({ type, src: this.src, dest, seq: this.seq, generation: this.generation, timestamp: Math.floor(nowMs / 1000), fields }, this.key);
  }

  status(status: NodeStatusWord, deadtimeMs: number, nowMs: number): Buffer {
    return this.build('status', statusFields(status, deadtimeMs), nowMs);
  }
}
