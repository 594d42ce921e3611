// bin/tandemd.js's shebang and the spawners in tests and benchmarks must give tandemd the same V8
// flags, or the benchmarks would measure a daemon users do not run.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TANDEMD_NODE_FLAGS } from '../../../src/daemon/node-flags.js';

const REPO = path.resolve(__dirname, '../../..');

describe('tandemd V8 flags', () => {
  it('the shebang of bin/tandemd.js carries exactly TANDEMD_NODE_FLAGS', () => {
    const first = fs.readFileSync(path.join(REPO, 'bin/tandemd.js'), 'utf8').split('\n')[0]!;
    expect(first).toBe(`#!/usr/bin/env -S node ${TANDEMD_NODE_FLAGS.join(' ')}`);
  });

  it('rc.tandem starts node with the same flags when tandemd is not installed', () => {
    const rc = fs.readFileSync(path.join(REPO, 'scripts/rc.tandem'), 'utf8');
    expect(rc).toContain(`node ${TANDEMD_NODE_FLAGS.join(' ')} $ROOT/bin/tandemd.js`);
  });
});
