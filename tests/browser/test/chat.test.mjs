// The web client in a real browser against the real server: two people sign up through
// the mail link, become friends, chat, edit, delete, reload, page back through history,
// use a guild, lose the connection and get it back, on a desktop and a phone-sized screen;
// then the ways recovering can go wrong: history missed in a conversation that was not open,
// load errors, logging out offline, logging in from two tabs, too many connections.
//
// One scenario, in order: each step starts from where the previous one left off.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  PASSWORD, Relay, Server, SmtpSink, clickText, expectFailedResponse, fill, installSocketTap,
  launchBrowser, makeTestCa, signUpAndLogIn, tempDir, unmetExpectations, visible, waitForHidden,
  waitForNoText, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-');
let smtp, server, relay, browser, alice, bob, aliceCtx, bobCtx;
const problems = [];
let bobId;

// Sends `count` messages to the DM with `friendId` over a second gateway connection of the
// page's own user, as another device of theirs would, and waits until all are committed.
async function sendFromAnotherDevice(page, friendId, count, prefix) {
  await page.evaluate(async (friendId, count, prefix) => {
    const ws = new WebSocket(`ws://${location.host}/ws?v=2`);
    const frames = [];
    let wake = () => {};
    ws.onmessage = (e) => { frames.push(JSON.parse(e.data)); wake(); };
    const until = (ok) => new Promise((resolve) => {
      wake = () => ok() && resolve();
      wake();
    });
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    const send = (type, payload) => ws.send(JSON.stringify({type, payload}));
    send('heartbeat', {count: 0});
    await until(() => frames.some((f) => f.type === 'heartbeat'));
    send('auth', {auth: localStorage.getItem('rewind.token')});
    await until(() => frames.some((f) => f.type === 'auth'));
    const me = frames.find((f) => f.type === 'auth').payload.self_user.id;
    const chatId = (BigInt(me) ^ BigInt(friendId)).toString();
    for (let i = 1; i <= count; i++) send('chat', {type: 'send', chat_id: chatId, content: `${prefix} ${i}`});
    await until(() => frames.filter((f) => f.type === 'chat').length >= count);
    ws.close();
  }, friendId, count, prefix);
}

async function messageTexts(page) {
  return page.$$eval('#message-list .message-text', (els) => els.map((e) => e.textContent));
}

// Waits for a message whose whole text is `text` ("gap 1" is not "gap 10").
async function waitForMessage(page, text) {
  // Confirmed by the server: not the sender's unsent copy (.outbox) shown meanwhile.
  await page.waitForFunction((t) => [...document.querySelectorAll('#message-list .message:not(.outbox) .message-text')]
    .some((e) => e.textContent === t), {polling: 'mutation'}, text).catch((e) => {
    throw new Error(`no message "${text}": ${e.message}`);
  });
}

async function waitForHistoryIdle(page) {
  await page.waitForFunction(() => document.querySelector('#messages').getAttribute('aria-busy') === 'false', {polling: 'mutation'});
}

// Scrolls the open conversation to its top until `text` is loaded (or the beginning is).
async function scrollBackTo(page, text) {
  for (let i = 0; i < 10 && !(await messageTexts(page)).includes(text); i++) {
    if (await page.$eval('#history-status', (e) => e.textContent.includes('beginning'))) break;
    await page.$eval('#messages', (e) => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); });
    await waitForHistoryIdle(page);
  }
}

function numbered(prefix, from, to) {
  return Array.from({length: to - from + 1}, (_, i) => `${prefix} ${from + i}`);
}

