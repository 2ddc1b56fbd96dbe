// Browser end-to-end test: real Kaigi server binary, headless Debian Chromium
// driven by playwright-core, the real web client from the server.
//
// Run: cd tests/e2e && npm install && KAIGI_BINARY=../../build/src/kaigi node --test rooms.test.mjs
// Exits 77 (skip) only when chromium or node_modules are missing.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, FAKE_MEDIA_SRC, UI_TIMEOUT, chromium, colourName, sleep, scenario, startServer, waitFor } from './harness.mjs';

// Importing the harness skips (77) without Chromium or playwright-core.

const ROOM = '会議室-テスト';
const OTHER_ROOM = 'another room';
const PEOPLE = [
  { name: 'Alice', color: '#e00000', expect: 'red', freq: 440, viewport: { width: 1280, height: 720 } },
  { name: '花子', color: '#00c000', expect: 'green', freq: 660, viewport: { width: 360, height: 740 } },
  { name: 'Bob', color: '#0000e0', expect: 'blue', freq: 880, viewport: { width: 1024, height: 640 } },
];

const MEDIA_TIMEOUT = 30_000;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Poll `fn` until it returns a truthy value; throw with `what` (and the last value/error) on timeout. */

/** Assert that `fn` stays truthy for `duration` ms. */
async function staysTrue(what, fn, { duration = 2000, interval = 250 } = {}) {
  const end = Date.now() + duration;
  while (Date.now() < end) {
    const v = await fn();
    assert.ok(v, `expected ${what} to hold, but it did not`);
    await sleep(interval);
  }
}



// --- In-page probes (run inside the browser) -------------------------------

/** Per remote participant: name, whether a video track is attached, video/audio receiver stats. */
async function remoteStats(page) {
  return page.evaluate(async () => {
    const k = window.kaigi;
    const pc = window.__kaigiTest.pcs.at(-1);
    const out = {};
    if (!k || !pc) return out;
    const find = (track) => pc.getTransceivers().find((tr) => tr.receiver.track === track);
    for (const [id, p] of k.participants) {
      const tracks = k.state.remoteTracks.get(id) || {};
      const row = { id, name: p.name, video: p.video, audio: p.audio, framesDecoded: null, totalAudioEnergy: null };
      for (const kind of ['video', 'audio']) {
        const tr = tracks[kind] && find(tracks[kind]);
        if (!tr) continue;
        const stats = await tr.receiver.getStats();
        stats.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          if (kind === 'video') { row.framesDecoded = s.framesDecoded ?? 0; row.frameWidth = s.frameWidth; }
          else { row.totalAudioEnergy = s.totalAudioEnergy ?? 0; row.audioLevel = s.audioLevel; }
        });
      }
      out[p.name] = row;
    }
    return out;
  });
}

