// REWIND's web client: plain DOM, no framework, no build step. It speaks protocol v2 of the
// gateway (docs/PROTOCOL.md) and is that protocol's reference client. docs/WEB_CLIENT.md
// describes how it is put together.

import * as api from './api.js';
import {Gateway} from './gateway.js';
import * as i18n from './i18n.js';
import {setRawText, setText, t} from './i18n.js';

const TOKEN_KEY = 'rewind.token';
const REVOKE_KEY = 'rewind.revoke';  // tokens logged out of while the server was unreachable
const PAGE = 50;  // messages per history load
const LOAD_TIMEOUT_MS = 15000;  // a history load unanswered for this long is sent again
const LOAD_ATTEMPTS = 5;  // then the reader is offered a button to try again
const FAR_FUTURE = '9999-12-31 23:59:59';  // a cursor after every message: "the newest"
const DRAFT_KEY = 'rewind.draft';  // sessionStorage: `${DRAFT_KEY}:<my id>:<conversation key>`
const SIGNUP_EMAIL_KEY = 'rewind.signupEmail';  // sessionStorage: the email last signed up with, for the log-in form
const OUTBOX_KEY = 'rewind.outbox';
const NOTIFY_KEY = 'rewind.notify';  // localStorage: `${NOTIFY_KEY}:<my id>` is '1' when desktop notifications are on  // sessionStorage: `${OUTBOX_KEY}:<my id>:<conversation key>`
// The server's limit on a message: characters (code points), not the UTF-16 units that a
// textarea's maxlength counts (an emoji is two of those).
const MAX_CONTENT = 2000;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------
// Small helpers

// Builds an element. Text always goes in as text, never as HTML.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (k === 'style') for (const [p, x] of Object.entries(v)) el.style.setProperty(p, x);
    else if (k === 'text') el.textContent = v;
    // [key, params]: text from the catalog, redone when the language changes.
    else if (k === 'i18n') setText(el, ...[v].flat());
    // {attribute: key}, with the params of `i18n` (or `params`).
    else if (k === 'i18nAttrs') i18n.setAttrs(el, v, attrs.params || [attrs.i18n].flat()[1]);
    else if (k === 'params') continue;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false)
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Snowflakes are decimal strings of up to 19 digits: compare them without BigInt.
function compareIds(a, b) {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function base64Utf8(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

let serverOffsetMs = 9 * 3600 * 1000;

function parseOffset(text) {
  const m = /^([+-])(\d\d):(\d\d)$/.exec(text || '');
  if (!m) return 9 * 3600 * 1000;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60000;
}

// created_at is the server's local time ("2026-11-25 18:19:16.000880" in --utc-offset).
function parseCreatedAt(text) {
  const m = /^(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:\.(\d+))?/.exec(text || '');
  if (!m) return null;
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const utc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms);
  return new Date(utc - serverOffsetMs);
}

// In the chosen language and the browser's time zone (i18n.fmt).
function shortTime(date) {
  const today = new Date();
  return date.toDateString() === today.toDateString() ? i18n.fmt().time.format(date)
                                                      : i18n.fmt().dateTime.format(date);
}

function initial(name) {
  return (name || '?').slice(0, 1).toUpperCase();
}

// A colour per user, stable across sessions, from their id.
function hue(id) {
  let x = 0;
  for (const c of String(id)) x = (x * 31 + c.charCodeAt(0)) % 360;
  return x;
}

// An avatar with a dot when the friend is online (the list's; presence comes from the server).
function presenceAvatar(user) {
  if (!state.online || !state.online.has(user.id) || !state.friends.has(user.id)) return avatar(user);
  return h('span', {class: 'avatar-wrap'}, avatar(user),
    h('span', {class: 'presence-dot', 'data-user': user.id, i18nAttrs: {title: 'presence.online'}}));
}

function avatar(user, size = '') {
  return h('span', {
    class: `avatar ${size}`, 'aria-hidden': 'true', style: {'--hue': hue(user.id)},
    text: initial(user.name),
  });
}

function announce(text) {
  const el = $('announcer');
  el.textContent = '';
  // A fresh text node in a later task is what screen readers reliably announce.
  setTimeout(() => { el.textContent = text; }, 50);
}

// ---------------------------------------------------------------------------------------
// State

const state = {
  token: null,
  me: null,
  gateway: null,
  users: new Map(),     // id -> user: everyone we have seen (for message authors)
  friends: new Map(),   // id -> user
  incoming: new Map(),  // id -> user: asked me
  outgoing: new Map(),  // id -> user: I asked
  guilds: new Map(),    // id -> {id, name, owner_id, member_count, members (null until loaded)}
  convs: new Map(),     // key ("dm:<user id>" or "guild:<guild id>") -> conversation
  route: {view: 'welcome'},
  open: null,           // the open conversation
  load: null,           // the one history load in flight on this connection (see History)
  replay: null,         // chat id -> conversation: those whose changes the connection's auth asked for, until its catch_up frame (see Catch-up)
  replayTimer: null,
  pendingGuildName: null,
  friendRequest: null,  // {rid, name}: the add-friend form's request awaiting its answer
  blockRequests: new Set(),  // ids of block and unblock requests awaiting their answer
  search: null,         // the search on screen: {query, terms, results, more, offset, rid, error} (see Search)
  searchRids: new Set(),  // every search request still unanswered, the superseded ones too
  jump: null,           // {conv, id, pages}: a search result being brought on screen
  searchTimer: null,    // the pause after typing, before the search goes
  hitTimer: null,       // the end of a reached result's mark
  mail: 'smtp',
};

// Names of the people I have talked with, kept (per account, in this browser) so that a
// conversation with someone who is no longer a friend, or no longer in a shared guild,
// still shows who wrote what after a reload. The server tells names only of current
// friends, requests and members.
const NAMES_KEY = 'rewind.names';
const NAMES_MAX = 500;

function rememberUser(user) {
  if (!user || !user.id) return;
  const known = state.users.get(user.id);
  state.users.set(user.id, user);
  if (state.me && (!known || known.name !== user.name)) saveNames();
}

function saveNames() {
  try {
    const names = [...state.users.values()].slice(-NAMES_MAX).map((u) => [u.id, u.name]);
    localStorage.setItem(`${NAMES_KEY}:${state.me.id}`, JSON.stringify(names));
  } catch {
    // No storage: names last as long as the page.
  }
}

function loadNames() {
  try {
    const names = JSON.parse(localStorage.getItem(`${NAMES_KEY}:${state.me.id}`)) || [];
    for (const [id, name] of names) {
      if (!state.users.has(id)) state.users.set(id, {id, name, profile: null});
    }
  } catch {
    // Nothing kept, or something unreadable: names come from the server again.
  }
}

function dmChatId(userId) {
  return (BigInt(state.me.id) ^ BigInt(userId)).toString();
}

function conversation(kind, id) {
  const key = `${kind}:${id}`;
  let conv = state.convs.get(key);
  if (!conv) {
    conv = {
      key, kind, id,
      chatId: kind === 'dm' ? dmChatId(id) : id,
      messages: new Map(),  // id -> {id, user_id, content, created_at, edited_at}
      loaded: false,        // the newest page was loaded on this connection
      failed: false,        // a history load gave up: the reader is offered to try again
      catchUp: undefined,   // while a reload's pages in between are unfinished: the newest message held before it
      seq: undefined,       // my position in the chat: the `seq` of the newest change applied (see Catch-up)
      listSeq: undefined,   // the chat's `last_seq` in the newest list of chats on this connection
      more: true,           // older messages may exist
      unread: 0,
      lastRead: '',         // my read mark (the newest message I read, on any device), as the server keeps it
      countedUpTo: '',      // the newest message the server's unread count included (see Read state)
      divider: null,        // while open: the "new messages" line goes before the first message after this id
      last: '',             // id of the newest message seen: orders the lists
      elements: new Map(),  // id -> <li>, while this conversation is on screen
      outbox: new Map(),    // request id -> my message sent but not confirmed (see Outbox)
      outboxElements: new Map(),  // request id -> <li>, while on screen
      separators: new Map(),  // day (Date.toDateString) -> its date line, while on screen
    };
    state.convs.set(key, conv);
    restoreOutbox(conv);
  }
  return conv;
}

// Drafts: what is typed in a conversation's composer and not sent yet, one per
// conversation, kept in sessionStorage (this tab, across a reload) under my id and the
// conversation's key, so that switching conversations never carries text from one to another.
function draftKey(conv) {
  return `${DRAFT_KEY}:${state.me ? state.me.id : ''}:${conv.key}`;
}

function draftOf(conv) {
  try {
    return sessionStorage.getItem(draftKey(conv)) || '';
  } catch {
    return conv.draft || '';  // no storage (private mode): this page only
  }
}

function saveDraft(conv, text) {
  conv.draft = text;
  try {
    if (text) sessionStorage.setItem(draftKey(conv), text);
    else sessionStorage.removeItem(draftKey(conv));
  } catch {
    // No storage: conv.draft holds it for this page.
  }
}

// Logging out (here or in another tab) leaves no text of mine behind in this tab.
function forgetDrafts() {
  $('composer-input').value = '';
  if (!state.me) return;
  try {
    localStorage.removeItem(`${NAMES_KEY}:${state.me.id}`);
  } catch {
    // No storage: nothing was kept.
  }
  try {
    const mine = [`${DRAFT_KEY}:${state.me.id}:`, `${OUTBOX_KEY}:${state.me.id}:`];
    for (const key of Object.keys(sessionStorage)) {
      if (mine.some((prefix) => key.startsWith(prefix))) sessionStorage.removeItem(key);
    }
  } catch {
    // No storage: nothing was kept.
  }
}

// Puts the open conversation's draft (or nothing) in the composer.
function showDraft(conv) {
  const input = $('composer-input');
  input.value = conv ? draftOf(conv) : '';
  autosize(input);
  updateCount();
}

function convForChatId(chatId) {
  if (state.guilds.has(chatId)) return conversation('guild', chatId);
  let other;
  try {
    other = (BigInt(chatId) ^ BigInt(state.me.id)).toString();
  } catch {
    return null;
  }
  return conversation('dm', other);
}

function convTitle(conv) {
  if (conv.kind === 'guild') return (state.guilds.get(conv.id) || {name: conv.goneName || t('guild.fallbackName')}).name;
  return (state.users.get(conv.id) || {name: t('conv.unknownUser')}).name;
}

// The server names a deleted account "Deleted user" (docs/PROTOCOL.md, "Deleting an
// account"), a name no account can have (it has a space): shown in the page's language.
const DELETED_USER_NAME = 'Deleted user';

function authorName(userId) {
  if (state.me && userId === state.me.id) return state.me.name;
  const u = state.users.get(userId);
  if (u && u.name === DELETED_USER_NAME) return t('user.deleted');
  return u ? u.name : t('conv.formerMember');
}

// ---------------------------------------------------------------------------------------
// Signed out: log in and sign up

// `notice`: a catalog key, or none.
function showAuth(notice = '') {
  $('app-view').hidden = true;
  $('auth-view').hidden = false;
  $('offline-banner').hidden = true;
  $('skip-link').hidden = true;
  if (notice) setText($('auth-notice'), notice);
  else setRawText($('auth-notice'), '');
  showCard('login-card');
  // Back from the verification link in this tab: the address signed up with is filled in.
  const signedUpAs = sessionStorage.getItem(SIGNUP_EMAIL_KEY);
  if (signedUpAs && !$('login-email').value) {
    $('login-email').value = signedUpAs;
    $('login-password').focus();
  }
  document.title = 'REWIND';
}

function showCard(id) {
  for (const card of ['login-card', 'signup-card', 'signup-done', 'forgot-card', 'reset-card'])
    $(card).hidden = card !== id;
}

// The key of a password reset link (/#reset=<key>), if the page was opened with one.
function resetKeyInUrl() {
  const m = /^#reset=([A-Za-z0-9_-]+)$/.exec(location.hash);
  return m ? m[1] : '';
}

function showForgot() {
  setRawText($('forgot-error'), '');
  setRawText($('forgot-done'), '');
  if (!$('forgot-email').value) $('forgot-email').value = $('login-email').value.trim();
  showCard('forgot-card');
  $('forgot-email').focus();
}

// The page a reset link opens: signed out (the reset ends every session anyway).
function showReset() {
  if (state.gateway) state.gateway.stop();
  state.gateway = null;
  $('app-view').hidden = true;
  $('auth-view').hidden = false;
  setRawText($('reset-error'), '');
  showCard('reset-card');
  $('reset-password').focus();
}

function setupPasswordForms() {
  $('show-forgot').addEventListener('click', showForgot);
  $('reset-to-forgot').addEventListener('click', () => {
    history.replaceState(null, '', '/');
    showForgot();
  });
  $('forgot-to-login').addEventListener('click', () => {
    showCard('login-card');
    $('login-email').focus();
  });

  $('forgot-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const email = $('forgot-email').value.trim();
    setRawText($('forgot-done'), '');
    if (!email) return void setText($('forgot-error'), 'forgot.missing');
    submitWithBusy($('forgot-form'), $('forgot-error'), async () => {
      await api.requestPasswordReset(email, i18n.language());
      setText($('forgot-done'), 'forgot.done', {email});
    });
  });

  $('reset-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const password = $('reset-password').value;
    if (!passwordFits(password)) return void setText($('reset-error'), 'signup.passwordLength');
    submitWithBusy($('reset-form'), $('reset-error'), async () => {
      try {
        await api.confirmPasswordReset(resetKeyInUrl(), password);
      } catch (e) {
        if (e.code !== 'link_invalid') throw e;
        return void setText($('reset-error'), 'reset.linkInvalid');
      }
      $('reset-password').value = '';
      // Every token of the account was revoked, this browser's too.
      signOut('notice.passwordReset');
      $('login-email').focus();
    });
  });

  $('password-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const current = $('current-password').value;
    const next = $('new-password').value;
    setRawText($('password-done'), '');
    if (!current || !next) return void setText($('password-error'), 'account.missing');
    if (!passwordFits(next)) return void setText($('password-error'), 'signup.passwordLength');
    submitWithBusy($('password-form'), $('password-error'), async () => {
      try {
        await api.changePassword(state.token, current, next);
      } catch (e) {
        if (e.code !== 'invalid_credentials') throw e;
        setText($('password-error'), 'account.wrongCurrent');
        return void $('current-password').focus();
      }
      $('current-password').value = '';
      $('new-password').value = '';
      setText($('password-done'), 'account.done');
      loadSessions();  // the other sessions ended
    });
  });

  $('delete-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const password = $('delete-password').value;
    if (!password) {
      setText($('delete-error'), 'account.deleteMissing');
      return void $('delete-password').focus();
    }
    if (!$('delete-confirm').checked) {
      setText($('delete-error'), 'account.deleteUnconfirmed');
      return void $('delete-confirm').focus();
    }
    submitWithBusy($('delete-form'), $('delete-error'), async () => {
      try {
        await api.deleteAccount(state.token, password);
      } catch (e) {
        if (e.code !== 'invalid_credentials') throw e;
        setText($('delete-error'), 'account.deleteWrong');
        return void $('delete-password').focus();
      }
      $('delete-password').value = '';
      $('delete-confirm').checked = false;
      // Every token of the account was revoked, this browser's too.
      signOut('notice.accountDeleted');
      $('login-email').focus();
    });
  });
}

