// `npm run torture -- --rounds N --seed S [--json] [--lab]`: the acknowledged-write checker.
// Runs with vite-node (it comes with vitest) so it shares the integration tests' loopback pair and
// the e2e lab unchanged; tandemd itself runs from dist/ as always.
//
// Exit status: 0 when no acknowledged write was lost, no round failed and the disks were identical
// after every heal; 1 otherwise; 2 for a bad command line or a cluster that could not be set up.
import crypto from 'node:crypto';
import { parseArgs, USAGE } from './args.js';
import { runTorture } from './run.js';
import { textReport } from './summary.js';

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2), () => crypto.randomInt(0, 0xffffffff));
  if (parsed.ok === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!parsed.ok) {
    process.stderr.write(`torture: ${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  const o = parsed.options;
  if (o.mode === 'lab' && process.getuid?.() !== 0) {
    process.stderr.write('torture: --lab needs root (network namespaces, loop devices)\n');
    return 2;
  }
  if (o.faults.includes('device-kill-primary') && process.getuid?.() !== 0) {
    process.stderr.write('torture: device-kill-primary needs root (the kernel block device: loop device, FUSE mount)\n');
    return 2;
  }
  // progress goes to stderr so that --json leaves stdout to the summary alone
  const log = (line: string): void => {
    process.stderr.write(line + '\n');
  };
  log(`torture: ${o.rounds} rounds, seed ${o.seed}, ${o.mode}, faults ${o.faults.join(',')}`);
  const { summary, keptDir } = await runTorture(o, log);
  if (keptDir) log(`kept for inspection: ${keptDir}`);
  if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(textReport(summary) + '\n');
  if (summary.rounds === 0) return 2;
  return summary.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`torture: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(2);
  },
);
