// tandemadm: drbdadm's commands. Metadata and config commands (create-md, dump-md, dump) work on
// the files directly, like drbdmeta and drbdadm dump; everything else asks tandemd over its
// control socket. Exit 0 on success, non-zero with a one-line reason otherwise.
import { Command } from 'commander';
import { DEFAULT_CONFIG, defaultNode, defaultRunDir } from './common-options.js';
import { controlSocketPath, sendControl, DaemonNotRunningError, type ControlCommand, type ControlRequest } from '../daemon/control-protocol.js';
import { TANDEM_VERSION } from '../daemon/version.js';
// offline-commands (the config parser and the metadata code) and events-command load on demand:
// every tandemadm run is a Node.js start, and the OCF agent runs several on the failover path
const offline = () => import('./offline-commands.js');
import { renderStatusText } from '../daemon/status-render.js';
import type { ResourceStatus } from '../daemon/status-types.js';
import { registerOcfCommands } from './ocf-commands.js';
import { parseResizeSize } from '../replication/resize-decision.js';
import { normaliseLegacyArgs } from './legacy-args.js';

interface GlobalOpts {
  config: string;
  node: string;
  runDir: string;
}

class CliFailure extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

async function call(g: GlobalOpts, req: ControlRequest): Promise<unknown> {
  let res;
  try {
    res = await sendControl(controlSocketPath(g.runDir), req);
  } catch (err) {
    if (err instanceof DaemonNotRunningError) throw new CliFailure(err.message, 20);
    throw err;
  }
  if (!res.ok) throw new CliFailure(res.message ?? 'failed', res.exitCode ?? 20);
  // drbdsetup's notes on success (an adjusted timeout, a wait that ended StandAlone) go to stderr
  if (res.message) process.stderr.write(`${res.message}\n`);
  return res.data;
}

function parseTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new CliFailure(`invalid timeout '${v}' (seconds expected)`, 1);
  return n * 1000;
}

