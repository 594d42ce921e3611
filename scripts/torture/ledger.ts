// What the writer was told, per block: the latest version the Primary acknowledged, and the later
// versions it sent whose fate is unknown (no reply before the crash, or an error reply). The
// promise under test: a read returns the last acknowledged version or one of those later ones,
// never an older one, never nothing. Pure bookkeeping, no I/O.
import type { DecodedBlock } from './block-format.js';

interface BlockRecord {
  acked: number; // 0: never acknowledged
  unknown: Set<number>; // versions > acked sent without an acknowledgement
  inFlight: number | null;
  lastIssued: number;
}

export type BlockVerdict =
  /** the acknowledged version, or a later sent one (`unackedVisible`) */
  | { kind: 'ok'; version: number; unackedVisible: boolean }
  /** an acknowledged write is missing: older version, zeros, another block's data, garbage */
  | { kind: 'lost'; block: number; acked: number; found: string }
  /** unreadable content where a sent-but-unacknowledged write may have been cut short */
  | { kind: 'torn'; block: number; found: string }
  /** content the writer never produced, in a block that has no acknowledged write */
  | { kind: 'anomaly'; block: number; found: string };

export class WriteLedger {
  private readonly blocks = new Map<number, BlockRecord>();
  private acks = 0;

  constructor(readonly runId: number) {}

  /** Total writes acknowledged so far. */
  get acknowledged(): number {
    return this.acks;
  }

  isBusy(block: number): boolean {
    return (this.blocks.get(block)?.inFlight ?? null) !== null;
  }

  /** The version to write next to `block`; one write per block at a time. */
  issue(block: number): number {
    const r = this.record(block);
    if (r.inFlight !== null) throw new Error(`block ${block} already has version ${r.inFlight} in flight`);
    r.lastIssued += 1;
    r.inFlight = r.lastIssued;
    return r.lastIssued;
  }

  acknowledge(block: number, version: number): void {
    const r = this.settle(block, version);
    this.acks++;
    if (version > r.acked) r.acked = version;
    for (const v of r.unknown) if (v <= r.acked) r.unknown.delete(v);
  }

  /** No reply (connection gone) or an error reply: the write may or may not have happened. */
  unknownFate(block: number, version: number): void {
    const r = this.settle(block, version);
    if (version > r.acked) r.unknown.add(version);
  }

  /** Blocks with at least one acknowledged write. */
  acknowledgedBlocks(): number[] {
    return [...this.blocks].filter(([, r]) => r.acked > 0).map(([b]) => b);
  }

  ackedVersion(block: number): number {
    return this.blocks.get(block)?.acked ?? 0;
  }

  check(block: number, got: DecodedBlock): BlockVerdict {
    const r = this.blocks.get(block);
    const acked = r?.acked ?? 0;
    const unknown = r?.unknown ?? new Set<number>();
    const found = describe(got);
    if (got.kind === 'stamp' && got.stamp.runId === this.runId && got.stamp.block === block) {
      const v = got.stamp.version;
      if (acked > 0 && v === acked) return { kind: 'ok', version: v, unackedVisible: false };
      if (unknown.has(v)) return { kind: 'ok', version: v, unackedVisible: true };
      if (acked > 0) return { kind: 'lost', block, acked, found };
      return { kind: 'anomaly', block, found };
    }
    if (got.kind === 'zero' && acked === 0) return { kind: 'ok', version: 0, unackedVisible: false };
    if (got.kind === 'corrupt' && unknown.size > 0) return { kind: 'torn', block, found };
    if (acked > 0) return { kind: 'lost', block, acked, found };
    return { kind: 'anomaly', block, found };
  }

  private record(block: number): BlockRecord {
    let r = this.blocks.get(block);
    if (!r) {
      r = { acked: 0, unknown: new Set(), inFlight: null, lastIssued: 0 };
      this.blocks.set(block, r);
    }
    return r;
  }

  private settle(block: number, version: number): BlockRecord {
    const r = this.blocks.get(block);
    if (!r || r.inFlight !== version) throw new Error(`block ${block} version ${version} was not in flight`);
    r.inFlight = null;
    return r;
  }
}

function describe(got: DecodedBlock): string {
  switch (got.kind) {
    case 'zero':
      return 'zeros';
    case 'corrupt':
      return `corrupt: ${got.reason}`;
    case 'stamp':
      return `run ${got.stamp.runId} block ${got.stamp.block} v${got.stamp.version}`;
  }
}
