// Version distribution of one module of one product: devices per version
// (newest first) as a chart and a table, and how many devices never
// reported.  Live.

import { h, setText, fmtInt, fmtPercent, table, keyedRows } from '../dom.js';
import { chartBox, bars, destroy } from '../charts.js';

export function mount(root, { query }, ctx) {
  let product = query.get('product') || '';
  let module = query.get('module') || 'default';
  let products = null;

  const prodSel = h('select', { id: 'ver-product' });
  const modSel = h('select', { id: 'ver-module' });
  const controls = h('div', { class: 'controls' },
    h('div', { class: 'field' }, h('label', { for: 'ver-product', text: 'Product' }), prodSel),
    h('div', { class: 'field' }, h('label', { for: 'ver-module', text: 'Module' }), modSel));
  const summary = h('p', { class: 'sub', 'aria-live': 'polite' });
  const chart = chartBox('Devices per version');
  const t = table(null, [{ label: 'Version' }, { label: 'Devices', num: true },
                         { label: 'Share of the product', num: true }]);
  const empty = h('p', { class: 'note', hidden: true });

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Version distribution' })),
    controls, summary,
    h('section', { class: 'panel', 'aria-labelledby': 'vd-title' },
      h('h2', { id: 'vd-title', text: 'Devices per version' }), chart.el, empty),
    t.el);

  function fillModules() {
    const p = products.find((x) => x.product === product);
    const mods = p ? p.modules.map((m) => m.module) : ['default'];
    if (!mods.includes(module)) module = mods[0] || 'default';
    modSel.replaceChildren(...(p ? p.modules : [{ module: 'default', alias: '' }]).map((m) =>
      h('option', { value: m.module, text: m.alias ? `${m.module} (${m.alias})` : m.module })));
    modSel.value = module;
  }

  prodSel.addEventListener('change', () => {
    product = prodSel.value;
    fillModules();
    ctx.setQuery({ product, module });
    ctx.refreshNow();
  });
  modSel.addEventListener('change', () => {
    module = modSel.value;
    ctx.setQuery({ product, module });
    ctx.refreshNow();
  });

  async function refresh() {
    if (!products) {
      const d = await ctx.get('products', { limit: 1000 });
      products = d.products;
      prodSel.replaceChildren(...products.map((p) => h('option', { value: p.product, text: p.product })));
      if (!products.length) {
        prodSel.disabled = modSel.disabled = true;
        setText(summary, 'No product yet: register devices with otactl device add.');
        return;
      }
      if (!products.some((p) => p.product === product)) product = products[0].product;
      prodSel.value = product;
      fillModules();
    }
    if (!products.length) return;

    const d = await ctx.get('versions', { product, module });
    setText(summary, `${fmtInt(d.devices)} devices of ${d.product}: ${fmtInt(d.reported)} reported a version ` +
            `of ${d.module}, ${fmtInt(d.unreported)} never did.`);
    const labels = d.versions.map((v) => v.version);
    const values = d.versions.map((v) => v.devices);
    if (d.unreported > 0) { labels.push('not reported'); values.push(d.unreported); }
    bars(chart, labels, values, { horizontal: true, label: 'devices',
         colors: labels.map((l) => (l === 'not reported' ? '#9aa4b1' : '#1f5fbf')) });
    chart.canvas.setAttribute('aria-label', 'Devices per version: ' +
      labels.map((l, i) => `${l} ${values[i]}`).join(', '));
    empty.hidden = labels.length > 0;
    setText(empty, 'No device of this product yet.');
    keyedRows(t.tbody, d.versions, (v) => v.version,
      () => h('tr', {}, h('td', { class: 'mono', 'data-cell': 'version' }),
              h('td', { class: 'num', 'data-cell': 'devices' }), h('td', { class: 'num', 'data-cell': 'percent' })),
      (tr, v) => {
        setText(tr.querySelector('[data-cell="version"]'), v.version);
        setText(tr.querySelector('[data-cell="devices"]'), fmtInt(v.devices));
        setText(tr.querySelector('[data-cell="percent"]'), fmtPercent(v.percent));
      }, 'No device reported a version of this module.');
  }

  return { title: 'Versions', live: true, refresh, destroy() { destroy(chart); } };
}
