/*
 * Stampede's HTML building, escaped by construction. Every dashboard and
 * report script builds markup with the html`...` tag: each interpolated value
 * is escaped as text (safe in element content and in quoted attribute values)
 * unless it is itself the result of html`...` (or an array of such results),
 * so data can never become markup. setHTML is the one place where markup
 * reaches the page (innerHTML), and it only accepts html`...` results.
 *
 * Plain ES2020, no modules, no network: everything hangs off the global
 * `Stampede` object. The scripts load in the order web/assets.go lists them.
 */
(function (global) {
  'use strict';

  const S = global.Stampede = global.Stampede || {};

  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

  /** Escapes a value for HTML text or a quoted attribute; null and undefined are ''. */
  function esc(v) {
    if (v === null || v === undefined) return '';
    return String(v).replace(/[&<>"']/g, (c) => ESC[c]);
  }

  /** Markup built by html`...`: only this type reaches innerHTML. */
  class SafeHTML {
    constructor(s) {
      this.s = s;
    }
    toString() {
      return this.s;
    }
  }

  // One interpolated value: markup stays markup, arrays are joined, false,
  // null and undefined are nothing (for `${cond && html`...`}`), anything else
  // is escaped text.
  function part(v) {
    if (v instanceof SafeHTML) return v.s;
    if (Array.isArray(v)) return v.map(part).join('');
    if (v === false || v === null || v === undefined) return '';
    return esc(v);
  }

  /** The tag: html`<td class="${cls}">${text}</td>` escapes cls and text. */
  function html(strings, ...values) {
    let out = strings[0];
    for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
    return new SafeHTML(out);
  }

  /** Sets el's content to h (an html`...` result); an identical update is skipped. */
  function setHTML(el, h) {
    if (!(h instanceof SafeHTML)) throw new TypeError('setHTML takes html`...`, not ' + typeof h);
    if (el._stampedeHTML === h.s) return;
    el._stampedeHTML = h.s;
    el.innerHTML = h.s; // the one innerHTML sink (web/static_test.go)
  }

  /** Empties el. */
  function clear(el) {
    el._stampedeHTML = undefined; // what is put in next is never skipped
    el.innerHTML = '';
  }

  // Neither esc nor SafeHTML is exported: markup is made by html`...` alone.
  Object.assign(S, { html, setHTML, clear });
})(typeof window !== 'undefined' ? window : globalThis);
