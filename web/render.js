// The status page's layout: PageModel (src/web/page-model.ts) in, HTML text out. Pure and
// DOM-free, so the unit tests run it under Node; app.js puts the text into the page. Every value
// from the model is escaped. Attributes named data-* are what tests and scripts look up.

/** @param {unknown} v */
export function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** KiB as the status file's MiB/GiB */
export function size(kib) {
  if (kib >= 1024 * 1024) return `${(kib / 1024 / 1024).toFixed(1)} GiB`;
  if (kib >= 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${kib} KiB`;
}

/** seconds as the status file's finish: h:mm:ss */
export function duration(sec) {
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

const badge = (text, tone, field) => `<span class="badge ${esc(tone)}"${field ? ` data-field="${esc(field)}"` : ''}>${esc(text)}</span>`;

function nodeCard(n) {
  const links = n.self ? '<li class="muted">this node</li>' : n.links.map((l) => `<li data-link="${esc(l.medium)}">${esc(l.medium)} ${badge(l.state, l.tone, 'link-state')}</li>`).join('') || '<li class="muted">no link</li>';
  return `<article class="node ${esc(n.tone)}" data-node="${esc(n.name)}">
  <h3>${esc(n.name)}${n.self ? ' <span class="tag">this node</span>' : ''}</h3>
  <p>${badge(n.state, n.tone, 'node-state')}</p>
  <ul class="links">${links}</ul>
</article>`;
}

function syncBlock(s) {
  if (!s) return '';
  const pct = Math.max(0, Math.min(100, s.percent));
  return `<div class="sync" data-field="sync">
  <div class="sync-head"><span>${esc(s.state)}${s.paused ? ' (paused)' : ''}</span><span data-field="sync-percent">${esc(pct.toFixed(1))}%</span></div>
  <progress max="1000" value="${Math.round(pct * 10)}" aria-label="resync progress">${esc(pct.toFixed(1))}%</progress>
  <div class="sync-foot">${esc(size(s.doneKiB))} of ${esc(size(s.totalKiB))} · ${esc(size(s.speedKiBs))}/s · ${esc(duration(s.etaSec))} left</div>
</div>`;
}

function resourceCard(r, actions) {
  const buttons = actions
    ? `<p class="buttons">${r.role === 'Primary'
      ? `<button type="button" data-action="secondary" data-resource="${esc(r.name)}">Secondary</button>`
      : `<button type="button" data-action="primary" data-resource="${esc(r.name)}">Primary</button>`}</p>`
    : '';
  return `<article class="resource ${esc(r.tone)}" data-resource="${esc(r.name)}">
  <h3>${esc(r.name)} <span class="muted">minor ${esc(r.minor)} · protocol ${esc(r.protocol || '-')}</span></h3>
  <table class="kv">
    <tr><th>role</th><td><span class="role" data-field="role">${esc(r.role)}</span> / <span data-field="peer-role">${esc(r.peerRole)}</span></td></tr>
    <tr><th>disk</th><td>${badge(r.disk, r.disk === 'UpToDate' ? 'ok' : 'warn', 'disk')} / ${badge(r.peerDisk, r.peerDisk === 'UpToDate' ? 'ok' : 'warn', 'peer-disk')}</td></tr>
    <tr><th>connection</th><td>${badge(r.connection, r.connection === 'Connected' ? 'ok' : r.cs === 'StandAlone' ? 'bad' : 'warn', 'connection')} <span class="muted" data-field="cs">cs:${esc(r.cs)}</span> to ${esc(r.peer)}</td></tr>
    <tr><th>out of sync</th><td data-field="oos">${esc(size(r.outOfSyncKiB))}</td></tr>
    ${r.suspended ? '<tr><th>IO</th><td>' + badge('suspended', 'bad', 'suspended') + '</td></tr>' : ''}
  </table>
  ${syncBlock(r.sync)}
  ${buttons}
</article>`;
}

function groupRow(g) {
  const res = g.resources.map((r) => `<li>${esc(r.text)} <span class="muted">(${esc(r.agent)})</span> ${badge(r.word, r.tone, 'resource-word')}</li>`).join('');
  return `<tr class="${esc(g.tone)}" data-group="${esc(g.key)}">
  <td><strong>${esc(g.key)}</strong><ul class="rsc">${res}</ul></td>
  <td>${esc(g.preferred)}</td>
  <td data-field="held-by">${g.heldBy ? esc(g.heldBy) : '<span class="muted">nobody</span>'}</td>
  <td data-field="local">${esc(g.local)}${g.note ? ` <span class="muted">(${esc(g.note)})</span>` : ''}</td>
</tr>`;
}

/**
 * @param {import('../src/web/page-model.js').PageModel} m
 * @returns {string}
 */
export function renderPage(m) {
  const notices = m.notices.map((t) => `<p class="notice">${esc(t)}</p>`).join('');
  const resources = m.tandemd.error
    ? `<p class="notice" data-field="tandemd-error">tandemd: ${esc(m.tandemd.error)}</p>`
    : m.tandemd.resources.map((r) => resourceCard(r, m.actions.enabled)).join('') || '<p class="muted">no resources on this node</p>';
  const events = m.events.map((e) => `<tr class="${esc(e.level)}"><td class="time">${esc(e.at)}</td><td class="source">${esc(e.source)}</td><td>${esc(e.text)}</td></tr>`).join('');
  return `${notices}
<section class="card"><h2>Nodes</h2><div class="grid">${m.nodes.map(nodeCard).join('')}</div></section>
<section class="card"><h2>Replicated resources <span class="muted">(tandemd on ${esc(m.node)})</span></h2><div class="grid">${resources}</div></section>
<section class="card"><h2>Resource groups <span class="muted">(haresources)</span></h2>
<table class="groups"><thead><tr><th>group</th><th>preferred</th><th>running on</th><th>here</th></tr></thead><tbody>${m.groups.map(groupRow).join('')}</tbody></table></section>
<section class="card"><h2>Last events</h2>${events ? `<table class="events"><tbody>${events}</tbody></table>` : '<p class="muted">none yet</p>'}</section>`;
}
