// Browser end-to-end test of the mixed recording, the active-speaker
// highlight and the room-wide pin: the real Kaigi server binary (with its
// recordings folder in a temporary directory), headless Debian Chromium
// driven by playwright-core, the real web client.
//
// Run: cd tests/e2e && npm install && KAIGI_BINARY=../../build/src/kaigi node --test recording.test.mjs
// Exits 77 (skip) only when chromium or node_modules are missing.
// Artifacts (tests/e2e/artifacts/): recording-desktop.png, recording-phone.png,
// recording-ja.png, recordings-panel.png, frames of the recorded file
// (recording-frame.png: the first; -speaker: 花子 speaking; -pinned: Bob
// pinned; -last: the last), recordings-private.png (a server with
// --api-token) and, on failure, recording-diagnostics.txt.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, FAKE_MEDIA_SRC, chromium, colourName, sleep, scenario, startServer, waitFor } from './harness.mjs';

const GST_LAUNCH = process.env.GST_LAUNCH || 'gst-launch-1.0';


const ROOM = '録画テスト';
// Everyone starts silent (gain 0); the test makes 花子 speak.
const PEOPLE = [
  { name: 'Alice', color: '#e00000', expect: 'red', freq: 440, viewport: { width: 1280, height: 720 } },
  { name: '花子', color: '#00c000', expect: 'green', freq: 660, viewport: { width: 360, height: 740 } },
  { name: 'Bob', color: '#0000e0', expect: 'blue', freq: 880, viewport: { width: 1024, height: 640 } },
];
const LATE = { name: '太郎', color: '#d0d000', expect: 'yellow', freq: 550, viewport: { width: 1024, height: 640 }, locale: 'ja-JP' };

const MEDIA_TIMEOUT = 30_000;
// The server's hysteresis: about 1 s lead before a speaker takes the floor.
const SPEAKER_TIMEOUT = 8_000;
const MIN_RECORDING_MS = 6_000;


/** Poll `fn` until it returns a truthy value; throw with `what` (and the last value/error) on timeout. */



// --- In-page probes --------------------------------------------------------

/** Names on the tiles with the speaking highlight (your own tile counts as your name). */
async function speakingTiles(page) {
  return page.$$eval('.tile.speaking', (els) => els.map((t) => {
    const mark = t.querySelector('.speaking-state');
    const shown = mark && !mark.hidden && getComputedStyle(mark).display !== 'none' && !!mark.getAttribute('aria-label');
    const ring = getComputedStyle(t, '::after').opacity;
    return `${t.dataset.self === 'true' ? window.kaigi.name : t.dataset.participantName}${shown && ring !== '0' ? '' : ' (no icon or ring)'}`;
  }));
}

/** Names on the tiles marked pinned. */
async function pinnedTiles(page) {
  return page.$$eval('.tile.pinned', (els) => els.map((t) => {
    const badge = t.querySelector('.pinned-badge');
    const pressed = t.querySelector('.pin-button').getAttribute('aria-pressed') === 'true';
    const ok = badge && getComputedStyle(badge).display !== 'none' && pressed;
    return `${t.dataset.self === 'true' ? window.kaigi.name : t.dataset.participantName}${ok ? '' : ' (no badge)'}`;
  }));
}

/** The recording indicator as the page shows it, or null while hidden. */
async function indicator(page) {
  return page.evaluate(() => {
    const el = document.getElementById('rec-indicator');
    if (!el || el.hidden || !el.offsetWidth) return null;
    const dot = el.querySelector('.rec-dot');
    const r = el.getBoundingClientRect();
    return {
      text: el.querySelector('.rec-text').textContent,
      elapsed: el.querySelector('.rec-elapsed').textContent,
      role: el.getAttribute('role'),
      dot: getComputedStyle(dot).backgroundColor,
      inViewport: r.left >= 0 && r.right <= window.innerWidth + 0.5 && r.top >= 0,
    };
  });
}

const seconds = (elapsed) => {
  const parts = elapsed.split(':').map(Number);
  return parts.reduce((acc, v) => acc * 60 + v, 0);
};

