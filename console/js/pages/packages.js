// Packages, newest first, optionally of one product: state, and for a
// package that must be verified the progress of its verify batch.  Live.

import { h, setText, setBadge, badge, progressBar, setProgress, fmtInt, fmtRate,
         fmtTime, fmtBytes, hashFor, table, keyedRows, pager } from '../dom.js';
import { fill } from '../actions.js';

const PAGE = 25;

export function mount(root, { query }, ctx) {
  let offset = Math.max(0, Number(query.get('offset')) || 0);
  let product = query.get('product') || '';

  const select = h('select', { id: 'pkg-product' }, h('option', { value: '', text: 'All products' }));
  const controls = h('div', { class: 'controls' },
    h('div', { class: 'field' }, h('label', { for: 'pkg-product', text: 'Product' }), select));
  const toolbar = h('div', { class: 'slot' });
  const t = table(null, [
    { label: 'Package' }, { label: 'Product / module' }, { label: 'Version' }, { label: 'Type' },
    { label: 'Size', num: true }, { label: 'Signature' }, { label: 'State' },
    { label: 'Verification' }, { label: 'Created' },
  ], { stack: true });
  const pg = pager((dir) => {
    offset = Math.max(0, offset + dir * PAGE);
    syncQuery();
    ctx.refreshNow();
  }, 'packages');

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Packages' })),
    h('p', { class: 'sub', text: 'A package that must be verified is offered to a whole product ' +
                                 'only once a verify batch succeeded on all its devices.' }),
    controls, toolbar, t.el, pg.el);
  fill('packages.toolbar', toolbar, null, ctx);

  function syncQuery() {
    const q = {};
    if (product) q.product = product;
    if (offset) q.offset = offset;
    ctx.setQuery(q);
  }

  select.addEventListener('change', () => {
    product = select.value;
    offset = 0;
    syncQuery();
    ctx.refreshNow();
  });

  function make(p) {
    return h('tr', {},
      h('td', { class: 'wrap' }, h('div', { 'data-cell': 'name' }), h('div', { class: 'note mono', 'data-cell': 'id' })),
      h('td', { 'data-cell': 'where' }),
      h('td', { 'data-cell': 'version' }),
      h('td', { 'data-cell': 'type' }),
      h('td', { class: 'num', 'data-cell': 'size' }),
      h('td', { 'data-cell': 'sign' }),
      h('td', {}, badge(p.state)),
      h('td', { 'data-cell': 'verify' }),
      h('td', { 'data-cell': 'created' }));
  }

  function update(tr, p) {
    const cell = (n) => tr.querySelector(`[data-cell="${n}"]`);
    setText(cell('name'), p.name || p.id);
    setText(cell('id'), p.id);
    setText(cell('where'), `${p.product} / ${p.module}`);
    setText(cell('version'), p.type === 'diff' && p.from ? `${p.from} → ${p.version}` : p.version);
    setText(cell('type'), p.type);
    setText(cell('size'), fmtBytes(p.size) + (Array.isArray(p.files) && p.files.length > 1
                                              ? ` (${p.files.length} files)` : ''));
    setText(cell('sign'), p.sign_method);
    setBadge(tr.querySelector('.badge'), p.state);

    const v = p.verify_progress;
    const vc = cell('verify');
    if (!v) {
      if (vc.dataset.batch !== '') { vc.dataset.batch = ''; vc.replaceChildren(p.verify ? 'no verify batch yet' : 'not needed'); }
    } else {
      if (vc.dataset.batch !== v.id) {
        vc.dataset.batch = v.id;
        vc.replaceChildren(progressBar('Verification of ' + p.id),
                           h('div', { class: 'note' }, h('a', { href: hashFor('batch', v.id) })));
      }
      setProgress(vc.querySelector('.bar'), v.completion, fmtRate(v.completion));
      const c = v.counts || {};
      setText(vc.querySelector('a'), `${v.name || v.id}: ${fmtInt(c.succeeded ?? 0)} of ${fmtInt(v.total)} ` +
              `succeeded, ${fmtInt(c.failed ?? 0)} failed`);
    }
    setText(cell('created'), fmtTime(p.created));
  }

  let productsLoaded = false;

  async function refresh() {
    const [d, prods] = await Promise.all([
      ctx.get('packages', { offset, limit: PAGE, product }),
      productsLoaded ? null : ctx.get('products', { limit: 1000 }),
    ]);
    if (prods) {
      productsLoaded = true;
      for (const p of prods.products) select.append(h('option', { value: p.product, text: p.product }));
      select.value = product;
    }
    keyedRows(t.tbody, d.packages, (p) => p.id, make, update,
              'No package' + (product ? ' of this product' : '') + ': add one with otactl package add.');
    pg.set(offset, d.packages.length, d.total);
  }

  return { title: 'Packages', live: true, refresh };
}
