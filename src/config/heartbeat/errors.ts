// Diagnostics for heartbeat's files. Every message names file:line:col like a compiler, so an
// operator can jump to the line; file-level problems (line 0) print as `file: reason`.

export interface HaDiagnostic {
  readonly file: string;
  /** 1-based; 0 when the problem concerns the whole file (a missing directive, file mode). */
  readonly line: number;
  /** 1-based column of the offending token; 0 with line 0. */
  readonly col: number;
  readonly reason: string;
  /** `file:line:col: reason` */
  readonly message: string;
}

export function formatDiagnostic(file: string, line: number, col: number, reason: string): string {
  return line > 0 ? `${file}:${line}:${col}: ${reason}` : `${file}: ${reason}`;
}

export class HaConfigError extends Error implements HaDiagnostic {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly reason: string;
  constructor(file: string, line: number, col: number, reason: string) {
    super(formatDiagnostic(file, line, col, reason));
    this.name = 'HaConfigError';
    this.file = file;
    this.line = line;
    this.col = col;
    this.reason = reason;
  }
}

export function warning(file: string, line: number, col: number, reason: string): HaDiagnostic {
  return { file, line, col, reason, message: formatDiagnostic(file, line, col, reason) };
}

export type HaParseResult<T> =
  | { ok: true; value: T; warnings: HaDiagnostic[] }
  | { ok: false; errors: HaConfigError[]; warnings: HaDiagnostic[] };

/** For callers that want an exception: throws the first error, with all of them in its message. */
export function unwrap<T>(result: HaParseResult<T>): T {
  if (result.ok) return result.value;
  const [first, ...rest] = result.errors;
  if (first === undefined) throw new Error('parse failed without an error (bug)');
  if (rest.length === 0) throw first;
  const all = new HaConfigError(first.file, first.line, first.col, first.reason);
  all.message = result.errors.map((e) => e.message).join('\n');
  throw all;
}
