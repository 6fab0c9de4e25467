/*
 * The dashboard's Ratio tab (Locust's "Current ratio"): the share of users
 * per user class and of tasks per class, as the script's weights configure
 * them and as the workers report their running users (GET /api/ratio).
 */
(function () {
  'use strict';

  const S = window.Stampede;
  const D = S.dash;
  const { fmt, html, setHTML } = S;
  const { app, $, api } = D;

  const share = (v) => fmt.pct(100 * (v || 0));

  function renderRatio(r) {
    const classes = Array.isArray(r.classes) ? r.classes : [];
    const running = r.users > 0;
    const rows = classes.map((c) => html`<tr class="ratio-class" data-name="${c.name}">${[
      html`<td class="name">${c.name}</td>`,
      html`<td class="num">${c.fixed_count ? 'fixed ' + c.fixed_count : fmt.num(c.weight)}</td>`,
      html`<td class="num">${c.fixed_count ? '\u2014' : share(c.ratio)}</td>`,
      html`<td class="num">${fmt.num(c.target_users)}</td>`,
      html`<td class="num">${fmt.num(c.users)}</td>`,
      html`<td class="num">${running ? share(c.users_ratio) : '\u2014'}</td>`,
    ]}</tr>`);
    setHTML($('ratio-classes'), html`<thead><tr><th>User class</th><th class="num">Weight</th><th class="num">Configured share</th>
      <th class="num">Planned users</th><th class="num">Running users</th><th class="num">Running share</th></tr></thead>
      <tbody>${rows.length ? rows : html`<tr class="empty"><td colspan="6">No user classes</td></tr>`}</tbody>`);

    const tasks = [];
    for (const c of classes) {
      for (const t of c.tasks || []) {
        tasks.push(html`<tr class="ratio-task" data-class="${c.name}" data-name="${t.name}">${[
          html`<td>${c.name}</td><td class="name">${t.name}</td>`,
          html`<td class="num">${c.sequential ? 'in order' : fmt.num(t.weight)}</td>`,
          html`<td class="num">${share(t.ratio)}</td><td class="num">${share(t.total_ratio)}</td>`,
        ]}</tr>`);
      }
    }
    setHTML($('ratio-tasks'), html`<thead><tr><th>User class</th><th>Task</th><th class="num">Weight</th>
      <th class="num">Share in its class</th><th class="num">Share of all tasks</th></tr></thead>
      <tbody>${tasks.length ? tasks : html`<tr class="empty"><td colspan="5">No tasks</td></tr>`}</tbody>`);
    $('ratio-basis').textContent = running
      ? 'Shares of all tasks weigh each class by its running users (' + fmt.num(r.users) + ' of ' + fmt.num(r.target_users) + ').'
      : 'No users running: shares of all tasks weigh each class by its configured share.';
  }

  // Read when the tab opens and, while it is open, at most once a second as the
  // live view changes.
  let busy = false;
  let at = 0;
  async function refreshRatio(force) {
    if (app.tab !== 'ratio' || busy || (!force && Date.now() - at < 1000)) return;
    busy = true;
    at = Date.now();
    try {
      const r = await api('GET', '/api/ratio');
      if (r) renderRatio(r);
    } catch (_) { /* the stream shows the connection's state */ } finally {
      busy = false;
    }
  }

  Object.assign(D, { refreshRatio });
})();