/** Run a gst-launch-1.0 pipeline; throws with its output on failure. */
function gstLaunch(description) {
  const r = spawnSync(GST_LAUNCH, ['-q', ...description.split(' ')], { encoding: 'utf8', timeout: 60_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`${GST_LAUNCH} ${description} failed (${r.error ? r.error.message : `status ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------
// The scenario, in steps that build on each other (a failed step skips the rest).
// ---------------------------------------------------------------------------
let server;
let base;
let browser;
let recordingsDir;
const pages = [];
const consoleLogs = new Map();
let jaCatalogue;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-e2e-recordings-'));
  server = await startServer(['--recordings-dir', recordingsDir]);
  base = server.url;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) {
    const r = await server.stop();
    console.log(`server stopped: ${JSON.stringify(r)}`);
  }
  if (recordingsDir && !hasFailed()) fs.rmSync(recordingsDir, { recursive: true, force: true });
  else if (recordingsDir) console.log(`recordings kept in ${recordingsDir}`);
});

async function openPage(person, room) {
  const t0 = Date.now();
  const context = await browser.newContext({ viewport: person.viewport, permissions: ['camera', 'microphone'], locale: person.locale });
  const page = await context.newPage();
  const logs = [];
  consoleLogs.set(person.name, logs);
  page.on('console', (m) => { logs.push(`[${m.type()}] ${m.text()}`); if (logs.length > 500) logs.shift(); });
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  const opts = { color: person.color, freq: person.freq, gain: 0 };
  await page.addInitScript({ content: `(${FAKE_MEDIA_SRC})(${JSON.stringify(opts)});` });
  await page.goto(`${base}/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(person.name)}`);
  const entry = { ...person, room, page, context };
  pages.push(entry);
  /* Loading the page, fake media and the join took 1.6–7.7 s in a run here
   * (the fourth page, with a recording running, the slowest); a CI run
   * with four Chromium pages and a recording took 18 s once. How long
   * others take to see a join is e2e-rooms' business. */
  await waitFor(`${person.name} joined`, () => page.evaluate(() => !!(window.kaigi && window.kaigi.myId)), { timeout: MEDIA_TIMEOUT });
  console.log(`# ${person.name} joined ${Date.now() - t0} ms after its page was opened`);
  return entry;
}

async function connected(p) {
  await waitFor(`${p.name} peer connection connected`, () => p.page.evaluate(() => window.kaigi.pc && window.kaigi.pc.connectionState === 'connected'), { timeout: MEDIA_TIMEOUT });
  if (await p.page.isVisible('#sound-unlock')) await p.page.click('#sound-unlock');
}

async function diagnostics(reason) {
  const parts = [`=== diagnostics: ${reason}`];
  for (const p of pages) {
    if (p.page.isClosed()) continue;
    parts.push(`--- page ${p.name}`);
    try {
      parts.push(JSON.stringify(await p.page.evaluate(() => ({
        myId: window.kaigi.myId,
        pc: window.kaigi.pc && window.kaigi.pc.connectionState,
        recording: window.kaigi.recording,
        speaker: window.kaigi.speaker,
        pinned: window.kaigi.pinned,
        toasts: [...document.querySelectorAll('.toast')].map((t) => t.textContent),
      }))));
    } catch (e) { parts.push(`state failed: ${e.message}`); }
    parts.push((consoleLogs.get(p.name) || []).slice(-60).join('\n'));
  }
  parts.push(`--- recordings folder ${recordingsDir}: ${fs.existsSync(recordingsDir) ? fs.readdirSync(recordingsDir).join(', ') : '(gone)'}`);
  parts.push('--- server log (tail)');
  parts.push(server ? server.log.slice(-200).join('\n') : '(no server)');
  const text = parts.join('\n');
  fs.writeFileSync(path.join(ARTIFACTS, 'recording-diagnostics.txt'), text);
  console.error(text);
}

const { step, hasFailed } = scenario(diagnostics);

