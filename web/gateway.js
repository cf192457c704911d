// The connection to REWIND's WebSocket gateway, protocol v2 (docs/PROTOCOL.md §2).
//
// It owns the connection's life: heartbeat first, then auth, heartbeats on a timer, and
// reconnection with exponential backoff and jitter whenever the connection drops. The
// application sees five things: onAuth (each auth answer; `fresh` when it opened a new
// connection, so that the application catches up on what it missed), onFrame (every other
// frame), onStatus ("connecting", "online", "offline"), onSignedOut (the token is no
// longer valid: error 4000, close 4108, or close 4110: an operator disabled the account) and
// onRefused (the server turned the connection
// away for a reason that retrying does not fix: close 4106; it stays stopped until start()).
// onSignedOut and onRefused get a key of the client's strings (i18n.js) saying why.
// An optional since() is asked, as each connection's auth goes out, for the positions of the
// chats whose changes the server is to replay before live events (the auth's `since`,
// docs/PROTOCOL.md "Catch-up after being away"), or null to ask for none.
//
// A link can die without a close (a frozen server, a stalled network): every heartbeat, and
// a heartbeat sent at once after each request, must be answered within ANSWER_DEADLINE_MS,
// or the connection is dropped and reconnected, so that what was sent on it is known to be
// unanswered within seconds rather than at the server's timeout.

const HEARTBEAT_MS = 20000;     // the server's default timeout is 45 s; the app sends every 40
const ANSWER_DEADLINE_MS = 5000;  // a heartbeat unanswered for this long: the link is dead
const DEAD_AFTER_MS = 50000;    // nothing heard for this long: the link is dead
const OPEN_TIMEOUT_MS = 10000;  // connect + heartbeat + auth must finish within this
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;

export const CLOSE_TOO_MANY_SESSIONS = 4106;
export const CLOSE_TOKEN_REVOKED = 4108;
export const CLOSE_ACCOUNT_DISABLED = 4110;
export const CLOSE_ACCOUNT_DELETED = 4111;

