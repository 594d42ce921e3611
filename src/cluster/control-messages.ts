// The resource-handover protocol between the two tandem-hb nodes. Heartbeat v1 coordinates with
// `t=starting`, `t=resource rsc_hold=…` and `t=ask_resources` messages; Tandem uses four named
// messages instead, signed and sequenced like heartbeats (packet.ts) and sent with dest=<peer>.
//
//   rsc_state  "what I have": groups held (all resources started), busy (starting/stopping),
//              claimed (asked for or granted, not yet started), failed (a stop failed: nobody may
//              start it), declined (in standby, or failed to start here). Sent on every change, when
//              the peer comes up, and every announce period (UDP loses packets). `ver` grows by one
//              per message so a late copy never overrides a newer one.
//   rsc_claim  "let me run these groups": reason owner (the preferred node starts its group),
//              failback (auto_failback: the owner wants its group back), takeover (operator),
//              peer-standby (the peer declined them). Re-sent until answered.
//   rsc_grant  "I do not hold them and will not start them while you claim or hold them". A holder
//              that agrees to give a group up stops it right to left *before* granting.
//   ping_state "how many of ha.cf's ping nodes I see" (ipfail's num_ping_nodes): visible of total,
//              sent when it changes, when the peer comes up, and every announce period; `ver` as in
//              rsc_state. Only nodes with `ping`/`ping_group` lines send it (ping-nodes.ts).
//   rsc_deny   "no": held (I run it and the reason does not make me give it up), failed (its stop
//              failed here: nobody may start it), conflict (we both claimed; the owner, or an
//              operator's takeover, wins), unknown (no such group: haresources differ).
//
// While both nodes are up, a group is started only after the peer granted it, so the two
// nodes can never both run it; when the peer is dead it is fenced (STONITH) first if it may hold
// anything. Group names are the first resource of the haresources line; they never contain blanks,
// so lists travel as blank-separated words.

import type { HbPacket } from './packet.js';

export type ClaimReason = 'owner' | 'failback' | 'takeover' | 'peer-standby';
export type DenyReason = 'held' | 'failed' | 'conflict' | 'unknown';

export interface RscStateMsg {
  type: 'rsc-state';
  version: number;
  held: string[];
  busy: string[];
  claimed: string[];
  failed: string[];
  declined: string[];
}
export interface ClaimMsg { type: 'claim'; groups: string[]; reason: ClaimReason }
export interface GrantMsg { type: 'grant'; groups: string[] }
export interface DenyMsg { type: 'deny'; groups: string[]; reason: DenyReason }

export interface PingStateMsg { type: 'ping-state'; version: number; visible: number; total: number }

export type ControlMessage = RscStateMsg | ClaimMsg | GrantMsg | DenyMsg | PingStateMsg;

export const CONTROL_PACKET_TYPES = {
  'rsc-state': 'rsc_state',
  claim: 'rsc_claim',
  grant: 'rsc_grant',
  deny: 'rsc_deny',
  'ping-state': 'ping_state',
} as const satisfies Record<ControlMessage['type'], string>;

const CLAIM_REASONS: ReadonlySet<string> = new Set<ClaimReason>(['owner', 'failback', 'takeover', 'peer-standby']);
const DENY_REASONS: ReadonlySet<string> = new Set<DenyReason>(['held', 'failed', 'conflict', 'unknown']);

const list = (groups: readonly string[]) => groups.join(' ');

/** Packet type and fields for PacketSender.build(). */
export function controlToPacket(msg: ControlMessage): { type: string; fields: Array<[string, string]> } {
  const type = CONTROL_PACKET_TYPES[msg.type];
  switch (msg.type) {
    case 'rsc-state':
      return {
        type,
        fields: [['ver', msg.version.toString(16)], ['held', list(msg.held)], ['busy', list(msg.busy)],
          ['claimed', list(msg.claimed)], ['failed', list(msg.failed)], ['declined', list(msg.declined)]],
      };
    case 'claim': return { type, fields: [['groups', list(msg.groups)], ['reason', msg.reason]] };
    case 'grant': return { type, fields: [['groups', list(msg.groups)]] };
    case 'deny': return { type, fields: [['groups', list(msg.groups)], ['reason', msg.reason]] };
    case 'ping-state':
      return { type, fields: [['ver', msg.version.toString(16)], ['visible', String(msg.visible)], ['total', String(msg.total)]] };
  }
}

