// Takes the screenshots of docs/screenshots/ (not part of the test run):
//   cd tests/browser && npm ci && REWIND_BUILD_DIR=../../build node screenshots.mjs
// The same real server, SMTP server and chromium as the tests, with a few people and
// messages so that the screens look like use.
// The Korean ones need a font with Hangul (Debian: fonts-nanum or fonts-noto-cjk).

import fs from 'node:fs';
import path from 'node:path';

import {
  ROOT, Server, SmtpSink, clickText, fill, launchBrowser, makeTestCa, signUpAndLogIn, tempDir,
  waitForText,
} from './lib/harness.mjs';

const OUT = path.join(ROOT, 'docs', 'screenshots');
const DESKTOP = {width: 1200, height: 760, deviceScaleFactor: 1};
const PHONE = {width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true};

async function say(page, text) {
  await page.waitForFunction(() => !document.querySelector('#send-button').disabled);
  await page.focus('#composer-input');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
  await waitForText(page, '#message-list', text.split('\n')[0]);
}

async function befriend(page, other, otherName, name) {
  await page.goto(page.url().split('#')[0] + '#friends');
  await fill(page, '#friend-name', otherName);
  await page.click('#add-friend-form button[type=submit]');
  await other.goto(other.url().split('#')[0] + '#friends');
  await waitForText(other, '#incoming-list', name);
  await clickText(other, '#incoming-list button', 'Accept');
  await waitForText(page, '#friend-list', otherName);
}

async function shoot(page, name) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({path: path.join(OUT, `${name}.png`)});
  console.log(`docs/screenshots/${name}.png`);
}

const dir = tempDir('rewind-shots-');
const ca = makeTestCa(dir);
const smtp = await new SmtpSink().start(ca, dir);
fs.mkdirSync(path.join(dir, 'data'));
const server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
const browser = await launchBrowser();
try {
  fs.mkdirSync(OUT, {recursive: true});
  const pages = {};
  for (const name of ['mina', 'jun', 'sora', 'theo']) {
    const ctx = await browser.createBrowserContext();
    pages[name] = await ctx.newPage();
    pages[name].setDefaultTimeout(10000);
    await pages[name].setViewport(DESKTOP);
  }
  const {mina, jun, sora, theo} = pages;

  await mina.goto(server.base + '/');
  await mina.waitForSelector('#login-form', {visible: true});
  await shoot(mina, 'login');

  for (const [name, page] of Object.entries(pages)) await signUpAndLogIn(page, server.base, smtp, name);
  await befriend(mina, jun, 'jun', 'mina');
  await befriend(mina, sora, 'sora', 'mina');
  await befriend(jun, sora, 'sora', 'jun');
  // theo asks mina, who has not answered yet; mina asked someone too.
  await theo.goto(server.base + '/#friends');
  await fill(theo, '#friend-name', 'mina');
  await theo.click('#add-friend-form button[type=submit]');
  await waitForText(mina, '#incoming-list', 'theo');

  await mina.goto(server.base + '/#dm/' + await mina.$eval('#dm-list a', (a) => a.getAttribute('href').split('/')[1]));
  await jun.goto(server.base + '/');
  await clickText(jun, '#dm-list .conv-name', 'mina');
  await clickText(mina, '#dm-list .conv-name', 'jun');
  await say(mina, 'Are we still on for Saturday?');
  await say(jun, 'Yes! 10 at the station?');
  await say(mina, 'Perfect. I will bring the tickets.');
  await say(jun, 'Great, I booked the table for lunch too.');
  await say(jun, 'The forecast says sun all day');
  await say(mina, 'See you there!');
  // An edit, as a person would fix a typo.
  const last = await jun.waitForFunction(() => [...document.querySelectorAll('#message-list .message.mine')].at(-1));
  await last.asElement().hover();
  await (await last.asElement().$('button.edit')).click();
  await jun.$eval('.edit-input', (e) => { e.value = ''; });
  await jun.type('.edit-input', 'The forecast says sun all day (and 24°C)');
  await jun.keyboard.press('Enter');
  await waitForText(mina, '#message-list', '24°C');
  await shoot(mina, 'conversation');
  // A message the server refused (a control character) stays, with the reason and choices.
  await mina.focus('#composer-input');
  await mina.$eval('#composer-input', (e) => { e.value = 'Row 12, seats 4\u0007 and 5'; e.dispatchEvent(new Event('input')); });
  await mina.keyboard.press('Enter');
  await mina.waitForSelector('#message-list .message.outbox[data-state=failed]');
  await shoot(mina, 'not-sent');
  await clickText(mina, '#message-list .outbox button', 'Discard');

  await mina.goto(server.base + '/#friends');
  await waitForText(mina, '#incoming-list', 'theo');
  await shoot(mina, 'friends');

  await mina.goto(server.base + '/#new-guild');
  await fill(mina, '#guild-name', 'weekend crew');
  await mina.click('#new-guild-form button[type=submit]');
  await waitForText(mina, '#conversation-title', 'weekend crew');
  for (const friend of ['jun', 'sora']) {
    await mina.click('#members-toggle');
    await mina.select('#add-member-select', friend);
    await mina.click('#add-member-form button[type=submit]');
    await waitForText(mina, '#member-list', friend);
    await mina.click('#members-toggle');
  }
  await waitForText(sora, '#guild-list', 'weekend crew');
  await clickText(sora, '#guild-list .conv-name', 'weekend crew');
  await clickText(jun, '#guild-list .conv-name', 'weekend crew');
  await say(mina, 'Made a group for Saturday');
  await say(sora, 'Count me in!');
  await say(jun, 'Station at 10, lunch at 1.');
  await say(sora, 'I can drive back if anyone needs a ride.');
  await mina.click('#members-toggle');
  await shoot(mina, 'guild');

  const phone = await (mina.browserContext()).newPage();
  phone.setDefaultTimeout(10000);
  await phone.setViewport(PHONE);
  await phone.goto(server.base + '/');
  await waitForText(phone, '#dm-list', 'jun');
  await shoot(phone, 'phone-list');
  await clickText(phone, '#dm-list .conv-name', 'jun');
  await waitForText(phone, '#message-list', '24°C');
  await shoot(phone, 'phone-conversation');

  // The same client in Korean: the conversation, switched in its header, and the log-in
  // screen of a browser whose language is Korean.
  await mina.bringToFront();  // behind the phone's page it gets no frames
  await clickText(mina, '#dm-list .conv-name', 'jun');
  await waitForText(mina, '#message-list', '24°C');
  await mina.select('#app-lang', 'ko');
  await waitForText(mina, '#friends-link', '친구');
  await shoot(mina, 'conversation-ko');
  const koBrowser = await launchBrowser({lang: 'ko-KR'});
  try {
    const ko = await koBrowser.newPage();
    await ko.setViewport(DESKTOP);
    await ko.goto(server.base + '/');
    await waitForText(ko, '#login-title', '로그인');
    await shoot(ko, 'login-ko');
  } finally {
    await koBrowser.close();
  }
} finally {
  await browser.close();
  await server.stop();
  smtp.stop();
  fs.rmSync(dir, {recursive: true, force: true});
}
