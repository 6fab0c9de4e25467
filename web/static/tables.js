/*
 * The dashboard's and the report's other tables: failures, workers,
 * exceptions, slowest requests, counters, events and key/value
 * configuration. Every cell is built with html`...` (html.js): data is
 * escaped by construction.
 */
(function (global) {
  'use strict';

  const S = global.Stampede;
  const { fmt, html, setHTML, isNum, DASH } = S;

  function simpleTable(table, head, bodyRows, emptyText) {
    const { thead, tbody } = S.tableSections(table);
    setHTML(thead, html`<tr>${head.map((c) => (c.num ? html`<th class="num">${c.label}</th>` : html`<th>${c.label}</th>`))}</tr>`);
    if (bodyRows.length === 0) {
      setHTML(tbody, html`<tr class="empty"><td colspan="${head.length}">${emptyText}</td></tr>`);
    } else {
      setHTML(tbody, html`${bodyRows}`);
    }
  }

  function byCount(list) {
    return (Array.isArray(list) ? list : []).slice().sort((a, b) => (b.count || 0) - (a.count || 0));
  }

  /** Failures grouped by endpoint + error message, most frequent first. */
  function renderFailuresTable(table, errors) {
    const rows = byCount(errors).map((e) => html`<tr class="failure-row" data-name="${e.name}">${[
      html`<td class="num">${fmt.num(e.count)}</td>`,
      html`<td class="method">${e.method}</td>`,
      html`<td class="name" title="${e.name}">${e.name}</td>`,
      html`<td class="msg"><pre>${e.message}</pre></td>`,
    ]}</tr>`);
    simpleTable(table, [
      { label: '# Failures', num: true }, { label: 'Type' }, { label: 'Name' }, { label: 'Message' },
    ], rows, 'No failures');
  }

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

  function percent(v) {
    return isNum(v) ? v.toFixed(0) + ' %' : DASH;
  }

  /** Connected workers (or agents). */
  function renderWorkersTable(table, workers) {
    const list = Array.isArray(workers) ? workers : [];
    const rows = list.map((w) => {
      const age = w.last_report_age_s;
      const known = isNum(age) && age >= 0;
      const stale = w.late === true; // the master says so: only a worker that owes reports is late
      const kind = rounded(w)
        ? html`<td title="Locust protocol: response times ${ROUNDED_NOTE} (about 2 significant digits)">${w.kind} <span class="muted">(rounded)</span></td>`
        : html`<td>${w.kind || DASH}</td>`;
      return html`<tr class="${stale ? 'worker-row stale' : 'worker-row'}" data-id="${w.id}">${[
        html`<td class="mono">${w.id}</td><td>${w.host}</td><td class="mono">${w.addr}</td><td>${w.version}</td>`,
        kind,
        html`<td class="num">${fmt.num(w.cores)}</td><td class="num">${fmt.bytes(w.memory_bytes)}</td>`,
        html`<td><span class="badge state-${String(w.state || '').toLowerCase()}">${w.state}</span></td>`,
        html`<td class="num">${fmt.num(w.users)}</td>`,
        html`<td class="${w.saturated ? 'num regression' : 'num'}">${percent(w.cpu_percent)}</td>`,
        html`<td class="num">${percent(w.process_cpu_percent)}</td>`,
        html`<td class="num">${w.mem_total ? fmt.bytes(w.mem_used) + ' / ' + fmt.bytes(w.mem_total) : DASH}</td>`,
        html`<td class="num">${isNum(w.sched_lag_p99_ms) ? fmt.ms(w.sched_lag_p99_ms) + ' ms' : DASH}</td>`,
        html`<td>${w.gpus ? w.gpus + ' GPU, ' + Number(w.gpu_util || 0).toFixed(0) + ' %' : w.gpu_status || DASH}</td>`,
        html`<td class="num">${known ? age.toFixed(1) + ' s' : DASH}</td>`,
      ]}</tr>`;
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
    const rows = byCount(exceptions).map((e) => html`<tr class="exception-row">${[
      html`<td class="num">${fmt.num(e.count)}</td>`,
      html`<td class="msg"><pre>${e.message}</pre></td>`,
      html`<td class="msg">${e.traceback && html`<details><summary>traceback</summary><pre>${e.traceback}</pre></details>`}</td>`,
    ]}</tr>`);
    simpleTable(table, [{ label: '# Exceptions', num: true }, { label: 'Message' }, { label: 'Traceback' }], rows, 'No exceptions');
  }

  /** The slowest requests: URL, latency, worker, trace id (--trace-context). */
  function renderSlowestTable(table, slowest) {
    const list = Array.isArray(slowest) ? slowest : [];
    const rows = list.map((r) => html`<tr class="slow-row">${[
      html`<td class="num">${fmt.msUnit(r.latency_ms)}</td><td>${r.method}</td><td class="mono">${r.name}</td>`,
      html`<td class="mono">${r.url}</td><td class="mono">${r.worker}</td>`,
      html`<td class="mono">${r.at ? fmt.time(r.at) : ''}</td><td class="msg">${r.error}</td>`,
      html`<td class="mono trace-id">${r.trace_url && /^https?:\/\//.test(r.trace_url)
        ? html`<a href="${r.trace_url}" target="_blank" rel="noopener noreferrer">${r.trace_id}</a>` : r.trace_id}</td>`,
    ]}</tr>`);
    simpleTable(table, [{ label: 'Latency', num: true }, { label: 'Type' }, { label: 'Name' }, { label: 'URL' },
      { label: 'Worker' }, { label: 'Completed' }, { label: 'Error' }, { label: 'Trace' }], rows, 'No requests yet');
  }

  /** Custom counters incremented by the script. */
  function renderCountersTable(table, counters) {
    const list = Array.isArray(counters) ? counters : [];
    const rows = list.map((c) => html`<tr class="counter-row" data-name="${c.name}"><td>${c.name}</td><td class="num">${fmt.num(c.value)}</td></tr>`);
    simpleTable(table, [{ label: 'Counter' }, { label: 'Value', num: true }], rows, 'No counters');
  }

  /** Run events (state changes, workers joining/leaving, ...). */
  function renderEventsTable(table, events) {
    const list = Array.isArray(events) ? events : [];
    const rows = list.map((e) => html`<tr class="event-row kind-${String(e.kind || '').toLowerCase().replace(/[^a-z0-9_-]/g, '')}">${[
      html`<td class="mono">${fmt.time(e.at)}</td>`,
      html`<td class="num mono">${isNum(e.t) && '+' + fmt.clock(e.t)}</td>`,
      html`<td>${e.kind}</td><td class="mono">${e.worker}</td><td>${e.detail}</td>`,
    ]}</tr>`);
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
        rows.push(html`<tr><th scope="row">${k}</th><td class="mono">${s}</td></tr>`);
      }
    }
    const { thead, tbody } = S.tableSections(table);
    setHTML(thead, html``);
    setHTML(tbody, rows.length ? html`${rows}` : html`<tr class="empty"><td colspan="2">No configuration recorded</td></tr>`);
  }

  /** A summary as a definition list's items: [label, value, class?], empty values left out. */
  function summaryHTML(pairs) {
    return html`${pairs
      .filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== '')
      .map((p) => (p[2] ? html`<div><dt>${p[0]}</dt><dd class="${p[2]}">${p[1]}</dd></div>` : html`<div><dt>${p[0]}</dt><dd>${p[1]}</dd></div>`))}`;
  }

  Object.assign(S, {
    renderFailuresTable, renderWorkersTable, roundedNote, renderExceptionsTable, renderSlowestTable,
    renderCountersTable, renderEventsTable, renderKeyValues, summaryHTML,
  });
})(typeof window !== 'undefined' ? window : globalThis);
