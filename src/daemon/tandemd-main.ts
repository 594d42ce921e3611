// tandemd: runs in the foreground (init scripts and systemd background it, so they hold its PID).
import { Command } from 'commander';
import pino from 'pino';
import { Daemon } from './daemon.js';
import { parseListenAddress } from '../net/metrics-server.js';
import { SYSLOG_FACILITIES } from '../logging/syslog.js';
import { SyslogTee } from '../logging/syslog-tee.js';
import { DEFAULT_CONFIG, defaultNode, defaultRunDir } from '../cli/common-options.js';
import { TANDEM_VERSION } from './version.js';

const program = new Command('tandemd')
  .description('Tandem replication daemon (one per node)')
  .version(TANDEM_VERSION)
  .option('--config <file>', 'tandem.conf (DRBD grammar)', DEFAULT_CONFIG)
  .option('--node <name>', 'which `on NAME` section is this host (env TANDEM_NODE)', defaultNode())
  .option('--run-dir <dir>', 'control socket, status file, NBD sockets (env TANDEM_RUN_DIR)', defaultRunDir())
  .option('--log-level <level>', 'pino log level', process.env.TANDEM_LOG_LEVEL || 'info')
  .option('--up', 'bring every resource of this node up at start (like `drbdadm up all` in an init script)', false)
  .option('--syslog [facility]', 'also log to the local syslog (default facility daemon), as DRBD logs to the kernel log (env TANDEM_SYSLOG)', process.env.TANDEM_SYSLOG || undefined)
  .option('--metrics <addr>', 'serve Prometheus metrics at http://ADDR/metrics: PORT (127.0.0.1 only), HOST:PORT or [IPV6]:PORT (env TANDEM_METRICS; off by default)', process.env.TANDEM_METRICS || undefined);

program.parse(process.argv);
const opts = program.opts<{ config: string; node: string; runDir: string; logLevel: string; up: boolean; metrics?: string; syslog?: string | boolean }>();
const syslogFacility = opts.syslog === undefined ? null : opts.syslog === true ? 'daemon' : String(opts.syslog);
if (syslogFacility && (!SYSLOG_FACILITIES.has(syslogFacility) || syslogFacility === 'none')) {
  process.stderr.write(`tandemd: --syslog ${syslogFacility}: not a syslog facility (daemon, local0-local7, user, …)\n`);
  process.exit(2);
}
const logger = syslogFacility
  ? pino({ level: opts.logLevel, base: { node: opts.node } }, new SyslogTee('tandemd', syslogFacility))
  : pino({ level: opts.logLevel, base: { node: opts.node } });

let daemon: Daemon;
try {
  daemon = new Daemon({ configPath: opts.config, node: opts.node, runDir: opts.runDir, logger, metrics: opts.metrics ? parseListenAddress(opts.metrics) : undefined });
} catch (err) {
  process.stderr.write(`tandemd: ${(err as Error).message}\n`);
  process.exit(10);
}

async function main(): Promise<void> {
  await daemon.start();
  if (opts.up) {
    const res = await daemon.handle({ cmd: 'up', resource: 'all' });
    if (!res.ok) logger.error({ message: res.message }, 'up all failed');
  }
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: sig }, 'shutting down');
    daemon.stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ err: err.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // peer input must never take the daemon down; a bug that slips through is logged, not fatal
  process.on('uncaughtException', (err) => logger.error({ err: err.message, stack: err.stack }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => logger.error({ err: String(err) }, 'unhandled rejection'));
}

main().catch((err: Error) => {
  logger.fatal({ err: err.message }, 'tandemd failed to start');
  process.exit(1);
});
