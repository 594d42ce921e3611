// One JSON request and one JSON response per line over a unix socket: the transport shared by
// tandemadm ↔ tandemd and tandem-hb ↔ its daemon. The socket file's permissions are the access
// control (0600: root-only by default).
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';

/** The daemon behind a socket path is not listening (no socket file, or nobody accepts). */
export class DaemonNotRunningError extends Error {}

/** The answer sent when a line is not JSON; the connection is closed after it. */
export type MalformedAnswer<Res> = () => Res;

export function serveJsonLines<Req, Res>(
  socketPath: string,
  handler: (req: Req) => Promise<Res>,
  onError: (err: Error) => void,
  answers: { malformed: MalformedAnswer<Res>; failed: (err: Error) => Res },
): Promise<net.Server> {
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
        let req: Req;
        try {
          req = JSON.parse(line) as Req;
        } catch {
          sock.end(JSON.stringify(answers.malformed()) + '\n');
          return;
        }
        Promise.resolve()
          .then(() => handler(req))
          .catch((err: Error) => answers.failed(err))
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

/** daemonName is used in messages: "tandemd is not running (no control socket at …)". */
export function sendJsonLine<Req, Res>(socketPath: string, req: Req, daemonName: string, timeoutMs?: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`${daemonName} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    const done = (): void => { if (timer) clearTimeout(timer); };
    sock.setEncoding('utf8');
    sock.on('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new DaemonNotRunningError(`${daemonName} is not running (no control socket at ${socketPath})`));
      } else reject(err);
    });
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        done();
        sock.end();
        try {
          resolve(JSON.parse(buf.slice(0, nl)) as Res);
        } catch {
          reject(new Error(`malformed response from ${daemonName}`));
        }
      }
    });
    sock.on('end', () => {
      done();
      if (buf.indexOf('\n') < 0) reject(new Error(`${daemonName} closed the control connection without answering`));
    });
  });
}