// ---------------------------------------------------------------------------------------
// Sessions (Account): where the account is logged in, this device marked, each with a
// button that logs it out. A session logged out from here ends at once on its device (its
// connection closes with 4108 and its page returns to log-in).

let sessionsLoad = 0;  // the latest load: an answer to an older one is dropped

async function loadSessions() {
  const load = ++sessionsLoad;
  const token = state.token;
  const list = $('session-list');
  setRawText($('sessions-error'), '');
  if (!list.children.length) list.replaceChildren(h('li', {class: 'hint', i18n: ['sessions.loading']}));
  let sessions;
  try {
    sessions = await api.sessions(token);
  } catch (e) {
    if (load !== sessionsLoad || token !== state.token) return;
    list.replaceChildren();
    // A token that ended: the gateway hears of it too, and signs out.
    if (e.status !== 401) showApiError($('sessions-error'), e);
    return;
  }
  if (load !== sessionsLoad || token !== state.token) return;
  list.replaceChildren(...sessions.map(sessionRow));
}

function sessionRow(s) {
  const client = s.client || t('sessions.unknownClient');
  const when = (iso) => shortTime(new Date(iso));
  // This device's button is the log-out button's twin: it also forgets the token here.
  const button = s.current
    ? h('button', {type: 'button', class: 'small', i18n: ['sessions.revoke'], i18nAttrs: {'aria-label': 'sessions.revokeLabel'},
                   params: {client}, onclick: () => logOut()})
    : confirmButton('sessions.revoke', 'sessions.revokeQuestion', () => revokeSession(s.id), 'danger',
                    {params: {client}, ariaLabel: 'sessions.revokeLabel'});
  return h('li', {class: 'person session', 'data-session': s.id, 'data-current': s.current},
    h('span', {class: 'session-text'},
      h('span', {class: 'person-name', dir: 'auto', text: client}),
      s.current ? h('span', {class: 'this-device', i18n: ['sessions.thisDevice']}) : null,
      h('span', {class: 'hint', i18n: ['sessions.times', {created: when(s.created), lastSeen: when(s.last_seen)}]})),
    h('span', {class: 'actions'}, button));
}

async function revokeSession(id) {
  setRawText($('sessions-error'), '');
  try {
    await api.revokeSession(state.token, id);
  } catch (e) {
    if (e.code === 'session_not_found') setText($('sessions-error'), 'sessions.gone');
    else showApiError($('sessions-error'), e);
  }
  loadSessions();
}

async function submitWithBusy(form, errorEl, work) {
  const button = form.querySelector('button[type=submit]');
  setRawText(errorEl, '');
  button.disabled = true;
  try {
    await work();
  } catch (e) {
    showApiError(errorEl, e);
  } finally {
    button.disabled = false;
  }
}

// Sign-up fields, and the codes of the server's errors each of them answers for.
const SIGNUP_FIELDS = {name: 'signup-name', email: 'signup-email', password: 'signup-password'};
const SIGNUP_FIELD_OF_CODE = {
  invalid_name: 'name', name_taken: 'name', invalid_email: 'email', invalid_password: 'password',
};

// Marks a sign-up field invalid, its message (written by `show(el)`) tied to it by its
// aria-describedby; or, `show` null, valid again.
function markField(field, show) {
  const input = $(SIGNUP_FIELDS[field]);
  const el = $(`${SIGNUP_FIELDS[field]}-error`);
  if (show) {
    show(el);
    input.setAttribute('aria-invalid', 'true');
  } else {
    setRawText(el, '');
    input.removeAttribute('aria-invalid');
  }
}

function clearSignupErrors() {
  for (const field of Object.keys(SIGNUP_FIELDS)) markField(field, null);
  setRawText($('signup-error'), '');
}

// The server's rule (src/domain/validation.cc): 8 to 128 bytes of UTF-8, any characters.
function passwordFits(password) {
  const bytes = new TextEncoder().encode(password).length;
  return bytes >= 8 && bytes <= 128;
}

function setupAuthForms() {
  for (const [field, id] of Object.entries(SIGNUP_FIELDS))
    $(id).addEventListener('input', () => markField(field, null));

  $('show-signup').addEventListener('click', () => {
    showCard('signup-card');
    $('signup-name').focus();
  });
  $('show-login').addEventListener('click', () => {
    showCard('login-card');
    $('login-email').focus();
  });
  $('done-to-login').addEventListener('click', () => {
    showCard('login-card');
    $('login-password').focus();
  });

  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const email = $('login-email').value.trim();
    const password = $('login-password').value;
    if (!email || !password) {
      setText($('login-error'), 'login.missing');
      return;
    }
    submitWithBusy($('login-form'), $('login-error'), async () => {
      const token = await api.login(email, password);
      $('login-password').value = '';
      revokePending();  // the server is reachable again
      // Another tab logged in meanwhile and this one follows it (one account per browser):
      // this token would never be used, so it is ended at once.
      if (state.token) return revoke(token);
      localStorage.setItem(TOKEN_KEY, token);
      sessionStorage.removeItem(SIGNUP_EMAIL_KEY);
      startSession(token);
    });
  });

  $('signup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $('signup-name').value.trim();
    const email = $('signup-email').value.trim();
    const password = $('signup-password').value;
    clearSignupErrors();
    const refuse = (field, key) => {
      markField(field, (el) => setText(el, key));
      $(SIGNUP_FIELDS[field]).focus();
    };
    const missing = Object.keys(SIGNUP_FIELDS).find((f) => !{name, email, password}[f]);
    if (missing) return refuse(missing, 'signup.missing');
    // The server counts characters (code points) of the composed form, not UTF-16 units.
    const length = [...name.normalize('NFC')].length;
    if (length < 2 || length > 32) return refuse('name', 'signup.nameLength');
    if (!passwordFits(password)) return refuse('password', 'signup.passwordLength');
    submitWithBusy($('signup-form'), $('signup-error'), async () => {
      try {
        await api.register(name, email, password, i18n.language());
      } catch (e) {
        const field = SIGNUP_FIELD_OF_CODE[e.code];
        if (!field) throw e;
        markField(field, (el) => showApiError(el, e));
        $(SIGNUP_FIELDS[field]).focus();
        return;
      }
      sessionStorage.setItem(SIGNUP_EMAIL_KEY, email);
      $('signup-password').value = '';
      $('login-email').value = email;
      setText($('signup-done-text'), state.mail === 'log' ? 'signup.doneLog' : 'signup.doneMail', {email});
      showCard('signup-done');
      $('signup-done-title').focus();
    });
  });
}

// ---------------------------------------------------------------------------------------
// Session

function startSession(token) {
  if (state.gateway) state.gateway.stop();
  dropLoad();
  dropReplay();
  state.token = token;
  state.me = null;
  for (const m of ['users', 'friends', 'incoming', 'outgoing', 'guilds', 'convs']) state[m].clear();
  state.open = null;
  state.jump = null;
  closeSearch();
  $('auth-view').hidden = true;
  $('app-view').hidden = false;
  $('skip-link').hidden = false;
  $('me').textContent = '';
  $('message-list').replaceChildren();
  state.gateway = new Gateway(token, {onAuth, onFrame, onStatus, onSignedOut, onRefused, since: catchUpSince});
  state.gateway.start();
}

function signOut(notice) {
  if (state.gateway) state.gateway.stop();
  state.gateway = null;
  dropLoad();
  dropReplay();
  forgetDrafts();
  closeSearch();
  state.token = null;
  localStorage.removeItem(TOKEN_KEY);
  history.replaceState(null, '', '/');
  showAuth(notice);
}

function onSignedOut(notice) {
  signOut(notice);
}

async function logOut() {
  const token = state.token;
  signOut('notice.loggedOut');
  // Revoking the token closes every other tab's connection too (close 4108).
  if (token && !(await revoke(token)) && $('auth-notice').dataset.i18n === 'notice.loggedOut')
    setText($('auth-notice'), 'notice.loggedOutOffline');
}

