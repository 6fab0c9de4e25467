/*
 * Stampede live dashboard: tabs and routing (#tab/arg), the start and edit
 * forms, the buttons, and boot. Plain ES2020, no build step: the scripts of
 * web/assets.go load in order before it (the common ones, then dash.js,
 * live.js, runs.js, compare.js), and uPlot (global `uPlot`) for the charts.
 *
 * Data flow: GET /api/live once (full Live object with series), then the
 * Server-Sent Events stream /api/stream ("live" events: Live without series,
 * plus `point`). When run_id changes, /api/live is fetched again so the charts
 * start from the new run's full series.
 */
(function () {
  'use strict';

  const S = window.Stampede;
  const D = S.dash;
  const { app, $, api, showMessage, showError, clearMessage, renderHeader, setConnected, TABS } = D;

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
    D.renderLivePanels();
    if (tab === 'ratio') D.refreshRatio(true);
    if (tab === 'charts' && app.charts) {
      app.charts.resize();
      app.hostCharts.resize();
      D.refreshHosts(true);
    }
  }

  function route() {
    const h = decodeURIComponent((location.hash || '').replace(/^#/, ''));
    const slash = h.indexOf('/');
    const tab = slash >= 0 ? h.slice(0, slash) : h;
    const arg = slash >= 0 ? h.slice(slash + 1) : '';
    showTab(tab || 'stats');
    if (app.tab === 'runs') {
      if (arg) D.openRun(arg);
      else D.closeRun();
    } else if (app.tab === 'compare') {
      let ids;
      if (arg) ids = arg.split(',').filter(Boolean);
      else if (app.compare) ids = app.compare.ids;
      else ids = D.selectedRunIds();
      D.loadCompare(ids);
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
    $('btn-runs-refresh').addEventListener('click', () => D.loadRuns());
    $('btn-compare').addEventListener('click', () => {
      const ids = D.selectedRunIds();
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
      D.updateCompareButton();
    });
    runsTable.addEventListener('click', (ev) => {
      const t = ev.target;
      if (t.closest('input, button, a, label')) {
        const del = t.closest('button.delete-run');
        if (del) D.deleteRun(del.getAttribute('data-id'));
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
          D.renderRunTitle(run);
        }
      });
    });
    $('run-delete').addEventListener('click', () => {
      if (app.runDetail) D.deleteRun(app.runDetail.id);
    });

    // Compare
    let tolTimer = null;
    $('compare-tolerance').addEventListener('input', () => {
      clearTimeout(tolTimer);
      tolTimer = setTimeout(() => {
        if (app.compare && app.compare.ids.length >= 2) D.loadCompare(app.compare.ids, true);
      }, 400);
    });

    // Endpoint charts
    D.bindEndpointRows($('stats-table'), 'endpoint', () => app.live && app.live.run_id);
    D.bindEndpointRows($('run-stats-table'), 'run-endpoint', () => app.runDetail && app.runDetail.id);
    $('endpoint-close').addEventListener('click', () => D.closeEndpoint('endpoint'));
    $('run-endpoint-close').addEventListener('click', () => D.closeEndpoint('run-endpoint'));

    window.addEventListener('hashchange', route);
  }
  // --------------------------------------------------------------------- boot

  async function boot() {
    setConnected(false);
    app.charts = S.createCharts($('charts'), []);
    app.hostCharts = S.createHostCharts($('host-charts'), []);
    bindActions();
    route();
    try {
      await D.loadFullLive();
    } catch (err) {
      showError(err);
    }
    D.connectStream();
  }

  // What the live charts plot, for tests and tools (read only).
  window.stampedeDashboard = {
    series: () => (app.charts && app.charts.columns ? app.charts.columns() : null),
    hosts: () => (app.hostCharts && app.hostCharts.columns ? app.hostCharts.columns() : []),
    scales: () => (app.charts && app.charts.scales ? app.charts.scales() : []),
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
