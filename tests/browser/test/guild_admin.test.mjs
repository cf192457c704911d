// Drafts and guild administration in the web client. Three people (ann, ben, cat), all
// friends of ann: a draft belongs to its conversation (switching never carries text from a
// DM into a guild, and a reload keeps it); the owner of a guild renames it, removes a member
// and deletes it from the members panel, and every other member's client follows live; a
// member who is removed, or whose guild is deleted, while reading it is told so in view and
// keeps what they were typing; a member who is not the owner is offered none of it.
//
// One scenario, in order: each step starts from where the previous one left off.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Server, SmtpSink, clickText, fill, installSocketTap, launchBrowser, makeTestCa, signUpAndLogIn, tempDir,
  visible, waitForNoText, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-guild-');
let smtp, server, browser, ann, ben, cat;
const problems = [];

async function composer(page) {
  return page.$eval('#composer-input', (e) => e.value);
}

async function messageTexts(page) {
  return page.$$eval('#message-list .message-text', (els) => els.map((e) => e.textContent));
}

async function waitForHistoryIdle(page) {
  await page.waitForFunction(() => document.querySelector('#messages').getAttribute('aria-busy') === 'false', {polling: 'mutation'});
}

// A click can land on a list entry just as a reconnect renders the list again: then the
// conversation does not open, and the entry is clicked once more.
async function openConv(page, list, name) {
  for (let attempt = 1; ; attempt++) {
    await clickText(page, `${list} .conv-name`, name);
    try {
      await page.waitForFunction((n) => document.querySelector('#conversation-title').textContent.includes(n),
        {timeout: 3000, polling: 'mutation'}, name);
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
  await waitForHistoryIdle(page);
}

async function typeInComposer(page, text) {
  await page.focus('#composer-input');
  await page.keyboard.type(text);
}

async function befriend(page, other, otherName, name) {
  await page.click('#friends-link');
  await fill(page, '#friend-name', otherName);
  await page.click('#add-friend-form button[type=submit]');
  await waitForText(page, '#outgoing-list', otherName);
  await other.bringToFront();
  await other.click('#friends-link');
  await clickText(other, '#incoming-list button', 'Accept');
  await waitForText(other, '#friend-list', name);
  await page.bringToFront();
  await waitForText(page, '#dm-list', otherName);
}

async function openMembers(page) {
  if (!(await visible(page, '#members-panel'))) await page.click('#members-toggle');
  await waitForVisible(page, '#members-panel');
}

async function addMember(page, name) {
  await openMembers(page);
  await page.waitForFunction((n) => [...document.querySelectorAll('#add-member-select option')].some((o) => o.value === n),
    {polling: 'mutation'}, name);
  await page.select('#add-member-select', name);
  await page.click('#add-member-form button[type=submit]');
  await waitForText(page, '#member-list', name);
}

describe('drafts and guild administration', {timeout: 180000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser();
    [ann, ben, cat] = await Promise.all([0, 1, 2].map(async () => (await browser.createBrowserContext()).newPage()));
    for (const page of [ann, ben, cat]) problems.push(watchPage(page, [server.base]));
    await installSocketTap(ann);  // a pass-through until a test sets onSend
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('signs three people up; ann befriends ben and cat and makes a guild with both', async () => {
    await signUpAndLogIn(ann, server.base, smtp, 'ann');
    await signUpAndLogIn(ben, server.base, smtp, 'ben');
    await signUpAndLogIn(cat, server.base, smtp, 'cat');
    await befriend(ann, ben, 'ben', 'ann');
    await befriend(ann, cat, 'cat', 'ann');
    await ann.click('#new-guild-link');
    await fill(ann, '#guild-name', 'book club');
    await ann.click('#new-guild-form button[type=submit]');
    await waitForText(ann, '#conversation-title', 'book club');
    await addMember(ann, 'ben');
    await addMember(ann, 'cat');
    await waitForText(ann, '#conversation-sub', '3 members');
    await waitForText(ben, '#guild-list', 'book club');
    await waitForText(cat, '#guild-list', 'book club');
  });

  it('keeps a draft per conversation, across switching and a reload', async () => {
    await ann.bringToFront();
    await openConv(ann, '#dm-list', 'ben');
    await typeInComposer(ann, 'only for ben');
    await openConv(ann, '#guild-list', 'book club');
    assert.equal(await composer(ann), '', 'a guild with no draft opens with an empty composer');
    await typeInComposer(ann, 'hello club');
    await openConv(ann, '#dm-list', 'ben');
    assert.equal(await composer(ann), 'only for ben');
    await openConv(ann, '#dm-list', 'cat');
    assert.equal(await composer(ann), '');
    await openConv(ann, '#guild-list', 'book club');
    assert.equal(await composer(ann), 'hello club');

    // One Enter in the guild sends the guild's text and nothing else; the DM keeps its draft.
    await ann.keyboard.press('Enter');
    await waitForText(ann, '#message-list', 'hello club');
    assert.equal(await composer(ann), '');
    await ben.bringToFront();
    await openConv(ben, '#guild-list', 'book club');
    await waitForText(ben, '#message-list', 'hello club');
    assert.deepEqual(await messageTexts(ben), ['hello club']);
    await openConv(ben, '#dm-list', 'ann');
    assert.deepEqual(await messageTexts(ben), [], 'the DM draft was not sent');

    await ann.bringToFront();
    await openConv(ann, '#dm-list', 'ben');
    assert.equal(await composer(ann), 'only for ben');
    await ann.reload();
    await waitForText(ann, '#conversation-title', 'ben');
    await ann.waitForFunction(() => document.querySelector('#composer-input').value === 'only for ben', {polling: 'mutation'});
    await openConv(ann, '#guild-list', 'book club');
    assert.equal(await composer(ann), '', 'the sent text is no draft any more');
  });

  it('offers the owner controls to the owner only', async () => {
    await ann.bringToFront();
    await openMembers(ann);
    assert.ok(await visible(ann, '#rename-guild-form'));
    assert.ok(await visible(ann, '#delete-guild'));
    await waitForText(ann, '#member-list button', 'Remove');
    assert.equal(await ann.$$eval('#member-list .person', (els) =>
      els.filter((li) => li.querySelector('button')).length), 2, 'ann can remove ben and cat, not herself');

    for (const page of [ben, cat]) {
      await page.bringToFront();
      await openConv(page, '#guild-list', 'book club');
      await openMembers(page);
      await waitForText(page, '#member-list', 'ann');
      assert.equal(await visible(page, '#rename-guild-form'), false);
      assert.equal(await visible(page, '#delete-guild'), false);
      assert.equal(await page.$$eval('#member-list button', (b) => b.length), 0);
    }
  });

  it('lets the owner rename the guild, validated, and every member sees the new name live', async () => {
    await ann.bringToFront();
    await openMembers(ann);
    await fill(ann, '#rename-guild-input', '   ');
    await ann.click('#rename-guild-form button[type=submit]');
    await waitForText(ann, '#member-error', 'A guild name is 1–64 characters.');
    await fill(ann, '#rename-guild-input', 'x'.repeat(65));
    await ann.click('#rename-guild-form button[type=submit]');
    await waitForText(ann, '#member-error', 'A guild name is 1–64 characters.');
    assert.equal(await ann.$eval('#conversation-title', (e) => e.textContent), 'book club');

    await fill(ann, '#rename-guild-input', '  reading room  ');
    await ann.click('#rename-guild-form button[type=submit]');
    await waitForText(ann, '#conversation-title', 'reading room');
    await waitForText(ben, '#conversation-title', 'reading room');
    await waitForText(cat, '#conversation-title', 'reading room');
    await waitForText(cat, '#guild-list', 'reading room');
    await waitForNoText(cat, '#guild-list', 'book club');
  });

  it('shows the server\'s refusal of an owner operation in the user\'s language', async () => {
    // The server answers 4051 (ownership passed on meanwhile, say): ann reads it in Korean.
    await ann.bringToFront();
    await ann.select('#app-lang', 'ko');
    await ann.evaluate(() => {
      const tap = window.__tap;
      tap.onSend = (frame, ws) => {
        if (frame.type !== 'guild' || frame.payload.type !== 'rename') return;
        tap.onSend = null;
        queueMicrotask(() => tap.inject(ws, {type: 'error', payload: {code: '4051', reason: 'not the owner'}}));
        return false;
      };
    });
    await openMembers(ann);
    await fill(ann, '#rename-guild-input', 'not allowed');
    await ann.click('#rename-guild-form button[type=submit]');
    await waitForText(ann, '#member-error', '길드의 방장만 할 수 있습니다.');
    assert.equal(await ann.$eval('#conversation-title', (e) => e.textContent), 'reading room');
    await ann.select('#app-lang', 'en');
    await waitForText(ann, '#member-error', 'Only the guild\'s owner can do that.');
  });

  it('lets the owner remove a member after naming them; the removed one is told and keeps the draft', async () => {
    await ben.bringToFront();
    await typeInComposer(ben, 'half a thought');
    await ann.bringToFront();
    await openMembers(ann);
    const row = await ann.waitForFunction(() => [...document.querySelectorAll('#member-list .person')]
      .find((li) => li.textContent.includes('ben')), {polling: 'mutation'});
    const remove = await row.asElement().$('button');
    await remove.click();  // asks, naming ben...
    await ann.waitForFunction((b) => b.textContent === 'Remove ben?', {polling: 'mutation'}, remove);
    assert.ok(await ann.$eval('#member-list', (e) => e.textContent.includes('ben')), 'not yet removed');
    await remove.click();  // ...and does it
    await waitForNoText(ann, '#member-list', 'ben');
    await waitForText(ann, '#conversation-sub', '2 members');

    await waitForText(ben, '#conversation-notice', 'ann removed you from reading room.');
    await waitForNoText(ben, '#guild-list', 'reading room');
    assert.equal(await ben.$eval('#conversation-title', (e) => e.textContent), 'reading room');
    assert.equal(await composer(ben), 'half a thought');
    assert.ok(await ben.$eval('#send-button', (b) => b.disabled));

    await cat.bringToFront();
    await openMembers(cat);
    await waitForNoText(cat, '#member-list', 'ben');
    await waitForText(cat, '#conversation-sub', '2 members');
  });

  it('lets the owner delete the guild after naming it; a member reading it is told', async () => {
    await typeInComposer(cat, 'unsent words');
    await ann.bringToFront();
    await openMembers(ann);
    await ann.click('#delete-guild');
    await waitForText(ann, '#delete-guild', 'Delete reading room for everyone?');
    await ann.click('#delete-guild');
    await waitForNoText(ann, '#guild-list', 'reading room');

    await waitForText(cat, '#conversation-notice', 'ann deleted reading room.');
    await waitForNoText(cat, '#guild-list', 'reading room');
    assert.equal(await composer(cat), 'unsent words');
    assert.ok(await cat.$eval('#send-button', (b) => b.disabled));
    assert.equal(await visible(cat, '#members-toggle'), false);
  });

  it('raised no page errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
