/*
 * Stampede live dashboard. Plain ES2020, no build step; needs common.js
 * (global `Stampede`) and, for charts, uPlot (global `uPlot`).
 *
 * Data flow: GET /api/live once (full Live object with series), then the
 * Server-Sent Events stream /api/stream ("live" events: Live without series,
 * plus `point`). When run_id changes, /api/live is fetched again so the charts
 * start from the new run's full series.
 */
(function () {
  'use strict';

  const S = window.Stampede;
  const fmt = S.fmt;
  const esc = S.esc;
  const $ = (id) => document.getElementById(id);

  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.getAttribute('content') || '' : '';

  const ACTIVE_STATES = new Set(['running', 'spawning', 'ramping']);
  const TABS = ['stats', 'charts', 'failures', 'exceptions', 'slowest', 'workers', 'runs', 'compare'];

  const app = {
    live: null, // last Live object (without series)
    runId: null, // run_id the charts currently show
    charts: null, // live chart handle
    hostCharts: null, // live host telemetry charts handle
    hostsFor: '', // run id and state the host charts and event marks were last read for
    endpoint: null, // {method, name, run, charts}: the endpoint charted under the stats table
    tab: 'stats',
    es: null,
    connected: false,
    everConnected: false,
    reconnectTimer: null,
    fetchingFull: false,
    pending: [], // points received while /api/live is being fetched
    refetchFull: false,
    picks: new Set(), // run ids ticked for comparison
    runs: [],
    runDetail: null, // {id, charts}
    compare: null, // {ids, charts}
    lastState: null,
  };

  // ------------------------------------------------------------------ helpers

  async function api(method, url, body) {
    const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (method !== 'GET') {
      init.headers['X-Stampede-CSRF'] = CSRF;
      if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch (err) {
      throw new Error('network error: ' + (err && err.message ? err.message : String(err)));
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === 'string' && data.error
        ? data.error
        : (text && text.length < 300 ? text.trim() : '') || res.status + ' ' + res.statusText;
      const e = new Error(msg);
      e.status = res.status;
      throw e;
    }
    return data;
  }

  let messageTimer = null;
  function showMessage(text, kind) {
    const box = $('message');
    $('message-text').textContent = text;
    box.className = 'message ' + (kind || 'error');
    box.hidden = false;
    clearTimeout(messageTimer);
    if (kind === 'info') messageTimer = setTimeout(() => { box.hidden = true; }, 4000);
  }
  function showError(err) {
    showMessage(err && err.message ? err.message : String(err), 'error');
  }
  function clearMessage() {
    $('message').hidden = true;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function runQuery(id) {
    return '?run=' + encodeURIComponent(id);
  }

  function num(v) {
    return typeof v === 'number' && Number.isFinite(v) ? v : 0;
  }

  // ------------------------------------------------------------------- header

  // The master's flags, rendered into the page: the start form's values and the
  // host shown before any run.
  const DEFAULT_HOST = ($('host') && $('host').getAttribute('data-default')) || '';

  function renderHeader(live) {
    let state = String(live.state || 'idle').toLowerCase();
    // Running while the users ramp to the target reads "spawning", as in Locust.
    if (state === 'running' && live.spawning) state = 'spawning';
    const st = $('state');
    setText(st, state);
    st.className = 'badge state-' + state.replace(/[^a-z0-9_-]/g, '');
    st.setAttribute('data-state', state);

    setText($('host'), live.host || DEFAULT_HOST || '\u2014');
    const users = num(live.users);
    const target = num(live.target_users);
    const u = $('users');
    setText(u, users + ' / ' + target);
    u.setAttribute('data-current', String(users));
    u.setAttribute('data-target', String(target));

    const total = live.total || {};
    const rps = typeof total.current_rps === 'number' ? total.current_rps : num(total.rps);
    const r = $('rps');
    setText(r, fmt.rate(rps));
    r.setAttribute('data-value', String(rps));

    const reqs = num(total.requests);
    const fails = num(total.failures);
    const pct = reqs > 0 ? (100 * fails) / reqs : 0;
    const fp = $('fail-pct');
    setText(fp, fmt.pct(pct));
    fp.classList.toggle('bad', fails > 0);

    setText($('run-id'), live.run_id || '\u2014');
    $('run-id').title = live.label || '';

    const line = $('status-line');
    const bits = [];
    if (live.scenario) bits.push('scenario ' + live.scenario);
    if (live.status) bits.push('status ' + live.status);
    if (live.elapsed_s) bits.push('elapsed ' + fmt.duration(live.elapsed_s));
    if (live.reason) bits.push(live.reason);
    let html = bits.map(esc).join(' \u00b7 ');
    if (live.error) html += (html ? ' \u00b7 ' : '') + '<span class="bad">' + esc(live.error) + '</span>';
    if (line._html !== html) {
      line._html = html;
      line.innerHTML = html;
      line.hidden = html === '';
    }

    const active = ACTIVE_STATES.has(state);
    $('btn-stop').disabled = !(active || state === 'waiting');
    $('btn-edit').disabled = !active;
    $('btn-new').disabled = active || state === 'stopping';
    if (!active && !$('form-edit').hidden) $('form-edit').hidden = true;

    const ec = (live.exceptions || []).length;
    const ecEl = $('exceptions-count');
    setText(ecEl, String(ec));
    ecEl.hidden = ec === 0;
    const fc = (live.errors || []).length;
    const fcEl = $('failures-count');
    setText(fcEl, String(fc));
    fcEl.hidden = fc === 0;
    const wc = (live.workers || []).length;
    const wcEl = $('workers-count');
    setText(wcEl, String(wc));
    wcEl.hidden = wc === 0;
  }

  function setConnected(up) {
    app.connected = up;
    $('conn').hidden = up;
    document.body.classList.toggle('disconnected', !up);
  }

  // ---------------------------------------------------------------- live data

  function renderLivePanels() {
    const live = app.live;
    if (!live) return;
    // Tables are only rebuilt for the visible tab; switching tabs renders the latest data.
    if (app.tab === 'stats') {
      S.renderStatsTable($('stats-table'), live.endpoints, live.total, { current: true });
      const note = S.roundedNote(live.workers);
      $('rounded-note').hidden = note === '';
      $('rounded-note').textContent = note;
    }
    else if (app.tab === 'failures') {
      S.renderFailuresTable($('failures-table'), live.errors);
      const cs = live.counters || [];
      $('counters-section').hidden = cs.length === 0;
      if (cs.length) S.renderCountersTable($('counters-table'), cs);
    }
    else if (app.tab === 'exceptions') S.renderExceptionsTable($('exceptions-table'), live.exceptions || []);
    else if (app.tab === 'slowest') S.renderSlowestTable($('slowest-table'), live.slowest);
    else if (app.tab === 'workers') {
      S.renderWorkersTable($('workers-table'), live.workers);
      const ag = live.agents || [];
      $('agents-section').hidden = ag.length === 0;
      if (ag.length) S.renderWorkersTable($('agents-table'), ag);
    }
    const warn = live.warnings || [];
    const box = $('warnings');
    box.hidden = warn.length === 0;
    const html = warn.map((w) => '<div>&#9888; ' + S.esc(w) + '</div>').join('');
    if (box._html !== html) { box._html = html; box.innerHTML = html; }
    renderThresholds(live);
  }

  // Thresholds as last evaluated on the master (each second, and at the end).
  function renderThresholds(live) {
    const ts = live.thresholds || [];
    const box = $('thresholds');
    box.hidden = ts.length === 0;
    let html = '';
    if (ts.length) {
      const failed = ts.filter((t) => !t.pass).length;
      html = '<div><strong>Thresholds: ' + (ts.length - failed) + ' passing, ' + failed + ' failing</strong>' +
        (live.open_model ? ' <span class="muted">(open model: latency from each iteration\'s due time)</span>' : '') + '</div>' +
        ts.map((t) => '<div class="' + (t.pass ? 'ok' : 'bad') + '">' + (t.pass ? 'PASS' : 'FAIL') + ' <code>' + S.esc(t.expr) +
          '</code> ' + S.esc(t.error ? t.error : 'observed ' + (t.observed || '') + (t.limit ? ', limit ' + t.limit : '')) + '</div>').join('');
    }
    if (box._html !== html) { box._html = html; box.innerHTML = html; }
  }

  function applyLive(live) {
    const prevState = app.lastState;
    app.live = live;
    app.lastState = String(live.state || '').toLowerCase();
    renderHeader(live);
    renderLivePanels();
    // A run just ended: refresh the run list if it is on screen.
    if (prevState && prevState !== app.lastState && app.tab === 'runs' && !app.runDetail) loadRuns();
    if (prevState !== app.lastState) refreshHosts(false);
    // The run is over: its whole series, so the charts end with its last second
    // whatever points the stream coalesced away.
    if (prevState && prevState !== app.lastState && app.lastState === 'stopped') loadFullLive().catch(() => {});
    refreshEndpoint(false);
  }

  async function loadFullLive() {
    if (app.fetchingFull) {
      app.refetchFull = true;
      return;
    }
    app.fetchingFull = true;
    try {
      do {
        app.refetchFull = false;
        app.pending = [];
        const live = await api('GET', '/api/live');
        if (!live) break;
        const series = Array.isArray(live.series) ? live.series : [];
        delete live.series;
        app.runId = live.run_id || '';
        app.charts.setData(series);
        // A long run's series is merged into coarser points; the last second is
        // apart. A point the series already ends with (or ends past: the end of
        // a stopped run folds its last moments into the point before) is not
        // drawn again.
        const lastT = series.length ? S.toSeconds(series[series.length - 1].t) : null;
        if (live.latest && (lastT === null || S.toSeconds(live.latest.t) > lastT)) app.charts.append(live.latest);
        delete live.latest;
        drawHosts(live.hosts);
        delete live.hosts;
        applyLive(live);
        app.hostsFor = hostsKey(live);
        loadEvents(live.run_id);
        // Points streamed while the request was in flight (older ones are ignored by append).
        for (const p of app.pending) app.charts.append(p);
      } while (app.refetchFull);
    } finally {
      app.fetchingFull = false;
      app.pending = [];
    }
  }

  function onLiveEvent(ev) {
    let live;
    try {
      live = JSON.parse(ev.data);
    } catch (_) {
      return;
    }
    if (!live || typeof live !== 'object') return;
    const runId = live.run_id || '';
    if (runId !== app.runId) {
      // New run (or first event): the full series comes from /api/live.
      app.runId = runId;
      applyLive(live);
      loadFullLive().catch(showError);
      return;
    }
    applyLive(live);
    // A stopped run's chart is its whole series, read when it stopped.
    if (!live.point || app.lastState === 'stopped') return;
    if (app.fetchingFull) app.pending.push(live.point);
    else app.charts.append(live.point);
  }

  function connectStream() {
    if (app.es) app.es.close();
    clearTimeout(app.reconnectTimer);
    const es = new EventSource('/api/stream');
    app.es = es;
    es.addEventListener('open', () => {
      const wasDown = app.everConnected && !app.connected;
      app.everConnected = true;
      setConnected(true);
      // Points sent while we were away are only in the full series.
      if (wasDown) loadFullLive().catch(() => {});
    });
    es.addEventListener('live', onLiveEvent);
    es.addEventListener('error', () => {
      setConnected(false);
      // EventSource retries by itself unless the server answered with an
      // error status (readyState CLOSED); then we retry ourselves.
      if (es.readyState === EventSource.CLOSED) {
        app.reconnectTimer = setTimeout(() => {
          if (app.es === es) connectStream();
        }, 3000);
      }
    });
  }

  // -------------------------------------------------------------------- tabs

  // Host telemetry charts come with the full view (/api/live); they are read
  // again when the charts tab is opened, every two seconds while it is open
  // and a run is active, and once more when the run's state changes (its end).
  function drawHosts(hosts) {
    const list = (Array.isArray(hosts) ? hosts : []).filter((h) => h && Array.isArray(h.points) && h.points.length);
    $('host-charts-title').hidden = list.length === 0;
    app.hostCharts.setData(list);
  }

  function hostsKey(live) {
    return (live && live.run_id ? live.run_id : '') + ':' + (live ? String(live.state || '') : '');
  }

  // The run's events, marked on the live charts.
  async function loadEvents(runId) {
    if (!runId) {
      app.charts.setEvents([]);
      app.hostCharts.setEvents([]);
      return;
    }
    try {
      const evs = await api('GET', '/api/runs/' + encodeURIComponent(runId) + '/events');
      if (app.runId !== runId) return;
      app.charts.setEvents(evs || []);
      app.hostCharts.setEvents(evs || []);
    } catch (_) { /* a deleted or not yet stored run: no marks */ }
  }

  let refreshingHosts = false;
  async function refreshHosts(force) {
    if (app.tab !== 'charts' || document.hidden || refreshingHosts) return;
    const live = app.live;
    const active = live && (ACTIVE_STATES.has(String(live.state)) || live.state === 'stopping');
    if (!force && !active && app.hostsFor === hostsKey(live)) return;
    refreshingHosts = true;
    try {
      const full = await api('GET', '/api/live');
      if (!full) return;
      drawHosts(full.hosts);
      app.hostsFor = hostsKey(full);
      loadEvents(full.run_id);
    } catch (_) { /* the stream shows the connection's state */ } finally {
      refreshingHosts = false;
    }
  }

  setInterval(() => refreshHosts(false), 2000);

  function showTab(tab) {
    if (!TABS.includes(tab)) tab = 'stats';
    app.tab = tab;
    for (const t of TABS) {
      const a = $('tab-' + t);
      const on = t === tab;
      a.classList.toggle('active', on);
      a.setAttribute('aria-selected', on ? 'true' : 'false');
      $('panel-' + t).hidden = !on;
    }
    renderLivePanels();
    if (tab === 'charts' && app.charts) {
      app.charts.resize();
      app.hostCharts.resize();
      refreshHosts(true);
    }
  }

  function route() {
    const h = decodeURIComponent((location.hash || '').replace(/^#/, ''));
    const slash = h.indexOf('/');
    const tab = slash >= 0 ? h.slice(0, slash) : h;
    const arg = slash >= 0 ? h.slice(slash + 1) : '';
    showTab(tab || 'stats');
    if (app.tab === 'runs') {
      if (arg) openRun(arg);
      else closeRun();
    } else if (app.tab === 'compare') {
      let ids;
      if (arg) ids = arg.split(',').filter(Boolean);
      else if (app.compare) ids = app.compare.ids;
      else ids = selectedRunIds();
      loadCompare(ids);
    }
  }

  // ------------------------------------------------------------------ actions

  function openStartForm() {
    const f = $('form-start');
    $('form-edit').hidden = true;
    const live = app.live || {};
    if (live.host) $('f-host').value = live.host;
    const users = live.target_users || live.users;
    if (users) $('f-users').value = String(users);
    if (live.spawn_rate) $('f-rate').value = String(live.spawn_rate);
    const sc = $('f-scenario');
    sc.textContent = live.scenario ? 'Scenario: ' + live.scenario : '';
    sc.hidden = !live.scenario;
    f.hidden = false;
    $('f-users').focus();
  }

  function openEditForm() {
    const live = app.live || {};
    $('form-start').hidden = true;
    $('e-users').value = String(live.target_users || live.users || 0);
    $('e-rate').value = String(live.spawn_rate || 1);
    $('form-edit').hidden = false;
    $('e-users').focus();
  }

  function readUsers(input) {
    const v = Number(input.value);
    if (!Number.isInteger(v) || v < 0) throw new Error('number of users must be a whole number');
    return v;
  }

  function readRate(input) {
    const v = Number(input.value);
    if (!Number.isFinite(v) || v <= 0) throw new Error('spawn rate must be a positive number');
    return v;
  }

  async function withButton(btn, fn) {
    btn.disabled = true;
    btn.classList.add('busy');
    try {
      await fn();
    } catch (err) {
      showError(err);
    } finally {
      btn.classList.remove('busy');
      btn.disabled = false;
      if (app.live) renderHeader(app.live);
    }
  }

  function bindActions() {
    $('btn-new').addEventListener('click', () => {
      if ($('form-start').hidden) openStartForm();
      else $('form-start').hidden = true;
    });
    $('f-cancel').addEventListener('click', () => { $('form-start').hidden = true; });
    $('form-start').addEventListener('submit', (ev) => {
      ev.preventDefault();
      withButton($('f-submit'), async () => {
        const body = {
          users: readUsers($('f-users')),
          spawn_rate: readRate($('f-rate')),
          host: $('f-host').value.trim(),
          run_time: $('f-runtime').value.trim(),
          label: $('f-label').value.trim(),
        };
        if (body.users < 1) throw new Error('number of users must be at least 1');
        await api('POST', '/api/start', body);
        clearMessage();
        $('form-start').hidden = true;
        $('f-label').value = '';
        if (location.hash !== '#stats') location.hash = '#stats';
        else showTab('stats');
      });
    });

    $('btn-edit').addEventListener('click', () => {
      if ($('form-edit').hidden) openEditForm();
      else $('form-edit').hidden = true;
    });
    $('e-cancel').addEventListener('click', () => { $('form-edit').hidden = true; });
    $('form-edit').addEventListener('submit', (ev) => {
      ev.preventDefault();
      withButton($('e-submit'), async () => {
        await api('POST', '/api/edit', { users: readUsers($('e-users')), spawn_rate: readRate($('e-rate')) });
        clearMessage();
        $('form-edit').hidden = true;
        showMessage('Users and spawn rate updated', 'info');
      });
    });

    $('btn-stop').addEventListener('click', () => {
      withButton($('btn-stop'), async () => {
        await api('POST', '/api/stop', {});
        clearMessage();
      });
    });

    $('btn-reset').addEventListener('click', () => {
      withButton($('btn-reset'), async () => {
        await api('POST', '/api/reset', {});
        showMessage('Statistics reset', 'info');
      });
    });

    $('message-close').addEventListener('click', clearMessage);
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        $('form-start').hidden = true;
        $('form-edit').hidden = true;
      }
    });

    // Runs list
    $('btn-runs-refresh').addEventListener('click', () => loadRuns());
    $('btn-compare').addEventListener('click', () => {
      const ids = selectedRunIds();
      if (ids.length < 2) return;
      location.hash = '#compare/' + ids.map(encodeURIComponent).join(',');
    });
    const runsTable = $('runs-table');
    runsTable.addEventListener('change', (ev) => {
      const cb = ev.target;
      if (!cb.classList || !cb.classList.contains('pick')) return;
      const id = cb.getAttribute('data-id');
      if (cb.checked) app.picks.add(id);
      else app.picks.delete(id);
      updateCompareButton();
    });
    runsTable.addEventListener('click', (ev) => {
      const t = ev.target;
      if (t.closest('input, button, a, label')) {
        const del = t.closest('button.delete-run');
        if (del) deleteRun(del.getAttribute('data-id'));
        return;
      }
      const tr = t.closest('tr.run-row');
      if (tr) location.hash = '#runs/' + encodeURIComponent(tr.getAttribute('data-id'));
    });

    // Run detail
    $('run-meta').addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!app.runDetail) return;
      const id = app.runDetail.id;
      withButton($('run-save'), async () => {
        await api('POST', '/api/runs/' + encodeURIComponent(id) + '/label', {
          label: $('run-label').value.trim(),
          notes: $('run-notes').value,
        });
        showMessage('Saved', 'info');
        const run = app.runDetail && app.runDetail.data && app.runDetail.data.run;
        if (run) {
          run.label = $('run-label').value.trim();
          run.notes = $('run-notes').value;
          renderRunTitle(run);
        }
      });
    });
    $('run-delete').addEventListener('click', () => {
      if (app.runDetail) deleteRun(app.runDetail.id);
    });

    // Compare
    let tolTimer = null;
    $('compare-tolerance').addEventListener('input', () => {
      clearTimeout(tolTimer);
      tolTimer = setTimeout(() => {
        if (app.compare && app.compare.ids.length >= 2) loadCompare(app.compare.ids, true);
      }, 400);
    });

    // Endpoint charts
    bindEndpointRows($('stats-table'), 'endpoint', () => app.live && app.live.run_id);
    bindEndpointRows($('run-stats-table'), 'run-endpoint', () => app.runDetail && app.runDetail.id);
    $('endpoint-close').addEventListener('click', () => closeEndpoint('endpoint'));
    $('run-endpoint-close').addEventListener('click', () => closeEndpoint('run-endpoint'));

    window.addEventListener('hashchange', route);
  }

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
    const s = String(status || '').toLowerCase();
    return '<span class="badge state-' + esc(s.replace(/[^a-z0-9_-]/g, '')) + '">' + esc(status || '\u2014') + '</span>';
  }

  function renderRuns() {
    const table = $('runs-table');
    const head = '<thead><tr><th class="pick-col"><span class="sr-only">Compare</span></th><th>Run</th><th>Status</th><th>Label</th>' +
      '<th>Started</th><th class="num">Duration</th><th class="num">Peak users</th><th class="num">Requests</th>' +
      '<th class="num">Failures</th><th class="num">RPS</th><th class="num">p50 (ms)</th><th class="num">p95 (ms)</th>' +
      '<th class="num">p99 (ms)</th><th></th></tr></thead>';
    const rows = app.runs.map((r) => {
      const id = String(r.id);
      const checked = app.picks.has(id) ? ' checked' : '';
      return '<tr class="run-row" data-id="' + esc(id) + '">' +
        '<td class="pick-col"><input type="checkbox" class="pick" data-id="' + esc(id) + '" aria-label="Select run ' + esc(id) + '"' + checked + '></td>' +
        '<td class="mono"><a href="#runs/' + esc(encodeURIComponent(id)) + '">' + esc(id) + '</a></td>' +
        '<td>' + statusBadge(r.status) + '</td>' +
        '<td class="label-col" title="' + esc(r.notes || '') + '">' + esc(r.label || '') + '</td>' +
        '<td class="mono">' + esc(fmt.time(r.started_at)) + '</td>' +
        '<td class="num">' + fmt.duration(r.duration_s) + '</td>' +
        '<td class="num">' + fmt.num(r.peak_users) + '</td>' +
        '<td class="num">' + fmt.num(r.requests) + '</td>' +
        '<td class="num' + (r.failures > 0 ? ' bad' : '') + '">' + fmt.num(r.failures) + ' (' + fmt.pct(r.failure_pct) + ')</td>' +
        '<td class="num">' + fmt.rate(r.rps) + '</td>' +
        '<td class="num">' + fmt.ms(r.p50_ms) + '</td>' +
        '<td class="num">' + fmt.ms(r.p95_ms) + '</td>' +
        '<td class="num">' + fmt.ms(r.p99_ms) + '</td>' +
        '<td><button type="button" class="link delete-run" data-id="' + esc(id) + '" title="Delete run">Delete</button></td></tr>';
    });
    const body = rows.length ? rows.join('') : '<tr class="empty"><td colspan="14">No runs stored yet</td></tr>';
    table.innerHTML = head + '<tbody>' + body + '</tbody>';
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

  function summaryHTML(pairs) {
    return pairs
      .filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== '')
      .map((p) => '<div><dt>' + esc(p[0]) + '</dt><dd' + (p[2] ? ' class="' + p[2] + '"' : '') + '>' + esc(p[1]) + '</dd></div>')
      .join('');
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
    $('run-summary').innerHTML = summaryHTML([
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
    ]);
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
      if (app.live && app.live.run_id === id) loadFullLive().catch(() => {});
      if (app.runDetail && app.runDetail.id === id) {
        location.hash = '#runs';
      } else {
        loadRuns();
      }
    } catch (err) {
      showError(err);
    }
  }

  // ------------------------------------------------------------------ compare

  function deltaCell(value, absDelta, pctDelta, f, higherIsWorse, tol) {
    let h = '<td class="num">' + f(value);
    if (typeof absDelta === 'number' || typeof pctDelta === 'number') {
      let cls = 'delta';
      const rel = typeof pctDelta === 'number' ? pctDelta : null;
      if (rel !== null && Math.abs(rel) > tol) {
        const worse = higherIsWorse ? rel > 0 : rel < 0;
        cls += worse ? ' worse' : ' better';
      }
      let txt = fmt.signed(absDelta, f);
      if (rel !== null) txt += ' (' + fmt.signed(rel, (v) => v.toFixed(1)) + '%)';
      h += '<span class="' + cls + '">' + esc(txt) + '</span>';
    }
    return h + '</td>';
  }

  function failCell(value, delta) {
    let h = '<td class="num">' + fmt.pct(value);
    if (typeof delta === 'number') {
      const cls = delta > 0 ? 'delta worse' : delta < 0 ? 'delta better' : 'delta';
      h += '<span class="' + cls + '">' + esc(fmt.signed(delta, (v) => v.toFixed(2))) + ' pp</span>';
    }
    return h + '</td>';
  }

  function runName(r) {
    return String(r.id) + (r.label ? ' (' + r.label + ')' : '');
  }

  function renderCompare(data) {
    const runs = Array.isArray(data.runs) ? data.runs : [];
    const tol = typeof data.tolerance_pct === 'number' ? data.tolerance_pct : Number($('compare-tolerance').value) || 0;
    const palette = S.palette;

    // Run summaries
    let h = '<thead><tr><th></th><th>Run</th><th>Label</th><th>Status</th><th>Started</th><th class="num">Duration</th>' +
      '<th class="num">Peak users</th><th class="num">Requests</th><th class="num">Failure %</th><th class="num">RPS</th>' +
      '<th class="num">p50 (ms)</th><th class="num">p95 (ms)</th><th class="num">p99 (ms)</th></tr></thead><tbody>';
    runs.forEach((r, i) => {
      h += '<tr class="compare-run" data-id="' + esc(r.id) + '"><td><span class="swatch" style="background:' + palette[i % palette.length] + '"></span>' +
        (i === 0 ? '<span class="muted small">baseline</span>' : '') + '</td>' +
        '<td class="mono">' + esc(r.id) + '</td><td>' + esc(r.label || '') + '</td><td>' + statusBadge(r.status) + '</td>' +
        '<td class="mono">' + esc(fmt.time(r.started_at)) + '</td><td class="num">' + fmt.duration(r.duration_s) + '</td>' +
        '<td class="num">' + fmt.num(r.peak_users) + '</td><td class="num">' + fmt.num(r.requests) + '</td>' +
        '<td class="num">' + fmt.pct(r.failure_pct) + '</td><td class="num">' + fmt.rate(r.rps) + '</td>' +
        '<td class="num">' + fmt.ms(r.p50_ms) + '</td><td class="num">' + fmt.ms(r.p95_ms) + '</td>' +
        '<td class="num">' + fmt.ms(r.p99_ms) + '</td></tr>';
    });
    $('compare-runs').innerHTML = h + '</tbody>';

    // Per-endpoint table: one column group per run; later runs show deltas to the first.
    const metrics = ['Requests', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'RPS', 'Fail %'];
    h = '<thead><tr><th rowspan="2">Type</th><th rowspan="2">Name</th>';
    runs.forEach((r, i) => {
      h += '<th colspan="' + metrics.length + '" class="group" style="border-top-color:' + palette[i % palette.length] + '">' +
        esc(runName(r)) + (i === 0 ? ' \u00b7 baseline' : '') + '</th>';
    });
    h += '</tr><tr>';
    runs.forEach(() => { for (const m of metrics) h += '<th class="num">' + esc(m) + '</th>'; });
    h += '</tr></thead><tbody>';
    const endpoints = Array.isArray(data.endpoints) ? data.endpoints : [];
    let regressions = typeof data.regressions === 'number' ? data.regressions : 0;
    for (const e of endpoints) {
      if (e.regression && typeof data.regressions !== 'number') regressions++;
      h += '<tr class="cmp-row' + (e.regression ? ' regression' : '') + '" data-method="' + esc(e.method) + '" data-name="' + esc(e.name) + '">' +
        '<td class="method">' + esc(e.method) + '</td><td class="name" title="' + esc(e.name) + '">' + esc(e.name) +
        (e.regression ? ' <span class="badge regression-badge" title="' + esc((e.why || []).join('; ')) + '">regression</span>' : '') +
        (e.regression && e.why && e.why.length ? '<div class="why">' + esc(e.why.join('; ')) + '</div>' : '') + '</td>';
      runs.forEach((_, i) => {
        const v = (e.values || [])[i];
        if (!v) {
          h += '<td class="num missing" colspan="' + metrics.length + '">not in this run</td>';
          return;
        }
        const d = i > 0 ? (e.deltas || [])[i - 1] : null;
        h += '<td class="num">' + fmt.num(v.requests) + '</td>';
        if (d) {
          h += deltaCell(v.p50_ms, d.p50_ms, d.p50_pct, fmt.ms, true, tol);
          h += deltaCell(v.p95_ms, d.p95_ms, d.p95_pct, fmt.ms, true, tol);
          h += deltaCell(v.p99_ms, d.p99_ms, d.p99_pct, fmt.ms, true, tol);
          h += deltaCell(v.rps, d.rps, d.rps_pct, fmt.rate, false, tol);
          h += failCell(v.failure_pct, d.failure_pct);
        } else {
          h += '<td class="num">' + fmt.ms(v.p50_ms) + '</td><td class="num">' + fmt.ms(v.p95_ms) + '</td>' +
            '<td class="num">' + fmt.ms(v.p99_ms) + '</td><td class="num">' + fmt.rate(v.rps) + '</td>' +
            '<td class="num">' + fmt.pct(v.failure_pct) + '</td>';
        }
      });
      h += '</tr>';
    }
    if (!endpoints.length) h += '<tr class="empty"><td colspan="' + (2 + metrics.length * runs.length) + '">No endpoints</td></tr>';
    $('compare-table').innerHTML = h + '</tbody>';

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

  // --------------------------------------------------------------------- boot

  async function boot() {
    setConnected(false);
    app.charts = S.createCharts($('charts'), []);
    app.hostCharts = S.createHostCharts($('host-charts'), []);
    bindActions();
    route();
    try {
      await loadFullLive();
    } catch (err) {
      showError(err);
    }
    connectStream();
  }

  // What the live charts plot, for tests and tools (read only).
  window.stampedeDashboard = {
    series: () => (app.charts && app.charts.columns ? app.charts.columns() : null),
    hosts: () => (app.hostCharts && app.hostCharts.columns ? app.hostCharts.columns() : []),
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
