// The details of the web client that issue 19 lists as minor, each as it behaves now: a
// failed friend request keeps the name typed; names and messages in right-to-left scripts
// are laid out by their own direction; web addresses are safe links; a grouped message
// shows its time on hover and days are separated; each Delete button names its message; an
// edit emptied and saved asks as Delete asks; error lines do not go stale; a friendship
// ended in another tab leaves the conversation readable, named, and says why nothing can be
// sent; lengths are counted in characters, as the server counts, and a long message is never
// cut; a blank guild name is refused with a reason; the focus never falls to <body> (after
// a log-in, on "Load older messages") and an edit's Save is in view; the server's own pages (/login, /register, the verification page) carry the
// client's security headers.
//
// One scenario, in order: each step starts from where the previous one left off. alice
// reaches the server through a relay the test can cut; bob directly.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Relay, Server, SmtpSink, clickText, expectFailedResponse, fill, installSocketTap, launchBrowser,
  makeTestCa, signUpAndLogIn, tempDir, waitForHidden, waitForNoText, waitForText, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-details-');
let smtp, server, relay, browser, alice, bob, aliceCtx;
let aliceId, bobId;
const problems = [];

async function messageTexts(page) {
  return page.$$eval('#message-list .message:not(.outbox) .message-text', (els) => els.map((e) => e.textContent));
}

// A message the server confirmed: the sender's own one is shown at once as unsent (.outbox),
// without its final layout, until its echo arrives.
async function waitForMessage(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#message-list .message:not(.outbox) .message-text')]
    .some((e) => e.textContent === t), {polling: 'mutation'}, text).catch((e) => {
    throw new Error(`no message "${text}": ${e.message}`);
  });
}

