// Creating a batch (operators): the options of `otactl batch create` as a
// form, sent as POST batches; the worker creates it and the page opens the
// new batch.  The form checks nothing itself: the API checks every field
// as otactl does (the same code), and its refusal is shown under the form,
// which keeps what was typed.  The rollout options (docs/rollouts.md) are
// sent only when filled.

import { h, setText, fmtInt } from '../dom.js';
import { formMessages, refusal } from '../actions.js';

const ROLLOUT = [
  ['waves', 'Waves', 'text', '1%,10%,100% or 10,100,1000', 'cumulative, of the batch or devices'],
  ['success_threshold', 'Success threshold (%)', 'text', '95', 'succeeded share a wave needs before the next opens'],
  ['error_threshold', 'Error threshold (%)', 'text', '5', 'failed share that pauses the batch'],
  ['max_per_minute', 'Max devices per minute', 'text', '100', 'new offers per minute'],
  ['ramp', 'Ramp (base,factor)', 'text', '10,2', 'the rate grows by factor each minute from base'],
  ['abort_failure_rate', 'Abort at failure rate (%)', 'text', '20', 'cancel the batch above it'],
  ['abort_min', 'Abort after finished devices', 'text', '50', 'finished devices before the abort rule applies'],
  ['start_at', 'Start at', 'datetime-local', '', 'your browser\'s time zone'],
  ['timeout', 'Task timeout (minutes)', 'text', '60', 'empty: the worker\'s'],
];

function field(id, label, control, help) {
  if (help) control.setAttribute('aria-describedby', id + '-help');
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), control,
           help ? h('span', { id: id + '-help', class: 'note', text: help }) : null);
}

