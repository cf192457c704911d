// The HTTP API (docs/PROTOCOL.md §1): JSON in, {"type","payload"} out.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
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
    let message = payload.message || `The server answered ${response.status}.`;
    const retry = response.headers.get('Retry-After');
    if (response.status === 429 && retry) message += ` Try again in ${retry} s.`;
    throw new ApiError(response.status, payload.code || 'http', message);
  }
  return json;
}

export async function register(name, email, password) {
  return call('POST', '/api/v1/auth/register', {body: {name, email, password}});
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
