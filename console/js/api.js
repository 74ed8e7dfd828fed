// The admin API client: the only module that talks to the server.
//
// The token lives in sessionStorage (this tab only, gone when it closes) and
// goes out as "Authorization: Bearer <token>"; no cookie is ever set or sent
// (credentials: "omit").  Every failure is an ApiError whose kind tells the
// shell what to do:
//   "auth"    401: the token is wrong or expired -> back to sign-in
//   "down"    503 (Redis unreachable), or no answer at all -> banner, retry
//   "http"    any other error answer (400, 403, 404, 409, ...) -> shown on
//             the page, or next to the form that sent it
// The API's own {"code","message"} is kept as the error's message.

const TOKEN_KEY = 'ota-console-token';
const TIMEOUT_MS = 10000;
// a write waits for the worker (up to 10 s in the API, 2 s before a
// large batch answers 202): a little longer than that
const WRITE_TIMEOUT_MS = 15000;

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
  set(token, who) { sessionStorage.setItem(TOKEN_KEY, token); this.who = who || null; },
  clear() { sessionStorage.removeItem(TOKEN_KEY); this.who = null; },
  // what this token may do, as GET whoami answers it ({token, role,
  // write}); null until asked.  Only the API decides: a write control
  // that shows by mistake still gets the API's 403.
  who: null,
  get canWrite() { return !!(this.who && this.who.write === true); },
};

export function apiUrl(path, params) {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  return url;
}

// an answer (status, content type, text) -> its JSON, or the ApiError
function answer(status, ok, type, text, statusText) {
  let data = null;
  if ((type || '').includes('application/json') && text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (ok) {
    if (data === null) throw new ApiError('http', status, 'the admin API answered something that is not JSON');
    return data;
  }
  // nginx's own error pages (a body over client_max_body_size) are HTML
  const msg = (data && typeof data.message === 'string') ? data.message
            : (type || '').includes('html') ? `${status} ${statusText || 'error'}`
            : (text.trim().slice(0, 200) || statusText || 'error');
  if (status === 401) throw new ApiError('auth', 401, msg);
  if (status === 503 || status === 502 || status === 504) throw new ApiError('down', status, msg);
  throw new ApiError('http', status, msg);
}

function headersFor(token) {
  const headers = { Accept: 'application/json' };
  const tok = token ?? session.token;
  if (tok) headers.Authorization = 'Bearer ' + tok;
  return headers;
}

// One request; body is sent as JSON, or as it is when it is a FormData
// (multipart, the browser writes the boundary).
export async function request(method, path, { params, body, token, timeout } = {}) {
  const ms = timeout || (method === 'GET' ? TIMEOUT_MS : WRITE_TIMEOUT_MS);
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ms);
  const headers = headersFor(token);
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
      ? `the admin API did not answer within ${ms / 1000} s`
      : 'the admin API cannot be reached');
  } finally {
    clearTimeout(timer);
  }
  const text = await res.text().catch(() => '');
  return answer(res.status, res.ok, res.headers.get('content-type'), text, res.statusText);
}

export const get = (path, params) => request('GET', path, { params });

// What the token may do (no Redis involved in the API).
export async function whoami(token) {
  return request('GET', 'whoami', { token });
}

// A multipart upload (FormData) with its progress: fetch() reports no
// upload progress (a streamed request body needs HTTP/2), so this one
// request goes by XMLHttpRequest, with the same headers, no cookie
// (withCredentials false) and the same errors as request().
// onProgress(sent, total) while the body goes out.  Returns {promise, abort}.
export function upload(path, form, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', apiUrl(path));
    xhr.withCredentials = false;
    for (const [k, v] of Object.entries(headersFor())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (ev) => {
      if (onProgress && ev.lengthComputable) onProgress(ev.loaded, ev.total);
    };
    xhr.onload = () => {
      try {
        resolve(answer(xhr.status, xhr.status >= 200 && xhr.status < 300,
                       xhr.getResponseHeader('content-type'), xhr.responseText || '',
                       xhr.statusText));
      } catch (e) {
        reject(e);
      }
    };
    xhr.onerror = () => reject(new ApiError('down', 0, 'the admin API cannot be reached ' +
                                            '(the upload was cut off)'));
    xhr.onabort = () => reject(new ApiError('aborted', 0, 'the upload was stopped'));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
