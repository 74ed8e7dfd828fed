// The console's shell: hash routes, sign-in state, the page's refresh loop,
// and what happens on errors:
//   - 401 from any call: the token is dropped and sign-in shows the API's
//     message;
//   - 503 or no answer (Redis or nginx away): a banner says so, the page
//     keeps what it shows, and the same refresh is retried every few
//     seconds until it works, when the banner goes by itself;
//   - any other error: a box on the page with the API's message.
//
// A page module exports mount(root, params, ctx) -> {title, refresh(),
// live, destroy?()}: it builds its layout once into root, and refresh()
// (async) reads the API and updates that layout in place.  The shell calls
// refresh() at once, then every ctx.refreshMs while the page is live.

import { ApiError, session, get } from './api.js';
import { h, setText, errorBox } from './dom.js';
import * as signin from './pages/signin.js';
import * as batches from './pages/batches.js';
import * as batch from './pages/batch.js';
import * as packages from './pages/packages.js';
import * as versions from './pages/versions.js';
import * as device from './pages/device.js';

const routes = [
  [/^signin$/, signin],
  [/^batches$/, batches],
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

let current = null;           // {page, el, timer, gen}
let generation = 0;
let signinMessage = '';       // why sign-in is shown (the API's words)

const ctx = {
  refreshMs,
  get,
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

function setChrome(signedIn, path) {
  nav.hidden = !signedIn;
  find.hidden = !signedIn;
  signoutBtn.hidden = !signedIn;
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
  const heading = el.querySelector('h1');
  if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: true }); }
  tick(current);
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
    session.clear();
    signinMessage = `The admin API refused the token: ${e.message}`;
    cur.gone = true;
    location.hash = '#/signin?next=' + encodeURIComponent(location.hash);
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

window.addEventListener('hashchange', render);
render();