// A token to end on the server is kept in localStorage until the server has ended it, so
// that logging out while offline still ends the session there: it is tried again when the
// page starts, when the browser comes back online and after each log-in.
function pendingRevocations() {
  try {
    const list = JSON.parse(localStorage.getItem(REVOKE_KEY));
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function setPendingRevocations(list) {
  if (list.length) localStorage.setItem(REVOKE_KEY, JSON.stringify(list));
  else localStorage.removeItem(REVOKE_KEY);
}

const revoking = new Set();  // tokens whose logout request is in flight

// Ends `token` on the server; false when that has to wait (the token is kept to try again).
async function revoke(token) {
  const list = pendingRevocations();
  if (!list.includes(token)) setPendingRevocations([...list, token]);
  if (revoking.has(token)) return false;
  revoking.add(token);
  try {
    await api.logout(token);
  } catch (e) {
    // Unreachable, rate limited or overloaded: later. Anything else (401: the token is no
    // longer valid) needs no retry.
    if (e.status === 0 || e.status === 429 || e.status >= 500) return false;
  } finally {
    revoking.delete(token);
  }
  setPendingRevocations(pendingRevocations().filter((t) => t !== token));
  return true;
}

function revokePending() {
  for (const token of pendingRevocations()) revoke(token);
}

// The lines that say "you are offline": untrue once back online.
function clearOfflineErrors() {
  for (const id of ['conversation-error', 'friend-error', 'guild-error', 'member-error']) {
    const el = $(id);
    if ((el.dataset.i18n || '').startsWith('offline.')) setRawText(el, '');
  }
}

function onStatus(status) {
  const el = $('connection');
  if (status === 'online') clearOfflineErrors();
  el.dataset.state = status;
  setText(el, status === 'online' ? 'status.online' : status === 'connecting' ? 'status.connecting' : 'status.offline');
  const offline = status === 'offline';
  // On a phone the banner takes its own line above the app, which shortens the messages:
  // a reader at the newest message stays there.
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  $('offline-banner').hidden = !offline;
  $('offline-banner').classList.remove('stopped');
  setText($('offline-text'), 'offline.reconnecting');
  $('reconnect').hidden = true;
  document.body.classList.toggle('is-offline', offline);
  if (atBottom) box.scrollTop = box.scrollHeight;
  // A load's answer never crosses connections: the catch-up after the next auth takes over.
  if (status !== 'online') {
    dropLoad();
    dropReplay();
    failInFlight();
    searchLost();
  }
  updateComposer();
  if (state.open) setHistoryStatus(state.open);
}

// The server turned the connection away and the gateway does not retry by itself.
// `notice`: a catalog key.
function onRefused(notice) {
  onStatus('offline');
  $('offline-banner').classList.add('stopped');
  setText($('offline-text'), notice);
  $('reconnect').hidden = false;
}

function onAuth(payload, fresh) {
  const first = !state.me;
  state.me = payload.self_user;
  if (first) loadNames();
  // After a log-in the form that had the focus is gone: the focus would be left on <body>.
  const focusLost = first && (document.activeElement === document.body || !document.activeElement);
  rememberUser(state.me);
  const myName = document.createElement('span');
  myName.className = 'me-name';
  myName.textContent = state.me.name;
  $('me').replaceChildren(avatar(state.me, 'tiny'), myName);
  setUsers(state.friends, payload.mutual_users);
  setUsers(state.incoming, payload.mutual_requests);
  setUsers(state.outgoing, payload.outgoing_requests || []);
  if (payload.guilds) setGuilds(payload.guilds);
  if (fresh) catchUpAfterConnect();
  state.online = new Set(payload.online || []);
  state.showPresence = payload.show_presence !== false;
  $('presence-toggle').checked = state.showPresence;
  if (Array.isArray(payload.chats)) applySummaries(payload.chats, fresh);
  else if (fresh) state.gateway.send('load', {type: 'chats'});  // not read with the answer: ask
  renderLists();
  route();
  renderConversationChrome();  // the guild objects are new: their members are asked again
  if (focusLost && document.activeElement === document.body) {
    const target = state.open ? $('conversation-title')
                 : {friends: $('friends-title'), 'new-guild': $('guild-name')}[state.route.view] || $('welcome-title');
    target.setAttribute('tabindex', target.getAttribute('tabindex') || '-1');
    target.focus();
  }
}

function setUsers(map, list) {
  map.clear();
  for (const u of list || []) {
    map.set(u.id, u);
    rememberUser(u);
  }
}

// Guild lists and events carry summaries (the member count, not the members): a guild's
// members are asked for (`load guild_members`) when its conversation is on screen, and kept
// current from the `joined` and `left` events after that. A new list (a fresh auth) forgets
// them: they may have changed while this tab was not listening.
function setGuilds(list) {
  state.guilds.clear();
  for (const g of list) state.guilds.set(g.id, guildFrom(g));
}

function guildFrom(summary) {
  const members = summary.members || null;
  if (members) members.forEach(rememberUser);
  return {id: summary.id, name: summary.name, owner_id: summary.owner_id,
          member_count: summary.member_count, members, membersAsked: false};
}

function memberCountText(guild) {
  return t('guild.memberCount', {count: guild.member_count});
}

// Asks once per connection (and again each time the conversation is opened) for the members
// of a guild whose list this tab does not hold.
function askMembers(guild) {
  if (guild.members || guild.membersAsked) return;
  guild.membersAsked = state.gateway.send('load', {type: 'guild_members', guild_id: guild.id});
}

function onGuildMembers(p) {
  const g = state.guilds.get(p.guild_id);
  if (!g) return;
  p.members.forEach(rememberUser);
  Object.assign(g, {members: p.members, owner_id: p.owner_id, member_count: p.member_count});
  renderLists();
  if (state.route.view === 'guild' && state.route.id === g.id) {
    renderConversationChrome();
    renderMessages();  // authors' names
  }
}

// ---------------------------------------------------------------------------------------
// Catch-up (protocol v2, "Catch-up after being away")
//
// Every change of a chat (a message sent, edited or deleted) has a number, `seq`, and a
// conversation keeps its position: the newest change applied, taken from the list of chats
// (`last_seq`) while the tab holds none of its messages, and raised by every `chat` event
// after. A conversation whose newest page was loaded (and the pages in between, after a
// reload) holds every message from its oldest held one on, as of that position. Each new
// connection's auth asks (`since`) for the changes after the positions of such
// conversations, the 1000 with the newest messages; the server replays them as ordinary
// `chat` events before any live one, then says, in a `catch_up` frame, which chats are
// complete. Those keep their messages and load nothing. A chat the server says to reload (it
// missed too much), or does not list (no longer mine), or every one when it could not read
// them (`chats: null`), is caught up as conversations without a position are: the open one
// reloads its newest page (and pages back until it meets what it had; a reload drops what
// it held first), the others forget their messages and load from the newest when opened:
// kept, they would leave a hole between what they held and what arrives from now on, which
// paging back (from the oldest held) never fills. An event whose `seq` is not past the
// position was applied already (by the replay, or in the list's counts) and is skipped.

const SINCE_MAX = 1000;            // chats a `since` may name
const REPLAY_TIMEOUT_MS = 20000;   // a catch-up unfinished for this long is given up: reload

// Whether the tab holds every message of `conv` from its oldest held one on.
function holds(conv) {
  return conv.loaded && conv.catchUp === undefined;
}

// The auth's `since`, as it goes out: the positions of the conversations held.
function catchUpSince() {
  const held = [...state.convs.values()].filter((c) => holds(c) && !c.gone && Number.isInteger(c.seq) && c.seq >= 0);
  held.sort((a, b) => compareIds(b.last || '0', a.last || '0'));
  const asked = held.slice(0, SINCE_MAX);
  clearTimeout(state.replayTimer);
  state.replay = asked.length ? new Map(asked.map((c) => [c.chatId, c])) : null;
  if (!state.replay) return null;
  const since = {};
  for (const c of asked) since[c.chatId] = c.seq;
  return since;
}

// Whether `conv`'s replay is under way: nothing is loaded for it until its end.
function replaying(conv) {
  return Boolean(state.replay) && state.replay.get(conv.chatId) === conv;
}

// The connection that asked is gone: the next one asks again, from the positions reached.
function dropReplay() {
  clearTimeout(state.replayTimer);
  state.replay = null;
}

// Forgets what `conv` holds, to load it again from its newest page: the open one keeps its
// messages meanwhile (the pages in between are loaded too), unless `all`.
function forgetConversation(conv, all = false) {
  conv.loaded = false;
  conv.failed = false;
  conv.seq = conv.listSeq;
  if (conv === state.open && !all) return;
  conv.messages.clear();
  conv.more = true;
  conv.catchUp = undefined;
}

// After a (re)connect, before the answer's lists are applied: the conversations whose
// changes were asked for wait for them; the others start over.
function catchUpAfterConnect() {
  dropLoad();
  revokePending();
  resendUncertain();
  for (const conv of state.convs.values()) {
    conv.listSeq = undefined;
    conv.failed = false;
    if (!replaying(conv)) forgetConversation(conv);
  }
  if (state.replay) state.replayTimer = setTimeout(() => finishCatchUp(null), REPLAY_TIMEOUT_MS);
  nextLoad();
}

// The `catch_up` frame: the replay is over.
function finishCatchUp(chats) {
  const asked = state.replay;
  if (!asked) return;
  dropReplay();
  const answers = new Map();
  for (const c of Array.isArray(chats) ? chats : []) if (c && typeof c.chat_id === 'string') answers.set(c.chat_id, c);
  for (const [chatId, conv] of asked) {
    if (state.convs.get(conv.key) !== conv) continue;  // a guild left meanwhile
    const c = answers.get(chatId);
    if (c && !c.reload) {
      if (Number.isInteger(c.seq)) conv.seq = c.seq;
      settleUncertain(conv);  // a message of mine that may not have arrived: replayed, it did
    } else if (c) {
      forgetConversation(conv, true);
      if (Number.isInteger(c.seq)) conv.seq = c.seq;
    } else {
      forgetConversation(conv);
    }
    if (conv === state.open) renderMessages({stick: conv.messages.size === 0});
  }
  renderLists();
  nextLoad();
  if (state.open) setHistoryStatus(state.open);
  continueJump();
}

// ---------------------------------------------------------------------------------------
// Gateway frames

function onFrame(frame) {
  const p = frame.payload;
  switch (frame.type) {
    case 'chat':
      if (frame.request_id) confirmSent(frame.request_id, p);
      return onChat(p);
    case 'catch_up':
      return finishCatchUp(p ? p.chats : null);
    case 'load':
      if (p && p.type === 'chat') return onLoadComplete(p);
      if (p && p.type === 'guilds') {
        setGuilds(p.guilds);
        renderLists();
        return route();
      }
      if (p && p.type === 'guild_members') return onGuildMembers(p);
      if (p && p.type === 'blocked_users') return renderBlocked(p.users);
      if (p && p.type === 'chats') return applySummaries(p.chats);
      return;
    case 'read':
      return onRead(p);
    case 'search':
      return onSearchResults(frame.request_id, p);
    case 'presence':
      return onPresence(p);
    case 'typing':
      return onTyping(p);
    case 'mutual_users':
      return onFriendEvent(p);
    case 'guild':
      return onGuildEvent(p);
    case 'ok':
      if (state.blockRequests.delete(frame.request_id)) loadBlocked();
      // Only friend operations (and blocks) answer "ok" (my other tabs and devices get the operation as a
      // `self` event): refresh the lists as the server sees them.
      if (state.friendRequest && frame.request_id === state.friendRequest.rid) {
        // The name typed was asked: the field is done with (unless something else is in it).
        if ($('friend-name').value.trim() === state.friendRequest.name) $('friend-name').value = '';
        state.friendRequest = null;
      }
      state.gateway.refresh();
      return;
    case 'error':
      if (frame.request_id && refusedSend(frame.request_id, p)) return;
      // Before onError, which would take a 4003 for the history load's.
      if (frame.request_id && searchFailed(frame.request_id, p)) return;
      // A refused friend request keeps the name typed, to be corrected.
      if (state.friendRequest && frame.request_id === state.friendRequest.rid) state.friendRequest = null;
      if (state.blockRequests.delete(frame.request_id) && state.route.view === 'account')
        return void showGatewayError($('blocked-error'), p);
      return onError(p);
  }
}

function onChat(p) {
  const load = state.load && state.load.conv.chatId === p.chat_id ? state.load : null;
  const conv = load ? load.conv : convForChatId(p.chat_id);
  if (!conv) return;
  // A change numbered is one applied already unless it is past the position (see
  // Catch-up). History, search results and the answer to a send sent again carry no `seq`.
  if (Number.isInteger(p.seq)) {
    if (Number.isInteger(conv.seq) && p.seq <= conv.seq) return;
    conv.seq = p.seq;
  }
  // A load's answer is `send` events like live ones. While a newest page loads, every
  // message of its chat is taken into the page; an older page (or a catch-up's gap) holds
  // only messages before its upper end, so anything newer is live.
  const isHistory = Boolean(load) && p.type === 'send' &&
                    (load.mode === 'newest' || compareIds(p.id, load.upper) < 0);
  if (isHistory) {
    load.received += 1;
    load.batch.set(p.id, {id: p.id, user_id: p.user_id, content: p.content, created_at: p.created_at,
                          edited_at: p.edited_at || null});
    if (!load.oldest || compareIds(p.id, load.oldest.id) < 0) load.oldest = {id: p.id, created_at: p.created_at};
    return;
  }
  if (p.type === 'send') {
    const existing = conv.messages.get(p.id);
    const msg = existing || {id: p.id, user_id: p.user_id, created_at: p.created_at,
                             edited_at: p.edited_at || null};
    msg.content = p.content;
    if (!existing) conv.messages.set(p.id, msg);
    if (compareIds(p.id, conv.last || '0') > 0) conv.last = p.id;
    notePreview(conv, msg);
    if (!existing) liveMessage(conv, msg);
  } else if (p.type === 'edit') {
    // The page being loaded may hold the message too: it must not bring back the old text.
    if (load && load.batch.has(p.id)) {
      if (p.content === '') load.batch.delete(p.id);
      else Object.assign(load.batch.get(p.id), {content: p.content, edited_at: p.edited_at});
    }
    const msg = conv.messages.get(p.id);
    if (p.content === '') {
      conv.messages.delete(p.id);
      dropPreview(conv, p.id);
      if (conv === state.open) announce(t('announce.deleted', {name: authorName(p.user_id)}));
    } else if (msg) {
      msg.content = p.content;
      msg.edited_at = p.edited_at;
    }
    if (p.content !== '' && conv.preview && conv.preview.id === p.id) conv.preview.content = p.content;
  }
  if (conv === state.open) renderMessages({stick: p.user_id === state.me.id});
}

function liveMessage(conv, msg) {
  const mine = msg.user_id === state.me.id;
  if (conv.typing && conv.typing.has(msg.user_id)) stopTyping(conv, msg.user_id);
  if (mine) return renderLists();
  const visible = conv === state.open && !document.hidden;
  // A message the server's count already included (its event came after the auth answer).
  const counted = conv.countedUpTo && compareIds(msg.id, conv.countedUpTo) <= 0;
  if (visible) markRead(conv);
  else if (!counted) conv.unread += 1;
  if (document.hidden && !counted) notify(conv, msg);
  renderLists();
  if (replaying(conv)) return;  // missed while away: the list's count says how many
  const who = authorName(msg.user_id);
  announce(conv === state.open ? t('announce.message', {name: who, text: msg.content})
           : conv.kind === 'guild' ? t('announce.newMessageIn', {name: who, guild: convTitle(conv)})
           : t('announce.newMessage', {name: who}));
}

// ---------------------------------------------------------------------------------------
// Read state (protocol v2, "read" and "load chats"): the server keeps where I stopped reading
// each chat and counts what came after; the auth answer brings the counts, and a chat on
// screen (the tab visible) is marked read up to its newest message. My other tabs and devices
// are told of each move, and clear their badges.

const READ_DELAY_MS = 300;  // marks while messages pour in go out as one

// `first`: the list of a fresh connection's auth answer, read before any history load of that
// connection. A later list (`load chats`, a refresh) may have been read after a history load
// and be ahead of an event still on its way, which its position would then skip: it only
// places a conversation that holds nothing and loads nothing.
function applySummaries(list, first = false) {
  for (const s of list || []) {
    const conv = convForChatId(s.chat_id);
    if (!conv) continue;
    if (s.last_read_id && compareIds(s.last_read_id, conv.lastRead || '0') > 0) conv.lastRead = s.last_read_id;
    const loading = Boolean(state.load) && state.load.conv === conv;
    if (Number.isInteger(s.last_seq) && (first || (conv.messages.size === 0 && !loading))) {
      conv.listSeq = s.last_seq;
      // Held, the position is the changes applied; else the list's, or an event's after it.
      if (!holds(conv) && !(s.last_seq <= conv.seq)) conv.seq = s.last_seq;
    }
    conv.countedUpTo = s.last_message ? s.last_message.id : '';
    if (s.last_message && compareIds(s.last_message.id, conv.last || '0') > 0) conv.last = s.last_message.id;
    notePreview(conv, s.last_message);
    const visible = conv === state.open && !document.hidden;
    conv.unread = visible ? 0 : s.unread_count;
    if (visible) markRead(conv);
  }
  renderLists();
}

// The newest message a conversation's entry in the list shows (who, what, when), kept from
// the server's summaries, live messages and loaded pages.
function notePreview(conv, msg) {
  if (!msg || !msg.content) return;
  if (conv.preview && compareIds(msg.id, conv.preview.id) < 0) return;
  conv.preview = {id: msg.id, user_id: msg.user_id, content: msg.content, created_at: msg.created_at};
}

// The message the list showed was deleted: show the newest one this tab holds, if any.
function dropPreview(conv, id) {
  if (!conv.preview || conv.preview.id !== id) return;
  conv.preview = null;
  const ids = [...conv.messages.keys()].sort(compareIds);
  if (ids.length) notePreview(conv, conv.messages.get(ids[ids.length - 1]));
}

function previewLine(conv) {
  const p = conv.preview;
  if (!p) return null;
  const who = p.user_id === state.me.id ? t('conv.you') : conv.kind === 'guild' ? authorName(p.user_id) : '';
  const date = parseCreatedAt(p.created_at);
  return h('span', {class: 'conv-preview'},
    h('span', {class: 'conv-sub conv-snippet', dir: 'auto', text: who ? `${who}: ${snippet(p.content)}` : snippet(p.content)}),
    date ? h('time', {class: 'conv-time', datetime: date.toISOString(), text: shortTime(date)}) : null);
}

// Marks `conv` read up to its newest message, which is on screen now (callers check), unless
// the server has that already. Sent a moment later, with what was on screen when asked: a
// message that arrives after the conversation was left stays unread.
function markRead(conv) {
  const ids = [...conv.messages.keys()].sort(compareIds);
  const newest = ids[ids.length - 1];
  if (!newest || compareIds(newest, conv.lastRead || '0') <= 0) return;
  if (conv.readPending && compareIds(conv.readPending, newest) >= 0) return;
  conv.readPending = newest;
  clearTimeout(conv.readTimer);
  conv.readTimer = setTimeout(() => {
    const id = conv.readPending;
    conv.readPending = '';
    if (compareIds(id, conv.lastRead || '0') <= 0) return;
    // The tab may have logged out meanwhile.
    if (state.gateway && state.gateway.send('read', {chat_id: conv.chatId, message_id: id})) conv.lastRead = id;
  }, READ_DELAY_MS);
}

function onRead(p) {
  const conv = convForChatId(p.chat_id);
  if (!conv || !p.message_id) return;
  if (compareIds(p.message_id, conv.lastRead || '0') > 0) conv.lastRead = p.message_id;
  // Read elsewhere: what is left unread is what came after the mark, as far as this tab knows.
  if (compareIds(conv.lastRead, conv.last || '0') >= 0) conv.unread = 0;
  else if (conv.loaded) conv.unread = [...conv.messages.values()].filter((m) =>
    m.user_id !== state.me.id && compareIds(m.id, conv.lastRead) > 0).length;
  renderLists();
}

// ---------------------------------------------------------------------------------------
// Presence (protocol v2, "presence"): which friends are online, from the auth answer and
// then from each change the server pushes. Shown as a dot on their avatar in the list and
// "Online" under their name in their conversation. Mine can be turned off in Account.

function onPresence(p) {
  if (!p || !p.user_id) return;
  if (p.online) state.online.add(p.user_id);
  else state.online.delete(p.user_id);
  renderLists();
  renderPresenceLabel();
}

function renderPresenceLabel() {
  const conv = state.open;
  const el = $('conversation-presence');
  const online = Boolean(conv) && conv.kind === 'dm' && state.friends.has(conv.id) && state.online.has(conv.id);
  el.hidden = !online;
  if (online) setText(el, 'presence.online');
}

function onPresenceToggle() {
  const visible = $('presence-toggle').checked;
  setRawText($('presence-error'), '');
  if (!state.gateway || !state.gateway.request('presence', {visible})) {
    $('presence-toggle').checked = state.showPresence;
    return void setText($('presence-error'), 'presence.offlineError');
  }
  state.showPresence = visible;
}

// ---------------------------------------------------------------------------------------
// Desktop notifications: off until I turn them on in Account (which asks the browser for
// permission); then a message from someone else while this tab is hidden shows one. The
// choice is kept per person in this browser.

function notifyKey() {
  return `${NOTIFY_KEY}:${state.me ? state.me.id : ''}`;
}

function notificationsOn() {
  if (!('Notification' in window) || Notification.permission !== 'granted') return false;
  try {
    return localStorage.getItem(notifyKey()) === '1';
  } catch {
    return Boolean(state.notify);
  }
}

function setNotifications(on) {
  state.notify = on;
  try {
    if (on) localStorage.setItem(notifyKey(), '1');
    else localStorage.removeItem(notifyKey());
  } catch {
    // No storage: state.notify holds it for this page.
  }
}

function renderNotifyToggle(notice = '') {
  const toggle = $('notify-toggle');
  toggle.disabled = !('Notification' in window);
  toggle.checked = notificationsOn();
  const status = $('notify-status');
  if (toggle.disabled) setText(status, 'notify.unsupported');
  else if (notice) setText(status, notice);
  else setRawText(status, '');
}

async function onNotifyToggle() {
  if (!$('notify-toggle').checked) {
    setNotifications(false);
    return renderNotifyToggle();
  }
  let permission = Notification.permission;
  if (permission === 'default') permission = await Notification.requestPermission();
  setNotifications(permission === 'granted');
  renderNotifyToggle(permission === 'granted' ? '' : 'notify.denied');
}

function notify(conv, msg) {
  if (!notificationsOn()) return;
  const who = authorName(msg.user_id);
  const title = conv.kind === 'guild' ? t('notify.inGuild', {name: who, guild: convTitle(conv)}) : who;
  try {
    const n = new Notification(title, {body: snippet(msg.content), tag: conv.key});
    n.onclick = () => {
      window.focus();
      location.hash = `#${conv.kind}/${conv.id}`;
      n.close();
    };
  } catch {
    // A browser that shows notifications only from a service worker (Chrome on Android).
  }
}

// ---------------------------------------------------------------------------------------
// Typing (protocol v2, "typing"): who else is typing in a conversation, shown under its
// messages until their event expires or their message arrives. Mine goes out while I type,
// at most every TYPING_EVERY_MS (the server shows it for 8 s and drops repeats within 2 s).

const TYPING_EVERY_MS = 5000;

function onTyping(p) {
  const conv = convForChatId(p.chat_id);
  if (!conv || !state.me || p.user_id === state.me.id) return;
  conv.typing = conv.typing || new Map();
  clearTimeout(conv.typing.get(p.user_id));
  const ms = Math.max(1, Number(p.expires_in) || 8) * 1000;
  conv.typing.set(p.user_id, setTimeout(() => stopTyping(conv, p.user_id), ms));
  if (conv === state.open) renderTyping();
}

function stopTyping(conv, userId) {
  clearTimeout(conv.typing.get(userId));
  conv.typing.delete(userId);
  if (conv === state.open) renderTyping();
}

function renderTyping() {
  const conv = state.open;
  const names = conv && conv.typing ? [...conv.typing.keys()].map(authorName) : [];
  const el = $('typing-indicator');
  if (names.length === 0) setRawText(el, '');
  else if (names.length === 1) setText(el, 'typing.one', {name: names[0]});
  else if (names.length === 2) setText(el, 'typing.two', {a: names[0], b: names[1]});
  else setText(el, 'typing.many');
}

function sendTyping() {
  const conv = state.open;
  if (!conv || !canSend() || $('composer-input').value.trim() === '') return;
  const now = Date.now();
  if (now - (conv.typingSentAt || 0) < TYPING_EVERY_MS) return;
  if (state.gateway.send('typing', {chat_id: conv.chatId})) conv.typingSentAt = now;
}

function onLoadComplete(p) {
  const load = state.load;
  // The end of an answer to a load this client no longer waits for, or of an answer whose
  // start went to an attempt that was sent again: the answer to the current attempt follows.
  if (!load || load.conv.chatId !== p.load_id || load.received < p.count) return;
  const conv = load.conv;
  clearTimeout(load.timer);
  state.load = null;
  for (const msg of load.batch.values()) {
    const existing = conv.messages.get(msg.id);
    if (existing) Object.assign(existing, {content: msg.content, edited_at: msg.edited_at});
    else conv.messages.set(msg.id, msg);
    if (compareIds(msg.id, conv.last || '0') > 0) conv.last = msg.id;
  }
  // conv.more is about what lies before the oldest message held: only a page that extends
  // that end (or the very first page) changes it.
  if (load.mode === 'older' || (load.mode === 'newest' && !load.knownNewest)) conv.more = p.more;
  if (load.mode === 'newest') conv.loaded = true;
  if (conv.last) notePreview(conv, conv.messages.get(conv.last));
  settleUncertain(conv);
  // A page is the whole truth for the span it covers, from its oldest message (or the
  // beginning, when there is no more) to its cursor: a message held in that span but absent
  // from the page was deleted while this tab was not listening.
  for (const id of [...conv.messages.keys()]) {
    if (load.batch.has(id)) continue;
    if (p.more && (!load.oldest || compareIds(id, load.oldest.id) < 0)) continue;
    if (load.upper && compareIds(id, load.upper) >= 0) continue;
    conv.messages.delete(id);
  }
  // Catching up: if this page does not reach back to what we had, fetch the gap too. Its
  // cursor is the page's oldest message as it arrived, even if that was deleted since.
  const gap = load.knownNewest && load.oldest && p.more &&
              compareIds(load.oldest.id, load.knownNewest) > 0;
  if (gap) {
    requestHistory(conv, 'gap', load.oldest.created_at,
                   {knownNewest: load.knownNewest, upper: load.oldest.id, stick: load.stick});
  } else if (load.mode !== 'older') {
    conv.catchUp = undefined;
  }
  if (conv === state.open) {
    if (load.mode === 'older') renderMessages({keepScroll: load.scroll});
    else renderMessages({stick: load.stick});
    setHistoryStatus(conv);
    if (!document.hidden) markRead(conv);
  }
  renderLists();
  nextLoad();
  continueJump();
}

function onFriendEvent(p) {
  if (!p || !p.user) return;
  const u = p.user;
  rememberUser(u);
  if (p.self) return onOwnFriendEvent(p.type, u);
  if (p.type === 'request') {
    state.incoming.set(u.id, u);
    announce(t('announce.request', {name: u.name}));
  } else if (p.type === 'response') {
    state.incoming.delete(u.id);
    state.outgoing.delete(u.id);
    state.friends.set(u.id, u);
    announce(t('announce.friends', {name: u.name}));
  } else if (p.type === 'remove') {
    state.incoming.delete(u.id);
    state.outgoing.delete(u.id);
  } else if (p.type === 'delete') {
    state.friends.delete(u.id);
  }
  renderLists();
  if (state.route.view === 'dm' && state.route.id === u.id) renderConversationChrome();
}

// What I did on another tab or device (`self`): u is the other user.
function onOwnFriendEvent(type, u) {
  if (type === 'request') {
    state.outgoing.set(u.id, u);
  } else if (type === 'response') {  // I accepted, or my request crossed theirs
    state.incoming.delete(u.id);
    state.outgoing.delete(u.id);
    state.friends.set(u.id, u);
  } else if (type === 'remove') {  // withdrawn or declined
    state.incoming.delete(u.id);
    state.outgoing.delete(u.id);
  } else if (type === 'delete') {
    state.friends.delete(u.id);
  }
  renderLists();
  if (state.route.view === 'dm' && state.route.id === u.id) renderConversationChrome();
}

// Guild events carry the guild's summary, the member who joined or left and, when the owner
// left, the new owner: the member list held (if any) is updated from them.
function onGuildEvent(p) {
  if (!p || !p.guild) return;
  const g = p.guild;
  rememberUser(p.user);
  rememberUser(p.actor);
  rememberUser(p.new_owner);
  const meGone = p.type === 'deleted' || (p.type === 'left' && p.user.id === state.me.id);
  const held = state.guilds.get(g.id);
  const onScreen = state.route.view === 'guild' && state.route.id === g.id;
  if (meGone) {
    state.guilds.delete(g.id);
    const conv = state.convs.get(`guild:${g.id}`);
    state.convs.delete(`guild:${g.id}`);
    if (onScreen && conv && conv === state.open && p.actor.id !== state.me.id) {
      // Someone else's doing: the conversation stays on screen, with what happened said in
      // it and the draft kept (read-only), until I go elsewhere.
      dropLoadOf(conv);
      conv.gone = true;
      conv.goneName = g.name;
      setText($('conversation-notice'), p.type === 'deleted' ? 'guild.deletedNotice' : 'guild.removedNotice',
              {name: p.actor.name, guild: g.name});
      announce($('conversation-notice').textContent);
    } else if (onScreen) {
      const why = t(p.type === 'deleted' ? 'announce.guildDeleted' : 'announce.guildGone', {guild: g.name});
      announce(why);
      location.hash = '';
    }
  } else if (!held) {
    state.guilds.set(g.id, guildFrom(g));  // created, or I was added
  } else {
    Object.assign(held, {name: g.name, owner_id: g.owner_id, member_count: g.member_count});
    if (held.members && p.type === 'joined' && !held.members.some((u) => u.id === p.user.id))
      held.members.push(p.user);  // joining order: the newest is last
    if (held.members && p.type === 'left')
      held.members = held.members.filter((u) => u.id !== p.user.id);
  }
  if (p.type === 'created' && p.actor.id === state.me.id && state.pendingGuildName === g.name) {
    state.pendingGuildName = null;
    $('guild-name').value = '';
    location.hash = `#guild/${g.id}`;
  }
  if (p.type === 'joined' && p.user.id === state.me.id && p.actor.id !== state.me.id)
    announce(t('announce.addedToGuild', {name: p.actor.name, guild: g.name}));
  if (p.type === 'renamed' && p.actor.id === state.me.id && onScreen) $('rename-guild-input').value = '';
  else if (p.type === 'renamed' && onScreen) announce(t('announce.guildRenamed', {name: p.actor.name, guild: g.name}));
  renderLists();
  if (state.route.view === 'guild' && state.route.id === g.id) renderConversationChrome();
}

const FRIEND_CODES = new Set(['4010', '4011', '4012', '4013', '4014', '4016']);
const GUILD_CODES = new Set(['4050', '4051', '4052', '4053', '4054']);

// The codes a history load can be answered with.
const LOAD_CODES = new Set(['4003', '4020', '4024', '4029', '4050', '5000', '5003']);

// Shows a gateway error in the interface's language: the catalog has a text for each code
// the client expects; the server's (English) reason is only for a code it does not know.
const errorExpiry = new WeakMap();  // error line -> the timer that clears it

function showGatewayError(el, p) {
  const key = `error.${p && p.code}`;
  clearTimeout(errorExpiry.get(el));
  if (p && p.code === '4029') {
    setText(el, p.retry_after ? key : 'error.rate_limited',
            p.retry_after ? {when: i18n.inSeconds(p.retry_after)} : undefined);
    // "Try again in 3 seconds" is false after 3 seconds: the line goes then.
    if (p.retry_after > 0 && el.isConnected) {
      const shown = el.textContent;
      errorExpiry.set(el, setTimeout(() => {
        if (el.textContent === shown) setRawText(el, '');
      }, p.retry_after * 1000));
    }
  } else if (i18n.has(key)) {
    setText(el, key);
  } else if (p && p.reason) {
    setRawText(el, p.reason);
  } else {
    setText(el, 'error.generic');
  }
}

// The text showGatewayError would show for `p`.
function gatewayErrorText(p) {
  const el = document.createElement('span');
  showGatewayError(el, p);
  return el.textContent;
}

// The same for an HTTP API error (api.ApiError): by its `code`.
function showApiError(el, e) {
  const key = `error.${e.code}`;
  if (e.code === 'rate_limited' && e.retryAfter) setText(el, 'error.rate_limited_after', {when: i18n.inSeconds(e.retryAfter)});
  else if (e.code === 'http') setText(el, 'error.status', {status: e.status});
  else if (e.code && i18n.has(key)) setText(el, key);
  else setRawText(el, e.message || t('error.generic'));
}

function onError(p) {
  const code = p && p.code;
  if (state.load && LOAD_CODES.has(code)) loadFailed(state.load, p);
  // Errors name no request: place each by its code's family where the user acted.
  const targets = [];
  if (FRIEND_CODES.has(code)) {
    // 4010 and 4011 also answer an owner's `remove`.
    targets.push(state.route.view === 'guild' ? $('member-error') : $('friend-error'));
  } else if (GUILD_CODES.has(code)) {
    targets.push(state.route.view === 'new-guild' ? $('guild-error') : $('member-error'));
    if (state.route.view === 'guild') targets.push($('conversation-error'));
    state.pendingGuildName = null;
  } else if (code === '4015') {
    targets.push(state.route.view === 'friends' ? $('friend-error')
                 : state.route.view === 'guild' && !$('members-panel').hidden ? $('member-error')
                 : $('conversation-error'));
  } else {
    targets.push($('conversation-error'));
    if (state.route.view === 'friends') targets.push($('friend-error'));
  }
  for (const el of targets) showGatewayError(el, p);
  announce(targets[0].textContent);
}

// ---------------------------------------------------------------------------------------
// History
//
// Errors name no request, so a connection has at most one history load in flight
// (state.load): an error that a load can be answered with, arriving while one is out, is
// taken as that load's. The load is then sent again, after `retry_after` for 4029, after a
// growing pause otherwise; so is a load unanswered for LOAD_TIMEOUT_MS. When the error was
// another request's after all, nothing is lost: the first answer to come completes the load
// (each attempt is the same request) and a later one finds nothing waiting for it.

function requestHistory(conv, mode, cursorText, extra = {}) {
  if (state.load || !state.gateway || !state.gateway.online || conv.gone || replaying(conv)) return false;
  state.load = {conv, mode, cursor: base64Utf8(cursorText), attempts: 0, timer: null, ...extra};
  sendLoad(state.load);
  if (conv === state.open) setHistoryStatus(conv);
  return true;
}

function sendLoad(load) {
  if (state.load !== load) return;
  load.attempts += 1;
  load.batch = new Map();  // id -> message: the page as it arrives, applied when complete
  load.oldest = null;      // {id, created_at} of the page's oldest message
  load.received = 0;
  clearTimeout(load.timer);
  load.timer = setTimeout(() => loadFailed(load, null), LOAD_TIMEOUT_MS);
  if (!state.gateway.send('load', {type: 'chat', load_id: load.conv.chatId, datetime: load.cursor, count: PAGE}))
    dropLoad();
}

function loadFailed(load, error) {
  if (state.load !== load) return;
  clearTimeout(load.timer);
  if (load.attempts >= LOAD_ATTEMPTS) {
    state.load = null;
    load.conv.failed = true;
    if (load.conv === state.open) {
      renderMessages();
      setHistoryStatus(load.conv);
    }
    nextLoad();
    return continueJump();
  }
  const delay = error && error.code === '4029' && error.retry_after > 0
      ? error.retry_after * 1000 : 500 * 2 ** (load.attempts - 1);
  load.timer = setTimeout(() => sendLoad(load), delay);
}

// Forgets the load in flight if it is `conv`'s, and goes on with what comes next.
function dropLoadOf(conv) {
  if (!state.load || state.load.conv !== conv) return;
  dropLoad();
  nextLoad();
}

// Forgets the load in flight: the connection it was sent on is gone (or going).
function dropLoad() {
  const load = state.load;
  if (!load) return;
  clearTimeout(load.timer);
  state.load = null;
  if (load.conv === state.open) setHistoryStatus(load.conv);
}

// Starts what the open conversation needs next, when no load is in flight: its newest page,
// or an older one while the list does not fill the view or the reader is at its top.
function nextLoad() {
  const conv = state.open;
  if (!conv || state.load || conv.failed || replaying(conv)) return;
  if (!conv.loaded) return loadNewest(conv);
  const box = $('messages');
  if (box.scrollHeight <= box.clientHeight + 40 || box.scrollTop < 120) loadOlder(conv);
}

function newestId(conv) {
  let newest = '';
  for (const id of conv.messages.keys()) if (!newest || compareIds(id, newest) > 0) newest = id;
  return newest;
}

function oldestMessage(conv) {
  let oldest = null;
  for (const m of conv.messages.values()) if (!oldest || compareIds(m.id, oldest.id) < 0) oldest = m;
  return oldest;
}

// The newest page. When it does not reach back to the newest message held before (the
// catch-up after a reconnect), the pages in between follow; should the connection drop
// again before they are in, the next catch-up still starts from that same message.
function loadNewest(conv) {
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const knownNewest = conv.catchUp !== undefined ? conv.catchUp : newestId(conv) || null;
  const sent = requestHistory(conv, 'newest', FAR_FUTURE, {
    knownNewest, stick: atBottom || conv.messages.size === 0,
  });
  if (sent) conv.catchUp = knownNewest;
}

function loadOlder(conv) {
  if (!conv.more || state.load || !conv.loaded || conv.failed) return;
  const oldest = oldestMessage(conv);
  if (!oldest) return;
  const box = $('messages');
  requestHistory(conv, 'older', oldest.created_at, {
    upper: oldest.id, scroll: {height: box.scrollHeight, top: box.scrollTop},
  });
}

function retryHistory() {
  const conv = state.open;
  if (!conv) return;
  conv.failed = false;
  nextLoad();
  if (conv.loaded && !state.load) loadOlder(conv);
  setHistoryStatus(conv);
  $('messages').focus();  // the button just went away
}

function setHistoryStatus(conv) {
  const status = $('history-status');
  const button = $('load-older');
  // A button that goes away while focused (it loads when focused, as focusing scrolls it to
  // the top) would leave the focus on <body>: it moves to the message list instead.
  const hadFocus = document.activeElement === button;
  const online = state.gateway && state.gateway.online;
  // Not loaded yet while online: loading, or about to once the load in flight is done.
  const busy = (state.load && state.load.conv === conv) || (online && !conv.loaded && !conv.failed) ||
               (online && replaying(conv));
  $('messages').setAttribute('aria-busy', busy ? 'true' : 'false');
  $('retry-load').hidden = !(conv.failed && !busy && online);
  if (busy) {
    setText(status, 'conv.loading');
    button.hidden = true;
  } else if (!online && !conv.loaded) {
    setText(status, 'conv.loadWhenOnline');
    button.hidden = true;
  } else if (conv.failed) {
    setText(status, conv.loaded ? 'conv.olderFailed' : 'conv.failed');
    button.hidden = true;
  } else if (!conv.loaded) {
    setRawText(status, '');
    button.hidden = true;
  } else if (conv.more) {
    setRawText(status, '');
    button.hidden = false;
  } else {
    setText(status, conv.messages.size ? 'conv.beginning' : 'conv.empty');
    button.hidden = true;
  }
  if (hadFocus && button.hidden) $('messages').focus({preventScroll: true});
}

// ---------------------------------------------------------------------------------------
// Rendering: lists

function renderLists() {
  if (!state.me) return;
  const sortConvs = (a, b) => compareIds(b.conv.last || '0', a.conv.last || '0') ||
                              a.name.localeCompare(b.name);
  const dms = [...state.friends.values()].map((u) => ({u, name: u.name, conv: conversation('dm', u.id)}));
  // A conversation with someone who is no longer a friend stays listed while this page holds
  // it (it is open, or its messages are loaded): its history is still there to read.
  for (const conv of state.convs.values()) {
    if (conv.kind !== 'dm' || state.friends.has(conv.id) || !state.users.has(conv.id)) continue;
    if (conv !== state.open && conv.messages.size === 0) continue;
    const u = state.users.get(conv.id);
    dms.push({u, name: u.name, conv});
  }
  dms.sort(sortConvs);
  $('dm-list').replaceChildren(...dms.map(({u, conv}) => convItem(`#dm/${u.id}`, presenceAvatar(u), u.name, conv)));
  $('dm-empty').hidden = dms.length > 0;

  const guilds = [...state.guilds.values()].map((g) => ({g, name: g.name, conv: conversation('guild', g.id)}));
  guilds.sort(sortConvs);
  $('guild-list').replaceChildren(...guilds.map(({g, conv}) =>
    convItem(`#guild/${g.id}`, h('span', {class: 'avatar guild', 'aria-hidden': 'true', style: {'--hue': hue(g.id)}, text: '#'}),
             g.name, conv, memberCountText(g))));
  $('guild-empty').hidden = guilds.length > 0;

  const badge = $('request-badge');
  badge.hidden = state.incoming.size === 0;
  badge.textContent = String(state.incoming.size);
  i18n.setAttrs(badge, {'aria-label': 'nav.requests'}, {count: state.incoming.size});
  $('friends-link').classList.toggle('active', state.route.view === 'friends');
  $('account-link').classList.toggle('active', state.route.view === 'account');

  renderFriendsPane();
  const unread = [...state.convs.values()].reduce((n, c) => n + c.unread, 0);
  document.title = unread ? t('title.unread', {count: unread}) : 'REWIND';
}

function convItem(href, icon, name, conv, sub) {
  const active = state.open === conv;
  const label = conv.unread ? t('nav.unread', {name, count: conv.unread}) : name;
  return h('li', {},
    h('a', {href, class: `conv-item${active ? ' active' : ''}`, 'aria-current': active ? 'page' : null, 'aria-label': label},
      icon,
      h('span', {class: 'conv-text'}, h('span', {class: 'conv-name', dir: 'auto', text: name}),
        previewLine(conv) || (sub ? h('span', {class: 'conv-sub', text: sub}) : null)),
      conv.unread ? h('span', {class: 'badge', 'aria-hidden': 'true', text: String(conv.unread)}) : null));
}

function personRow(u, ...buttons) {
  return h('li', {class: 'person'}, avatar(u), h('span', {class: 'person-name', dir: 'auto', text: u.name}),
           h('span', {class: 'actions'}, ...buttons));
}

// Returns the request's id, or null when offline.
function friendOp(type, name) {
  setRawText($('friend-error'), '');
  const rid = state.gateway.request('mutual_users', {type, name});
  if (!rid) setText($('friend-error'), 'offline.tryLater');
  return rid;
}

// `label` and `question` are catalog keys; `params` their parameters (or a function that
// gives them when asked: a name that may change), `ariaLabel` the key of an accessible name
// for the unarmed button (the question, once asked, is its own name).
function confirmButton(label, question, action, cls = 'danger', {params, ariaLabel} = {}) {
  // Two steps, in place: the first press asks, the second does it; Escape or blur cancels.
  const button = h('button', {type: 'button', class: `small ${cls}`});
  const values = () => (typeof params === 'function' ? params() : params);
  let armed = false;
  const disarm = () => {
    armed = false;
    setText(button, label, values());
    if (ariaLabel) i18n.setAttrs(button, {'aria-label': ariaLabel}, values());
    button.removeAttribute('aria-live');
  };
  disarm();
  button.addEventListener('click', () => {
    if (armed) return action();
    armed = true;
    if (ariaLabel) {
      button.removeAttribute('aria-label');
      delete button.dataset.i18nAttrs;
    }
    setText(button, question, values());
    button.setAttribute('aria-live', 'polite');
  });
  button.addEventListener('blur', disarm);
  button.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !armed) return;
    e.preventDefault();  // this Escape cancels the question, and closes nothing around it
    disarm();
  });
  return button;
}

