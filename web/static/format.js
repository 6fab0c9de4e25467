/*
 * Stampede's number, time and size formatting (Stampede.fmt), shared by the
 * dashboard and the HTML report.
 */
(function (global) {
  'use strict';

  const S = global.Stampede = global.Stampede || {};

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

  Object.assign(S, { fmt, toDate, toSeconds, isNum, DASH });
})(typeof window !== 'undefined' ? window : globalThis);
