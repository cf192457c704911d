// Deleting an account in the web client: gil, a friend of hal, deletes the account in Account
// (the password and a ticked confirmation are asked for; a wrong password changes nothing),
// lands on the log-in page, and can no longer log in; hal's client sees gil go from the
// friends list at once.
//
// Two people on the real server with the real SMTP server. One scenario, in order.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Server, SmtpSink, clickText, expectFailedResponse, fill, launchBrowser, makeTestCa,
  signUpAndLogIn, tempDir, unmetExpectations, waitForNoText, waitForText, waitForVisible,
  watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-delete-');
let smtp, server, browser, gil, hal, gilEmail;
const problems = [];

describe('deleting an account', {timeout: 120000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser();
    [gil, hal] = await Promise.all([0, 1].map(async () => (await browser.createBrowserContext()).newPage()));
    for (const page of [gil, hal]) problems.push(watchPage(page, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('signs two friends up', async () => {
    gilEmail = await signUpAndLogIn(gil, server.base, smtp, 'gil');
    await signUpAndLogIn(hal, server.base, smtp, 'hal');
    await gil.click('#friends-link');
    await fill(gil, '#friend-name', 'hal');
    await gil.click('#add-friend-form button[type=submit]');
    await waitForText(gil, '#outgoing-list', 'hal');
    await hal.bringToFront();
    await hal.click('#friends-link');
    await clickText(hal, '#incoming-list button', 'Accept');
    await waitForText(hal, '#friend-list', 'gil');
  });

  it('asks for the password and a confirmation, and refuses a wrong password', async () => {
    await gil.bringToFront();
    await gil.click('#account-link');
    await waitForVisible(gil, '#delete-form');
    await gil.click('#delete-form button[type=submit]');
    await waitForText(gil, '#delete-error', 'Enter your password.');
    await fill(gil, '#delete-password', 'password123');
    await gil.click('#delete-form button[type=submit]');
    await waitForText(gil, '#delete-error', 'Tick the box to confirm.');
    expectFailedResponse(gil, 'POST', '/api/v1/auth/delete_account', 401);
    await fill(gil, '#delete-password', 'not-my-password');
    await gil.click('#delete-confirm');
    await gil.click('#delete-form button[type=submit]');
    await waitForText(gil, '#delete-error', 'The password is incorrect.');
    await waitForText(gil, '#connection', 'online');
  });

  it('deletes the account: back to the log-in page, and the friend sees gil go', async () => {
    await fill(gil, '#delete-password', 'password123');
    await gil.click('#delete-form button[type=submit]');
    await waitForVisible(gil, '#login-form');
    await waitForText(gil, '#auth-notice', 'Your account was deleted.');
    await hal.bringToFront();
    await waitForNoText(hal, '#friend-list', 'gil');
    await gil.bringToFront();
    expectFailedResponse(gil, 'POST', '/api/v1/auth/login', 401);
    await fill(gil, '#login-email', gilEmail);
    await fill(gil, '#login-password', 'password123');
    await gil.click('#login-form button[type=submit]');
    await waitForText(gil, '#login-error', 'The email or password is incorrect.');
  });

  it('did nothing unexpected', () => {
    assert.deepEqual([...problems.flat(), ...unmetExpectations()], []);
  });
});
