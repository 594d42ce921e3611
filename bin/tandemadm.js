#!/usr/bin/env node
import('../dist/src/cli/tandemadm-main.js').catch((err) => {
  process.stderr.write(`tandemadm: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