let A;
let H;
let B;
let J;
let recording; // {id, file, started} as the pages were told
let recordingStartedAt;
let pinnedAt;

step('three silent pages join one room and connect', async () => {
  jaCatalogue = await (await fetch(`${base}/i18n/ja.json`)).json();
  const people = [];
  for (const person of PEOPLE) people.push(await openPage(person, ROOM));
  [A, H, B] = people;
  for (const p of people) await connected(p);
  for (const p of people) {
    assert.equal(await indicator(p.page), null, `${p.name}: no recording indicator before recording`);
    assert.equal(await p.page.getAttribute('#record-button', 'aria-label'), 'Record');
  }
});

step('page 1 starts recording; all three see the indicator', async () => {
  await A.page.click('#record-button');
  // Pending until the server's `recording` message (or an error) arrives.
  await waitFor('Alice\'s button shows the recording', () => A.page.evaluate(() => {
    const b = document.getElementById('record-button');
    return b.classList.contains('recording') && b.getAttribute('aria-pressed') === 'true' && !b.disabled;
  }));
  recordingStartedAt = Date.now();
  for (const p of [A, H, B]) {
    const ind = await waitFor(`${p.name} shows the recording indicator`, () => indicator(p.page));
    assert.equal(ind.text, 'Recording');
    assert.equal(ind.role, 'status');
    assert.match(ind.elapsed, /^\d+:\d\d$/);
    assert.ok(ind.inViewport, `${p.name}: indicator inside the viewport`);
    assert.match(ind.dot, /rgb\(229, 72, 77\)/, 'red dot');
    assert.equal(await p.page.getAttribute('#record-button', 'aria-label'), 'Stop recording');
  }
  recording = await A.page.evaluate(() => window.kaigi.recording);
  assert.ok(recording && /\.mp4$/.test(recording.file), `recording object ${JSON.stringify(recording)}`);
  assert.ok(!Number.isNaN(Date.parse(recording.started)), 'started is a date');
  const api = await (await fetch(`${base}/api/rooms/${encodeURIComponent(ROOM)}`)).json();
  assert.equal(api.recording && api.recording.file, recording.file, 'API agrees');
  // The elapsed time advances.
  const first = seconds((await indicator(B.page)).elapsed);
  await waitFor('Bob\'s elapsed time advances', async () => seconds((await indicator(B.page)).elapsed) > first, { timeout: 4000 });
});

step('a second start is refused with a toast', async () => {
  await B.page.evaluate(() => window.kaigi.ws.send(JSON.stringify({ type: 'recording-start' })));
  await waitFor('Bob sees the "already recording" toast', () => B.page.evaluate(() =>
    [...document.querySelectorAll('.toast.error')].some((t) => t.textContent === 'This room is already being recorded.')));
  assert.ok(await indicator(B.page), 'still recording');
});

step('the loud page gets the speaker highlight on every page', async () => {
  await H.page.evaluate(() => window.__kaigiTest.setGain(0.6));
  const t0 = Date.now();
  for (const p of [A, H, B]) {
    await waitFor(`${p.name} highlights 花子 (only)`, async () => JSON.stringify(await speakingTiles(p.page)) === JSON.stringify([H.name]), { timeout: SPEAKER_TIMEOUT, interval: 150 });
  }
  console.log(`# speaker highlight on all pages after ${Date.now() - t0} ms`);
  // The people list says it too.
  await B.page.click('#people-button');
  await waitFor('Bob lists 花子 as speaking', () => B.page.evaluate(() => {
    const li = document.querySelector('#participant-list li[data-participant-name="花子"]');
    return li && li.dataset.speaking === 'true' && !!li.querySelector('.speaking[aria-label]');
  }));
  await B.page.click('#people-button');
});

