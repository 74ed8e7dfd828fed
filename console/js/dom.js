// DOM helpers: elements built from data with textContent only (no HTML from
// the server ever reaches innerHTML), formatters, and in-place updates so a
// live refresh changes what changed and nothing else (no flicker, focus and
// scroll kept).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// sets text only when it differs: an unchanged node is not touched
export function setText(el, text) {
  const s = String(text);
  if (el.textContent !== s) el.textContent = s;
}

export function setAttr(el, name, value) {
  const s = String(value);
  if (el.getAttribute(name) !== s) el.setAttribute(name, s);
}

// ---- formatting ---------------------------------------------------------------

const intFmt = new Intl.NumberFormat('en-US');

export function fmtInt(n) {
  return typeof n === 'number' && Number.isFinite(n) ? intFmt.format(n) : '—';
}

// a rate 0..1 as the API and otactl give it -> "33.33 %"; null -> "—"
export function fmtRate(r) {
  return typeof r === 'number' && Number.isFinite(r) ? (r * 100).toFixed(2) + ' %' : '—';
}

// a percentage 0..100 (device progress) -> "33.3 %", as precise as given
export function fmtPercent(p) {
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  return (Math.round(p * 100) / 100) + ' %';
}

export function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + ' ' + u[i];
}

// unix time -> "2026-01-01 12:00" in the browser's time zone; batch times
// are in ms, device and package times in seconds: told apart as otactl
// does (more than 1e11 is ms)
export function fmtTime(t) {
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) return '—';
  const d = new Date(t > 1e11 ? t : t * 1000);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
         `${p(d.getHours())}:${p(d.getMinutes())}`;
}

// ---- small widgets ------------------------------------------------------------------

export function badge(state) {
  const el = h('span', { class: 'badge' });
  setBadge(el, state);
  return el;
}

export function setBadge(el, state) {
  const s = state || 'unknown';
  setText(el, s.replace(/_/g, ' '));
  setAttr(el, 'class', 'badge st-' + s.replace(/[^a-z_]/g, ''));
}

// a progress bar of a fraction 0..1 (null: unknown); label names it for
// screen readers
export function progressBar(label) {
  const fill = h('div', { class: 'fill' });
  const el = h('div', { class: 'bar', role: 'progressbar', 'aria-label': label,
                        'aria-valuemin': 0, 'aria-valuemax': 100 },
               h('div', { class: 'track' }, fill), h('span', { class: 'pct' }));
  return el;
}

export function setProgress(el, fraction, text) {
  const pct = typeof fraction === 'number' && Number.isFinite(fraction)
    ? Math.max(0, Math.min(1, fraction)) * 100 : null;
  const fill = el.querySelector('.fill');
  const want = pct === null ? '0%' : pct.toFixed(2) + '%';
  if (fill.dataset.width !== want) {                  // CSSOM, not a style attribute (CSP)
    fill.dataset.width = want;
    fill.style.width = want;
  }
  setText(el.querySelector('.pct'), text ?? (pct === null ? '—' : pct.toFixed(1) + ' %'));
  if (pct === null) el.removeAttribute('aria-valuenow');
  else setAttr(el, 'aria-valuenow', pct.toFixed(1));
}

export function link(href, text) {
  return h('a', { href }, text);
}

export function hashFor(route, id) {
  return '#/' + route + '/' + encodeURIComponent(id);
}

// a table in its scroll box: columns [{label, num}]; stack: on a narrow
// screen each row becomes a block of "label: value" lines (for lists whose
// rows are read one at a time) instead of scrolling sideways
export function table(caption, columns, { stack } = {}) {
  const tbody = h('tbody');
  const el = h('div', { class: 'table-wrap' + (stack ? ' stack' : '') },
    h('table', {},
      caption ? h('caption', { text: caption }) : null,
      h('thead', {}, h('tr', {}, columns.map((c) =>
        h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.label })))),
      tbody));
  return { el, tbody };
}

// Brings tbody's rows in line with items without rebuilding them: rows
// are keyed (data-key), created once by make(item) and refreshed by
// update(row, item); gone items lose their row, order follows items.
export function keyedRows(tbody, items, key, make, update, emptyText) {
  const old = new Map();
  for (const tr of Array.from(tbody.children)) {
    if (tr.dataset.key !== undefined) old.set(tr.dataset.key, tr);
    else tr.remove();                             // the "nothing here" row
  }
  let prev = null;
  for (const item of items) {
    const k = String(key(item));
    let tr = old.get(k);
    if (tr) old.delete(k);
    else { tr = make(item); tr.dataset.key = k; label(tbody, tr); }
    update(tr, item);
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of old.values()) tr.remove();
  if (!items.length && emptyText) {
    const cols = tbody.closest('table')?.querySelectorAll('thead th').length || 1;
    tbody.append(h('tr', {}, h('td', { class: 'empty', colspan: cols, text: emptyText })));
  }
}

// each cell names its column (data-label), for the stacked narrow layout
function label(tbody, tr) {
  const heads = tbody.closest('table')?.querySelectorAll('thead th') || [];
  Array.from(tr.children).forEach((td, i) => {
    if (heads[i]) td.dataset.label = heads[i].textContent;
  });
}

// a card "label / value" whose value is updated in place
export function card(label, field) {
  const value = h('div', { class: 'value', 'data-field': field, text: '—' });
  return { el: h('div', { class: 'card' }, h('div', { class: 'label', text: label }), value), value };
}

// "Newer / Older" paging under a list
export function pager(onMove, what) {
  const prev = h('button', { type: 'button', class: 'plain', text: 'Previous page' });
  const next = h('button', { type: 'button', class: 'plain', text: 'Next page' });
  const count = h('span', { class: 'count', 'aria-live': 'polite' });
  prev.addEventListener('click', () => onMove(-1));
  next.addEventListener('click', () => onMove(1));
  const el = h('div', { class: 'pager' }, prev, count, next);
  return {
    el,
    set(offset, n, total) {
      setText(count, total ? `${fmtInt(offset + 1)}–${fmtInt(offset + n)} of ${fmtInt(total)} ${what}`
                           : `no ${what}`);
      prev.disabled = offset <= 0;
      next.disabled = offset + n >= total;
    },
  };
}

export function errorBox(message) {
  return h('p', { class: 'error-box', role: 'alert', text: message });
}
