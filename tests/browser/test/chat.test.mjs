// The web client in a real browser against the real server: two people sign up through
// the mail link, become friends, chat, edit, delete, reload, page back through history,
// use a guild, lose the connection and get it back, on a desktop and a phone-sized screen.
//
// One scenario, in order: each step starts from where the previous one left off.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Relay, Server, SmtpSink, clickText, fill, launchBrowser, makeTestCa, signUpAndLogIn, tempDir,
  visible, waitForNoText, waitForText, watchPage,
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

async function sendMessage(page, text) {
  await page.waitForFunction(() => !document.querySelector('#send-button').disabled);
  await page.focus('#composer-input');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

async function openDm(page, name) {
  await clickText(page, '#dm-list .conv-name', name);
  await waitForText(page, '#conversation-title', name);
  await page.waitForFunction(() => document.querySelector('#messages').getAttribute('aria-busy') === 'false');
}

describe('web client', {timeout: 180000}, () => {
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

  it('sends a friend request by name and accepts it, live on both sides', async () => {
    await alice.click('#friends-link');
    await fill(alice, '#friend-name', 'bob');
    await alice.click('#add-friend-form button[type=submit]');
    await waitForText(alice, '#outgoing-list', 'bob');
    // Bob sees the request arrive without reloading.
    await bob.waitForSelector('#request-badge:not([hidden])');
    await bob.click('#friends-link');
    await waitForText(bob, '#incoming-list', 'alice');
    await clickText(bob, '#incoming-list button', 'Accept');
    await waitForText(bob, '#friend-list', 'alice');
    await waitForText(alice, '#friend-list', 'bob');
    await waitForText(alice, '#dm-list', 'bob');
    await waitForText(bob, '#dm-list', 'alice');
    assert.equal(await alice.$eval('#outgoing-empty', (e) => e.hidden), false);
    bobId = await alice.$eval('#dm-list a', (a) => a.getAttribute('href').split('/')[1]);
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

  it('edits and deletes own messages, and the other side sees it live', async () => {
    const item = await alice.waitForFunction(() => [...document.querySelectorAll('#message-list .message')]
      .find((li) => li.textContent.includes('a typo here')));
    await item.asElement().hover();
    await (await item.asElement().$('button[aria-label="Edit message"]')).click();
    await alice.waitForSelector('.edit-input', {visible: true});
    await alice.$eval('.edit-input', (e) => { e.value = ''; });
    await alice.type('.edit-input', 'no typo now');
    await alice.keyboard.press('Enter');
    await waitForText(bob, '#message-list', 'no typo now');
    await waitForNoText(bob, '#message-list', 'a typo here');
    await waitForText(bob, '#message-list .edited', '(edited)');
    // Only one's own messages offer edit and delete.
    assert.equal(await bob.$$eval('#message-list .message:not(.mine) .message-actions button', (b) => b.length), 0);

    const gone = await alice.waitForFunction(() => [...document.querySelectorAll('#message-list .message')]
      .find((li) => li.textContent.includes('this one goes away')));
    await gone.asElement().hover();
    const del = await gone.asElement().$('.message-actions button.danger');
    await del.click();  // asks...
    await alice.waitForFunction((b) => b.textContent === 'Delete?', {}, del);
    await del.click();  // ...and does it
    await waitForNoText(bob, '#message-list', 'this one goes away');
    await waitForNoText(alice, '#message-list', 'this one goes away');
  });

  it('shows the history again after a reload', async () => {
    await bob.reload();
    await waitForText(bob, '#conversation-title', 'alice');
    await waitForText(bob, '#message-list', 'no typo now');
    assert.deepEqual(await messageTexts(bob), ['hello bob', 'hi alice! 안녕', 'no typo now']);
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
      await bob.waitForFunction(() => document.querySelector('#messages').getAttribute('aria-busy') === 'false');
    }
    await waitForText(bob, '#history-status', 'This is the beginning of the conversation.');
    const all = await messageTexts(bob);
    assert.equal(all.length, 123);
    assert.deepEqual(all.slice(0, 4), ['hello bob', 'hi alice! 안녕', 'no typo now', 'seed 1']);
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
    await alice.waitForSelector('#add-member-select', {visible: true});
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

    await bob.click('#members-toggle');
    await clickText(bob, '#members-panel button', 'Leave guild');
    await clickText(bob, '#members-panel button', 'Really leave?');
    await waitForNoText(bob, '#guild-list', 'weekend crew');
    await bob.waitForSelector('#welcome-pane', {visible: true});
    await waitForText(alice, '#conversation-sub', '1 member');
    await waitForNoText(alice, '#member-list', 'bob');
  });

  it('shows when it is offline, reconnects by itself and catches up', async () => {
    await openDm(bob, 'alice');
    await openDm(alice, 'bob');
    assert.equal(await visible(bob, '#offline-banner'), false);

    // Bob's network goes away; alice keeps talking.
    await relay.cut();
    await bob.waitForSelector('#offline-banner', {visible: true});
    await waitForText(bob, '#offline-banner', 'Offline');
    assert.equal(await bob.$eval('#connection', (e) => e.dataset.state), 'offline');
    await sendMessage(alice, 'sent while you were away');
    await waitForText(alice, '#message-list', 'sent while you were away');
    await relay.restore();
    await bob.waitForSelector('#offline-banner', {hidden: true, timeout: 20000});
    await waitForText(bob, '#message-list', 'sent while you were away');

    // The server itself restarts: both notice, both come back.
    await server.stop();
    await alice.waitForSelector('#offline-banner', {visible: true});
    await bob.waitForSelector('#offline-banner', {visible: true});
    await server.start();
    await alice.waitForSelector('#offline-banner', {hidden: true, timeout: 20000});
    await bob.waitForSelector('#offline-banner', {hidden: true, timeout: 20000});
    await sendMessage(bob, 'back again');
    await waitForText(alice, '#message-list', 'back again');
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
    await waitForText(phone, '#message-list', 'back again');
    const layout = await phone.evaluate(() => ({
      width: document.documentElement.scrollWidth,
      composerBottom: document.querySelector('#composer').getBoundingClientRect().bottom,
    }));
    assert.ok(layout.width <= 390, `no sideways scrolling (${layout.width}px)`);
    assert.ok(layout.composerBottom <= 844, 'the message box is on screen');
    await sendMessage(phone, 'from my phone');
    await waitForText(bob, '#message-list', 'from my phone');
    await phone.tap('#back');
    await phone.waitForSelector('#sidebar', {visible: true});

    // Logging out in one tab signs out the others too.
    await alice.bringToFront();  // a background tab of a context takes no input
    await alice.click('#logout');
    await alice.waitForSelector('#login-form', {visible: true});
    await phone.waitForSelector('#login-form', {visible: true});
    assert.equal(await alice.evaluate(() => localStorage.getItem('rewind.token')), null);
    await phone.close();
  });

  it('made no third-party requests and raised no errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
