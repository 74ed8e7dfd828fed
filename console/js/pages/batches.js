// Batches, newest first, a page at a time: state, completion as a bar,
// success rate.  Live: the rows update in place.

import { h, setText, setBadge, badge, progressBar, setProgress, fmtInt, fmtRate,
         fmtTime, hashFor, table, keyedRows, pager } from '../dom.js';
import { fill } from '../actions.js';

const PAGE = 20;

export function mount(root, { query }, ctx) {
  let offset = Math.max(0, Number(query.get('offset')) || 0);

  const toolbar = h('div', { class: 'slot' });
  const t = table(null, [
    { label: 'Batch' }, { label: 'Package' }, { label: 'Type' }, { label: 'State' },
    { label: 'Completion' }, { label: 'Success rate', num: true },
    { label: 'Devices', num: true }, { label: 'Created' },
  ], { stack: true });
  const pg = pager((dir) => {
    offset = Math.max(0, offset + dir * PAGE);
    ctx.setQuery(offset ? { offset } : {});
    ctx.refreshNow();
  }, 'batches');

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Batches' })),
    h('p', { class: 'sub', text: 'Newest first. Completion is final tasks over all tasks; ' +
                                 'success rate is succeeded / (succeeded + failed).' }),
    toolbar, t.el, pg.el);
  fill('batches.toolbar', toolbar, null, ctx);

  function make(b) {
    const name = h('a', { href: hashFor('batch', b.id) });
    return h('tr', {},
      h('td', { class: 'wrap' }, name, h('div', { class: 'note mono', 'data-cell': 'id' })),
      h('td', { 'data-cell': 'package' }),
      h('td', { 'data-cell': 'type' }),
      h('td', {}, badge(b.state)),
      h('td', {}, progressBar('Completion of batch ' + b.id)),
      h('td', { class: 'num', 'data-cell': 'success_rate' }),
      h('td', { class: 'num', 'data-cell': 'total' }),
      h('td', { 'data-cell': 'created' }));
  }

  function update(tr, b) {
    const cell = (n) => tr.querySelector(`[data-cell="${n}"]`);
    setText(tr.querySelector('a'), b.name || b.id);
    setText(cell('id'), b.id);
    setText(cell('package'), `${b.package || '—'} (${b.version || '?'})`);
    setText(cell('type'), b.type || '—');
    setBadge(tr.querySelector('.badge'), b.state);
    setProgress(tr.querySelector('.bar'), b.completion, fmtRate(b.completion));
    setText(cell('success_rate'), fmtRate(b.success_rate));
    setText(cell('total'), fmtInt(b.total));
    setText(cell('created'), fmtTime(b.created));
  }

  async function refresh() {
    const d = await ctx.get('batches', { offset, limit: PAGE });
    keyedRows(t.tbody, d.batches, (b) => b.id, make, update,
              offset ? 'No batches on this page.' : 'No batch yet: create one with otactl batch create.');
    pg.set(offset, d.batches.length, d.total);
  }

  return { title: 'Batches', live: true, refresh };
}