/** Centre pixel of the remote <video> of the participant with that name, drawn to a canvas. */
async function centrePixel(page, name) {
  return page.evaluate((who) => {
    const tile = [...document.querySelectorAll('.tile[data-participant-id]')].find((t) => t.dataset.participantName === who);
    const v = tile && tile.querySelector('video.remote-video');
    if (!v || !v.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(v, 0, 0);
    const d = ctx.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
    return [d[0], d[1], d[2]];
  }, name);
}

async function remoteTileNames(page) {
  return page.$$eval('.tile[data-participant-id]', (els) => els.map((e) => e.dataset.participantName).sort());
}

async function listNames(page) {
  return page.$$eval('#participant-list li[data-participant-id]:not([data-self])', (els) => els.map((e) => e.dataset.participantName).sort());
}

async function pcSummary(page) {
  return page.evaluate(async () => {
    const pc = window.__kaigiTest && window.__kaigiTest.pcs.at(-1);
    if (!pc) return { pc: null, myId: window.kaigi && window.kaigi.myId };
    const stats = [];
    (await pc.getStats()).forEach((s) => {
      if (['candidate-pair', 'local-candidate', 'remote-candidate', 'inbound-rtp', 'outbound-rtp', 'transport', 'data-channel'].includes(s.type)) {
        const keep = {};
        for (const key of ['type', 'id', 'ssrc', 'state', 'nominated', 'kind', 'mid', 'address', 'port', 'protocol', 'candidateType', 'localCandidateId', 'remoteCandidateId',
          'bytesSent', 'bytesReceived', 'packetsReceived', 'packetsLost', 'framesDecoded', 'keyFramesDecoded', 'pliCount', 'nackCount', 'firCount', 'framesDropped', 'framesSent', 'framesEncoded', 'totalAudioEnergy', 'dtlsState', 'iceState', 'label', 'messagesReceived', 'messagesSent']) {
          if (s[key] !== undefined) keep[key] = s[key];
        }
        stats.push(keep);
      }
    });
    const mlines = (sdp) => (sdp || '').split(/\r?\n/).filter((l) => /^(m=|a=mid:|a=(sendrecv|sendonly|recvonly|inactive)$|a=group:|a=rtpmap:|a=ssrc:\d+ msid:|a=ssrc-group:)/.test(l));
    return {
      myId: window.kaigi.myId,
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      signalingState: pc.signalingState,
      publish: window.kaigi.state.publish,
      tracks: window.kaigi.state.tracks,
      transceivers: pc.getTransceivers().map((t) => ({ mid: t.mid, direction: t.direction, currentDirection: t.currentDirection, kind: t.receiver.track.kind, sending: !!t.sender.track })),
      remoteSdp: mlines(pc.remoteDescription && pc.remoteDescription.sdp),
      localSdp: mlines(pc.localDescription && pc.localDescription.sdp),
      stats,
    };
  });
}

// ---------------------------------------------------------------------------
// The scenario: one server and one browser for all steps; each step is a
// top-level test (so a TAP consumer sees each), run in order, and the steps
// after a failed one are skipped because they build on each other.
// ---------------------------------------------------------------------------
let server;
let base;
let browser;
const pages = [];
const consoleLogs = new Map();

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer();
  base = server.url;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) {
    const r = await server.stop();
    console.log(`server stopped: ${JSON.stringify(r)}`);
  }
});

async function openPage(person, room) {
  const context = await browser.newContext({ viewport: person.viewport, permissions: ['camera', 'microphone'], locale: person.locale });
  const page = await context.newPage();
  const logs = [];
  consoleLogs.set(person.name, logs);
  page.on('console', (m) => { logs.push(`[${m.type()}] ${m.text()}`); if (logs.length > 500) logs.shift(); });
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  const opts = { color: person.color, freq: person.freq, gain: 0.5, noCamera: !!person.noCamera, noMic: !!person.noMic };
  await page.addInitScript({ content: `(${FAKE_MEDIA_SRC})(${JSON.stringify(opts)});` });
  const url = `${base}/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(person.name)}`;
  await page.goto(url);
  const entry = { ...person, room, page, context };
  pages.push(entry);
  return entry;
}

/** Peer-connection state, SDP m-lines, ICE pairs, RTP stats, console and server log, to artifacts/diagnostics.txt. */
async function diagnostics(reason) {
  const parts = [`=== diagnostics: ${reason}`];
  for (const p of pages) {
    if (p.page.isClosed()) continue;
    parts.push(`--- page ${p.name} (${p.room})`);
    try { parts.push(JSON.stringify(await pcSummary(p.page), null, 1)); } catch (e) { parts.push(`pcSummary failed: ${e.message}`); }
    try { parts.push(JSON.stringify(await remoteStats(p.page))); } catch { /* ignore */ }
    parts.push((consoleLogs.get(p.name) || []).slice(-60).join('\n'));
  }
  parts.push('--- server log (tail)');
  parts.push(server ? server.log.slice(-200).join('\n') : '(no server)');
  const text = parts.join('\n');
  fs.writeFileSync(path.join(ARTIFACTS, 'diagnostics.txt'), text);
  console.error(text);
}

const { step } = scenario(diagnostics);

const people = [];
let A;
let H;
let B;

step('GET / serves the web client', async () => {
  for (const [p, type] of [['/', 'text/html'], ['/app.js', 'javascript'], ['/style.css', 'text/css']]) {
    const res = await fetch(base + p);
    assert.equal(res.status, 200, `GET ${p}`);
    assert.match(res.headers.get('content-type') || '', new RegExp(type), `content type of ${p}`);
  }
});

