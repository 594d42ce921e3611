// ha.cf: heartbeat's main configuration, read the way heartbeat 3.0.6 reads it (config.c
// parse_config/init_config): one directive per line, `#` starts a comment anywhere, values are
// blank-separated, order matters (udpport applies to the media declared after it), and the
// defaults and cross-checks of init_config are applied at the end.

import { SYSLOG_FACILITIES } from '../../logging/syslog.js';
import { HaConfigError, type HaDiagnostic, type HaParseResult, warning } from './errors.js';
import { tokenizeLines, type Token } from './tokens.js';
import { isHostOrIp, parseHbBoolean, parseHbTime, parseIpv4, parsePort } from './values.js';

export type AutoFailback = 'on' | 'off' | 'legacy';

export type HbMedium =
  | { kind: 'bcast'; iface: string; port: number; line: number }
  | { kind: 'ucast'; iface: string; peer: string; port: number; line: number }
  | { kind: 'mcast'; iface: string; group: string; port: number; ttl: number; loop: 0 | 1; line: number };

export interface PingGroup { name: string; hosts: string[] }
/** `respawn USER /path [args]`: line and col of the command, for the checks at start (ha-load.ts) */
export interface Respawn { user: string; command: string[]; line: number; col: number }
/** `stonith_host <from|*> <type> <params…>`; Tandem runs `type` as an external fencing command. */
export interface StonithHost { from: string; type: string; params: string[] }

export interface HaLogging {
  logfile: string | null;
  debugfile: string | null;
  facility: string | null;
  /** heartbeat's rule: no logfile, debugfile or facility means use_logd yes */
  useLogd: boolean;
}

/**
 * A Tandem extension directive (`tandem_*`), kept raw for the part of Tandem that owns it
 * (src/cluster/ha-extensions.ts validates them); heartbeat itself has no such names.
 */
export interface HaExtension { name: string; args: Token[]; at: Token }

export interface HaCf {
  file: string;
  keepaliveMs: number;
  deadtimeMs: number;
  warntimeMs: number;
  initdeadMs: number;
  deadpingMs: number;
  udpport: number;
  media: HbMedium[];
  /** lower-cased like heartbeat (g_strdown), in file order, without duplicates */
  nodes: string[];
  autoFailback: AutoFailback;
  ping: string[];
  pingGroups: PingGroup[];
  respawn: Respawn[];
  stonithHosts: StonithHost[];
  logging: HaLogging;
  debug: number;
  /** `tandem_*` lines in file order */
  extensions: HaExtension[];
}

export interface HaCfOptions { file?: string }

/** Stable name of a medium, used as the link name in membership and logs. */
export function mediumName(m: HbMedium): string {
  switch (m.kind) {
    case 'bcast': return `bcast ${m.iface}`;
    case 'ucast': return `ucast ${m.iface} ${m.peer}`;
    case 'mcast': return `mcast ${m.iface} ${m.group}`;
  }
}

const DEFAULT_UDPPORT = 694;


/** Real heartbeat directives that Tandem accepts and ignores (tuning of heartbeat internals). */
const IGNORED = new Map<string, string>([
  ['hopfudge', 'serial rings are not supported'],
  ['apiauth', 'Tandem has no heartbeat client API'],
  ['compression', 'heartbeat packets are small and never compressed'],
  ['compression_threshold', 'heartbeat packets are small and never compressed'],
  ['traditional_compression', 'heartbeat packets are small and never compressed'],
  ['coredumps', 'not applicable'],
  ['coreroot', 'not applicable'],
  ['watchdog', 'Tandem does not drive a watchdog device'],
  ['realtime', 'not applicable'],
  ['rtprio', 'not applicable'],
  ['msgfmt', 'Tandem always uses the classic format'],
  ['hbgenmethod', 'the generation is always kept in a file'],
  ['uuidfrom', 'nodes are known by name'],
  ['conn_logd_time', 'Tandem logs itself'],
  ['log_badpack', 'bad packets are always logged'],
  ['max_rexmit_delay', 'Tandem does not retransmit heartbeats'],
  ['baud', 'serial media are not supported'],
  ['memreserve', 'not applicable'],
  ['register_to_apphbd', 'not applicable'],
  ['env', 'not applicable'],
  ['cluster', 'not applicable'],
  ['failfast', 'not supported'],
]);
const UNSUPPORTED_MEDIA = new Set(['serial', 'mcast6', 'ucast6', 'ping6', 'openais']);

const TIME_DIRECTIVES = ['keepalive', 'deadtime', 'warntime', 'initdead', 'deadping'] as const;
type TimeDirective = (typeof TIME_DIRECTIVES)[number];

interface Seen { line: number; col: number }

