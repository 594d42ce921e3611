#!/usr/bin/env -S node --initial-old-space-size=64 --expose-gc
import('../dist/src/daemon/tandemd-main.js').catch((err) => {
  process.stderr.write(`tandemd: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