step('the landing page asks for room and name', async () => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 640 } });
  const page = await context.newPage();
  await page.goto(`${base}/?room=${encodeURIComponent(ROOM)}`);
  await page.waitForSelector('#landing:not([hidden])');
  assert.equal(await page.inputValue('#room-input'), ROOM, 'room prefilled from ?room=');
  assert.equal(await page.inputValue('#name-input'), '');
  assert.equal(await page.textContent('#join-button'), 'Join', 'English without a catalogue');
  await page.click('#join-button');
  assert.ok(await page.isVisible('#form-error'), 'empty name refused');
  await page.screenshot({ path: path.join(ARTIFACTS, 'landing.png') });
  await context.close();
});

// The web client's text comes from po/ja.po through /i18n/ja.json.
step('a Japanese browser gets the Japanese web client', async () => {
  const catalogue = await (await fetch(`${base}/i18n/ja.json`)).json();
  assert.equal(catalogue.language, 'ja');
  const ja = (msgid) => {
    assert.ok(catalogue.messages[msgid], `ja.json translates ${JSON.stringify(msgid)}`);
    return catalogue.messages[msgid];
  };

  const context = await browser.newContext({ viewport: { width: 1024, height: 640 }, locale: 'ja-JP' });
  const page = await context.newPage();
  await page.goto(`${base}/?room=${encodeURIComponent(ROOM)}`);
  await page.waitForSelector('#landing:not([hidden])');
  assert.equal(await page.getAttribute('html', 'lang'), 'ja');
  assert.equal(await page.textContent('#join-button'), ja('Join'));
  assert.equal(await page.textContent('#join-form .field:first-of-type span'), ja('Room'));
  assert.equal(await page.getAttribute('#name-input', 'placeholder'), ja('How others see you'));
  await page.click('#join-button');
  assert.equal(await page.textContent('#form-error'), ja('Please enter your name.'));
  await page.screenshot({ path: path.join(ARTIFACTS, 'landing-ja.png') });
  await context.close();

  const J = await openPage({ name: '太郎', color: '#e00000', freq: 440, viewport: { width: 1024, height: 640 }, locale: 'ja-JP' }, '日本語の会議');
  await J.page.waitForSelector('#meeting:not([hidden])');
  await waitFor('the Japanese page joined', () => J.page.evaluate(() => !!(window.kaigi && window.kaigi.myId)));
  assert.equal(await J.page.textContent('#leave-button .control-label'), ja('Leave'));
  assert.equal(await J.page.textContent('#people-button .control-label'), ja('People'));
  assert.equal(await J.page.textContent('.tile.self .name'), ja('{name} (you)').replace('{name}', '太郎'));
  await waitFor('the alone hint in Japanese', async () => (await J.page.isVisible('#alone-hint'))
    && (await J.page.textContent('#alone-hint strong')) === ja('Waiting for others to join'));
  await J.page.screenshot({ path: path.join(ARTIFACTS, 'meeting-ja.png') });
  await J.context.close();
});

step('three pages join 会議室-テスト by link', async () => {
  for (const person of PEOPLE) {
    const p = await openPage(person, ROOM);
    people.push(p);
    await waitFor(`${person.name} joined`, () => p.page.evaluate(() => !!(window.kaigi && window.kaigi.myId)), { timeout: UI_TIMEOUT });
    const shown = await p.page.textContent('#room-name');
    assert.equal(shown, ROOM, 'room name shown');
    const q = new URL(p.page.url()).searchParams;
    assert.equal(q.get('room'), ROOM);
    assert.equal(q.get('name'), person.name);
  }
  [A, H, B] = people;
});

step('every page shows the two others as tiles and in the list', async () => {
  for (const p of people) {
    const others = people.filter((o) => o !== p).map((o) => o.name).sort();
    await waitFor(`${p.name} sees tiles ${others}`, async () => JSON.stringify(await remoteTileNames(p.page)) === JSON.stringify(others));
    await waitFor(`${p.name} lists ${others}`, async () => JSON.stringify(await listNames(p.page)) === JSON.stringify(others));
  }
});

