// One batch: its counters (cards, a chart per state with the same numbers
// in a table), failure reasons, what was skipped, the download progress of
// its devices as a histogram, its waves when it has them (issue 18), and
// its devices (a page, or a search by name).  Live: everything updates in
// place every few seconds.

import { h, setText, setBadge, badge, progressBar, setProgress, fmtInt, fmtRate,
         fmtPercent, fmtTime, fmtBytes, hashFor, table, keyedRows, pager, card,
         errorBox } from '../dom.js';
import { chartBox, bars, destroy, STATE_COLORS } from '../charts.js';
import { fill } from '../actions.js';

const STATES = ['pending', 'notified', 'downloading', 'downloaded', 'installing',
                'succeeded', 'failed', 'cancelled'];
const IN_PROGRESS = ['notified', 'downloading', 'downloaded', 'installing'];
const PAGE = 50;
const SEARCH_STEP = 500;          // devices one search request looks at
const SEARCH_STEPS = 4;           // requests per refresh before "Search further"
const SEARCH_WANT = 100;          // enough matches to show

// rollout fields of issue 18 shown as they come, when the batch has them
const ROLLOUT_FIELDS = [['wave', 'Current wave'], ['rate', 'Rate'], ['abort', 'Abort rule'],
                        ['start_at', 'Starts at'], ['success_threshold', 'Success threshold'],
                        ['error_threshold', 'Error threshold']];

