/*
 * Stampede shared rendering: used by the live dashboard (app.js) and inlined
 * into the self-contained HTML report (report.js). Plain ES2020, no modules,
 * no network access: everything hangs off the global `Stampede` object.
 *
 * Contents:
 *   Stampede.fmt            number / time / size formatting
 *   Stampede.esc            HTML escaping for text and attribute values
 *   Stampede.renderStatsTable(table, endpoints, total, opts)   sortable stats table
 *   Stampede.renderFailuresTable(table, errors)
 *   Stampede.renderWorkersTable(table, workers)
 *   Stampede.renderEventsTable(table, events)
 *   Stampede.renderExceptionsTable(table, exceptions), renderCountersTable(table, counters)
 *   Stampede.renderKeyValues(table, object)
 *   Stampede.createCharts(container, series, opts)     -> {setData, append, setEvents, resize, destroy}
 *   Stampede.createOverlayCharts(container, runs, opts) -> {setData, resize, destroy}
 *   Stampede.createHostCharts(container, hosts, opts)   -> {setData, setEvents, resize, destroy}
 *   Stampede.chartsAvailable()
 *
 * Every chart zooms on a drag (double click or "Reset zoom" undoes it, on
 * every chart of its set) and has a PNG download; run events are marked on
 * the time axis.
 *
 * Series points are {t, span_s, users, rps, fail_per_s, p50_ms, p95_ms, p99_ms,
 * gap}: `t` is the end of the point's span, its rates are averaged over that
 * span, and a gap point (no worker reported) breaks the lines. `t` may be
 * unix seconds, unix milliseconds, an RFC 3339 string, or seconds since the
 * start of the run (any number below 1e9).
 */
