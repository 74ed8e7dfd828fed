// The write controls of the batches: pause / resume / cancel on a batch's
// page, and the way to the create-batch form on the batches page.  The
// worker decides (docs/admin-api.md): the buttons offered follow the
// batch's state, and a refusal (409: the state changed meanwhile) is shown
// next to them with the API's message.

import { register, formMessages, refusal } from '../actions.js';
import { h } from '../dom.js';

const FINAL = new Set(['cancelled', 'finished']);
const DONE = { pause: 'Paused.', resume: 'Resumed.', cancel: 'Cancelled: its open tasks are cancelled.' };
const DOING = { pause: 'Pausing…', resume: 'Resuming…', cancel: 'Cancelling…' };

// what the last action said, kept across the slot's refill (the state it
// changed refills the slot), for as long as the page shows that slot
const said = new WeakMap();

register('batches.toolbar', (slot) => {
  slot.append(h('a', { class: 'button', href: '#/batches/new', id: 'create-batch-link',
                       text: 'Create a batch' }));
});

register('batch.actions', (slot, b, ctx) => {
  const id = b.id;
  const msg = formMessages('batch-action');
  const buttons = h('div', { class: 'buttons', role: 'group', 'aria-label': 'Batch actions' });
  const confirm = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'cancel-q', hidden: true });

  // the slot may be refilled while the answer is awaited (a refresh saw
  // the new state first): the message goes to the slot's current lines
  function say(entry) {
    said.set(slot, entry);
    const st = slot.querySelector('.form-status');
    const er = slot.querySelector('.form-error');
    if (st) st.textContent = entry.ok || '';
    if (er) er.textContent = entry.error || '';
  }

  async function act(op) {
    for (const el of slot.querySelectorAll('button')) el.disabled = true;
    say({ ok: DOING[op] });
    try {
      const r = await ctx.write('POST', `batches/${encodeURIComponent(id)}/${op}`);
      say({ ok: DONE[op] + (r && r.state ? ` The batch is ${r.state}.` : '') });
    } catch (e) {
      if (ctx.authFailed(e)) return;
      say({ error: refusal(`The admin API refused to ${op} the batch`, e) });
    } finally {
      for (const el of slot.querySelectorAll('button')) el.disabled = false;
    }
    confirm.hidden = true;
    buttons.hidden = false;
    ctx.refreshNow();
  }

  const mk = (op, label, cls) => h('button', { type: 'button', id: 'batch-' + op, class: cls,
                                             'aria-describedby': 'batch-action-status batch-action-error',
                                             onclick: () => act(op) }, label);
  if (b.state === 'running') buttons.append(mk('pause', 'Pause'));
  if (b.state === 'paused') buttons.append(mk('resume', 'Resume'));
  if (!FINAL.has(b.state)) {
    // cancelling cannot be undone: asked once more, in the page (no dialog)
    const ask = h('button', { type: 'button', id: 'batch-cancel-ask', class: 'danger',
                              text: 'Cancel batch…' });
    const yes = h('button', { type: 'button', id: 'batch-cancel', class: 'danger',
                              text: 'Yes, cancel the batch', onclick: () => act('cancel') });
    const no = h('button', { type: 'button', id: 'batch-cancel-no', class: 'plain',
                             text: 'Keep it' });
    const back = () => { confirm.hidden = true; buttons.hidden = false; ask.focus(); };
    ask.addEventListener('click', () => { buttons.hidden = true; confirm.hidden = false; no.focus(); });
    no.addEventListener('click', back);
    confirm.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') back(); });
    buttons.append(ask);
    confirm.append(h('span', { id: 'cancel-q',
                               text: 'Cancel this batch? Its open tasks are cancelled; it cannot be resumed.' }),
                   yes, no);
  }
  const last = said.get(slot);
  if (!buttons.firstChild && !last) return;      // a final batch: nothing to do
  if (last && last.ok) msg.ok(last.ok);
  if (last && last.error) msg.fail(last.error);
  slot.append(h('div', { class: 'actions' }, buttons, confirm), ...msg.els);
});
