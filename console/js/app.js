// The console's shell: hash routes, sign-in state, the page's refresh loop,
// and what happens on errors:
//   - 401 from any call: the token is dropped and sign-in shows the API's
//     message;
//   - 503 or no answer (Redis or nginx away): a banner says so, the page
//     keeps what it shows, and the same refresh is retried every few
//     seconds until it works, when the banner goes by itself;
//   - any other error: a box on the page with the API's message.
// A write (a form, a button) shows its error next to itself; only a 401
// leaves the page, for sign-in with the API's message (ctx.authFailed).
//
// What the token may do is asked once per sign-in (GET whoami, no Redis
// involved) before the first page: session.canWrite then decides whether
// write controls show (js/actions.js); a viewer never sees one.
//
// A page module exports mount(root, params, ctx) -> {title, refresh(),
// live, destroy?()}: it builds its layout once into root, and refresh()
// (async) reads the API and updates that layout in place.  The shell calls
// refresh() at once, then every ctx.refreshMs while the page is live.

import { ApiError, session, get, request, upload, whoami } from './api.js';
import { h, setText, errorBox } from './dom.js';
import * as signin from './pages/signin.js';
import * as batches from './pages/batches.js';
import * as batch from './pages/batch.js';
import * as create from './pages/create.js';
import * as packages from './pages/packages.js';
import * as versions from './pages/versions.js';
import * as device from './pages/device.js';
import './writes/batch.js';           // the write controls, in their slots
import './writes/upload.js';

const routes = [
  [/^signin$/, signin],
  [/^batches$/, batches],
  [/^batches\/new$/, create],
  [/^batch\/([^/]+)$/, batch],
  [/^packages$/, packages],
  [/^versions$/, versions],
  [/^device\/([^/]+)$/, device],
];

const root = document.documentElement;
const refreshMs = Math.max(1, Number(new URLSearchParams(location.search).get('refresh')
                                     || root.dataset.refresh || 5)) * 1000;
const retryMs = Math.min(refreshMs, 3000);

const main = document.getElementById('main');
const banner = document.querySelector('.banner');
const nav = document.querySelector('.nav');
const find = document.querySelector('.find');
const signoutBtn = document.querySelector('.signout');
const whoEl = document.querySelector('.who');

let current = null;           // {page, el, timer, gen}
let generation = 0;
let signinMessage = '';       // why sign-in is shown (the API's words)
let flashText = '';           // what a form did, said by the page it opened

const ctx = {
  refreshMs,
  get,
  // a write: JSON body; errors are the caller's to show beside its form
  write(method, path, body) { return request(method, path, body === undefined ? {} : { body }); },
  upload,
  flash(text) { flashText = String(text || ''); },
  get canWrite() { return session.canWrite; },
  get who() { return session.who; },
  // a 401 from a write: drop the token, back to sign-in with the API's
  // message (true); any other error is for the form (false)
  authFailed(e) {
    if (!(e instanceof ApiError) || e.kind !== 'auth') return false;
    toSignin(e);
    return true;
  },
  go(hash) { if (location.hash === hash) render(); else location.hash = hash; },
  // the query of the current route, written back without a reload (a
  // search box, a page number): the page keeps its DOM and charts
  setQuery(params) {
    const { path } = parseHash();
    const q = new URLSearchParams(params).toString();
    history.replaceState(null, '', '#/' + path + (q ? '?' + q : ''));
  },
  signedIn(next) {
    signinMessage = '';
    // only a page of the console: next comes from the address
    const ok = typeof next === 'string' && /^#\/(?!signin)[\w/%.:?=&+-]*$/.test(next);
    location.hash = ok ? next : '#/batches';
  },
  get signinMessage() { return signinMessage; },
  refreshNow() { if (current) tick(current); },
};

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return { path, query };
}

function toSignin(e) {
  session.clear();
  signinMessage = `The admin API refused the token: ${e.message}`;
  if (current) current.gone = true;
  const back = location.hash && !location.hash.startsWith('#/signin') ? location.hash : '';
  location.hash = '#/signin' + (back ? '?next=' + encodeURIComponent(back) : '');
}

