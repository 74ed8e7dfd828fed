// Where the write controls go (second phase, once the admin write API of
// issue 19 exists).  Each page leaves named slots in its layout and fills
// them here with what it shows; a control registers for a slot:
//
//   register('batch.actions', (slot, batch, ctx) => {
//     slot.append(button('Pause', () => ctx.write('POST', `batches/${batch.id}/pause`)));
//   });
//
// Slots today: 'batches.toolbar' (create a batch), 'batch.actions'
// (pause / resume / cancel), 'packages.toolbar' (upload form),
// 'package.actions', 'device.actions'.  Nothing is registered in this
// phase: the read-only API has no writes, and fill() shows nothing unless
// session.canWrite says the token may write (a viewer token never sees a
// write control).

import { session } from './api.js';

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
