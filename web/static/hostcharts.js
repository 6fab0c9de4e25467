/*
 * Host telemetry charts (Stampede.createHostCharts): one line per worker or
 * agent for host CPU %, memory used and GPU utilisation, with round ticks;
 * built on chartkit.js.
 */
(function (global) {
  'use strict';

  const S = global.Stampede;
  const { fmt, isNum } = S;
  const { PALETTE, chartsAvailable, unavailable, chartWidth, numOrNull, lineSeries, chartGroup, chartBox, makePlot, sizeWith, syncKey } = S._chart;

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
    g.key = syncKey('stampede-hosts-');
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
        S.clear(container);
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
      S.clear(container);
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

  S.createHostCharts = createHostCharts;
})(typeof window !== 'undefined' ? window : globalThis);