step('a page joining later sees the recording and the speaker (Japanese)', async () => {
  const ja = (msgid) => {
    assert.ok(jaCatalogue.messages[msgid], `ja.json translates ${JSON.stringify(msgid)}`);
    return jaCatalogue.messages[msgid];
  };
  J = await openPage(LATE, ROOM);
  const ind = await waitFor('太郎 shows the recording indicator', () => indicator(J.page));
  assert.equal(ind.text, ja('Recording'));
  const sinceStart = Math.floor((Date.now() - recordingStartedAt) / 1000);
  assert.ok(seconds(ind.elapsed) >= sinceStart - 2, `elapsed ${ind.elapsed} counts from the start (${sinceStart} s ago)`);
  assert.equal(await J.page.getAttribute('#record-button', 'aria-label'), ja('Stop recording'));
  await waitFor('太郎 highlights 花子', async () => JSON.stringify(await speakingTiles(J.page)) === JSON.stringify([H.name]));
  assert.equal(await J.page.getAttribute('.tile[data-participant-name="花子"] .speaking-state', 'aria-label'), ja('Speaking'));
  await connected(J);
});

step('pinning Bob from Alice\'s page shows the pin everywhere', async () => {
  const tile = A.page.locator('.tile[data-participant-name="Bob"]');
  await tile.hover();
  const btn = tile.locator('.pin-button');
  assert.equal(await btn.getAttribute('aria-label'), 'Pin Bob for everyone');
  await btn.click();
  pinnedAt = Date.now();
  for (const p of [A, H, B, J]) {
    await waitFor(`${p.name} marks Bob pinned`, async () => JSON.stringify(await pinnedTiles(p.page)) === JSON.stringify([B.name]));
  }
  assert.equal(await btn.getAttribute('aria-pressed'), 'true');
  assert.equal(await btn.getAttribute('aria-label'), 'Unpin Bob');
  // The speaker highlight stays with whoever speaks.
  assert.deepEqual(await speakingTiles(A.page), [H.name]);
  const api = await (await fetch(`${base}/api/rooms/${encodeURIComponent(ROOM)}`)).json();
  assert.ok(api, 'room still there');
});

step('screenshots: desktop, phone width, Japanese', async () => {
  for (const p of [A, H, J]) {
    await waitFor(`${p.name} shows video on every tile`, () => p.page.evaluate(() =>
      [...document.querySelectorAll('.tile')].every((t) => t.classList.contains('has-frames'))), { timeout: MEDIA_TIMEOUT });
  }
  await A.page.screenshot({ path: path.join(ARTIFACTS, 'recording-desktop.png') });
  await H.page.screenshot({ path: path.join(ARTIFACTS, 'recording-phone.png') });
  await J.page.screenshot({ path: path.join(ARTIFACTS, 'recording-ja.png') });
  // Phone width: nothing sticks out sideways, every control is on screen.
  const phone = await H.page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
    controls: [...document.querySelectorAll('.controls .control')].map((c) => c.getBoundingClientRect().right),
    topbar: [...document.querySelectorAll('.topbar-actions > :not([hidden])')].map((c) => c.getBoundingClientRect().right),
  }));
  assert.ok(phone.scroll <= phone.width, `no horizontal scrolling at 360 px (${phone.scroll} > ${phone.width})`);
  for (const right of [...phone.controls, ...phone.topbar]) assert.ok(right <= phone.width + 0.5, `inside 360 px: ${JSON.stringify(phone)}`);
});

step('page 1 stops the recording; the indicator goes everywhere', async () => {
  const wait = Math.max(MIN_RECORDING_MS - (Date.now() - recordingStartedAt), 3000 - (Date.now() - pinnedAt), 0);
  await sleep(wait);
  await A.page.click('#record-button');
  for (const p of [A, H, B, J]) {
    await waitFor(`${p.name} hides the indicator`, async () => (await indicator(p.page)) === null);
    await waitFor(`${p.name}: the button offers recording again`, () => p.page.evaluate(() => {
      const b = document.getElementById('record-button');
      return !b.classList.contains('recording') && !b.disabled;
    }));
  }
  assert.equal(await A.page.getAttribute('#record-button', 'aria-label'), 'Record');
});

