// tandemadm ↔ tandemd: one JSON request and one JSON response per line over a unix socket
// at <run-dir>/tandemd.sock. The socket file's permissions are the access control (root-only by default).
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';

export type ControlCommand =
  | 'up' | 'down' | 'attach' | 'detach' | 'connect' | 'disconnect'
  | 'primary' | 'secondary' | 'invalidate' | 'invalidate-remote' | 'verify'
  | 'pause-sync' | 'resume-sync' | 'new-current-uuid' | 'adjust' | 'outdate'
  | 'wait-connect' | 'wait-sync' | 'status' | 'ping';

export interface ControlRequest {
  cmd: ControlCommand;
  /** resource name, or 'all' */
  resource?: string;
  force?: boolean;
  discardMyData?: boolean;
  clearBitmap?: boolean;
  timeoutMs?: number;
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

export function serveControl(socketPath: string, handler: ControlHandler, onError: (err: Error) => void): Promise<net.Server> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  try {
    if (fs.lstatSync(socketPath).isSocket()) fs.unlinkSync(socketPath);
  } catch {
    /* absent */
  }
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 1 << 20) {
        sock.destroy();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let req: ControlRequest;
        try {
          req = JSON.parse(line) as ControlRequest;
        } catch {
          sock.end(JSON.stringify({ ok: false, message: 'malformed control request', exitCode: 20 }) + '\n');
          return;
        }
        handler(req)
          .catch((err: Error) => ({ ok: false, message: err.message, exitCode: 20 }) as ControlResponse)
          .then((res) => {
            if (!sock.destroyed) sock.write(JSON.stringify(res) + '\n');
          });
      }
    });
  });
  server.on('error', onError);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      fs.chmodSync(socketPath, 0o600);
      resolve(server);
    });
  });
}

export class DaemonNotRunningError extends Error {}

export function sendControl(socketPath: string, req: ControlRequest): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new DaemonNotRunningError(`tandemd is not running (no control socket at ${socketPath})`));
      } else reject(err);
    });
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        sock.end();
        try {
          resolve(JSON.parse(buf.slice(0, nl)) as ControlResponse);
        } catch {
          reject(new Error('malformed response from tandemd'));
        }
      }
    });
    sock.on('end', () => {
      if (buf.indexOf('\n') < 0) reject(new Error('tandemd closed the control connection without answering'));
    });
  });
}
