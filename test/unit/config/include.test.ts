// include "glob": resolved relative to the including file, a glob matching nothing is fine,
// a missing plain file is refused at the include statement.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { parse, res } from './helpers.js';

describe('include', () => {
  it('reads included files through the resolver and names them in errors', () => {
    const cfg = parse('include "common.conf";\n' + res(''), { 'common.conf': 'common { net { protocol A; } }\n' });
    expect(cfg.files).toEqual(['t.conf', 'common.conf']);
    expect(cfg.common.net[0]!.loc).toEqual({ file: 'common.conf', line: 1, col: 16 });
    expect(() => parse('include "bad.conf";\n', { 'bad.conf': 'common { net { protocl A; } }\n' })).toThrow(/^bad\.conf:1:16: unknown keyword 'protocl'/);
  });
  it('a missing non-glob include is an error at the include statement', () => {
    expect(() => parse('\ninclude "drbd.d/global.conf";\n')).toThrow(/^t\.conf:2:1: failed to open include file 'drbd\.d\/global\.conf': ENOENT/);
  });

  it('globs resolve against the including file, sorted; an empty glob is fine', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-conf-'));
    mkdirSync(join(dir, 'drbd.d'));
    mkdirSync(join(dir, 'empty.d'));
    writeFileSync(join(dir, 'tandem.conf'), 'include "drbd.d/global_common.conf";\ninclude "drbd.d/*.res";\ninclude "empty.d/*.res";\n');
    writeFileSync(join(dir, 'drbd.d', 'global_common.conf'), 'global { usage-count no; }\ncommon { syncer { rate 10M; } }\n');
    const hosts = (n: number) =>
      `  on a { device /dev/drbd${n}; disk /dev/sd${n}; address 10.0.0.1:${7700 + n}; meta-disk internal; }\n  on b { device /dev/drbd${n}; disk /dev/sd${n}; address 10.0.0.2:${7700 + n}; meta-disk internal; }\n`;
    writeFileSync(join(dir, 'drbd.d', 'r1.res'), `resource r1 {\n${hosts(1)}}\n`);
    writeFileSync(join(dir, 'drbd.d', 'r0.res'), `resource r0 {\n${hosts(0)}}\n`);
    writeFileSync(join(dir, 'drbd.d', 'r2.res.bak'), 'garbage');
    const cfg = loadConfig(join(dir, 'tandem.conf'));
    expect(cfg.resources.map((r) => r.name)).toEqual(['r0', 'r1']);
    expect(cfg.files.map((f) => f.slice(dir.length + 1))).toEqual(['tandem.conf', 'drbd.d/global_common.conf', 'drbd.d/r0.res', 'drbd.d/r1.res']);
    expect(cfg.global['usage-count']).toEqual({ kind: 'enum', value: 'no' });
    rmSync(dir, { recursive: true, force: true });
  });
  it('an include loop is cut after the first read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-conf-'));
    writeFileSync(join(dir, 'a.conf'), 'include "b.conf";\n');
    writeFileSync(join(dir, 'b.conf'), 'include "a.conf";\n');
    const cfg = loadConfig(join(dir, 'a.conf'));
    expect(cfg.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/already included/)]);
    rmSync(dir, { recursive: true, force: true });
  });
  it('loadConfig names an unreadable main file', () => {
    expect(() => loadConfig('/nonexistent/tandem.conf')).toThrow(/cannot read config file '\/nonexistent\/tandem\.conf'/);
    try {
      loadConfig('/nonexistent/tandem.conf');
    } catch (e) {
      expect(e).not.toBeInstanceOf(ConfigError);
    }
  });
});
