// What ocf:tandem:tandem evaluates: the monitor's exit code, the promotion score and the states, as
// shell assignments. Printed by `tandemadm ocf-status` / `ocf-promote`, and answered by tandemd
// itself to the same control commands (the agent's fast path asks it without starting Node.js).
import { monitorVerdict, parseScoreTable, promotionAction, type LocalState } from './agent-decisions.js';

/** A value for `eval` in sh: single-quoted. */
export function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

export function ocfStatusLines(s: LocalState | null, scoresText: string): string {
  const m = monitorVerdict(s);
  const p = promotionAction(s, parseScoreTable(scoresText));
  const lines = [
    `OCF_STATUS_RC=${m.rc}`,
    `OCF_STATUS_REASON=${shellQuote(m.reason)}`,
    `PROMOTION_ACTION=${p.action}`,
    `PROMOTION_SCORE=${p.action === 'set' ? p.score : ''}`,
    `PROMOTION_REASON=${shellQuote(p.reason)}`,
    `TANDEM_ROLE=${s?.role ?? ''}`,
    `TANDEM_DISK=${s?.disk ?? ''}`,
    `TANDEM_PEER_DISK=${s?.peerDisk ?? ''}`,
    `TANDEM_CSTATE=${s?.cs ?? ''}`,
  ];
  return lines.join('\n') + '\n';
}

/** `ocf-promote`'s first lines: what `tandemadm primary` would have exited with and said. */
export function promoteLines(rc: number, message: string): string {
  return `PROMOTE_RC=${rc}\nPROMOTE_MESSAGE=${shellQuote(message)}\n`;
}
