// Where the write controls go.  Each page leaves named slots in its
// layout and fills them here with what it shows; a control registers for
// a slot (js/writes/*.js):
//
//   register('batch.actions', (slot, batch, ctx) => {
//     slot.append(button('Pause', () => ctx.write('POST', `batches/${batch.id}/pause`)));
//   });
//
// Slots: 'batches.toolbar' (create a batch), 'batch.actions' (pause /
// resume / cancel, refilled when the batch's state changes),
// 'packages.toolbar' (the upload form), 'device.actions' (nothing yet).
// fill() shows nothing unless session.canWrite says the token may write
// (GET whoami): a viewer token never sees a write control.

import { session } from './api.js';
import { h, setText } from './dom.js';

const registry = new Map();

export function register(slot, render) {
  if (!registry.has(slot)) registry.set(slot, []);
  registry.get(slot).push(render);
}

// (re)fills a slot element with the controls registered for it
export function fill(slot, el, data, ctx) {
  el.dataset.slot = slot;
  el.replaceChildren();
  if (!session.canWrite) return;
  for (const render of registry.get(slot) || []) render(el, data, ctx);
}

// The two lines under a form: what it did (a live status) and the API's
// refusal (an alert), side by side with the control that caused them.
// Each has an id so a field can point at it (aria-describedby).
export function formMessages(id) {
  const status = h('p', { id: id + '-status', class: 'form-status', role: 'status' });
  const error = h('p', { id: id + '-error', class: 'form-error', role: 'alert' });
  return {
    status, error,
    els: [status, error],
    ok(text) { setText(error, ''); setText(status, text); },
    fail(text) { setText(status, ''); setText(error, text); },
    clear() { setText(status, ''); setText(error, ''); },
  };
}

// the words for a refused write: the API's own message, after its status
export function refusal(what, e) {
  const code = e && e.status ? ` (${e.status})` : '';
  return `${what}${code}: ${e && e.message ? e.message : e}`;
}
