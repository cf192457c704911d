// Catching up after being away (protocol v2, "Catch-up after being away"). alice reaches the
// server through a relay the test can cut, bob directly; they are friends and share a
// guild. While alice's tab is offline bob sends, edits and deletes: once she is back, her
// auth asks for what the conversations she holds missed, the server replays it, and the tab
// shows it without loading those conversations' history again: in order, each message once.
// A conversation that missed more than 500 changes is reloaded instead, and shows its
// newest messages.
//
// One scenario, in order: each step starts from where the previous one left off.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {
  Relay, Server, SmtpSink, clickText, fill, installSocketTap, launchBrowser, makeTestCa,
  signUpAndLogIn, tempDir, waitForHidden, waitForText, waitForVisible, watchPage,
} from '../lib/harness.mjs';

const dir = tempDir('rewind-browser-catch-up-');
let smtp, server, relay, browser, alice, bob;
const problems = [];
let dmId, guildId;

// Runs chat requests (`send`, `edit`) one after another over a gateway connection of the
// page's own user, as another device of theirs would, each answered by its event before the
// next goes. `to`: a friend's name or a guild's name; `id`: the message edited (or `ref`: the
// index of an earlier request of the same call whose message it is). Returns the events and
// the chat ids by name.
async function chatOps(page, ops) {
  return page.evaluate(async (ops) => {
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
    send('heartbeat', {count: 0}, 'hb');
    await until(() => frames.some((f) => f.type === 'heartbeat'));
    send('auth', {auth: localStorage.getItem('rewind.token')}, 'auth');
    await until(() => frames.some((f) => f.type === 'auth'));
    const auth = frames.find((f) => f.type === 'auth').payload;
    const chats = {};
    for (const u of auth.mutual_users) chats[u.name] = (BigInt(auth.self_user.id) ^ BigInt(u.id)).toString();
    for (const g of auth.guilds) chats[g.name] = g.id;
    const events = [];
    for (const [i, op] of ops.entries()) {
      const payload = {type: op.type, chat_id: chats[op.to], content: op.content};
      if (op.id) payload.id = op.id;
      if (op.ref !== undefined) payload.id = events[op.ref].id;
      const rid = `op-${i}`;
      send('chat', payload, rid);
      await until(() => frames.some((f) => f.request_id === rid));
      const answer = frames.find((f) => f.request_id === rid);
      if (answer.type !== 'chat') throw new Error(`${JSON.stringify(payload)}: ${JSON.stringify(answer)}`);
      events.push(answer.payload);
    }
    ws.close();
    return {events, chats};
  }, ops);
}

async function messageTexts(page) {
  return page.$$eval('#message-list .message:not(.outbox) .message-text', (els) => els.map((e) => e.textContent));
}

async function waitForMessage(page, text, timeout = 10000) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#message-list .message:not(.outbox) .message-text')]
    .some((e) => e.textContent === t), {timeout, polling: 'mutation'}, text).catch((e) => {
    throw new Error(`no message "${text}": ${e.message}`);
  });
}

async function waitForHistoryIdle(page) {
  await page.waitForFunction(() => document.querySelector('#messages').getAttribute('aria-busy') === 'false', {polling: 'mutation'});
}

async function openConv(page, list, name) {
  await clickText(page, `${list} .conv-name`, name);
  await waitForText(page, '#conversation-title', name);
  await waitForHistoryIdle(page);
}

function numbered(prefix, from, to) {
  return Array.from({length: to - from + 1}, (_, i) => `${prefix} ${from + i}`);
}

// From now on alice's page keeps every frame it sends and receives (window.__sent,
// window.__received), afresh.
async function record(page) {
  await page.evaluate(() => {
    window.__sent = [];
    window.__received = [];
    window.__tap.onSend = (frame) => { window.__sent.push(frame); };
    window.__tap.onReceive = (frame) => { window.__received.push(frame); };
  });
}

async function recorded(page) {
  return page.evaluate(() => ({sent: window.__sent, received: window.__received}));
}

// The history loads (`load` of type `chat`) in `sent` of a chat; `newest`: only those of its
// newest page (older pages load as the reader scrolls up, caught up or not).
const NEWEST_CURSOR = Buffer.from('9999-12-31 23:59:59').toString('base64');
function historyLoads(sent, chatId, newest = false) {
  return sent.filter((f) => f.type === 'load' && f.payload.type === 'chat' && f.payload.load_id === chatId &&
                            (!newest || f.payload.datetime === NEWEST_CURSOR));
}

// alice's network goes away until `away` is done, then comes back.
async function whileAway(away) {
  await relay.cut();
  await waitForVisible(alice, '#offline-banner');
  await away();
  await relay.restore();
  await waitForHidden(alice, '#offline-banner', 20000);
}

