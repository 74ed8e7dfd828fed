// One device: its product, current version per module, and its tasks
// (newest batch first).  The API looks for a device's tasks in a window of
// recent batches; "Look in older batches" widens it.  Live.

import { h, setText, setBadge, badge, progressBar, setProgress, fmtPercent, fmtTime,
         fmtInt, hashFor, table, keyedRows } from '../dom.js';
import { fill } from '../actions.js';

const WINDOW = 100;

export function mount(root, { args }, ctx) {
  const id = args[0];
  let windows = 1;

  const sub = h('p', { class: 'sub' });
  const actions = h('div', { class: 'slot' });
  const versions = table(null, [{ label: 'Module' }, { label: 'Current version' },
                                { label: 'Open task' }]);
  const tasks = table(null, [{ label: 'Batch' }, { label: 'Module' }, { label: 'Target' },
                             { label: 'State' }, { label: 'Downloaded' }, { label: 'Step', num: true },
                             { label: 'Reason' }, { label: 'Batch state' }, { label: 'Created' }],
                      { stack: true });
  const scope = h('p', { class: 'note', 'aria-live': 'polite' });
  const older = h('button', { type: 'button', class: 'plain', text: 'Look in older batches', hidden: true });

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: id })), sub, actions,
    h('section', { class: 'panel', 'aria-labelledby': 'dv-title' },
      h('h2', { id: 'dv-title', text: 'Versions' }), versions.el),
    h('section', { class: 'panel', 'aria-labelledby': 'dt-title' },
      h('h2', { id: 'dt-title', text: 'Tasks' }), tasks.el, scope, older));
  fill('device.actions', actions, { device: id }, ctx);

  older.addEventListener('click', () => { windows++; ctx.refreshNow(); });

  async function refresh() {
    const path = 'devices/' + encodeURIComponent(id);
    const first = await ctx.get(path, { offset: 0, limit: WINDOW });
    const all = new Map(first.tasks.map((t) => [t.batch, t]));
    let next = first.next_offset;
    for (let w = 1; w < windows && next !== null; w++) {
      const d = await ctx.get(path, { offset: next, limit: WINDOW });
      for (const t of d.tasks) if (!all.has(t.batch)) all.set(t.batch, t);
      next = d.next_offset;
    }

    setText(sub, `product ${first.product} · registered ${fmtTime(first.created)}`);

    const mods = new Set([...Object.keys(first.versions), ...Object.keys(first.open)]);
    keyedRows(versions.tbody, [...mods].sort(), (m) => m,
      () => h('tr', {}, h('td', { 'data-cell': 'module' }), h('td', { 'data-cell': 'version' }),
              h('td', { 'data-cell': 'open' }, h('a'))),
      (tr, m) => {
        setText(tr.querySelector('[data-cell="module"]'), m);
        setText(tr.querySelector('[data-cell="version"]'), first.versions[m] || 'never reported');
        const a = tr.querySelector('[data-cell="open"] a');
        const b = first.open[m];
        setText(a, b || '');
        if (b) a.setAttribute('href', hashFor('batch', b)); else a.removeAttribute('href');
      }, 'The device never reported a version.');

    keyedRows(tasks.tbody, [...all.values()], (t) => t.batch,
      (t) => h('tr', {},
        h('td', { class: 'wrap' }, h('a', { href: hashFor('batch', t.batch) })),
        h('td', { 'data-cell': 'module' }), h('td', { class: 'mono', 'data-cell': 'version' }),
        h('td', { 'data-cell': 'state' }, badge(t.state)),
        h('td', {}, progressBar(`Downloaded for batch ${t.batch}`)),
        h('td', { class: 'num', 'data-cell': 'step' }), h('td', { 'data-cell': 'reason' }),
        h('td', { 'data-cell': 'bstate' }, badge(t.batch_state)), h('td', { 'data-cell': 'created' })),
      (tr, t) => {
        setText(tr.querySelector('a'), (t.name || t.batch) + (t.open ? ' (open)' : ''));
        setText(tr.querySelector('[data-cell="module"]'), t.module || '—');
        setText(tr.querySelector('[data-cell="version"]'), t.version || '—');
        setBadge(tr.querySelector('[data-cell="state"] .badge'), t.state);
        setProgress(tr.querySelector('.bar'), t.progress / 100, fmtPercent(t.progress));
        setText(tr.querySelector('[data-cell="step"]'), t.step ?? '');
        setText(tr.querySelector('[data-cell="reason"]'), (t.reason || '').replace(/_/g, ' '));
        setBadge(tr.querySelector('[data-cell="bstate"] .badge'), t.batch_state);
        setText(tr.querySelector('[data-cell="created"]'), fmtTime(t.created));
      }, 'No task in the batches looked at.');

    const looked = Math.min(first.batches, windows * WINDOW);
    setText(scope, `Looked at the ${fmtInt(looked)} most recent of ${fmtInt(first.batches)} batches` +
            (Object.keys(first.open).length ? ', and at the batches of its open tasks.' : '.'));
    older.hidden = next === null;
  }

  return { title: 'Device ' + id, live: true, refresh };
}
