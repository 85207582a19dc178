// The HTTP API of API.md, as the dashboard uses it: the session cookie, JSON, and the
// error shape {"ok": false, "error": {"code", "message"}}.
//
// CSRF (API.md section 5): a cookie-authenticated POST, PATCH or DELETE must carry the
// server's own Origin. The browser sets Origin itself (scripts cannot) and does so on every
// fetch() write. A form submission would not do: under this page's Referrer-Policy:
// no-referrer a form POST carries "Origin: null" (Fetch, "append a request Origin
// header"), which the server refuses. So every write goes through fetch() here, to this
// page's own origin only, and the forms of the pages only ever call it (preventDefault).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  // A route this server does not have (yet): 404 "no such route", not a missing resource.
  get noRoute() {
    return this.status === 404 && this.message === 'no such route';
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// (method, "/api/v1/...", body?) -> {data, headers}; throws ApiError on a non-2xx answer.
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    const err = new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText);
    if (res.status === 401 && !path.startsWith('/api/v1/auth/login') && !path.startsWith('/api/v1/invitations/accept'))
      onUnauthorized();
    throw err;
  }
  return { data, headers: res.headers };
}

export const get = (path) => api('GET', path).then((r) => r.data);

// The URL of rel="next" in a Link header, or null.
export function nextLink(headers) {
  const link = headers.get('Link') || '';
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return m ? m[1] : null;
}