function renderFriendsPane() {
  const byName = (a, b) => a.name.localeCompare(b.name);
  const incoming = [...state.incoming.values()].sort(byName);
  $('incoming-list').replaceChildren(...incoming.map((u) => personRow(u,
    h('button', {type: 'button', class: 'small primary', i18n: ['friends.accept', {name: u.name}], i18nAttrs: {'aria-label': 'friends.acceptLabel'}, onclick: () => friendOp('response', u.name)}),
    h('button', {type: 'button', class: 'small', i18n: ['friends.decline', {name: u.name}], i18nAttrs: {'aria-label': 'friends.declineLabel'}, onclick: () => friendOp('remove', u.name)}),
    blockButton(u))));
  $('incoming-empty').hidden = incoming.length > 0;

  const outgoing = [...state.outgoing.values()].sort(byName);
  $('outgoing-list').replaceChildren(...outgoing.map((u) => personRow(u,
    h('button', {type: 'button', class: 'small', i18n: ['friends.cancel', {name: u.name}], i18nAttrs: {'aria-label': 'friends.cancelLabel'}, onclick: () => friendOp('remove', u.name)}))));
  $('outgoing-empty').hidden = outgoing.length > 0;

  const friends = [...state.friends.values()].sort(byName);
  $('friend-list').replaceChildren(...friends.map((u) => personRow(u,
    h('a', {href: `#dm/${u.id}`, class: 'button small', i18n: ['friends.message', {name: u.name}], i18nAttrs: {'aria-label': 'friends.messageLabel'}}),
    confirmButton('friends.remove', 'friends.removeConfirm', () => friendOp('delete', u.name)),
    blockButton(u))));
  $('friends-empty').hidden = friends.length > 0;
}

