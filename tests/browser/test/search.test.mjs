// Searching one's own messages in the web client: kim, lee and park on the real server.
// kim and lee are friends and share a guild; park is lee's friend, not kim's. kim searches
// from the box above the conversation lists: she finds the messages of her chats whose words
// begin with what she typed (all of them, case aside), with what matched marked, and never
// park's message to lee nor a message she deleted. A result far back in a conversation opens
// there in context, older pages loaded until it is on screen, and the conversation goes on
// live after that. Then: nothing found, a query without words (the server is not asked),
// more results, an error, Escape back to the lists, and a search in Korean.
//
// One scenario, in order.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Server, SmtpSink, clickText, fill, installSocketTap, launchBrowser, makeTestCa, signUpAndLogIn,
  tempDir, unmetExpectations, visible, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-search-');
let smtp, server, browser, kim, lee, park;
const problems = [];
const ids = {};  // user and guild ids, from the lists' links
let deletedId;

const TARGET = 'Pineapple pizza is the best, no debate';
const FILLERS = 110;  // after the target: more than two pages of history (app.js, PAGE = 50)

// Sends `texts`, in order, to a chat over a gateway connection of the page's own user (as
// another device of theirs would), each with a request id, and returns the ids of the
// messages once every one is confirmed. `to`: {friend: user id} or {guild: guild id}.
// `remove`: ids of messages of that chat to delete afterwards.
async function sendOverSocket(page, to, texts, remove = []) {
  return page.evaluate(async (to, texts, remove) => {
    const ws = new WebSocket(`ws://${location.host}/ws?v=2`);
    const frames = [];
    let wake = () => {};
    ws.onmessage = (e) => { frames.push(JSON.parse(e.data)); wake(); };
    const until = (ok) => new Promise((resolve) => {
      wake = () => ok() && resolve();
      wake();
    });
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    const send = (type, payload, rid) => ws.send(JSON.stringify({type, payload, request_id: rid}));
    send('heartbeat', {count: 0});
    await until(() => frames.some((f) => f.type === 'heartbeat'));
    send('auth', {auth: localStorage.getItem('rewind.token')});
    await until(() => frames.some((f) => f.type === 'auth'));
    const me = frames.find((f) => f.type === 'auth').payload.self_user.id;
    const chatId = to.guild || (BigInt(me) ^ BigInt(to.friend)).toString();
    const answer = (rid) => frames.find((f) => f.request_id === rid && (f.type === 'chat' || f.type === 'error'));
    texts.forEach((content, i) => send('chat', {type: 'send', chat_id: chatId, content}, `s${i}`));
    remove.forEach((id, i) => send('chat', {type: 'edit', chat_id: chatId, id, content: ''}, `d${i}`));
    const rids = [...texts.map((_, i) => `s${i}`), ...remove.map((_, i) => `d${i}`)];
    await until(() => rids.every(answer));
    ws.close();
    const failed = rids.map(answer).filter((f) => f.type === 'error');
    if (failed.length) throw new Error(`refused: ${JSON.stringify(failed[0])}`);
    return texts.map((_, i) => answer(`s${i}`).payload.id);
  }, to, texts, remove);
}

// The id in the href of the link named `name` in a conversation list.
async function linkId(page, list, name) {
  return page.$$eval(`${list} .conv-item`, (items, name) => {
    const item = items.find((a) => a.querySelector('.conv-name').textContent === name);
    return item.getAttribute('href').split('/')[1];
  }, name);
}

// Types `query` into the search box and presses Enter; waits for the answer.
async function search(page, query) {
  await fill(page, '#search-input', query);
  await page.keyboard.press('Enter');
  await waitForVisible(page, '#search-panel');
  await page.waitForFunction(() => {
    const status = document.querySelector('#search-status').textContent;
    return status !== '' && status !== 'Searching…' || document.querySelector('#search-error').textContent !== '';
  }, {polling: 'mutation'});
}