step('the Recordings panel lists the new file, final and not recovered', async () => {
  await A.page.click('#recordings-chip');
  const item = `#recording-list li.recording-item[data-file="${recording.file}"]`;
  // On a machine too busy for the recorder the encoders can be seconds
  // behind at the stop, and the stop waits for them (docs/recording.md).
  await waitFor('the new file listed as final', () => A.page.evaluate((sel) => {
    const li = document.querySelector(sel);
    return li && li.dataset.recovered === 'false' && !li.dataset.finishing && !li.querySelector('.tag.recovered')
      && li.querySelector('a.recording-file') && li.querySelector('.recording-meta').textContent.length > 0;
  }, item), { timeout: 60_000 });
  const link = await A.page.getAttribute(`${item} a.recording-file`, 'href');
  assert.equal(link, `/recordings/${encodeURIComponent(recording.file)}`);
  const meta = await A.page.textContent(`${item} .recording-meta`);
  assert.match(meta, /\d+:\d\d/, `duration shown in ${meta}`);
  assert.match(meta, /[kMG]B/, `size shown in ${meta}`);
  await A.page.screenshot({ path: path.join(ARTIFACTS, 'recordings-panel.png') });

  const list = await (await fetch(`${base}/api/recordings`)).json();
  const entry = list.recordings.find((r) => r.file === recording.file);
  assert.ok(entry, `${recording.file} in ${JSON.stringify(list)}`);
  assert.equal(entry.recovered, false);
  assert.equal(entry.room, ROOM);
  assert.ok(entry.duration_ms >= MIN_RECORDING_MS - 1500, `duration ${entry.duration_ms} ms`);

  const res = await fetch(`${base}${link}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') || '', /^video\/mp4/);
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.length > 0, 'non-empty download');
  assert.equal(body.subarray(4, 8).toString('latin1'), 'ftyp', 'an MP4 (ftyp box first)');
  assert.ok(fs.existsSync(path.join(recordingsDir, recording.file)), 'the file is in the recordings folder');
});

step('the recorded file decodes; the pinned participant is the main tile at the end', async (t) => {
  const file = path.join(recordingsDir, recording.file);
  const frame = path.join(ARTIFACTS, 'recording-frame.png');
  fs.rmSync(frame, { force: true });
  gstLaunch(`filesrc location=${file} ! decodebin ! videoconvert ! pngenc snapshot=true ! filesink location=${frame}`);
  assert.ok(fs.statSync(frame).size > 0, 'first frame extracted');

  // One frame per second: PNGs to look at, and 64×36 RGB to test colours.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-e2e-frames-'));
  try {
    gstLaunch(`filesrc location=${file} ! decodebin ! videoconvert ! videorate ! video/x-raw,framerate=1/1 ! tee name=t `
      + `t. ! queue ! videoconvert ! pngenc ! multifilesink location=${tmp}/frame-%03d.png `
      + `t. ! queue ! videoscale ! videoconvert ! video/x-raw,format=RGB,width=64,height=36 ! multifilesink location=${tmp}/frame-%03d.rgb`);
    const pngs = fs.readdirSync(tmp).filter((f) => f.endsWith('.png')).sort();
    const raws = fs.readdirSync(tmp).filter((f) => f.endsWith('.rgb')).sort();
    assert.ok(pngs.length >= 4, `about one frame per second of a ${MIN_RECORDING_MS} ms recording: ${pngs.length}`);
    // The main tile fills the top 576 of 720 lines, centred; read its middle.
    const mainColour = (raw) => {
      const px = fs.readFileSync(path.join(tmp, raw));
      const sum = [0, 0, 0];
      let n = 0;
      for (let y = 10; y < 18; y++) {
        for (let x = 26; x < 38; x++) {
          for (let c = 0; c < 3; c++) sum[c] += px[(y * 64 + x) * 3 + c];
          n++;
        }
      }
      return colourName(sum.map((v) => v / n));
    };
    const colours = raws.map(mainColour);
    t.diagnostic(`main tile colour per second: ${colours.join(' ')}`);
    // The file starts once every tile's placeholder and name plate is
    // drawn: the first frame has the three name plates (dark grey with
    // white text at the lower left of each tile), not the black of
    // sources still starting on a busy machine. In 64×36: the main tile's
    // plate on row 27, columns 7–18; the filmstrip's on row 35, columns
    // 20–25 and 33–38.
    const first = fs.readFileSync(path.join(tmp, raws[0]));
    const brightness = (y, x0, x1) => {
      let sum = 0;
      for (let x = x0; x <= x1; x++) for (let c = 0; c < 3; c++) sum += first[(y * 64 + x) * 3 + c];
      return sum / ((x1 - x0 + 1) * 3);
    };
    const plates = [brightness(27, 7, 18), brightness(35, 20, 25), brightness(35, 33, 38)];
    t.diagnostic(`name plates in the first frame, mean brightness: ${plates.map((v) => v.toFixed(1)).join(' ')}`);
    for (const v of plates) assert.ok(v > 15, `every name plate is in the first frame: ${plates.join(' ')}`);
    const save = (i, name) => { if (i >= 0) fs.copyFileSync(path.join(tmp, pngs[i]), path.join(ARTIFACTS, name)); };
    save(colours.indexOf('green'), 'recording-frame-speaker.png');
    save(colours.lastIndexOf('blue'), 'recording-frame-pinned.png');
    save(pngs.length - 1, 'recording-frame-last.png');
    assert.ok(colours.includes('green'), `花子 (green, speaking) was the main tile before the pin: ${colours.join(' ')}`);
    // The pin holds to the end: the last seconds show Bob (blue) large.
    // Black frames at the very end are left out: the server may draw one
    // while tearing the layout down (every tile black then).
    const trimmed = [...colours];
    while (trimmed.length > 1 && trimmed.at(-1) === 'black') trimmed.pop();
    if (trimmed.length < colours.length) t.diagnostic(`the recording ends with ${colours.length - trimmed.length} black frame(s) (1 per second)`);
    assert.deepEqual(trimmed.slice(-2), ['blue', 'blue'], `Bob (blue, pinned) is the main tile at the end: ${colours.join(' ')}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

// A second server: an API token (the web client has none, so the list is
// private) and a recordings folder that goes away after the server checked
// it at startup (it refuses to start without a writable one): a plain file
// takes its place, so starting a recording fails.
step('with --api-token and an unusable folder: a quiet note and an error toast', async () => {
  const lost = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-e2e-lost-'));
  const other = await startServer(['--recordings-dir', lost, '--api-token', 's3cret']);
  fs.rmSync(lost, { recursive: true, force: true });
  fs.writeFileSync(lost, '');
  try {
    const res = await fetch(`${other.url}/api/recordings`);
    assert.equal(res.status, 401, 'the list needs the token');
    const context = await browser.newContext({ viewport: { width: 1024, height: 640 }, permissions: ['camera', 'microphone'] });
    const page = await context.newPage();
    await page.addInitScript({ content: `(${FAKE_MEDIA_SRC})(${JSON.stringify({ color: '#808080', freq: 300, gain: 0 })});` });
    await page.goto(`${other.url}/?room=${encodeURIComponent('private')}&name=Zoe`);
    await waitFor('Zoe joined', () => page.evaluate(() => !!(window.kaigi && window.kaigi.myId)));
    await page.click('#recordings-chip');
    await waitFor('the panel says the list is private', () => page.evaluate(() =>
      document.getElementById('recording-list').hidden
      && document.getElementById('recordings-status').textContent.includes('access token')));
    await page.screenshot({ path: path.join(ARTIFACTS, 'recordings-private.png') });
    await page.click('#record-button');
    await waitFor('a "could not start" toast', () => page.evaluate(() =>
      [...document.querySelectorAll('.toast.error')].some((t) => t.textContent.startsWith('The recording could not start: '))));
    await waitFor('the button is usable again, not recording', () => page.evaluate(() => {
      const b = document.getElementById('record-button');
      return !b.disabled && !b.classList.contains('recording') && document.getElementById('rec-indicator').hidden;
    }));
    await context.close();
  } finally {
    await other.stop();
    fs.rmSync(lost, { force: true });
  }
});