export function parseHaCf(text: string, options: HaCfOptions = {}): HaParseResult<HaCf> {
  const file = options.file ?? 'ha.cf';
  const errors: HaConfigError[] = [];
  const warnings: HaDiagnostic[] = [];
  const err = (t: Token | Seen, reason: string) => errors.push(new HaConfigError(file, t.line, t.col, reason));
  const warn = (t: Token | Seen, reason: string) => warnings.push(warning(file, t.line, t.col, reason));

  const times: Partial<Record<TimeDirective, { ms: number; at: Seen }>> = {};
  let udpport: number | null = null;
  const media: HbMedium[] = [];
  const nodes: string[] = [];
  let autoFailback: AutoFailback | null = null;
  const ping: string[] = [];
  const pingGroups: PingGroup[] = [];
  const respawn: Respawn[] = [];
  const stonithHosts: StonithHost[] = [];
  let logfile: string | null = null;
  let debugfile: string | null = null;
  let facility: string | null = null;
  let useLogd: boolean | null = null;
  let debug = 0;
  let unsupportedMedia = 0;
  let autojoinRefused = false;
  const extensions: HaExtension[] = [];

  const currentPort = (): number => udpport ?? DEFAULT_UDPPORT;

  for (const { tokens } of tokenizeLines(text, 'anywhere')) {
    const [d, ...args] = tokens;
    if (d === undefined) continue;
    const name = d.text;
    const one = (what: string): Token | null => {
      if (args.length === 0) { err(d, `${name} needs ${what}`); return null; }
      if (args.length > 1) { err(args[1]!, `${name} takes one value (${what}); unexpected '${args[1]!.text}'`); return null; }
      return args[0]!;
    };

    if ((TIME_DIRECTIVES as readonly string[]).includes(name)) {
      const v = one('a time value');
      if (!v) continue;
      const t = parseHbTime(v.text);
      if (!t.ok) { err(v, `${name}: ${t.reason}`); continue; }
      if (name === 'keepalive' || name === 'warntime') {
        if (t.ms <= 0) { err(v, `${name} must be more than 0`); continue; }
      }
      times[name as TimeDirective] = { ms: t.ms, at: d };
      continue;
    }

    switch (name) {
      case 'node':
        if (args.length === 0) { err(d, 'node needs at least one node name'); break; }
        for (const a of args) {
          const n = a.text.toLowerCase();
          if (nodes.includes(n)) warn(a, `node '${a.text}' is listed twice`);
          else nodes.push(n);
        }
        break;
      case 'udpport': {
        const v = one('a UDP port number');
        if (!v) break;
        const p = parsePort(v.text);
        if (p === null) { err(v, `udpport: '${v.text}' is not a port number (1-65535)`); break; }
        if (p !== currentPort() && media.some((m) => m.kind !== 'mcast')) {
          warn(d, 'udpport comes after bcast/ucast lines; like heartbeat, it applies only to the media declared after it');
        }
        udpport = p;
        break;
      }
      case 'udp': // heartbeat's DIRTYALIASKLUDGE: 'udp' is an old spelling of 'bcast'
      case 'bcast':
        if (name === 'udp') warn(d, "directive 'udp' is an old spelling of 'bcast'");
        if (args.length === 0) { err(d, `${name} needs at least one interface`); break; }
        for (const a of args) media.push({ kind: 'bcast', iface: a.text, port: currentPort(), line: d.line });
        break;
      case 'ucast': {
        if (args.length !== 2) { err(args[2] ?? d, 'ucast needs an interface and a peer address: ucast IFACE PEER'); break; }
        const [iface, peer] = args as [Token, Token];
        if (!isHostOrIp(peer.text)) { err(peer, `ucast: '${peer.text}' is not an IPv4 address or host name`); break; }
        media.push({ kind: 'ucast', iface: iface.text, peer: peer.text, port: currentPort(), line: d.line });
        break;
      }
      case 'mcast': {
        if (args.length !== 5) {
          err(args[5] ?? d, 'mcast needs five values: mcast IFACE GROUP PORT TTL LOOP (e.g. mcast eth0 225.0.0.1 694 1 0)');
          break;
        }
        const [iface, group, port, ttl, loop] = args as [Token, Token, Token, Token, Token];
        const g = parseIpv4(group.text);
        if (!g || g[0]! < 224 || g[0]! > 239) { err(group, `mcast: '${group.text}' is not a multicast IPv4 address (224.0.0.0-239.255.255.255)`); break; }
        const p = parsePort(port.text);
        if (p === null) { err(port, `mcast: '${port.text}' is not a port number (1-65535)`); break; }
        const tt = /^\d{1,3}$/.test(ttl.text) ? Number(ttl.text) : -1;
        if (tt < 1 || tt > 255) { err(ttl, `mcast: ttl '${ttl.text}' must be 1-255`); break; }
        if (loop.text !== '0' && loop.text !== '1') { err(loop, `mcast: loop '${loop.text}' must be 0 or 1`); break; }
        media.push({ kind: 'mcast', iface: iface.text, group: group.text, port: p, ttl: tt, loop: loop.text === '1' ? 1 : 0, line: d.line });
        break;
      }
      case 'auto_failback': {
        const v = one('on, off or legacy');
        if (!v) break;
        const b = parseHbBoolean(v.text);
        if (b !== null) autoFailback = b ? 'on' : 'off';
        else if (v.text.toLowerCase() === 'legacy') autoFailback = 'legacy';
        else err(v, `auto_failback: '${v.text}' is not on, off or legacy`);
        break;
      }
      case 'nice_failback': {
        // Obsolete. heartbeat's set_nice_failback branches on the *current* mode, not on the value:
        // after auto_failback on|off it becomes 'off', otherwise 'legacy'.
        const v = one('on or off');
        if (!v) break;
        if (parseHbBoolean(v.text) === null) { err(v, `nice_failback: '${v.text}' is not on or off`); break; }
        const next: AutoFailback = autoFailback === 'on' || autoFailback === 'off' ? 'off' : 'legacy';
        warn(d, `nice_failback is obsolete; use auto_failback on|off|legacy. 'nice_failback ${v.text}' is read as 'auto_failback ${next}', as heartbeat does`);
        autoFailback = next;
        break;
      }
      case 'logfile':
      case 'debugfile': {
        const v = one('a file path');
        if (!v) break;
        if (name === 'logfile') logfile = v.text; else debugfile = v.text;
        break;
      }
      case 'logfacility': {
        const v = one('a syslog facility');
        if (!v) break;
        if (!SYSLOG_FACILITIES.has(v.text)) { err(v, `logfacility: '${v.text}' is not a syslog facility (daemon, local0-local7, …, or none)`); break; }
        facility = v.text === 'none' ? null : v.text;
        break;
      }
      case 'use_logd': {
        const v = one('yes or no');
        if (!v) break;
        const b = parseHbBoolean(v.text);
        if (b === null) { err(v, `use_logd: '${v.text}' is not a boolean (yes/no, on/off, true/false)`); break; }
        useLogd = b;
        break;
      }
      case 'ping':
        if (args.length === 0) { err(d, 'ping needs at least one address'); break; }
        for (const a of args) {
          if (!isHostOrIp(a.text)) err(a, `ping: '${a.text}' is not an IPv4 address or host name`);
          else ping.push(a.text);
        }
        break;
      case 'ping_group': {
        const [gname, ...hosts] = args;
        if (!gname || hosts.length === 0) { err(d, 'ping_group needs a name and at least one address: ping_group NAME ADDR…'); break; }
        const bad = hosts.find((h) => !isHostOrIp(h.text));
        if (bad) { err(bad, `ping_group: '${bad.text}' is not an IPv4 address or host name`); break; }
        pingGroups.push({ name: gname.text, hosts: hosts.map((h) => h.text) });
        break;
      }
      case 'respawn': {
        const [user, cmd, ...rest] = args;
        if (!user || !cmd) { err(d, 'respawn needs a user and a command: respawn USER /path/to/program [args]'); break; }
        // heartbeat's add_client_child_base: the command must be a full path
        if (!cmd.text.startsWith('/')) { err(cmd, `Client child command [${cmd.text}] is not full pathname`); break; }
        respawn.push({ user: user.text, command: [cmd.text, ...rest.map((r) => r.text)], line: cmd.line, col: cmd.col });
        break;
      }
      case 'stonith_host': {
        const [from, type, ...params] = args;
        if (!from || !type) { err(d, 'stonith_host needs: stonith_host FROM|* TYPE [params…]'); break; }
        stonithHosts.push({ from: from.text.toLowerCase(), type: type.text, params: params.map((p) => p.text) });
        break;
      }
      case 'stonith':
        err(d, "the legacy 'stonith TYPE CONFIGFILE' form is not supported by Tandem; use 'stonith_host * TYPE params…' with an external fencing command");
        break;
      case 'crm':
      case 'pacemaker': {
        const v = one('off');
        if (!v) break;
        if (parseHbBoolean(v.text) === false) break; // v1 mode, which is what Tandem implements
        err(v, `'${name} ${v.text}' selects heartbeat's CRM/Pacemaker cluster manager; Tandem supports only haresources (v1) resource management: remove the line or write '${name} off'`);
        break;
      }
      case 'autojoin': {
        const v = one('none');
        if (!v) break;
        const mode = v.text.toLowerCase();
        if (mode === 'none') break;
        if (mode === 'any' || mode === 'other') {
          autojoinRefused = true;
          err(v, `'autojoin ${v.text}' conflicts with haresources (R1) resource management, as in heartbeat; Tandem supports only 'autojoin none': list the nodes with 'node'`);
        } else err(v, `autojoin: '${v.text}' is not none, other or any`);
        break;
      }
      case 'debug': {
        const v = one('a debug level 0-255');
        if (!v) break;
        const n = /^\d{1,3}$/.test(v.text) ? Number(v.text) : -1;
        if (n < 0 || n > 255) { err(v, `debug: '${v.text}' is not a level 0-255`); break; }
        debug = n;
        break;
      }
      default:
        if (name.startsWith('tandem_')) {
          extensions.push({ name, args, at: d });
        } else if (UNSUPPORTED_MEDIA.has(name)) {
          unsupportedMedia++;
          warn(d, `${name} heartbeat media are not supported by Tandem; this line is ignored (use bcast, mcast or ucast)`);
        } else if (IGNORED.has(name)) {
          warn(d, `${name} has no effect in Tandem (${IGNORED.get(name)}); ignored`);
        } else {
          warn(d, `unknown directive '${name}' ignored`);
        }
    }
  }

  // init_config's defaults and cross-checks.
  const eof: Seen = { line: 0, col: 0 };
  const keepaliveMs = times.keepalive?.ms ?? 1000;
  const deadtimeMs = times.deadtime?.ms ?? 30000;
  const warntimeMs = times.warntime?.ms ?? Math.floor(deadtimeMs / 2);
  let initdeadMs: number;
  if (times.initdead) initdeadMs = times.initdead.ms;
  else if (deadtimeMs > 10000) initdeadMs = deadtimeMs;
  else if (deadtimeMs < 6000) initdeadMs = 12000;
  else initdeadMs = 2 * deadtimeMs;
  const deadpingMs = times.deadping?.ms ?? deadtimeMs;

  if (media.length === 0) {
    err(eof, unsupportedMedia > 0
      ? 'No heartbeat media Tandem can use: add a bcast, mcast or ucast line'
      : 'No heartbeat media defined: add a bcast, mcast or ucast line');
  }
  if (nodes.length === 0 && !autojoinRefused) err(eof, "no nodes defined: list the cluster's nodes with 'node NAME' (as `uname -n` prints them)");
  if (deadtimeMs <= 2 * keepaliveMs) {
    err(times.deadtime?.at ?? times.keepalive?.at ?? eof,
      `deadtime ${deadtimeMs}ms is too small compared to keepalive ${keepaliveMs}ms: it must be more than twice keepalive`);
  }
  if (times.warntime && warntimeMs >= deadtimeMs) {
    warn(times.warntime.at, `warntime ${warntimeMs}ms is not less than deadtime ${deadtimeMs}ms: late heartbeats will never be reported before the node is declared dead`);
  }
  if (initdeadMs < deadtimeMs) {
    err(times.initdead?.at ?? eof, `initdead ${initdeadMs}ms is smaller than deadtime ${deadtimeMs}ms`);
  } else if (initdeadMs < 10000) {
    warn(times.initdead?.at ?? times.deadtime?.at ?? eof,
      `initdead ${initdeadMs}ms may be too small: it accounts for slow network start-up and should be >= deadtime and >= 10 seconds`);
  }
  if (times.deadping && deadpingMs <= 2 * keepaliveMs) {
    err(times.deadping.at, `deadping ${deadpingMs}ms is too small compared to keepalive ${keepaliveMs}ms: it must be more than twice keepalive`);
  }
  if (autoFailback === null) {
    warn(eof, "no auto_failback given: heartbeat's default 'legacy' applies (deprecated; 'auto_failback on' is recommended)");
  } else if (autoFailback === 'legacy') {
    warn(eof, "Deprecated 'legacy' auto_failback option selected; please convert to 'auto_failback on' (standby and takeover need on or off)");
  }
  if (logfile === null && debugfile === null && facility === null && useLogd === false) {
    err(eof, 'No log entry found in ha.cf and use_logd is set to off: add logfile, debugfile or logfacility');
  }
  if (errors.length > 0) return { ok: false, errors, warnings };
  return {
    ok: true,
    warnings,
    value: {
      file,
      keepaliveMs,
      deadtimeMs,
      warntimeMs,
      initdeadMs,
      deadpingMs,
      udpport: udpport ?? DEFAULT_UDPPORT,
      media,
      nodes,
      autoFailback: autoFailback ?? 'legacy',
      ping,
      pingGroups,
      respawn,
      stonithHosts,
      logging: { logfile, debugfile, facility, useLogd: useLogd ?? (logfile === null && debugfile === null && facility === null) },
      debug,
      extensions,
    },
  };
}