(function (global) {
  'use strict';

  // ---------------------------------------------------------------- formatting

  const DASH = '\u2014';

  function isNum(v) {
    return typeof v === 'number' && Number.isFinite(v);
  }

  function group(intStr) {
    return intStr.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  const fmt = {
    /** Integer count with thousands separators. */
    num(v) {
      if (!isNum(v)) return DASH;
      return group(String(Math.round(v)));
    },
    /** Milliseconds without unit, precision depending on magnitude. */
    ms(v) {
      if (!isNum(v)) return DASH;
      const a = Math.abs(v);
      if (a === 0) return '0';
      if (a < 10) return v.toFixed(2);
      if (a < 100) return v.toFixed(1);
      return group(String(Math.round(v)));
    },
    /** Milliseconds with a unit; switches to seconds from 10 s. */
    msUnit(v) {
      if (!isNum(v)) return DASH;
      if (Math.abs(v) >= 10000) return (v / 1000).toFixed(1) + ' s';
      return fmt.ms(v) + ' ms';
    },
    /** A rate (per second). */
    rate(v) {
      if (!isNum(v)) return DASH;
      const a = Math.abs(v);
      if (a === 0) return '0';
      if (a < 10) return v.toFixed(2);
      if (a < 1000) return v.toFixed(1);
      return group(String(Math.round(v)));
    },
    /** Byte size, binary units. */
    bytes(v) {
      if (!isNum(v)) return DASH;
      const a = Math.abs(v);
      if (a < 1024) return Math.round(v) + ' B';
      const units = ['KiB', 'MiB', 'GiB', 'TiB'];
      let x = v / 1024;
      let i = 0;
      while (Math.abs(x) >= 1024 && i < units.length - 1) {
        x /= 1024;
        i++;
      }
      return (Math.abs(x) < 10 ? x.toFixed(1) : String(Math.round(x))) + ' ' + units[i];
    },
    /** A value that already is a percentage (12.5 -> "12.5%"). */
    pct(v) {
      if (!isNum(v)) return DASH;
      const a = Math.abs(v);
      if (a === 0) return '0%';
      if (a < 0.01) return (v < 0 ? '>-' : '<') + '0.01%';
      if (a < 10) return v.toFixed(2) + '%';
      return v.toFixed(1) + '%';
    },
    /** Number with an explicit sign, formatted by f. */
    signed(v, f) {
      if (!isNum(v)) return DASH;
      const s = (f || fmt.ms)(v);
      return v > 0 ? '+' + s : s;
    },
    /** Duration in seconds -> "1h02m03s", "5m07s", "42s", "1.5s". */
    duration(s) {
      if (!isNum(s) || s < 0) return DASH;
      if (s < 10 && s % 1 !== 0) return s.toFixed(1) + 's';
      s = Math.round(s);
      const h = Math.floor(s / 3600);
      const m = Math.floor((s % 3600) / 60);
      const sec = s % 60;
      const p2 = (n) => String(n).padStart(2, '0');
      if (h > 0) return h + 'h' + p2(m) + 'm' + p2(sec) + 's';
      if (m > 0) return m + 'm' + p2(sec) + 's';
      return sec + 's';
    },
    /** Elapsed seconds as m:ss or h:mm:ss (chart axes). */
    clock(s) {
      if (!isNum(s)) return '';
      const neg = s < 0;
      s = Math.round(Math.abs(s));
      const h = Math.floor(s / 3600);
      const m = Math.floor((s % 3600) / 60);
      const sec = s % 60;
      const p2 = (n) => String(n).padStart(2, '0');
      return (neg ? '-' : '') + (h > 0 ? h + ':' + p2(m) + ':' + p2(sec) : m + ':' + p2(sec));
    },
    /** Timestamp (RFC 3339 string or unix seconds/ms) -> local "YYYY-MM-DD HH:MM:SS". */
    time(v) {
      const d = toDate(v);
      if (!d) return DASH;
      const p2 = (n) => String(n).padStart(2, '0');
      return d.getFullYear() + '-' + p2(d.getMonth() + 1) + '-' + p2(d.getDate()) + ' ' +
        p2(d.getHours()) + ':' + p2(d.getMinutes()) + ':' + p2(d.getSeconds());
    },
  };

  function toDate(v) {
    if (v === null || v === undefined || v === '') return null;
    let d;
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || v <= 0) return null;
      d = new Date(v > 1e12 ? v : v * 1000);
    } else {
      d = new Date(v);
    }
    if (isNaN(d.getTime()) || d.getFullYear() < 1971) return null; // Go zero time etc.
    return d;
  }

  /** Converts a series point's `t` to a number of seconds (absolute or elapsed). */
  function toSeconds(t) {
    if (typeof t === 'number') return t > 1e12 ? t / 1000 : t;
    if (typeof t === 'string' && t !== '') {
      const n = Number(t);
      if (Number.isFinite(n)) return toSeconds(n);
      const ms = Date.parse(t);
      return isNaN(ms) ? null : ms / 1000;
    }
    return null;
  }

  // ------------------------------------------------------------------ escaping

  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(v) {
    if (v === null || v === undefined) return '';
    return String(v).replace(/[&<>"']/g, (c) => ESC[c]);
  }

  // ------------------------------------------------------------- table helpers

  /** Returns the table's thead and tbody, creating them once. */
  function sections(table) {
    let thead = table.tHead || (table.querySelector && table.querySelector('thead'));
    let tbody = (table.tBodies && table.tBodies[0]) || (table.querySelector && table.querySelector('tbody'));
    if (!thead || !tbody) {
      table.innerHTML = '';
      thead = table.ownerDocument ? table.ownerDocument.createElement('thead') : document.createElement('thead');
      tbody = table.ownerDocument ? table.ownerDocument.createElement('tbody') : document.createElement('tbody');
      table.appendChild(thead);
      table.appendChild(tbody);
    }
    return { thead, tbody };
  }

  function setHTML(el, html) {
    // Skip identical updates: cheaper than re-parsing and keeps selections.
    if (el._stampedeHTML === html) return;
    el._stampedeHTML = html;
    el.innerHTML = html;
  }

  function present(v) {
    return v !== null && v !== undefined;
  }

  // ---------------------------------------------------------------- stats table

  const STAT_COLS = [
    { key: 'method', label: 'Type', text: true },
    { key: 'name', label: 'Name', text: true },
    { key: 'requests', label: '# Requests', f: fmt.num },
    { key: 'failures', label: '# Fails', f: fmt.num },
    { key: 'median_ms', label: 'Median (ms)', f: fmt.ms },
    { key: 'p90_ms', label: '90%ile (ms)', f: fmt.ms },
    { key: 'p95_ms', label: '95%ile (ms)', f: fmt.ms },
    { key: 'p99_ms', label: '99%ile (ms)', f: fmt.ms },
    { key: 'p99_9_ms', label: '99.9%ile (ms)', f: fmt.ms },
    { key: 'avg_ms', label: 'Average (ms)', f: fmt.ms },
    { key: 'min_ms', label: 'Min (ms)', f: fmt.ms },
    { key: 'max_ms', label: 'Max (ms)', f: fmt.ms },
    { key: 'avg_size_bytes', label: 'Avg size', f: fmt.bytes },
  ];
  // Open-model runs measure latency from each iteration's due time and keep the
  // service time (from sending) beside it; paced closed-model users also get
  // latency corrected for coordinated omission. Shown only when measured.
  const EXTRA_COLS = [
    { key: 'service_p95_ms', label: 'Service 95%ile (ms)', f: fmt.ms, from: 'service', field: 'p95_ms' },
    { key: 'service_p99_ms', label: 'Service 99%ile (ms)', f: fmt.ms, from: 'service', field: 'p99_ms' },
    { key: 'co_p95_ms', label: 'CO-corrected 95%ile (ms)', f: fmt.ms, from: 'co_corrected', field: 'p95_ms' },
    { key: 'co_p99_ms', label: 'CO-corrected 99%ile (ms)', f: fmt.ms, from: 'co_corrected', field: 'p99_ms' },
  ];

  /** Copies the nested service / co_corrected figures onto the row as flat keys. */
  function flattenExtras(r) {
    if (!r || (!r.service && !r.co_corrected)) return r;
    const o = Object.assign({}, r);
    for (const c of EXTRA_COLS) if (r[c.from]) o[c.key] = r[c.from][c.field];
    return o;
  }

  const CURRENT_COLS = [
    { key: 'current_rps', label: 'Current RPS', f: fmt.rate, current: true },
    { key: 'current_fail_per_s', label: 'Current failures/s', f: fmt.rate, current: true },
  ];
  const OVERALL_COLS = [
    { key: 'rps', label: 'RPS', f: fmt.rate },
    { key: 'failures_per_s', label: 'Failures/s', f: fmt.rate },
  ];

  function anyHas(rows, total, key) {
    if (total && present(total[key])) return true;
    for (let i = 0; i < rows.length; i++) if (present(rows[i][key])) return true;
    return false;
  }

  function compareBy(key, text, dir) {
    return (a, b) => {
      let x = a[key];
      let y = b[key];
      let r;
      if (text) {
        r = String(x === undefined || x === null ? '' : x).localeCompare(String(y === undefined || y === null ? '' : y));
      } else {
        // Missing values sort last whatever the direction.
        const xm = !isNum(x);
        const ym = !isNum(y);
        if (xm || ym) return xm === ym ? 0 : xm ? 1 : -1;
        r = x - y;
      }
      if (r === 0 && key !== 'name') {
        r = String(a.name || '').localeCompare(String(b.name || ''));
        return r; // tie-break always ascending by name
      }
      return dir * r;
    };
  }

  function headerHTML(cols, sort) {
    let h = '<tr>';
    for (const c of cols) {
      let cls = c.text ? 'sortable' : 'sortable num';
      let aria = 'none';
      let arrow = '';
      if (sort && sort.key === c.key) {
        cls += sort.dir > 0 ? ' sorted-asc' : ' sorted-desc';
        aria = sort.dir > 0 ? 'ascending' : 'descending';
        arrow = sort.dir > 0 ? ' \u25B2' : ' \u25BC';
      }
      h += '<th class="' + cls + '" data-key="' + esc(c.key) + '" aria-sort="' + aria +
        '" title="Sort by ' + esc(c.label) + '">' + esc(c.label) + '<span class="arrow">' + arrow + '</span></th>';
    }
    return h + '</tr>';
  }

  const BAD_KEYS = new Set(['failures', 'current_fail_per_s', 'failures_per_s']);

  /**
   * Formats one row: the text of each numeric cell and its class. Text
   * columns (Type, Name) are part of the row's identity and never patched.
   */
  function rowModel(r, cols, zeroCurrent) {
    const text = new Array(cols.length);
    const cls = new Array(cols.length);
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i];
      if (c.text) continue;
      let v = r[c.key];
      if (zeroCurrent && c.current && !present(v)) v = 0;
      text[i] = c.f(v);
      cls[i] = BAD_KEYS.has(c.key) && v > 0 ? 'num bad' : 'num';
    }
    return { text, cls };
  }

  function rowHTML(cls, r, m, cols) {
    let h = '<tr class="' + cls + '" data-method="' + esc(r.method) + '" data-name="' + esc(r.name) + '">';
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i];
      if (c.key === 'name') h += '<td class="name" title="' + esc(r.name) + '">' + esc(r.name) + '</td>';
      else if (c.text) h += '<td class="method">' + esc(r[c.key]) + '</td>';
      else h += '<td class="' + m.cls[i] + '">' + esc(m.text[i]) + '</td>';
    }
    return h + '</tr>';
  }

  /** Updates only the cells whose text or class changed; false when the DOM is not as expected. */
  function patchRows(tbody, prev, models, cols) {
    const trs = tbody.rows;
    if (!trs || trs.length !== models.length) return false;
    for (let r = 0; r < models.length; r++) {
      const a = prev[r];
      const b = models[r];
      let cells = null;
      for (let i = 0; i < cols.length; i++) {
        if (cols[i].text) continue;
        if (a.text[i] !== b.text[i] || a.cls[i] !== b.cls[i]) {
          cells = cells || trs[r].cells;
          const td = cells[i];
          if (!td) return false;
          if (a.text[i] !== b.text[i]) td.textContent = b.text[i];
          if (a.cls[i] !== b.cls[i]) td.className = b.cls[i];
        }
      }
    }
    return true;
  }

  /**
   * Renders the per-endpoint statistics into `table` (a <table>). Clicking a
   * header sorts by that column (numbers descending first, text ascending
   * first; a second click reverses). The total row always stays at the bottom.
   *
   * Each update formats every row once; when the rows (identity and order)
   * and columns are unchanged, only changed cells are touched, otherwise the
   * tbody is rebuilt from one HTML string.
   *
   * opts.current: true/false forces the "Current RPS / Current failures/s"
   * columns (forced on, a missing value reads as 0, as the server omits
   * zeros); left undefined they appear when any row carries them. Without
   * them, overall "RPS / Failures/s" columns appear when rows carry `rps`.
   * opts.empty: text for the empty table.
   */
  function renderStatsTable(table, endpoints, total, opts) {
    opts = opts || {};
    const rows = (Array.isArray(endpoints) ? endpoints : []).map(flattenExtras);
    total = flattenExtras(total);
    let st = table._stampedeStats;
    if (!st) {
      st = table._stampedeStats = { sort: null, rows: [], total: null, opts: {}, prev: null };
      if (table.addEventListener) {
        table.addEventListener('click', (ev) => {
          const th = ev.target && ev.target.closest ? ev.target.closest('th[data-key]') : null;
          if (!th) return;
          const key = th.getAttribute('data-key');
          const col = STAT_COLS.concat(EXTRA_COLS, CURRENT_COLS, OVERALL_COLS).find((c) => c.key === key);
          if (st.sort && st.sort.key === key) st.sort = { key, dir: -st.sort.dir, text: st.sort.text };
          else st.sort = { key, dir: col && col.text ? 1 : -1, text: !!(col && col.text) };
          renderStatsTable(table, st.rows, st.total, st.opts);
        });
      }
    }
    st.rows = rows;
    st.total = total || null;
    st.opts = opts;

    let showCurrent = opts.current;
    if (showCurrent === undefined) showCurrent = anyHas(rows, total, 'current_rps');
    let cols = STAT_COLS.concat(EXTRA_COLS.filter((c) => anyHas(rows, total, c.key)));
    if (showCurrent) cols = cols.concat(CURRENT_COLS);
    else if (anyHas(rows, total, 'rps')) cols = cols.concat(OVERALL_COLS);

    const { thead, tbody } = sections(table);
    setHTML(thead, headerHTML(cols, st.sort));

    let sorted = rows;
    if (st.sort && cols.some((c) => c.key === st.sort.key)) {
      sorted = rows.slice().sort(compareBy(st.sort.key, st.sort.text, st.sort.dir));
    }

    const keys = new Array(sorted.length);
    const models = new Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      const r = sorted[i];
      keys[i] = (r.method || '') + '\u0000' + (r.name || '');
      models[i] = rowModel(r, cols, showCurrent === true);
    }
    const t = total ? Object.assign({}, total, { method: '', name: 'Aggregated' }) : null;
    if (t) models.push(rowModel(t, cols, showCurrent === true));
    const shape = cols.map((c) => c.key).join(',') + (t ? '+total' : '') + '|' + (opts.empty || '');

    const prev = st.prev;
    if (prev && prev.tbody === tbody && prev.shape === shape && sorted.length > 0 &&
        prev.keys.length === keys.length && prev.keys.every((k, i) => k === keys[i]) &&
        patchRows(tbody, prev.models, models, cols)) {
      st.prev = { tbody, shape, keys, models };
      return;
    }

    const parts = new Array(sorted.length + 2);
    let n = 0;
    for (let i = 0; i < sorted.length; i++) parts[n++] = rowHTML('row', sorted[i], models[i], cols);
    if (sorted.length === 0) {
      parts[n++] = '<tr class="empty"><td colspan="' + cols.length + '">' + esc(opts.empty || 'No requests yet') + '</td></tr>';
    }
    if (t) parts[n++] = rowHTML('total', t, models[models.length - 1], cols);
    parts.length = n;
    tbody.innerHTML = parts.join('');
    st.prev = { tbody, shape, keys, models };
  }

  // ------------------------------------------------------------ other tables

  function simpleTable(table, head, bodyRows, emptyText) {
    const { thead, tbody } = sections(table);
    let h = '<tr>';
    for (const c of head) h += '<th' + (c.num ? ' class="num"' : '') + '>' + esc(c.label) + '</th>';
    setHTML(thead, h + '</tr>');
    if (bodyRows.length === 0) {
      setHTML(tbody, '<tr class="empty"><td colspan="' + head.length + '">' + esc(emptyText) + '</td></tr>');
    } else {
      setHTML(tbody, bodyRows.join(''));
    }
  }

  /** Failures grouped by endpoint + error message, most frequent first. */
  function renderFailuresTable(table, errors) {
    const list = (Array.isArray(errors) ? errors : []).slice().sort((a, b) => (b.count || 0) - (a.count || 0));
    const rows = list.map((e) =>
      '<tr class="failure-row" data-name="' + esc(e.name) + '">' +
      '<td class="num">' + fmt.num(e.count) + '</td>' +
      '<td class="method">' + esc(e.method) + '</td>' +
      '<td class="name" title="' + esc(e.name) + '">' + esc(e.name) + '</td>' +
      '<td class="msg"><pre>' + esc(e.message) + '</pre></td></tr>');
    simpleTable(table, [
      { label: '# Failures', num: true }, { label: 'Type' }, { label: 'Name' }, { label: 'Message' },
    ], rows, 'No failures');
  }

  /** Connected workers. */
  // Workers speaking Locust's protocol bucket response times before the master
  // sees them (pkg/report.RoundedNote).
  const ROUNDED_NOTE = 'rounded by Locust worker';
  function rounded(w) {
    return !!w && (w.kind === 'locust' || w.kind === 'boomer');
  }

  /** The note to show beside statistics that Locust or boomer workers fed, or ''. */
  function roundedNote(workers) {
    return (Array.isArray(workers) ? workers : []).some(rounded)
      ? 'Response times from Locust and boomer workers are ' + ROUNDED_NOTE +
        ' (1 ms below 100 ms, 10 ms below 1 s, 100 ms below 10 s, 1 s above): their percentiles are no finer than that.'
      : '';
  }

  function renderWorkersTable(table, workers) {
    const list = Array.isArray(workers) ? workers : [];
    const rows = list.map((w) => {
      const age = w.last_report_age_s;
      const known = isNum(age) && age >= 0;
      const stale = w.late === true; // the master says so: only a worker that owes reports is late
      return '<tr class="worker-row' + (stale ? ' stale' : '') + '" data-id="' + esc(w.id) + '">' +
        '<td class="mono">' + esc(w.id) + '</td>' +
        '<td>' + esc(w.host) + '</td>' +
        '<td class="mono">' + esc(w.addr) + '</td>' +
        '<td>' + esc(w.version) + '</td>' +
        '<td' + (rounded(w) ? ' title="Locust protocol: response times ' + esc(ROUNDED_NOTE) + ' (about 2 significant digits)"' : '') + '>' +
          esc(w.kind || DASH) + (rounded(w) ? ' <span class="muted">(rounded)</span>' : '') + '</td>' +
        '<td class="num">' + fmt.num(w.cores) + '</td>' +
        '<td class="num">' + fmt.bytes(w.memory_bytes) + '</td>' +
        '<td><span class="badge state-' + esc(String(w.state || '').toLowerCase()) + '">' + esc(w.state) + '</span></td>' +
        '<td class="num">' + fmt.num(w.users) + '</td>' +
        '<td class="num' + (w.saturated ? ' regression' : '') + '">' + (isNum(w.cpu_percent) ? w.cpu_percent.toFixed(0) + ' %' : DASH) + '</td>' +
        '<td class="num">' + (isNum(w.process_cpu_percent) ? w.process_cpu_percent.toFixed(0) + ' %' : DASH) + '</td>' +
        '<td class="num">' + (w.mem_total ? fmt.bytes(w.mem_used) + ' / ' + fmt.bytes(w.mem_total) : DASH) + '</td>' +
        '<td class="num">' + (isNum(w.sched_lag_p99_ms) ? fmt.ms(w.sched_lag_p99_ms) + ' ms' : DASH) + '</td>' +
        '<td>' + (w.gpus ? esc(w.gpus + ' GPU, ' + Number(w.gpu_util || 0).toFixed(0) + ' %') : esc(w.gpu_status || DASH)) + '</td>' +
        '<td class="num">' + (known ? age.toFixed(1) + ' s' : DASH) + '</td></tr>';
    });
    simpleTable(table, [
      { label: 'ID' }, { label: 'Host' }, { label: 'Address' }, { label: 'Version' }, { label: 'Kind' },
      { label: 'Cores', num: true }, { label: 'Memory', num: true }, { label: 'State' },
      { label: 'Users', num: true }, { label: 'Host CPU', num: true }, { label: 'Process CPU', num: true },
      { label: 'Memory used', num: true }, { label: 'Sched lag p99', num: true }, { label: 'GPU' },
      { label: 'Last report', num: true },
    ], rows, 'No workers connected');
  }

  /** Errors raised by tasks (script exceptions), most frequent first, with traceback. */
  function renderExceptionsTable(table, exceptions) {
    const list = (Array.isArray(exceptions) ? exceptions : []).slice().sort((a, b) => (b.count || 0) - (a.count || 0));
    const rows = list.map((e) =>
      '<tr class="exception-row">' +
      '<td class="num">' + fmt.num(e.count) + '</td>' +
      '<td class="msg"><pre>' + esc(e.message) + '</pre></td>' +
      '<td class="msg">' + (e.traceback ? '<details><summary>traceback</summary><pre>' + esc(e.traceback) + '</pre></details>' : '') +
      '</td></tr>');
    simpleTable(table, [{ label: '# Exceptions', num: true }, { label: 'Message' }, { label: 'Traceback' }], rows, 'No exceptions');
  }

  /** The slowest requests: URL, latency, worker. */
  function renderSlowestTable(table, slowest) {
    const list = Array.isArray(slowest) ? slowest : [];
    const rows = list.map((r) =>
      '<tr class="slow-row">' +
      '<td class="num">' + esc(fmt.msUnit(r.latency_ms)) + '</td>' +
      '<td>' + esc(r.method) + '</td>' +
      '<td class="mono">' + esc(r.name) + '</td>' +
      '<td class="mono">' + esc(r.url || '') + '</td>' +
      '<td class="mono">' + esc(r.worker || '') + '</td>' +
      '<td class="mono">' + esc(r.at ? fmt.time(r.at) : '') + '</td>' +
      '<td class="msg">' + esc(r.error || '') + '</td></tr>');
    simpleTable(table, [{ label: 'Latency', num: true }, { label: 'Type' }, { label: 'Name' }, { label: 'URL' },
      { label: 'Worker' }, { label: 'Completed' }, { label: 'Error' }], rows, 'No requests yet');
  }

  /** Custom counters incremented by the script. */
  function renderCountersTable(table, counters) {
    const list = Array.isArray(counters) ? counters : [];
    const rows = list.map((c) =>
      '<tr class="counter-row" data-name="' + esc(c.name) + '"><td>' + esc(c.name) + '</td><td class="num">' + fmt.num(c.value) + '</td></tr>');
    simpleTable(table, [{ label: 'Counter' }, { label: 'Value', num: true }], rows, 'No counters');
  }

  /** Run events (state changes, workers joining/leaving, ...). */
  function renderEventsTable(table, events) {
    const list = Array.isArray(events) ? events : [];
    const rows = list.map((e) =>
      '<tr class="event-row kind-' + esc(String(e.kind || '').toLowerCase().replace(/[^a-z0-9_-]/g, '')) + '">' +
      '<td class="mono">' + esc(fmt.time(e.at)) + '</td>' +
      '<td class="num mono">' + (isNum(e.t) ? '+' + esc(fmt.clock(e.t)) : '') + '</td>' +
      '<td>' + esc(e.kind) + '</td>' +
      '<td class="mono">' + esc(e.worker) + '</td>' +
      '<td>' + esc(e.detail) + '</td></tr>');
    simpleTable(table, [{ label: 'Time' }, { label: 'Elapsed', num: true }, { label: 'Event' }, { label: 'Worker' }, { label: 'Detail' }], rows, 'No events');
  }

  /** Key/value table for a configuration object; nested values as JSON. */
  function renderKeyValues(table, obj) {
    const rows = [];
    if (obj && typeof obj === 'object') {
      for (const k of Object.keys(obj)) {
        const v = obj[k];
        let s;
        if (v === null || v === undefined) s = '';
        else if (typeof v === 'object') s = JSON.stringify(v);
        else s = String(v);
        rows.push('<tr><th scope="row">' + esc(k) + '</th><td class="mono">' + esc(s) + '</td></tr>');
      }
    }
    const { thead, tbody } = sections(table);
    setHTML(thead, '');
    setHTML(tbody, rows.length ? rows.join('') : '<tr class="empty"><td colspan="2">No configuration recorded</td></tr>');
  }

  // -------------------------------------------------------------------- charts

  const COLORS = {
    rps: '#2e7d32', fail: '#c62828', p50: '#1565c0', p95: '#ef6c00', p99: '#6a1b9a', users: '#00838f',
  };
  const PALETTE = ['#2e7d32', '#1565c0', '#ef6c00', '#6a1b9a', '#c62828', '#00838f', '#827717', '#5d4037', '#ad1457', '#37474f'];
  const CHART_HEIGHT = 230;
  const MAX_POINTS = 86400; // a day at one point per second

  function chartsAvailable() {
    return typeof global.uPlot === 'function';
  }

  function unavailable(container) {
    container.innerHTML = '<div class="notice charts-unavailable" role="status">charts unavailable: run make web</div>';
  }

  function chartWidth(container) {
    const w = container.clientWidth || 0;
    return Math.max(300, Math.floor(w > 0 ? w - 2 : 800));
  }

  function numOrNull(v) {
    return isNum(v) ? v : null;
  }

  const INT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000,
    1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

  function yAxis(f) {
    return {
      size: 64,
      values: (u, splits) => splits.map((v) => (v === null ? '' : f(v))),
      grid: { stroke: '#eceff1' },
      ticks: { stroke: '#cfd8dc' },
    };
  }

  // Y scales start at zero so that changes are not exaggerated.
  function yFromZero(u, dataMin, dataMax) {
    const max = dataMax === null || !(dataMax > 0) ? 1 : dataMax;
    return global.uPlot.rangeNum(0, max, 0.1, true);
  }

  // Elapsed-time ticks fall on whole seconds/minutes/hours.
  const ELAPSED_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  function xAxis(mode) {
    const a = { grid: { stroke: '#eceff1' }, ticks: { stroke: '#cfd8dc' } };
    if (mode === 'elapsed') {
      a.incrs = ELAPSED_INCRS;
      a.values = (u, splits) => splits.map((v) => fmt.clock(v));
    }
    return a;
  }

  function xSeries(mode) {
    if (mode === 'elapsed') return { label: 'Elapsed', value: (u, v) => (v === null ? DASH : fmt.clock(v)) };
    return { label: 'Time', value: (u, v) => (v === null ? DASH : fmt.time(v)) };
  }

  function lineSeries(label, color, f, extra) {
    return Object.assign({
      label,
      stroke: color,
      _color: color, // for the PNG's legend
      width: 2,
      points: { show: false },
      spanGaps: true,
      value: (u, v) => (v === null || v === undefined ? DASH : f(v)),
    }, extra || {});
  }

  // ------------------------------------------------- chart groups: zoom, PNG, events

  // Run events marked on the charts' time axis: colour and short label per kind.
  const EVENT_MARKS = {
    edited: { color: '#1565c0', label: 'edited' },
    stats_reset: { color: '#6a1b9a', label: 'stats reset' },
    worker_joined: { color: '#2e7d32', label: 'worker joined' },
    worker_left: { color: '#607d8b', label: 'worker left' },
    worker_draining: { color: '#607d8b', label: 'worker draining' },
    worker_lost: { color: '#c62828', label: 'worker lost' },
    worker_failed: { color: '#c62828', label: 'worker failed' },
    generator_saturated: { color: '#ef6c00', label: 'saturated' },
    generator_lagging: { color: '#ef6c00', label: 'lagging' },
    generator_recovered: { color: '#00838f', label: 'recovered' },
    threshold_abort: { color: '#c62828', label: 'threshold abort' },
  };

  /** The events worth a mark: known kinds, workers joining at the start left out. */
  function markedEvents(events) {
    return (Array.isArray(events) ? events : []).filter((e) =>
      e && EVENT_MARKS[e.kind] && !(e.kind === 'worker_joined' && !(e.t > 1)));
  }

  /**
   * A set of charts sharing their x axis: a drag on one zooms them all (a
   * double click or "Reset zoom" undoes it), each has a PNG download, and the
   * run's events are marked on every one.
   */
  function chartGroup() {
    const g = { plots: [], els: [], events: [], zoom: null, mode: 'elapsed' };
    g.eventX = (e) => (g.mode === 'elapsed' ? (isNum(e.t) ? e.t : null) : toSeconds(e.at));
    g.setZoom = (z) => {
      g.zoom = z;
      g.els.forEach((el) => {
        const b = el.querySelector('.chart-reset');
        if (b) b.hidden = !z;
      });
      g.plots.forEach((p) => {
        if (z) p.setScale('x', { min: z.min, max: z.max });
        else p.setData(p.data, true);
      });
    };
    g.setData = (p, data) => {
      p.setData(data, !g.zoom);
      if (g.zoom) p.setScale('x', { min: g.zoom.min, max: g.zoom.max });
    };
    g.setEvents = (events) => {
      g.events = markedEvents(events);
      g.plots.forEach((p) => p.redraw(false));
    };
    g.destroy = () => {
      g.plots.forEach((p) => p.destroy());
      g.plots = [];
      g.els = [];
    };
    return g;
  }

  // Draws the group's events as dashed vertical lines, labelled at the top.
  function eventsPlugin(g) {
    return {
      hooks: {
        draw: [(u) => {
          if (!g.events.length) return;
          const ctx = u.ctx;
          const { left, top, width, height } = u.bbox;
          const px = global.devicePixelRatio || 1;
          ctx.save();
          ctx.lineWidth = px;
          ctx.setLineDash([4 * px, 3 * px]);
          ctx.font = (10 * px) + 'px system-ui, sans-serif';
          let lastLabel = -1e9;
          for (const e of g.events) {
            const t = g.eventX(e);
            if (t === null || t < u.scales.x.min || t > u.scales.x.max) continue;
            const x = Math.round(u.valToPos(t, 'x', true));
            if (x < left || x > left + width) continue;
            const m = EVENT_MARKS[e.kind];
            ctx.strokeStyle = m.color;
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            if (x - lastLabel > 60 * px) { // labels do not overlap; the line says enough
              ctx.fillStyle = m.color;
              ctx.fillText(m.label, Math.min(x + 3 * px, left + width - 50 * px), top + 11 * px);
              lastLabel = x;
            }
          }
          ctx.restore();
        }],
      },
    };
  }

  // Drag to zoom: the selection becomes the group's x range, on every chart.
  function zoomHooks(g) {
    return {
      setSelect: [(u) => {
        const s = u.select;
        if (s.width > 3) {
          const min = u.posToVal(s.left, 'x');
          const max = u.posToVal(s.left + s.width, 'x');
          if (max > min) g.setZoom({ min, max });
        }
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      }],
    };
  }

  /** Saves a chart as PNG: its title, the plot (with event marks) and a legend. */
  function savePNG(u, title, file) {
    const src = u.ctx.canvas;
    const px = src.width / Math.max(1, u.width);
    const pad = 10 * px;
    const head = 26 * px;
    const foot = 24 * px;
    const c = document.createElement('canvas');
    c.width = src.width;
    c.height = src.height + head + foot;
    const x = c.getContext('2d');
    x.fillStyle = '#ffffff';
    x.fillRect(0, 0, c.width, c.height);
    x.fillStyle = '#37474f';
    x.font = '600 ' + (14 * px) + 'px system-ui, sans-serif';
    x.fillText(title, pad, 18 * px);
    x.drawImage(src, 0, head);
    x.font = (12 * px) + 'px system-ui, sans-serif';
    let lx = pad;
    const ly = head + src.height + 16 * px;
    u.series.slice(1).forEach((s) => {
      if (!s.show) return;
      x.fillStyle = s._color || '#37474f';
      x.fillRect(lx, ly - 6 * px, 12 * px, 3 * px);
      lx += 16 * px;
      x.fillStyle = '#37474f';
      x.fillText(s.label, lx, ly);
      lx += x.measureText(s.label).width + 16 * px;
    });
    c.toBlob((b) => {
      if (!b) return;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(b);
      a.download = file;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 2000);
    }, 'image/png');
  }

  function fileName(title) {
    return 'stampede-' + String(title).toLowerCase().replace(/\(.*?\)/g, '').trim().replace(/[^a-z0-9]+/g, '-') + '.png';
  }

  /** A chart's box: the tools (reset zoom, PNG) above where uPlot draws. */
  function chartBox(container, g) {
    const doc = container.ownerDocument;
    const d = doc.createElement('div');
    d.className = 'chart';
    const tools = doc.createElement('div');
    tools.className = 'chart-tools';
    tools.innerHTML = '<button type="button" class="link chart-reset" hidden title="Show the whole run (or double-click the chart)">Reset zoom</button>' +
      '<button type="button" class="link chart-png" title="Download this chart as PNG">PNG</button>';
    d.appendChild(tools);
    container.appendChild(d);
    g.els.push(d);
    return d;
  }

  /**
   * One uPlot chart of group g in the box el. axis: y axis options beyond the
   * defaults (range, incrs, splits, values).
   */
  function makePlot(g, el, title, series, data, yfmt, width, axis) {
    const y = Object.assign(yAxis(yfmt), axis || {});
    delete y.range; // a scale's, not an axis's
    const u = new global.uPlot({
      title,
      width,
      height: CHART_HEIGHT,
      scales: { x: { time: g.mode !== 'elapsed' }, y: { range: (axis && axis.range) || yFromZero } },
      axes: [xAxis(g.mode), y],
      series: [xSeries(g.mode)].concat(series),
      cursor: {
        drag: { x: true, y: false, setScale: false },
        sync: { key: g.key },
        bind: { dblclick: () => () => { g.setZoom(null); return null; } },
      },
      hooks: zoomHooks(g),
      plugins: [eventsPlugin(g)],
      legend: { live: true },
    }, data, el);
    el.querySelector('.chart-png').onclick = () => savePNG(u, title, fileName(title));
    el.querySelector('.chart-reset').onclick = () => g.setZoom(null);
    el.querySelector('.chart-reset').hidden = !g.zoom;
    g.plots.push(u);
    return u;
  }

  function observeResize(container, onResize) {
    let ro = null;
    const onWin = () => onResize();
    if (typeof global.ResizeObserver === 'function') {
      ro = new global.ResizeObserver(() => onResize());
      ro.observe(container);
    }
    // The window too: a chart inside a hidden tab is measured again when shown.
    if (global.addEventListener) global.addEventListener('resize', onWin);
    return () => {
      if (ro) ro.disconnect();
      if (global.removeEventListener) global.removeEventListener('resize', onWin);
    };
  }

  /** Keeps a group's plots as wide as container; returns {resize, destroy, built(width)}. */
  function sizeWith(container, g) {
    let lastW = 0;
    const resize = () => {
      if (!container.clientWidth) return; // hidden tab: wait until shown
      const w = chartWidth(container);
      if (w === lastW) return;
      lastW = w;
      g.plots.forEach((p) => p.setSize({ width: w, height: CHART_HEIGHT }));
    };
    const stop = observeResize(container, resize);
    const destroy = () => {
      stop();
      g.destroy();
      container.innerHTML = '';
    };
    return { resize, destroy, built: (w) => { lastW = w; } };
  }

  let syncCounter = 0;

  /**
   * Charts over time (RPS & failures/s, p50/p95/p99 latency, users) in
   * `container`. Returns a handle:
   *   setData(series)  replace all points (e.g. when the run changes)
   *   append(point)    add the latest point (a point with the same or an
   *                    earlier t than the last one replaces the last one)
   *   setEvents(events) mark the run's events on the time axis
   *   resize()         re-measure the container (also done automatically)
   *   destroy()
   * A point with gap set (no worker reported in its interval) is a break in
   * the lines, not a zero.
   * opts.mode: 'time' | 'elapsed' forces the x axis; default: elapsed when t
   * values are small (seconds since start), wall-clock time otherwise.
   * opts.users: false leaves the users chart out. opts.title: a prefix of the
   * titles (an endpoint's name).
   */
  function createCharts(container, series, opts) {
    opts = opts || {};
    if (!chartsAvailable()) {
      unavailable(container);
      const noop = () => {};
      return { setData: noop, append: noop, setEvents: noop, resize: noop, destroy: noop, available: false };
    }
    container.innerHTML = '';
    const g = chartGroup();
    g.key = 'stampede-' + (++syncCounter);
    g.mode = null;
    const prefix = opts.title ? opts.title + ': ' : '';

    // columns: x, rps, fail, p50, p95, p99, users; and each point's span (s)
    let cols = [[], [], [], [], [], [], []];
    let spans = [];

    function modeFor(x) {
      if (opts.mode) return opts.mode;
      return x !== null && x < 1e9 ? 'elapsed' : 'time';
    }

    const size = sizeWith(container, g);

    function build() {
      g.destroy();
      container.innerHTML = '';
      const w = chartWidth(container);
      size.built(w);
      makePlot(g, chartBox(container, g), prefix + 'Requests per second', [
        lineSeries('RPS', COLORS.rps, fmt.rate, { spanGaps: false }),
        lineSeries('Failures/s', COLORS.fail, fmt.rate, { spanGaps: false }),
      ], [cols[0], cols[1], cols[2]], fmt.rate, w);
      makePlot(g, chartBox(container, g), prefix + 'Response times (ms)', [
        lineSeries('p50', COLORS.p50, fmt.ms, { spanGaps: false }),
        lineSeries('p95', COLORS.p95, fmt.ms, { spanGaps: false }),
        lineSeries('p99', COLORS.p99, fmt.ms, { spanGaps: false }),
      ], [cols[0], cols[3], cols[4], cols[5]], fmt.ms, w);
      if (opts.users !== false) {
        makePlot(g, chartBox(container, g), prefix + 'Users', [
          lineSeries('Users', COLORS.users, fmt.num, { fill: 'rgba(0,131,143,0.08)' }),
        ], [cols[0], cols[6]], fmt.num, w, { incrs: INT_INCRS });
      }
    }

    function push(p) {
      const x = toSeconds(p.t);
      if (x === null) return false;
      const n = cols[0].length;
      let i = n;
      if (n > 0 && x <= cols[0][n - 1]) {
        if (x < cols[0][n - 1]) return false; // older than what we have: ignore
        i = n - 1; // same sample again: replace it
      }
      const gap = p.gap === true;
      cols[0][i] = x;
      cols[1][i] = gap ? null : numOrNull(p.rps);
      cols[2][i] = gap ? null : numOrNull(p.fail_per_s);
      cols[3][i] = gap ? null : numOrNull(p.p50_ms);
      cols[4][i] = gap ? null : numOrNull(p.p95_ms);
      cols[5][i] = gap ? null : numOrNull(p.p99_ms);
      cols[6][i] = numOrNull(p.users);
      spans[i] = numOrNull(p.span_s);
      return true;
    }

    function trim() {
      const extra = cols[0].length - MAX_POINTS;
      if (extra > 0) {
        cols = cols.map((c) => c.slice(extra));
        spans = spans.slice(extra);
      }
    }

    function redraw() {
      if (!g.plots.length) return;
      g.setData(g.plots[0], [cols[0], cols[1], cols[2]]);
      g.setData(g.plots[1], [cols[0], cols[3], cols[4], cols[5]]);
      if (g.plots[2]) g.setData(g.plots[2], [cols[0], cols[6]]);
    }

    function setData(s) {
      cols = [[], [], [], [], [], [], []];
      spans = [];
      const list = (Array.isArray(s) ? s : []).filter((p) => p && toSeconds(p.t) !== null);
      list.sort((a, b) => toSeconds(a.t) - toSeconds(b.t));
      for (const p of list) push(p);
      trim();
      const m = modeFor(cols[0].length ? cols[0][0] : null);
      if (m !== g.mode || !g.plots.length) {
        g.mode = m;
        g.zoom = null;
        build();
      } else {
        g.zoom = null; // a new series: the whole of it
        g.els.forEach((el) => { el.querySelector('.chart-reset').hidden = true; });
        redraw();
      }
    }

    function append(p) {
      if (!p) return;
      const first = cols[0].length === 0;
      if (!push(p)) return;
      trim();
      const m = modeFor(cols[0][0]);
      if (first && m !== g.mode) {
        g.mode = m;
        build();
      } else {
        redraw();
      }
    }

    setData(series);
    if (opts.events) g.setEvents(opts.events);
    return {
      setData,
      append,
      setEvents: g.setEvents,
      resize: size.resize,
      destroy: size.destroy,
      available: true,
      get length() { return cols[0].length; },
      // What is plotted, for tests and tools: each point's end (t) and span
      // in seconds, and its figures (null in a gap).
      columns: () => ({ t: cols[0].slice(), span_s: spans.slice(), rps: cols[1].slice(), fail_per_s: cols[2].slice(),
        p50_ms: cols[3].slice(), p95_ms: cols[4].slice(), p99_ms: cols[5].slice(), users: cols[6].slice() }),
    };
  }

  /**
   * Overlay mode for comparing runs: the same three charts with one colour per
   * run, every run aligned on seconds since its start. `runs` is
   * [{label, series, started_at?}]. RPS solid / failures/s dashed; p95 solid
   * with p50 (dotted) and p99 (dashed) toggleable from the legend.
   */
  function createOverlayCharts(container, runs, opts) {
    opts = opts || {};
    if (!chartsAvailable()) {
      unavailable(container);
      const noop = () => {};
      return { setData: noop, resize: noop, destroy: noop, available: false };
    }
    const g = chartGroup();
    const size = sizeWith(container, g);

    function align(list) {
      // Union of elapsed seconds; each run contributes a value or null.
      const perRun = list.map((r) => {
        const pts = Array.isArray(r.series) ? r.series : [];
        let xs = pts.map((p) => toSeconds(p && p.t));
        const firstX = xs.find((x) => x !== null);
        let t0 = 0;
        if (firstX !== undefined && firstX >= 1e9) {
          const st = toDate(r.started_at);
          t0 = st ? st.getTime() / 1000 : firstX;
          if (t0 > firstX) t0 = firstX;
        }
        const m = new Map();
        xs.forEach((x, i) => {
          if (x === null) return;
          m.set(Math.round(x - t0), pts[i]);
        });
        return m;
      });
      const keys = new Set();
      perRun.forEach((m) => m.forEach((_, k) => keys.add(k)));
      const xs = Array.from(keys).sort((a, b) => a - b);
      const col = (ri, field) => xs.map((x) => {
        const p = perRun[ri].get(x);
        return p && !(p.gap && field !== 'users') ? numOrNull(p[field]) : null;
      });
      return { xs, col };
    }

    function build(list) {
      g.destroy();
      g.zoom = null;
      g.key = 'stampede-overlay-' + (++syncCounter);
      container.innerHTML = '';
      const { xs, col } = align(list);
      const rpsS = [];
      const rpsD = [xs];
      const latS = [];
      const latD = [xs];
      const usrS = [];
      const usrD = [xs];
      list.forEach((r, i) => {
        const c = r.color || PALETTE[i % PALETTE.length];
        const name = r.label || 'run ' + (i + 1);
        rpsS.push(lineSeries(name + ' RPS', c, fmt.rate));
        rpsD.push(col(i, 'rps'));
        rpsS.push(lineSeries(name + ' fail/s', c, fmt.rate, { dash: [6, 4], width: 1.5 }));
        rpsD.push(col(i, 'fail_per_s'));
        latS.push(lineSeries(name + ' p50', c, fmt.ms, { dash: [2, 3], width: 1.5, show: false }));
        latD.push(col(i, 'p50_ms'));
        latS.push(lineSeries(name + ' p95', c, fmt.ms));
        latD.push(col(i, 'p95_ms'));
        latS.push(lineSeries(name + ' p99', c, fmt.ms, { dash: [8, 4], width: 1.5, show: false }));
        latD.push(col(i, 'p99_ms'));
        usrS.push(lineSeries(name + ' users', c, fmt.num));
        usrD.push(col(i, 'users'));
      });
      const w = chartWidth(container);
      size.built(w);
      makePlot(g, chartBox(container, g), 'Requests per second (dashed: failures/s)', rpsS, rpsD, fmt.rate, w);
      makePlot(g, chartBox(container, g), 'Response times (ms): p95 (p50, p99 in legend)', latS, latD, fmt.ms, w);
      makePlot(g, chartBox(container, g), 'Users', usrS, usrD, fmt.num, w, { incrs: INT_INCRS });
    }

    build(Array.isArray(runs) ? runs : []);
    return {
      setData: (r) => build(Array.isArray(r) ? r : []),
      resize: size.resize,
      destroy: size.destroy,
      available: true,
    };
  }

  // ------------------------------------------------------- host telemetry axes

  const PCT_SPLITS = [0, 25, 50, 75, 100];
  const percentAxis = {
    range: () => [0, 100],
    splits: () => PCT_SPLITS,
  };

  const KiB = 1024;
  const MiB = KiB * KiB;
  const GiB = MiB * KiB;
  // Binary steps: 1, 2, 4 ... KiB up to 1 TiB, so memory ticks fall on round
  // binary sizes (256 MiB, 512 MiB, 1 GiB ...).
  const BIN_INCRS = [];
  for (let v = KiB; v <= 1024 * GiB; v *= 2) BIN_INCRS.push(v);

  /** A tick of a binary axis: whole GiB or MiB where it is one, else 2 decimals. */
  function binTick(v) {
    if (!isNum(v)) return '';
    if (v === 0) return '0';
    const units = [[GiB, 'GiB'], [MiB, 'MiB'], [KiB, 'KiB']];
    for (const [size, unit] of units) {
      if (Math.abs(v) >= size) {
        const n = v / size;
        return (Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100)) + ' ' + unit;
      }
    }
    return Math.round(v) + ' B';
  }

  /**
   * 0 to the data's maximum rounded up to a binary step of at least a quarter
   * of it, so the top of the axis is a tick (830 MiB: 0 to 1 GiB by 256 MiB).
   */
  function binaryRange(u, dataMin, dataMax) {
    const max = dataMax === null || !(dataMax > 0) ? MiB : dataMax;
    let step = KiB;
    while (step * 4 < max) step *= 2;
    return [0, Math.ceil((max * 1.02) / step) * step];
  }

  const memoryAxis = { range: binaryRange, incrs: BIN_INCRS, values: (u, splits) => splits.map(binTick) };

  /**
   * Telemetry charts, one line per host (worker or agent): host CPU %, memory
   * used, and GPU utilisation when some host has GPUs, each as wide as
   * `container`, with round ticks (0/25/50/75/100 %, binary memory steps).
   * `hosts` is [{host, role, points: [{t, cpu_percent, mem_used, gpu_util: [..]}]}].
   * Returns a handle: setData(hosts), setEvents(events), resize(), destroy().
   * Hosts without points draw nothing: no empty panels.
   */
  function createHostCharts(container, hosts, opts) {
    opts = opts || {};
    const g = chartGroup();
    g.key = 'stampede-hosts-' + (++syncCounter);
    const size = sizeWith(container, g);
    let shape = '';

    function columns(list) {
      const keys = new Set();
      const maps = list.map((h) => {
        const m = new Map();
        h.points.forEach((p) => { const x = Math.round(Number(p.t)); keys.add(x); m.set(x, p); });
        return m;
      });
      const xs = Array.from(keys).sort((a, b) => a - b);
      const col = (i, f) => xs.map((x) => { const p = maps[i].get(x); return p ? numOrNull(f(p)) : null; });
      const gpuMean = (p) => (Array.isArray(p.gpu_util) && p.gpu_util.length ? p.gpu_util.reduce((a, b) => a + b, 0) / p.gpu_util.length : null);
      const out = { cpu: [xs], mem: [xs], gpu: [xs], gpus: [] };
      list.forEach((h, i) => {
        out.cpu.push(col(i, (p) => p.cpu_percent));
        out.mem.push(col(i, (p) => p.mem_used));
        if (h.points.some((p) => Array.isArray(p.gpu_util) && p.gpu_util.length)) {
          out.gpus.push(i);
          out.gpu.push(col(i, gpuMean));
        }
      });
      return out;
    }

    function setData(hosts) {
      const list = Array.isArray(hosts) ? hosts.filter((h) => h && Array.isArray(h.points) && h.points.length) : [];
      if (!list.length) {
        g.destroy();
        container.innerHTML = '';
        shape = '';
        return;
      }
      if (!chartsAvailable()) { unavailable(container); return; }
      const d = columns(list);
      const names = list.map((h) => h.host + (h.role === 'agent' ? ' (agent)' : ''));
      const s = names.join('\u0000') + '|' + d.gpus.join(',');
      if (s === shape && g.plots.length) { // the same hosts: new points only
        g.setData(g.plots[0], d.cpu);
        g.setData(g.plots[1], d.mem);
        if (g.plots[2]) g.setData(g.plots[2], d.gpu);
        return;
      }
      shape = s;
      g.destroy();
      container.innerHTML = '';
      const pct = (v) => fmt.num(v) + ' %';
      const w = chartWidth(container);
      size.built(w);
      makePlot(g, chartBox(container, g), 'Host CPU (%)', names.map((n, i) => lineSeries(n, PALETTE[i % PALETTE.length], pct)),
        d.cpu, pct, w, percentAxis);
      makePlot(g, chartBox(container, g), 'Host memory used', names.map((n, i) => lineSeries(n, PALETTE[i % PALETTE.length], fmt.bytes)),
        d.mem, fmt.bytes, w, memoryAxis);
      if (d.gpus.length) {
        makePlot(g, chartBox(container, g), 'GPU utilisation (%)', d.gpus.map((i) => lineSeries(names[i], PALETTE[i % PALETTE.length], pct)),
          d.gpu, pct, w, percentAxis);
      }
    }

    setData(hosts);
    if (opts.events) g.setEvents(opts.events);
    return {
      setData,
      setEvents: g.setEvents,
      resize: size.resize,
      destroy: size.destroy,
      get length() { return g.plots.length; },
      // What is plotted, for tests and tools: per chart, its title, its width
      // in CSS pixels and its columns (x first, then one per host).
      columns: () => g.plots.map((p) => ({ title: p.root.querySelector('.u-title') ? p.root.querySelector('.u-title').textContent : '',
        width: p.width, data: p.data.map((c) => Array.from(c)) })),
    };
  }

  global.Stampede = {
    createHostCharts,
    fmt,
    esc,
    toDate,
    toSeconds,
    palette: PALETTE,
    renderStatsTable,
    renderFailuresTable,
    renderWorkersTable,
    roundedNote,
    renderEventsTable,
    renderExceptionsTable,
    renderCountersTable,
    renderSlowestTable,
    renderKeyValues,
    chartsAvailable,
    createCharts,
    createOverlayCharts,
  };
})(typeof window !== 'undefined' ? window : globalThis);