// Whether the gateway accepts `token`, asked over a connection of its own from `page`.
async function tokenWorks(page, token) {
  return page.evaluate((token) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws?v=2`);
    ws.onopen = () => ws.send(JSON.stringify({type: 'heartbeat', payload: {count: 0}}));
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.type === 'heartbeat') return ws.send(JSON.stringify({type: 'auth', payload: {auth: token}}));
      if (f.type !== 'auth' && !(f.type === 'error' && f.payload.code === '4000')) return;
      ws.close();
      resolve(f.type === 'auth');
    };
    ws.onerror = () => reject(new Error('the gateway cannot be reached'));
  }), token);
}

async function apiLogin(email) {
  const r = await fetch(`${server.base}/api/v1/auth/login`, {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({email, password: PASSWORD}),
  });
  assert.equal(r.status, 201);
  return (await r.json()).payload.token;
}

async function apiLogout(token) {
  const r = await fetch(`${server.base}/api/v1/auth/logout`, {method: 'POST', headers: {Authorization: `Bearer ${token}`}});
  assert.equal(r.status, 200);
}

// Reloads the page showing `hash`, so that no conversation is loaded.
async function reloadAt(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.reload();
  await waitForText(page, '#connection', 'online');
}

async function openSockets(page) {
  return page.evaluate(() => window.__tap.sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length);
}

async function sendMessage(page, text) {
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

// Answers the page's next `count` chat loads with `error` instead of sending them, and counts
// every chat load the page sends in window.__tap.loads.
async function refuseLoads(page, count, error) {
  await page.evaluate((count, error) => {
    const tap = window.__tap;
    tap.loads = 0;
    tap.onSend = (frame, ws) => {
      if (frame.type !== 'load' || frame.payload.type !== 'chat') return;
      if (++tap.loads > count) return;
      queueMicrotask(() => tap.inject(ws, {type: 'error', payload: error}));
      return false;
    };
  }, count, error);
}

describe('web client', {timeout: 240000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    // Bob's browser reaches the server through a relay that the test can cut.
    relay = await new Relay().start(server.port);
    browser = await launchBrowser();
    aliceCtx = await browser.createBrowserContext();
    bobCtx = await browser.createBrowserContext();
    alice = await aliceCtx.newPage();
    bob = await bobCtx.newPage();
    // Bob's page lets tests make the server's answers go wrong (a pass-through otherwise).
    await installSocketTap(bob);
    for (const [page, base] of [[alice, server.base], [bob, relay.base]])
      problems.push(watchPage(page, [base, server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (relay) await relay.stop();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('signs two people up through the mail link and logs them in', async () => {
    await signUpAndLogIn(alice, server.base, smtp, 'alice');
    await signUpAndLogIn(bob, relay.base, smtp, 'bob');
    assert.ok(await alice.evaluate(() => localStorage.getItem('rewind.token')));
  });

  it('sends a friend request by name and accepts it, live on both sides and on every tab', async () => {
    // Alice's other device (a browser of its own, sharing nothing with this one) and a second
    // tab of bob's, on the friends view: what one does shows on the other at once (the server
    // tells a user's other connections of their own friend operations).
    const aliceDevice2 = await browser.createBrowserContext();
    const aliceTab2 = await aliceDevice2.newPage();
    const bobTab2 = await bobCtx.newPage();
    problems.push(watchPage(aliceTab2, [server.base]), watchPage(bobTab2, [relay.base, server.base]));
    const aliceToken = await alice.evaluate(() => localStorage.getItem('rewind.token'));
    await aliceTab2.goto(server.base + '/#friends');
    await aliceTab2.evaluate((t) => localStorage.setItem('rewind.token', t), aliceToken);
    await aliceTab2.reload();
    await bobTab2.goto(relay.base + '/#friends');
    await waitForText(aliceTab2, '#connection', 'online');
    await waitForText(bobTab2, '#connection', 'online');
    await bob.bringToFront();  // a background tab gets no frames: clicks there would hang

    await alice.click('#friends-link');
    await fill(alice, '#friend-name', 'bob');
    await alice.click('#add-friend-form button[type=submit]');
    await waitForText(alice, '#outgoing-list', 'bob');
    await waitForText(aliceTab2, '#outgoing-list', 'bob');
    // Bob sees the request arrive without reloading.
    await bob.waitForSelector('#request-badge:not([hidden])');
    await waitForText(bobTab2, '#incoming-list', 'alice');
    await bob.click('#friends-link');
    await waitForText(bob, '#incoming-list', 'alice');
    await clickText(bob, '#incoming-list button', 'Accept');
    await waitForText(bob, '#friend-list', 'alice');
    await waitForText(bobTab2, '#friend-list', 'alice');
    await waitForVisible(bobTab2, '#incoming-empty');
    await waitForText(alice, '#friend-list', 'bob');
    await waitForText(aliceTab2, '#friend-list', 'bob');
    await waitForVisible(aliceTab2, '#outgoing-empty');
    await waitForText(alice, '#dm-list', 'bob');
    await waitForText(bob, '#dm-list', 'alice');
    assert.equal(await alice.$eval('#outgoing-empty', (e) => e.hidden), false);
    bobId = await alice.$eval('#dm-list a', (a) => a.getAttribute('href').split('/')[1]);
    await aliceDevice2.close();
    await bobTab2.close();
  });

  it('exchanges direct messages that both see live, on every open tab', async () => {
    await openDm(alice, 'bob');
    await openDm(bob, 'alice');
    const bobTab2 = await bobCtx.newPage();
    problems.push(watchPage(bobTab2, [relay.base, server.base]));
    await bobTab2.goto(relay.base + '/');
    await waitForText(bobTab2, '#me', 'bob');
    await openDm(bobTab2, 'alice');

    await sendMessage(alice, 'hello bob');
    await waitForText(alice, '#message-list', 'hello bob');
    await waitForText(bob, '#message-list', 'hello bob');
    await waitForText(bobTab2, '#message-list', 'hello bob');
    await sendMessage(bob, 'hi alice! 안녕');
    await waitForText(alice, '#message-list', 'hi alice! 안녕');
    await waitForText(bobTab2, '#message-list', 'hi alice! 안녕');
    await sendMessage(alice, 'a typo here');
    await waitForText(bob, '#message-list', 'a typo here');
    await sendMessage(alice, 'this one goes away');
    await waitForText(bob, '#message-list', 'this one goes away');
    await bobTab2.close();
  });

  it('shows who is typing until their message arrives', async () => {
    assert.equal(await bob.$eval('#typing-indicator', (e) => e.textContent), '');
    // The messages just sent began with a typing each: the server lets 3 through at once,
    // then one per 2 s, so a little wait makes sure the next one is not dropped.
    await new Promise((r) => setTimeout(r, 2500));
    await alice.focus('#composer-input');
    await alice.keyboard.type('typing this');
    await waitForText(bob, '#typing-indicator', 'alice is typing…');
    assert.equal(await alice.$eval('#typing-indicator', (e) => e.textContent), '');  // not mine
    await alice.keyboard.press('Enter');
    await waitForText(bob, '#message-list', 'typing this');
    await bob.waitForFunction(() => document.querySelector('#typing-indicator').textContent === '',
                              {polling: 'mutation', timeout: 2000});
  });

  it('edits and deletes own messages, and the other side sees it live', async () => {
    const item = await alice.waitForFunction(() => [...document.querySelectorAll('#message-list .message')]
      .find((li) => li.textContent.includes('a typo here')), {polling: 'mutation'});
    await item.asElement().hover();
    // Each Edit button is named after its message.
    await (await item.asElement().$('button[aria-label="Edit your message: a typo here"]')).click();
    await waitForVisible(alice, '.edit-input');
    await alice.$eval('.edit-input', (e) => { e.value = ''; });
    await alice.type('.edit-input', 'no typo now');
    await alice.keyboard.press('Enter');
    await waitForText(bob, '#message-list', 'no typo now');
    await waitForNoText(bob, '#message-list', 'a typo here');
    await waitForText(bob, '#message-list .edited', '(edited)');
    // Only one's own messages offer edit and delete.
    assert.equal(await bob.$$eval('#message-list .message:not(.mine) .message-actions button', (b) => b.length), 0);

    const gone = await alice.waitForFunction(() => [...document.querySelectorAll('#message-list .message')]
      .find((li) => li.textContent.includes('this one goes away')), {polling: 'mutation'});
    await gone.asElement().hover();
    const del = await gone.asElement().$('.message-actions button.danger');
    await del.click();  // asks...
    await alice.waitForFunction((b) => b.textContent === 'Delete?', {polling: 'mutation'}, del);
    await del.click();  // ...and does it
    await waitForNoText(bob, '#message-list', 'this one goes away');
    await waitForNoText(alice, '#message-list', 'this one goes away');
  });

  it('shows the history again after a reload', async () => {
    await bob.reload();
    await waitForText(bob, '#conversation-title', 'alice');
    await waitForText(bob, '#message-list', 'no typo now');
    assert.deepEqual(await messageTexts(bob), ['hello bob', 'hi alice! 안녕', 'no typo now', 'typing this']);
    // The edit is remembered by the server (edited_at), not only by the page that saw it.
    assert.deepEqual(await bob.$$eval('#message-list .message', (els) => els.map((li) =>
      [li.querySelector('.message-text').textContent, !li.querySelector('.edited').hidden])),
    [['hello bob', false], ['hi alice! 안녕', false], ['no typo now', true], ['typing this', false]]);
  });

  it('loads older messages as the reader scrolls up', async () => {
    await sendFromAnotherDevice(alice, bobId, 120, 'seed');
    await waitForText(alice, '#message-list', 'seed 120');
    await bob.reload();
    await waitForText(bob, '#message-list', 'seed 120');
    const first = await messageTexts(bob);
    assert.equal(first.length, 50, 'one page of history at first');
    assert.equal(first[0], 'seed 71');
    for (let i = 0; i < 10; i++) {
      const done = await bob.$eval('#history-status', (e) => e.textContent.includes('beginning'));
      if (done) break;
      await bob.$eval('#messages', (e) => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); });
      await bob.waitForFunction(() => document.querySelector('#messages').getAttribute('aria-busy') === 'false', {polling: 'mutation'});
    }
    await waitForText(bob, '#history-status', 'This is the beginning of the conversation.');
    const all = await messageTexts(bob);
    assert.equal(all.length, 124);
    assert.deepEqual(all.slice(0, 5), ['hello bob', 'hi alice! 안녕', 'no typo now', 'typing this', 'seed 1']);
    assert.equal(all.at(-1), 'seed 120');
    // Paging back keeps the reader where they were instead of jumping to the top.
    assert.ok(await bob.$eval('#messages', (e) => e.scrollTop > 0 || e.scrollHeight <= e.clientHeight));
  });

  it('creates a guild, adds a friend, chats in it and leaves it', async () => {
    await alice.click('#new-guild-link');
    await fill(alice, '#guild-name', 'weekend crew');
    await alice.click('#new-guild-form button[type=submit]');
    await waitForText(alice, '#conversation-title', 'weekend crew');
    await alice.click('#members-toggle');
    await waitForVisible(alice, '#add-member-select');
    await alice.select('#add-member-select', 'bob');
    await alice.click('#add-member-form button[type=submit]');
    await waitForText(alice, '#member-list', 'bob');
    await waitForText(alice, '#conversation-sub', '2 members');

    await waitForText(bob, '#guild-list', 'weekend crew');
    await clickText(bob, '#guild-list .conv-name', 'weekend crew');
    await waitForText(bob, '#conversation-title', 'weekend crew');
    await sendMessage(bob, 'hi crew');
    await waitForText(alice, '#message-list', 'hi crew');
    await sendMessage(alice, 'welcome, bob');
    await waitForText(bob, '#message-list', 'welcome, bob');

    // Bob was told he joined (the guild's name and member count); the members came on
    // demand when he opened it, the owner marked.
    await bob.click('#members-toggle');
    await waitForText(bob, '#member-list', 'bob (you)');
    assert.deepEqual(await bob.$$eval('#member-list .person', (els) => els.map((li) => li.textContent)),
                     ['Aaliceowner', 'Bbob (you)']);
    await clickText(bob, '#members-panel button', 'Leave guild');
    await clickText(bob, '#members-panel button', 'Really leave?');
    await waitForNoText(bob, '#guild-list', 'weekend crew');
    await waitForVisible(bob, '#welcome-pane');
    await waitForText(alice, '#conversation-sub', '1 member');
    await waitForNoText(alice, '#member-list', 'bob');
  });

  it('shows when it is offline, reconnects by itself and catches up', async () => {
    await openDm(bob, 'alice');
    await openDm(alice, 'bob');
    assert.equal(await visible(bob, '#offline-banner'), false);

    // Bob's network goes away; alice keeps talking.
    await relay.cut();
    await waitForVisible(bob, '#offline-banner');
    await waitForText(bob, '#offline-banner', 'Offline');
    assert.equal(await bob.$eval('#connection', (e) => e.dataset.state), 'offline');
    await sendMessage(alice, 'sent while you were away');
    await waitForText(alice, '#message-list', 'sent while you were away');
    await relay.restore();
    await waitForHidden(bob, '#offline-banner', 20000);
    await waitForText(bob, '#message-list', 'sent while you were away');

    // The server itself restarts: both notice, both come back.
    await server.stop();
    await waitForVisible(alice, '#offline-banner');
    await waitForVisible(bob, '#offline-banner');
    await server.start();
    await waitForHidden(alice, '#offline-banner', 20000);
    await waitForHidden(bob, '#offline-banner', 20000);
    await sendMessage(bob, 'back again');
    await waitForText(alice, '#message-list', 'back again');
  });

  it('catches up a conversation that was not open while offline', async () => {
    await bob.click('#friends-link');  // the conversation with alice is loaded, and closed
    await waitForVisible(bob, '#friends-pane');
    await relay.cut();
    await waitForVisible(bob, '#offline-banner');
    await sendFromAnotherDevice(alice, bobId, 60, 'missed');
    await relay.restore();
    await waitForHidden(bob, '#offline-banner', 20000);
    // One more arrives live: the newest page now reaches back to "missed 12" only.
    await sendMessage(alice, 'after the drop');
    // The 60 missed while offline are unread too: the server counted them (and perhaps an
    // earlier message that arrived while bob's tab was in the background, never shown).
    await bob.waitForFunction(() => [...document.querySelectorAll('#dm-list a')].some((a) => {
      const m = /^alice, (\d+) unread$/.exec(a.getAttribute('aria-label'));
      return m && Number(m[1]) >= 61;
    }), {polling: 'mutation'});
    await openDm(bob, 'alice');
    await scrollBackTo(bob, 'back again');
    const texts = await messageTexts(bob);
    assert.deepEqual(texts.slice(texts.indexOf('back again')),
                     ['back again', ...numbered('missed', 1, 60), 'after the drop']);
  });

  it('reloads a conversation the catch-up does not cover, even when the first message of the newest page is deleted as it loads', async () => {
    await relay.cut();
    await waitForVisible(bob, '#offline-banner');
    await sendFromAnotherDevice(alice, bobId, 60, 'gap');
    // The auth asks the server to replay nothing (`since: {}`), as for a conversation the
    // catch-up does not cover: the conversation reloads. Its newest page is "gap 11" to
    // "gap 60": "gap 11" is deleted right after it arrives, before the page is complete and
    // the gap before it is fetched.
    await bob.evaluate(() => {
      const tap = window.__tap;
      let armed = false;
      tap.onSend = (frame, ws) => {
        if (frame.type === 'auth' && frame.payload.since) {
          const nativeSend = Object.getPrototypeOf(WebSocket.prototype).send;
          nativeSend.call(ws, JSON.stringify({...frame, payload: {...frame.payload, since: {}}}));
          return false;
        }
        if (frame.type === 'load' && frame.payload.type === 'chat') armed = true;
      };
      tap.onReceive = (frame, ws) => {
        if (!armed || frame.type !== 'chat') return;
        tap.onSend = tap.onReceive = null;
        queueMicrotask(() => tap.inject(ws, {type: 'chat', payload: {...frame.payload, type: 'edit', content: ''}}));
      };
    });
    await relay.restore();
    await waitForHidden(bob, '#offline-banner', 20000);
    await waitForMessage(bob, 'gap 1');
    await waitForHistoryIdle(bob);
    const texts = await messageTexts(bob);
    assert.deepEqual(texts.slice(texts.indexOf('after the drop')),
                     ['after the drop', ...numbered('gap', 1, 10), ...numbered('gap', 12, 60)]);
  });

  it('sends a refused history load again, and live messages keep showing', async () => {
    // The first load is refused with 4029 and a retry_after, as a rate limit would.
    await reloadAt(bob, '#friends');
    await refuseLoads(bob, 1, {code: '4029', reason: 'too many requests on this connection.', retry_after: 0.2});
    await openDm(bob, 'alice');
    await waitForMessage(bob, 'gap 60');
    assert.equal(await bob.evaluate(() => window.__tap.loads), 2);
    await sendMessage(alice, 'live after a refused load');
    await waitForMessage(bob, 'live after a refused load');

    // An older page refused with 5003 (no retry_after) is sent again too.
    await refuseLoads(bob, 1, {code: '5003', reason: 'the server is busy.'});
    await bob.$eval('#messages', (e) => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); });
    await waitForMessage(bob, 'gap 1');
    await waitForHistoryIdle(bob);
    assert.equal(await bob.evaluate(() => window.__tap.loads), 2);
    await sendMessage(alice, 'live after a busy server');
    await waitForMessage(bob, 'live after a busy server');

    // Another request's error arriving while a load is out does not lose that load.
    await reloadAt(bob, '#friends');
    await bob.evaluate(() => {
      const tap = window.__tap;
      tap.onSend = (frame, ws) => {
        if (frame.type !== 'load' || frame.payload.type !== 'chat') return;
        tap.onSend = null;
        queueMicrotask(() => tap.inject(ws, {type: 'error', payload: {code: '4050', reason: 'no such guild, or you are not a member.'}}));
      };
    });
    await openDm(bob, 'alice');
    await waitForMessage(bob, 'live after a busy server');
    await waitForHistoryIdle(bob);
    assert.equal(await visible(bob, '#load-older'), true, 'the newest page counts as loaded');
    assert.equal(await visible(bob, '#retry-load'), false);

    // Refused every time: after a few attempts the reader gets a button to try again.
    await reloadAt(bob, '#friends');
    await refuseLoads(bob, 5, {code: '4029', reason: 'too many requests on this connection.', retry_after: 0.01});
    await openDm(bob, 'alice');
    await waitForText(bob, '#history-status', 'Messages could not be loaded.');
    assert.equal(await visible(bob, '#retry-load'), true);
    await bob.click('#retry-load');
    await waitForMessage(bob, 'live after a busy server');
    await waitForHistoryIdle(bob);
    assert.equal(await visible(bob, '#retry-load'), false);
    assert.equal(await bob.evaluate(() => window.__tap.loads), 6);
    await bob.evaluate(() => { window.__tap.onSend = null; });
  });

  it('ends the session on the server once it is back, after logging out offline', async () => {
    const token = await bob.evaluate(() => localStorage.getItem('rewind.token'));
    await relay.cut();
    await waitForVisible(bob, '#offline-banner');
    await bob.click('#logout');
    await waitForVisible(bob, '#login-form');
    await waitForText(bob, '#auth-notice', 'could not be reached');
    assert.equal(await bob.evaluate(() => localStorage.getItem('rewind.token')), null);
    assert.deepEqual(await bob.evaluate(() => JSON.parse(localStorage.getItem('rewind.revoke'))), [token]);
    assert.equal(await tokenWorks(alice, token), true, 'still valid while the server is unreachable');

    await relay.restore();
    await fill(bob, '#login-email', 'bob@example.test');
    await fill(bob, '#login-password', PASSWORD);
    await bob.click('#login-form button[type=submit]');
    await waitForText(bob, '#connection', 'online');
    await bob.waitForFunction(() => localStorage.getItem('rewind.revoke') === null, {polling: 50});
    assert.equal(await tokenWorks(alice, token), false);
    await openDm(bob, 'alice');
  });

  it('works on a phone-sized screen', async () => {
    const phone = await aliceCtx.newPage();
    problems.push(watchPage(phone, [server.base]));
    await phone.setViewport({width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2});
    await phone.goto(server.base + '/');
    await waitForText(phone, '#dm-list', 'bob');
    assert.equal(await visible(phone, '#main'), false, 'the list alone on a phone');
    await clickText(phone, '#dm-list .conv-name', 'bob');
    await waitForText(phone, '#conversation-title', 'bob');
    assert.equal(await visible(phone, '#sidebar'), false, 'the conversation alone on a phone');
    assert.equal(await visible(phone, '#back'), true);
    await waitForMessage(phone, 'live after a busy server');
    const layout = await phone.evaluate(() => ({
      width: document.documentElement.scrollWidth,
      composerBottom: document.querySelector('#composer').getBoundingClientRect().bottom,
    }));
    assert.ok(layout.width <= 390, `no sideways scrolling (${layout.width}px)`);
    assert.ok(layout.composerBottom <= 844, 'the message box is on screen');
    await sendMessage(phone, 'from my phone');
    await waitForText(bob, '#message-list', 'from my phone');
    await phone.tap('#back');
    await waitForVisible(phone, '#sidebar');

    // Logging out in one tab signs out the others too.
    await alice.bringToFront();  // a background tab of a context takes no input
    await alice.click('#logout');
    await waitForVisible(alice, '#login-form');
    await waitForVisible(phone, '#login-form');
    assert.equal(await alice.evaluate(() => localStorage.getItem('rewind.token')), null);
    await phone.close();
  });

  it('keeps one session per tab when another tab logs in', async () => {
    const ctx = await browser.createBrowserContext();
    const other = await ctx.newPage();  // stands for another tab that logs in
    const tab = await ctx.newPage();
    for (const page of [other, tab]) {
      await installSocketTap(page);
      problems.push(watchPage(page, [server.base]));
      await page.goto(server.base + '/');
      await waitForVisible(page, '#login-form');
    }
    // A wrong password is refused: the one error answer of this test.
    expectFailedResponse(tab, 'POST', '/api/v1/auth/login', 401);
    await fill(tab, '#login-email', 'alice@example.test');
    await fill(tab, '#login-password', 'not the password');
    await tab.click('#login-form button[type=submit]');
    await waitForText(tab, '#login-error', 'email or password is incorrect');

    // This tab's log-in is answered only after the other tab has logged in: it is not used.
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    await tab.setRequestInterception(true);
    tab.on('request', async (req) => {
      if (new URL(req.url()).pathname === '/api/v1/auth/login') await held;
      req.continue();
    });
    await fill(tab, '#login-password', PASSWORD);
    await tab.click('#login-form button[type=submit]');
    const first = await apiLogin('alice@example.test');
    await other.evaluate((t) => localStorage.setItem('rewind.token', t), first);
    await waitForText(tab, '#connection', 'online');
    release();
    await tab.waitForFunction(() => !document.querySelector('#login-form button[type=submit]').disabled, {polling: 'mutation'});
    await tab.waitForFunction(() => localStorage.getItem('rewind.revoke') === null, {polling: 50});
    assert.equal(await tab.evaluate(() => localStorage.getItem('rewind.token')), first);
    assert.equal(await openSockets(tab), 1);

    // The other tab logs in again: this one switches over, and the old connection goes.
    const second = await apiLogin('alice@example.test');
    await other.evaluate((t) => localStorage.setItem('rewind.token', t), second);
    await tab.waitForFunction(() => window.__tap.sockets.length === 2 &&
                                    window.__tap.sockets[0].readyState === WebSocket.CLOSED, {polling: 50});
    await waitForText(tab, '#connection', 'online');
    assert.equal(await openSockets(tab), 1);
    // Ending the first session no longer concerns this tab.
    await apiLogout(first);
    assert.equal(await tokenWorks(other, first), false);
    assert.equal(await tab.evaluate(() => localStorage.getItem('rewind.token')), second);
    await waitForText(tab, '#me', 'alice');
    await waitForText(tab, '#connection', 'online');

    // Too many connections (the server's limit per user): a clear message, no retrying.
    const filled = await other.evaluate((token) => new Promise((resolve) => {
      window.fillers = [];
      const open = () => {
        const ws = new WebSocket(`ws://${location.host}/ws?v=2`);
        ws.onopen = () => ws.send(JSON.stringify({type: 'heartbeat', payload: {count: 0}}));
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.type === 'heartbeat') ws.send(JSON.stringify({type: 'auth', payload: {auth: token}}));
          if (f.type !== 'auth') return;
          window.fillers.push(ws);
          open();
        };
        ws.onclose = (e) => { if (e.code === 4106) resolve(window.fillers.length); };
      };
      open();
    }), second);
    assert.ok(filled >= 1);
    const late = await ctx.newPage();
    await installSocketTap(late);
    problems.push(watchPage(late, [server.base]));
    await late.goto(server.base + '/');
    await waitForText(late, '#offline-text', 'as many connections as the server allows');
    assert.equal(await visible(late, '#reconnect'), true);
    assert.equal(await late.$eval('#connection', (e) => e.dataset.state), 'offline');
    assert.equal(await late.evaluate(() => window.__tap.sockets.length), 1);
    await other.evaluate(() => window.fillers.forEach((ws) => ws.close()));
    await late.click('#reconnect');
    await waitForText(late, '#connection', 'online');
    await waitForHidden(late, '#offline-banner');
    assert.equal(await visible(late, '#reconnect'), false);
    assert.equal(await late.evaluate(() => window.__tap.sockets.length), 2);
    await ctx.close();
  });

  it('made no third-party requests, no unexpected error answers and raised no errors', () => {
    assert.deepEqual(problems.flat(), []);
    assert.deepEqual(unmetExpectations(), []);
  });
});