export function isControlPacket(p: HbPacket): boolean {
  return (Object.values(CONTROL_PACKET_TYPES) as string[]).includes(p.type);
}

export type ControlDecode = { ok: true; msg: ControlMessage } | { ok: false; detail: string };

/** Never throws: a peer running another version must not crash us. */
export function controlFromPacket(p: HbPacket): ControlDecode {
  const words = (name: string): string[] | null => {
    const v = p.fields.get(name);
    if (v === undefined) return null;
    return v.split(' ').filter((w) => w !== '');
  };
  const need = (name: string): string[] | string => words(name) ?? `${p.type} without '${name}'`;
  switch (p.type) {
    case CONTROL_PACKET_TYPES['rsc-state']: {
      const ver = p.fields.get('ver');
      if (ver === undefined || !/^[0-9a-f]{1,13}$/i.test(ver)) return { ok: false, detail: "rsc_state without a hex 'ver'" };
      const parts = ['held', 'busy', 'claimed', 'failed', 'declined'].map(need);
      const bad = parts.find((x): x is string => typeof x === 'string');
      if (bad) return { ok: false, detail: bad };
      const [held, busy, claimed, failed, declined] = parts as string[][];
      return { ok: true, msg: { type: 'rsc-state', version: parseInt(ver, 16), held: held!, busy: busy!, claimed: claimed!, failed: failed!, declined: declined! } };
    }
    case CONTROL_PACKET_TYPES.claim:
    case CONTROL_PACKET_TYPES.deny: {
      const groups = need('groups');
      if (typeof groups === 'string') return { ok: false, detail: groups };
      const reason = p.fields.get('reason') ?? '';
      if (p.type === CONTROL_PACKET_TYPES.claim) {
        if (!CLAIM_REASONS.has(reason)) return { ok: false, detail: `rsc_claim with unknown reason '${reason}'` };
        return { ok: true, msg: { type: 'claim', groups, reason: reason as ClaimReason } };
      }
      if (!DENY_REASONS.has(reason)) return { ok: false, detail: `rsc_deny with unknown reason '${reason}'` };
      return { ok: true, msg: { type: 'deny', groups, reason: reason as DenyReason } };
    }
    case CONTROL_PACKET_TYPES.grant: {
      const groups = need('groups');
      if (typeof groups === 'string') return { ok: false, detail: groups };
      return { ok: true, msg: { type: 'grant', groups } };
    }
    case CONTROL_PACKET_TYPES['ping-state']: {
      const ver = p.fields.get('ver');
      if (ver === undefined || !/^[0-9a-f]{1,13}$/i.test(ver)) return { ok: false, detail: "ping_state without a hex 'ver'" };
      const count = (name: string): number | string => {
        const v = p.fields.get(name);
        if (v === undefined) return `ping_state without '${name}'`;
        return /^[0-9]{1,6}$/.test(v) ? Number(v) : `ping_state with a bad '${name}' '${v}'`;
      };
      const visible = count('visible');
      const total = count('total');
      if (typeof visible === 'string') return { ok: false, detail: visible };
      if (typeof total === 'string') return { ok: false, detail: total };
      if (visible > total) return { ok: false, detail: `ping_state with visible ${visible} > total ${total}` };
      return { ok: true, msg: { type: 'ping-state', version: parseInt(ver, 16), visible, total } };
    }
    default:
      return { ok: false, detail: `unknown control message type '${p.type}'` };
  }
}