step('media connects on every page', async (t) => {
  for (const p of people) {
    await waitFor(`${p.name} peer connection connected`, () => p.page.evaluate(() => window.kaigi.pc && window.kaigi.pc.connectionState === 'connected'), { timeout: MEDIA_TIMEOUT });
  }
  // A page opened by a link has no user gesture; if the client asks for a
  // click to enable sound, click it as a person would.
  for (const p of people) {
    if (await p.page.isVisible('#sound-unlock')) {
      t.diagnostic(`${p.name}: clicking "enable sound"`);
      await p.page.click('#sound-unlock');
    }
  }
});

step('remote video frames advance with the right colours', async () => {
  for (const p of people) {
    for (const o of people.filter((x) => x !== p)) {
      const first = await waitFor(`${p.name} decodes video of ${o.name}`, async () => {
        const s = (await remoteStats(p.page))[o.name];
        return s && s.framesDecoded > 0 && s;
      }, { timeout: MEDIA_TIMEOUT });
      await waitFor(`${p.name}: frames of ${o.name} advance`, async () => {
        const s = (await remoteStats(p.page))[o.name];
        return s && s.framesDecoded >= first.framesDecoded + 10;
      }, { timeout: MEDIA_TIMEOUT });
      await waitFor(`${p.name} sees ${o.name} as ${o.expect}`, async () => {
        const px = await centrePixel(p.page, o.name);
        return px && colourName(px) === o.expect;
      }, { timeout: MEDIA_TIMEOUT });
      const visible = await p.page.evaluate((who) => {
        const tile = [...document.querySelectorAll('.tile[data-participant-id]')].find((x) => x.dataset.participantName === who);
        return !!tile && getComputedStyle(tile.querySelector('video')).opacity === '1';
      }, o.name);
      assert.ok(visible, `${p.name}: video of ${o.name} is shown (not the placeholder)`);
    }
  }
});

step('remote audio energy grows', async () => {
  for (const p of people) {
    for (const o of people.filter((x) => x !== p)) {
      const first = await waitFor(`${p.name} receives audio of ${o.name}`, async () => {
        const s = (await remoteStats(p.page))[o.name];
        return s && s.totalAudioEnergy !== null && s;
      }, { timeout: MEDIA_TIMEOUT });
      await waitFor(`${p.name}: audio energy of ${o.name} grows`, async () => {
        const s = (await remoteStats(p.page))[o.name];
        return s && s.totalAudioEnergy > first.totalAudioEnergy + 0.01;
      }, { timeout: MEDIA_TIMEOUT });
    }
  }
});

step('screenshot with three participants', async () => {
  await A.page.screenshot({ path: path.join(ARTIFACTS, 'three-participants.png') });
  await H.page.screenshot({ path: path.join(ARTIFACTS, 'three-participants-phone.png') });
  await B.page.click('#people-button');
  await B.page.waitForSelector('#participant-list li[data-self]');
  await B.page.screenshot({ path: path.join(ARTIFACTS, 'three-participants-people.png') });
  await B.page.click('#people-button');
});

step('GET /api/rooms lists the room and its participants', async () => {
  const res = await fetch(`${base}/api/rooms`);
  assert.equal(res.status, 200);
  const body = await res.json();
  const room = body.rooms.find((r) => r.name === ROOM);
  assert.ok(room, `room ${ROOM} in ${JSON.stringify(body)}`);
  assert.deepEqual(room.participants.map((p) => p.name).sort(), PEOPLE.map((p) => p.name).sort());
  for (const p of room.participants) {
    assert.equal(p.audio, true, `${p.name} audio`);
    assert.equal(p.video, true, `${p.name} video`);
  }
  const one = await fetch(`${base}/api/rooms/${encodeURIComponent(ROOM)}`);
  assert.equal(one.status, 200);
  assert.equal((await one.json()).name, ROOM);
});

