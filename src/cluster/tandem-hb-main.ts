// tandem-hb: heartbeat's daemon and its operator commands.
//   start     run the daemon in the foreground (init scripts and systemd background it)
//   stop      SIGTERM to the daemon of --run-dir, wait until it has given up its groups and exited
//   status    nodes and resource groups, crm_mon style (exit 3 when the daemon is not running)
//   standby [all|local|foreign|failback]   give groups to the peer (hb_standby)
//   takeover [all|local|foreign|failback]  take groups from the peer (hb_takeover)
//   cleanup GROUP                          manage a FAILED group again once stopped by hand
//   reload                                 reread ha.cf, authkeys and haresources (also SIGHUP)
// Exit codes follow LSB where they apply: 0 ok, 1 generic failure, 3 not running, 6 not configured.
import { Command } from 'commander';
import fs from 'node:fs';
import pino from 'pino';
import { DEFAULT_HA_DIR, defaultNode, defaultRunDir } from '../cli/common-options.js';
import { DaemonNotRunningError } from '../daemon/json-lines-socket.js';
import { TANDEM_VERSION } from '../daemon/version.js';
import type { Scope } from './controller.js';
import { HbConfigError } from './ha-load.js';
import { hbPidPath, SCOPES, sendHbRequest, type HbRequest, type HbResponse } from './hb-control.js';
import { HbDaemon } from './hb-daemon.js';
import { renderHbStatus, type HbStatusSnapshot } from './status-text.js';

interface GlobalOpts { haDir: string; node: string; runDir: string; logLevel: string; bind?: string }

class CliFailure extends Error {
  constructor(message: string, readonly exitCode: number) { super(message); }
}

const EXIT_NOT_RUNNING = 3;
const EXIT_NOT_CONFIGURED = 6;

async function ask(g: GlobalOpts, req: HbRequest): Promise<HbResponse> {
  try {
    return await sendHbRequest(g.runDir, req);
  } catch (e) {
    if (e instanceof DaemonNotRunningError) throw new CliFailure(e.message, EXIT_NOT_RUNNING);
    throw new CliFailure((e as Error).message, 1);
  }
}

function parseScope(v: string | undefined): Scope {
  const s = (v ?? 'all').toLowerCase();
  if (!(SCOPES as readonly string[]).includes(s)) throw new CliFailure(`'${v}' is not one of ${SCOPES.join(', ')}`, 1);
  return s as Scope;
}

