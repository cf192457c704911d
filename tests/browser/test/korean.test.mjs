// The web client in Korean: a browser whose language is Korean gets the client in Korean,
// and two people with Hangul names (민수 and 지은) go through the main flow: sign-up, the
// verification mail (in Korean), a friend request by name, a conversation with times in
// Korean and in the browser's time zone. Then: switching the language changes the strings
// without a reload and is kept; the sign-up's mail follows the interface's language even
// when the browser's differs; an Enter that commits an input method's composition does not
// send.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  PASSWORD, Server, SmtpSink, clickText, fill, installSocketTap, launchBrowser, makeTestCa,
  tempDir, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-ko-');
const ZONE = 'Asia/Seoul';
let smtp, server, browser, minsu, jieun;
const problems = [];

// Signs `name` up through the Korean client, checks the mail is in Korean, opens its link
// (a Korean page), follows it back to the client and logs in.
async function signUpInKorean(page, name, email) {
  await page.goto(server.base + '/');
  await waitForVisible(page, '#login-form');
  await page.click('#show-signup');
  await waitForText(page, '#signup-title', '계정 만들기');
  await fill(page, '#signup-name', name);
  await fill(page, '#signup-email', email);
  await fill(page, '#signup-password', PASSWORD);
  await page.click('#signup-form button[type=submit]');
  await waitForText(page, '#signup-done-title', '메일을 확인하세요');
  await waitForText(page, '#signup-done-text', `${email}(으)로 링크를 보냈습니다`);
  const mail = await smtp.mailFor(email);
  assert.match(mail.text, /^Subject: REWIND 계정 인증\r?$/m);
  assert.ok(mail.text.includes(`${name}님, 안녕하세요.`), mail.text);
  await page.goto(mail.link);
  await waitForText(page, 'h1', `${name}님, 환영합니다`);
  await Promise.all([page.waitForNavigation(), page.click('a[href="/"]')]);
  await waitForText(page, '#login-title', '로그인');
  await fill(page, '#login-email', email);
  await fill(page, '#login-password', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await waitForText(page, '#me', name);
  await waitForText(page, '#connection', '온라인');
}

// How Chromium's Korean formats `iso` with {hour: '2-digit', minute: '2-digit'} in Seoul
// (UTC+9, no daylight saving): "오후 09:05". Written out, so that the test does not ask Intl
// the question the client asks it.
function seoulTime(iso) {
  const d = new Date(new Date(iso).getTime() + 9 * 3600 * 1000);
  const hour = d.getUTCHours();
  const pad = (n) => String(n).padStart(2, '0');
  return `${hour < 12 ? '오전' : '오후'} ${pad(hour % 12 === 0 ? 12 : hour % 12)}:${pad(d.getUTCMinutes())}`;
}

async function chatFramesSent(page) {
  return page.evaluate(() => window.__tap.chatSends);
}

describe('web client in Korean', {timeout: 120000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    browser = await launchBrowser({lang: 'ko-KR'});
    minsu = await (await browser.createBrowserContext()).newPage();
    jieun = await (await browser.createBrowserContext()).newPage();
    // 민수's page counts the chat frames it sends (window.__tap.chatSends).
    await installSocketTap(minsu);
    await minsu.evaluateOnNewDocument(() => {
      window.__tap.chatSends = 0;
      window.__tap.onSend = (frame) => {
        if (frame.type === 'chat') window.__tap.chatSends += 1;
      };
    });
    for (const page of [minsu, jieun]) {
      await page.emulateTimezone(ZONE);
      problems.push(watchPage(page, [server.base]));
    }
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('speaks Korean to a browser whose language is Korean', async () => {
    await minsu.goto(server.base + '/');
    await waitForVisible(minsu, '#login-form');
    assert.equal(await minsu.evaluate(() => document.documentElement.lang), 'ko');
    assert.equal(await minsu.$eval('#auth-lang', (e) => e.value), 'ko');
    assert.equal(await minsu.$eval('#login-title', (e) => e.textContent), '로그인');
    assert.equal(await minsu.$eval('#show-signup', (e) => e.textContent), '가입하기');
    assert.equal(await minsu.$eval('label[for=login-password]', (e) => e.textContent), '비밀번호');
  });

  it('signs 민수 and 지은 up through a Korean mail and logs them in', async () => {
    await signUpInKorean(minsu, '민수', 'minsu@example.test');
    await signUpInKorean(jieun, '지은', 'jieun@example.test');
    assert.equal(await minsu.$eval('#logout', (e) => e.textContent), '로그아웃');
    assert.equal(await minsu.$eval('#friends-link span', (e) => e.textContent), '친구');
  });

  it('sends a friend request by a Hangul name and accepts it', async () => {
    await minsu.click('#friends-link');
    await waitForText(minsu, '#friends-title', '친구');
    await fill(minsu, '#friend-name', '지은');
    await minsu.click('#add-friend-form button[type=submit]');
    await waitForText(minsu, '#outgoing-list', '지은');
    await waitForText(jieun, '#request-badge', '1');
    assert.equal(await jieun.$eval('#request-badge', (e) => e.getAttribute('aria-label')), '친구 요청 1개');
    await jieun.click('#friends-link');
    await waitForText(jieun, '#incoming-list', '민수');
    await clickText(jieun, '#incoming-list button', '수락');
    await waitForText(jieun, '#dm-list', '민수');
    await waitForText(minsu, '#dm-list', '지은');
    assert.equal(await minsu.$eval('#friend-list a', (e) => e.getAttribute('aria-label')), '지은님에게 메시지 보내기');
  });

  it('chats, with times in Korean and in the browser\'s time zone', async () => {
    await clickText(minsu, '#dm-list .conv-name', '지은');
    await waitForText(minsu, '#conversation-title', '지은');
    await waitForText(minsu, '#history-status', '아직 메시지가 없습니다');
    assert.equal(await minsu.$eval('#composer-input', (e) => e.placeholder), '지은님에게 메시지 보내기');
    assert.equal(await minsu.$eval('#conversation-sub', (e) => e.textContent), '1:1 대화');
    await minsu.focus('#composer-input');
    await minsu.keyboard.type('안녕하세요, 지은님!');
    await minsu.keyboard.press('Enter');
    await clickText(jieun, '#dm-list .conv-name', '민수');
    await waitForText(jieun, '#message-list .message-text', '안녕하세요, 지은님!');
    await waitForText(minsu, '#message-list .message-text', '안녕하세요, 지은님!');
    await waitForText(jieun, '#history-status', '대화의 처음입니다.');
    for (const page of [minsu, jieun]) {
      const {text, iso, title} = await page.$eval('#message-list .message-meta time',
        (e) => ({text: e.textContent, iso: e.dateTime, title: e.title}));
      assert.match(text, /^(오전|오후) \d\d:\d\d$/);
      assert.equal(text, seoulTime(iso));
      assert.match(title, /^\d{4}년 \d{1,2}월 \d{1,2}일 [월화수목금토일]요일 (오전|오후) /);
    }
    await jieun.focus('#composer-input');
    await jieun.keyboard.type('민수 씨 반가워요');
    await jieun.keyboard.press('Enter');
    await waitForText(minsu, '#message-list .message-text', '민수 씨 반가워요');
  });

  it('does not send on the Enter that commits a composition', async () => {
    const before = await chatFramesSent(minsu);
    const count = await minsu.$$eval('#message-list .message', (els) => els.length);
    await minsu.focus('#composer-input');
    await minsu.keyboard.type('한글 입력');
    // The Enter that ends an input method's composition: marked isComposing, or (in some
    // browsers) reported only as keyCode 229.
    const results = await minsu.evaluate(() => {
      const input = document.querySelector('#composer-input');
      const composing = new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', isComposing: true, bubbles: true, cancelable: true});
      const legacy = new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', bubbles: true, cancelable: true});
      Object.defineProperty(legacy, 'keyCode', {value: 229});
      return [input.dispatchEvent(composing), input.dispatchEvent(legacy)];
    });
    // Not handled (not cancelled), nothing sent, the text still there.
    assert.deepEqual(results, [true, true]);
    assert.equal(await chatFramesSent(minsu), before);
    assert.equal(await minsu.$eval('#composer-input', (e) => e.value), '한글 입력');
    // The same in the box that edits a message.
    await clickText(minsu, '#message-list .message.mine button', '수정');
    await waitForVisible(minsu, '.edit-input');
    await minsu.$eval('.edit-input', (e) => { e.value = '안녕하세요, 지은 님!'; });
    const saved = await minsu.$eval('.edit-input', (input) => input.dispatchEvent(new KeyboardEvent('keydown',
      {key: 'Enter', isComposing: true, bubbles: true, cancelable: true})));
    assert.equal(saved, true);
    assert.equal(await chatFramesSent(minsu), before);
    await minsu.keyboard.press('Escape');
    // A form's field (adding a friend) does not submit on it either: its Enter is cancelled,
    // and only that one.
    const cancelled = await minsu.$eval('#friend-name', (input) => {
      const enter = (init, keyCode) => {
        const event = new KeyboardEvent('keydown', {key: 'Enter', bubbles: true, cancelable: true, ...init});
        if (keyCode) Object.defineProperty(event, 'keyCode', {value: keyCode});
        return !input.dispatchEvent(event);
      };
      return [enter({isComposing: true}), enter({}, 229), enter({})];
    });
    assert.deepEqual(cancelled, [true, true, false]);
    // A plain Enter then sends.
    await minsu.focus('#composer-input');
    await minsu.keyboard.press('Enter');
    await waitForText(jieun, '#message-list .message-text', '한글 입력');
    assert.equal(await chatFramesSent(minsu), before + 1);
    assert.equal(await minsu.$eval('#composer-input', (e) => e.value), '');
    assert.equal(await minsu.$$eval('#message-list .message', (els) => els.length), count + 1);
  });

  it('switches to English and back without a reload, and keeps the choice', async () => {
    const marker = await minsu.evaluate(() => (window.__notReloaded = true));
    await minsu.select('#app-lang', 'en');
    await waitForText(minsu, '#friends-link', 'Friends');
    assert.equal(await minsu.evaluate(() => document.documentElement.lang), 'en');
    assert.equal(await minsu.$eval('#logout', (e) => e.textContent), 'Log out');
    assert.equal(await minsu.$eval('#connection', (e) => e.textContent), 'online');
    assert.equal(await minsu.$eval('#composer-input', (e) => e.placeholder), 'Message 지은');
    assert.equal(await minsu.$eval('#history-status', (e) => e.textContent), 'This is the beginning of the conversation.');
    assert.equal(await minsu.$eval('#message-list .message.mine button', (e) => e.textContent), 'Edit');
    assert.match(await minsu.$eval('#message-list .message-meta time', (e) => e.textContent), /^\d\d:\d\d [AP]M$/);
    assert.equal(await minsu.evaluate(() => window.__notReloaded), marker);

    // Kept for the next visit, over the browser's language.
    await minsu.reload();
    await waitForText(minsu, '#connection', 'online');
    assert.equal(await minsu.$eval('#app-lang', (e) => e.value), 'en');
    assert.equal(await minsu.$eval('#logout', (e) => e.textContent), 'Log out');

    await minsu.select('#app-lang', 'ko');
    await waitForText(minsu, '#friends-link', '친구');
    assert.equal(await minsu.evaluate(() => document.documentElement.lang), 'ko');
    assert.equal(await minsu.$eval('#logout', (e) => e.textContent), '로그아웃');
    assert.equal(await minsu.$eval('#connection', (e) => e.textContent), '온라인');
  });

  it('shows errors in Korean', async () => {
    await jieun.click('#friends-link');
    await fill(jieun, '#friend-name', '없는사람');
    await jieun.click('#add-friend-form button[type=submit]');
    await waitForText(jieun, '#friend-error', '그 이름의 사용자가 없습니다.');
    await fill(jieun, '#friend-name', '민수');
    await jieun.click('#add-friend-form button[type=submit]');
    await waitForText(jieun, '#friend-error', '이미 친구입니다.');
  });

  it('writes the verification mail in the interface\'s language, not the browser\'s', async () => {
    const ctx = await browser.createBrowserContext();
    const page = await ctx.newPage();
    problems.push(watchPage(page, [server.base]));
    await page.goto(server.base + '/');
    await waitForVisible(page, '#login-form');
    await page.select('#auth-lang', 'en');
    await waitForText(page, '#login-title', 'Log in');
    await page.click('#show-signup');
    assert.match(await page.$eval('#signup-name-hint', (e) => e.textContent), /any script/);
    // Characters are counted as the server counts them: 33 syllables are too many, and the
    // field does not cut them off.
    const long = '가'.repeat(33);
    await fill(page, '#signup-name', long);
    await fill(page, '#signup-email', 'long@example.test');
    await fill(page, '#signup-password', PASSWORD);
    await page.click('#signup-form button[type=submit]');
    await waitForText(page, '#signup-name-error', 'A name is 2–32 characters long.');
    assert.equal(await page.$eval('#signup-name', (e) => e.getAttribute('aria-invalid')), 'true');
    assert.equal(await page.$eval('#signup-name', (e) => e.value), long);
    await fill(page, '#signup-name', 'Émilie');
    await fill(page, '#signup-email', 'emilie@example.test');
    await fill(page, '#signup-password', PASSWORD);
    await page.click('#signup-form button[type=submit]');
    await waitForText(page, '#signup-done-title', 'Check your mail');
    const mail = await smtp.mailFor('emilie@example.test');
    assert.match(mail.text, /^Subject: Verify your REWIND account\r?$/m);
    assert.ok(mail.text.includes('Hello Émilie,'), mail.text);
    await ctx.close();
  });

  it('made no request elsewhere, got no unexpected error and raised none', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
