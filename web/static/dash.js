/*
 * The dashboard's shared state and helpers (Stampede.dash): the app state,
 * the JSON API client with the page's CSRF token, messages, and the header.
 * live.js, runs.js, compare.js and app.js add their functions to it; a
 * function of a later file is called as D.name(), once every file is loaded.
 */
(function () {
  'use strict';

  const S = window.Stampede;
  const { fmt, html, setHTML } = S;
  const $ = (id) => document.getElementById(id);

  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.getAttribute('content') || '' : '';

  const ACTIVE_STATES = new Set(['running', 'spawning', 'ramping']);
  const TABS = ['stats', 'charts', 'failures', 'exceptions', 'slowest', 'workers', 'ratio', 'runs', 'compare'];

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
    const text = bits.join(' \u00b7 ');
    const sep = text && live.error ? ' \u00b7 ' : '';
    setHTML(line, html`${text}${sep}${live.error && html`<span class="bad">${live.error}</span>`}`);
    line.hidden = !text && !live.error;

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

  const D = S.dash = { app, $, ACTIVE_STATES, TABS };
  Object.assign(D, { api, showMessage, showError, clearMessage, setText, runQuery, num, renderHeader, setConnected });
})();