describe('catch-up after being away', {timeout: 240000}, () => {
  before(async () => {
    const ca = makeTestCa(dir);
    smtp = await new SmtpSink().start(ca, dir);
    fs.mkdirSync(path.join(dir, 'data'));
    server = await new Server({dataDir: path.join(dir, 'data'), smtp, ca}).start();
    relay = await new Relay().start(server.port);
    browser = await launchBrowser();
    alice = await (await browser.createBrowserContext()).newPage();
    bob = await (await browser.createBrowserContext()).newPage();
    await installSocketTap(alice);
    problems.push(watchPage(alice, [relay.base, server.base]), watchPage(bob, [server.base]));
  });

  after(async () => {
    if (browser) await browser.close();
    if (relay) await relay.stop();
    if (server) await server.stop();
    if (smtp) smtp.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  });

  it('makes alice and bob friends in a guild, alice holding both conversations', async () => {
    await signUpAndLogIn(alice, relay.base, smtp, 'alice');
    await signUpAndLogIn(bob, server.base, smtp, 'bob');
    await alice.click('#friends-link');
    await fill(alice, '#friend-name', 'bob');
    await alice.click('#add-friend-form button[type=submit]');
    await waitForText(alice, '#outgoing-list', 'bob');
    await bob.click('#friends-link');
    await clickText(bob, '#incoming-list button', 'Accept');
    await waitForText(alice, '#dm-list', 'bob');

    await bob.click('#new-guild-link');
    await fill(bob, '#guild-name', 'crowd');
    await bob.click('#new-guild-form button[type=submit]');
    await waitForText(bob, '#conversation-title', 'crowd');
    await bob.click('#members-toggle');
    await waitForVisible(bob, '#add-member-select');
    await bob.select('#add-member-select', 'alice');
    await bob.click('#add-member-form button[type=submit]');
    await waitForText(alice, '#guild-list', 'crowd');

    const {chats} = await chatOps(bob, [
      {type: 'send', to: 'alice', content: 'one'},
      {type: 'send', to: 'alice', content: 'two'},
      {type: 'send', to: 'alice', content: 'three'},
      {type: 'send', to: 'crowd', content: 'before the crowd'},
    ]);
    dmId = chats.alice;
    guildId = chats.crowd;
    await openConv(alice, '#guild-list', 'crowd');
    await waitForMessage(alice, 'before the crowd');
    await openConv(alice, '#dm-list', 'bob');
    await waitForMessage(alice, 'three');
    assert.deepEqual(await messageTexts(alice), ['one', 'two', 'three']);
  });

  it('shows what was sent, edited and deleted while offline without loading the history again', async () => {
    await record(alice);
    // "one" and "two" are alice's already: their edit and deletion come as changes.
    const held = await alice.$$eval('#message-list .message', (els) =>
      Object.fromEntries(els.map((li) => [li.querySelector('.message-text').textContent, li.dataset.id])));
    await whileAway(async () => {
      await chatOps(bob, [
        {type: 'send', to: 'alice', content: 'four'},
        {type: 'send', to: 'alice', content: 'gone soon'},
        {type: 'send', to: 'alice', content: 'five'},
        {type: 'send', to: 'crowd', content: 'the crowd meanwhile'},
        {type: 'edit', to: 'alice', id: held.one, content: 'one, edited'},
        {type: 'edit', to: 'alice', id: held.two, content: ''},
        {type: 'edit', to: 'alice', ref: 1, content: ''},  // "gone soon"
      ]);
    });
    await waitForMessage(alice, 'five');
    await alice.waitForFunction(() => ![...document.querySelectorAll('#message-list .message-text')]
      .some((e) => e.textContent === 'two'), {polling: 'mutation'});
    await waitForHistoryIdle(alice);
    assert.deepEqual(await messageTexts(alice), ['one, edited', 'three', 'four', 'five']);
    assert.match(await alice.$eval('#message-list .message', (li) => li.textContent), /edited/);

    const {sent, received} = await recorded(alice);
    // The auth asked for both conversations held, at their positions.
    const auths = sent.filter((f) => f.type === 'auth');
    assert.equal(auths.length, 1);
    assert.deepEqual(Object.keys(auths[0].payload.since).sort(), [dmId, guildId].sort());
    assert.ok(Object.values(auths[0].payload.since).every((n) => Number.isInteger(n) && n > 0));
    // The changes came before the catch_up frame, which found both complete.
    const catchUp = received.findIndex((f) => f.type === 'catch_up');
    assert.ok(catchUp > 0, 'a catch_up frame came');
    assert.deepEqual(received[catchUp].payload.chats.map((c) => [c.chat_id, c.reload]).sort(),
                     [[dmId, false], [guildId, false]].sort());
    const replayed = received.slice(0, catchUp).filter((f) => f.type === 'chat');
    const changes = (chatId) => replayed.filter((f) => f.payload.chat_id === chatId);
    for (const chatId of [dmId, guildId]) {
      const seqs = changes(chatId).map((f) => f.payload.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'oldest first');
      assert.ok(seqs.every((n, i) => i === 0 || n > seqs[i - 1]));
    }
    // "gone soon" was sent and deleted while alice was away: it may come as its deletion only.
    assert.deepEqual(changes(dmId).map((f) => `${f.payload.type} ${f.payload.content}`)
      .filter((c) => c !== 'send gone soon').sort(),
                     ['edit ', 'edit ', 'edit one, edited', 'send five', 'send four']);
    assert.deepEqual(changes(guildId).map((f) => `${f.payload.type} ${f.payload.content}`), ['send the crowd meanwhile']);
    // No history was loaded for either.
    assert.deepEqual(historyLoads(sent, dmId), []);
    assert.deepEqual(historyLoads(sent, guildId), []);

    // A change that comes again (its seq not past the position) is skipped.
    await alice.evaluate((frame) => {
      const ws = window.__tap.sockets.at(-1);
      window.__tap.inject(ws, {type: 'chat', payload: {...frame.payload, content: 'stale'}});
    }, replayed.find((f) => f.payload.content === 'one, edited'));
    // A live message after the catch-up shows once.
    await chatOps(bob, [{type: 'send', to: 'alice', content: 'live again'}]);
    await waitForMessage(alice, 'live again');
    assert.deepEqual(await messageTexts(alice), ['one, edited', 'three', 'four', 'five', 'live again']);

    // The guild's message missed while away is counted once (the server's count, which
    // includes it: the replay adds nothing), and shows without a load.
    const counted = received.find((f) => f.type === 'auth').payload.chats.find((c) => c.chat_id === guildId);
    assert.equal(counted.last_message.content, 'the crowd meanwhile');
    assert.equal(await alice.$eval(`#guild-list a[href="#guild/${guildId}"]`, (a) => a.getAttribute('aria-label')),
                 `crowd, ${counted.unread_count} unread`);
    await openConv(alice, '#guild-list', 'crowd');
    assert.deepEqual(await messageTexts(alice), ['before the crowd', 'the crowd meanwhile']);
    assert.deepEqual(historyLoads((await recorded(alice)).sent, guildId), []);
  });

  it('reloads a conversation that missed more than 500 changes, and shows its newest messages', async () => {
    await record(alice);
    await whileAway(async () => {
      await chatOps(bob, [
        ...numbered('flood', 1, 510).map((content) => ({type: 'send', to: 'crowd', content})),
        {type: 'send', to: 'alice', content: 'while the crowd talked'},
      ]);
    });
    await waitForMessage(alice, 'flood 510', 20000);
    await waitForHistoryIdle(alice);
    // The newest page, in order, and nothing of what was held before: the rest pages in.
    assert.deepEqual(await messageTexts(alice), numbered('flood', 461, 510));
    const {sent, received} = await recorded(alice);
    const catchUp = received.find((f) => f.type === 'catch_up');
    assert.deepEqual(catchUp.payload.chats.map((c) => [c.chat_id, c.reload]).sort(),
                     [[dmId, false], [guildId, true]].sort());
    assert.equal(historyLoads(sent, guildId, true).length, 1, 'the guild was reloaded');
    assert.equal(await alice.$eval('#load-older', (e) => !e.hidden), true);

    // The conversation with bob did not miss as much: no load for it either.
    await openConv(alice, '#dm-list', 'bob');
    await waitForMessage(alice, 'while the crowd talked');
    assert.deepEqual(await messageTexts(alice), ['one, edited', 'three', 'four', 'five', 'live again', 'while the crowd talked']);
    assert.deepEqual(historyLoads((await recorded(alice)).sent, dmId), []);

    // Back in the guild, live messages keep coming, and the next catch-up starts from the reload.
    await openConv(alice, '#guild-list', 'crowd');
    await record(alice);
    await whileAway(async () => {
      await chatOps(bob, [{type: 'send', to: 'crowd', content: 'after the flood'}]);
    });
    await waitForMessage(alice, 'after the flood');
    await waitForHistoryIdle(alice);
    const texts = await messageTexts(alice);
    assert.deepEqual(texts.slice(-3), ['flood 509', 'flood 510', 'after the flood']);
    assert.equal(texts.filter((t) => t === 'after the flood').length, 1);
    assert.deepEqual(historyLoads((await recorded(alice)).sent, guildId, true), []);
  });

  it('reports no page errors', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
