// What the browser tests run against, all real and all on loopback: the rewind-server
// binary with a fresh data directory, the end-to-end tests' SMTP server (tests/e2e/
// smtp_sink.py, implicit TLS with a throwaway CA) receiving the verification mail, and
// Debian's chromium driven by puppeteer-core. Nothing is downloaded.

import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import puppeteer from 'puppeteer-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..', '..');
export const BUILD_DIR = process.env.REWIND_BUILD_DIR || path.join(ROOT, 'build');
export const SERVER_BIN = path.join(BUILD_DIR, 'rewind-server');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SMTP_USER = 'rewind@example.test';
const SMTP_PASSWORD = 'smtp-test-password';
export const PASSWORD = 'password123';

// Fast hashing and no rate limits, as in the end-to-end tests (tests/e2e/conftest.py).
const FAST_ARGS = ['--password-hash-ops', '1', '--password-hash-mem-kib', '1024',
                   '--rate-limit-exempt', '127.0.0.1', '--ws-rate-count', '100000',
                   '--chat-rate-count', '100000', '--friend-rate-count', '100000',
                   '--login-account-rate-count', '100000'];

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// A throwaway CA and a certificate for 127.0.0.1 signed by it, for the SMTP server's TLS.
export function makeTestCa(dir) {
  const run = (...args) => execFileSync('openssl', args, {cwd: dir, stdio: 'pipe'});
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=REWIND test CA',
      '-keyout', 'ca.key', '-out', 'ca.pem');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key',
      '-out', 'server.csr');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-days', '2', '-extfile', 'ext.cnf', '-out', 'server.pem');
  return {ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'),
          key: path.join(dir, 'server.key')};
}

function waitForLine(stream, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`${what} did not start: ${seen}`)), timeoutMs);
    const onData = (chunk) => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) done(null, m);
    };
    const done = (err, m) => {
      clearTimeout(timer);
      stream.off('data', onData);
      err ? reject(err) : resolve(m);
    };
    stream.on('data', onData);
  });
}

export class SmtpSink {
  async start(ca, dir) {
    this.port = await freePort();
    this.dir = path.join(dir, 'mail');
    this.proc = spawn('/usr/bin/python3', [
      path.join(ROOT, 'tests', 'e2e', 'smtp_sink.py'), '--port', String(this.port), '--dir',
      this.dir, '--cert', ca.cert, '--key', ca.key, '--tls', 'implicit', '--user', SMTP_USER,
      '--password', SMTP_PASSWORD], {stdio: ['pipe', 'pipe', 'inherit']});
    await waitForLine(this.proc.stdout, /ready/, 15000, 'smtp_sink');
    return this;
  }

