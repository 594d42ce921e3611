// Diagnostics for tandem.conf: every refusal names `file:line:col` so an operator can jump to it,
// the way drbdadm names `file:line` (we add the column because one line often holds several
// statements: `startup { wfc-timeout 0; degr-wfc-timeout 120; }`).

export interface SourceLoc {
  file: string;
  line: number; // 1-based
  col: number; // 1-based, in characters (a tab counts as one)
}

export interface ConfigWarning extends SourceLoc {
  message: string;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** The message without the `file:line:col: ` prefix. */
  readonly detail: string;

  constructor(loc: SourceLoc, detail: string) {
    super(`${loc.file}:${loc.line}:${loc.col}: ${detail}`);
    this.name = 'ConfigError';
    this.file = loc.file;
    this.line = loc.line;
    this.col = loc.col;
    this.detail = detail;
  }
}

export function fail(loc: SourceLoc, detail: string): never {
  throw new ConfigError(loc, detail);
}

export function where(loc: SourceLoc): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}

/** Edit distance, for "did you mean" hints on misspelt keywords. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return bestD <= Math.max(1, Math.floor(word.length / 4)) ? best : undefined;
}
