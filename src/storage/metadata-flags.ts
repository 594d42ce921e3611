// DRBD's meta-data flags (u32 `flags` in the superblock, reference §1.2), with DRBD's bit values
// so that `dump-md` prints the same hex a DRBD user knows. In TypeScript they are a record of
// named booleans; on the wire (replication/messages.ts) they travel as the kebab-case names.

export interface MetaFlags {
  /** MDF_CONSISTENT: disk > Inconsistent */
  consistent: boolean;
  /** MDF_PRIMARY_IND: Primary (or peer Primary while we have no good peer disk) */
  primaryInd: boolean;
  /** MDF_CONNECTED_IND: connection past WFReportParams */
  connectedInd: boolean;
  /** MDF_FULL_SYNC: set every bitmap bit at next attach */
  fullSync: boolean;
  /** MDF_WAS_UP_TO_DATE: disk > Outdated */
  wasUpToDate: boolean;
  /** MDF_PEER_OUT_DATED: Inconsistent <= peer disk <= Outdated */
  peerOutdated: boolean;
  /** MDF_CRASHED_PRIMARY: went down as Primary without demoting */
  crashedPrimary: boolean;
  /** MDF_AL_CLEAN: the activity log holds nothing to apply */
  alClean: boolean;
  /** MDF_AL_DISABLED: `al-updates no`; a crashed Primary needs a full sync */
  alDisabled: boolean;
}

export type MetaFlagName = keyof MetaFlags;

/** DRBD's bit for each flag, in DRBD's order. */
export const META_FLAG_BITS: Readonly<Record<MetaFlagName, number>> = {
  consistent: 0x01,
  primaryInd: 0x02,
  connectedInd: 0x04,
  fullSync: 0x08,
  wasUpToDate: 0x10,
  peerOutdated: 0x20,
  crashedPrimary: 0x40,
  alClean: 0x80,
  alDisabled: 0x100,
};

/** Names as DRBD's tools print them (get-gi legend, dump-md comments, wire `flags`). */
export const META_FLAG_LABELS: Readonly<Record<MetaFlagName, MetaFlagLabel>> = {
  consistent: 'consistent',
  primaryInd: 'primary-ind',
  connectedInd: 'connected-ind',
  fullSync: 'full-sync',
  wasUpToDate: 'was-up-to-date',
  peerOutdated: 'peer-outdated',
  crashedPrimary: 'crashed-primary',
  alClean: 'al-clean',
  alDisabled: 'al-disabled',
};

export const META_FLAG_NAMES = Object.keys(META_FLAG_BITS) as MetaFlagName[];
export const KNOWN_FLAG_MASK = META_FLAG_NAMES.reduce((m, n) => m | META_FLAG_BITS[n], 0);

export function noFlags(): MetaFlags {
  return {
    consistent: false, primaryInd: false, connectedInd: false, fullSync: false, wasUpToDate: false,
    peerOutdated: false, crashedPrimary: false, alClean: false, alDisabled: false,
  };
}

export function flagsToBits(f: MetaFlags): number {
  return META_FLAG_NAMES.reduce((m, n) => (f[n] ? m | META_FLAG_BITS[n] : m), 0) >>> 0;
}

/** Bits outside KNOWN_FLAG_MASK are the caller's to reject (decodeSuperblock does). */
export function flagsFromBits(bits: number): MetaFlags {
  const f = noFlags();
  for (const n of META_FLAG_NAMES) f[n] = (bits & META_FLAG_BITS[n]) !== 0;
  return f;
}

/** The labels of the set flags, in DRBD's bit order. */
export function setFlagLabels(f: MetaFlags): MetaFlagLabel[] {
  return META_FLAG_NAMES.filter((n) => f[n]).map((n) => META_FLAG_LABELS[n]);
}

export type MetaFlagLabel =
  | 'consistent' | 'primary-ind' | 'connected-ind' | 'full-sync' | 'was-up-to-date'
  | 'peer-outdated' | 'crashed-primary' | 'al-clean' | 'al-disabled';

const BY_LABEL = new Map<string, MetaFlagName>(META_FLAG_NAMES.map((n) => [META_FLAG_LABELS[n], n]));

/** The set-of-labels form the replication code works with (`flags.has('primary-ind')`). */
export function flagsToLabelSet(f: MetaFlags): Set<MetaFlagLabel> {
  return new Set(setFlagLabels(f));
}

/** Inverse of flagsToLabelSet; unknown labels are an error (they would be silently lost). */
export function flagsFromLabels(labels: Iterable<string>): MetaFlags {
  const f = noFlags();
  for (const l of labels) {
    const n = BY_LABEL.get(l);
    if (!n) throw new Error(`unknown metadata flag "${l}"`);
    f[n] = true;
  }
  return f;
}
