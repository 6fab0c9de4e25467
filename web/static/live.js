/*
 * The dashboard's live view: the header and the live tabs' tables follow
 * the Server-Sent Events stream (/api/stream); the charts start from the full
 * view (/api/live) and take each streamed point; host charts and the run's
 * event marks are read again while the Charts tab is open.
 */
(function () {
  'use strict';

  const S = window.Stampede;
  const D = S.dash;
  const { html, setHTML } = S;
  const { app, $, api, showError, renderHeader, setConnected, ACTIVE_STATES } = D;

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
    else if (app.tab === 'ratio') D.refreshRatio(false);
    else if (app.tab === 'workers') {
      S.renderWorkersTable($('workers-table'), live.workers);
      const ag = live.agents || [];
      $('agents-section').hidden = ag.length === 0;
      if (ag.length) S.renderWorkersTable($('agents-table'), ag);
    }
    const warn = live.warnings || [];
    const box = $('warnings');
    box.hidden = warn.length === 0;
    setHTML(box, html`${warn.map((w) => html`<div>\u26A0 ${w}</div>`)}`);
    renderThresholds(live);
  }

  // Thresholds as last evaluated on the master (each second, and at the end).
  function renderThresholds(live) {
    const ts = live.thresholds || [];
    const box = $('thresholds');
    box.hidden = ts.length === 0;
    if (!ts.length) {
      setHTML(box, html``);
      return;
    }
    const failed = ts.filter((t) => !t.pass).length;
    const open = live.open_model && html` <span class="muted">(open model: latency from each iteration's due time)</span>`;
    const rows = ts.map((t) => html`<div class="${t.pass ? 'ok' : 'bad'}">${t.pass ? 'PASS' : 'FAIL'} <code>${t.expr}</code> ${
      t.error ? t.error : 'observed ' + (t.observed || '') + (t.limit ? ', limit ' + t.limit : '')}</div>`);
    setHTML(box, html`<div><strong>Thresholds: ${ts.length - failed} passing, ${failed} failing</strong>${open}</div>${rows}`);
  }

  function applyLive(live) {
    const prevState = app.lastState;
    app.live = live;
    app.lastState = String(live.state || '').toLowerCase();
    renderHeader(live);
    renderLivePanels();
    // A run just ended: refresh the run list if it is on screen.
    if (prevState && prevState !== app.lastState && app.tab === 'runs' && !app.runDetail) D.loadRuns();
    if (prevState !== app.lastState) refreshHosts(false);
    // The run is over: its whole series, so the charts end with its last second
    // whatever points the stream coalesced away.
    if (prevState && prevState !== app.lastState && app.lastState === 'stopped') loadFullLive().catch(() => {});
    D.refreshEndpoint(false);
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

  Object.assign(D, { renderLivePanels, renderThresholds, applyLive, loadFullLive, onLiveEvent, connectStream, drawHosts, hostsKey, loadEvents, refreshHosts });
})();