export function mount(root, { args, query }, ctx) {
  const id = args[0];
  let offset = Math.max(0, Number(query.get('offset')) || 0);
  let search = (query.get('q') || '').trim();
  let searchSteps = SEARCH_STEPS;
  let lastState = null;

  // ---- layout ----
  const title = h('h1', { text: id });
  const state = badge('');
  const actions = h('div', { class: 'slot' });
  const sub = h('p', { class: 'sub' });
  const pause = h('div');

  const cards = {};
  const cardEls = [['total', 'Devices'], ['succeeded', 'Succeeded'], ['failed', 'Failed'],
                   ['in_progress', 'In progress'], ['success_rate', 'Success rate'],
                   ['completion', 'Completion']].map(([f, label]) => {
    const c = card(label, f);
    cards[f] = c.value;
    return c.el;
  });

  const countsChart = chartBox('Tasks per state');
  const counts = table(null, [{ label: 'State' }, { label: 'Tasks', num: true }]);
  for (const s of STATES) {
    counts.tbody.append(h('tr', { 'data-key': s },
      h('th', { scope: 'row' }, badge(s)), h('td', { class: 'num', 'data-count': s, text: '—' })));
  }

  const histChart = chartBox('Download progress of the devices');
  const histNote = h('p', { class: 'note' });

  const failures = table(null, [{ label: 'Failure reason' }, { label: 'Tasks', num: true }]);
  const skipped = table(null, [{ label: 'Skipped at creation' }, { label: 'Devices', num: true }]);

  const wavesPanel = h('section', { class: 'panel', 'aria-labelledby': 'waves-title', hidden: true });
  const waves = table(null, [{ label: 'Wave' }, { label: 'Devices', num: true }, { label: 'State' },
                             { label: 'Succeeded', num: true }, { label: 'Failed', num: true },
                             { label: 'In progress', num: true }]);
  const rollout = h('dl', { class: 'sub' });
  wavesPanel.append(h('h2', { id: 'waves-title', text: 'Waves' }), rollout, waves.el);

  const searchInput = h('input', { id: 'device-search', type: 'search', value: search,
                                   autocomplete: 'off', spellcheck: 'false', maxlength: 64,
                                   placeholder: 'part of a device name' });
  const searchForm = h('form', { class: 'controls', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'device-search', text: 'Search devices by name' }),
      searchInput));
  const devices = table(null, [{ label: 'Device' }, { label: 'State' }, { label: 'Downloaded' },
                               { label: 'Step', num: true }, { label: 'Reason' }]);
  const searchStatus = h('p', { class: 'note', 'aria-live': 'polite' });
  const further = h('button', { type: 'button', class: 'plain', text: 'Search further', hidden: true });
  const pg = pager((dir) => {
    offset = Math.max(0, offset + dir * PAGE);
    syncQuery();
    ctx.refreshNow();
  }, 'devices');

  root.append(
    h('div', { class: 'page-head' }, title, state), sub, actions, pause,
    h('div', { class: 'cards' }, cardEls),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel', 'aria-labelledby': 'states-title' },
        h('h2', { id: 'states-title', text: 'Tasks per state' }), countsChart.el, counts.el),
      h('section', { class: 'panel', 'aria-labelledby': 'hist-title' },
        h('h2', { id: 'hist-title', text: 'Download progress of the devices' }), histChart.el,
        histNote)),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel', 'aria-labelledby': 'fail-title' },
        h('h2', { id: 'fail-title', text: 'Failure reasons' }), failures.el),
      h('section', { class: 'panel', 'aria-labelledby': 'skip-title' },
        h('h2', { id: 'skip-title', text: 'Skipped when the batch was created' }), skipped.el)),
    wavesPanel,
    h('section', { class: 'panel', 'aria-labelledby': 'dev-title' },
      h('h2', { id: 'dev-title', text: 'Devices' }), searchForm, devices.el, searchStatus,
      further, pg.el));

  function syncQuery() {
    const q = {};
    if (search) q.q = search;
    else if (offset) q.offset = offset;
    ctx.setQuery(q);
  }

  let typing = 0;
  searchInput.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      search = searchInput.value.trim();
      searchSteps = SEARCH_STEPS;
      offset = 0;
      syncQuery();
      ctx.refreshNow();
    }, 300);
  });
  searchForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearTimeout(typing);
    search = searchInput.value.trim();
    searchSteps = SEARCH_STEPS;
    syncQuery();
    ctx.refreshNow();
  });
  further.addEventListener('click', () => { searchSteps += SEARCH_STEPS; ctx.refreshNow(); });

  // ---- rendering ----
  function renderBatch(b) {
    setText(title, b.name || b.id);
    setBadge(state, b.state);
    const bits = [`id ${b.id}`, b.type, `package ${b.package} → ${b.version}`,
                  `${b.product} / ${b.module}`];
    if (b.from_version) bits.push(`from ${b.from_version}`);
    bits.push(b.protocol, b.method, b.push ? 'active push' : 'no push', `created ${fmtTime(b.created)}`);
    if (b.finished) bits.push(`finished ${fmtTime(b.finished)}`);
    const text = bits.filter(Boolean).join(' · ');
    setText(sub, text);

    if (b.pause_reason) {
      if (!pause.firstChild) pause.append(errorBox(''));
      setText(pause.firstChild, 'Paused: ' + b.pause_reason);
    } else if (pause.firstChild) {
      pause.replaceChildren();
    }

    const c = b.counts || {};
    setText(cards.total, fmtInt(b.total));
    setText(cards.succeeded, fmtInt(c.succeeded));
    setText(cards.failed, fmtInt(c.failed));
    setText(cards.in_progress, fmtInt(IN_PROGRESS.reduce((n, s) => n + (c[s] || 0), 0)));
    setText(cards.success_rate, fmtRate(b.success_rate));
    setText(cards.completion, fmtRate(b.completion));

    for (const s of STATES) setText(counts.tbody.querySelector(`[data-count="${s}"]`), fmtInt(c[s] ?? 0));
    bars(countsChart, STATES, STATES.map((s) => c[s] || 0),
         { colors: STATES.map((s) => STATE_COLORS[s]), label: 'tasks' });

    const fails = Object.entries(b.failures || {}).sort((x, y) => y[1] - x[1]);
    keyedRows(failures.tbody, fails, (f) => f[0],
      () => h('tr', {}, h('td', { 'data-cell': 'reason' }), h('td', { class: 'num', 'data-cell': 'count' })),
      (tr, f) => {
        setText(tr.querySelector('[data-cell="reason"]'), f[0].replace(/_/g, ' '));
        setText(tr.querySelector('[data-cell="count"]'), fmtInt(f[1]));
      }, 'No failure.');

    const skips = Object.entries(b.skipped || {}).filter((s) => s[1] > 0);
    const why = { current: 'already at the target version', busy: 'an open task of the module',
                  version: 'at another source version' };
    keyedRows(skipped.tbody, skips, (s) => s[0],
      () => h('tr', {}, h('td', { 'data-cell': 'why' }), h('td', { class: 'num', 'data-cell': 'count' })),
      (tr, s) => {
        setText(tr.querySelector('[data-cell="why"]'), why[s[0]] || s[0]);
        setText(tr.querySelector('[data-cell="count"]'), fmtInt(s[1]));
      }, 'None.');

    renderWaves(b);

    if (b.state !== lastState) {             // write controls depend on the state
      lastState = b.state;
      fill('batch.actions', actions, b, ctx);
    }
  }

  function renderWaves(b) {
    // a batch without --waves has "waves": [] (docs/rollouts.md)
    if (!Array.isArray(b.waves) || b.waves.length === 0) { wavesPanel.hidden = true; return; }
    wavesPanel.hidden = false;
    keyedRows(waves.tbody, b.waves, (w) => w.wave,
      (w) => h('tr', {}, h('td', { 'data-cell': 'wave' }), h('td', { class: 'num', 'data-cell': 'devices' }),
               h('td', {}, badge(w.state)), h('td', { class: 'num', 'data-cell': 'succeeded' }),
               h('td', { class: 'num', 'data-cell': 'failed' }), h('td', { class: 'num', 'data-cell': 'running' })),
      (tr, w) => {
        const wc = w.counts || {};
        setText(tr.querySelector('[data-cell="wave"]'), w.wave + (w.wave === b.wave ? ' (current)' : ''));
        setText(tr.querySelector('[data-cell="devices"]'), fmtInt(w.devices));
        setBadge(tr.querySelector('.badge'), w.state);
        setText(tr.querySelector('[data-cell="succeeded"]'), fmtInt(wc.succeeded ?? 0));
        setText(tr.querySelector('[data-cell="failed"]'), fmtInt(wc.failed ?? 0));
        setText(tr.querySelector('[data-cell="running"]'),
                fmtInt(IN_PROGRESS.reduce((n, s) => n + (wc[s] || 0), 0)));
      }, 'No wave.');
    rollout.replaceChildren(...ROLLOUT_FIELDS.filter(([k]) => b[k] !== undefined && b[k] !== null)
      .flatMap(([k, label]) => [h('dt', { text: label }),
        h('dd', { text: typeof b[k] === 'object' ? JSON.stringify(b[k]) : String(b[k]) })]));
  }

  function renderHistogram(hg) {
    const labels = hg.buckets.map((x) => x.from === x.to ? `${x.to} %` : `${x.from}–${x.to} %`);
    bars(histChart, labels, hg.buckets.map((x) => x.devices), { label: 'devices' });
    histChart.canvas.setAttribute('aria-label', 'Download progress: ' +
      hg.buckets.map((x, i) => `${labels[i]} ${x.devices}`).join(', '));
    setText(histNote, (hg.exact ? 'Every device counted' : `Estimated from a sample of ${fmtInt(hg.sampled)} devices`) +
            `; package ${fmtBytes(hg.size)}. 100 % means every byte reached the device.`);
  }

  function makeRow(d) {
    return h('tr', {},
      h('td', {}, h('a', { href: hashFor('device', d.device), class: 'mono', text: d.device })),
      h('td', { 'data-cell': 'state' }, badge(d.state)),
      h('td', { 'data-cell': 'progress' }, progressBar('Downloaded by ' + d.device)),
      h('td', { class: 'num', 'data-cell': 'step' }),
      h('td', { 'data-cell': 'reason' }));
  }

  function updateRow(tr, d) {
    setBadge(tr.querySelector('.badge'), d.state);
    setProgress(tr.querySelector('.bar'), d.progress / 100, fmtPercent(d.progress));
    setText(tr.querySelector('[data-cell="step"]'), d.step ?? '');
    setText(tr.querySelector('[data-cell="reason"]'), (d.reason || '').replace(/_/g, ' '));
  }

  async function loadDevices() {
    if (!search) {
      const d = await ctx.get(`batches/${encodeURIComponent(id)}/devices`, { offset, limit: PAGE });
      return { list: d.devices, total: d.total, page: true };
    }
    const seen = new Map();
    let cursor = '0';
    let steps = 0;
    let total = 0;
    do {
      const d = await ctx.get(`batches/${encodeURIComponent(id)}/devices`,
                              { match: search, cursor, limit: SEARCH_STEP });
      for (const x of d.devices) seen.set(x.device, x);      // a scan may repeat one
      cursor = d.cursor;
      total = d.total;
      steps++;
    } while (cursor !== '0' && steps < searchSteps && seen.size < SEARCH_WANT * (searchSteps / SEARCH_STEPS));
    const list = [...seen.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    return { list, total, page: false, done: cursor === '0' };
  }

  async function refresh() {
    const bid = encodeURIComponent(id);
    const [b, hg, devs] = await Promise.all([
      ctx.get(`batches/${bid}`), ctx.get(`batches/${bid}/histogram`), loadDevices()]);
    renderBatch(b);
    renderHistogram(hg);
    keyedRows(devices.tbody, devs.list, (d) => d.device, makeRow, updateRow,
              search ? `No device of this batch has "${search}" in its name.` : 'No device.');
    pg.el.hidden = !devs.page;
    if (devs.page) {
      pg.set(offset, devs.list.length, devs.total);
      setText(searchStatus, '');
      further.hidden = true;
    } else {
      setText(searchStatus, `${fmtInt(devs.list.length)} device${devs.list.length === 1 ? '' : 's'} ` +
              `matching "${search}"` + (devs.done ? ` among ${fmtInt(devs.total)}.`
                                                 : ` so far: part of the ${fmtInt(devs.total)} devices was searched.`));
      further.hidden = devs.done;
    }
  }

  return {
    title: 'Batch ' + id,
    live: true,
    refresh,
    destroy() { clearTimeout(typing); destroy(countsChart); destroy(histChart); },
  };
}
