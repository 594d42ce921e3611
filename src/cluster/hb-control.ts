// tandem-hb CLI ↔ daemon: newline JSON over <run-dir>/tandem-hb.sock (json-lines-socket.ts).
import path from 'node:path';
import { sendJsonLine } from '../daemon/json-lines-socket.js';
import type { Scope } from './controller.js';

export type HbRequest =
  | { cmd: 'status' }
  | { cmd: 'standby'; scope: Scope }
  | { cmd: 'takeover'; scope: Scope }
  | { cmd: 'cleanup'; group: string }
  /** reread ha.cf, authkeys and haresources (also SIGHUP) */
  | { cmd: 'reload' }
  | { cmd: 'ping' };

export interface HbResponse {
  ok: boolean;
  /** one-line reason on failure */
  message?: string;
  exitCode?: number;
  /** what the daemon logged while handling the request (standby/takeover refusals and plans) */
  log?: string[];
  data?: unknown;
}

export const SCOPES: readonly Scope[] = ['all', 'local', 'foreign', 'failback'];

export function hbSocketPath(runDir: string): string {
  return path.join(runDir, 'tandem-hb.sock');
}

export function hbPidPath(runDir: string): string {
  return path.join(runDir, 'tandem-hb.pid');
}

export function sendHbRequest(runDir: string, req: HbRequest, timeoutMs = 10_000): Promise<HbResponse> {
  return sendJsonLine<HbRequest, HbResponse>(hbSocketPath(runDir), req, 'tandem-hb', timeoutMs);
}