// ---------------------------------------------------------------------------------------
// Blocked users: blocked from the friend area, listed (and unblocked) in Account. The list
// is asked for when Account is shown and after each block or unblock; no event tells of
// a block made elsewhere.

function blockButton(u) {
  return confirmButton('blocked.block', 'blocked.blockConfirm', () => blockOp('block', u.name), 'quiet danger',
                       {params: {name: u.name}, ariaLabel: 'blocked.blockLabel'});
}

// Returns the request's id, or null when offline.
function blockOp(type, name) {
  const errorLine = state.route.view === 'account' ? $('blocked-error') : $('friend-error');
  setRawText(errorLine, '');
  const rid = state.gateway.request('block', {type, name});
  if (!rid) setText(errorLine, 'offline.tryLater');
  else state.blockRequests.add(rid);
  return rid;
}

function loadBlocked() {
  if (state.gateway) state.gateway.send('load', {type: 'blocked_users'});
}

function renderBlocked(users) {
  $('blocked-list').replaceChildren(...users.map((u) => personRow(u,
    h('button', {type: 'button', class: 'small', i18n: ['blocked.unblock', {name: u.name}], i18nAttrs: {'aria-label': 'blocked.unblockLabel'}, onclick: () => blockOp('unblock', u.name)}))));
  $('blocked-empty').hidden = users.length > 0;
}

// ---------------------------------------------------------------------------------------
// Rendering: the conversation

function renderConversationChrome() {
  const conv = state.open;
  renderTyping();
  renderPresenceLabel();
  if (!conv) return;
  $('conversation-title').textContent = convTitle(conv);
  $('conversation-pane').dataset.kind = conv.kind;
  const guild = conv.kind === 'guild' ? state.guilds.get(conv.id) : null;
  $('members-toggle').hidden = !guild;
  const owner = Boolean(guild) && guild.owner_id === state.me.id;
  $('owner-tools').hidden = !owner;
  $('delete-guild').hidden = !owner;
  if (guild) {
    setText($('conversation-sub'), 'guild.memberCount', {count: guild.member_count});
    setText($('members-toggle'), 'guild.membersCount', {count: guild.member_count});
    $('rename-guild-input').placeholder = guild.name;
    askMembers(guild);
    renderMembers(guild);
    $('composer').hidden = false;
  } else if (conv.kind === 'guild') {
    $('composer').hidden = false;
    // Removed from it, or it was deleted, while on screen: the notice says which.
    $('members-panel').hidden = true;
    $('members-toggle').setAttribute('aria-expanded', 'false');
    setRawText($('conversation-sub'), '');
  } else {
    $('members-panel').hidden = true;
    $('members-toggle').setAttribute('aria-expanded', 'false');
    const friend = state.friends.has(conv.id);
    setText($('conversation-sub'), friend ? 'conv.dm' : 'conv.notFriends');
    // Said where the composer was: the history stays readable, and nothing can be sent.
    if (friend) {
      if ($('conversation-notice').dataset.i18n === 'conv.noLongerFriends') setRawText($('conversation-notice'), '');
    } else {
      setText($('conversation-notice'), 'conv.noLongerFriends', {name: convTitle(conv)});
    }
    $('composer').hidden = !friend;
  }
  i18n.setAttrs($('composer-input'), {placeholder: conv.kind === 'guild' ? 'composer.placeholderGuild' : 'composer.placeholderDm'},
                {name: convTitle(conv)});
  updateComposer();
}

