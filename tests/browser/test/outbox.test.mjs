// Sending a message never loses it (issue 19). alice reaches the server through a relay the
// test can stall, bob directly; they are friends. A send the server refuses stays on screen
// with the reason, Retry, Edit and Discard, across a reload; a send on a link that went silent (the relay
// stops forwarding without closing anything) shows as sending, then within seconds as not
// sent with Retry, the status leaves "online", and after the link is back it is sent again by
// itself and arrives once; a send whose answer was lost but which did arrive is sent again
// too, with the same nonce, and the server answers it with the message it stored: bob still
// has it once.
//
// One scenario, in order: each step starts from where the previous one left off.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Relay, Server, SmtpSink, clickText, fill, launchBrowser, makeTestCa, signUpAndLogIn, tempDir,
  waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-outbox-');
let smtp, server, relay, browser, alice, bob;
const problems = [];

async function messageTexts(page) {
  return page.$$eval('#message-list .message:not(.outbox) .message-text', (els) => els.map((e) => e.textContent));
}

async function outbox(page) {
  return page.$$eval('#message-list .message.outbox', (els) => els.map((e) => ({
    state: e.dataset.state,
    text: e.querySelector('.message-text').textContent,
    status: e.querySelector('.send-state').textContent,
    actions: [...e.querySelectorAll('.outbox-actions button')].filter((b) => b.getClientRects().length > 0)
      .map((b) => b.textContent),
  })));
}

async function waitForOutbox(page, state, timeout = 10000) {
  await page.waitForFunction((s) => [...document.querySelectorAll('#message-list .message.outbox')]
    .some((e) => e.dataset.state === s), {timeout, polling: 'mutation'}, state).catch((e) => {
    throw new Error(`no ${state} message in the outbox: ${e.message}`);
  });
}

