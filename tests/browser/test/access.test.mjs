// Sign-up, keyboard and phone details of the web client (issue 19's last minor items): a
// refused sign-up marks the field at fault and ties the reason to it, before anything is
// sent when the client knows the server's rule; the log-in form comes back filled in with the
// address just verified; text fields show a focus ring that can be seen; a "skip to the
// message box" link is the first Tab stop; the member list closes by a button or Escape; and
// on a phone the offline banner covers no message, a short guild name is not cut and my own
// name is shown.
//
// One person, dora, reaching the server through a relay the test can cut. One scenario, in
// order: each step starts from where the previous one left off.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Relay, Server, SmtpSink, expectFailedResponse, fill, launchBrowser, makeTestCa, tempDir,
  unmetExpectations, waitForHidden, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-access-');
const EMAIL = 'dora@example.test';
const SPACES = '        ';  // eight: the server takes any 8 to 128 bytes, and so does the client
let smtp, server, relay, browser, page;
const problems = [];
const registers = [];  // sign-up requests sent

// WCAG's contrast ratio of two computed colours ("rgb(r, g, b)").
function contrast(a, b) {
  const lum = (css) => {
    const [r, g, bl] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

async function submitSignup(name, password) {
  await fill(page, '#signup-name', name);
  await fill(page, '#signup-email', EMAIL);
  await page.$eval('#signup-password', (e) => { e.value = ''; });
  await page.type('#signup-password', password);
  await page.click('#signup-form button[type=submit]');
}

// The field's state: aria-invalid, and the text of the elements its aria-describedby names.
async function fieldState(id) {
  return page.$eval(`#${id}`, (e) => ({
    invalid: e.getAttribute('aria-invalid'),
    described: (e.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean)
      .map((d) => document.getElementById(d).textContent).join(' | '),
    focused: document.activeElement === e,
  }));
}

describe('sign-up, keyboard and phone details', () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    relay = await new Relay().start(server.port);
    browser = await launchBrowser();
    page = await (await browser.createBrowserContext()).newPage();
    problems.push(watchPage(page, [relay.base, server.base]));
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/auth/register')) registers.push(r.url()); });
  });

  after(async () => {
    if (browser) await browser.close();
    if (relay) await relay.stop();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('shows a text field\'s focus ring at 3:1 or more against the card', async () => {
    await page.goto(relay.base + '/');
    await waitForVisible(page, '#login-form');
    await page.focus('#login-email');
    const ring = await page.$eval('#login-email', (e) => {
      const s = getComputedStyle(e);
      return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
              behind: getComputedStyle(document.querySelector('#login-card')).backgroundColor};
    });
    assert.equal(ring.style, 'solid');
    assert.ok(ring.width >= 2, `outline ${ring.width}px`);
    const ratio = contrast(ring.color, ring.behind);
    assert.ok(ratio >= 3, `focus ring ${ring.color} on ${ring.behind}: ${ratio.toFixed(2)}:1`);
  });

  it('says the name rule, and marks the field at fault before sending what the server would refuse', async () => {
    await page.click('#show-signup');
    assert.match(await fieldState('signup-name').then((s) => s.described), /any script/);
    await submitSignup('d', 'password123');
    await waitForText(page, '#signup-name-error', 'A name is 2–32 characters long.');
    assert.deepEqual(await fieldState('signup-name'), {
      invalid: 'true', focused: true,
      described: (await page.$eval('#signup-name-hint', (e) => e.textContent)) + ' | A name is 2–32 characters long.'});
    assert.equal((await fieldState('signup-password')).invalid, null);
    // Typing again clears the mark.
    await page.type('#signup-name', 'ora');
    assert.equal((await fieldState('signup-name')).invalid, null);
    assert.equal(await page.$eval('#signup-name-error', (e) => e.textContent), '');

    await submitSignup('dora', 'short');
    await waitForText(page, '#signup-password-error', 'A password is 8–128 characters long');
    const password = await fieldState('signup-password');
    assert.equal(password.invalid, 'true');
    assert.ok(password.focused);
    assert.match(password.described, /8 to 128 characters.*\| A password is 8–128/);
    assert.equal((await fieldState('signup-name')).invalid, null);
    assert.deepEqual(registers, [], 'nothing was sent');
  });

  it('marks the field the server refuses, with the server\'s reason', async () => {
    expectFailedResponse(page, 'POST', '/api/v1/auth/register', 400);
    await submitSignup('_dora', 'password123');
    await waitForText(page, '#signup-name-error', 'This name cannot be used.');
    const name = await fieldState('signup-name');
    assert.equal(name.invalid, 'true');
    assert.ok(name.focused);
    assert.match(name.described, /This name cannot be used/);
    assert.equal((await fieldState('signup-password')).invalid, null);
    assert.equal((await fieldState('signup-email')).invalid, null);
    assert.equal(registers.length, 1);
  });

  it('takes a password of eight spaces as the server does, and fills in the address after verifying', async () => {
    await submitSignup('dora', SPACES);
    await waitForText(page, '#signup-done', 'Check your mail');
    const link = (await smtp.linkFor(EMAIL)).replace(server.base, relay.base);
    await page.goto(link);
    await waitForText(page, 'h1', 'Welcome, dora');
    await Promise.all([page.waitForNavigation(), page.click('a[href="/"]')]);
    await waitForVisible(page, '#login-form');
    assert.equal(await page.$eval('#login-email', (e) => e.value), EMAIL);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'login-password');
    await page.keyboard.type(SPACES);
    await page.keyboard.press('Enter');
    await waitForText(page, '#me', 'dora');
    await waitForText(page, '#connection', 'online');
    assert.deepEqual(unmetExpectations(), []);
  });

  it('makes "skip to the message box" the first Tab stop', async () => {
    await page.click('#new-guild-link');
    await fill(page, '#guild-name', 'Saturday hiking club');
    await page.click('#new-guild-form button[type=submit]');
    await waitForText(page, '#conversation-title', 'Saturday hiking club');
    for (let i = 1; i <= 30; i++) {
      await page.$eval('#composer-input', (e) => { e.value = ''; });
      await page.type('#composer-input', `message ${i}`);
      await page.keyboard.press('Enter');
      await waitForText(page, '#message-list .message:not(.outbox) .message-text', `message ${i}`);
    }
    // From the top of the page (the focus on <body>, as after a load), the first Tab.
    await page.evaluate(() => {
      document.body.tabIndex = -1;
      document.body.focus();
      document.body.removeAttribute('tabindex');
    });
    const hiddenBefore = await page.$eval('#skip-link', (e) => e.getBoundingClientRect().bottom <= 0);
    assert.ok(hiddenBefore, 'out of sight until focused');
    await page.keyboard.press('Tab');
    const skip = await page.evaluate(() => {
      const e = document.activeElement;
      const r = e.getBoundingClientRect();
      return {id: e.id, text: e.textContent, inView: r.top >= 0 && r.bottom <= innerHeight && r.width > 20};
    });
    assert.deepEqual(skip, {id: 'skip-link', text: 'Skip to the message box', inView: true});
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
  });

  it('closes the member list by its button and by Escape', async () => {
    await page.click('#members-toggle');
    await waitForVisible(page, '#members-panel');
    const close = await page.$eval('#members-close', (e) => e.getAttribute('aria-label'));
    assert.equal(close, 'Close the member list');
    await page.click('#members-close');
    await waitForHidden(page, '#members-panel');
    assert.equal(await page.$eval('#members-toggle', (e) => e.getAttribute('aria-expanded')), 'false');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'members-toggle');
    await page.keyboard.press('Enter');
    await waitForVisible(page, '#members-panel');
    assert.ok(await page.evaluate(() => document.querySelector('#members-panel').contains(document.activeElement)));
    await page.keyboard.press('Escape');
    await waitForHidden(page, '#members-panel');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'members-toggle');
  });

  it('on a phone: shows my name, does not cut a short guild name, and the offline banner covers no message', async () => {
    await page.setViewport({width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2});
    await waitForVisible(page, '#conversation-title');
    const header = await page.evaluate(() => {
      const title = document.querySelector('#conversation-title');
      const me = document.querySelector('#me');
      const r = me.getBoundingClientRect();
      return {cut: title.scrollWidth > title.clientWidth || title.scrollHeight > title.clientHeight + 1, title: title.textContent,
              me: me.textContent, meShown: r.width > 0 && r.left >= 0 && r.right <= innerWidth,
              nameShown: document.querySelector('#me .me-name').scrollWidth > 0,
              width: document.documentElement.scrollWidth};
    });
    assert.deepEqual(header, {cut: false, title: 'Saturday hiking club', me: 'Ddora', meShown: true, nameShown: true,
                              width: 390});

    // At the newest message, the connection goes. (Once, on a loaded machine, the list was
    // found empty right after the banner showed: the measure waits for the message.)
    const newestShown = () => page.waitForFunction(() => {
      const last = [...document.querySelectorAll('#message-list .message')].at(-1);
      return last && last.querySelector('.message-text').textContent === 'message 30';
    }, {polling: 'mutation', timeout: 10000});
    await newestShown();
    await page.$eval('#messages', (e) => { e.scrollTop = e.scrollHeight; });
    await relay.cut();
    await waitForVisible(page, '#offline-banner');
    await newestShown();
    const layout = await page.evaluate(() => {
      const banner = document.querySelector('#offline-banner').getBoundingClientRect();
      const box = document.querySelector('#messages').getBoundingClientRect();
      const last = [...document.querySelectorAll('#message-list .message')].at(-1);
      const r = last.getBoundingClientRect();
      return {text: last.querySelector('.message-text').textContent,
              overlaps: r.bottom > banner.top && r.top < banner.bottom,
              inBox: r.top >= box.top - 1 && r.bottom <= box.bottom + 1,
              bannerOverBox: box.bottom > banner.top && box.top < banner.bottom};
    });
    assert.deepEqual(layout, {text: 'message 30', overlaps: false, inBox: true, bannerOverBox: false});
    await relay.restore();
    await waitForText(page, '#connection', 'online', 30000);
    await waitForHidden(page, '#offline-banner');
  });

  it('did nothing unexpected', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