async function typeAndSend(page, text) {
  await page.waitForFunction(() => !document.querySelector('#send-button').disabled, {polling: 'mutation'});
  await page.focus('#composer-input');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

async function openDm(page, name) {
  await clickText(page, '#dm-list .conv-name', name);
  await waitForText(page, '#conversation-title', name);
  await page.waitForFunction(() => document.querySelector('#messages').getAttribute('aria-busy') === 'false', {polling: 'mutation'});
}

// created_at as the server writes it (its --utc-offset, +09:00 by default) for `date`.
function serverTime(date) {
  const local = new Date(date.getTime() + 9 * 3600 * 1000).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 19)}.000000`;
}

describe('details of the web client', () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    relay = await new Relay().start(server.port);
    browser = await launchBrowser();
    aliceCtx = await browser.createBrowserContext();
    alice = await aliceCtx.newPage();
    bob = await (await browser.createBrowserContext()).newPage();
    await installSocketTap(alice);
    problems.push(watchPage(alice, [relay.base, server.base]), watchPage(bob, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (relay) await relay.stop();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('keeps the name typed when a friend request fails, and clears it when it is sent', async () => {
    await signUpAndLogIn(alice, relay.base, smtp, 'alice');
    await signUpAndLogIn(bob, server.base, smtp, 'bob');
    // The log-in form went away with the focus: it is put in the application, not on <body>.
    assert.equal(await bob.evaluate(() => document.activeElement.id), 'welcome-title');
    await alice.click('#friends-link');
    await fill(alice, '#friend-name', 'nobody-at-all');
    await alice.click('#add-friend-form button[type=submit]');
    await waitForText(alice, '#friend-error', 'No user has that name.');
    assert.equal(await alice.$eval('#friend-name', (e) => e.value), 'nobody-at-all');
    await fill(alice, '#friend-name', 'bob');
    await alice.click('#add-friend-form button[type=submit]');
    await waitForText(alice, '#outgoing-list', 'bob');
    await alice.waitForFunction(() => document.querySelector('#friend-name').value === '', {polling: 'mutation'});
    await bob.click('#friends-link');
    await clickText(bob, '#incoming-list button', 'Accept');
    await waitForText(alice, '#dm-list', 'bob');
    await openDm(alice, 'bob');
    await openDm(bob, 'alice');
    bobId = await alice.evaluate(() => location.hash.split('/')[1]);
    aliceId = await bob.evaluate(() => location.hash.split('/')[1]);
  });

  it('lays out right-to-left text by its direction and makes only http(s) addresses links', async () => {
    const text = 'مرحبا بك https://example.com/path?x=1. and javascript:alert(1) <b>bold</b>';
    await typeAndSend(bob, text);
    await waitForMessage(alice, text);
    const seen = await alice.evaluate(() => {
      const msg = [...document.querySelectorAll('#message-list .message')].at(-1);
      const body = msg.querySelector('.message-text');
      return {
        textDir: body.getAttribute('dir'),
        authorDir: msg.querySelector('.author').getAttribute('dir'),
        nameDir: document.querySelector('#dm-list .conv-name').getAttribute('dir'),
        titleDir: document.querySelector('#conversation-title').getAttribute('dir'),
        links: [...body.querySelectorAll('a')].map((a) => ({href: a.getAttribute('href'), text: a.textContent,
                                                          target: a.target, rel: a.rel})),
        bold: body.querySelectorAll('b').length,
      };
    });
    assert.deepEqual([seen.textDir, seen.authorDir, seen.nameDir, seen.titleDir], ['auto', 'auto', 'auto', 'auto']);
    assert.deepEqual(seen.links, [{href: 'https://example.com/path?x=1', text: 'https://example.com/path?x=1',
                                   target: '_blank', rel: 'noopener noreferrer'}]);
    assert.equal(seen.bold, 0);
  });

  it('shows a grouped message\'s time on hover and a line between days', async () => {
    await typeAndSend(alice, 'first of two');
    await waitForMessage(alice, 'first of two');
    await typeAndSend(alice, 'second of two');
    await waitForMessage(alice, 'second of two');
    const title = await alice.evaluate(() => {
      const msg = [...document.querySelectorAll('#message-list .message:not(.outbox)')].find((m) => m.textContent.includes('second of two'));
      return msg.classList.contains('grouped') ? msg.querySelector('.message-body').title : null;
    });
    assert.ok(title && /\d/.test(title), `grouped message title: ${title}`);
    assert.equal(await alice.$$eval('#message-list .date-separator', (els) => els.length), 1);
    // A message of yesterday (as the server would send it in history) gets a line of its own.
    const yesterday = serverTime(new Date(Date.now() - 30 * 3600 * 1000));
    const chatId = (BigInt(aliceId) ^ BigInt(bobId)).toString();
    await alice.evaluate((frame) => window.__tap.inject(window.__tap.sockets.at(-1), frame), {
      type: 'chat', payload: {type: 'send', id: '1', user_id: bobId, chat_id: chatId, content: 'from yesterday',
                              created_at: yesterday, edited_at: null}});
    await waitForMessage(alice, 'from yesterday');
    const order = await alice.$$eval('#message-list > li', (els) => els.map((e) =>
      e.classList.contains('date-separator') ? 'day' : e.querySelector('.message-text').textContent));
    assert.deepEqual(order.slice(0, 3), ['day', 'from yesterday', 'day']);
  });

  it('names each Delete button after its message', async () => {
    const labels = await alice.$$eval('#message-list .message.mine .message-actions button',
      (els) => els.map((e) => e.getAttribute('aria-label')));
    assert.ok(labels.includes('Delete your message: first of two'), labels.join(' | '));
    assert.ok(labels.includes('Edit your message: second of two'), labels.join(' | '));
    assert.equal(new Set(labels).size, labels.length);
  });

  it('asks before an edit emptied and saved deletes the message, as Delete asks', async () => {
    await alice.evaluate(() => {
      const msg = [...document.querySelectorAll('#message-list .message:not(.outbox)')].find((m) => m.textContent.includes('second of two'));
      msg.querySelector('.message-actions .edit').click();
    });
    await alice.waitForSelector('.edit-input');
    await alice.$eval('.edit-input', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
    await alice.focus('.edit-input');
    await alice.keyboard.press('Enter');
    await waitForText(alice, '.edit-form button[type=submit]', 'Delete?');
    assert.ok((await messageTexts(bob)).includes('second of two'));
    await alice.keyboard.press('Enter');
    await waitForNoText(bob, '#message-list', 'second of two');
    await waitForNoText(alice, '#message-list', 'second of two');
  });

  it('lets a rate-limit line expire and removes the offline line once back online', async () => {
    await alice.evaluate(() => window.__tap.inject(window.__tap.sockets.at(-1), {
      type: 'error', payload: {code: '4029', reason: 'too many messages.', retry_after: 1}}));
    await waitForText(alice, '#conversation-error', 'Slow down');
    await alice.waitForFunction(() => document.querySelector('#conversation-error').textContent === '',
      {timeout: 4000, polling: 'mutation'});
    await relay.cut();
    await waitForText(alice, '#connection', 'offline');
    await alice.focus('#composer-input');
    await alice.keyboard.type('while away');
    await alice.keyboard.press('Enter');
    await waitForText(alice, '#conversation-error', 'offline');
    await relay.restore();
    await waitForText(alice, '#connection', 'online', 30000);
    await alice.waitForFunction(() => document.querySelector('#conversation-error').textContent === '',
      {polling: 'mutation'});
    assert.equal(await alice.$eval('#composer-input', (e) => e.value), 'while away');
    await alice.$eval('#composer-input', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
  });

  it('counts characters as the server does and never cuts a long message; says when a guild name is blank', async () => {
    // 1,500 emoji are 3,000 UTF-16 units and 1,500 characters: within the server's 2,000.
    const emoji = '\u{1F600}'.repeat(1500);
    await alice.focus('#composer-input');
    await alice.$eval('#composer-input', (e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }, emoji);
    assert.equal(await alice.$eval('#composer-count', (e) => e.textContent), '1500/2000');
    await alice.keyboard.press('Enter');
    await waitForMessage(bob, emoji);
    // Over the limit: nothing is cut, the counter says by how much, and nothing is sent.
    const long = 'x'.repeat(2001);
    await alice.$eval('#composer-input', (e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }, long);
    assert.deepEqual(await alice.$eval('#composer-count', (e) => [e.textContent, e.classList.contains('over')]),
                     ['2001/2000', true]);
    await alice.keyboard.press('Enter');
    await waitForText(alice, '#conversation-error', 'at most 2000 characters');
    assert.equal(await alice.$eval('#composer-input', (e) => e.value), long);
    await alice.$eval('#composer-input', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
    await alice.evaluate(() => { location.hash = '#new-guild'; });
    await fill(alice, '#guild-name', '   ');
    await alice.click('#new-guild-form button[type=submit]');
    await waitForText(alice, '#guild-error', 'A guild name is 1–64 characters.');
    await alice.evaluate((id) => { location.hash = `#dm/${id}`; }, bobId);
    await waitForText(alice, '#conversation-title', 'bob');
  });

  it('keeps the focus in the page: after logging in, on "Load older messages", and on an edit of the newest message', async () => {
    // 60 messages from another device of alice's: bob's reload shows 50 and offers the rest.
    await alice.evaluate(async (friendId) => {
      const ws = new WebSocket(`ws://${location.host}/ws?v=2`);
      const frames = [];
      let wake = () => {};
      ws.onmessage = (e) => { frames.push(JSON.parse(e.data)); wake(); };
      const until = (ok) => new Promise((resolve) => { wake = () => ok() && resolve(); wake(); });
      await new Promise((resolve) => { ws.onopen = resolve; });
      ws.send(JSON.stringify({type: 'heartbeat', payload: {count: 0}}));
      await until(() => frames.some((f) => f.type === 'heartbeat'));
      ws.send(JSON.stringify({type: 'auth', payload: {auth: localStorage.getItem('rewind.token')}}));
      await until(() => frames.some((f) => f.type === 'auth'));
      const me = frames.find((f) => f.type === 'auth').payload.self_user.id;
      const chatId = (BigInt(me) ^ BigInt(friendId)).toString();
      for (let i = 1; i <= 60; i++) ws.send(JSON.stringify({type: 'chat', payload: {type: 'send', chat_id: chatId, content: `filler ${i}`}}));
      await until(() => frames.filter((f) => f.type === 'chat').length >= 60);
      ws.close();
    }, bobId);
    await waitForMessage(bob, 'filler 60');
    await bob.reload();
    await waitForText(bob, '#connection', 'online');
    await waitForMessage(bob, 'filler 60');
    await bob.waitForFunction(() => !document.querySelector('#load-older').hidden, {polling: 'mutation'});
    await bob.focus('#load-older');
    await bob.waitForFunction(() => document.querySelector('#load-older').hidden, {polling: 'mutation'});
    assert.equal(await bob.evaluate(() => document.activeElement.id), 'messages');
    // Editing the newest message: its Save button is in view.
    await alice.evaluate(() => {
      const mine = [...document.querySelectorAll('#message-list .message.mine')].at(-1);
      mine.querySelector('.message-actions .edit').click();
    });
    await alice.waitForSelector('.edit-form');
    const inView = await alice.evaluate(() => {
      const box = document.querySelector('#messages').getBoundingClientRect();
      const save = document.querySelector('.edit-form button[type=submit]').getBoundingClientRect();
      return save.top >= box.top && save.bottom <= box.bottom;
    });
    assert.ok(inView, 'Save is in view');
    await alice.keyboard.press('Escape');
  });

  it('keeps an unfriended conversation named and readable, and says why nothing can be sent', async () => {
    await typeAndSend(bob, 'bye for now');
    await waitForMessage(alice, 'bye for now');
    const tab2 = await aliceCtx.newPage();
    problems.push(watchPage(tab2, [relay.base, server.base]));
    await tab2.goto(relay.base + '/#friends');
    await waitForText(tab2, '#friend-list', 'bob');
    await clickText(tab2, '#friend-list button', 'Remove');
    await clickText(tab2, '#friend-list button', '?');
    await waitForNoText(tab2, '#friend-list', 'bob');
    await tab2.close();
    await alice.bringToFront();
    await waitForText(alice, '#conversation-notice', 'no longer friends with bob');
    await waitForHidden(alice, '#composer');
    assert.equal(await alice.$eval('#conversation-title', (e) => e.textContent), 'bob');
    await waitForText(alice, '#dm-list', 'bob');
    await alice.reload();
    await waitForText(alice, '#connection', 'online');
    await waitForText(alice, '#conversation-title', 'bob');
    await waitForMessage(alice, 'bye for now');
    const authors = await alice.$$eval('#message-list .message:not(.grouped) .author', (els) => els.map((e) => e.textContent));
    assert.ok(authors.includes('bob') && !authors.includes('former member'), authors.join(', '));
    await waitForText(alice, '#conversation-notice', 'no longer friends with bob');
    await waitForHidden(alice, '#composer');
  });

  it('serves /login, /register and the verification page with the security headers, and they work under them', async () => {
    for (const where of ['/login', '/register', '/api/v1/auth/email_verify/not-a-key']) {
      const r = await fetch(server.base + where, {headers: {Accept: 'text/html'}});
      const csp = r.headers.get('content-security-policy') || '';
      assert.match(csp, /frame-ancestors 'none'/, where);
      assert.match(csp, /default-src 'none'/, where);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', where);
      assert.equal(r.headers.get('x-frame-options'), 'DENY', where);
    }
    const page = await browser.newPage();
    problems.push(watchPage(page, [server.base]));
    await page.goto(server.base + '/login');
    // The page's own style and script run under its policy: a refused login is shown.
    assert.equal(await page.$eval('body', (b) => getComputedStyle(b).maxWidth), '448px');
    expectFailedResponse(page, 'POST', '/api/v1/auth/login', 401);
    await page.type('#email', 'nobody@example.test');
    await page.type('#password', 'wrong-password');
    await page.click('button[type=submit]');
    await waitForText(page, '#out', '401');
    // It cannot be framed.
    const framer = await browser.newPage();
    await framer.goto(server.base + '/healthz');
    const framed = await framer.evaluate((url) => new Promise((resolve) => {
      const f = document.createElement('iframe');
      f.src = url;
      f.onload = () => {
        let readable;
        try {
          // A refused frame holds the browser's error page, of another origin: no document.
          readable = Boolean(f.contentDocument && f.contentDocument.querySelector('form'));
        } catch {
          readable = false;
        }
        resolve(readable);
      };
      document.body.append(f);
    }), server.base + '/login');
    assert.equal(framed, false);
    await framer.close();
    await page.close();
  });

  it('reports no page errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
