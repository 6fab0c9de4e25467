/*
 * The sortable per-endpoint statistics table (Stampede.renderStatsTable),
 * shared by the dashboard and the HTML report, and the table helpers the
 * other tables use.
 */
(function (global) {
  'use strict';

  const S = global.Stampede;
  const { fmt, html, setHTML, isNum } = S;

  // ------------------------------------------------------------- table helpers

  /** Returns the table's thead and tbody, creating them once. */
  function sections(table) {
    let thead = table.tHead || (table.querySelector && table.querySelector('thead'));
    let tbody = (table.tBodies && table.tBodies[0]) || (table.querySelector && table.querySelector('tbody'));
    if (!thead || !tbody) {
      S.clear(table);
      const doc = table.ownerDocument || document;
      thead = doc.createElement('thead');
      tbody = doc.createElement('tbody');
      table.appendChild(thead);
      table.appendChild(tbody);
    }
    return { thead, tbody };
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
    return html`<tr>${cols.map((c) => {
      let cls = c.text ? 'sortable' : 'sortable num';
      let aria = 'none';
      let arrow = '';
      if (sort && sort.key === c.key) {
        cls += sort.dir > 0 ? ' sorted-asc' : ' sorted-desc';
        aria = sort.dir > 0 ? 'ascending' : 'descending';
        arrow = sort.dir > 0 ? ' \u25B2' : ' \u25BC';
      }
      return html`<th class="${cls}" data-key="${c.key}" aria-sort="${aria}" title="Sort by ${c.label}">${c.label}<span class="arrow">${arrow}</span></th>`;
    })}</tr>`;
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
    return html`<tr class="${cls}" data-method="${r.method}" data-name="${r.name}">${cols.map((c, i) => {
      if (c.key === 'name') return html`<td class="name" title="${r.name}">${r.name}</td>`;
      if (c.text) return html`<td class="method">${r[c.key]}</td>`;
      return html`<td class="${m.cls[i]}">${m.text[i]}</td>`;
    })}</tr>`;
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

    const parts = [];
    for (let i = 0; i < sorted.length; i++) parts.push(rowHTML('row', sorted[i], models[i], cols));
    if (sorted.length === 0) {
      parts.push(html`<tr class="empty"><td colspan="${cols.length}">${opts.empty || 'No requests yet'}</td></tr>`);
    }
    if (t) parts.push(rowHTML('total', t, models[models.length - 1], cols));
    tbody._stampedeHTML = null; // patched cells may differ from the last markup
    setHTML(tbody, html`${parts}`);
    st.prev = { tbody, shape, keys, models };
  }

  Object.assign(S, { renderStatsTable, tableSections: sections });
})(typeof window !== 'undefined' ? window : globalThis);
