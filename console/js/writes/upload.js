// The packages page's upload form (operators): the fields of `otactl
// package add` (the manual's "add package": product, module, name,
// version, full or diff from a version, signature algorithm, must be
// verified, description, extra key=value fields, one or more files), sent
// as multipart/form-data (the browser's FormData) to POST packages, with
// the upload's progress.  The limits shown are the platform's settings
// (GET config: package.max_size, package.extensions); a file over them is
// stopped here, before its bytes are sent, with the setting's name; every
// other check is the API's, and its refusal is shown under the form.

import { register, formMessages, refusal } from '../actions.js';
import { h, setText, fmtBytes, fmtInt, progressBar, setProgress } from '../dom.js';

function field(id, label, control, help) {
  if (help) control.setAttribute('aria-describedby', id + '-help');
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), control,
           help ? h('span', { id: id + '-help', class: 'note', text: help }) : null);
}

register('packages.toolbar', (slot, _data, ctx) => {
  const input = (id, name, more) => h('input', { id, name, autocomplete: 'off', spellcheck: 'false', ...more });
  const files = h('input', { id: 'up-files', name: 'file', type: 'file', multiple: true });
  const prodList = h('datalist', { id: 'up-products' });
  const modList = h('datalist', { id: 'up-modules' });
  const product = input('up-product', 'product', { list: 'up-products' });
  const module = input('up-module', 'module', { list: 'up-modules', value: 'default' });
  const name = input('up-name', 'name', { maxlength: 128 });
  const version = input('up-version', 'version', { placeholder: 'X.Y.Z' });
  const type = h('select', { id: 'up-type', name: 'type' },
    h('option', { value: 'full', text: 'full: the whole firmware' }),
    h('option', { value: 'diff', text: 'diff: a delta from one version' }));
  const from = input('up-from', 'from', { placeholder: 'X.Y.Z' });
  const fromField = field('up-from', 'From version', from, 'the version the delta applies to');
  const sign = h('select', { id: 'up-sign', name: 'sign' },
    h('option', { value: 'sha256', text: 'sha256' }), h('option', { value: 'md5', text: 'md5' }));
  const verify = h('input', { type: 'checkbox', id: 'up-verify', name: 'verify' });
  const desc = h('textarea', { id: 'up-desc', name: 'desc', rows: 2 });
  const ext = h('textarea', { id: 'up-ext', name: 'ext', rows: 2, spellcheck: 'false',
                              placeholder: 'region=eu' });
  const limits = h('p', { class: 'note limits', id: 'up-limits', 'aria-live': 'polite',
                          text: 'Reading the limits…' });
  files.setAttribute('aria-describedby', 'up-limits');

  const bar = progressBar('Upload progress');
  const sent = h('span', { class: 'note', id: 'up-sent' });
  const stop = h('button', { type: 'button', class: 'plain', id: 'up-stop', text: 'Stop the upload' });
  const progress = h('div', { class: 'upload-progress', id: 'up-progress', hidden: true }, bar, sent, stop);
  const submit = h('button', { type: 'submit', id: 'up-submit', text: 'Upload package' });
  const msg = formMessages('up');

  const form = h('form', { id: 'upload-form', class: 'write-form', novalidate: true,
                           'aria-describedby': 'up-error' },
    h('div', { class: 'form-grid' },
      h('div', { class: 'field wide' }, h('label', { for: 'up-files', text: 'Files' }), files, limits),
      h('div', { class: 'field' }, h('label', { for: 'up-product', text: 'Product' }), product, prodList),
      h('div', { class: 'field' }, h('label', { for: 'up-module', text: 'Module' }), module, modList),
      field('up-name', 'Name', name, 'shown in the lists'),
      field('up-version', 'Version', version, 'X.Y.Z, each part 0..999999'),
      field('up-type', 'Type', type),
      fromField,
      field('up-sign', 'Digest', sign, 'computed by the server for each file'),
      h('div', { class: 'field' }, h('label', { class: 'choice', for: 'up-verify' }, verify,
        ' Must be verified (a verify batch first)')),
      field('up-desc', 'Description', desc),
      field('up-ext', 'Extra fields', ext, 'key=value, one a line')),
    h('div', { class: 'form-actions' }, submit), progress, ...msg.els);

  const box = h('details', { class: 'panel upload', id: 'upload' },
    h('summary', { text: 'Upload a package' }), form);
  slot.append(box);

  // ---- the limits and the products ----
  let maxSize = null;
  let exts = null;
  let products = [];

  function syncType() {
    fromField.hidden = type.value !== 'diff';
    from.disabled = type.value !== 'diff';
  }
  function fillModules() {
    const p = products.find((x) => x.product === product.value.trim());
    modList.replaceChildren(...(p ? p.modules : [{ module: 'default' }]).map((m) =>
      h('option', { value: m.module, label: m.alias || m.module })));
  }
  type.addEventListener('change', syncType);
  product.addEventListener('input', fillModules);
  syncType();

  Promise.all([ctx.get('config'), ctx.get('products', { limit: 1000 }).catch(() => null)])
    .then(([cfg, prods]) => {
      maxSize = Number(cfg['package.max_size']);
      exts = String(cfg['package.extensions'] || '').split(/[\s,]+/).filter(Boolean);
      if (exts.length) files.setAttribute('accept', exts.join(','));
      limits.dataset.maxSize = String(maxSize);
      limits.dataset.extensions = exts.join(' ');
      setText(limits, `Each file at most ${fmtBytes(maxSize)} (${fmtInt(maxSize)} bytes); ` +
              `accepted endings: ${exts.join(' ')}. The platform's settings ` +
              '(package.max_size, package.extensions; otactl config).');
      if (prods) {
        products = prods.products || [];
        prodList.replaceChildren(...products.map((p) => h('option', { value: p.product })));
        fillModules();
      }
    }, (e) => {
      if (ctx.authFailed(e)) return;
      setText(limits, refusal('The limits could not be read', e) + '. The API checks them anyway.');
    });

  // a file the platform refuses anyway, before its bytes are sent
  function precheck(list) {
    if (!list.length) return 'Choose one or more files.';
    for (const f of list) {
      if (!f.size) return `${f.name}: the file is empty.`;
      if (maxSize && f.size > maxSize) {
        return `${f.name}: ${fmtBytes(f.size)} is over the limit of ${fmtBytes(maxSize)} (package.max_size).`;
      }
      const low = f.name.toLowerCase();
      if (exts && exts.length && !exts.some((x) => low.endsWith(x.toLowerCase()))) {
        return `${f.name}: not an accepted ending (package.extensions: ${exts.join(' ')}).`;
      }
    }
    return '';
  }

  let inFlight = null;
  stop.addEventListener('click', () => { if (inFlight) inFlight.abort(); });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (inFlight) return;
    const list = Array.from(files.files || []);
    const bad = precheck(list);
    if (bad) { msg.fail(bad); files.focus(); return; }

    // the fields first, then the files: the server knows where a file goes
    // before its bytes arrive
    const fd = new FormData();
    const put = (k, v) => { v = v.trim(); if (v) fd.append(k, v); };
    put('product', product.value);
    put('module', module.value);
    put('name', name.value);
    put('version', version.value);
    fd.append('type', type.value);
    if (type.value === 'diff') put('from', from.value);
    fd.append('sign', sign.value);
    if (verify.checked) fd.append('verify', 'true');
    put('desc', desc.value);
    for (const line of ext.value.split('\n')) put('ext', line);
    for (const f of list) fd.append('file', f, f.name);

    const total = list.reduce((n, f) => n + f.size, 0);
    submit.disabled = true;
    progress.hidden = false;
    setProgress(bar, 0);
    progress.dataset.sent = '0';
    setText(sent, `0 of ${fmtBytes(total)}`);
    msg.ok(`Uploading ${list.length} file${list.length === 1 ? '' : 's'}…`);
    inFlight = ctx.upload('packages', fd, (n, of) => {
      progress.dataset.sent = String(n);             // the bytes gone out (the tests read it)
      setProgress(bar, of ? n / of : null);
      setText(sent, `${fmtBytes(Math.min(n, total))} of ${fmtBytes(total)}`);
    });
    try {
      const r = await inFlight.promise;
      setProgress(bar, 1);
      const id = r && typeof r.id === 'string' ? r.id : '';
      msg.ok('');
      const status = form.querySelector('.form-status');
      status.replaceChildren(`Uploaded: package ${id}. `,
        h('a', { href: `#/batches/new?package=${encodeURIComponent(id)}&type=verify`,
                 text: 'Create a verify batch of it' }));
      for (const el of [files, name, version, from, desc, ext]) el.value = '';
      verify.checked = false;
      ctx.refreshNow();
    } catch (e) {
      if (ctx.authFailed(e)) return;
      msg.fail(e.kind === 'aborted' ? 'The upload was stopped: nothing was added.'
                                    : refusal('The admin API refused the package', e));
    } finally {
      inFlight = null;
      submit.disabled = false;
      progress.hidden = true;
    }
  });
});