step('camera off is shown to the others, and on again brings frames back', async () => {
  await H.page.click('#cam-button');
  assert.equal(await H.page.getAttribute('.tile.self', 'data-video'), 'false');
  for (const p of [A, B]) {
    await waitFor(`${p.name} sees ${H.name}'s camera off`, () => p.page.evaluate((who) => {
      const tile = [...document.querySelectorAll('.tile[data-participant-id]')].find((x) => x.dataset.participantName === who);
      return tile && tile.dataset.video === 'false' && tile.classList.contains('camera-off')
        && getComputedStyle(tile.querySelector('.placeholder')).display !== 'none'
        && tile.querySelector('.avatar').textContent === '花';
    }, H.name));
    await waitFor(`${p.name} lists ${H.name} with camera off`, () => p.page.evaluate((who) => {
      const li = [...document.querySelectorAll('#participant-list li')].find((x) => x.dataset.participantName === who);
      return li && li.dataset.video === 'false';
    }, H.name));
  }
  await A.page.screenshot({ path: path.join(ARTIFACTS, 'camera-off.png') });
  const api = await (await fetch(`${base}/api/rooms/${encodeURIComponent(ROOM)}`)).json();
  assert.equal(api.participants.find((p) => p.name === H.name).video, false, 'API shows camera off');

  await H.page.click('#cam-button');
  for (const p of [A, B]) {
    await waitFor(`${p.name} sees ${H.name}'s camera on`, () => p.page.evaluate((who) => {
      const tile = [...document.querySelectorAll('.tile[data-participant-id]')].find((x) => x.dataset.participantName === who);
      return tile && tile.dataset.video === 'true' && !tile.classList.contains('camera-off');
    }, H.name));
    const before = (await remoteStats(p.page))[H.name].framesDecoded;
    await waitFor(`${p.name}: frames of ${H.name} advance again`, async () => (await remoteStats(p.page))[H.name].framesDecoded >= before + 10, { timeout: MEDIA_TIMEOUT });
    await waitFor(`${p.name} sees ${H.name} green again`, async () => {
      const px = await centrePixel(p.page, H.name);
      return px && colourName(px) === 'green';
    }, { timeout: MEDIA_TIMEOUT });
  }
});

step('chat reaches everyone with the sender name', async () => {
  const text = 'こんにちは、みなさん 👋';
  await waitFor('chat ready on 花子', () => H.page.evaluate(() => !document.getElementById('chat-input').disabled), { timeout: MEDIA_TIMEOUT });
  await H.page.click('#chat-button');
  await H.page.fill('#chat-input', text);
  await H.page.press('#chat-input', 'Enter');
  for (const p of people) {
    await waitFor(`${p.name} shows the chat message`, () => p.page.evaluate(({ text, from }) =>
      [...document.querySelectorAll('#chat-log .chat-message')].some((m) =>
        m.querySelector('.chat-text').textContent === text && m.dataset.name === from
        && m.querySelector('.chat-time').textContent !== ''), { text, from: H.name }));
  }
  for (const p of [A, B]) {
    const shownName = await p.page.textContent('#chat-log .chat-message:last-child .chat-name');
    assert.equal(shownName, H.name);
    assert.equal(await p.page.textContent('#chat-badge'), '1', `${p.name} unread badge`);
  }
  // And one the other way round, with the chat panel open on the receiver.
  await A.page.click('#chat-button');
  await B.page.click('#chat-button');
  await B.page.fill('#chat-input', 'hello from Bob');
  await B.page.press('#chat-input', 'Enter');
  await waitFor('Alice shows Bob\'s message', () => A.page.evaluate(() =>
    [...document.querySelectorAll('#chat-log .chat-message')].some((m) => m.dataset.name === 'Bob' && m.textContent.includes('hello from Bob'))));
  await A.page.screenshot({ path: path.join(ARTIFACTS, 'chat.png') });
  await A.page.click('#chat-button');
});

step('a page in another room sees nobody from the first room', async () => {
  const D = await openPage({ name: 'Dave', color: '#d0d000', freq: 550, viewport: { width: 800, height: 600 }, noCamera: true }, OTHER_ROOM);
  await waitFor('Dave connected', () => D.page.evaluate(() => window.kaigi.pc && window.kaigi.pc.connectionState === 'connected'), { timeout: MEDIA_TIMEOUT });
  await staysTrue('Dave alone, Alice and 花子 unaffected', async () =>
    (await remoteTileNames(D.page)).length === 0
    && (await listNames(D.page)).length === 0
    && (await remoteTileNames(A.page)).join() === [B.name, H.name].sort().join()
    && (await remoteTileNames(H.page)).join() === [A.name, B.name].sort().join());
  const body = await (await fetch(`${base}/api/rooms`)).json();
  const other = body.rooms.find((r) => r.name === OTHER_ROOM);
  assert.deepEqual(other && other.participants.map((p) => p.name), ['Dave']);
  assert.equal(body.rooms.find((r) => r.name === ROOM).participants.length, 3);
});