function renderMembers(guild) {
  $('member-list').setAttribute('aria-busy', guild.members ? 'false' : 'true');
  if (!guild.members) {
    $('member-list').replaceChildren(h('li', {class: 'hint', i18n: 'guild.loadingMembers'}));
    $('add-member-form').hidden = true;  // who may be added is known with the members
    return;
  }
  const owner = guild.owner_id === state.me.id;
  $('member-list').replaceChildren(...guild.members.map((u) => h('li', {class: 'person'},
    avatar(u), u.id === state.me.id ? h('span', {class: 'person-name', dir: 'auto', i18n: ['guild.you', {name: u.name}]})
                                    : h('span', {class: 'person-name', dir: 'auto', text: u.name}),
    u.id === guild.owner_id ? h('span', {class: 'tag', i18n: 'guild.owner'}) : null,
    owner && u.id !== state.me.id
      ? h('span', {class: 'actions'}, confirmButton('guild.remove', 'guild.removeConfirm',
          () => guildOp({type: 'remove', guild_id: guild.id, name: u.name}), 'danger',
          {params: {name: u.name}, ariaLabel: 'guild.removeLabel'}))
      : null)));
  const inGuild = new Set(guild.members.map((u) => u.id));
  const candidates = [...state.friends.values()].filter((u) => !inGuild.has(u.id))
                                                 .sort((a, b) => a.name.localeCompare(b.name));
  const select = $('add-member-select');
  select.replaceChildren(...candidates.map((u) => h('option', {value: u.name, text: u.name})));
  $('add-member-form').hidden = candidates.length === 0;
}

// An owner's request (rename, remove, delete): the event that follows is the answer.
function guildOp(payload) {
  setRawText($('member-error'), '');
  if (!state.gateway.send('guild', payload)) setText($('member-error'), 'offline.tryLater');
}

function canSend() {
  const conv = state.open;
  if (!conv || !state.gateway || !state.gateway.online) return false;
  return conv.kind === 'guild' ? state.guilds.has(conv.id) : state.friends.has(conv.id);
}

function updateComposer() {
  const conv = state.open;
  if (!conv) return;
  const online = state.gateway && state.gateway.online;
  $('send-button').disabled = !canSend();
  $('composer-input').disabled = conv.kind === 'dm' && !state.friends.has(conv.id);
  // A guild gone while on screen: what was typed stays, to be read and copied.
  $('composer-input').readOnly = Boolean(conv.gone);
  if (online) {
    $('send-button').removeAttribute('title');
    delete $('send-button').dataset.i18nAttrs;
  } else {
    i18n.setAttrs($('send-button'), {title: 'status.offlineTitle'});
  }
}

function messageElement(conv) {
  const li = h('li', {class: 'message'});
  li.append(
    h('div', {class: 'message-avatar'}),
    h('div', {class: 'message-main'},
      h('div', {class: 'message-meta'}, h('span', {class: 'author', dir: 'auto'}), h('time')),
      h('div', {class: 'message-body'},
        h('div', {class: 'message-text', dir: 'auto'}), h('span', {class: 'edited', i18n: 'message.edited', hidden: true}))),
    h('div', {class: 'message-actions'}));
  return li;
}

// http and https addresses in a message; anything else (javascript:, data:) stays text.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;

// A message's text as text nodes, with its web addresses as links that open apart from
// this page and tell the site nothing about it. Never HTML: every piece goes in as text.
function setMessageText(el, content) {
  const nodes = [];
  let last = 0;
  for (const m of content.matchAll(URL_PATTERN)) {
    // Punctuation that ends a sentence is not part of the address.
    const url = m[0].replace(/[.,;:!?)\]}'"]+$/, '');
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      continue;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') continue;
    nodes.push(content.slice(last, m.index));
    nodes.push(h('a', {href: parsed.href, target: '_blank', rel: 'noopener noreferrer', text: url}));
    last = m.index + url.length;
  }
  nodes.push(content.slice(last));
  el.replaceChildren(...nodes.filter((n) => n !== ''));
}

// A message's text, shortened, for the accessible names of its buttons.
function snippet(text) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 40 ? `${line.slice(0, 40)}…` : line;
}

function updateMessageElement(li, msg, previous, conv) {
  if (li.classList.contains('editing')) return;
  const mine = msg.user_id === state.me.id;
  const date = parseCreatedAt(msg.created_at);
  const grouped = previous && previous.user_id === msg.user_id &&
                  date && previous.date && date - previous.date < 5 * 60000;
  msg.date = date;
  li.dataset.id = msg.id;
  li.classList.toggle('mine', mine);
  li.classList.toggle('grouped', Boolean(grouped));
  const author = {id: msg.user_id, name: authorName(msg.user_id)};
  li.querySelector('.message-avatar').replaceChildren(grouped ? '' : avatar(author));
  li.querySelector('.author').textContent = author.name;
  const time = li.querySelector('time');
  if (date) {
    time.dateTime = date.toISOString();
    time.textContent = shortTime(date);
    time.title = i18n.fmt().full.format(date);
  }
  // edited_at (v2) is the last edit's time, null when never edited: a reload keeps the mark.
  const edited = li.querySelector('.edited');
  const editedDate = msg.edited_at ? parseCreatedAt(msg.edited_at) : null;
  edited.hidden = !msg.edited_at;
  if (editedDate) edited.title = t('message.editedAt', {date: i18n.fmt().full.format(editedDate)});
  // A grouped message shows no meta line: its time is on hover.
  const body = li.querySelector('.message-body');
  if (grouped && date) body.title = i18n.fmt().full.format(date);
  else body.removeAttribute('title');
  const text = li.querySelector('.message-text');
  if (text.textContent !== msg.content || text.dataset.content !== msg.content) {
    setMessageText(text, msg.content);
    text.dataset.content = msg.content;
  }
  const actions = li.querySelector('.message-actions');
  if (mine && !actions.childElementCount) {
    const current = () => ({text: snippet((conv.messages.get(li.dataset.id) || msg).content)});
    actions.append(
      h('button', {type: 'button', class: 'small quiet edit', i18n: 'message.edit', onclick: () => startEdit(li, conv)}),
      confirmButton('message.delete', 'message.deleteConfirm', () => deleteMessage(conv, li.dataset.id), 'quiet danger delete',
                    {params: current, ariaLabel: 'message.deleteLabel'}));
  }
  // Each button is named after its message, so that a list of buttons can be told apart.
  if (mine) {
    const params = {text: snippet(msg.content)};
    i18n.setAttrs(actions.querySelector('.edit'), {'aria-label': 'message.editLabel'}, params);
    const remove = actions.querySelector('.delete');
    if (remove.dataset.i18nAttrs) i18n.setAttrs(remove, {'aria-label': 'message.deleteLabel'}, params);
  }
}

function dateSeparator(date) {
  return h('li', {class: 'date-separator', role: 'separator'},
    h('time', {datetime: [date.getFullYear(), date.getMonth() + 1, date.getDate()]
      .map((n, i) => String(n).padStart(i ? 2 : 4, '0')).join('-'), text: i18n.fmt().day.format(date)}));
}

// Keyed rendering: each message keeps its element, so an edit in progress, the focus and
// the scroll position survive new messages arriving.
function renderMessages({stick = false, keepScroll = null} = {}) {
  const conv = state.open;
  if (!conv) return;
  const box = $('messages');
  const list = $('message-list');
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const ids = [...conv.messages.keys()].sort(compareIds);
  const keep = new Set(ids);
  for (const [id, el] of conv.elements) {
    if (!keep.has(id)) {
      el.remove();
      conv.elements.delete(id);
    }
  }
  let prevEl = null;
  let prevMsg = null;
  let prevDay = null;
  let dividerPlaced = false;
  const days = new Set();
  for (const id of ids) {
    const msg = conv.messages.get(id);
    let el = conv.elements.get(id);
    if (!el) {
      el = messageElement(conv);
      conv.elements.set(id, el);
    }
    // A line with the date wherever a day begins; a message after it is never grouped.
    const date = parseCreatedAt(msg.created_at);
    const day = date ? date.toDateString() : prevDay;
    if (day && day !== prevDay) {
      let sep = conv.separators.get(day);
      if (!sep) {
        sep = dateSeparator(date);
        conv.separators.set(day, sep);
      }
      days.add(day);
      setRawText(sep.querySelector('time'), i18n.fmt().day.format(date));  // the language may have changed
      const at = prevEl ? prevEl.nextSibling : list.firstChild;
      if (at !== sep) list.insertBefore(sep, at);
      prevEl = sep;
      prevMsg = null;
    }
    prevDay = day;
    if (!dividerPlaced && conv.divider && compareIds(id, conv.divider) > 0 && msg.user_id !== state.me.id) {
      dividerPlaced = true;
      conv.dividerEl = conv.dividerEl || h('li', {class: 'new-divider', role: 'separator', id: 'new-divider'}, h('span'));
      setText(conv.dividerEl.firstChild, 'messages.new');
      const at = prevEl ? prevEl.nextSibling : list.firstChild;
      if (at !== conv.dividerEl) list.insertBefore(conv.dividerEl, at);
      prevEl = conv.dividerEl;
      prevMsg = null;  // a message after the line starts a new group
    }
    updateMessageElement(el, msg, prevMsg, conv);
    const want = prevEl ? prevEl.nextSibling : list.firstChild;
    if (want !== el) list.insertBefore(el, want);
    prevEl = el;
    prevMsg = msg;
  }
  if (!dividerPlaced && conv.dividerEl) conv.dividerEl.remove();
  for (const [day, sep] of conv.separators) {
    if (!days.has(day)) {
      sep.remove();
      conv.separators.delete(day);
    }
  }
  for (const [rid, el] of conv.outboxElements) {
    if (!conv.outbox.has(rid)) {
      el.remove();
      conv.outboxElements.delete(rid);
    }
  }
  for (const [rid, entry] of conv.outbox) {
    let el = conv.outboxElements.get(rid);
    if (!el) {
      el = outboxElement(conv, rid);
      conv.outboxElements.set(rid, el);
    }
    updateOutboxElement(el, entry);
    const want = prevEl ? prevEl.nextSibling : list.firstChild;
    if (want !== el) list.insertBefore(el, want);
    prevEl = el;
  }
  if (keepScroll) {
    box.scrollTop = keepScroll.top + (box.scrollHeight - keepScroll.height);
  } else if (stick || nearBottom) {
    box.scrollTop = box.scrollHeight;
  }
  setHistoryStatus(conv);
}

function startEdit(li, conv) {
  const msg = conv.messages.get(li.dataset.id);
  if (!msg || li.classList.contains('editing')) return;
  li.classList.add('editing');
  const text = li.querySelector('.message-text');
  const input = h('textarea', {class: 'edit-input', rows: '2', i18nAttrs: {'aria-label': 'message.editBox'}});
  input.value = msg.content;
  const finish = () => {
    li.classList.remove('editing');
    form.remove();
    text.hidden = false;
    updateMessageElement(li, conv.messages.get(li.dataset.id) || msg, null, conv);
    renderMessages();
  };
  const save = () => {
    const content = input.value;
    if (characters(content) > MAX_CONTENT) {
      setText($('conversation-error'), 'composer.tooLong', {max: MAX_CONTENT, count: characters(content)});
      return;
    }
    if (content.trim() === '') {
      // Saving nothing deletes the message: asked first, as the Delete button asks.
      if (form.dataset.confirmDelete) return deleteMessage(conv, msg.id);
      form.dataset.confirmDelete = 'yes';
      const button = form.querySelector('button[type=submit]');
      setText(button, 'message.deleteConfirm');
      button.classList.add('danger');
      button.setAttribute('aria-live', 'polite');
      return;
    }
    if (content !== msg.content && !state.gateway.send('chat', {type: 'edit', chat_id: conv.chatId, id: msg.id, content})) {
      setText($('conversation-error'), 'offline.notSentEdit');
      return;
    }
    finish();
  };
  const form = h('form', {class: 'edit-form', onsubmit: (e) => { e.preventDefault(); save(); }},
    input,
    h('div', {class: 'edit-buttons'},
      h('button', {type: 'submit', class: 'small primary', i18n: 'message.save'}),
      h('button', {type: 'button', class: 'small', i18n: 'message.cancel', onclick: finish}),
      h('span', {class: 'hint', i18n: 'message.editHint'})));
  input.addEventListener('input', () => {
    if (!form.dataset.confirmDelete) return;
    delete form.dataset.confirmDelete;
    const button = form.querySelector('button[type=submit]');
    setText(button, 'message.save');
    button.classList.remove('danger');
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      finish();
      li.querySelector('.message-actions button')?.focus();
    } else if (e.key === 'Enter' && !e.shiftKey && !composing(e)) {
      e.preventDefault();
      save();
    }
  });
  text.hidden = true;
  text.after(form);
  // The newest message's form would open below the fold: Save and Cancel must be in view.
  form.scrollIntoView({block: 'nearest'});
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

function deleteMessage(conv, id) {
  if (!state.gateway.send('chat', {type: 'edit', chat_id: conv.chatId, id, content: ''}))
    setText($('conversation-error'), 'offline.notDeleted');
}

function sendMessage() {
  const conv = state.open;
  const input = $('composer-input');
  const content = input.value;
  if (!conv || content.trim() === '') return;
  setRawText($('conversation-error'), '');
  if (characters(content) > MAX_CONTENT) {
    setText($('conversation-error'), 'composer.tooLong', {max: MAX_CONTENT, count: characters(content)});
    return;
  }
  if (!canSend()) {
    setText($('conversation-error'), state.gateway && state.gateway.online ? 'conv.cannotSend' : 'offline.keptMessage');
    return;
  }
  if (!sendToOutbox(conv, content)) {
    setText($('conversation-error'), 'offline.keptMessage');
    return;
  }
  saveDraft(conv, '');  // this conversation's draft only: the others keep theirs
  conv.typingSentAt = 0;  // the next message's typing goes at once
  input.value = '';
  autosize(input);
  updateCount();
}

