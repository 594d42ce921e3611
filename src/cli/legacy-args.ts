// drbdadm 8.3's ways of passing drbdsetup options, rewritten to tandemadm's (pure, so it is testable
// without running the CLI).

/**
 * drbdadm 8.3 spelled forced promotion `drbdadm -- --overwrite-data-of-peer primary r0`, and
 * passed resize's drbdsetup options the same way: `drbdadm -- --size=10G --assume-clean resize r0`.
 */
export function normaliseLegacyArgs(argv: string[]): string[] {
  const out = [...argv];
  const r = out.indexOf('resize');
  const dd = out.indexOf('--');
  if (r >= 0 && dd >= 0 && dd < r) {
    const opts = out.splice(dd, r - dd).slice(1);
    out.splice(out.indexOf('resize') + 1, 0, ...opts);
  }
  const i = out.indexOf('--overwrite-data-of-peer');
  if (i >= 0) {
    out.splice(i, 1);
    const dd = out.indexOf('--');
    if (dd >= 0 && dd < i) out.splice(dd, 1);
    const p = out.indexOf('primary');
    if (p >= 0) out.splice(p + 1, 0, '--force');
  }
  return out;
}
