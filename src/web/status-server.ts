// tandem-hb's status page over HTTP (ha.cf `tandem_web ADDR`): the page and its scripts from the
// package's web/ folder, the page model as JSON (/api/state) and as a live stream of server-sent
// events (/events, through better-sse: a `state` event with the whole model whenever it changes),
// and, only with `tandem_web_auth`, POST /api/action behind HTTP Basic authentication. When
// ha.cf's tandem_metrics names the same address, /metrics is served here too.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChannel, createSession } from 'better-sse';
import type client from 'prom-client';
import type { ListenAddress } from '../net/metrics-server.js';
import { parseAction, requestCheck, type WebAction } from './actions.js';
import { checkBasicAuth, type WebUsers } from './htpasswd.js';
import type { PageModel } from './page-model.js';

export interface ActionResult {
  ok: boolean;
  message: string;
  log?: string[];
}

export interface StatusServerOptions {
  address: ListenAddress;
  model: () => PageModel;
  /** null: read-only page, POST /api/action answers 403 */
  users: WebUsers | null;
  act: (a: WebAction, user: string) => Promise<ActionResult>;
  metrics?: client.Registry;
  /** where index.html and its scripts are (default: the package's web/) */
  assetsDir?: string;
}

const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/assets/status.css': 'status.css',
  '/assets/render.js': 'render.js',
  '/assets/app.js': 'app.js',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** dist/src/web or src/web: the package root holds web/index.html */
export function defaultAssetsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'web', 'index.html'))) return path.join(dir, 'web');
    dir = path.dirname(dir);
  }
  throw new Error('the status page files (web/index.html) are missing from the installation');
}

const MAX_BODY = 4096;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) { reject(new Error('request body too large')); req.destroy(); return; }
      parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

export class StatusServer {
  private server: http.Server | null = null;
  private readonly channel = createChannel();
  private lastJson = '';
  private pending = false;
  private readonly assetsDir: string;

  constructor(private readonly o: StatusServerOptions) {
    this.assetsDir = o.assetsDir ?? defaultAssetsDir();
  }

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.route(req, res).catch((err: Error) => {
        if (!res.headersSent) this.text(res, 500, `${err.message}\n`);
        else res.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.address.port, this.o.address.host, () => resolve());
    });
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  get sessions(): number {
    return this.channel.sessionCount;
  }

  /** Something may have changed: push the model to every open page, once per turn of the event loop. */
  publish(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      const json = JSON.stringify(this.o.model());
      if (json === this.lastJson) return;
      this.lastJson = json;
      this.channel.broadcast(JSON.parse(json) as unknown, 'state');
    });
  }

  /**
   * A sign of life for open pages: a connection to a node that vanished (cable pulled) stays open
   * without an error for minutes, so the page counts the silence instead (app.js).
   */
  tick(): void {
    this.channel.broadcast({ at: Date.now() }, 'tick');
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const session of this.channel.activeSessions) this.channel.deregister(session);
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private text(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body)}\n`);
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0]!;
    if (url === '/api/action') return this.action(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.text(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    if (url === '/events') {
      const session = await createSession(req, res, { headers: SECURITY_HEADERS, retry: 1000, keepAlive: null });
      this.channel.register(session);
      session.push(this.o.model(), 'state');
      return;
    }
    if (url === '/api/state') return this.json(res, 200, this.o.model());
    if (url === '/metrics' && this.o.metrics) {
      const text = await this.o.metrics.metrics();
      res.writeHead(200, { 'content-type': this.o.metrics.contentType }).end(text);
      return;
    }
    const file = ASSETS[url];
    if (!file) return this.text(res, 404, `not found: ${url}\n`);
    const body = await fs.promises.readFile(path.join(this.assetsDir, file));
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(req.method === 'HEAD' ? undefined : body);
  }

  private async action(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.o.users) return this.json(res, 403, { ok: false, message: 'actions are off: the page is read-only (ha.cf tandem_web_auth enables them)' });
    const refused = requestCheck({
      method: req.method, contentType: req.headers['content-type'], marker: req.headers['x-tandem-action'] as string | undefined,
      origin: req.headers.origin, host: req.headers.host,
    });
    if (refused) return this.json(res, req.method === 'POST' ? 400 : 405, { ok: false, message: refused });
    if (!req.headers.authorization) {
      return this.json(res, 401, { ok: false, message: 'log in first' }, { 'www-authenticate': 'Basic realm="tandem-hb", charset="UTF-8"' });
    }
    // the page sends credentials itself: a 403, not a 401 challenge, keeps the browser's own prompt away
    const user = await checkBasicAuth(this.o.users, req.headers.authorization);
    if (!user) return this.json(res, 403, { ok: false, message: 'wrong user or password' });
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (e) {
      return this.json(res, 400, { ok: false, message: `bad request body: ${(e as Error).message}` });
    }
    const a = parseAction(body, this.o.model().actions.resources);
    if (!a.ok) return this.json(res, 400, { ok: false, message: a.message });
    const r = await this.o.act(a.value, user);
    this.publish();
    return this.json(res, r.ok ? 200 : 409, r);
  }
}
