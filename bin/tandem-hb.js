#!/usr/bin/env node
import('../dist/src/cluster/tandem-hb-main.js').catch((err) => {
  process.stderr.write(`tandem-hb: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