// ---------------------------------------------------------------------------------------
// Outbox: my messages from the moment they are sent until the server confirms them.
//
// Each send carries a request id (protocol v2); the server answers with the message's
// event carrying that id, or with an error carrying it. Until then the message is shown as
// "sending"; refused, it stays with the reason, Retry, Edit and Discard. When the connection
// is lost (the gateway notices a silent link within seconds) every send still unanswered is
// shown as not sent: it may or may not have reached the server. Each message also carries a
// nonce, the same on every sending of it, and the server answers a nonce it stored a message
// with (within a day) with that message instead of storing a second one: so once the
// connection is back, such a message is sent again by itself, and arrives once. The history
// loaded after the reconnect is searched for it too (one of mine with the same text, newer
// than what the conversation held when it was sent, means it did arrive), for a message
// older than the server's window.

const NONCE_WINDOW_MS = 23 * 3600 * 1000;  // the server keeps a nonce 24 hours

function newNonce() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);  // unlike randomUUID, also on a page served over plain HTTP
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function sendToOutbox(conv, content, entry = null) {
  const nonce = (entry && entry.nonce) || newNonce();
  const firstSent = (entry && entry.firstSent) || Date.now();
  const payload = {type: 'send', chat_id: conv.chatId, content, nonce};
  const rid = state.gateway && state.gateway.request('chat', payload);
  if (!rid) return false;
  if (entry) {
    conv.outbox.delete(entry.rid);
    const el = conv.outboxElements.get(entry.rid);
    if (el) {
      conv.outboxElements.delete(entry.rid);
      conv.outboxElements.set(rid, el);
    }
  }
  conv.outbox.set(rid, {rid, content, state: 'sending', reason: null, uncertain: false,
                        after: (entry && entry.after) || newestId(conv) || '0', nonce, firstSent});
  saveOutbox(conv);
  if (conv === state.open) renderMessages({stick: true});
  return true;
}

// The outbox is kept like the drafts (sessionStorage: this tab, across a reload), so that a
// reload never loses a message that was not confirmed. A message that was still being sent
// when the page went comes back as not sent, and uncertain: the history is searched for it.
function saveOutbox(conv) {
  if (!state.me) return;
  const key = `${OUTBOX_KEY}:${state.me.id}:${conv.key}`;
  try {
    const entries = [...conv.outbox.values()].map(({content, reason, uncertain, after, nonce, firstSent, state: s}) =>
      ({content, reason, after, nonce, firstSent, uncertain: uncertain || s === 'sending'}));
    if (entries.length) sessionStorage.setItem(key, JSON.stringify(entries));
    else sessionStorage.removeItem(key);
  } catch {
    // No storage: the outbox lasts as long as the page.
  }
}

let restoredCount = 0;

function restoreOutbox(conv) {
  if (!state.me) return;
  let entries = [];
  try {
    entries = JSON.parse(sessionStorage.getItem(`${OUTBOX_KEY}:${state.me.id}:${conv.key}`)) || [];
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e || typeof e.content !== 'string') continue;
    restoredCount += 1;
    const rid = `restored-${restoredCount}`;  // never a request id of this page's
    conv.outbox.set(rid, {rid, content: e.content, state: 'failed', reason: e.reason || null,
                          uncertain: Boolean(e.uncertain), after: String(e.after || '0'),
                          nonce: typeof e.nonce === 'string' ? e.nonce : null,
                          firstSent: Number(e.firstSent) || 0});
  }
}

function outboxEntry(rid) {
  for (const conv of state.convs.values()) {
    const entry = conv.outbox.get(rid);
    if (entry) return {conv, entry};
  }
  return null;
}

function confirmSent(rid, p) {
  const found = outboxEntry(rid);
  if (!found) return;
  found.conv.outbox.delete(rid);
  saveOutbox(found.conv);
  const el = found.conv.outboxElements.get(rid);
  if (el) el.remove();
  found.conv.outboxElements.delete(rid);
}

// An error answering one of my sends: the message stays, with the reason. True when the
// error was a send's.
function refusedSend(rid, p) {
  const found = outboxEntry(rid);
  if (!found) return false;
  const {conv, entry} = found;
  entry.state = 'failed';
  entry.uncertain = false;  // refused: certainly not sent
  entry.reason = p;
  saveOutbox(conv);
  if (conv === state.open) {
    renderMessages();
    announce(t('outbox.notSent', {reason: gatewayErrorText(p)}));
  }
  return true;
}

// The connection went: sends not yet answered may or may not have arrived.
function failInFlight() {
  for (const conv of state.convs.values()) {
    let changed = false;
    for (const entry of conv.outbox.values()) {
      if (entry.state !== 'sending') continue;
      entry.state = 'failed';
      entry.uncertain = true;
      entry.reason = null;
      changed = true;
    }
    if (changed) saveOutbox(conv);
    if (changed && conv === state.open) {
      renderMessages();
      announce(t('outbox.lost'));
    }
  }
}

// Back online: every message that may or may not have arrived goes again with its nonce,
// which the server answers with the message it stored, if it did. Not one whose nonce the
// server may have forgotten: that one waits for the history, or for Retry.
function resendUncertain() {
  for (const conv of state.convs.values()) {
    for (const entry of [...conv.outbox.values()]) {
      if (entry.state !== 'failed' || !entry.uncertain || !entry.nonce) continue;
      if (!(Date.now() - entry.firstSent < NONCE_WINDOW_MS)) continue;
      if (!sendToOutbox(conv, entry.content, entry)) return;
    }
  }
}

// After a page of history: an uncertain entry whose message is in it did arrive.
function settleUncertain(conv) {
  for (const entry of [...conv.outbox.values()]) {
    if (!entry.uncertain) continue;
    for (const msg of conv.messages.values()) {
      if (msg.user_id === state.me.id && msg.content === entry.content &&
          compareIds(msg.id, entry.after) > 0) {
        confirmSent(entry.rid);
        break;
      }
    }
  }
}

function retrySend(conv, rid) {
  const entry = conv.outbox.get(rid);
  if (!entry || entry.state !== 'failed') return;
  if (!canSend()) {
    setText($('conversation-error'), state.gateway && state.gateway.online ? 'conv.cannotSend' : 'offline.tryLater');
    return;
  }
  setRawText($('conversation-error'), '');
  sendToOutbox(conv, entry.content, entry);
}

function discardSend(conv, rid) {
  confirmSent(rid);
  $('composer-input').focus();
}

// Takes a refused message back into the composer to change it (unless something is
// being typed there: then the text is added after it).
function editUnsent(conv, rid) {
  const entry = conv.outbox.get(rid);
  if (!entry) return;
  const input = $('composer-input');
  input.value = input.value ? `${input.value}\n${entry.content}` : entry.content;
  saveDraft(conv, input.value);
  autosize(input);
  updateCount();
  confirmSent(rid);
  input.focus();
}

function outboxElement(conv, rid) {
  const li = h('li', {class: 'message mine outbox'},
    h('div', {class: 'message-avatar'}),
    h('div', {class: 'message-main'},
      h('div', {class: 'message-meta'}, h('span', {class: 'author'}), h('span', {class: 'send-state'})),
      h('div', {class: 'message-body'}, h('div', {class: 'message-text', dir: 'auto'})),
      h('div', {class: 'outbox-actions'},
        h('button', {type: 'button', class: 'small primary retry', i18n: 'outbox.retry', onclick: () => retrySend(conv, li.dataset.rid)}),
        h('button', {type: 'button', class: 'small', i18n: 'outbox.edit', onclick: () => editUnsent(conv, li.dataset.rid)}),
        h('button', {type: 'button', class: 'small danger', i18n: 'outbox.discard', onclick: () => discardSend(conv, li.dataset.rid)}))));
  return li;
}

function updateOutboxElement(li, entry) {
  li.dataset.rid = entry.rid;
  li.dataset.state = entry.state;
  li.querySelector('.message-avatar').replaceChildren(avatar(state.me));
  li.querySelector('.author').textContent = state.me.name;
  const status = li.querySelector('.send-state');
  if (entry.state === 'sending') setText(status, 'outbox.sending');
  else if (entry.reason) setText(status, 'outbox.notSent', {reason: gatewayErrorText(entry.reason)});
  else setText(status, 'outbox.lost');
  const text = li.querySelector('.message-text');
  if (text.textContent !== entry.content) text.textContent = entry.content;
  li.querySelector('.outbox-actions').hidden = entry.state !== 'failed';
  for (const button of li.querySelectorAll('.outbox-actions button'))
    i18n.setAttrs(button, {'aria-label': `outbox.${button.dataset.i18n.split('.')[1]}Label`}, {text: entry.content.slice(0, 40)});
}

// An Enter that commits an input method's composition (Hangul, kana, ...) is not a send:
// browsers mark it isComposing, and some report it only as keyCode 229.
function composing(event) {
  return event.isComposing || event.keyCode === 229;
}

function characters(text) {
  return [...text].length;
}

// The composer's counter shows near the limit and past it; nothing typed is ever cut.
function updateCount() {
  const count = characters($('composer-input').value);
  const el = $('composer-count');
  el.hidden = count <= MAX_CONTENT - 200;
  el.textContent = `${count}/${MAX_CONTENT}`;
  el.classList.toggle('over', count > MAX_CONTENT);
}

function autosize(textarea) {
  textarea.style.height = 'auto';
  textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
}

// ---------------------------------------------------------------------------------------
// Search (protocol v2, "search"): my messages in every chat I am in, 20 a page, best match
// first. The box above the conversation lists asks as I type (after a pause) or at Enter;
// the results take the lists' place until the search is cleared. A result opens its
// conversation and pages back through the history until the message is there.

const SEARCH_PAGE = 20;          // results per answer
const SEARCH_MAX_OFFSET = 1000;  // the server's: no page starts beyond this
const SEARCH_MAX_WORDS = 8;      // the server looks for the first 8 words only
const SEARCH_DELAY_MS = 350;     // typing that pauses this long searches
const JUMP_PAGES = 20;           // older pages loaded at most to reach a result
const HIT_MS = 2500;             // how long a result reached stays marked

// A word as the server's search splits them: letters, marks and digits of any script.
const WORD_PATTERN = /[\p{L}\p{M}\p{N}]+/gu;

// As the server's index compares words: case and diacritics aside ("e" finds "É").
// Recomposed, so that a Hangul syllable stays one (its jamo are letters, not marks).
function foldForSearch(text) {
  return text.normalize('NFD').replace(/\p{M}/gu, '').normalize('NFC').toLowerCase();
}

function searchTerms(query) {
  return (query.normalize('NFC').match(WORD_PATTERN) || []).slice(0, SEARCH_MAX_WORDS)
    .map(foldForSearch).filter(Boolean);
}

// How much of `word` (UTF-16 units) the longest term it begins with covers; 0 when none.
// Folded a character at a time, so that a length in the folded word maps back to the word.
function matchedPrefix(word, terms) {
  let folded = '';
  const ends = [];  // [folded length, end in `word`] after each character
  let at = 0;
  for (const ch of word) {
    at += ch.length;
    folded += foldForSearch(ch);
    ends.push([folded.length, at]);
  }
  let best = 0;
  for (const term of terms) {
    if (!folded.startsWith(term)) continue;
    let i = ends.findIndex(([length]) => length >= term.length);
    // The marks after the last letter matched (folded to nothing) belong to it.
    while (i + 1 < ends.length && ends[i + 1][0] === ends[i][0]) i += 1;
    best = Math.max(best, ends[i][1]);
  }
  return best;
}

// A result's text as nodes, what matched in <mark>; a long text starts shortly before its
// first match, so that the match is in the lines shown. Never HTML: every piece is text.
function highlightedText(content, terms) {
  const line = content.replace(/\s+/g, ' ').trim();
  const hits = [];
  for (const m of line.matchAll(WORD_PATTERN)) {
    const length = matchedPrefix(m[0], terms);
    if (length) hits.push([m.index, m.index + length]);
  }
  let start = 0;
  if (hits.length && hits[0][0] > 60) {
    start = line.lastIndexOf(' ', hits[0][0] - 30) + 1;
    if (start <= 0) start = hits[0][0];
  }
  const nodes = start ? ['…'] : [];
  let last = start;
  for (const [from, to] of hits) {
    if (from < start) continue;
    nodes.push(line.slice(last, from), h('mark', {text: line.slice(from, to)}));
    last = to;
  }
  nodes.push(line.slice(last));
  return nodes.filter((n) => n !== '');
}

function searchResultItem(r, terms) {
  const conv = convForChatId(r.chat_id);
  const date = parseCreatedAt(r.created_at);
  return h('li', {class: 'search-result'},
    h('button', {type: 'button', class: 'search-open', 'data-id': r.id, 'data-chat': r.chat_id,
                 onclick: () => jumpToResult(r)},
      h('span', {class: 'search-meta'},
        h('span', {class: 'search-conv', dir: 'auto', text: conv ? convTitle(conv) : ''}),
        h('span', {class: 'search-author', dir: 'auto', text: authorName(r.user_id)}),
        date ? h('time', {datetime: date.toISOString(), title: i18n.fmt().full.format(date), text: shortTime(date)}) : null),
      h('span', {class: 'search-text', dir: 'auto'}, highlightedText(r.content, terms))));
}

function renderSearch() {
  const s = state.search;
  $('search-panel').hidden = !s;
  $('conv-lists').hidden = Boolean(s);
  $('search-clear').hidden = !s && $('search-input').value === '';
  if (!s) return;
  const status = $('search-status');
  const count = s.results.length;
  if (s.rid) setText(status, 'search.searching');
  else if (s.needWord) setText(status, 'search.needWord');
  else if (s.error && !count) setRawText(status, '');
  else if (!count) setText(status, 'search.none');
  else setText(status, s.more ? 'search.foundMore' : 'search.found', {count});
  const error = $('search-error');
  if (!s.error) setRawText(error, '');
  else if (typeof s.error === 'string') setText(error, s.error);
  else if (s.error.code === '4003') setText(error, 'search.invalid');
  else showGatewayError(error, s.error);
  $('search-results').replaceChildren(...s.results.map((r) => searchResultItem(r, s.terms)));
  const more = $('search-more');
  const hadFocus = document.activeElement === more;
  more.hidden = !s.more || s.offset + SEARCH_PAGE > SEARCH_MAX_OFFSET;
  more.disabled = Boolean(s.rid);
  // After "More results": on to the first new one (the button may have gone).
  if (s.focusFrom !== undefined && !s.rid) {
    const next = $('search-results').children[s.focusFrom] || $('search-results').lastElementChild;
    s.focusFrom = undefined;
    if (next && (hadFocus || more.hidden)) next.querySelector('button').focus();
  }
}

