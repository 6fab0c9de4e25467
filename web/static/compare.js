/*
 * The dashboard's Compare tab: two or more stored runs side by side, each
 * later run's figures with their change from the first (the baseline), and
 * their charts overlaid on elapsed time.
 */
(function () {
  'use strict';

  const S = window.Stampede;
  const D = S.dash;
  const { fmt, html, setHTML } = S;
  const { app, $, api, showError } = D;

  // ------------------------------------------------------------------ compare

  function deltaCell(value, absDelta, pctDelta, f, higherIsWorse, tol) {
    if (typeof absDelta !== 'number' && typeof pctDelta !== 'number') return html`<td class="num">${f(value)}</td>`;
    let cls = 'delta';
    const rel = typeof pctDelta === 'number' ? pctDelta : null;
    if (rel !== null && Math.abs(rel) > tol) {
      const worse = higherIsWorse ? rel > 0 : rel < 0;
      cls += worse ? ' worse' : ' better';
    }
    let txt = fmt.signed(absDelta, f);
    if (rel !== null) txt += ' (' + fmt.signed(rel, (v) => v.toFixed(1)) + '%)';
    return html`<td class="num">${f(value)}<span class="${cls}">${txt}</span></td>`;
  }

  function failCell(value, delta) {
    if (typeof delta !== 'number') return html`<td class="num">${fmt.pct(value)}</td>`;
    const cls = delta > 0 ? 'delta worse' : delta < 0 ? 'delta better' : 'delta';
    return html`<td class="num">${fmt.pct(value)}<span class="${cls}">${fmt.signed(delta, (v) => v.toFixed(2))} pp</span></td>`;
  }

  function runName(r) {
    return String(r.id) + (r.label ? ' (' + r.label + ')' : '');
  }

  const RUNS_HEAD = html`<thead><tr><th></th><th>Run</th><th>Label</th><th>Status</th><th>Started</th><th class="num">Duration</th>
    <th class="num">Peak users</th><th class="num">Requests</th><th class="num">Failure %</th><th class="num">RPS</th>
    <th class="num">p50 (ms)</th><th class="num">p95 (ms)</th><th class="num">p99 (ms)</th></tr></thead>`;
  const METRICS = ['Requests', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'RPS', 'Fail %'];

  // One run's cells of an endpoint's row: its figures, with their change from
  // the baseline (d) after the first run.
  function valueCells(v, d, tol) {
    if (!v) return html`<td class="num missing" colspan="${METRICS.length}">not in this run</td>`;
    if (d) {
      return html`<td class="num">${fmt.num(v.requests)}</td>${[
        deltaCell(v.p50_ms, d.p50_ms, d.p50_pct, fmt.ms, true, tol),
        deltaCell(v.p95_ms, d.p95_ms, d.p95_pct, fmt.ms, true, tol),
        deltaCell(v.p99_ms, d.p99_ms, d.p99_pct, fmt.ms, true, tol),
        deltaCell(v.rps, d.rps, d.rps_pct, fmt.rate, false, tol),
        failCell(v.failure_pct, d.failure_pct),
      ]}`;
    }
    return html`<td class="num">${fmt.num(v.requests)}</td><td class="num">${fmt.ms(v.p50_ms)}</td><td class="num">${fmt.ms(v.p95_ms)}</td>
      <td class="num">${fmt.ms(v.p99_ms)}</td><td class="num">${fmt.rate(v.rps)}</td><td class="num">${fmt.pct(v.failure_pct)}</td>`;
  }

  function renderCompare(data) {
    const runs = Array.isArray(data.runs) ? data.runs : [];
    const tol = typeof data.tolerance_pct === 'number' ? data.tolerance_pct : Number($('compare-tolerance').value) || 0;
    const palette = S.palette;

    // Run summaries
    const summaries = runs.map((r, i) => html`<tr class="compare-run" data-id="${r.id}">${[
      html`<td><span class="swatch" style="background:${palette[i % palette.length]}"></span>${i === 0 && html`<span class="muted small">baseline</span>`}</td>`,
      html`<td class="mono">${r.id}</td><td>${r.label}</td><td>${D.statusBadge(r.status)}</td>`,
      html`<td class="mono">${fmt.time(r.started_at)}</td><td class="num">${fmt.duration(r.duration_s)}</td>`,
      html`<td class="num">${fmt.num(r.peak_users)}</td><td class="num">${fmt.num(r.requests)}</td>`,
      html`<td class="num">${fmt.pct(r.failure_pct)}</td><td class="num">${fmt.rate(r.rps)}</td>`,
      html`<td class="num">${fmt.ms(r.p50_ms)}</td><td class="num">${fmt.ms(r.p95_ms)}</td><td class="num">${fmt.ms(r.p99_ms)}</td>`,
    ]}</tr>`);
    setHTML($('compare-runs'), html`${RUNS_HEAD}<tbody>${summaries}</tbody>`);

    // Per-endpoint table: one column group per run; later runs show deltas to the first.
    const groups = runs.map((r, i) => html`<th colspan="${METRICS.length}" class="group" style="border-top-color:${palette[i % palette.length]}">${
      runName(r)}${i === 0 && ' \u00b7 baseline'}</th>`);
    const names = runs.map(() => METRICS.map((m) => html`<th class="num">${m}</th>`));
    const head = html`<thead><tr><th rowspan="2">Type</th><th rowspan="2">Name</th>${groups}</tr><tr>${names}</tr></thead>`;
    const endpoints = Array.isArray(data.endpoints) ? data.endpoints : [];
    let regressions = typeof data.regressions === 'number' ? data.regressions : 0;
    const rows = endpoints.map((e) => {
      if (e.regression && typeof data.regressions !== 'number') regressions++;
      const why = (e.why || []).join('; ');
      const badge = e.regression && html` <span class="badge regression-badge" title="${why}">regression</span>${why && html`<div class="why">${why}</div>`}`;
      const cells = runs.map((_, i) => valueCells((e.values || [])[i], i > 0 ? (e.deltas || [])[i - 1] : null, tol));
      return html`<tr class="${e.regression ? 'cmp-row regression' : 'cmp-row'}" data-method="${e.method}" data-name="${e.name}">${[
        html`<td class="method">${e.method}</td><td class="name" title="${e.name}">${e.name}${badge}</td>`,
        cells,
      ]}</tr>`;
    });
    const body = endpoints.length ? rows : html`<tr class="empty"><td colspan="${2 + METRICS.length * runs.length}">No endpoints</td></tr>`;
    setHTML($('compare-table'), html`${head}<tbody>${body}</tbody>`);

    const info = $('compare-info');
    info.textContent = runs.length + ' runs, baseline ' + (runs[0] ? runs[0].id : '?') + ': ' +
      (regressions ? regressions + ' endpoint' + (regressions === 1 ? '' : 's') + ' regressed beyond \u00b1' + tol + '%' : 'no regressions beyond \u00b1' + tol + '%');
    info.className = regressions ? 'bad' : 'muted';

    const overlay = runs.map((r, i) => ({
      label: String(r.id) + (r.label ? ' ' + r.label : ''),
      series: (data.series || [])[i] || [],
      started_at: r.started_at,
      color: palette[i % palette.length],
    }));
    if (app.compare && app.compare.charts) app.compare.charts.setData(overlay);
    else if (app.compare) app.compare.charts = S.createOverlayCharts($('compare-charts'), overlay);
  }

  async function loadCompare(ids, force) {
    ids = (ids || []).map(String);
    if (ids.length < 2) {
      $('compare-info').textContent = 'Pick two or more runs in the Runs tab.';
      $('compare-info').className = 'muted';
      return;
    }
    const key = ids.join(',');
    if (!force && app.compare && app.compare.key === key && app.compare.loaded) return;
    if (!app.compare || app.compare.key !== key) {
      if (app.compare && app.compare.charts) app.compare.charts.destroy();
      app.compare = { ids, key, charts: null, loaded: false };
    }
    ids.forEach((id) => app.picks.add(id));
    let tol = Number($('compare-tolerance').value);
    if (!Number.isFinite(tol) || tol < 0) tol = 10;
    const cur = app.compare;
    $('compare-info').textContent = 'Loading\u2026';
    try {
      const data = await api('GET', '/api/compare?runs=' + ids.map(encodeURIComponent).join(',') + '&tolerance=' + encodeURIComponent(tol));
      if (app.compare !== cur) return;
      cur.loaded = true;
      renderCompare(data || {});
    } catch (err) {
      $('compare-info').textContent = '';
      showError(err);
    }
  }

  Object.assign(D, { deltaCell, failCell, runName, renderCompare, loadCompare });
})();
