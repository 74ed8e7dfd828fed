// Charts with Chart.js (Debian's libjs-chart.js, loaded as a classic script
// that defines window.Chart).  A chart is made once per canvas and then
// only its data change (update('none'): no animation), so a live refresh
// never redraws from scratch.  Without Chart.js the pages still work: each
// chart has a table beside it with the same numbers.

import { h } from './dom.js';

export const STATE_COLORS = {
  pending: '#9aa4b1', notified: '#5fb3f0', downloading: '#1f5fbf',
  downloaded: '#1a9c8a', installing: '#7b4fd0', succeeded: '#1a7f37',
  failed: '#c0392b', cancelled: '#555c66',
};

let configured = false;

function lib() {
  const C = window.Chart;
  if (typeof C !== 'function') return null;
  if (!configured) {
    C.defaults.animation = false;            // no movement on refresh
    C.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    C.defaults.color = '#1b1f24';
    C.defaults.maintainAspectRatio = false;
    configured = true;
  }
  return C;
}

// a box for one chart: {el, canvas}; label describes it for screen readers
export function chartBox(label) {
  const canvas = h('canvas', { role: 'img', 'aria-label': label });
  return { el: h('div', { class: 'chart-box' }, canvas), canvas };
}

// bar chart of labels -> values; colors: one per bar or one for all
export function bars(box, labels, values, { colors, horizontal, label } = {}) {
  const C = lib();
  if (!C) {
    if (!box.el.querySelector('.chart-missing')) {
      box.canvas.hidden = true;
      box.el.append(h('p', { class: 'chart-missing',
        text: 'Charts need Chart.js (Debian package libjs-chart.js); the table has the numbers.' }));
    }
    return null;
  }
  const bg = colors || '#1f5fbf';
  let chart = box.chart;
  if (!chart) {
    chart = new C(box.canvas, {
      type: 'bar',
      data: { labels: [], datasets: [{ label: label || '', data: [], backgroundColor: bg }] },
      options: {
        indexAxis: horizontal ? 'y' : 'x',
        responsive: true,
        plugins: { legend: { display: false } },
        scales: {
          [horizontal ? 'x' : 'y']: { beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
    box.chart = chart;
  }
  const ds = chart.data.datasets[0];
  if (!same(chart.data.labels, labels) || !same(ds.data, values) ||
      (Array.isArray(bg) && !same(ds.backgroundColor, bg))) {
    chart.data.labels = labels.slice();
    ds.data = values.slice();
    ds.backgroundColor = Array.isArray(bg) ? bg.slice() : bg;
    chart.update('none');
  }
  return chart;
}

function same(a, b) {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((x, i) => x === b[i]);
}

export function destroy(box) {
  if (box && box.chart) { box.chart.destroy(); box.chart = null; }
}