// `force` (Enter): asks again even for the query shown, unless its answer is on its way.
function startSearch(text, force = false) {
  clearTimeout(state.searchTimer);
  const query = text.trim();
  if (!query) return closeSearch();
  const s = state.search;
  if (s && s.query === query && (s.rid || !force)) return;
  const terms = searchTerms(query);
  state.search = {query, terms, results: [], more: false, offset: 0, rid: null, error: null,
                  needWord: terms.length === 0};
  // Nothing the server could look for: it is not asked.
  if (!terms.length) return renderSearch();
  askSearch(0);
}

function askSearch(offset) {
  const s = state.search;
  s.error = null;
  s.offset = offset;
  s.rid = (state.gateway && state.gateway.request('search', {query: s.query, offset})) || null;
  if (s.rid) state.searchRids.add(s.rid);
  else s.error = 'offline.tryLater';
  renderSearch();
}

function moreResults() {
  const s = state.search;
  if (!s || s.rid || !s.more) return;
  s.focusFrom = s.results.length;
  askSearch(s.offset + SEARCH_PAGE);
}

function onSearchResults(rid, p) {
  state.searchRids.delete(rid);
  const s = state.search;
  if (!s || !rid || rid !== s.rid || !p) return;
  s.rid = null;
  if (p.offset === 0) s.results = [];
  // A message sent meanwhile can move one from the page before into this one.
  const seen = new Set(s.results.map((r) => r.id));
  for (const r of p.results || []) if (!seen.has(r.id)) s.results.push(r);
  s.more = Boolean(p.more);
  renderSearch();
  announce($('search-status').textContent);
}

// An error answering a search; true when the error was a search's (one superseded by a newer
// search, or closed, is dropped: it must not be taken for another request's error).
function searchFailed(rid, p) {
  if (!state.searchRids.delete(rid)) return false;
  const s = state.search;
  if (!s || !s.rid || rid !== s.rid) return true;
  s.rid = null;
  s.error = p || {};
  renderSearch();
  return true;
}

// The connection went: the answers awaited will not come on it.
function searchLost() {
  state.searchRids.clear();
  const s = state.search;
  if (!s || !s.rid) return;
  s.rid = null;
  s.error = 'search.lost';
  renderSearch();
}

// Back to the conversation lists.
function closeSearch() {
  clearTimeout(state.searchTimer);
  state.search = null;
  $('search-input').value = '';
  renderSearch();
}

// Opens the result's conversation as a click in the list would; the loads that follow come
// back to continueJump until the message is on screen.
function jumpToResult(r) {
  const conv = convForChatId(r.chat_id);
  if (!conv) return;
  state.jump = {conv, id: r.id, pages: 0};
  const hash = `#${conv.kind}/${conv.id}`;
  if (location.hash !== hash) location.hash = hash;
  else continueJump();
}

function continueJump() {
  const jump = state.jump;
  // Another conversation's load may end before the hash change opens this one.
  if (!jump || jump.conv !== state.open) return;
  const conv = jump.conv;
  // A load in flight (or the catch-up once back online) comes back here when it is done;
  // not before, for the newest page's end scrolls to the bottom.
  if (state.load || !conv.loaded) return;
  if (conv.messages.has(jump.id) && conv.elements.has(jump.id)) {
    state.jump = null;
    return showHit(conv.elements.get(jump.id));
  }
  if (conv.failed || !conv.more || jump.pages >= JUMP_PAGES) {
    state.jump = null;
    setText($('conversation-error'), 'search.notShown');
    return;
  }
  loadOlder(conv);
  if (state.load) jump.pages += 1;
}

function showHit(el) {
  for (const other of document.querySelectorAll('.message.search-hit')) other.classList.remove('search-hit');
  el.classList.add('search-hit');
  el.scrollIntoView({block: 'center'});
  clearTimeout(state.hitTimer);
  state.hitTimer = setTimeout(() => el.classList.remove('search-hit'), HIT_MS);
}

function setupSearch() {
  const input = $('search-input');
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    startSearch(input.value, true);
  });
  input.addEventListener('input', () => {
    clearTimeout(state.searchTimer);
    if (input.value.trim() === '') return closeSearch();
    $('search-clear').hidden = false;
    state.searchTimer = setTimeout(() => startSearch(input.value), SEARCH_DELAY_MS);
  });
  const escape = (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented || (!state.search && input.value === '')) return;
    e.preventDefault();
    closeSearch();
    input.focus();
  };
  input.addEventListener('keydown', escape);
  $('search-panel').addEventListener('keydown', escape);
  $('search-clear').addEventListener('click', () => {
    closeSearch();
    input.focus();
  });
  $('search-more').addEventListener('click', moreResults);
}

// ---------------------------------------------------------------------------------------
// Navigation: the hash names the view, so reload and the back button work.

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  let m;
  if (hash === 'friends') return {view: 'friends'};
  if (hash === 'new-guild') return {view: 'new-guild'};
  if (hash === 'account') return {view: 'account'};
  if ((m = /^dm\/(\d+)$/.exec(hash))) return {view: 'dm', id: m[1]};
  if ((m = /^guild\/(\d+)$/.exec(hash))) return {view: 'guild', id: m[1]};
  return {view: 'welcome'};
}

function route() {
  // A reset link opened in a tab already showing the client.
  if (resetKeyInUrl()) return void showReset();
  if (!state.me) return;
  const r = parseRoute();
  const changed = r.view !== state.route.view || r.id !== state.route.id;
  state.route = r;
  const panes = {welcome: 'welcome-pane', friends: 'friends-pane', 'new-guild': 'new-guild-pane',
                 account: 'account-pane', dm: 'conversation-pane', guild: 'conversation-pane'};
  if (r.view === 'guild' && !state.guilds.has(r.id)) return void (location.hash = '');
  for (const pane of new Set(Object.values(panes))) $(pane).hidden = pane !== panes[r.view];
  $('app-view').dataset.pane = r.view === 'welcome' ? 'list' : 'main';
  const conv = r.view === 'dm' || r.view === 'guild' ? conversation(r.view, r.id) : null;
  if (conv !== state.open) openConversation(conv);
  renderLists();
  if (changed && r.view === 'account') {
    loadSessions();
    loadBlocked();
    renderNotifyToggle();
  }
  if (changed) {
    const focusTarget = {friends: 'friends-title', 'new-guild': 'guild-name',
                         account: 'account-title'}[r.view];
    if (focusTarget) $(focusTarget).focus();
  }
}

function openConversation(conv) {
  if (state.open) {
    for (const el of state.open.elements.values()) el.remove();
    state.open.elements.clear();
    for (const el of state.open.outboxElements.values()) el.remove();
    state.open.outboxElements.clear();
    for (const el of state.open.separators.values()) el.remove();
    state.open.separators.clear();
  }
  state.open = conv;
  if (state.jump && state.jump.conv !== conv) state.jump = null;
  showDraft(conv);
  $('message-list').replaceChildren();
  setRawText($('conversation-error'), '');
  setRawText($('conversation-notice'), '');
  setRawText($('member-error'), '');
  $('members-panel').hidden = true;
  $('members-toggle').setAttribute('aria-expanded', 'false');
  if (!conv) return;
  // The "new messages" line: before the first message after my mark, while this stays open.
  conv.divider = conv.unread > 0 ? (conv.lastRead || '0') : null;
  conv.dividerEl = null;
  conv.unread = 0;
  conv.failed = false;  // opening it is asking again
  const guild = conv.kind === 'guild' ? state.guilds.get(conv.id) : null;
  if (guild) guild.membersAsked = false;
  renderConversationChrome();
  renderMessages({stick: true});
  nextLoad();
  setHistoryStatus(conv);
  if (window.matchMedia('(min-width: 721px)').matches) $('composer-input').focus();
  else $('conversation-title').focus();
  continueJump();
}

// ---------------------------------------------------------------------------------------
// Wiring

function setupApp() {
  window.addEventListener('hashchange', route);
  $('logout').addEventListener('click', logOut);
  $('back').addEventListener('click', () => { location.hash = ''; });

  $('add-friend-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('friend-name').value.trim();
    if (!name) return;
    // The field is emptied when the server accepts the request, not before.
    const rid = friendOp('request', name);
    state.friendRequest = rid ? {rid, name} : null;
  });

  $('new-guild-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('guild-name').value.trim();
    setRawText($('guild-error'), '');
    if (!name) {
      setText($('guild-error'), 'error.4054');
      $('guild-name').focus();
      return;
    }
    if (!state.gateway.send('guild', {type: 'create', name})) {
      setText($('guild-error'), 'offline.tryLater');
      return;
    }
    state.pendingGuildName = name;
  });

  $('members-toggle').addEventListener('click', () => {
    const panel = $('members-panel');
    panel.hidden = !panel.hidden;
    $('members-toggle').setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) panel.querySelector('select, button')?.focus();
  });
  const closeMembers = () => {
    $('members-panel').hidden = true;
    $('members-toggle').setAttribute('aria-expanded', 'false');
    $('members-toggle').focus();
  };
  $('members-close').addEventListener('click', closeMembers);
  $('members-panel').addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !e.defaultPrevented) {
      e.preventDefault();
      closeMembers();
    }
  });

  // The first thing a Tab reaches: straight to the open conversation's message box, or, with
  // none open, to the list of conversations.
  $('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    const input = $('composer-input');
    const target = input.getClientRects().length > 0 ? input
      : [...document.querySelectorAll('#sidebar a, #main h2')].find((el) => el.getClientRects().length > 0);
    if (!target) return;
    if (target.tagName === 'H2') target.setAttribute('tabindex', target.getAttribute('tabindex') || '-1');
    target.focus();
  });

  $('add-member-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('add-member-select').value;
    setRawText($('member-error'), '');
    if (!name || !state.open) return;
    if (!state.gateway.send('guild', {type: 'add', guild_id: state.open.id, name}))
      setText($('member-error'), 'offline.tryLater');
  });

  $('rename-guild-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setRawText($('member-error'), '');
    const guild = state.open && state.guilds.get(state.open.id);
    if (!guild) return;
    // As the server counts: 1–64 characters (code points) after trimming, no control characters.
    const name = $('rename-guild-input').value.trim();
    const length = [...name].length;
    if (length < 1 || length > 64 || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
      setText($('member-error'), 'error.4054');
      $('rename-guild-input').focus();
      return;
    }
    if (name !== guild.name) guildOp({type: 'rename', guild_id: guild.id, name});
  });

  const remove = confirmButton('guild.delete', 'guild.deleteConfirm', () => {
    if (state.open && state.guilds.has(state.open.id)) guildOp({type: 'delete', guild_id: state.open.id});
  }, 'danger wide', {params: () => ({guild: state.open ? convTitle(state.open) : ''})});
  remove.id = 'delete-guild';
  remove.hidden = true;
  $('delete-guild').replaceWith(remove);

  const leave = confirmButton('guild.leave', 'guild.leaveConfirm', () => {
    if (state.open && state.open.kind === 'guild')
      state.gateway.send('guild', {type: 'leave', guild_id: state.open.id});
  }, 'danger wide');
  leave.id = 'leave-guild';
  $('leave-guild').replaceWith(leave);

  const input = $('composer-input');
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    sendMessage();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !composing(e)) {
      e.preventDefault();
      sendMessage();
    }
  });
  input.addEventListener('input', () => {
    autosize(input);
    updateCount();
    if (state.open) saveDraft(state.open, input.value);
    sendTyping();
  });

  $('messages').addEventListener('scroll', () => {
    if (state.open && $('messages').scrollTop < 120) loadOlder(state.open);
  }, {passive: true});
  $('load-older').addEventListener('click', () => state.open && loadOlder(state.open));
  $('retry-load').addEventListener('click', retryHistory);
  $('reconnect').addEventListener('click', () => state.gateway && state.gateway.start());
  window.addEventListener('online', revokePending);
  $('notify-toggle').addEventListener('change', onNotifyToggle);
  $('presence-toggle').addEventListener('change', onPresenceToggle);

  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !state.open) return;
    state.open.unread = 0;
    markRead(state.open);
    renderLists();
  });

  // Another tab logged in or out.
  window.addEventListener('storage', (e) => {
    if (e.key !== TOKEN_KEY) return;
    if (!e.newValue && state.token) signOut('notice.loggedOutElsewhere');
    else if (e.newValue && e.newValue !== state.token) startSession(e.newValue);
  });
}

// ---------------------------------------------------------------------------------------
// Language: the switchers on the log-in screen and in the header. A change re-translates
// what is on screen (the elements that hold catalog keys) and renders the rest again; the
// session, the open conversation and what is typed stay.

function applyLanguage() {
  i18n.translate();
  for (const id of ['auth-lang', 'app-lang']) $(id).value = i18n.language();
  if (!state.me) return;
  renderLists();
  renderSearch();
  if (state.open) {
    renderConversationChrome();
    renderMessages();
    setHistoryStatus(state.open);
  }
}

// A form's field submits it on Enter; not on the Enter that commits a composition (see
// composing()), which some browsers deliver after the composition ended.
function setupComposition() {
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && composing(e) && e.target instanceof HTMLInputElement && e.target.form)
      e.preventDefault();
  }, true);
}

function setupLanguage() {
  for (const id of ['auth-lang', 'app-lang']) {
    $(id).addEventListener('change', (e) => {
      if (i18n.setLanguage(e.target.value)) applyLanguage();
    });
  }
  // Chosen in another tab: this one follows.
  window.addEventListener('storage', (e) => {
    if (e.key === i18n.LANG_STORAGE_KEY && i18n.setLanguage(e.newValue, {save: false})) applyLanguage();
  });
  applyLanguage();
}

async function main() {
  setupLanguage();
  setupComposition();
  setupAuthForms();
  setupPasswordForms();
  setupApp();
  setupSearch();
  const info = await api.about();
  state.mail = info.mail;
  serverOffsetMs = parseOffset(info.utc_offset);
  revokePending();
  const token = localStorage.getItem(TOKEN_KEY);
  if (resetKeyInUrl()) showReset();
  else if (token) startSession(token);
  else showAuth();
}

main();
