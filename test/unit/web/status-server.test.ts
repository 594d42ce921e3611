// The status page's HTTP side in-process: the page and its scripts, the model as JSON and as
// server-sent events, the htpasswd file, and POST /api/action: refused while read-only, without
// the CSRF header, with a wrong password; run with the right one.
import { afterEach, describe, expect, it } from 'vitest';
import bcrypt from 'bcryptjs';
import { checkBasicAuth, parseHtpasswd, type WebUsers } from '../../../src/web/htpasswd.js';
import { StatusServer } from '../../../src/web/status-server.js';
import type { WebAction } from '../../../src/web/actions.js';
import type { PageModel } from '../../../src/web/page-model.js';

const HASH = bcrypt.hashSync('s3cret', 4);

describe('htpasswd', () => {
  it('reads bcrypt users and refuses other hashes, bad lines and a readable file with file:line:col', () => {
    const r = parseHtpasswd(`# made with htpasswd -B\nadmin:${HASH}\n`, { file: '/etc/tandem/web-users', mode: 0o100600 });
    expect(r.ok && [...r.value.hashes.keys()]).toEqual(['admin']);
    const bad = parseHtpasswd(`alice:$apr1$abc$def\nbob\nadmin:${HASH}\nadmin:${HASH}\n`, { file: 'f', mode: 0o100644 });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.errors.map((e) => e.message)).toEqual([
        'f: Bad permissions on password file [f], 600 recommended (mode is 0644; it must not be group- or world-readable: chmod 600 f)',
        "f:1:7: user 'alice': an Apache MD5 ($apr1$) hash; only bcrypt is accepted (htpasswd -B)",
        'f:2:1: expected USER:HASH (make the file with htpasswd -B)',
        "f:4:1: user 'admin' is listed twice",
      ]);
    }
    const empty = parseHtpasswd('# nobody\n', { file: 'f', mode: 0o600 });
    expect(!empty.ok && empty.errors[0]!.message).toBe('f: no users: add one with htpasswd -B FILE USER');
  });

  it('checks Basic credentials', async () => {
    const users: WebUsers = { file: 'f', hashes: new Map([['admin', HASH]]) };
    const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    expect(await checkBasicAuth(users, basic('admin:s3cret'))).toBe('admin');
    expect(await checkBasicAuth(users, basic('admin:wrong'))).toBeNull();
    expect(await checkBasicAuth(users, basic('eve:s3cret'))).toBeNull();
    expect(await checkBasicAuth(users, 'Bearer x')).toBeNull();
    expect(await checkBasicAuth(users, undefined)).toBeNull();
  });
});

const MODEL: PageModel = {
  node: 'node2', peer: 'node1', summary: '2 of 2 nodes online', tone: 'ok', notices: [], nodes: [], groups: [],
  tandemd: { error: null, resources: [] }, events: [], actions: { enabled: true, resources: ['r0'] },
};

let server: StatusServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function start(users: WebUsers | null, acted: WebAction[] = [], model: () => PageModel = () => MODEL): Promise<string> {
  server = new StatusServer({
    address: { host: '127.0.0.1', port: 0 }, users, model,
    act: async (a) => { acted.push(a); return { ok: true, message: 'done' }; },
  });
  await server.listen();
  return `http://127.0.0.1:${server.port}`;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/api/action`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tandem-action': '1', ...headers }, body: JSON.stringify(body) });

describe('StatusServer', () => {
  it('serves the page, its scripts with a strict CSP, the model, and nothing else', async () => {
    const url = await start(null);
    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="/assets/app.js"></script>');
    expect((await fetch(`${url}/assets/render.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await (await fetch(`${url}/api/state`)).json()).toEqual(MODEL);
    expect((await fetch(`${url}/assets/../package.json`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
  });

  it('streams the model as server-sent events and pushes a change', async () => {
    let model = MODEL;
    const url = await start(null, [], () => model);
    const ac = new AbortController();
    const res = await fetch(`${url}/events`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const nextState = async (): Promise<PageModel> => {
      for (;;) {
        // one event: field lines up to a blank line (better-sse writes `event:state`, `id:…`, `data:…`)
        const end = text.indexOf('\n\n');
        if (end >= 0) {
          const fields = Object.fromEntries(text.slice(0, end).split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]));
          text = text.slice(end + 2);
          if (fields.event === 'state') return JSON.parse(fields.data!) as PageModel;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += new TextDecoder().decode(value);
      }
    };
    expect((await nextState()).summary).toBe('2 of 2 nodes online');
    model = { ...MODEL, summary: '1 of 2 nodes online' };
    server!.publish();
    expect((await nextState()).summary).toBe('1 of 2 nodes online');
    ac.abort();
  });

  it('refuses actions while read-only', async () => {
    const acted: WebAction[] = [];
    const url = await start(null, acted);
    const r = await post(url, { action: 'standby' });
    expect(r.status).toBe(403);
    expect((await r.json()).message).toMatch(/read-only/);
    expect(acted).toEqual([]);
  });

  it('runs an action only with the header, a known user and the right password', async () => {
    const acted: WebAction[] = [];
    const url = await start({ file: 'f', hashes: new Map([['admin', HASH]]) }, acted);
    const auth = (s: string) => ({ authorization: `Basic ${Buffer.from(s).toString('base64')}` });
    const noAuth = await post(url, { action: 'standby' });
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get('www-authenticate')).toMatch(/^Basic realm="tandem-hb"/);
    expect((await post(url, { action: 'standby' }, auth('admin:nope'))).status).toBe(403);
    const noMarker = await fetch(`${url}/api/action`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth('admin:s3cret') }, body: '{"action":"standby"}' });
    expect(noMarker.status).toBe(400);
    const form = await fetch(`${url}/api/action`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-tandem-action': '1', ...auth('admin:s3cret') }, body: 'action=standby' });
    expect(form.status).toBe(400);
    const unknown = await post(url, { action: 'primary', resource: 'r7' }, auth('admin:s3cret'));
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).message).toBe("'r7' is not a resource of this node (known: r0)");
    expect(acted).toEqual([]);
    const good = await post(url, { action: 'secondary', resource: 'r0' }, auth('admin:s3cret'));
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ ok: true, message: 'done' });
    expect(acted).toEqual([{ action: 'secondary', resource: 'r0' }]);
  });
});
