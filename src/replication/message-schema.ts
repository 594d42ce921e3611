// What a well-formed header of each peer message looks like. The decoder checks every header it
// receives against this table and rebuilds the message from the listed fields only, so a peer
// (or a stray client) can neither crash us with a wrong type nor smuggle extra fields or
// prototypes into the daemon.
import type { PeerMessage, PeerMessageType } from './messages.js';

type Primitive = 'uint' | 'u32' | 'string' | 'bool' | 'bytes' | 'uuids' | 'strings' | 'uints';
type FieldSpec = Primitive | { readonly oneOf: readonly string[] } | { readonly optional: Primitive };

/** 'none': the frame must carry no payload; 'required': it must; 'write-only': only data frames of kind 'write' */
export type PayloadRule = 'none' | 'required' | 'write-only';

type FieldsOf<K extends PeerMessageType> = Exclude<keyof Extract<PeerMessage, { type: K }>, 'type' | 'payload'>;
interface MessageSchema<K extends PeerMessageType> {
  fields: { readonly [F in FieldsOf<K>]-?: FieldSpec };
  payload: PayloadRule;
}

const ROLES = ['Primary', 'Secondary', 'Unknown'] as const;
const DISKS = [
  'Diskless', 'Attaching', 'Failed', 'Negotiating', 'Inconsistent', 'Outdated', 'DUnknown', 'Consistent', 'UpToDate',
] as const;
const PURPOSES = ['csum-resync', 'verify'] as const;

export const MESSAGE_SCHEMAS: { readonly [K in PeerMessageType]: MessageSchema<K> } = {
  hello: {
    fields: { version: 'uint', resource: 'string', node: 'string', nonce: 'string', auth: { optional: 'string' } },
    payload: 'none',
  },
  'auth-challenge': { fields: { challenge: 'bytes' }, payload: 'none' },
  'auth-response': { fields: { response: 'bytes' }, payload: 'none' },
  'auth-result': { fields: { ok: 'bool', reason: { optional: 'string' } }, payload: 'none' },
  params: {
    fields: {
      protocol: { oneOf: ['A', 'B', 'C'] }, usableSize: 'uint', uuids: 'uuids', flags: 'strings', dirtyBits: 'uint',
      role: { oneOf: ROLES }, disk: { oneOf: DISKS }, discardMyData: 'bool', csumsAlg: { optional: 'string' },
      features: { optional: 'strings' },
    },
    payload: 'none',
  },
  ping: { fields: {}, payload: 'none' },
  'ping-ack': { fields: {}, payload: 'none' },
  state: { fields: { role: { oneOf: ROLES }, disk: { oneOf: DISKS }, userPaused: { optional: 'bool' } }, payload: 'none' },
  uuids: { fields: { uuids: 'uuids', dirtyBits: 'uint', skipInitialSync: 'bool' }, payload: 'none' },
  'sync-uuid': { fields: { uuid: 'string' }, payload: 'none' },
  'sync-plan': { fields: { plan: { oneOf: ['none', 'source', 'target'] }, mode: { oneOf: ['bitmap', 'full'] } }, payload: 'none' },
  bitmap: { fields: { granularity: 'uint', offset: 'uint', words: 'uint', total: 'uint' }, payload: 'required' },
  data: {
    fields: { seq: 'uint', offset: 'uint', length: 'uint', kind: { oneOf: ['write', 'trim', 'zeroes'] }, fua: 'bool' },
    payload: 'write-only',
  },
  'recv-ack': { fields: { seq: 'uint' }, payload: 'none' },
  'write-ack': { fields: { seq: 'uint', ok: 'bool' }, payload: 'none' },
  'write-acks': { fields: { seqs: 'uints' }, payload: 'none' },
  flush: { fields: { seq: 'uint' }, payload: 'none' },
  'flush-ack': { fields: { seq: 'uint', ok: 'bool' }, payload: 'none' },
  'out-of-sync': { fields: { offset: 'uint', length: 'uint' }, payload: 'none' },
  'resync-request': { fields: { offset: 'uint', length: 'uint' }, payload: 'none' },
  'resync-data': { fields: { offset: 'uint', length: 'uint' }, payload: 'required' },
  'checksum-request': {
    fields: { offset: 'uint', length: 'uint', crc: 'u32', purpose: { oneOf: PURPOSES }, alg: { optional: 'string' }, digests: { optional: 'bytes' } },
    payload: 'none',
  },
  'checksum-reply': {
    fields: { offset: 'uint', length: 'uint', equal: 'bool', purpose: { oneOf: PURPOSES }, diff: { optional: 'uints' } },
    payload: 'none',
  },
  'resync-done': { fields: { ok: 'bool' }, payload: 'none' },
  disconnect: { fields: { reason: 'string' }, payload: 'none' },
  'read-request': { fields: { seq: 'uint', offset: 'uint', length: 'uint' }, payload: 'none' },
  // an empty payload when ok is false; the resource checks the length against its request
  'read-reply': { fields: { seq: 'uint', offset: 'uint', length: 'uint', ok: 'bool' }, payload: 'required' },
  'resize-probe': { fields: {}, payload: 'none' },
  'resize-info': { fields: { ok: 'bool', usable: 'uint', configured: 'uint', reason: { optional: 'string' } }, payload: 'none' },
  'resize-commit': { fields: { size: 'uint', previous: 'uint', assumeClean: 'bool', localSize: 'uint', userSize: { optional: 'uint' } }, payload: 'none' },
  'resize-done': { fields: { ok: 'bool', localSize: 'uint', reason: { optional: 'string' } }, payload: 'none' },
};