function readPid(runDir: string): number | null {
  try {
    const n = Number(fs.readFileSync(hbPidPath(runDir), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

async function runDaemon(g: GlobalOpts): Promise<void> {
  const logger = pino({ level: g.logLevel, base: { node: g.node, prog: 'tandem-hb' } });
  const daemon = new HbDaemon({ haDir: g.haDir, node: g.node, runDir: g.runDir, bindAddress: g.bind ?? null, logger });
  try {
    daemon.loadConfig();
  } catch (e) {
    if (e instanceof HbConfigError) {
      process.stderr.write(`tandem-hb: configuration error:\n${e.message}\n`);
      process.exit(EXIT_NOT_CONFIGURED);
    }
    throw e;
  }
  // Peer input or an agent must never take the daemon down: a bug that slips through is logged.
  process.on('uncaughtException', (err) => logger.error({ err: err.message, stack: err.stack }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => logger.error({ err: String(err) }, 'unhandled rejection'));
  try {
    await daemon.start();
  } catch (e) {
    logger.fatal({ err: (e as Error).message }, 'tandem-hb failed to start');
    process.stderr.write(`tandem-hb: ${(e as Error).message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    daemon.stop().then(() => process.exit(0), (err: Error) => {
      logger.error({ err: err.message }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // heartbeat rereads its configuration on SIGHUP (heartbeat -r sends it); so does tandem-hb
  process.on('SIGHUP', () => {
    if (!stopping) void daemon.reload('SIGHUP').catch((err: Error) => logger.error({ err: err.message }, 'reload failed'));
  });
}

export function buildProgram(): Command {
  const program = new Command('tandem-hb')
    .description("Tandem's heartbeat: membership over signed UDP heartbeats and haresources resource groups")
    .version(TANDEM_VERSION)
    .option('--ha-dir <dir>', 'directory of ha.cf, authkeys, haresources and resource.d/', DEFAULT_HA_DIR)
    .option('--node <name>', 'this node\'s name in ha.cf (env TANDEM_NODE, default uname -n)', defaultNode())
    .option('--run-dir <dir>', 'control socket, pid file, generation and operational log (env TANDEM_RUN_DIR)', defaultRunDir())
    .option('--bind <address>', 'bind the heartbeat sockets to this address and treat it as this host\'s own (several nodes on one host; env TANDEM_HB_BIND)', process.env.TANDEM_HB_BIND || undefined)
    .option('--log-level <level>', 'pino log level', process.env.TANDEM_LOG_LEVEL || 'info')
    .showHelpAfterError()
    .exitOverride();
  const g = (): GlobalOpts => program.opts<GlobalOpts>();

  program.command('start').description('run the daemon in the foreground').action(() => runDaemon(g()));

  program.command('stop').description('stop the daemon: it gives up its resource groups first')
    .option('--timeout <sec>', 'give up waiting after this many seconds', '600')
    .action(async (o: { timeout: string }) => {
      const pid = readPid(g().runDir);
      if (pid === null || !alive(pid)) {
        process.stdout.write('tandem-hb is not running\n');
        return;
      }
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + Number(o.timeout) * 1000;
      while (alive(pid)) {
        if (Date.now() > deadline) throw new CliFailure(`tandem-hb (pid ${pid}) did not stop within ${o.timeout} s`, 1);
        await new Promise((r) => setTimeout(r, 100));
      }
      process.stdout.write('tandem-hb stopped\n');
    });

  program.command('status').description('show nodes and resource groups (crm_mon style)').option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const res = await ask(g(), { cmd: 'status' });
      if (!res.ok) throw new CliFailure(res.message ?? 'status failed', res.exitCode ?? 1);
      const snap = res.data as HbStatusSnapshot;
      process.stdout.write(o.json ? JSON.stringify(snap, null, 2) + '\n' : renderHbStatus(snap));
    });

  const operator = (name: 'standby' | 'takeover', desc: string): void => {
    program.command(`${name} [scope]`).description(desc).action(async (scope: string | undefined) => {
      const res = await ask(g(), { cmd: name, scope: parseScope(scope) });
      for (const l of res.log ?? []) process.stdout.write(`${l}\n`);
      if (!res.ok) throw new CliFailure(res.message ?? `${name} failed`, res.exitCode ?? 1);
    });
  };
  operator('standby', 'give resource groups to the peer: all (default), local (the groups this node prefers), foreign|failback (the others)');
  operator('takeover', 'take resource groups from the peer: all (default), local, foreign, failback (the groups this node prefers)');

  program.command('reload').description('reread ha.cf, authkeys and haresources without stopping anything (also SIGHUP); invalid files are refused')
    .action(async () => {
      let res: HbResponse;
      try {
        res = await sendHbRequest(g().runDir, { cmd: 'reload' }, 60_000);
      } catch (e) {
        if (e instanceof DaemonNotRunningError) throw new CliFailure(e.message, EXIT_NOT_RUNNING);
        throw new CliFailure((e as Error).message, 1);
      }
      for (const l of res.log ?? []) process.stdout.write(`${l}\n`);
      if (!res.ok) throw new CliFailure(res.message ?? 'reload failed', res.exitCode ?? 1);
    });

  program.command('cleanup <group>').description('a FAILED group was stopped by hand: manage it again').action(async (group: string) => {
    const res = await ask(g(), { cmd: 'cleanup', group });
    for (const l of res.log ?? []) process.stdout.write(`${l}\n`);
    if (!res.ok) throw new CliFailure(res.message ?? 'cleanup failed', res.exitCode ?? 1);
  });
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const e = err as Error & { exitCode?: number; code?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
    if (e.code?.startsWith('commander.')) process.exit(1);
    process.stderr.write(`tandem-hb: ${e.message}\n`);
    process.exit(e instanceof CliFailure ? e.exitCode : 1);
  }
}

void main();
