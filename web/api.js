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

// Where verification mail goes ("smtp" or "log") and the server's UTC offset ("+09:00").
export async function about() {
  try {
    return (await call('GET', '/api/v1/about')).payload;
  } catch {
    return {mail: 'smtp', utc_offset: '+09:00'};
  }
}