// What the results show: the conversation, the author, the text and what is marked in it.
async function results(page) {
  return page.$$eval('#search-results .search-result', (items) => items.map((li) => ({
    conv: li.querySelector('.search-conv').textContent,
    author: li.querySelector('.search-author').textContent,
    text: li.querySelector('.search-text').textContent,
    marked: [...li.querySelectorAll('.search-text mark')].map((m) => m.textContent),
    time: li.querySelector('time') ? li.querySelector('time').textContent : '',
  })));
}

// The search requests the page has sent (window.__tap, installSocketTap).
async function searchesSent(page) {
  return page.evaluate(() => window.__searches.length);
}

describe('search', {timeout: 180000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser();
    kim = await (await browser.createBrowserContext()).newPage();
    lee = await (await browser.createBrowserContext()).newPage();
    park = await (await browser.createBrowserContext()).newPage();
    // kim's page keeps the search requests and history loads it sends (and passes everything
    // through).
    await installSocketTap(kim);
    await kim.evaluateOnNewDocument(() => {
      window.__searches = [];
      window.__loads = [];
      const watch = () => {
        if (!window.__tap) return setTimeout(watch, 0);
        window.__tap.onSend = (frame) => {
          if (frame.type === 'search') window.__searches.push(frame);
          if (frame.type === 'load' && frame.payload.type === 'chat') window.__loads.push(frame);
        };
      };
      watch();
    });
    for (const page of [kim, lee, park]) problems.push(watchPage(page, [server.base]));
    await signUpAndLogIn(kim, server.base, smtp, 'kim');
    await signUpAndLogIn(lee, server.base, smtp, 'lee');
    await signUpAndLogIn(park, server.base, smtp, 'park');
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('makes kim and lee friends, park and lee friends, and a guild of kim and lee', async () => {
    for (const [page, name] of [[kim, 'kim'], [park, 'park']]) {
      await page.bringToFront();
      await page.click('#friends-link');
      await fill(page, '#friend-name', 'lee');
      await page.click('#add-friend-form button[type=submit]');
      await waitForText(page, '#outgoing-list', 'lee');
      await lee.bringToFront();
      await lee.click('#friends-link');
      await clickText(lee, '#incoming-list button', 'Accept');
      await waitForText(lee, '#friend-list', name);
    }
    await kim.bringToFront();
    await kim.click('#new-guild-link');
    await fill(kim, '#guild-name', 'book club');
    await kim.click('#new-guild-form button[type=submit]');
    await waitForText(kim, '#conversation-title', 'book club');
    await kim.click('#members-toggle');
    await waitForVisible(kim, '#add-member-select');
    await kim.select('#add-member-select', 'lee');
    await kim.click('#add-member-form button[type=submit]');
    await waitForText(kim, '#member-list', 'lee');
    await waitForText(lee, '#guild-list', 'book club');
    ids.lee = await linkId(kim, '#dm-list', 'lee');
    ids.kim = await linkId(lee, '#dm-list', 'kim');
    ids.guild = await linkId(kim, '#guild-list', 'book club');
    await kim.evaluate(() => { location.hash = ''; });
  });

  it('sends the messages to look for, and others', async () => {
    const fillers = Array.from({length: FILLERS}, (_, i) => `filler ${i + 1}`);
    await sendOverSocket(kim, {friend: ids.lee}, [TARGET, ...fillers]);
    await sendOverSocket(lee, {friend: ids.kim}, ['does a pineapple count as a pizza topping?',
      'only pineapple here', 'spinach pizza']);
    await sendOverSocket(lee, {guild: ids.guild}, ['PINEAPPLE-PIZZA party on Friday', '파인애플 피자 최고']);
    await sendOverSocket(kim, {guild: ids.guild}, Array.from({length: 25}, (_, i) => `banana bread ${i + 1}`));
    // The same words in a chat kim is not in.
    await sendOverSocket(park, {friend: ids.lee}, ['pineapple pizza for park only']);
    [deletedId] = await sendOverSocket(kim, {friend: ids.lee}, ['pineapple pizza, to be deleted']);
  });

  it('finds the messages of kim\'s chats that have every word, and marks what matched', async () => {
    await kim.bringToFront();
    // A fresh page, which holds none of the messages its live events brought.
    await kim.reload();
    await waitForText(kim, '#connection', 'online');
    assert.equal(await visible(kim, '#dm-list'), true);
    await search(kim, 'pineapple piz');
    assert.equal(await visible(kim, '#dm-list'), false, 'the results take the lists\' place');
    const found = await results(kim);
    assert.deepEqual(found.map((r) => r.text).sort(), [
      'PINEAPPLE-PIZZA party on Friday', TARGET, 'does a pineapple count as a pizza topping?',
      'pineapple pizza, to be deleted'].sort());
    await waitForText(kim, '#search-status', '4 messages found');
    const byText = Object.fromEntries(found.map((r) => [r.text, r]));
    // Each word's beginning, as typed or not, and nothing else.
    assert.deepEqual(byText[TARGET].marked, ['Pineapple', 'piz']);
    assert.deepEqual(byText['PINEAPPLE-PIZZA party on Friday'].marked, ['PINEAPPLE', 'PIZ']);
    assert.deepEqual(byText['does a pineapple count as a pizza topping?'].marked, ['pineapple', 'piz']);
    // Where and by whom, as the lists name them.
    assert.deepEqual([byText[TARGET].conv, byText[TARGET].author], ['lee', 'kim']);
    assert.deepEqual([byText['PINEAPPLE-PIZZA party on Friday'].conv, byText['PINEAPPLE-PIZZA party on Friday'].author],
                     ['book club', 'lee']);
    assert.deepEqual(byText['does a pineapple count as a pizza topping?'].author, 'lee');
    assert.ok(found.every((r) => r.time !== ''));
    assert.equal(await kim.$eval('#search-more', (e) => e.hidden), true);

    // lee, who is in park's chat, finds park's message: kim did not, for it is not hers to see.
    await lee.bringToFront();
    await search(lee, 'pineapple piz');
    assert.ok((await results(lee)).some((r) => r.text === 'pineapple pizza for park only'));

    // Deleted, it is found no more: Enter asks again.
    await kim.bringToFront();
    await sendOverSocket(kim, {friend: ids.lee}, [], [deletedId]);
    const before = await searchesSent(kim);
    await kim.focus('#search-input');
    await kim.keyboard.press('Enter');
    await waitForText(kim, '#search-status', '3 messages found');
    assert.equal(await searchesSent(kim), before + 1);
    assert.ok(!(await results(kim)).some((r) => r.text.includes('to be deleted')));
  });

  it('opens an old result in its conversation, loading the history back to it', async () => {
    await kim.bringToFront();
    const loadsBefore = await kim.evaluate(() => window.__loads.length);
    await clickText(kim, '#search-results .search-open', TARGET);
    await waitForText(kim, '#conversation-title', 'lee');
    // Marked as soon as it is on screen, and in view.
    const hit = await kim.waitForFunction(() => document.querySelector('#message-list .message.search-hit'),
                                          {polling: 'mutation', timeout: 15000});
    assert.equal(await hit.evaluate((li) => li.querySelector('.message-text').textContent), TARGET);
    assert.ok(await hit.evaluate((li) => {
      const box = document.querySelector('#messages').getBoundingClientRect();
      const r = li.getBoundingClientRect();
      return r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    }), 'the message is in view');
    // It was more than two pages back: the newest page and two older ones were loaded.
    assert.ok(await kim.$$eval('#message-list .message', (els) => els.length) > 100);
    assert.ok(await kim.evaluate((n) => window.__loads.length - n, loadsBefore) >= 3);
    assert.equal(await kim.$eval('#conversation-error', (e) => e.textContent), '');
    // The mark goes after a moment.
    await kim.waitForFunction(() => !document.querySelector('.message.search-hit'), {polling: 100, timeout: 6000});

    // The conversation goes on live: what lee sends arrives last, and so does what kim sends.
    await sendOverSocket(lee, {friend: ids.kim}, ['fresh after the jump']);
    await kim.waitForFunction(() => [...document.querySelectorAll('#message-list .message:not(.outbox) .message-text')]
      .at(-1).textContent === 'fresh after the jump', {polling: 'mutation'});
    await kim.focus('#composer-input');
    await kim.keyboard.type('and my answer');
    await kim.keyboard.press('Enter');
    await kim.waitForFunction(() => {
      const last = [...document.querySelectorAll('#message-list .message:not(.outbox)')].at(-1);
      const box = document.querySelector('#messages');
      return last.querySelector('.message-text').textContent === 'and my answer' &&
             box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    }, {polling: 'mutation'});

    // The results stay beside the conversation; one in the guild opens there.
    await clickText(kim, '#search-results .search-open', 'PINEAPPLE-PIZZA party on Friday');
    await waitForText(kim, '#conversation-title', 'book club');
    const guildHit = await kim.waitForFunction(() => document.querySelector('#message-list .message.search-hit'),
                                               {polling: 'mutation'});
    assert.equal(await guildHit.evaluate((li) => li.querySelector('.message-text').textContent),
                 'PINEAPPLE-PIZZA party on Friday');
  });

  it('says when nothing is found, and does not ask for a query without words', async () => {
    await kim.bringToFront();
    await search(kim, 'zebra');
    await waitForText(kim, '#search-status', 'No messages found.');
    assert.equal(await kim.$$eval('#search-results .search-result', (els) => els.length), 0);
    const before = await searchesSent(kim);
    await fill(kim, '#search-input', '?! …');
    await kim.keyboard.press('Enter');
    await waitForText(kim, '#search-status', 'Type a word');
    // Past the pause after typing too.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await searchesSent(kim), before);
    assert.equal(await kim.$$eval('#search-results .search-result', (els) => els.length), 0);
  });

  it('shows more results on demand', async () => {
    await search(kim, 'banana');
    assert.equal((await results(kim)).length, 20);
    await waitForVisible(kim, '#search-more');
    await kim.click('#search-more');
    await waitForText(kim, '#search-status', '25 messages found');
    const texts = (await results(kim)).map((r) => r.text);
    assert.equal(new Set(texts).size, 25);
    assert.deepEqual([...texts].sort(), Array.from({length: 25}, (_, i) => `banana bread ${i + 1}`).sort());
    assert.equal(await kim.$eval('#search-more', (e) => e.hidden), true);
    assert.equal(await kim.evaluate(() => window.__searches.at(-1).payload.offset), 20);
  });

  it('finds words in Korean by their beginning', async () => {
    await search(kim, '파인');
    const found = await results(kim);
    assert.deepEqual(found.map((r) => [r.text, r.marked]), [['파인애플 피자 최고', ['파인']]]);
  });

  it('shows an error as a short message, and searches again after it', async () => {
    await kim.evaluate(() => {
      const tap = window.__tap;
      const count = tap.onSend;
      tap.onSend = (frame, ws) => {
        count(frame);
        if (frame.type !== 'search') return;
        tap.onSend = count;
        queueMicrotask(() => tap.inject(ws, {type: 'error', request_id: frame.request_id,
                                             payload: {code: '5003', reason: 'overloaded'}}));
        return false;
      };
    });
    await search(kim, 'pineapple');
    await waitForText(kim, '#search-error', 'The server is busy. Try again.');
    await kim.focus('#search-input');
    await kim.keyboard.press('Enter');
    await waitForText(kim, '#search-status', 'messages found');
    assert.equal(await kim.$eval('#search-error', (e) => e.textContent), '');
  });

  it('goes back to the conversation lists with Escape, and with the clear button', async () => {
    await kim.focus('#search-input');
    await kim.keyboard.press('Escape');
    await waitForVisible(kim, '#dm-list');
    assert.equal(await visible(kim, '#search-panel'), false);
    assert.equal(await kim.$eval('#search-input', (e) => e.value), '');
    await search(kim, 'pizza');
    await kim.click('#search-clear');
    await waitForVisible(kim, '#guild-list');
    assert.equal(await visible(kim, '#search-panel'), false);
    assert.equal(await kim.$eval('#search-input', (e) => e.value), '');
  });

  it('did nothing unexpected', () => {
    assert.deepEqual([...problems.flat(), ...unmetExpectations()], []);
  });
});
