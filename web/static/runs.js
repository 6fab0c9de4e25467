/*
 * The dashboard's Runs tab: the stored runs, one run's detail (summary,
 * label and notes, configuration, statistics, charts, events), deleting a
 * run, and an endpoint's own charts (live or stored) under a statistics table.
 */
(function () {
  'use strict';

  const S = window.Stampede;
  const D = S.dash;
  const { fmt, html, setHTML } = S;
  const { app, $, api, showMessage, showError, runQuery, ACTIVE_STATES } = D;

  // --------------------------------------------------------------------- runs

  function selectedRunIds() {
    // Keep the order of the table (newest first) reversed: oldest is the baseline.
    const order = app.runs.map((r) => String(r.id));
    const ids = Array.from(app.picks).filter((id) => order.includes(id));
    ids.sort((a, b) => order.indexOf(b) - order.indexOf(a));
    return ids;
  }

  function updateCompareButton() {
    const n = selectedRunIds().length;
    const b = $('btn-compare');
    b.disabled = n < 2;
    b.textContent = n >= 2 ? 'Compare ' + n + ' runs' : 'Compare selected';
  }

  function statusBadge(status) {
    const s = String(status || '').toLowerCase().replace(/[^a-z0-9_-]/g, '');
    return html`<span class="badge state-${s}">${status || '\u2014'}</span>`;
  }

  const RUNS_HEAD = html`<thead><tr><th class="pick-col"><span class="sr-only">Compare</span></th><th>Run</th><th>Status</th><th>Label</th>
    <th>Started</th><th class="num">Duration</th><th class="num">Peak users</th><th class="num">Requests</th>
    <th class="num">Failures</th><th class="num">RPS</th><th class="num">p50 (ms)</th><th class="num">p95 (ms)</th>
    <th class="num">p99 (ms)</th><th></th></tr></thead>`;

  function renderRuns() {
    const rows = app.runs.map((r) => {
      const id = String(r.id);
      const pick = app.picks.has(id)
        ? html`<input type="checkbox" class="pick" data-id="${id}" aria-label="Select run ${id}" checked>`
        : html`<input type="checkbox" class="pick" data-id="${id}" aria-label="Select run ${id}">`;
      return html`<tr class="run-row" data-id="${id}">${[
        html`<td class="pick-col">${pick}</td>`,
        html`<td class="mono"><a href="#runs/${encodeURIComponent(id)}">${id}</a></td>`,
        html`<td>${statusBadge(r.status)}</td>`,
        html`<td class="label-col" title="${r.notes}">${r.label}</td>`,
        html`<td class="mono">${fmt.time(r.started_at)}</td><td class="num">${fmt.duration(r.duration_s)}</td>`,
        html`<td class="num">${fmt.num(r.peak_users)}</td><td class="num">${fmt.num(r.requests)}</td>`,
        html`<td class="${r.failures > 0 ? 'num bad' : 'num'}">${fmt.num(r.failures)} (${fmt.pct(r.failure_pct)})</td>`,
        html`<td class="num">${fmt.rate(r.rps)}</td><td class="num">${fmt.ms(r.p50_ms)}</td>`,
        html`<td class="num">${fmt.ms(r.p95_ms)}</td><td class="num">${fmt.ms(r.p99_ms)}</td>`,
        html`<td><button type="button" class="link delete-run" data-id="${id}" title="Delete run">Delete</button></td>`,
      ]}</tr>`;
    });
    const body = rows.length ? rows : html`<tr class="empty"><td colspan="14">No runs stored yet</td></tr>`;
    setHTML($('runs-table'), html`${RUNS_HEAD}<tbody>${body}</tbody>`);
    updateCompareButton();
  }

  async function loadRuns() {
    try {
      const runs = await api('GET', '/api/runs');
      app.runs = Array.isArray(runs) ? runs : [];
      const known = new Set(app.runs.map((r) => String(r.id)));
      for (const id of Array.from(app.picks)) if (!known.has(id)) app.picks.delete(id);
      renderRuns();
    } catch (err) {
      showError(err);
    }
  }

  // ------------------------------------------------------- endpoint charts

  // Clicking an endpoint's row charts its RPS, failures/s and p50/p95/p99 over
  // the run (from the store's intervals) under the table: the live run's,
  // refreshed while it runs, or a stored run's.
  function openEndpoint(where, runId, method, name) {
    closeEndpoint(where);
    const section = $(where + '-section');
    $(where + '-title').textContent = method + ' ' + name;
    section.hidden = false;
    const ep = { where, run: runId, method, name, charts: S.createCharts($(where + '-charts'), [], { users: false, title: method + ' ' + name }), at: 0 };
    if (where === 'endpoint') app.endpoint = ep;
    else if (app.runDetail) app.runDetail.endpoint = ep;
    loadEndpoint(ep);
  }

  function closeEndpoint(where) {
    const ep = where === 'endpoint' ? app.endpoint : app.runDetail && app.runDetail.endpoint;
    if (ep && ep.charts) ep.charts.destroy();
    if (where === 'endpoint') app.endpoint = null;
    else if (app.runDetail) app.runDetail.endpoint = null;
    $(where + '-section').hidden = true;
  }

  async function loadEndpoint(ep) {
    ep.at = Date.now();
    try {
      const q = '?method=' + encodeURIComponent(ep.method) + '&name=' + encodeURIComponent(ep.name);
      const [data, evs] = await Promise.all([
        api('GET', '/api/runs/' + encodeURIComponent(ep.run) + '/endpoint' + q),
        api('GET', '/api/runs/' + encodeURIComponent(ep.run) + '/events').catch(() => []),
      ]);
      if (!ep.charts) return;
      ep.charts.setData((data && data.series) || []);
      ep.charts.setEvents(evs || []);
    } catch (err) {
      showError(err);
    }
  }

  // The live run's endpoint chart follows the run every two seconds.
  function refreshEndpoint(force) {
    const ep = app.endpoint;
    const live = app.live;
    if (!ep || !live || app.tab !== 'stats' || document.hidden) return;
    if (ep.run !== live.run_id) { closeEndpoint('endpoint'); return; }
    const active = ACTIVE_STATES.has(String(live.state)) || live.state === 'stopping';
    if (force || (active && Date.now() - ep.at >= 2000)) loadEndpoint(ep);
  }

  function bindEndpointRows(table, where, runOf) {
    table.addEventListener('click', (ev) => {
      const tr = ev.target && ev.target.closest ? ev.target.closest('tr.row') : null;
      const run = runOf();
      if (!tr || !run) return;
      openEndpoint(where, run, tr.getAttribute('data-method'), tr.getAttribute('data-name'));
    });
  }

  function closeRun() {
    if (app.runDetail && app.runDetail.endpoint) closeEndpoint('run-endpoint');
    if (app.runDetail && app.runDetail.hostCharts) app.runDetail.hostCharts.destroy();
    if (app.runDetail && app.runDetail.charts) app.runDetail.charts.destroy();
    app.runDetail = null;
    $('run-detail').hidden = true;
    $('runs-list').hidden = false;
    loadRuns();
  }

  function renderRunTitle(run) {
    $('run-title').textContent = 'Run ' + run.id + (run.label ? ' \u2014 ' + run.label : '');
  }

  async function openRun(id) {
    if (app.runDetail && app.runDetail.id === id) return;
    if (app.runDetail && app.runDetail.endpoint) closeEndpoint('run-endpoint');
    if (app.runDetail && app.runDetail.hostCharts) app.runDetail.hostCharts.destroy();
    if (app.runDetail && app.runDetail.charts) app.runDetail.charts.destroy();
    app.runDetail = { id, charts: null, hostCharts: null, endpoint: null, data: null };
    $('runs-list').hidden = true;
    $('run-detail').hidden = false;
    $('run-title').textContent = 'Run ' + id + ' (loading\u2026)';
    const q = runQuery(id);
    $('run-download-stats').href = '/download/stats.csv' + q;
    $('run-download-failures').href = '/download/failures.csv' + q;
    $('run-download-exceptions').href = '/download/exceptions.csv' + q;
    $('run-download-history').href = '/download/history.csv' + q;
    $('run-download-json').href = '/download/run.json' + q;
    $('run-download-report').href = '/download/report.html' + q;
    let data;
    try {
      data = await api('GET', '/api/runs/' + encodeURIComponent(id));
    } catch (err) {
      showError(err);
      $('run-title').textContent = 'Run ' + id;
      return;
    }
    if (!app.runDetail || app.runDetail.id !== id) return; // navigated away meanwhile
    app.runDetail.data = data;
    const run = (data && data.run) || { id };
    renderRunTitle(run);
    const total = data.total || {};
    setHTML($('run-summary'), S.summaryHTML([
      ['Status', run.status],
      ['Reason', run.reason],
      ['Started', fmt.time(run.started_at)],
      ['Ended', run.ended_at ? fmt.time(run.ended_at) : ''],
      ['Duration', fmt.duration(run.duration_s)],
      ['Peak users', fmt.num(run.peak_users)],
      ['Requests', fmt.num(run.requests !== undefined ? run.requests : total.requests)],
      ['Failures', fmt.num(run.failures !== undefined ? run.failures : total.failures) + ' (' + fmt.pct(run.failure_pct) + ')', run.failures > 0 ? 'bad' : ''],
      ['RPS', fmt.rate(run.rps)],
      ['p50 / p95 / p99', fmt.ms(run.p50_ms) + ' / ' + fmt.ms(run.p95_ms) + ' / ' + fmt.ms(run.p99_ms) + ' ms'],
    ]));
    $('run-label').value = run.label || '';
    $('run-notes').value = run.notes || '';
    S.renderKeyValues($('run-config'), run.config);
    S.renderStatsTable($('run-stats-table'), data.endpoints, data.total, { current: false });
    S.renderFailuresTable($('run-failures-table'), data.errors);
    S.renderEventsTable($('run-events-table'), data.events);
    const ex = data.exceptions || [];
    $('run-exceptions-section').hidden = ex.length === 0;
    S.renderExceptionsTable($('run-exceptions-table'), ex);
    const cs = data.counters || [];
    $('run-counters-section').hidden = cs.length === 0;
    S.renderCountersTable($('run-counters-table'), cs);
    app.runDetail.charts = S.createCharts($('run-charts'), data.series || [], { events: data.events });
    app.runDetail.hostCharts = S.createHostCharts($('run-host-charts'), data.hosts || [], { events: data.events });
  }

  async function deleteRun(id) {
    if (!id) return;
    if (!window.confirm('Delete run ' + id + '? This cannot be undone.')) return;
    try {
      await api('DELETE', '/api/runs/' + encodeURIComponent(id));
      app.picks.delete(id);
      showMessage('Run ' + id + ' deleted', 'info');
      // The live view stops showing a deleted run: header, charts, downloads.
      if (app.live && app.live.run_id === id) D.loadFullLive().catch(() => {});
      if (app.runDetail && app.runDetail.id === id) {
        location.hash = '#runs';
      } else {
        loadRuns();
      }
    } catch (err) {
      showError(err);
    }
  }

  Object.assign(D, {
    selectedRunIds, updateCompareButton, statusBadge, renderRuns, loadRuns, openEndpoint, closeEndpoint, loadEndpoint,
    refreshEndpoint, bindEndpointRows, closeRun, renderRunTitle, openRun, deleteRun,
  });
})();
