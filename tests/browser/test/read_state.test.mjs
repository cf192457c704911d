// Unread counts and read state in the web client: lee writes to kim while kim looks
// elsewhere; kim's badge counts the messages, and still does after a reload (the server
// keeps it). Opening the conversation shows a "New messages" line before the first unread
// message and clears the badge, in kim's other tab too, and after reloading that tab. The
// list shows each conversation's newest message and its time; once kim turns desktop
// notifications on, a message while her tab is in the background shows one. lee shows as
// online to kim until lee turns that off.
//
// Two people on the real server with the real SMTP server. One scenario, in order.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Server, SmtpSink, clickText, fill, launchBrowser, makeTestCa, signUpAndLogIn, tempDir,
  unmetExpectations, waitForText, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-read-');
let smtp, server, browser, kim, kimTab, lee;
const problems = [];

async function sendMessage(page, text) {
  await page.waitForFunction(() => !document.querySelector('#send-button').disabled, {polling: 'mutation'});
  await page.focus('#composer-input');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
  await page.waitForFunction((t) => [...document.querySelectorAll('#message-list .message:not(.outbox) .message-text')]
    .some((e) => e.textContent === t), {polling: 'mutation'}, text);
}

// The unread badge beside `name` in the conversation list: its number, or null when none.
async function badge(page, name) {
  return page.$$eval('#dm-list .conv-item', (items, name) => {
    const item = items.find((i) => i.querySelector('.conv-name').textContent === name);
    const b = item && item.querySelector('.badge');
    return b ? Number(b.textContent) : null;
  }, name);
}

