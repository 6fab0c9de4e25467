/*
 * Stampede HTML report. The report file inlines uPlot, common.js, this file
 * and app.css, plus the run data as a JSON script element with id
 * "report-data" (type application/json) holding
 * {run, endpoints, total, errors, series, events, workers?, generated_at?}.
 * This script renders everything into #report (created when missing). It
 * makes no network requests. (No closing script tag may appear in this file
 * or in common.js: both are inlined into a script element.)
 */
(function () {
  'use strict';

  function render() {
    const S = window.Stampede;
    const fmt = S.fmt;
    const esc = S.esc;
    let root = document.getElementById('report');
    if (!root) {
      root = document.createElement('div');
      root.id = 'report';
      document.body.appendChild(root);
    }
    root.classList.add('report');

    const src = document.getElementById('report-data');
    let data;
    try {
      data = JSON.parse(src ? src.textContent : '');
    } catch (err) {
      root.innerHTML = '<div class="message error">report data missing or invalid: ' + esc(err.message) + '</div>';
      return;
    }
    data = data || {};
    const run = data.run || {};
    const total = data.total || {};
    const config = run.config && typeof run.config === 'object' ? run.config : null;
    const host = run.host || (config && (config.host || config.Host)) || '';

    const title = 'Stampede report \u2014 run ' + (run.id || '?') + (run.label ? ' (' + run.label + ')' : '');
    document.title = title;

    const requests = typeof run.requests === 'number' ? run.requests : total.requests;
    const failures = typeof run.failures === 'number' ? run.failures : total.failures;
    let failPct = run.failure_pct;
    if (typeof failPct !== 'number' && requests > 0) failPct = (100 * (failures || 0)) / requests;

    const summary = [
      ['Status', run.status],
      ['Reason', run.reason],
      ['Host', host],
      ['Started', fmt.time(run.started_at)],
      ['Ended', run.ended_at ? fmt.time(run.ended_at) : ''],
      ['Duration', fmt.duration(run.duration_s)],
      ['Peak users', fmt.num(run.peak_users)],
      ['Requests', fmt.num(requests)],
      ['Failures', fmt.num(failures) + ' (' + fmt.pct(failPct) + ')', failures > 0 ? 'bad' : ''],
      ['RPS', fmt.rate(typeof run.rps === 'number' ? run.rps : total.rps)],
      ['Median', fmt.msUnit(typeof run.p50_ms === 'number' ? run.p50_ms : total.median_ms)],
      ['95%ile', fmt.msUnit(typeof run.p95_ms === 'number' ? run.p95_ms : total.p95_ms)],
      ['99%ile', fmt.msUnit(typeof run.p99_ms === 'number' ? run.p99_ms : total.p99_ms)],
    ]
      .filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== '')
      .map((p) => '<div><dt>' + esc(p[0]) + '</dt><dd' + (p[2] ? ' class="' + p[2] + '"' : '') + '>' + esc(p[1]) + '</dd></div>')
      .join('');

    const workers = Array.isArray(data.workers) ? data.workers : null;
    const errors = Array.isArray(data.errors) ? data.errors : [];
    const events = Array.isArray(data.events) ? data.events : [];
    const exceptions = Array.isArray(data.exceptions) ? data.exceptions : [];
    const counters = Array.isArray(data.counters) ? data.counters : [];
    const slowest = Array.isArray(data.slowest) ? data.slowest : [];

    root.innerHTML =
      '<header class="report-head"><div class="brand">Stampede</div><h1>' + esc(title) + '</h1>' +
      (run.notes ? '<p class="notes">' + esc(run.notes) + '</p>' : '') + '</header>' +
      '<section class="panel"><h2>Summary</h2><dl class="summary">' + summary + '</dl></section>' +
      '<section class="panel"><h2>Configuration</h2><table id="report-config" class="kv"></table></section>' +
      '<section><h2>Statistics</h2><div class="table-wrap"><table id="stats-table" class="data stats"></table></div></section>' +
      '<section><h2>Charts</h2><div id="charts" class="charts"></div></section>' +
      '<section><h2>Failures (' + errors.length + ')</h2><div class="table-wrap"><table id="failures-table" class="data failures"></table></div></section>' +
      (exceptions.length ? '<section><h2>Exceptions (' + exceptions.length + ')</h2><div class="table-wrap"><table id="exceptions-table" class="data exceptions"></table></div></section>' : '') +
      (Array.isArray(data.hosts) && data.hosts.length ? '<section><h2>Hosts (workers and agents)</h2><div id="host-charts" class="charts"></div></section>' : '') +
      (Array.isArray(data.warnings) && data.warnings.length ? '<section class="warnings"><h2>Warnings</h2>' + data.warnings.map((w) => '<div>&#9888; ' + esc(w) + '</div>').join('') + '</section>' : '') +
      (slowest.length ? '<section><h2>Slowest requests</h2><div class="table-wrap"><table id="slowest-table" class="data slowest"></table></div></section>' : '') +
      (counters.length ? '<section><h2>Counters</h2><div class="table-wrap"><table id="counters-table" class="data counters"></table></div></section>' : '') +
      (workers ? '<section><h2>Workers (' + workers.length + ')</h2><div class="table-wrap"><table id="workers-table" class="data workers"></table></div></section>' : '') +
      '<section><h2>Events</h2><div class="table-wrap"><table id="events-table" class="data events"></table></div></section>' +
      '<footer class="muted small">Generated by Stampede' +
      (data.generated_at ? ' at ' + esc(fmt.time(data.generated_at)) : '') + '.</footer>';

    S.renderKeyValues(document.getElementById('report-config'), config || {});
    S.renderStatsTable(document.getElementById('stats-table'), data.endpoints, data.total, { current: false });
    S.createCharts(document.getElementById('charts'), Array.isArray(data.series) ? data.series : [], { events });
    if (Array.isArray(data.hosts) && data.hosts.length) S.createHostCharts(document.getElementById('host-charts'), data.hosts, { events });
    S.renderFailuresTable(document.getElementById('failures-table'), errors);
    if (exceptions.length) S.renderExceptionsTable(document.getElementById('exceptions-table'), exceptions);
    if (counters.length) S.renderCountersTable(document.getElementById('counters-table'), counters);
    if (slowest.length) S.renderSlowestTable(document.getElementById('slowest-table'), slowest);
    if (workers) S.renderWorkersTable(document.getElementById('workers-table'), workers);
    S.renderEventsTable(document.getElementById('events-table'), events);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', render);
  else render();
})();
