// Sessions in the web client: a person logged in on two devices (two browser contexts) sees
// both in Account, "this device" marked, and logs the other one out from there; the other
// page returns to log-in at once, without a reload.
//
// One person, gale, on the real server with the real SMTP server. One scenario, in order.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  PASSWORD, Server, SmtpSink, fill, launchBrowser, makeTestCa, signUpAndLogIn, tempDir,
  unmetExpectations, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-sessions-');
const NAME = 'gale';
const OTHER_AGENT = 'RewindTestTablet/1.0';
let smtp, server, browser, page, other;
const problems = [];

async function sessionRows() {
  return page.$$eval('#session-list li.session', (rows) => rows.map((r) => ({
    id: r.dataset.session,
    current: r.dataset.current !== undefined,
    text: r.textContent,
  })));
}

async function waitForSessionCount(count, timeout = 10000) {
  await page.waitForFunction(
      (n) => document.querySelectorAll('#session-list li.session').length === n,
      {timeout}, count);
}

describe('sessions', () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser();
    page = await (await browser.createBrowserContext()).newPage();
    other = await (await browser.createBrowserContext()).newPage();
    await other.setUserAgent(OTHER_AGENT);
    problems.push(watchPage(page, [server.base]), watchPage(other, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('lists the sessions of both devices in Account, this one marked', async () => {
    const email = await signUpAndLogIn(page, server.base, smtp, NAME);
    await other.goto(server.base + '/');
    await waitForVisible(other, '#login-form');
    await fill(other, '#login-email', email);
    await fill(other, '#login-password', PASSWORD);
    await other.click('#login-form button[type=submit]');
    await waitForText(other, '#connection', 'online');

    await page.click('#account-link');
    await waitForVisible(page, '#sessions-section');
    await waitForSessionCount(2);
    const rows = await sessionRows();
    assert.deepEqual(rows.map((r) => r.current), [true, false]);  // oldest login first
    assert.ok(rows[0].text.includes('This device'), rows[0].text);
    assert.ok(rows[1].text.includes(OTHER_AGENT), rows[1].text);
    assert.ok(!rows[1].text.includes('This device'), rows[1].text);
    assert.ok(rows[1].text.includes('Logged in'), rows[1].text);
  });

  it('logs the other device out, which returns to log-in at once', async () => {
    const [, tablet] = await sessionRows();
    const button = `#session-list li[data-session="${tablet.id}"] button`;
    await page.click(button);
    await waitForText(page, button, 'Log it out?');  // asks first
    await page.click(button);
    await waitForSessionCount(1);
    assert.deepEqual((await sessionRows()).map((r) => r.current), [true]);

    await waitForVisible(other, '#login-form');
    await waitForText(other, '#auth-notice', 'You logged out.');
    // This one goes on.
    await waitForText(page, '#connection', 'online');
  });

  it('did nothing unexpected', () => {
    assert.deepEqual([...problems.flat(), ...unmetExpectations()], []);
  });
});