  // The newest verification mail to `address` (its text, headers included) and its link,
  // waiting for it to arrive.
  async mailFor(address, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const files = fs.existsSync(this.dir) ? fs.readdirSync(this.dir).filter((f) => f.endsWith('.eml')).sort() : [];
      for (const f of files.reverse()) {
        const text = fs.readFileSync(path.join(this.dir, f), 'utf8');
        if (!new RegExp(`^To:.*${address.replace(/[.+]/g, '\\$&')}`, 'mi').test(text)) continue;
        const m = /https?:\/\/\S+\/api\/v1\/auth\/email_verify\/[A-Za-z0-9_-]+/.exec(text);
        if (m) return {text, link: m[0]};
      }
      if (Date.now() > deadline) throw new Error(`no mail to ${address}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // The verification link of the newest mail to `address`, waiting for it to arrive.
  async linkFor(address, timeoutMs = 15000) {
    return (await this.mailFor(address, timeoutMs)).link;
  }

  stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.stdin.end();
      setTimeout(() => this.proc.exitCode === null && this.proc.kill(), 3000).unref();
    }
  }
}

export class Server {
  constructor({dataDir, smtp, ca}) {
    this.dataDir = dataDir;
    this.smtp = smtp;
    this.ca = ca;
    this.port = 0;
  }

  async start() {
    const args = ['--data-dir', this.dataDir, '--port', String(this.port), ...FAST_ARGS,
                  '--smtp-host', '127.0.0.1', '--smtp-port', String(this.smtp.port),
                  '--smtp-tls', 'implicit', '--smtp-ca-file', this.ca.ca,
                  '--mail-address', SMTP_USER, '--mail-password', SMTP_PASSWORD];
    this.proc = spawn(SERVER_BIN, args, {stdio: ['ignore', 'pipe', 'pipe']});
    this.log = fs.createWriteStream(path.join(this.dataDir, '..', 'server.log'), {flags: 'a'});
    this.proc.stdout.pipe(this.log);
    this.proc.stderr.pipe(this.log);
    const exited = new Promise((_, reject) => this.proc.once('exit', (code) =>
      reject(new Error(`rewind-server exited with ${code}; see ${this.dataDir}/../server.log`))));
    const m = await Promise.race([
      waitForLine(this.proc.stderr, /listening on http:\/\/[^:]+:(\d+)/, 20000, 'rewind-server'),
      exited]);
    exited.catch(() => {});
    this.port = Number(m[1]);  // kept: a restart listens on the same port
    return this;
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  stop() {
    return new Promise((resolve) => {
      if (!this.proc || this.proc.exitCode !== null) return resolve();
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.proc.kill('SIGTERM');
    });
  }
}

// A TCP relay in front of the server: a browser that goes through it can be cut off (its
// connections dropped, new ones refused) and let back in, while others stay connected; or
// stalled: every connection stays open but nothing more goes through either way (what is
// sent meanwhile is lost), as a frozen server or a dead network path that no one closes.
export class Relay {
  async start(targetPort) {
    this.targetPort = targetPort;
    this.sockets = new Set();
    this.port = await freePort();
    await this.listen();
    return this;
  }

  listen() {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      // Not pipe(): a stalled relay drops what arrives instead of holding it back.
      client.on('data', (chunk) => { if (this.stalled !== 'both') upstream.write(chunk); });
      upstream.on('data', (chunk) => { if (!this.stalled) client.write(chunk); });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    return new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  // Drops every connection and refuses new ones, as a network that went away.
  async cut() {
    const closed = new Promise((resolve) => this.server.close(() => resolve()));
    this.destroyAll();
    await closed;
  }

  // Stops forwarding without closing anything: 'both' ways, or only 'down' (from the
  // server to the browser: what the browser sends still arrives, no answer comes back).
  stall(direction = 'both') {
    this.stalled = direction;
  }

  resume() {
    this.stalled = null;
  }

  destroyAll() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async restore() {
    await this.listen();
  }

  async stop() {
    this.destroyAll();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// `lang`: the browser's language (navigator.languages and Accept-Language).
export function launchBrowser({lang = 'en-US'} = {}) {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI), chromium's sandbox cannot start; the pages are our own.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--metrics-recording-only', `--lang=${lang}`,
           // What navigator.languages and Accept-Language say (headless ignores --lang).
           `--accept-lang=${lang},${lang.split('-')[0]}`],
  });
}

// Error answers a test provokes on purpose, declared beforehand: page -> [{method, path, status}].
const expectedFailures = new Map();

// Lets one response `status` to `method path` (a path of the server, e.g. /api/v1/auth/login)
// through watchPage: the test is about to provoke it.
export function expectFailedResponse(page, method, path, status) {
  if (!expectedFailures.has(page)) expectedFailures.set(page, []);
  expectedFailures.get(page).push({method, path, status});
}

// The declared error answers that never came.
export function unmetExpectations() {
  return [...expectedFailures.values()].flat().map((e) => `expected ${e.status} ${e.method} ${e.path}: not seen`);
}

// Everything a page did that a test should fail on: uncaught exceptions, console errors
// (apart from the connection failures that going offline causes), error answers (status 400
// and up) from the server that the test did not declare with expectFailedResponse, and
// requests to any origin but the server's.
export function watchPage(page, allowedOrigins) {
  page.setDefaultTimeout(10000);
  const allowed = new Set(allowedOrigins.map((o) => new URL(o).origin));
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Error answers are judged by the response handler below, which knows which are expected.
    // A request cut by a deliberate outage (the relay dropped, the server restarted) ends in
    // one of the network errors; they are the point of those tests, not a fault.
    if (/WebSocket connection .* failed|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_CONNECTION_CLOSED|ERR_EMPTY_RESPONSE|^Failed to load resource: the server responded with a status of \d+/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:')) return;
    if (!allowed.has(new URL(url).origin)) problems.push(`third-party request: ${url}`);
  });
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (!allowed.has(url.origin) || res.status() < 400) return;
    const method = res.request().method();
    const list = expectedFailures.get(page) || [];
    const i = list.findIndex((e) => e.method === method && e.path === url.pathname && e.status === res.status());
    if (i >= 0) list.splice(i, 1);
    else problems.push(`error answer: ${res.status()} to ${method} ${url.pathname}`);
  });
  return problems;
}

// Puts a tap on every WebSocket the page opens (before its own scripts run), for tests that
// need the server's answers to go wrong in a precise way. window.__tap holds:
//   sockets: every WebSocket opened, in order;
//   onSend(frame, ws): called with each frame the page sends; returning false drops it;
//   onReceive(frame, ws): called with each frame received; returning false hides it;
//   inject(ws, frame): delivers `frame` to the page as if the server had sent it.
// With no onSend or onReceive set, the tap changes nothing.
export async function installSocketTap(page) {
  await page.evaluateOnNewDocument(() => {
    const Native = window.WebSocket;
    const tap = {sockets: [], onSend: null, onReceive: null};
    tap.inject = (ws, frame) => ws.dispatchEvent(new MessageEvent('message', {data: JSON.stringify(frame)}));
    class TappedWebSocket extends Native {
      constructor(...args) {
        super(...args);
        tap.sockets.push(this);
      }

      send(data) {
        if (tap.onSend && tap.onSend(JSON.parse(data), this) === false) return;
        super.send(data);
      }

      get onmessage() {
        return super.onmessage;
      }

      set onmessage(handler) {
        super.onmessage = handler && ((event) => {
          if (tap.onReceive && tap.onReceive(JSON.parse(event.data), this) === false) return;
          handler.call(this, event);
        });
      }
    }
    window.WebSocket = TappedWebSocket;
    window.__tap = tap;
  });
}

// ---------------------------------------------------------------------------------------
// Page helpers
//
// They wait by watching the DOM for changes ('mutation' polling) rather than on animation
// frames, which a background tab (one of two in a browser context) never gets.

export async function waitForText(page, selector, text, timeout = 10000) {
  await page.waitForFunction((sel, t) =>
    [...document.querySelectorAll(sel)].some((e) => e.getClientRects().length > 0 && e.textContent.includes(t)),
  {timeout, polling: 'mutation'}, selector, text).catch((e) => {
    throw new Error(`"${text}" did not appear in ${selector}: ${e.message}`);
  });
}

export async function waitForNoText(page, selector, text, timeout = 10000) {
  await page.waitForFunction((sel, t) =>
    ![...document.querySelectorAll(sel)].some((e) => e.textContent.includes(t)),
  {timeout, polling: 'mutation'}, selector, text);
}

// Waits until `selector` matches a rendered element. (waitForSelector with `visible` or
// `hidden` waits on animation frames.)
export async function waitForVisible(page, selector, timeout = 10000) {
  await page.waitForFunction((sel) => {
    const e = document.querySelector(sel);
    return e !== null && e.getClientRects().length > 0;
  }, {timeout, polling: 'mutation'}, selector).catch((e) => {
    throw new Error(`${selector} did not show: ${e.message}`);
  });
}

// Waits until `selector` matches no rendered element.
export async function waitForHidden(page, selector, timeout = 10000) {
  await page.waitForFunction((sel) => {
    const e = document.querySelector(sel);
    return e === null || e.getClientRects().length === 0;
  }, {timeout, polling: 'mutation'}, selector).catch((e) => {
    throw new Error(`${selector} did not go: ${e.message}`);
  });
}

// Whether the element is rendered; an error when nothing matches `selector`, so that a
// renamed element cannot pass for a hidden one.
export async function visible(page, selector) {
  const element = await page.$(selector);
  if (!element) throw new Error(`nothing matches ${selector}`);
  return element.evaluate((e) => e.getClientRects().length > 0);
}

// Clicks the first element matching `selector` whose text contains `text`. A list the client
// renders again (a reconnect's fresh guild or friend list) can replace the element between
// finding and clicking it: then it is found again, a few times at most.
export async function clickText(page, selector, text) {
  for (let attempt = 1; ; attempt++) {
    const handle = await page.waitForFunction((sel, t) =>
      [...document.querySelectorAll(sel)].find((e) => e.getClientRects().length > 0 && e.textContent.includes(t)),
    {timeout: 10000, polling: 'mutation'}, selector, text);
    try {
      await handle.asElement().click();
      return;
    } catch (e) {
      if (attempt >= 5 || !/detached|not clickable/.test(e.message)) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function fill(page, selector, value) {
  await waitForVisible(page, selector);
  await page.$eval(selector, (e) => { e.value = ''; });
  await page.type(selector, value);
}

// Signs `name` up through the web client, opens the mail's link, follows its link back to
// the client and logs in there. `base` is where this browser reaches the client.
export async function signUpAndLogIn(page, base, smtp, name) {
  const email = `${name}@example.test`;
  await page.goto(base + '/');
  await waitForVisible(page, '#login-form');
  await page.click('#show-signup');
  await fill(page, '#signup-name', name);
  await fill(page, '#signup-email', email);
  await fill(page, '#signup-password', PASSWORD);
  await page.click('#signup-form button[type=submit]');
  await waitForText(page, '#signup-done', 'Check your mail');
  await waitForText(page, '#signup-done-text', email);
  const link = await smtp.linkFor(email);
  await page.goto(link);
  await waitForText(page, 'h1', `Welcome, ${name}`);
  if (new URL(link).origin === base) {
    // The page's own way back to the client.
    await Promise.all([page.waitForNavigation(), page.click('a[href="/"]')]);
  } else {
    await page.goto(base + '/');
  }
  await waitForVisible(page, '#login-form');
  await fill(page, '#login-email', email);
  await fill(page, '#login-password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await waitForText(page, '#me', name);
  await waitForText(page, '#connection', 'online');
  return email;
}