function setChrome(signedIn, path) {
  nav.hidden = !signedIn;
  find.hidden = !signedIn;
  signoutBtn.hidden = !signedIn;
  const who = session.who;
  whoEl.hidden = !signedIn || !who || !who.role;
  if (!whoEl.hidden) {
    setText(whoEl, `${who.token || 'token'} · ${who.role === 'operator' ? 'operator' : who.role + ' (read only)'}`);
  }
  for (const a of nav.querySelectorAll('a')) {
    const on = path === a.dataset.nav || (a.dataset.nav === 'batches' && path.startsWith('batch/'));
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function showBanner(err) {
  const what = err.status === 0
    ? `The admin API does not answer (${err.message}).`
    : `The admin API cannot read its storage: Redis is unreachable (${err.status}: ${err.message}).`;
  setText(banner, `${what} Showing the last data read; retrying every ${retryMs / 1000} s.`);
  banner.hidden = false;
  banner.dataset.state = 'down';
}

function hideBanner() {
  if (!banner.hidden) {
    banner.hidden = true;
    banner.textContent = '';
    delete banner.dataset.state;
  }
}

function unmount() {
  if (!current) return;
  clearTimeout(current.timer);
  current.gone = true;
  if (current.page.destroy) current.page.destroy();
  current = null;
}

function render() {
  let { path, query } = parseHash();
  if (!path) path = 'batches';
  const signedIn = !!session.token;
  if (!signedIn && path !== 'signin') {
    const next = location.hash && location.hash !== '#/signin' ? location.hash : '';
    history.replaceState(null, '', '#/signin' + (next ? '?next=' + encodeURIComponent(next) : ''));
    return render();
  }
  if (signedIn && path !== 'signin' && session.who === null) {
    askWho();
    return;
  }
  unmount();
  setChrome(signedIn && path !== 'signin', path);

  let mod = null;
  let params = [];
  for (const [re, m] of routes) {
    const hit = path.match(re);
    if (hit) { mod = m; params = hit.slice(1).map(decodeURIComponent); break; }
  }

  const el = h('div', { class: 'page' });
  main.replaceChildren(el);
  if (!mod) {
    el.append(h('h1', { tabindex: -1, text: 'Not found' }),
              errorBox(`There is no page "${path}".`),
              h('p', {}, h('a', { href: '#/batches', text: 'Go to the batches' })));
    document.title = 'Not found · OTA console';
    return;
  }
  const page = mod.mount(el, { args: params, query }, ctx);
  document.title = (page.title || 'OTA console') + ' · OTA console';
  current = { page, el, timer: 0, gen: ++generation, errorEl: null };
  if (flashText) {
    const note = h('p', { class: 'flash', role: 'status', text: flashText });
    const head = el.querySelector(':scope > .page-head');
    if (head) head.after(note); else el.prepend(note);
    flashText = '';
  }
  const heading = el.querySelector('h1');
  if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: true }); }
  tick(current);
}

// what the token may do, before the first page after a sign-in or a
// reload; any answer but a 401 shows the page (read only when unknown)
let asking = null;
function askWho() {
  if (asking) return;
  unmount();
  main.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
  asking = whoami().then((who) => {
    session.who = { token: String(who.token || ''), role: String(who.role || ''), write: who.write === true };
  }, (e) => {
    if (e instanceof ApiError && e.kind === 'auth') { asking = null; toSignin(e); return 'gone'; }
    // unknown (the API away): no write control now, asked again at the
    // next page opened
    session.who = { token: '', role: '', write: false, unknown: true };
    return null;
  }).then((r) => {
    asking = null;
    if (r !== 'gone') render();
  });
}

// one refresh of the current page; a refresh asked for while one runs
// (typing in a search box) runs right after it, never beside it
async function tick(cur) {
  if (!cur.page.refresh) return;
  if (cur.running) { cur.again = true; return; }
  cur.running = true;
  clearTimeout(cur.timer);
  let wait = cur.page.live ? refreshMs : 0;
  try {
    await cur.page.refresh();
    if (cur.gone) return;
    hideBanner();
    if (cur.errorEl) { cur.errorEl.remove(); cur.errorEl = null; }
  } catch (e) {
    if (cur.gone) return;
    wait = fail(cur, e) ? retryMs : wait;
  } finally {
    cur.running = false;
  }
  if (cur.gone) return;
  if (cur.again) { cur.again = false; tick(cur); return; }
  if (wait) cur.timer = setTimeout(() => tick(cur), wait);
}

// what a failed refresh does; true when it should be retried soon
function fail(cur, e) {
  if (!(e instanceof ApiError)) {
    console.error(e);
    e = new ApiError('http', 0, 'the console failed: ' + (e && e.message));
  }
  if (e.kind === 'auth') {
    toSignin(e);
    return false;
  }
  if (e.kind === 'down') {
    showBanner(e);
    return true;
  }
  hideBanner();
  const text = `The admin API answered ${e.status || 'an error'}: ${e.message}`;
  if (!cur.errorEl) {
    cur.errorEl = errorBox(text);
    const head = cur.el.querySelector(':scope > .page-head');
    if (head) head.after(cur.errorEl); else cur.el.prepend(cur.errorEl);
  } else {
    setText(cur.errorEl, text);
  }
  return false;
}

find.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = find.elements.device.value.trim();
  if (name) ctx.go('#/device/' + encodeURIComponent(name));
});

signoutBtn.addEventListener('click', () => {
  session.clear();
  signinMessage = 'Signed out.';
  location.hash = '#/signin';
});

window.addEventListener('hashchange', () => {
  // a whoami that failed (not a 401) is asked again on the next page
  if (session.who && session.who.unknown) session.who = null;
  render();
});
render();
