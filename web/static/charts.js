/*
 * A run's charts over time (Stampede.createCharts: RPS and failures/s,
 * p50/p95/p99, users) and Compare's overlay of several runs
 * (Stampede.createOverlayCharts), built on chartkit.js.
 *
 * Series points are {t, span_s, users, rps, fail_per_s, p50_ms, p95_ms, p99_ms,
 * gap}: `t` is the end of the point's span, its rates are averaged over that
 * span, and a gap point (no worker reported) breaks the lines. `t` may be
 * unix seconds, unix milliseconds, an RFC 3339 string, or seconds since the
 * start of the run (any number below 1e9).
 */
(function (global) {
  'use strict';

  const S = global.Stampede;
  const { fmt, toSeconds, toDate } = S;
  const {
    COLORS, PALETTE, MAX_POINTS, INT_INCRS, chartsAvailable, unavailable, chartWidth, numOrNull,
    lineSeries, chartGroup, chartBox, makePlot, sizeWith, syncKey,
  } = S._chart;

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
    S.clear(container);
    const g = chartGroup();
    g.key = syncKey('stampede-');
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
      S.clear(container);
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
      // Each chart's x range as drawn (zoomed or whole).
      scales: () => g.plots.map((p) => ({ min: p.scales.x.min, max: p.scales.x.max })),
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
      g.key = syncKey('stampede-overlay-');
      S.clear(container);
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

  Object.assign(S, { createCharts, createOverlayCharts });
})(typeof window !== 'undefined' ? window : globalThis);
