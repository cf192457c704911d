// The HTTP API (docs/PROTOCOL.md §1): JSON in, {"type","payload"} out.

export class ApiError extends Error {
  // `message` is the server's English text: the client shows its own text for the codes it
  // knows (i18n.js) and this one only for the others.
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function call(method, path, {body, token} = {}) {
  const headers = {Accept: 'application/json'};
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {method, headers, body: body && JSON.stringify(body)});
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    // An answer that is not JSON (a proxy's error page): reported below by its status.
  }
  if (!response.ok || !json || json.type === 'error') {
    const payload = (json && json.payload) || {};
    const retry = Number(response.headers.get('Retry-After')) || 0;
    throw new ApiError(response.status, payload.code || 'http',
                       payload.message || `The server answered ${response.status}.`, retry);
  }
  return json;
}

// A request whose success has no body (204); errors are read as call() reads them.
async function callNoContent(method, path, {token} = {}) {
  const headers = {Accept: 'application/json'};
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {method, headers});
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
  }
  if (response.ok) return;
  let payload = {};
  try {
    payload = (await response.json()).payload || {};
  } catch {
    // Not JSON (a proxy's error page): reported by its status.
  }
  const retry = Number(response.headers.get('Retry-After')) || 0;
  throw new ApiError(response.status, payload.code || 'http',
                     payload.message || `The server answered ${response.status}.`, retry);
}

// `lang` ("en" or "ko"): the language of the verification mail.
export async function register(name, email, password, lang) {
  return call('POST', '/api/v1/auth/register', {body: {name, email, password, lang}});
}

export async function login(email, password) {
  const json = await call('POST', '/api/v1/auth/login', {body: {email, password}});
  return json.payload.token;
}

export async function logout(token) {
  return call('POST', '/api/v1/auth/logout', {token});
}

// Mails a link to choose a new password to the account of `email`, if there is one: the
// answer is the same either way. `lang`: the mail's language.
export async function requestPasswordReset(email, lang) {
  return call('POST', '/api/v1/auth/password_reset', {body: {email, lang}});
}

// `key`: from the mailed link (/#reset=<key>). Every session of the account ends.
export async function confirmPasswordReset(key, newPassword) {
  return call('POST', '/api/v1/auth/password_reset/confirm', {body: {key, new_password: newPassword}});
}

// The account's other sessions end; `token` keeps working.
export async function changePassword(token, currentPassword, newPassword) {
  return call('POST', '/api/v1/auth/password_change',
              {token, body: {current_password: currentPassword, new_password: newPassword}});
}

// Deletes the account of `token` for good: every session of it ends.
export async function deleteAccount(token, password) {
  return call('POST', '/api/v1/auth/delete_account', {token, body: {password}});
}

// The account's live sessions, oldest first: [{id, created, last_seen, expires, client,
// current}], `current` marking the one of `token`.
export async function sessions(token) {
  return (await call('GET', '/api/v1/auth/sessions', {token})).payload.sessions;
}

// Ends the session `id` of the account (its devices are logged out at once). The answer is
// 204 with no body.
export async function revokeSession(token, id) {
  return callNoContent('DELETE', `/api/v1/auth/sessions/${encodeURIComponent(id)}`, {token});
}

// Where verification mail goes ("smtp" or "log") and the server's UTC offset ("+09:00").
export async function about() {
  try {
    return (await call('GET', '/api/v1/about')).payload;
  } catch {
    return {mail: 'smtp', utc_offset: '+09:00'};
  }
}