async function waitForBadge(page, name, count) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const got = await badge(page, name);
    if (got === count) return;
    if (Date.now() > deadline) {
      const list = await page.$eval('#dm-list', (e) => e.textContent);
      assert.fail(`badge for ${name}: ${got}, expected ${count}; the list: ${list}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function reload(page) {
  await page.reload({waitUntil: 'load'});
  await page.waitForFunction(() => document.querySelector('#me .me-name'), {polling: 'mutation'});
}

describe('unread counts and read state', {timeout: 120000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser();
    const kimCtx = await browser.createBrowserContext();
    kim = await kimCtx.newPage();
    // The browser's own notifications, allowed for the site as a person would allow them; the
    // page records what it showed (the real Notification is still made).
    await kimCtx.overridePermissions(server.base, ['notifications']);
    await kim.evaluateOnNewDocument(() => {
      window.__shown = [];
      window.Notification = new Proxy(window.Notification, {
        construct(target, args) {
          window.__shown.push({title: args[0], body: args[1] && args[1].body});
          return Reflect.construct(target, args);
        },
      });
    });
    lee = await (await browser.createBrowserContext()).newPage();
    for (const page of [kim, lee]) problems.push(watchPage(page, [server.base]));
    await signUpAndLogIn(kim, server.base, smtp, 'kim');
    await signUpAndLogIn(lee, server.base, smtp, 'lee');
    // kim's second tab: the same browser profile, so the same login.
    kimTab = await kimCtx.newPage();
    problems.push(watchPage(kimTab, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('makes kim and lee friends; kim reads lee\'s first message', async () => {
    await kim.bringToFront();
    await kim.click('#friends-link');
    await fill(kim, '#friend-name', 'lee');
    await kim.click('#add-friend-form button[type=submit]');
    await waitForText(kim, '#outgoing-list', 'lee');
    await lee.bringToFront();
    await lee.click('#friends-link');
    await clickText(lee, '#incoming-list button', 'Accept');
    await clickText(lee, '#dm-list .conv-name', 'kim');
    await waitForText(lee, '#conversation-title', 'kim');
    await sendMessage(lee, 'first, read at once');
    await kim.bringToFront();
    await clickText(kim, '#dm-list .conv-name', 'lee');
    await waitForText(kim, '#message-list', 'first, read at once');
    await waitForBadge(kim, 'lee', null);
    // The message came while the conversation was not open: the line is before it.
    await waitForText(kim, '#new-divider', 'New messages');
    // kim's other tab shows it read: the server has the mark.
    await kimTab.goto(server.base, {waitUntil: 'load'});
    await kimTab.waitForFunction(() => document.querySelector('#me .me-name'), {polling: 'mutation'});
    await waitForText(kimTab, '#dm-list', 'lee');
    await waitForBadge(kimTab, 'lee', null);
  });

  it('counts what lee writes while kim looks elsewhere, and keeps the count across a reload', async () => {
    await kim.click('#friends-link');  // the conversation is no longer on screen
    await lee.bringToFront();
    for (const text of ['one', 'two', 'three']) await sendMessage(lee, text);
    await kim.bringToFront();
    await waitForBadge(kim, 'lee', 3);
    await reload(kim);
    await waitForBadge(kim, 'lee', 3);
    await reload(kimTab);
    await waitForBadge(kimTab, 'lee', 3);
  });

  it('opening the conversation draws the line before the first unread message and clears the badge everywhere', async () => {
    await kim.bringToFront();
    await clickText(kim, '#dm-list .conv-name', 'lee');
    await waitForText(kim, '#message-list', 'three');
    const order = await kim.$$eval('#message-list > li', (items) => items.map((li) =>
      li.id === 'new-divider' ? '|new|' : (li.querySelector('.message-text') || {}).textContent).filter(Boolean));
    assert.deepEqual(order.slice(order.indexOf('first, read at once')),
                     ['first, read at once', '|new|', 'one', 'two', 'three']);
    await waitForText(kim, '#new-divider', 'New messages');
    await waitForBadge(kim, 'lee', null);
    // The other tab is told at once, and the server keeps it.
    await waitForBadge(kimTab, 'lee', null);
    await reload(kimTab);
    await waitForBadge(kimTab, 'lee', null);
  });

  it('shows each conversation\'s newest message and its time in the list', async () => {
    await kim.bringToFront();
    await waitForText(kim, '#dm-list .conv-snippet', 'three');
    assert.ok(await kim.$eval('#dm-list .conv-time', (e) => e.textContent.length > 0));
    await sendMessage(kim, 'my reply');
    await waitForText(kim, '#dm-list .conv-snippet', 'You: my reply');
    await waitForText(kimTab, '#dm-list .conv-snippet', 'You: my reply');
  });

  it('shows a desktop notification while the tab is in the background, once turned on', async () => {
    await kim.click('#account-link');
    assert.equal(await kim.$eval('#notify-toggle', (e) => e.checked), false);  // off by default
    await kim.click('#notify-toggle');
    await kim.waitForFunction(() => document.querySelector('#notify-toggle').checked, {polling: 'mutation'});
    await kimTab.bringToFront();  // kim's other tab in front: this one is in the background
    await kim.waitForFunction(() => document.hidden, {polling: 100});
    await sendMessage(lee, 'ping');
    await kim.waitForFunction(() => window.__shown.some((n) => n.title === 'lee' && n.body === 'ping'), {polling: 100});
    // Turned off: the next message shows none.
    await kim.bringToFront();
    await kim.click('#notify-toggle');
    await kimTab.bringToFront();
    await kim.waitForFunction(() => document.hidden, {polling: 100});
    await sendMessage(lee, 'pong');
    await waitForText(kim, '#dm-list .conv-snippet', 'pong');
    assert.deepEqual(await kim.evaluate(() => window.__shown.map((n) => n.body)), ['ping']);
  });

  it('shows lee online to kim, and offline while lee turns it off in Account', async () => {
    await kim.bringToFront();
    await kim.waitForSelector('#dm-list .presence-dot');
    await clickText(kim, '#dm-list .conv-name', 'lee');
    await waitForText(kim, '#conversation-presence', 'Online');
    await lee.bringToFront();
    await lee.click('#account-link');
    assert.equal(await lee.$eval('#presence-toggle', (e) => e.checked), true);  // on by default
    await lee.click('#presence-toggle');
    await kim.waitForFunction(() => !document.querySelector('#dm-list .presence-dot'), {polling: 100});
    assert.equal(await kim.$eval('#conversation-presence', (e) => e.hidden), true);
    // Kept by the server: lee's other visit finds it off, and turning it on shows lee again.
    await reload(lee);
    await lee.click('#account-link');
    assert.equal(await lee.$eval('#presence-toggle', (e) => e.checked), false);
    await lee.click('#presence-toggle');
    await kim.waitForSelector('#dm-list .presence-dot');
  });

  it('did nothing unexpected', () => {
    assert.deepEqual([...problems.flat(), ...unmetExpectations()], []);
  });
});
