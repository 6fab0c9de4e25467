/*
 * Stampede's chart kit over uPlot: axes, series, and chart groups (a set of
 * charts sharing their x axis) with drag-to-zoom, reset, PNG download and run
 * events marked on the time axis. charts.js and hostcharts.js build on it
 * through Stampede._chart.
 */
(function (global) {
  'use strict';

  const S = global.Stampede;
  const { fmt, html, setHTML, isNum, toSeconds, DASH } = S;

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
    setHTML(container, html`<div class="notice charts-unavailable" role="status">charts unavailable: run make web</div>`);
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
    setHTML(tools, html`<button type="button" class="link chart-reset" hidden title="Show the whole run (or double-click the chart)">Reset zoom</button>
      <button type="button" class="link chart-png" title="Download this chart as PNG">PNG</button>`);
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
      S.clear(container);
    };
    return { resize, destroy, built: (w) => { lastW = w; } };
  }

  let syncCounter = 0;
  /** A key unique to this page, for a group's cursor sync. */
  function syncKey(prefix) {
    return prefix + (++syncCounter);
  }

  S.palette = PALETTE;
  S.chartsAvailable = chartsAvailable;
  S._chart = {
    COLORS, PALETTE, CHART_HEIGHT, MAX_POINTS, INT_INCRS, chartsAvailable, unavailable, chartWidth, numOrNull,
    lineSeries, chartGroup, chartBox, makePlot, sizeWith, syncKey,
  };
})(typeof window !== 'undefined' ? window : globalThis);
