// Sign-in: the admin token (nginx's ota_admin_token) is checked with
// GET whoami before it is kept (no Redis involved: it works while Redis is
// away, and says whether the token may write); a refusal shows the API's
// message next to the form.

import { ApiError, session, whoami } from '../api.js';
import { h, setText } from '../dom.js';

export function mount(root, { query }, ctx) {
  const input = h('input', { id: 'token', name: 'token', type: 'password', required: true,
                             autocomplete: 'off', spellcheck: 'false',
                             'aria-describedby': 'token-help signin-error' });
  const error = h('p', { id: 'signin-error', class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', id: 'signin-submit', text: 'Sign in' });
  const form = h('form', { novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'token', text: 'Admin token' }), input),
    h('p', { id: 'token-help', class: 'note',
             text: 'The token of the admin API (ota_admin_token in nginx). It stays in this ' +
                   'browser tab (sessionStorage) and is sent as a bearer header; no cookie is set.' }),
    button, error);

  root.append(h('section', { class: 'signin panel', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'Sign in' }), form));

  if (ctx.signinMessage) setText(error, ctx.signinMessage);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) { setText(error, 'Enter the admin token.'); input.focus(); return; }
    button.disabled = true;
    setText(error, '');
    try {
      const who = await whoami(token);
      session.set(token, { token: String(who.token || ''), role: String(who.role || ''),
                           write: who.write === true });
    } catch (e) {
      button.disabled = false;
      setText(error, e instanceof ApiError && e.kind === 'auth'
        ? `The admin API refused the token: ${e.message}`
        : `Cannot sign in: ${e.message}`);
      input.select();
      return;
    }
    ctx.signedIn(query.get('next'));
  });

  setTimeout(() => input.focus(), 0);
  return { title: 'Sign in', live: false };
}
