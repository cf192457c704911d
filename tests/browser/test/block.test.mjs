// Blocking in the web client: ivy blocks her friend jon from the friend area; jon's client
// drops the friendship at once, their open conversation no longer takes a message, and his
// new friend request reads as a name nobody has. ivy finds jon in Account's "Blocked users",
// unblocks him, and jon can ask again.
//
// Two people on the real server with the real SMTP server. One scenario, in order.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Server, SmtpSink, clickText, fill, launchBrowser, makeTestCa, signUpAndLogIn, tempDir,
  unmetExpectations, waitForNoText, waitForText, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-block-');
let smtp, server, browser, ivy, jon;
const problems = [];

async function sendMessage(page, text) {
  await page.waitForFunction(() => !document.querySelector('#send-button').disabled, {polling: 'mutation'});
  await page.focus('#composer-input');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

async function askFriend(page, name) {
  await page.click('#friends-link');
  await fill(page, '#friend-name', name);
  await page.click('#add-friend-form button[type=submit]');
}

describe('blocking a friend', {timeout: 120000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser();
    [ivy, jon] = await Promise.all([0, 1].map(async () => (await browser.createBrowserContext()).newPage()));
    for (const page of [ivy, jon]) problems.push(watchPage(page, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('makes ivy and jon friends, and jon writes to ivy', async () => {
    await signUpAndLogIn(ivy, server.base, smtp, 'ivy');
    await signUpAndLogIn(jon, server.base, smtp, 'jon');
    await askFriend(ivy, 'jon');
    await waitForText(ivy, '#outgoing-list', 'jon');
    await jon.bringToFront();
    await jon.click('#friends-link');
    await clickText(jon, '#incoming-list button', 'Accept');
    await waitForText(jon, '#friend-list', 'ivy');
    await clickText(jon, '#dm-list .conv-name', 'ivy');
    await waitForText(jon, '#conversation-title', 'ivy');
    await sendMessage(jon, 'hello ivy');
    await waitForText(jon, '#message-list', 'hello ivy');
  });

  it('ivy blocks jon from the friend area; jon can no longer message nor ask her', async () => {
    await ivy.bringToFront();
    await ivy.click('#friends-link');
    await waitForText(ivy, '#friend-list', 'jon');
    await clickText(ivy, '#friend-list button', 'Block');
    await clickText(ivy, '#friend-list button', 'Block jon?');
    await waitForNoText(ivy, '#friend-list', 'jon');

    // jon's open conversation stays, to read, but no longer takes a message.
    await jon.bringToFront();
    await waitForNoText(jon, '#friend-list', 'ivy');
    await waitForText(jon, '#conversation-notice', 'You are no longer friends with ivy');
    assert.ok(await jon.$eval('#send-button', (e) => e.disabled));

    await askFriend(jon, 'ivy');
    await waitForText(jon, '#friend-error', 'No user has that name.');
    await waitForNoText(jon, '#outgoing-list', 'ivy');
  });

  it('lists jon in Account, where ivy unblocks him; then jon can ask again', async () => {
    await ivy.bringToFront();
    await askFriend(ivy, 'jon');
    await waitForText(ivy, '#friend-error', 'You blocked this person.');
    await ivy.click('#account-link');
    await waitForText(ivy, '#blocked-list', 'jon');
    await clickText(ivy, '#blocked-list button', 'Unblock');
    await waitForNoText(ivy, '#blocked-list', 'jon');
    assert.ok(!(await ivy.$eval('#blocked-empty', (e) => e.hidden)));

    await jon.bringToFront();
    await askFriend(jon, 'ivy');
    await waitForText(jon, '#outgoing-list', 'ivy');
    await ivy.bringToFront();
    await ivy.click('#friends-link');
    await waitForText(ivy, '#incoming-list', 'jon');
  });

  it('did nothing unexpected', () => {
    assert.deepEqual([...problems.flat(), ...unmetExpectations()], []);
  });
});