export class Gateway {
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.ws = null;
    this.authed = false;
    this.stopped = true;
    this.attempt = 0;
    this.beats = 0;
    this.timers = {};
    this.probe = null;  // the request id of the heartbeat whose answer is awaited
    // Request ids (protocol v2): unique within this page, so an answer names its request.
    this.idPrefix = Math.random().toString(36).slice(2, 8);
    this.nextId = 0;
    this.onBrowserOnline = () => this.reconnectNow();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    window.addEventListener('online', this.onBrowserOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onBrowserOnline);
    this.clearTimers();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }

  get online() {
    return this.authed && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  // Sends a request; false when the connection is not up (the caller keeps what it had).
  send(type, payload) {
    if (!this.online) return false;
    this.ws.send(JSON.stringify({type, payload}));
    this.expectAnswer();
    return true;
  }

  // Sends a request with a new request id, which its answer, its error and (for a chat
  // send or edit) its event carry back. Returns the id, or null when the connection is not
  // up.
  request(type, payload) {
    if (!this.online) return null;
    const id = this.newRequestId();
    this.ws.send(JSON.stringify({type, payload, request_id: id}));
    this.expectAnswer();
    return id;
  }

  newRequestId() {
    this.nextId += 1;
    return `${this.idPrefix}-${this.nextId}`;
  }

  // A request went out: a heartbeat follows it, and when its answer does not come within
  // ANSWER_DEADLINE_MS the link is taken as dead. (Answers come in order, so the heartbeat's
  // answering proves that the link carried the request both ways.)
  expectAnswer() {
    if (this.probe || !this.online) return;
    this.beat(this.ws);
  }

  // A heartbeat with a deadline for its answer.
  beat(ws) {
    if (ws.readyState !== WebSocket.OPEN) return;
    const id = this.newRequestId();
    this.beats += 1;
    ws.send(JSON.stringify({type: 'heartbeat', payload: {count: this.beats}, request_id: id}));
    if (this.probe) return;  // the deadline of the one before still runs
    this.probe = id;
    clearTimeout(this.timers.answer);
    this.timers.answer = setTimeout(() => {
      if (this.ws !== ws || !this.probe) return;
      ws.close();
      this.closed(ws, {code: 1006});
    }, ANSWER_DEADLINE_MS);
  }

  // Asks for the full auth answer again: the friend lists and guilds as they are now.
  refresh() {
    return this.send('auth', {auth: this.token});
  }

  connect() {
    this.clearTimers();
    this.authed = false;
    this.authSent = false;
    this.handlers.onStatus(this.attempt === 0 ? 'connecting' : 'offline');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws?v=2`);
    this.ws = ws;
    ws.onopen = () => {
      // The protocol wants a heartbeat before auth; its answer triggers the auth.
      this.beats = 0;
      this.raw(ws, 'heartbeat', {count: 0});
    };
    ws.onmessage = (event) => this.receive(ws, event);
    ws.onclose = (event) => this.closed(ws, event);
    // A connection that does not get through auth in time is dropped and retried.
    this.timers.open = setTimeout(() => {
      if (this.ws === ws && !this.authed) ws.close();
    }, OPEN_TIMEOUT_MS);
  }

  raw(ws, type, payload) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({type, payload}));
  }

  receive(ws, event) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    this.lastHeard = Date.now();
    if (frame.type === 'heartbeat') {
      if (this.probe && frame.request_id === this.probe) {
        this.probe = null;
        clearTimeout(this.timers.answer);
      }
      if (!this.authed && frame.payload && frame.payload.count === 0 && !this.authSent) {
        this.authSent = true;
        // Computed now: what the application holds when the connection's auth goes out.
        const since = this.handlers.since ? this.handlers.since() : null;
        this.raw(ws, 'auth', since ? {auth: this.token, since} : {auth: this.token});
      }
      return;
    }
    if (frame.type === 'auth') {
      const fresh = !this.authed;
      if (fresh) {
        this.authed = true;
        this.attempt = 0;
        clearTimeout(this.timers.open);
        this.startHeartbeat(ws);
        this.handlers.onStatus('online');
      }
      this.handlers.onAuth(frame.payload, fresh);
      return;
    }
    if (frame.type === 'error' && frame.payload && frame.payload.code === '4000') {
      // The token is bad, expired or revoked: no retry will fix that.
      this.stop();
      this.handlers.onSignedOut('notice.sessionEnded');
      return;
    }
    this.handlers.onFrame(frame);
  }

  startHeartbeat(ws) {
    this.lastHeard = Date.now();
    this.timers.beat = setInterval(() => this.beat(ws), HEARTBEAT_MS);
    this.watch(ws, DEAD_AFTER_MS);
  }

  // A half-open connection (sleep, network change) never reports a close by itself: one
  // that has heard nothing (not even a heartbeat's answer) for DEAD_AFTER_MS is dropped.
  watch(ws, delay) {
    this.timers.dead = setTimeout(() => {
      if (this.ws !== ws) return;
      const quiet = Date.now() - this.lastHeard;
      if (quiet < DEAD_AFTER_MS) return this.watch(ws, DEAD_AFTER_MS - quiet);
      ws.close();
      this.closed(ws, {code: 1006});
    }, delay);
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.authSent = false;
    this.authed = false;
    this.clearTimers();
    if (this.stopped) return;
    if (event.code === CLOSE_TOKEN_REVOKED) {
      this.stop();
      this.handlers.onSignedOut('notice.loggedOut');
      return;
    }
    if (event.code === CLOSE_ACCOUNT_DISABLED) {
      // Every token of the account was revoked: a retry could only fail to authenticate.
      this.stop();
      this.handlers.onSignedOut('notice.accountDisabled');
      return;
    }
    if (event.code === CLOSE_ACCOUNT_DELETED) {
      this.stop();
      this.handlers.onSignedOut('notice.accountDeleted');
      return;
    }
    if (event.code === CLOSE_TOO_MANY_SESSIONS) {
      // Every retry would be refused the same way until another tab or device lets go.
      this.stop();
      this.handlers.onRefused('offline.tooManySessions');
      return;
    }
    this.handlers.onStatus('offline');
    // Exponential backoff with "equal jitter": at least half the step, so a server that
    // restarts is not hit by every client at the same instant nor hammered in a loop.
    const step = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = step / 2 + Math.random() * (step / 2);
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  // The browser says the network is back: retry now rather than at the end of a backoff.
  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.attempt = Math.min(this.attempt, 1);
    this.connect();
  }

  clearTimers() {
    clearTimeout(this.timers.open);
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.beat);
    clearTimeout(this.timers.dead);
    clearTimeout(this.timers.answer);
    this.timers = {};
    this.probe = null;
  }
}