step('a participant without a camera can start one later', async () => {
  const D = pages.find((p) => p.name === 'Dave');
  const E = await openPage({ name: 'Eve', color: '#e000e0', freq: 330, viewport: { width: 800, height: 600 } }, OTHER_ROOM);
  const selfVideo = () => D.page.evaluate(() => document.querySelector('.tile.self').dataset.video);
  assert.equal(await selfVideo(), 'false', 'Dave joined without video');
  await waitFor('Eve sees Dave without camera', () => E.page.evaluate(() => {
    const tile = document.querySelector('.tile[data-participant-name="Dave"]');
    return tile && tile.dataset.video === 'false' && getComputedStyle(tile.querySelector('.placeholder')).display !== 'none';
  }));
  await waitFor('Eve connected', () => E.page.evaluate(() => window.kaigi.pc && window.kaigi.pc.connectionState === 'connected'), { timeout: MEDIA_TIMEOUT });
  const api0 = await (await fetch(`${base}/api/rooms/${encodeURIComponent(OTHER_ROOM)}`)).json();
  const dave0 = api0.participants.find((p) => p.name === 'Dave');
  assert.deepEqual([dave0.audio, dave0.video], [true, false], 'API: Dave has audio, no video');

  await D.page.evaluate(() => { window.__kaigiTest.noCamera = false; });
  await D.page.click('#cam-button');
  await waitFor('Dave\'s preview shows video', async () => (await selfVideo()) === 'true');
  await waitFor('API shows Dave\'s camera on', async () => {
    const r = await (await fetch(`${base}/api/rooms/${encodeURIComponent(OTHER_ROOM)}`)).json();
    return r.participants.find((p) => p.name === 'Dave').video === true;
  });
  const first = await waitFor('Eve decodes Dave\'s new video', async () => {
    const s = (await remoteStats(E.page)).Dave;
    return s && s.framesDecoded > 0 && s;
  }, { timeout: MEDIA_TIMEOUT });
  await waitFor('Eve: frames of Dave advance', async () => (await remoteStats(E.page)).Dave.framesDecoded >= first.framesDecoded + 10, { timeout: MEDIA_TIMEOUT });
  await waitFor('Eve sees Dave as yellow', async () => {
    const px = await centrePixel(E.page, 'Dave');
    return px && colourName(px) === 'yellow';
  }, { timeout: MEDIA_TIMEOUT });
  await E.page.screenshot({ path: path.join(ARTIFACTS, 'late-camera.png') });
});

step('a closed page disappears from the others', async () => {
  await B.context.close();
  for (const p of [A, H]) {
    await waitFor(`${p.name} drops Bob's tile`, async () => JSON.stringify(await remoteTileNames(p.page)) === JSON.stringify([people.find((x) => x !== p && x !== B).name]));
    await waitFor(`${p.name} drops Bob from the list`, async () => !(await listNames(p.page)).includes('Bob'));
  }
  await waitFor('API shows two participants', async () => {
    const r = await (await fetch(`${base}/api/rooms/${encodeURIComponent(ROOM)}`)).json();
    return r.participants.length === 2;
  });
  // The remaining two still get each other's media.
  for (const [p, o] of [[A, H], [H, A]]) {
    const before = (await remoteStats(p.page))[o.name].framesDecoded;
    await waitFor(`${p.name}: frames of ${o.name} still advance`, async () => (await remoteStats(p.page))[o.name].framesDecoded >= before + 10, { timeout: MEDIA_TIMEOUT });
  }
});

step('leave button leaves the room', async () => {
  await A.page.click('#leave-button');
  await A.page.waitForSelector('#ended:not([hidden])');
  await A.page.screenshot({ path: path.join(ARTIFACTS, 'left.png') });
  await waitFor('花子 drops Alice', async () => (await remoteTileNames(H.page)).length === 0);
  await H.page.screenshot({ path: path.join(ARTIFACTS, 'alone-phone.png') });
});
