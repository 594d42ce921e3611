// `npm run demo`: the e2e scenario told to a person. Builds the lab (scripts/lab.sh), runs the
// user's story step by step with the commands, the status file (with the resync progress bar)
// and what the client sees, prints the failover times, and always tears the lab down. Exits
// non-zero if any step fails or cannot run. Needs root (namespaces, loop devices, mounts).
//
// Run with vite-node (it comes with vitest) so it can share the e2e test's helpers unchanged.
import { Lab, LOG_DIR, isRoot } from '../test/e2e/helpers/lab.js';
import { Scenario, hbAvailable, kernelDeviceAvailable, type Narrator } from '../test/e2e/helpers/scenario.js';

const tty = process.stdout.isTTY;
const c = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const out = (s: string) => process.stdout.write(s + '\n');

const narrator: Narrator = {
  step: (n, title) => out(`\n${c('1;36', `━━ Step ${n}: ${title}`)}`),
  say: (text) => out(`   ${text}`),
  cmd: (host, command) => out(`   ${c('33', `${host}#`)} ${c('1', command)}`),
  show: (label, text) => {
    out(`   ${c('2', `┌─ ${label}`)}`);
    for (const line of text.split('\n')) out(`   ${c('2', '│')} ${line}`);
    out(`   ${c('2', '└─')}`);
  },
};

async function main(): Promise<number> {
  if (!isRoot()) {
    out('npm run demo needs root: it builds network namespaces, a bridge, loop devices and mounts.');
    out('Run it as root (e.g. sudo npm run demo) on a machine or VM you can experiment on.');
    return 2;
  }
  const hb = hbAvailable();
  if (!kernelDeviceAvailable()) out(c('31', 'warning: dist/src/nbd/kernel-device.js is missing; /dev/tandem0 will not appear and step 2 will fail'));
  if (!hb) out(c('31', 'warning: the tandem-hb daemon (dist/src/cluster/tandem-hb-main.js) is not built; steps 4-7 cannot run'));

  out(c('1', 'Tandem demo: a two-node web cluster on a replicated disk, and a pulled cable'));
  out('Building the lab: node1 (10.213.0.1), node2 (10.213.0.2) and a client (10.213.0.10) in network');
  out('namespaces on a private bridge; each node has its own hostname, mounts and a 256 MiB loop disk.');
  const lab = await Lab.up();
  const sc = new Scenario(lab, narrator);
  let failed: string | null = null;
  const skipped: string[] = [];
  const interrupted = new Promise<never>((_, reject) => {
    const onSignal = (sig: string) => reject(new Error(`interrupted by ${sig}`));
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
  interrupted.catch(() => undefined); // raced per step; a signal after the last step is not an error
  const steps: Array<[string, () => Promise<unknown>, boolean]> = [
    ['1', () => sc.step1CreateAndUp(), true],
    ['2', () => sc.step2InitialSync(), true],
    ['3', () => sc.step3Filesystem(), true],
    ['4', () => sc.step4Heartbeat(), hb],
    ['5', () => sc.step5ClientSeesNode1(), hb],
    ['6', async () => {
      const r = await sc.step6PullCable();
      if (r.takeoverMs > r.boundMs) throw new Error(`takeover took ${r.takeoverMs} ms, more than deadtime + 5 s = ${r.boundMs} ms`);
    }, hb],
    ['7', () => sc.step7PlugBack(), hb],
    ['8', () => sc.step8SplitBrain(), true],
  ];
  try {
    for (const [n, run, can] of steps) {
      if (!can) {
        skipped.push(n);
        narrator.step(Number(n), c('31', 'skipped: needs the tandem-hb daemon, which is not built yet'));
        continue;
      }
      try {
        await Promise.race([run(), interrupted]);
      } catch (err) {
        failed = `step ${n}: ${(err as Error).message}`;
        break;
      }
    }
  } finally {
    out('');
    out(sc.summary());
    out('\nTearing the lab down (scripts/lab.sh down)…');
    const r = await lab.down();
    if (r.code !== 0) out(c('31', `lab.sh down failed: ${r.stderr}`));
  }
  if (failed) {
    out(c('1;31', `\nFAILED — ${failed}`));
    out(`daemon logs and the client's trace: ${LOG_DIR}`);
    return 1;
  }
  if (skipped.length > 0) {
    out(c('1;33', `\nIncomplete: steps ${skipped.join(', ')} did not run (tandem-hb daemon not built).`));
    return 1;
  }
  out(c('1;32', '\nAll steps passed: the cluster survived the pulled cable and the split brain.'));
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (err: Error) => {
    out(`demo: ${err.message}`);
    await Lab.down();
    process.exit(1);
  },
);
