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

async function openConv(page, list, name) {
  await clickText(page, `${list} .conv-name`, name);
  await waitForText(page, '#conversation-title', name);
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

  it('raised no page errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