// checkHeader runs once per received message: walk precomputed arrays, not Object.entries.
const FIELD_LISTS = new Map<PeerMessageType, readonly (readonly [string, FieldSpec])[]>(
  (Object.keys(MESSAGE_SCHEMAS) as PeerMessageType[]).map((t) => [t, Object.entries(MESSAGE_SCHEMAS[t].fields) as [string, FieldSpec][]]),
);

export type HeaderCheck = { ok: true; message: Record<string, unknown> & { type: PeerMessageType } } | { ok: false; reason: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function checkPrimitive(kind: Primitive, v: unknown): boolean {
  switch (kind) {
    case 'uint': return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    case 'u32': return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
    case 'string': return typeof v === 'string';
    case 'bool': return typeof v === 'boolean';
    case 'bytes': return Buffer.isBuffer(v);
    case 'strings': return Array.isArray(v) && v.every((s) => typeof s === 'string');
    case 'uints': return Array.isArray(v) && v.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0);
    case 'uuids':
      return isRecord(v) && typeof v.current === 'string' && typeof v.bitmap === 'string' &&
        Array.isArray(v.history) && v.history.length === 2 && v.history.every((s) => typeof s === 'string');
  }
}

/** Copies only the declared fields, so nothing the schema does not know reaches the daemon. */
function copyValue(kind: Primitive, v: unknown): unknown {
  if (kind === 'uuids') {
    const u = v as { current: string; bitmap: string; history: [string, string] };
    return { current: u.current, bitmap: u.bitmap, history: [u.history[0], u.history[1]] };
  }
  if (kind === 'strings') return [...(v as string[])];
  if (kind === 'uints') return [...(v as number[])];
  return v;
}

export function isKnownType(t: unknown): t is PeerMessageType {
  return typeof t === 'string' && Object.prototype.hasOwnProperty.call(MESSAGE_SCHEMAS, t);
}

/** Validates a decoded header and returns a fresh message holding only the schema's fields. */
export function checkHeader(decoded: unknown): HeaderCheck {
  if (!isRecord(decoded)) return { ok: false, reason: 'header is not a map' };
  const type = decoded.type;
  if (!isKnownType(type)) return { ok: false, reason: `unknown message type ${JSON.stringify(type)?.slice(0, 40)}` };
  const out: Record<string, unknown> & { type: PeerMessageType } = { type };
  for (const [field, spec] of FIELD_LISTS.get(type)!) {
    const v = decoded[field];
    if (typeof spec === 'string') {
      if (!checkPrimitive(spec, v)) return { ok: false, reason: `${type}: field '${field}' missing or not ${spec}` };
      out[field] = copyValue(spec, v);
    } else if ('oneOf' in spec) {
      if (typeof v !== 'string' || !spec.oneOf.includes(v)) {
        return { ok: false, reason: `${type}: field '${field}' must be one of ${spec.oneOf.join('|')}` };
      }
      out[field] = v;
    } else if (v !== undefined && v !== null) {
      if (!checkPrimitive(spec.optional, v)) return { ok: false, reason: `${type}: field '${field}' is not ${spec.optional}` };
      out[field] = copyValue(spec.optional, v);
    }
  }
  return { ok: true, message: out };
}

/** Whether a frame of this type (and, for data, kind) carries the payload chunk. */
export function payloadRule(type: PeerMessageType): PayloadRule {
  return MESSAGE_SCHEMAS[type].payload;
}
