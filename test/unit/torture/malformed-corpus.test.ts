// The hostile-config corpus: every file in test/fixtures/malformed/ is refused through the same
// loader the daemons use (tandem.conf: loadConfig + resolveResource, as `tandemadm up` does;
// heartbeat's files: loadHbSetup over a ha.d where the other two files are good), with a clear
// message that matches the file's `# expect: <regex>` header and names the file. Never a crash:
// a TypeError or RangeError from deep inside a parser fails the test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, resolveResource } from '../../../src/config/index.js';
import { HbConfigError, loadHbSetup } from '../../../src/cluster/ha-load.js';

const CORPUS = path.resolve(__dirname, '../../fixtures/malformed');
const KINDS = ['tandem.conf', 'ha.cf', 'haresources', 'authkeys'] as const;
type Kind = (typeof KINDS)[number];

const GOOD: Record<Exclude<Kind, 'tandem.conf'>, string> = {
  'ha.cf': 'keepalive 2\ndeadtime 30\nbcast eth0\nnode alpha\nnode beta\n',
  haresources: 'alpha IPaddr::10.0.0.100/24 tandemdisk::r0 Filesystem::/dev/drbd0::/data::ext4\n',
  authkeys: 'auth 1\n1 sha1 a-good-secret\n',
};

interface Case {
  kind: Kind;
  name: string;
  file: string;
  expect: RegExp;
  mode: number;
}

function header(text: string, key: string): string | null {
  for (const line of text.split('\n')) {
    const m = new RegExp(`^#\\s*${key}:\\s*(.*?)\\s*$`).exec(line);
    if (m) return m[1]!;
    if (!line.startsWith('#')) break;
  }
  return null;
}

const cases: Case[] = KINDS.flatMap((kind) =>
  fs.readdirSync(path.join(CORPUS, kind)).sort().map((name): Case => {
    const file = path.join(CORPUS, kind, name);
    const text = fs.readFileSync(file, 'latin1');
    const expectText = header(text, 'expect');
    if (expectText === null) throw new Error(`${file}: no '# expect: <regex>' header`);
    const mode = header(text, 'mode');
    return { kind, name, file, expect: new RegExp(expectText), mode: mode ? parseInt(mode, 8) : 0o600 };
  }),
);

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-malformed-'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** Load the file the way the daemon would; returns what was thrown (or null if it loaded). */
function load(c: Case): { error: unknown; named: string } {
  try {
    if (c.kind === 'tandem.conf') {
      resolveResource(loadConfig(c.file), 'r0', 'alpha');
      return { error: null, named: c.file };
    }
    const dir = fs.mkdtempSync(path.join(tmpRoot, 'ha-'));
    for (const [f, text] of Object.entries(GOOD)) fs.writeFileSync(path.join(dir, f), text, { mode: 0o600 });
    const target = path.join(dir, c.kind);
    fs.copyFileSync(c.file, target);
    fs.chmodSync(target, c.mode);
    fs.chmodSync(path.join(dir, 'authkeys'), c.kind === 'authkeys' ? c.mode : 0o600);
    try {
      loadHbSetup(dir, 'alpha');
    } catch (e) {
      return { error: e, named: target };
    }
    return { error: null, named: target };
  } catch (e) {
    return { error: e, named: c.file };
  }
}

describe('malformed configuration corpus', () => {
  it('holds at least 30 files, of all four kinds', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    for (const k of KINDS) expect(cases.filter((c) => c.kind === k).length, k).toBeGreaterThanOrEqual(5);
  });

  it('the good heartbeat files used around each bad one load', () => {
    const dir = fs.mkdtempSync(path.join(tmpRoot, 'good-'));
    for (const [f, text] of Object.entries(GOOD)) fs.writeFileSync(path.join(dir, f), text, { mode: 0o600 });
    expect(loadHbSetup(dir, 'alpha').peer).toBe('beta');
  });

  it.each(cases.map((c) => [`${c.kind}/${c.name}`, c] as const))('%s', (_label, c) => {
    const { error, named } = load(c);
    expect(error, 'the file was accepted').not.toBeNull();
    // a refusal, not a crash: the loaders' own error types (an unknown resource or an unreadable
    // include is a plain Error that names it)
    const e = error as Error;
    expect(e instanceof ConfigError || e instanceof HbConfigError || e.constructor === Error, `${e.name}: ${e.message}`).toBe(true);
    expect(e.message).toMatch(c.expect);
    // a problem in a file says which file (the regexes above pin line:col where there is one); an
    // unknown resource is a command-line problem and is said like drbdadm says it
    if (e instanceof ConfigError || e instanceof HbConfigError) expect(e.message).toContain(named);
  });
});
