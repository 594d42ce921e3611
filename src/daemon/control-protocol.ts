// tandemadm ↔ tandemd: one JSON request and one JSON response per line over a unix socket
// at <run-dir>/tandemd.sock (transport: json-lines-socket.ts).
import type net from 'node:net';
import path from 'node:path';
import { DaemonNotRunningError, sendJsonLine, serveJsonLines } from './json-lines-socket.js';

export type ControlCommand =
  | 'up' | 'down' | 'attach' | 'detach' | 'connect' | 'disconnect'
  | 'primary' | 'secondary' | 'invalidate' | 'invalidate-remote' | 'verify' | 'resize'
  | 'pause-sync' | 'resume-sync' | 'new-current-uuid' | 'adjust' | 'outdate' | 'resume-io'
  | 'wait-connect' | 'wait-sync' | 'status' | 'ping'
  // ocf:tandem:tandem's questions, answered as shell assignments (src/ocf/status-lines.ts)
  | 'ocf-status' | 'ocf-promote'
  // test only: refused unless tandemd runs with TANDEM_TEST_FAULTS=1
  | 'inject-fault' | 'clear-faults';

export interface ControlRequest {
  cmd: ControlCommand;
  /** resource name, or 'all' */
  resource?: string;
  force?: boolean;
  discardMyData?: boolean;
  clearBitmap?: boolean;
  /** resize: --size in bytes, --assume-clean */
  size?: number;
  assumeClean?: boolean;
  timeoutMs?: number;
  /** ocf-status / ocf-promote: the agent's adjust_master_score (four scores) */
  scores?: string;
  /** wait-connect / wait-sync: drbdsetup's --wfc-timeout … --wait-after-sb, over the config's startup section */
  wait?: Partial<{ wfcSec: number; degrWfcSec: number; outdatedWfcSec: number; waitAfterSb: boolean }>;
  /** inject-fault: the I/O errors to arm on the backing disk */
  faults?: { offset: number; length: number; op: 'read' | 'write' | 'any' | 'flush'; errno?: string }[];
}

export interface ControlResponse {
  ok: boolean;
  /** one-line reason on failure; informational text on success */
  message?: string;
  /** drbdsetup-like exit code on failure (11 state change, 17 no UpToDate disk, 5 timeout, 10 config) */
  exitCode?: number;
  data?: unknown;
}

export function controlSocketPath(runDir: string): string {
  return path.join(runDir, 'tandemd.sock');
}

export type ControlHandler = (req: ControlRequest) => Promise<ControlResponse>;

export { DaemonNotRunningError };

export function serveControl(socketPath: string, handler: ControlHandler, onError: (err: Error) => void): Promise<net.Server> {
  return serveJsonLines<ControlRequest, ControlResponse>(socketPath, handler, onError, {
    malformed: () => ({ ok: false, message: 'malformed control request', exitCode: 20 }),
    failed: (err) => ({ ok: false, message: err.message, exitCode: 20 }),
  });
}

export function sendControl(socketPath: string, req: ControlRequest): Promise<ControlResponse> {
  return sendJsonLine<ControlRequest, ControlResponse>(socketPath, req, 'tandemd');
}
