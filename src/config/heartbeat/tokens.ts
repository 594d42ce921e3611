// Line and token splitting shared by the three heartbeat files. Heartbeat reads them with
// fgets/sscanf/sed, so a token is a run of non-blank characters and columns are what an
// editor shows (1-based, tabs count as one character).

export interface Token {
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

export interface TokenLine {
  readonly line: number;
  readonly tokens: Token[];
  /** the line ended with `\` (haresources continuation); the backslash is not a token */
  readonly continues: boolean;
}

export type CommentStyle =
  /** `#` anywhere starts a comment (ha.cf, haresources: heartbeat zaps from the first `#`) */
  | 'anywhere'
  /** only a line whose first non-blank is `#` is a comment (authkeys: a secret may hold `#`) */
  | 'leading';

export function tokenizeLines(text: string, comments: CommentStyle): TokenLine[] {
  const out: TokenLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let raw = lines[i] ?? '';
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (comments === 'anywhere') {
      const hash = raw.indexOf('#');
      if (hash >= 0) raw = raw.slice(0, hash);
    } else if (/^[ \t\f\v]*#/.test(raw)) {
      raw = '';
    }
    let continues = false;
    const trimmed = raw.replace(/[ \t\f\v\r]+$/, '');
    if (trimmed.endsWith('\\')) {
      continues = true;
      raw = trimmed.slice(0, -1);
    }
    const tokens: Token[] = [];
    const re = /[^ \t\f\v\r]+/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(raw)) !== null) tokens.push({ text: m[0], line: i + 1, col: m.index + 1 });
    out.push({ line: i + 1, tokens, continues });
  }
  return out;
}
