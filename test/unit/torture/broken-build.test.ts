// The patch that makes the deliberately broken build: it must hit the one wait for the peer in
// the compiled write path, and refuse loudly when the write path no longer looks like that.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { breakProtocolC } from '../../../scripts/torture/broken-build.js';

const COMPILED = path.resolve(__dirname, '../../../dist/src/replication/write-pipeline.js');

describe('breakProtocolC', () => {
  it('removes both waits for the peer (the general and the inline write path) and nothing else', () => {
    const src = "a();\n            if (peer)\n                await peer;\n        }\n b();\n if (needs === 'none')\n finish(null);\n c();";
    const out = breakProtocolC(src);
    expect(out).not.toMatch(/await peer/);
    expect(out).not.toMatch(/needs === 'none'/);
    expect(out.match(/BROKEN BUILD/g)).toHaveLength(2);
    expect(out.startsWith('a();')).toBe(true);
    expect(out.endsWith('c();')).toBe(true);
  });

  it('refuses when the wait is missing or ambiguous', () => {
    expect(() => breakProtocolC('nothing here')).toThrow(/found 0: the write path changed/);
    expect(() => breakProtocolC("if (peer) await peer; if (peer) await peer; if (needs === 'none') finish(null);")).toThrow(/found 2/);
    expect(() => breakProtocolC('if (peer) await peer;')).toThrow(/'if \(needs === 'none'\) finish\(null\);' .* found 0/);
  });

  // needs dist/ (npm test compiles it first in `pretest`); only a bare `vitest run` before any build skips
  it.skipIf(!fs.existsSync(COMPILED))('applies to the compiled write-pipeline.js of this tree', () => {
    expect(breakProtocolC(fs.readFileSync(COMPILED, 'utf8'))).toContain('BROKEN BUILD');
  });
});