export function buildProgram(): Command {
  const program = new Command('tandemadm')
    .description('Administer Tandem replicated block devices (drbdadm-compatible commands)')
    .version(TANDEM_VERSION)
    .option('--config <file>', 'tandem.conf (DRBD grammar)', DEFAULT_CONFIG)
    .option('--node <name>', 'which `on NAME` section is this host (env TANDEM_NODE)', defaultNode())
    .option('--run-dir <dir>', 'where tandemd keeps its sockets and status file (env TANDEM_RUN_DIR)', defaultRunDir())
    .showHelpAfterError()
    .exitOverride();

  const g = (): GlobalOpts => program.opts<GlobalOpts>();
  const simple = (name: ControlCommand, desc: string, extra?: (c: Command) => Command, build?: (o: Record<string, unknown>) => Partial<ControlRequest>): void => {
    let c = program.command(`${name} <resource>`).description(desc);
    if (extra) c = extra(c);
    c.action(async (resource: string, o: Record<string, unknown>) => {
      await call(g(), { cmd: name, resource, ...(build ? build(o) : {}) });
    });
  };

  simple('up', 'attach the backing disk and connect to the peer');
  simple('down', 'disconnect and detach');
  simple('attach', 'attach the backing disk and its metadata');
  simple('detach', 'detach the backing disk');
  simple('connect', 'connect to the peer', (c) => c.option('--discard-my-data', 'this node is the split-brain victim: discard its changes'), (o) => ({ discardMyData: !!o.discardMyData }));
  simple('disconnect', 'drop the connection and go StandAlone');
  simple('primary', 'promote to Primary', (c) => c.option('--force', 'promote even without UpToDate data (starts a full sync to the peer)'), (o) => ({ force: !!o.force }));
  simple('secondary', 'demote to Secondary');
  simple('invalidate', 'discard local data: full resync from the peer');
  simple('invalidate-remote', "discard the peer's data: full resync to the peer");
  simple('verify', 'online verify: compare checksums with the peer block by block');
  simple(
    'resize',
    'after both backing disks grew: re-read their sizes, move the metadata to the new end, resync the new area',
    (c) => c
      .option('--size <size>', 'the new size instead of the largest both nodes hold (k/M/G/T, plain number = 512-byte sectors); may shrink')
      .option('--assume-clean', 'the new area is known to be identical on both nodes (e.g. zeroes): no resync'),
    (o) => {
      const out: Partial<ControlRequest> = { assumeClean: !!o.assumeClean };
      if (o.size !== undefined) {
        const n = parseResizeSize(o.size as string);
        if (n === null) throw new CliFailure(`invalid size '${String(o.size)}' (a number with an optional k, M, G or T)`, 1);
        out.size = n;
      }
      return out;
    },
  );
  simple('pause-sync', 'pause a running resync');
  simple('resume-sync', 'resume a paused resync');
  simple('new-current-uuid', 'start a new data generation', (c) => c.option('--clear-bitmap', 'skip the initial sync of a just-created pair'), (o) => ({ clearBitmap: !!o.clearBitmap }));
  simple('adjust', 'apply config file changes to the running resource');
  simple('outdate', "mark this node's data Outdated (what a fence-peer handler asks the peer for); refused while connected");
  simple('resume-io', 'resume IO suspended by fencing resource-and-stonith (after a fence-peer handler that failed)');
  // drbdsetup's wait options override the startup section; --timeout overrides all of them
  const waitOptions = (c: Command): Command => c
    .option('--timeout <sec>', 'give up after this many seconds (exit 5); 0 waits forever')
    .option('--wfc-timeout <sec>', "instead of startup { wfc-timeout; }")
    .option('--degr-wfc-timeout <sec>', 'instead of degr-wfc-timeout (used when this node was a degraded Primary)')
    .option('--outdated-wfc-timeout <sec>', 'instead of outdated-wfc-timeout (used when the peer is Outdated)')
    .option('--wait-after-sb', 'keep waiting while the resource refuses to connect (StandAlone after a split brain)');
  const waitRequest = (o: Record<string, unknown>): Partial<ControlRequest> => {
    const sec = (v: unknown): number | undefined => (v === undefined ? undefined : parseTimeout(v as string)! / 1000);
    const wait: NonNullable<ControlRequest['wait']> = {};
    const set = <K extends keyof typeof wait>(k: K, v: (typeof wait)[K] | undefined) => { if (v !== undefined) wait[k] = v; };
    set('wfcSec', sec(o.wfcTimeout));
    set('degrWfcSec', sec(o.degrWfcTimeout));
    set('outdatedWfcSec', sec(o.outdatedWfcTimeout));
    if (o.waitAfterSb) wait.waitAfterSb = true;
    return { timeoutMs: parseTimeout(o.timeout as string | undefined), wait };
  };
  simple('wait-connect', 'wait until connected (startup { wfc-timeout … } as in DRBD)', waitOptions, waitRequest);
  simple('wait-sync', 'wait until connected and no resync is running', waitOptions, waitRequest);

  // Test-only fault injection; tandemd refuses it unless started with TANDEM_TEST_FAULTS=1.
  const int = (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new CliFailure(`invalid number '${v}'`, 1);
    return n;
  };
  program.command('inject-fault <resource>', { hidden: true })
    .description('test only: make I/O of the backing disk fail in a byte range')
    .requiredOption('--offset <bytes>', 'start of the failing range')
    .requiredOption('--length <bytes>', 'length of the failing range')
    .option('--op <op>', 'read, write, any or flush', 'any')
    .option('--errno <name>', 'errno to fail with', 'EIO')
    .action(async (resource: string, o: { offset: string; length: string; op: string; errno: string }) => {
      if (!['read', 'write', 'any', 'flush'].includes(o.op)) throw new CliFailure(`--op must be read, write, any or flush, not '${o.op}'`, 1);
      const op = o.op as 'read' | 'write' | 'any' | 'flush';
      await call(g(), { cmd: 'inject-fault', resource, faults: [{ offset: int(o.offset), length: int(o.length), op, errno: o.errno }] });
    });
  program.command('clear-faults <resource>', { hidden: true }).description('test only: remove injected I/O errors')
    .action(async (resource: string) => {
      await call(g(), { cmd: 'clear-faults', resource });
    });

  program.command('events [resource]').description("state changes as drbdsetup events2 prints them ('exists' lines, then 'change' lines)")
    .option('--now', 'print the current state and exit')
    .option('--timestamps', 'prefix each line with the time')
    .action(async (resource: string | undefined, o: { now?: boolean; timestamps?: boolean }) => {
      try {
        await (await import('./events-command.js')).followEvents({ runDir: g().runDir, resource: resource ?? 'all', now: !!o.now, timestamps: !!o.timestamps });
      } catch (err) {
        throw new CliFailure((err as Error).message, 20);
      }
    });

  const show = (name: string, desc: string, pick: (s: ResourceStatus) => string): void => {
    program.command(`${name} <resource>`).description(desc).action(async (resource: string) => {
      const data = (await call(g(), { cmd: 'status', resource })) as ResourceStatus | Record<string, ResourceStatus>;
      const list = resource === 'all' ? Object.values(data as Record<string, ResourceStatus>) : [data as ResourceStatus];
      for (const s of list) process.stdout.write(pick(s) + '\n');
    });
  };
  show('role', 'print the roles (local/peer)', (s) => `${s.role}/${s.peerRole}`);
  show('cstate', 'print the connection state', (s) => s.cs);
  show('dstate', 'print the disk states (local/peer)', (s) => `${s.disk}/${s.peerDisk}`);

  program.command('status [resource]').description('show the state of resources').option('--json', 'machine-readable output')
    .action(async (resource: string | undefined, o: { json?: boolean }) => {
      const res = resource ?? 'all';
      const data = (await call(g(), { cmd: 'status', resource: res })) as ResourceStatus | Record<string, ResourceStatus>;
      const list = res === 'all' ? Object.values(data as Record<string, ResourceStatus>) : [data as ResourceStatus];
      process.stdout.write(o.json ? JSON.stringify(list, null, 2) + '\n' : renderStatusText(list));
    });

  program.command('dump [resource]').description('parse the config and print it normalised').action(async (resource: string | undefined) => {
    process.stdout.write((await offline()).runDump(g().config, resource));
  });
  program.command('create-md <resource>').description('write fresh metadata on the backing disk (no daemon needed)')
    .option('--force', 'overwrite existing metadata or a filesystem signature')
    .action(async (resource: string, o: { force?: boolean }) => {
      process.stdout.write(await (await offline()).runCreateMd(g().config, g().node, resource, !!o.force));
    });
  program.command('dump-md <resource>').description('print the metadata of the backing disk (no daemon needed)')
    .action(async (resource: string) => {
      process.stdout.write(await (await offline()).runDumpMd(g().config, g().node, resource));
    });
  registerOcfCommands(program, g);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(normaliseLegacyArgs(process.argv));
  } catch (err) {
    const e = err as Error & { exitCode?: number; code?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
    if (e.code?.startsWith('commander.')) process.exit(1);
    const file = (e as { file?: string }).file;
    process.stderr.write(`${e.message}\n`);
    process.exit(e.exitCode ?? (file ? 10 : 20));
  }
}

void main();