// "2026-12-02T05:30" (datetime-local: the browser's time) -> UTC with its
// "Z", which the API reads the same whatever the server's time zone
function utc(v) {
  if (!v) return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;           // the API says what is wrong
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function mount(root, { query }, ctx) {
  const head = h('div', { class: 'page-head' }, h('h1', { text: 'Create a batch' }));
  if (!ctx.canWrite) {
    const who = ctx.who || {};
    root.append(head, h('p', { class: 'error-box', role: 'alert',
      text: 'Creating a batch needs an operator\'s token' +
            (who.role ? `: this one (${who.token || 'token'}) is a ${who.role}'s.` : '.') }),
      h('p', {}, h('a', { href: '#/batches', text: 'Back to the batches' })));
    return { title: 'Create a batch', live: false };
  }

  const pkgList = h('datalist', { id: 'bt-packages' });
  const pkg = h('input', { id: 'bt-package', name: 'package', list: 'bt-packages', autocomplete: 'off',
                           spellcheck: 'false', value: query.get('package') || '' });
  const pkgNote = h('span', { class: 'note', id: 'bt-package-help', 'aria-live': 'polite' });
  pkg.setAttribute('aria-describedby', 'bt-package-help');
  const type = query.get('type') === 'upgrade' ? 'upgrade' : 'verify';
  const radio = (v, label, help) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'type', value: v, id: 'bt-type-' + v, checked: v === type }),
    ` ${label} `, h('span', { class: 'note', text: help }));
  const name = h('input', { id: 'bt-name', name: 'name', autocomplete: 'off', maxlength: 128 });
  const devices = h('textarea', { id: 'bt-devices', name: 'devices', rows: 3, spellcheck: 'false' });
  const devField = field('bt-devices', 'Devices', devices,
                         'device names, separated by commas, spaces or new lines');
  const from = h('input', { id: 'bt-from', name: 'from_version', autocomplete: 'off', placeholder: 'any',
                            spellcheck: 'false' });
  const protocol = h('select', { id: 'bt-protocol', name: 'protocol' },
    ...['https', 'http', 'mqtt'].map((p) => h('option', { value: p, text: p })));
  const method = h('select', { id: 'bt-method', name: 'method' },
    h('option', { value: 'static', text: 'static: the devices known now' }),
    h('option', { value: 'dynamic', text: 'dynamic: devices that join later too' }));
  const push = h('input', { type: 'checkbox', id: 'bt-push', name: 'push' });

  const rollout = {};
  const rolloutFields = ROLLOUT.map(([k, label, t, ph, help]) => {
    rollout[k] = h('input', { id: 'bt-' + k.replace(/_/g, '-'), name: k, type: t, autocomplete: 'off',
                              spellcheck: 'false', placeholder: ph || null });
    return field(rollout[k].id, label, rollout[k], help);
  });
  const rolloutBox = h('details', { class: 'rollout', id: 'bt-rollout' },
    h('summary', { text: 'Rollout options (waves, thresholds, rate, abort rule, start, timeout)' }),
    h('p', { class: 'note', text: 'All optional: see docs/rollouts.md. Sent only when filled.' }),
    h('div', { class: 'form-grid' }, rolloutFields));

  const submit = h('button', { type: 'submit', id: 'bt-submit', text: 'Create batch' });
  const msg = formMessages('bt');
  const form = h('form', { class: 'panel write-form', id: 'batch-form', novalidate: true,
                           'aria-describedby': 'bt-error' },
    h('fieldset', { class: 'choices' }, h('legend', { text: 'Type' }),
      radio('verify', 'Verify', 'a few named devices try the package first'),
      radio('upgrade', 'Upgrade', 'every device of the product and module that needs it')),
    h('div', { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: 'bt-package', text: 'Package' }), pkg, pkgList, pkgNote),
      field('bt-name', 'Name', name, 'shown in the lists'),
      devField,
      field('bt-from', 'Source version', from, 'only devices at this version (empty: any)'),
      field('bt-protocol', 'Protocol', protocol, 'how the devices download'),
      field('bt-method', 'Method', method, 'dynamic is for upgrade batches'),
      h('div', { class: 'field' }, h('label', { class: 'choice', for: 'bt-push' }, push,
        ' Push: notify the devices at once'))),
    rolloutBox,
    h('div', { class: 'form-actions' }, submit,
      h('a', { href: '#/batches', text: 'Back to the batches' })),
    ...msg.els);

  root.append(head, h('p', { class: 'sub', text: 'The options of otactl batch create. ' +
    'A verify batch runs the package on the devices named; an upgrade batch on every device ' +
    'of the package\'s product and module that is not at its version yet.' }), form);

  const packages = new Map();
  function syncType() {
    const verify = form.elements.type.value === 'verify';
    devField.hidden = !verify;
    devices.disabled = !verify;
  }
  function describe() {
    const p = packages.get(pkg.value.trim());
    setText(pkgNote, p ? `${p.name || p.id}: ${p.product} / ${p.module} ${p.version} (${p.state.replace(/_/g, ' ')})`
                       : 'the package id (otactl package list, or the packages page)');
  }
  form.addEventListener('change', syncType);
  pkg.addEventListener('input', describe);
  syncType();
  describe();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { type: form.elements.type.value, package: pkg.value.trim() };
    const put = (k, v) => { v = v.trim(); if (v) body[k] = v; };
    put('name', name.value);
    put('from_version', from.value);
    body.protocol = protocol.value;
    body.method = method.value;
    body.push = push.checked;
    if (body.type === 'verify') body.devices = devices.value.split(/[\s,]+/).filter(Boolean);
    for (const [k] of ROLLOUT) {
      const v = k === 'start_at' ? utc(rollout[k].value) : rollout[k].value;
      put(k, v);
    }
    submit.disabled = true;
    msg.ok('Creating the batch: the worker answers…');
    try {
      const r = await ctx.write('POST', 'batches', body);
      if (!r || typeof r.id !== 'string') throw new Error('the answer names no batch');
      const skipped = Object.entries(r.skipped || {}).filter(([, n]) => n > 0)
        .map(([why, n]) => `${fmtInt(n)} ${why}`).join(', ');
      ctx.flash(r.state === 'creating'
        ? `Batch ${r.id} accepted: the worker is still creating it.`
        : `Batch ${r.id} created: ${fmtInt(r.total)} task${r.total === 1 ? '' : 's'}` +
          (skipped ? `; skipped: ${skipped}.` : '.'));
      ctx.go('#/batch/' + encodeURIComponent(r.id));
    } catch (e) {
      if (ctx.authFailed(e)) return;
      submit.disabled = false;
      msg.fail(refusal('The admin API refused the batch', e));
    }
  });

  async function refresh() {
    const d = await ctx.get('packages', { limit: 200 });
    packages.clear();
    pkgList.replaceChildren(...d.packages.map((p) => {
      packages.set(p.id, p);
      return h('option', { value: p.id, label: `${p.name || p.id} ${p.version} (${p.product} / ${p.module}, ${p.state})` });
    }));
    describe();
  }

  return { title: 'Create a batch', live: false, refresh };
}
