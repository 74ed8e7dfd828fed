// The admin API client: the only module that talks to the server.
//
// The token lives in sessionStorage (this tab only, gone when it closes) and
// goes out as "Authorization: Bearer <token>"; no cookie is ever set or sent
// (credentials: "omit").  Every failure is an ApiError whose kind tells the
// shell what to do:
//   "auth"    401: the token is wrong or expired -> back to sign-in
//   "down"    503 (Redis unreachable), or no answer at all -> banner, retry
//   "http"    any other error answer (400, 404, ...) -> shown on the page
// The API's own {"code","message"} is kept as the error's message.

const TOKEN_KEY = 'ota-console-token';
const TIMEOUT_MS = 10000;

const base = new URL(document.documentElement.dataset.api || '../admin/',
                     document.baseURI);

export class ApiError extends Error {
  constructor(kind, status, message) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

export const session = {
  get token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
  },
  set(token) { sessionStorage.setItem(TOKEN_KEY, token); },
  clear() { sessionStorage.removeItem(TOKEN_KEY); },
  // What this token may do.  The read-only API has no roles: the write
  // controls of the second phase (issue 19) ask here before they show.
  canWrite: false,
};

export function apiUrl(path, params) {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  return url;
}

// One request.  method/body are there for the write API of the second
// phase; today every call is a GET.
export async function request(method, path, { params, body, token } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  const headers = { Accept: 'application/json' };
  const tok = token ?? session.token;
  if (tok) headers.Authorization = 'Bearer ' + tok;
  if (body !== undefined && !(body instanceof FormData)) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiUrl(path, params), {
      method, headers, body, credentials: 'omit', cache: 'no-store',
      redirect: 'error', signal: ctl.signal,
    });
  } catch (e) {
    throw new ApiError('down', 0, e.name === 'AbortError'
      ? `the admin API did not answer within ${TIMEOUT_MS / 1000} s`
      : 'the admin API cannot be reached');
  } finally {
    clearTimeout(timer);
  }

  let data = null;
  const text = await res.text().catch(() => '');
  if ((res.headers.get('content-type') || '').includes('application/json') && text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) {
    if (data === null) throw new ApiError('http', res.status, 'the admin API answered something that is not JSON');
    return data;
  }
  const msg = (data && typeof data.message === 'string') ? data.message
            : (text.trim().slice(0, 200) || res.statusText || 'error');
  if (res.status === 401) throw new ApiError('auth', 401, msg);
  if (res.status === 503 || res.status === 502 || res.status === 504) {
    throw new ApiError('down', res.status, msg);
  }
  throw new ApiError('http', res.status, msg);
}

export const get = (path, params) => request('GET', path, { params });
