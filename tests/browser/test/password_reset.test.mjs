// Passwords in the web client: a person changes their password in Account, then forgets it,
// asks for a link from the log-in screen, opens the mailed link, chooses a new password and
// logs in with it; the same link then no longer works.
//
// One person, fern, on the real server with the real SMTP server. One scenario, in order.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Server, SmtpSink, expectFailedResponse, fill, launchBrowser, makeTestCa, signUpAndLogIn,
  tempDir, unmetExpectations, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-password-');
const NAME = 'fern';
const CHANGED = 'changed-password-1';
const RESET = 'reset-password-22';
let smtp, server, browser, page, email;
const problems = [];

// The link of the newest password reset mail to `address`, waiting for it to arrive.
async function resetLinkFor(address, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = fs.existsSync(smtp.dir) ? fs.readdirSync(smtp.dir).filter((f) => f.endsWith('.eml')).sort() : [];
    for (const f of files.reverse()) {
      const text = fs.readFileSync(path.join(smtp.dir, f), 'utf8');
      if (!new RegExp(`^To:.*${address.replace(/[.+]/g, "\\$&")}`, "mi").test(text)) continue;
      const m = /https?:\/\/\S+\/#reset=[A-Za-z0-9_-]+/.exec(text);
      if (m) return m[0];
    }
    if (Date.now() > deadline) throw new Error(`no reset mail to ${address}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function logIn(password) {
  await waitForVisible(page, '#login-form');
  await fill(page, '#login-email', email);
  await fill(page, '#login-password', password);
  await page.click('#login-form button[type=submit]');
}

describe('changing and resetting a password', () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser();
    page = await (await browser.createBrowserContext()).newPage();
    problems.push(watchPage(page, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('changes the password in Account, and refuses a wrong current one', async () => {
    email = await signUpAndLogIn(page, server.base, smtp, NAME);
    await page.click('#account-link');
    await waitForVisible(page, '#password-form');
    expectFailedResponse(page, 'POST', '/api/v1/auth/password_change', 401);
    await fill(page, '#current-password', 'not-my-password');
    await fill(page, '#new-password', CHANGED);
    await page.click('#password-form button[type=submit]');
    await waitForText(page, '#password-error', 'The current password is incorrect.');
    await fill(page, '#current-password', 'password123');
    await fill(page, '#new-password', CHANGED);
    await page.click('#password-form button[type=submit]');
    await waitForText(page, '#password-done', 'Your password was changed.');
    // This session goes on: the change ends only the other ones.
    await waitForText(page, '#connection', 'online');
    await page.click('#logout');
    await waitForVisible(page, '#login-form');
  });

  it('mails a link from "Forgot password?" that sets a new password', async () => {
    await page.click('#show-forgot');
    await waitForVisible(page, '#forgot-form');
    assert.equal(await page.$eval('#forgot-email', (e) => e.value), email);  // carried over
    await page.click('#forgot-form button[type=submit]');
    await waitForText(page, '#forgot-done', `If ${email} has an account`);

    const link = await resetLinkFor(email);
    assert.ok(link.startsWith(server.base + '/#reset='), link);
    await page.goto(link);
    await waitForText(page, '#reset-card h2', 'Choose a new password');
    await fill(page, '#reset-password', RESET);
    await page.click('#reset-form button[type=submit]');
    await waitForText(page, '#auth-notice', 'Your password was changed');
    assert.ok(!page.url().includes('reset='), page.url());  // the key leaves the address bar

    expectFailedResponse(page, 'POST', '/api/v1/auth/login', 401);
    await logIn(CHANGED);  // the password before the reset
    await waitForText(page, '#login-error', 'The email or password is incorrect.');
    await logIn(RESET);
    await waitForText(page, '#me', NAME);
    await waitForText(page, '#connection', 'online');

    // The link worked once.
    await page.click('#logout');
    await waitForVisible(page, '#login-form');
    expectFailedResponse(page, 'POST', '/api/v1/auth/password_reset/confirm', 410);
    await page.goto(link);
    await fill(page, '#reset-password', 'yet-another-pass');
    await page.click('#reset-form button[type=submit]');
    await waitForText(page, '#reset-error', 'This link no longer works');
  });

  it('did nothing unexpected', () => {
    assert.deepEqual([...problems.flat(), ...unmetExpectations()], []);
  });
});
