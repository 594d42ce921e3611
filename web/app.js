// The status page in the browser: follows /events (server-sent events, the browser's own
// EventSource reconnects by itself) and lays each `state` event out with render.js. Actions, when
// the server has them on, go to POST /api/action with the credentials typed into the page, after
// a confirmation.
import { renderPage } from './render.js';

const $ = (id) => document.getElementById(id);
let model = null;

function setLive(state, text) {
  const el = $('live');
  el.dataset.live = state;
  el.textContent = text;
}

function show(m) {
  model = m;
  document.title = `Tandem ${m.node}: ${m.summary}`;
  document.body.dataset.tone = m.tone;
  $('node-name').textContent = m.node;
  $('summary').textContent = m.summary;
  $('app').innerHTML = renderPage(m);
  $('actions').hidden = !m.actions.enabled;
  setLive('live', `live · updated ${new Date().toLocaleTimeString()}`);
}

// The server sends a `tick` every 2 s. A node that vanished (power, cable) leaves the connection
// open without an error, so silence is what tells: after 6 s the page says so and reconnects.
const SILENCE_MS = 6000;
let heard = Date.now();
let connected = Date.now();
let source = null;

function connect() {
  connected = Date.now();
  source?.close();
  source = new EventSource('/events');
  source.addEventListener('state', (e) => { heard = Date.now(); show(JSON.parse(e.data)); });
  source.addEventListener('tick', () => {
    heard = Date.now();
    if ($('live').dataset.live !== 'live' && model) setLive('live', `live · updated ${new Date().toLocaleTimeString()}`);
  });
  source.addEventListener('error', () => setLive('lost', 'connection to tandem-hb lost: retrying'));
}

setInterval(() => {
  const quiet = Date.now() - heard;
  if (quiet < SILENCE_MS) return;
  setLive('lost', `no word from tandem-hb for ${Math.round(quiet / 1000)} s: the data shown may be stale; reconnecting`);
  if (Date.now() - connected >= SILENCE_MS) connect();
}, 1000);

connect();

let pending = null;

function describe(a) {
  const node = model?.node ?? 'this node';
  switch (a.action) {
    case 'standby': return `Put ${node} in standby? Its resource groups move to the peer.`;
    case 'takeover': return `Take over all resource groups on ${node}?`;
    case 'primary': return `Make ${a.resource} Primary on ${node}?`;
    case 'secondary': return `Make ${a.resource} Secondary on ${node}? Whatever uses the device must have stopped.`;
    default: return '';
  }
}

document.addEventListener('click', (e) => {
  const b = e.target instanceof Element ? e.target.closest('button[data-action]') : null;
  if (!b) return;
  pending = { action: b.dataset.action, ...(b.dataset.resource ? { resource: b.dataset.resource } : {}) };
  $('confirm-text').textContent = describe(pending);
  $('confirm').returnValue = '';
  $('confirm').showModal();
});

$('login').addEventListener('submit', (e) => e.preventDefault());

$('confirm').addEventListener('close', async () => {
  const a = pending;
  pending = null;
  if (!a || $('confirm').returnValue !== 'ok') return;
  const result = $('action-result');
  result.dataset.state = 'running';
  result.textContent = `${describe(a)} …`;
  const user = $('user').value;
  const password = $('password').value;
  const auth = btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
  try {
    const r = await fetch('/api/action', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tandem-action': '1', authorization: `Basic ${auth}` },
      body: JSON.stringify(a),
    });
    const body = await r.json();
    result.dataset.state = body.ok ? 'ok' : 'refused';
    result.textContent = body.message + (body.log?.length ? ` (${body.log.join('; ')})` : '');
  } catch (err) {
    result.dataset.state = 'refused';
    result.textContent = `request failed: ${err.message}`;
  }
});