async function waitForMessage(page, text, timeout = 10000) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#message-list .message:not(.outbox) .message-text')]
    .some((e) => e.textContent === t), {timeout, polling: 'mutation'}, text).catch((e) => {
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

async function connection(page) {
  return page.$eval('#connection', (e) => e.dataset.state);
}

describe('outbox: a message is never lost', () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    relay = await new Relay().start(server.port);
    browser = await launchBrowser();
    alice = await (await browser.createBrowserContext()).newPage();
    bob = await (await browser.createBrowserContext()).newPage();
    problems.push(watchPage(alice, [relay.base, server.base]), watchPage(bob, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (relay) await relay.stop();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('makes alice and bob friends, each in their DM', async () => {
    await signUpAndLogIn(alice, relay.base, smtp, 'alice');
    await signUpAndLogIn(bob, server.base, smtp, 'bob');
    await alice.click('#friends-link');
    await fill(alice, '#friend-name', 'bob');
    await alice.click('#add-friend-form button[type=submit]');
    await waitForText(alice, '#outgoing-list', 'bob');
    await bob.click('#friends-link');
    await clickText(bob, '#incoming-list button', 'Accept');
    await waitForText(alice, '#dm-list', 'bob');
    await openDm(alice, 'bob');
    await openDm(bob, 'alice');
    await typeAndSend(alice, 'hello bob');
    await waitForMessage(bob, 'hello bob');
    await waitForMessage(alice, 'hello bob');
    assert.deepEqual(await outbox(alice), []);  // confirmed: nothing left pending
  });

  it('keeps a refused message with the reason, Retry, Edit and Discard', async () => {
    // A control character: the server refuses the send (4023) and says so to its request.
    await alice.focus('#composer-input');
    await alice.$eval('#composer-input', (e) => {
      e.value = 'ring the \u0007 bell';
      e.dispatchEvent(new Event('input'));
    });
    await alice.keyboard.press('Enter');
    await waitForOutbox(alice, 'failed');
    const [entry] = await outbox(alice);
    assert.equal(entry.text, 'ring the \u0007 bell');
    assert.match(entry.status, /Not sent: The message contains characters that cannot be sent/);
    assert.deepEqual(entry.actions, ['Retry', 'Edit', 'Discard']);
    assert.equal(await alice.$eval('#composer-input', (e) => e.value), '');
    // A reload keeps it, with its reason.
    await alice.reload();
    await waitForText(alice, '#connection', 'online');
    await waitForText(alice, '#conversation-title', 'bob');
    await waitForOutbox(alice, 'failed');
    assert.deepEqual(await outbox(alice), [entry]);
    // Retry is refused the same way and the message stays.
    await clickText(alice, '#message-list .outbox button', 'Retry');
    await waitForOutbox(alice, 'failed');
    assert.equal((await outbox(alice)).length, 1);
    // Edit takes it back into the composer to change it.
    await clickText(alice, '#message-list .outbox button', 'Edit');
    assert.equal(await alice.$eval('#composer-input', (e) => e.value), 'ring the \u0007 bell');
    assert.deepEqual(await outbox(alice), []);
    await alice.$eval('#composer-input', (e) => {
      e.value = e.value.replace('\u0007', '');
      e.dispatchEvent(new Event('input'));
    });
    await alice.keyboard.press('Enter');
    await waitForMessage(alice, 'ring the  bell');
    await waitForMessage(bob, 'ring the  bell');
    // Discard forgets a refused message.
    await alice.$eval('#composer-input', (e) => {
      e.value = 'never \u0001 mind';
      e.dispatchEvent(new Event('input'));
    });
    await alice.keyboard.press('Enter');
    await waitForOutbox(alice, 'failed');
    await clickText(alice, '#message-list .outbox button', 'Discard');
    assert.deepEqual(await outbox(alice), []);
    assert.ok(!(await messageTexts(bob)).some((t) => t.includes('mind')));
  });

  it('shows a send on a stalled link as pending, then not sent within seconds, and sends it once by itself when back', async () => {
    relay.stall();
    const sentAt = Date.now();
    await typeAndSend(alice, 'through the stall');
    await waitForOutbox(alice, 'sending', 2000);
    assert.match((await outbox(alice))[0].status, /sending/);
    await waitForOutbox(alice, 'failed', 9000);
    const elapsed = Date.now() - sentAt;
    assert.ok(elapsed < 9000, `noticed after ${elapsed} ms`);
    const [entry] = await outbox(alice);
    assert.equal(entry.text, 'through the stall');
    assert.match(entry.status, /Not sent/);
    assert.ok(entry.actions.includes('Retry'));
    assert.notEqual(await connection(alice), 'online');
    assert.ok(!(await messageTexts(bob)).includes('through the stall'));
    relay.resume();
    await waitForText(alice, '#connection', 'online', 30000);
    // Back online: it goes again with its nonce, by itself, and arrives once.
    await waitForMessage(bob, 'through the stall', 15000);
    await waitForMessage(alice, 'through the stall');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await messageTexts(bob)).filter((t) => t === 'through the stall').length, 1);
    assert.equal((await messageTexts(alice)).filter((t) => t === 'through the stall').length, 1);
    assert.deepEqual(await outbox(alice), []);
  });

  it('sends a message that arrived though its answer was lost again with its nonce, and it stays one message', async () => {
    relay.stall('down');  // alice's frames reach the server; nothing comes back
    await typeAndSend(alice, 'arrived in silence');
    await waitForMessage(bob, 'arrived in silence');
    await waitForOutbox(alice, 'failed', 9000);
    relay.resume();
    await waitForText(alice, '#connection', 'online', 30000);
    await waitForMessage(alice, 'arrived in silence', 15000);
    await alice.waitForFunction(() => !document.querySelector('#message-list .message.outbox'), {polling: 'mutation'});
    assert.equal((await messageTexts(alice)).filter((t) => t === 'arrived in silence').length, 1);
    assert.equal((await messageTexts(bob)).filter((t) => t === 'arrived in silence').length, 1);
  });

  it('reports no page errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
