// Kaigi web client: signaling over /ws (docs/protocol.md, version 1), one
// RTCPeerConnection answered to the server's offers, tiles, controls and chat.
// Vanilla ES module, no build step, no external resources.

// ---------------------------------------------------------------------------
// Translations. Every text the page shows is an English message marked with
// _('…') where it is shown, or N_('…') where it is only named and translated
// later, so that xgettext extracts it into po/kaigi.pot together with the
// server's messages (po/POTFILES.in lists this file). The build turns each
// po/LANG.po into i18n/LANG.json in the web GResource (po/po2json.py);
// loadTranslations() picks one from navigator.languages before anything is
// shown. English needs no catalogue: it is the msgids. Placeholders are
// {name}, filled in by format(), so a translation can move them. Use plain
// quoted string literals inside _() and N_(): xgettext reads nothing else.
// ---------------------------------------------------------------------------
let translations = new Map();

function _(msgid) {
  return translations.get(msgid) || msgid;
}

function N_(msgid) {
  return msgid;
}

function format(text, vars) {
  return text.replace(/\{(\w+)\}/g, (match, key) => (key in vars ? String(vars[key]) : match));
}

// The first of the browser's languages that has a catalogue wins; an English
// one before it means English. 'ja-JP' tries ja_JP, then ja.
function pickLanguage(wanted, available) {
  for (const tag of wanted) {
    const parts = tag.split('-');
    const lang = parts[0].toLowerCase();
    if (lang === 'en') return null;
    const region = parts.slice(1).find((p) => /^([a-z]{2}|[0-9]{3})$/i.test(p));
    const candidates = region ? [`${lang}_${region.toUpperCase()}`, lang] : [lang];
    const found = candidates.find((c) => available.includes(c));
    if (found) return found;
  }
  return null;
}

async function fetchJson(url) {
  const res = await fetch(url, { cache: 'no-cache' });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.json();
}

async function loadTranslations() {
  try {
    const { languages } = await fetchJson('/i18n/languages.json');
    const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    const lang = pickLanguage(wanted, languages);
    if (!lang) return;
    const catalogue = await fetchJson(`/i18n/${lang}.json`);
    translations = new Map(Object.entries(catalogue.messages));
    document.documentElement.lang = lang.replace('_', '-');
  } catch (e) {
    console.warn('translations unavailable, showing English', e);
  }
}

// Text of the static page (index.html), by its data-i18n* keys.
const PAGE_TEXT = {
  appName: 'Kaigi',
  tagline: N_('Video meetings on your own server. Enter a room name and share the link.'),
  roomLabel: N_('Room'),
  roomPlaceholder: N_('e.g. weekly-sync'),
  nameLabel: N_('Your name'),
  namePlaceholder: N_('How others see you'),
  joinButton: N_('Join'),
  rejoinButton: N_('Rejoin'),
  homeButton: N_('Start page'),
  copyLink: N_('Copy link'),
  copyLinkTitle: N_('Copy a link that invites others to this room'),
  people: N_('People'),
  chat: N_('Chat'),
  close: N_('Close'),
  send: N_('Send'),
  chatPlaceholder: N_('Message everyone'),
  chatEmpty: N_('No messages yet.'),
  enableSound: N_('Click to enable sound'),
  leave: N_('Leave'),
  aloneTitle: N_('Waiting for others to join'),
  aloneDetail: N_('Share the link to invite people.'),
  recordingNow: N_('Recording'),
  recordings: N_('Recordings'),
  recordingsTitle: N_('Recordings on this server'),
  refresh: N_('Refresh'),
};

// Inline icons (Feather-style strokes), no external resources.
const ICONS = {
  mic: '<path d="M12 2a3 3 0 0 0-3 3v7a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z"/><path d="M19 10v2a7 7 0 0 1-14 0v-2"/><line x1="12" y1="19" x2="12" y2="23"/>',
  'mic-off': '<line x1="2" y1="2" x2="22" y2="22"/><path d="M9 9v3a3 3 0 0 0 5.12 2.12M15 9.34V5a3 3 0 0 0-5.94-.6"/><path d="M17 16.95A7 7 0 0 1 5 12v-2m14 0v2c0 .74-.12 1.46-.33 2.13"/><line x1="12" y1="19" x2="12" y2="23"/>',
  cam: '<polygon points="23 7 16 12 23 17 23 7"/><rect x="1" y="5" width="15" height="14" rx="2" ry="2"/>',
  'cam-off': '<path d="M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.66 0H14a2 2 0 0 1 2 2v3.34l1 1L23 7v10"/><line x1="1" y1="1" x2="23" y2="23"/>',
  people: '<path d="M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2"/><circle cx="9" cy="7" r="4"/><path d="M23 21v-2a4 4 0 0 0-3-3.87"/><path d="M16 3.13a4 4 0 0 1 0 7.75"/>',
  chat: '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>',
  leave: '<path d="M10.68 13.31a16 16 0 0 0 3.41 2.6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 12.84 0 0 0 2.81.7 2 2 0 0 1 1.72 2v3a2 2 0 0 1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.42 19.42 0 0 1-3.33-2.67m-2.67-3.34a19.79 19.79 0 0 1-3.07-8.63A2 2 0 0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 .7 2.81 2 2 0 0 1-.45 2.11L8.09 9.91"/><line x1="23" y1="1" x2="1" y2="23"/>',
  link: '<path d="M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71"/><path d="M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"/>',
  close: '<line x1="18" y1="6" x2="6" y2="18"/><line x1="6" y1="6" x2="18" y2="18"/>',
  speaker: '<polygon points="11 5 6 9 2 9 2 15 6 15 11 19 11 5"/><path d="M19.07 4.93a10 10 0 0 1 0 14.14M15.54 8.46a5 5 0 0 1 0 7.07"/>',
  speaking: '<polygon points="11 5 6 9 2 9 2 15 6 15 11 19 11 5" fill="currentColor"/><path d="M19.07 4.93a10 10 0 0 1 0 14.14M15.54 8.46a5 5 0 0 1 0 7.07"/>',
  record: '<circle cx="12" cy="12" r="7" fill="currentColor" stroke="none"/>',
  stop: '<rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor" stroke="none"/>',
  pin: '<path d="M9 3h6l-1 6 4 4H6l4-4z"/><line x1="12" y1="13" x2="12" y2="21"/>',
  film: '<rect x="2" y="4" width="20" height="16" rx="2"/><line x1="7" y1="4" x2="7" y2="20"/><line x1="17" y1="4" x2="17" y2="20"/><line x1="2" y1="12" x2="7" y2="12"/><line x1="17" y1="12" x2="22" y2="12"/>',
  refresh: '<path d="M20 12a8 8 0 1 1-2.34-5.66"/><polyline points="20 3 20 9 14 9"/>',
};

function setIcon(el, name) {
  if (el.dataset.iconShown === name) return;
  el.dataset.iconShown = name;
  el.innerHTML = `<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${ICONS[name] || ''}</svg>`;
}

const $ = (id) => document.getElementById(id);
const PING_INTERVAL_MS = 5000;
const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------
const state = {
  room: '',
  name: '',
  ws: null,
  pc: null,
  myId: null,
  joined: false,
  leaving: false,
  ended: false,
  pingTimer: null,
  participants: new Map(), // id -> {id, name, audio, video}
  remoteTracks: new Map(), // id -> {audio: MediaStreamTrack|null, video: ...}
  tiles: new Map(), // id -> tile element
  publish: { audio: null, video: null },
  tracks: [], // last offer's tracks array
  localStream: new MediaStream(),
  localAudio: null,
  localVideo: null,
  chat: null,
  chatUnread: 0,
  negotiation: Promise.resolve(),
  soundBlocked: false,
  recording: null, // {id, file, started} while the room records
  recordingPending: null, // 'start' | 'stop' while our request is under way
  recordingPendingTimer: null,
  recordingTick: null,
  finishingFiles: new Set(), // files of recordings just stopped, not final yet
  speaker: null, // the active speaker's id, as the server detects it
  pinned: null, // the room-wide pinned participant's id
  recordingsRefresh: [],
};

window.kaigi = {
  get pc() { return state.pc; },
  get ws() { return state.ws; },
  get myId() { return state.myId; },
  get participants() { return state.participants; },
  get chat() { return state.chat; },
  get room() { return state.room; },
  get name() { return state.name; },
  get localStream() { return state.localStream; },
  get recording() { return state.recording; },
  get speaker() { return state.speaker; },
  get pinned() { return state.pinned; },
  state,
};

// ---------------------------------------------------------------------------
// Names (same rules as the server: 1–64 code points, no control chars, no '/',
// no leading/trailing white space)
// ---------------------------------------------------------------------------
function validateName(value, kind) {
  const v = value.trim();
  const room = kind === 'room';
  if (!v) return room ? _('Please enter a room name.') : _('Please enter your name.');
  if ([...v].length > 64) return room ? _('The room name must be at most 64 characters.') : _('Your name must be at most 64 characters.');
  if (/[\u0000-\u001f\u007f-\u009f/]/.test(v)) {
    return room ? _('The room name must not contain “/” or control characters.') : _('Your name must not contain “/” or control characters.');
  }
  return null;
}

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = [...parts[0]];
  if (parts.length === 1) {
    // Latin-like names: first letter; CJK names: first character reads well too.
    return first[0].toUpperCase();
  }
  return (first[0] + [...parts[parts.length - 1]][0]).toUpperCase();
}

// A stable pleasant hue per participant for the placeholder avatar.
function hueFor(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// ---------------------------------------------------------------------------
// Static text, toasts, banner
// ---------------------------------------------------------------------------
function applyStrings() {
  const text = (key) => _(PAGE_TEXT[key] ?? key);
  document.title = PAGE_TEXT.appName;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = text(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = text(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll('[data-i18n-title]')) {
    el.title = text(el.dataset.i18nTitle);
    el.setAttribute('aria-label', text(el.dataset.i18nTitle));
  }
  for (const el of document.querySelectorAll('[data-icon]')) setIcon(el, el.dataset.icon);
}

function toast(text, kind = 'info', ms = 5000) {
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.textContent = text;
  $('toasts').append(el);
  setTimeout(() => {
    el.classList.add('fade');
    setTimeout(() => el.remove(), 400);
  }, ms);
}

function showBanner(text, actionLabel = null, action = null) {
  $('banner-text').textContent = text;
  const btn = $('banner-action');
  if (actionLabel) {
    btn.textContent = actionLabel;
    btn.onclick = action;
    btn.hidden = false;
  } else {
    btn.hidden = true;
  }
  $('banner').hidden = false;
  document.documentElement.style.setProperty('--banner-h', `${$('banner').offsetHeight}px`);
}

function hideBanner() {
  $('banner').hidden = true;
  document.documentElement.style.setProperty('--banner-h', '0px');
}

function showScreen(id) {
  for (const s of ['landing', 'meeting', 'ended']) $(s).hidden = s !== id;
}

// ---------------------------------------------------------------------------
// Landing
// ---------------------------------------------------------------------------
function initLanding() {
  const params = new URLSearchParams(location.search);
  const room = (params.get('room') || '').trim();
  const name = (params.get('name') || '').trim();
  $('room-input').value = room;
  let savedName = '';
  try { savedName = localStorage.getItem('kaigi.name') || ''; } catch { /* storage may be blocked */ }
  $('name-input').value = name || savedName;

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const r = $('room-input').value.trim();
    const n = $('name-input').value.trim();
    const err = validateName(r, 'room') || validateName(n, 'name');
    if (err) {
      $('form-error').textContent = err;
      $('form-error').hidden = false;
      return;
    }
    $('form-error').hidden = true;
    startMeeting(r, n);
  });

  if (room && name) {
    const err = validateName(room, 'room') || validateName(name, 'name');
    if (!err) {
      startMeeting(room, name);
      return;
    }
    $('form-error').textContent = err;
    $('form-error').hidden = false;
  }
  showScreen('landing');
  (room ? $('name-input') : $('room-input')).focus();
}

function updateUrl(room, name) {
  const q = `?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`;
  history.replaceState(null, '', location.pathname + q);
}

function inviteUrl() {
  return `${location.origin}${location.pathname}?room=${encodeURIComponent(state.room)}`;
}

// ---------------------------------------------------------------------------
// Local media
// ---------------------------------------------------------------------------
const VIDEO_CONSTRAINTS = { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 30 } };
const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

async function tryGetUserMedia(constraints) {
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (e) {
    console.warn('getUserMedia failed', constraints, e);
    return null;
  }
}

async function acquireLocalMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    toast(_('No camera or microphone available: you joined to watch and listen.'), 'warn', 8000);
    return;
  }
  let stream = await tryGetUserMedia({ audio: AUDIO_CONSTRAINTS, video: VIDEO_CONSTRAINTS });
  let note = null;
  if (!stream) {
    stream = await tryGetUserMedia({ audio: AUDIO_CONSTRAINTS, video: false });
    if (stream) note = _('No camera available: you joined with your microphone only.');
  }
  if (!stream) {
    stream = await tryGetUserMedia({ audio: false, video: VIDEO_CONSTRAINTS });
    if (stream) note = _('No microphone available: you joined with your camera only.');
  }
  if (!stream) note = _('No camera or microphone available: you joined to watch and listen.');
  if (stream) {
    state.localAudio = stream.getAudioTracks()[0] || null;
    state.localVideo = stream.getVideoTracks()[0] || null;
  }
  rebuildLocalStream();
  if (note) toast(note, 'warn', 8000);
}

function rebuildLocalStream() {
  const tracks = [state.localAudio, state.localVideo].filter(Boolean);
  state.localStream = new MediaStream(tracks);
  const selfTile = state.tiles.get('self');
  if (selfTile) {
    const v = selfTile.querySelector('video');
    const vt = state.localVideo;
    const want = vt ? new MediaStream([vt]) : null;
    const cur = v.srcObject && v.srcObject.getVideoTracks()[0];
    if (cur !== vt) {
      v.srcObject = want;
      if (want) v.play().catch(() => {});
    }
  }
}

function localMediaState() {
  return {
    audio: !!(state.localAudio && state.localAudio.enabled && state.localAudio.readyState === 'live'),
    video: !!(state.localVideo && state.localVideo.enabled && state.localVideo.readyState === 'live'),
  };
}

function publishTransceiver(kind) {
  const mid = state.publish[kind];
  if (!state.pc || mid == null) return null;
  return state.pc.getTransceivers().find((tr) => tr.mid === mid) || null;
}

async function attachLocalTrack(kind) {
  const tr = publishTransceiver(kind);
  if (!tr) return; // attached with the next offer
  const track = kind === 'audio' ? state.localAudio : state.localVideo;
  try {
    await tr.sender.replaceTrack(track || null);
  } catch (e) {
    console.warn('replaceTrack failed', kind, e);
  }
}

function sendMediaState() {
  send({ type: 'media', ...localMediaState() });
  updateControls();
  updateSelfTile();
  renderParticipantList();
}

async function toggleMic() {
  if (!state.localAudio || state.localAudio.readyState !== 'live') {
    const s = await tryGetUserMedia({ audio: AUDIO_CONSTRAINTS, video: false });
    if (!s) { toast(_('Could not start the microphone: there is none, or the browser does not allow it.'), 'error'); return; }
    state.localAudio = s.getAudioTracks()[0];
    rebuildLocalStream();
    await attachLocalTrack('audio');
  } else {
    state.localAudio.enabled = !state.localAudio.enabled;
  }
  sendMediaState();
}

async function toggleCamera() {
  if (!state.localVideo || state.localVideo.readyState !== 'live') {
    const s = await tryGetUserMedia({ audio: false, video: VIDEO_CONSTRAINTS });
    if (!s) { toast(_('Could not start the camera: there is none, or the browser does not allow it.'), 'error'); return; }
    state.localVideo = s.getVideoTracks()[0];
    rebuildLocalStream();
    await attachLocalTrack('video');
  } else {
    state.localVideo.enabled = !state.localVideo.enabled;
  }
  sendMediaState();
}

// ---------------------------------------------------------------------------
// Signaling
// ---------------------------------------------------------------------------
function send(msg) {
  const ws = state.ws;
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(msg));
    return true;
  }
  return false;
}

async function startMeeting(room, name) {
  state.room = room;
  state.name = name;
  state.leaving = false;
  state.ended = false;
  try { localStorage.setItem('kaigi.name', name); } catch { /* ignore */ }
  updateUrl(room, name);

  $('room-name').textContent = room;
  $('me-name').textContent = name;
  document.title = `${room} · ${PAGE_TEXT.appName}`;
  showScreen('meeting');
  setConnState('connecting');
  createSelfTile();
  layoutGrid();
  updateControls();
  updateRecordingUi();
  renderParticipantList();

  await acquireLocalMedia();
  updateControls();
  updateSelfTile();
  connectSignaling();
}

// The video codecs this browser decodes, by RTP encoding name, so that the
// server never offers an m-line the browser would have to reject
// (docs/protocol.md, join). null where the browser cannot tell.
function decodableVideoCodecs() {
  const caps = window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities
    ? RTCRtpReceiver.getCapabilities('video') : null;
  if (!caps || !Array.isArray(caps.codecs)) return null;
  const names = [];
  for (const c of caps.codecs) {
    const name = (c.mimeType || '').replace(/^video\//i, '').toUpperCase();
    if (name && !['RTX', 'RED', 'ULPFEC', 'FLEXFEC-03'].includes(name) && !names.includes(name)) names.push(name);
  }
  return names.slice(0, 16);
}

function connectSignaling() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/ws`);
  state.ws = ws;
  let opened = false;

  ws.addEventListener('open', () => {
    opened = true;
    const m = localMediaState();
    const join = { type: 'join', room: state.room, name: state.name, version: PROTOCOL_VERSION, audio: m.audio, video: m.video };
    const codecs = decodableVideoCodecs();
    if (codecs) join.video_codecs = codecs;
    send(join);
    state.pingTimer = setInterval(() => send({ type: 'ping' }), PING_INTERVAL_MS);
  });

  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    let msg;
    try { msg = JSON.parse(ev.data); } catch { console.warn('bad JSON from server', ev.data); return; }
    handleMessage(msg);
  });

  ws.addEventListener('close', (ev) => {
    clearInterval(state.pingTimer);
    state.pingTimer = null;
    if (state.ws !== ws) return;
    if (state.leaving || state.ended) return;
    console.warn('WebSocket closed', ev.code, ev.reason);
    setConnState('lost');
    const text = opened ? _('Connection to the server was lost.') : _('Could not connect to the server.');
    showBanner(ev.reason ? `${text} (${ev.reason})` : text, _('Rejoin'), () => location.reload());
    teardownMedia(false);
  });

  ws.addEventListener('error', () => { /* the close event reports it */ });
}

function handleMessage(msg) {
  switch (msg.type) {
    case 'joined': onJoined(msg); break;
    case 'offer': state.negotiation = state.negotiation.then(() => onOffer(msg)).catch(onNegotiationError); break;
    case 'ice': state.negotiation = state.negotiation.then(() => onRemoteIce(msg)).catch((e) => console.warn('addIceCandidate failed', e)); break;
    case 'participant-joined': upsertParticipant(msg.participant, true); break;
    case 'participant-updated': upsertParticipant(msg.participant, false); break;
    case 'participant-left': removeParticipant(msg.id, msg.reason); break;
    case 'recording': onRecording(msg); break;
    case 'speaker': onSpeaker(msg); break;
    case 'pong': break;
    case 'error': onServerError(msg); break;
    default: console.debug('ignored message', msg.type);
  }
}

function onServerError(msg) {
  console.warn('server error', msg);
  if (onRequestError(msg)) return;
  const text = msg.message || msg.code || 'error';
  toast(format(_('Server: {message}'), { message: text }), 'error', 7000);
  if (!state.joined && msg.request === 'join') {
    // The join was refused: nothing else will happen on this connection.
    state.ended = true;
    teardownMedia(true);
    if (state.ws) state.ws.close(1000);
    showEnded(_('Disconnected'), text);
  }
}

function onJoined(msg) {
  state.joined = true;
  state.myId = msg.id;
  if (msg.name) { state.name = msg.name; $('me-name').textContent = msg.name; }
  if (msg.room) { state.room = msg.room; $('room-name').textContent = msg.room; }
  for (const p of msg.participants || []) upsertParticipant(p, false, true);
  updateSpeakerMarks();
  updateRecordingUi();
  layoutGrid();

  const iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  state.pc = pc;
  pc.addEventListener('icecandidate', (e) => {
    const c = e.candidate;
    if (!c || !c.candidate) return;
    send({ type: 'ice', candidate: c.candidate, sdpMLineIndex: c.sdpMLineIndex ?? 0, ...(c.sdpMid != null ? { sdpMid: c.sdpMid } : {}) });
  });
  pc.addEventListener('connectionstatechange', () => {
    const s = pc.connectionState;
    if (s === 'connected') { setConnState('connected'); hideBanner(); }
    else if (s === 'disconnected') setConnState('reconnecting');
    else if (s === 'failed') {
      setConnState('lost');
      showBanner(_('Media connection failed. Try rejoining.'), _('Rejoin'), () => location.reload());
    }
  });
  pc.addEventListener('datachannel', (e) => {
    if (e.channel.label === 'chat') setupChat(e.channel);
  });
  pc.addEventListener('track', () => attachRemoteTracks());
}

async function onOffer(msg) {
  const pc = state.pc;
  if (!pc) { console.warn('offer before joined'); return; }
  state.publish = { audio: msg.publish?.audio ?? null, video: msg.publish?.video ?? null };
  state.tracks = Array.isArray(msg.tracks) ? msg.tracks : [];

  await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });

  const replacements = [];
  for (const tr of pc.getTransceivers()) {
    if (tr.currentDirection === 'stopped' || tr.mid == null) continue;
    try {
      if (tr.mid === state.publish.audio) {
        tr.direction = 'sendonly';
        replacements.push(tr.sender.replaceTrack(state.localAudio || null));
      } else if (tr.mid === state.publish.video) {
        tr.direction = 'sendonly';
        replacements.push(tr.sender.replaceTrack(state.localVideo || null));
      } else {
        tr.direction = 'recvonly';
      }
    } catch (e) {
      console.warn('transceiver setup failed', tr.mid, e);
    }
  }
  await Promise.allSettled(replacements);

  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  send({ type: 'answer', sdp: pc.localDescription.sdp });
  attachRemoteTracks();
}

function onNegotiationError(e) {
  console.error('negotiation failed', e);
  toast(format(_('Server: {message}'), { message: String(e && e.message || e) }), 'error', 8000);
}

async function onRemoteIce(msg) {
  if (!state.pc || !msg.candidate) return;
  await state.pc.addIceCandidate({ candidate: msg.candidate, sdpMLineIndex: msg.sdpMLineIndex ?? 0, ...(msg.sdpMid != null ? { sdpMid: msg.sdpMid } : {}) });
}

// Map every transceiver listed in the offer's `tracks` to its participant.
function attachRemoteTracks() {
  const pc = state.pc;
  if (!pc) return;
  const byMid = new Map(pc.getTransceivers().filter((tr) => tr.mid != null).map((tr) => [tr.mid, tr]));
  const next = new Map();
  for (const entry of state.tracks) {
    const tr = byMid.get(entry.mid);
    if (!tr || (entry.kind !== 'audio' && entry.kind !== 'video')) continue;
    if (!next.has(entry.participant)) next.set(entry.participant, { audio: null, video: null });
    next.get(entry.participant)[entry.kind] = tr.receiver.track;
  }
  state.remoteTracks = next;
  for (const id of state.participants.keys()) updateRemoteTile(id);
}

// ---------------------------------------------------------------------------
// Participants and tiles
// ---------------------------------------------------------------------------
function upsertParticipant(p, announce, quiet = false) {
  if (!p || !p.id || p.id === state.myId) return;
  const isNew = !state.participants.has(p.id);
  const entry = { id: p.id, name: p.name || _('Guest'), audio: !!p.audio, video: !!p.video };
  state.participants.set(p.id, entry);
  if (isNew) createRemoteTile(entry);
  updateRemoteTile(p.id);
  renderParticipantList();
  layoutGrid();
  if (isNew && announce && !quiet) toast(format(_('{name} joined'), { name: entry.name }), 'info', 3000);
}

function removeParticipant(id, reason) {
  const p = state.participants.get(id);
  state.participants.delete(id);
  const tile = state.tiles.get(id);
  if (tile) {
    for (const m of tile.querySelectorAll('video, audio')) { m.pause(); m.srcObject = null; }
    tile.remove();
    state.tiles.delete(id);
  }
  renderParticipantList();
  layoutGrid();
  if (p) toast(format(_('{name} left'), { name: p.name }), 'info', 3000);
  console.info('participant left', id, reason);
}

function makeTile() {
  const tile = $('tile-template').content.firstElementChild.cloneNode(true);
  for (const el of tile.querySelectorAll('[data-icon]')) setIcon(el, el.dataset.icon);
  const video = tile.querySelector('video');
  const markFrames = () => { if (video.videoWidth > 0) tile.classList.add('has-frames'); };
  video.addEventListener('loadeddata', markFrames);
  video.addEventListener('resize', markFrames);
  video.addEventListener('playing', markFrames);
  tile.querySelector('.pin-button').addEventListener('click', () => togglePin(tile));
  return tile;
}

function createSelfTile() {
  if (state.tiles.has('self')) return;
  const tile = makeTile();
  tile.classList.add('self');
  tile.dataset.self = 'true';
  tile.querySelector('video').classList.add('local-video');
  $('grid').prepend(tile);
  state.tiles.set('self', tile);
  updateSelfTile();
  updateTileMarks(tile, state.myId);
}

function updateSelfTile() {
  const tile = state.tiles.get('self');
  if (!tile) return;
  const m = localMediaState();
  tile.querySelector('.name').textContent = format(_('{name} (you)'), { name: state.name });
  setAvatar(tile, state.name);
  tile.classList.toggle('camera-off', !m.video);
  tile.classList.toggle('mic-off', !m.audio);
  tile.dataset.video = String(m.video);
  tile.dataset.audio = String(m.audio);
  const v = tile.querySelector('video');
  if (state.localVideo && (!v.srcObject || v.srcObject.getVideoTracks()[0] !== state.localVideo)) {
    v.srcObject = new MediaStream([state.localVideo]);
    v.play().catch(() => {});
  }
}

function setAvatar(tile, name) {
  const av = tile.querySelector('.avatar');
  const ini = initials(name);
  if (av.textContent !== ini) av.textContent = ini;
  av.style.setProperty('--hue', hueFor(name));
}

function createRemoteTile(p) {
  const tile = makeTile();
  tile.dataset.participantId = p.id;
  tile.querySelector('video').classList.add('remote-video');
  const audio = document.createElement('audio');
  audio.autoplay = true;
  audio.className = 'remote-audio';
  tile.append(audio);
  $('grid').append(tile);
  state.tiles.set(p.id, tile);
  updateTileMarks(tile, p.id);
}

function updateRemoteTile(id) {
  const p = state.participants.get(id);
  const tile = state.tiles.get(id);
  if (!p || !tile) return;
  tile.dataset.participantName = p.name;
  tile.dataset.audio = String(p.audio);
  tile.dataset.video = String(p.video);
  tile.querySelector('.name').textContent = p.name;
  tile.title = p.name;
  updateTileMarks(tile, id);
  setAvatar(tile, p.name);
  tile.classList.toggle('camera-off', !p.video);
  tile.classList.toggle('mic-off', !p.audio);
  tile.querySelector('.mic-state').title = p.audio ? '' : _('Muted');

  const tracks = state.remoteTracks.get(id) || { audio: null, video: null };
  const video = tile.querySelector('video');
  const audio = tile.querySelector('audio');

  const curV = video.srcObject ? video.srcObject.getVideoTracks()[0] || null : null;
  if (curV !== tracks.video) {
    tile.classList.remove('has-frames');
    video.srcObject = tracks.video ? new MediaStream([tracks.video]) : null;
    if (tracks.video) video.play().catch((e) => console.debug('video play', e));
  }
  tile.dataset.hasVideoTrack = String(!!tracks.video);

  const curA = audio.srcObject ? audio.srcObject.getAudioTracks()[0] || null : null;
  if (curA !== tracks.audio) {
    audio.srcObject = tracks.audio ? new MediaStream([tracks.audio]) : null;
    if (tracks.audio) playAudio(audio);
  }
}

function playAudio(audio) {
  const p = audio.play();
  if (p && p.catch) {
    p.then(() => {
      if (state.soundBlocked && allAudioPlaying()) setSoundBlocked(false);
    }).catch((e) => {
      if (e && e.name === 'NotAllowedError') setSoundBlocked(true);
      else console.debug('audio play', e);
    });
  }
}

function allAudioPlaying() {
  return [...document.querySelectorAll('audio.remote-audio')].every((a) => !a.srcObject || !a.paused);
}

function setSoundBlocked(blocked) {
  state.soundBlocked = blocked;
  $('sound-unlock').hidden = !blocked;
}

function unlockSound() {
  setSoundBlocked(false);
  for (const a of document.querySelectorAll('audio.remote-audio')) if (a.srcObject) playAudio(a);
}

// Pick the column count that makes 16:9 tiles as large as possible.
function layoutGrid() {
  const grid = $('grid');
  const stage = $('stage');
  const n = grid.children.length;
  const hint = $('alone-hint');
  hint.hidden = !(state.joined && n === 1 && !state.ended);
  if (!n || stage.clientWidth === 0) return;
  const gap = 8;
  const W = stage.clientWidth - 2 * gap;
  const H = stage.clientHeight - 2 * gap - (hint.hidden ? 0 : hint.offsetHeight + gap);
  let best = { w: 0, cols: 1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * 16 / 9);
    if (w > best.w) best = { w, cols };
  }
  // On very small screens keep tiles readable and let the stage scroll.
  const w = Math.max(Math.floor(best.w), Math.min(W, 160));
  grid.style.setProperty('--tile-w', `${w}px`);
  grid.dataset.count = String(n);
  grid.classList.toggle('alone', n === 1);
}

function renderParticipantList() {
  const list = $('participant-list');
  list.textContent = '';
  const me = { id: state.myId || 'self', name: state.name, ...localMediaState(), self: true };
  const all = [me, ...[...state.participants.values()].sort((a, b) => a.name.localeCompare(b.name))];
  for (const p of all) {
    const li = document.createElement('li');
    li.className = 'participant';
    li.dataset.participantId = p.id;
    li.dataset.participantName = p.name;
    li.dataset.audio = String(p.audio);
    li.dataset.video = String(p.video);
    if (p.self) li.dataset.self = 'true';
    const av = document.createElement('span');
    av.className = 'avatar small';
    av.textContent = initials(p.name);
    av.style.setProperty('--hue', hueFor(p.name));
    const name = document.createElement('span');
    name.className = 'pname';
    name.textContent = p.self ? format(_('{name} (you)'), { name: p.name }) : p.name;
    const icons = document.createElement('span');
    icons.className = 'picons';
    const mic = document.createElement('span');
    mic.className = `icon ${p.audio ? '' : 'off'}`;
    mic.title = p.audio ? '' : _('Muted');
    setIcon(mic, p.audio ? 'mic' : 'mic-off');
    const cam = document.createElement('span');
    cam.className = `icon ${p.video ? '' : 'off'}`;
    cam.title = p.video ? '' : _('Camera off');
    setIcon(cam, p.video ? 'cam' : 'cam-off');
    icons.append(mic, cam);
    const speaking = p.id === state.speaker;
    const pinned = p.id === state.pinned;
    li.dataset.speaking = String(speaking);
    li.dataset.pinned = String(pinned);
    if (pinned) {
      const pin = document.createElement('span');
      pin.className = 'icon pinned';
      pin.setAttribute('role', 'img');
      pin.setAttribute('aria-label', _('Pinned'));
      pin.title = _('Pinned');
      setIcon(pin, 'pin');
      icons.prepend(pin);
    }
    if (speaking) {
      const sp = document.createElement('span');
      sp.className = 'icon speaking';
      sp.setAttribute('role', 'img');
      sp.setAttribute('aria-label', _('Speaking'));
      sp.title = _('Speaking');
      setIcon(sp, 'speaking');
      icons.prepend(sp);
    }
    li.append(av, name, icons);
    list.append(li);
  }
  $('people-count').textContent = String(all.length);
}

// ---------------------------------------------------------------------------
// Active speaker and pin. The server picks the speaker from the RFC 6464
// audio levels of everyone's microphone (with hysteresis, so the highlight
// does not flicker) and keeps one pin for the whole room: the pinned person
// is the main tile of the recording. Both arrive in `speaker` messages.
// ---------------------------------------------------------------------------
function tileId(key) {
  return key === 'self' ? state.myId : key;
}

function displayName(id) {
  if (id && id === state.myId) return format(_('{name} (you)'), { name: state.name });
  const p = state.participants.get(id);
  return p ? p.name : _('Guest');
}

function onSpeaker(msg) {
  const speaker = typeof msg.speaker === 'string' ? msg.speaker : null;
  const pinned = typeof msg.pinned === 'string' ? msg.pinned : null;
  const before = state.pinned;
  state.speaker = speaker;
  state.pinned = pinned;
  updateSpeakerMarks();
  renderParticipantList();
  if (pinned !== before && state.joined) {
    if (pinned) toast(format(_('{name} is pinned for everyone'), { name: displayName(pinned) }), 'info', 3000);
    else if (before) toast(format(_('{name} is no longer pinned'), { name: displayName(before) }), 'info', 3000);
  }
}

function updateSpeakerMarks() {
  for (const [key, tile] of state.tiles) updateTileMarks(tile, tileId(key));
}

function updateTileMarks(tile, id) {
  const speaking = !!id && id === state.speaker;
  const pinned = !!id && id === state.pinned;
  tile.classList.toggle('speaking', speaking);
  tile.classList.toggle('pinned', pinned);
  tile.dataset.speaking = String(speaking);
  tile.dataset.pinned = String(pinned);
  const mark = tile.querySelector('.speaking-state');
  mark.hidden = !speaking;
  mark.setAttribute('aria-label', _('Speaking'));
  mark.title = _('Speaking');
  tile.querySelector('.pinned-text').textContent = _('Pinned');
  const name = id ? displayName(id) : state.name;
  const btn = tile.querySelector('.pin-button');
  btn.disabled = !id || !state.joined;
  btn.setAttribute('aria-pressed', String(pinned));
  const label = pinned ? format(_('Unpin {name}'), { name }) : format(_('Pin {name} for everyone'), { name });
  btn.title = label;
  btn.setAttribute('aria-label', label);
}

function togglePin(tile) {
  const key = tile.dataset.self === 'true' ? 'self' : tile.dataset.participantId;
  const id = tileId(key);
  if (!id) return;
  if (!send({ type: 'pin', participant: state.pinned === id ? null : id })) {
    toast(_('Not connected to the server.'), 'error');
  }
}

// ---------------------------------------------------------------------------
// Recording: one mixed recording per room, made by the server. Anyone in the
// room may start or stop it; everyone sees that it runs.
// ---------------------------------------------------------------------------
const RECORDING_REQUEST_TIMEOUT_MS = 15000;

function onRecording(msg) {
  const rec = msg.recording && typeof msg.recording === 'object' ? msg.recording : null;
  const before = state.recording;
  state.recording = rec;
  setRecordingPending(null);
  if (!before && rec) {
    toast(_('This meeting is being recorded'), 'info', 4000);
  } else if (before && !rec) {
    if (before.file) {
      const file = before.file;
      state.finishingFiles.add(file);
      setTimeout(() => state.finishingFiles.delete(file), 60000);
    }
    if (msg.error) toast(format(_('The recording stopped: {error}'), { error: msg.error }), 'error', 12000);
    else toast(_('Recording stopped'), 'info', 3000);
    // The server finalizes the file (EOS, rename) a second or a few after
    // this message; the list looks again until it is final (see below).
    refreshRecordingsSoon([1200]);
  } else if (msg.error) {
    toast(format(_('The recording stopped: {error}'), { error: msg.error }), 'error', 12000);
  }
  updateRecordingUi();
  if (isPanelOpen('recordings')) renderRecordings();
}

function setRecordingPending(what) {
  clearTimeout(state.recordingPendingTimer);
  state.recordingPending = what;
  if (what) {
    state.recordingPendingTimer = setTimeout(() => {
      state.recordingPending = null;
      updateRecordingUi();
      toast(_('The server did not answer. Try again.'), 'error');
    }, RECORDING_REQUEST_TIMEOUT_MS);
  }
  updateRecordingUi();
}

function toggleRecording() {
  if (state.recordingPending || !state.joined) return;
  const what = state.recording ? 'stop' : 'start';
  if (!send({ type: what === 'start' ? 'recording-start' : 'recording-stop' })) {
    toast(_('Not connected to the server.'), 'error');
    return;
  }
  setRecordingPending(what);
}

// Errors answering our own recording or pin requests, in the reader's
// language; true when handled.
function onRequestError(msg) {
  const req = msg.request;
  if (req !== 'recording-start' && req !== 'recording-stop' && req !== 'pin') return false;
  if (req !== 'pin') setRecordingPending(null);
  const texts = {
    'already-recording': _('This room is already being recorded.'),
    'not-recording': _('No recording is running.'),
    'unknown-participant': _('That person has left the room.'),
    'recording-failed': format(_('The recording could not start: {error}'), { error: msg.message || msg.code }),
  };
  toast(texts[msg.code] || format(_('Server: {message}'), { message: msg.message || msg.code }), 'error', 8000);
  return true;
}

function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function recordingElapsed() {
  const started = state.recording && Date.parse(state.recording.started);
  return Number.isFinite(started) ? Date.now() - started : null;
}

function updateRecordingUi() {
  const rec = state.recording;
  const ind = $('rec-indicator');
  ind.hidden = !rec;
  document.body.dataset.recording = String(!!rec);
  clearInterval(state.recordingTick);
  state.recordingTick = null;
  if (rec) {
    const tick = () => {
      const ms = recordingElapsed();
      const el = $('rec-elapsed');
      el.textContent = ms === null ? '' : formatDuration(ms);
      if (ms !== null) el.dateTime = `PT${Math.floor(Math.max(0, ms) / 1000)}S`;
      ind.title = ms === null ? _('This meeting is being recorded')
        : format(_('This meeting is being recorded ({elapsed})'), { elapsed: formatDuration(ms) });
    };
    tick();
    state.recordingTick = setInterval(tick, 1000);
  }

  const btn = $('record-button');
  const pending = state.recordingPending;
  btn.classList.toggle('recording', !!rec);
  btn.classList.toggle('pending', !!pending);
  btn.setAttribute('aria-pressed', String(!!rec));
  btn.setAttribute('aria-busy', String(!!pending));
  btn.disabled = !!pending || !state.joined;
  setIcon(btn.querySelector('.icon'), rec ? 'stop' : 'record');
  const label = pending === 'start' ? _('Starting…') : pending === 'stop' ? _('Stopping…')
    : rec ? _('Stop recording') : _('Record');
  // Phone widths show a short label: "Stop recording" does not fit there.
  const short = !pending && rec ? _('Stop') : label;
  const text = btn.querySelector('.control-label');
  if (short === label) {
    text.textContent = label;
  } else {
    text.innerHTML = '<span class="label-long"></span><span class="label-short" aria-hidden="true"></span>';
    text.firstChild.textContent = label;
    text.lastChild.textContent = short;
  }
  btn.setAttribute('aria-label', label);
  btn.title = rec && !pending ? _('Stop recording the meeting') : !rec && !pending ? _('Record the meeting for everyone') : label;
}

// ---------------------------------------------------------------------------
// Recordings panel: GET /api/recordings. With --api-token the server wants a
// token the web client does not have; then the panel says so and stays empty.
// ---------------------------------------------------------------------------
const recordingsState = { files: null, status: 'idle', loading: null };

function isPanelOpen(tab) {
  return !$('side').hidden && $('side').dataset.tab === tab;
}

function refreshRecordingsSoon(delays) {
  for (const t of state.recordingsRefresh) clearTimeout(t);
  state.recordingsRefresh = delays.map((ms) => setTimeout(() => {
    if (isPanelOpen('recordings') || recordingsState.files) loadRecordings();
  }, ms));
}

async function loadRecordings() {
  if (recordingsState.loading) return recordingsState.loading;
  recordingsState.status = recordingsState.files ? recordingsState.status : 'loading';
  renderRecordings();
  recordingsState.loading = (async () => {
    try {
      const res = await fetch('/api/recordings', { cache: 'no-cache' });
      if (res.status === 401 || res.status === 403) {
        recordingsState.files = null;
        recordingsState.status = 'private';
      } else if (!res.ok) {
        throw new Error(`GET /api/recordings: ${res.status}`);
      } else {
        const body = await res.json();
        recordingsState.files = Array.isArray(body.recordings) ? body.recordings : [];
        recordingsState.status = 'ok';
      }
    } catch (e) {
      console.warn('recordings unavailable', e);
      recordingsState.status = 'error';
    } finally {
      recordingsState.loading = null;
    }
    renderRecordings();
  })();
  return recordingsState.loading;
}

function formatBytes(bytes) {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'];
  let v = Number(bytes) || 0;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  try {
    return new Intl.NumberFormat(document.documentElement.lang || undefined, { style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: i ? 1 : 0 }).format(v);
  } catch {
    return `${v.toFixed(i ? 1 : 0)} ${['B', 'kB', 'MB', 'GB'][i]}`;
  }
}

function formatDate(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return null;
  return d.toLocaleString(document.documentElement.lang || undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function renderRecordings() {
  const list = $('recording-list');
  const status = $('recordings-status');
  const st = recordingsState.status;
  list.textContent = '';
  list.hidden = st === 'private';
  status.textContent = st === 'loading' ? _('Loading…')
    : st === 'private' ? _('Recordings on this server need an access token: ask the operator for them.')
      : st === 'error' ? _('Could not load the recordings.') : '';
  status.classList.toggle('quiet', st === 'private');
  if (st === 'private') return;

  if (state.recording) {
    const li = document.createElement('li');
    li.className = 'recording-item live';
    li.dataset.file = state.recording.file || '';
    const title = document.createElement('span');
    title.className = 'recording-file';
    title.textContent = state.recording.file || '';
    const meta = document.createElement('div');
    meta.className = 'recording-meta';
    const dot = document.createElement('span');
    dot.className = 'rec-dot';
    dot.setAttribute('aria-hidden', 'true');
    meta.append(dot, _('Recording now'));
    li.append(title, meta);
    list.append(li);
  }

  const files = [...(recordingsState.files || [])];
  const key = (f) => Date.parse(f.started) || 0;
  files.sort((a, b) => key(b) - key(a) || String(b.file).localeCompare(String(a.file)));
  for (const f of files) {
    if (!f || typeof f.file !== 'string') continue;
    // A stopped recording is `.mp4.part` until the server has finalized it.
    const finishing = f.recovered && state.finishingFiles.has(f.file.replace(/\.part$/, ''));
    if (!f.recovered) state.finishingFiles.delete(f.file);
    const li = document.createElement('li');
    li.className = 'recording-item';
    li.dataset.file = f.file;
    li.dataset.recovered = String(!!f.recovered);
    if (finishing) li.dataset.finishing = 'true';
    let title;
    if (finishing) {
      title = document.createElement('span');
    } else {
      title = document.createElement('a');
      title.href = `/recordings/${encodeURIComponent(f.file)}`;
      title.download = f.file;
      title.title = format(_('Download {file}'), { file: f.file });
    }
    title.className = 'recording-file';
    title.textContent = f.file;
    const meta = document.createElement('div');
    meta.className = 'recording-meta';
    const parts = [];
    if (f.room && f.room !== state.room) parts.push(format(_('Room “{room}”'), { room: f.room }));
    const date = formatDate(f.started);
    if (date) parts.push(date);
    if (Number.isFinite(f.duration_ms)) parts.push(formatDuration(f.duration_ms));
    parts.push(formatBytes(f.bytes));
    meta.append(parts.join(' · '));
    if (finishing || f.recovered) {
      const tag = document.createElement('span');
      tag.className = `tag ${finishing ? 'finishing' : 'recovered'}`;
      tag.textContent = finishing ? _('Finishing…') : _('Recovered');
      if (!finishing) tag.title = _('Left behind when the server stopped unexpectedly: it plays, but may end early.');
      meta.append(' ', tag);
    }
    li.append(title, meta);
    list.append(li);
  }
  if (!list.children.length && st === 'ok') {
    const li = document.createElement('li');
    li.className = 'recordings-empty';
    li.textContent = _('No recordings yet.');
    list.append(li);
  }
  // A stopped recording not listed as final yet (its `.part` is listed only
  // once the server has let go of it): look again shortly.
  const final = new Set(files.filter((f) => f && !f.recovered).map((f) => f.file));
  if (st === 'ok' && [...state.finishingFiles].some((file) => !final.has(file))) refreshRecordingsSoon([1500]);
}

// ---------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------
function updateControls() {
  const m = localMediaState();
  const mic = $('mic-button');
  const cam = $('cam-button');
  const hasMic = !!state.localAudio && state.localAudio.readyState === 'live';
  const hasCam = !!state.localVideo && state.localVideo.readyState === 'live';
  mic.classList.toggle('off', !m.audio);
  mic.setAttribute('aria-pressed', String(!m.audio));
  setIcon(mic.querySelector('.icon'), m.audio ? 'mic' : 'mic-off');
  mic.querySelector('.control-label').textContent = !hasMic ? _('No mic') : m.audio ? _('Mute') : _('Unmute');
  mic.title = mic.querySelector('.control-label').textContent;
  cam.classList.toggle('off', !m.video);
  cam.setAttribute('aria-pressed', String(!m.video));
  setIcon(cam.querySelector('.icon'), m.video ? 'cam' : 'cam-off');
  cam.querySelector('.control-label').textContent = !hasCam ? _('No camera') : m.video ? _('Stop video') : _('Start video');
  cam.title = cam.querySelector('.control-label').textContent;
}

function setConnState(s) {
  const el = $('conn-state');
  el.dataset.state = s;
  const text = { connecting: _('Connecting…'), reconnecting: _('Connection unstable…'), connected: _('Connected'), lost: _('Connection to the server was lost.') }[s] || '';
  el.textContent = s === 'lost' ? '' : text;
  el.hidden = s === 'connected' || s === 'lost';
  document.body.dataset.connection = s;
}

function openSide(tab) {
  const side = $('side');
  const already = !side.hidden && side.dataset.tab === tab;
  if (already) { side.hidden = true; layoutSoon(); return; }
  side.hidden = false;
  side.dataset.tab = tab;
  for (const t of SIDE_TABS) {
    $(`panel-${t}`).hidden = t !== tab;
    $(`tab-${t}`).classList.toggle('active', t === tab);
    $(`tab-${t}`).setAttribute('aria-selected', String(t === tab));
  }
  $('people-button').classList.toggle('active', tab === 'people');
  $('chat-button').classList.toggle('active', tab === 'chat');
  $('recordings-chip').classList.toggle('active', tab === 'recordings');
  if (tab === 'recordings') {
    renderRecordings();
    loadRecordings();
  }
  if (tab === 'chat') {
    state.chatUnread = 0;
    updateChatBadge();
    const log = $('chat-log');
    log.scrollTop = log.scrollHeight;
    if (!$('chat-input').disabled && window.matchMedia('(pointer: fine)').matches) $('chat-input').focus();
  }
  layoutSoon();
}

const SIDE_TABS = ['people', 'chat', 'recordings'];

function closeSide() {
  $('side').hidden = true;
  $('people-button').classList.remove('active');
  $('chat-button').classList.remove('active');
  $('recordings-chip').classList.remove('active');
  layoutSoon();
}

function layoutSoon() { requestAnimationFrame(layoutGrid); }

function leave() {
  state.leaving = true;
  send({ type: 'leave' });
  const ws = state.ws;
  // The server closes after `leave`; close ourselves too if it does not.
  setTimeout(() => { if (ws && ws.readyState !== WebSocket.CLOSED) ws.close(1000); }, 1000);
  teardownMedia(true);
  showEnded(_('You left the meeting'), format(_('Room “{room}”'), { room: state.room }));
}

function teardownMedia(stopLocal) {
  clearInterval(state.pingTimer);
  clearInterval(state.recordingTick);
  clearTimeout(state.recordingPendingTimer);
  $('record-button').disabled = true;
  $('rec-indicator').hidden = true;
  if (state.chat) { try { state.chat.close(); } catch { /* ignore */ } }
  if (state.pc) { try { state.pc.close(); } catch { /* ignore */ } }
  if (stopLocal) {
    for (const tr of [state.localAudio, state.localVideo]) if (tr) tr.stop();
  }
  $('chat-input').disabled = true;
  $('chat-send').disabled = true;
}

function showEnded(title, detail) {
  $('ended-title').textContent = title;
  $('ended-detail').textContent = detail;
  for (const [id, tile] of state.tiles) {
    for (const m of tile.querySelectorAll('video, audio')) { m.pause(); m.srcObject = null; }
    if (id !== 'self') tile.remove();
  }
  showScreen('ended');
}

async function copyLink() {
  const url = inviteUrl();
  try {
    await navigator.clipboard.writeText(url);
    toast(_('Invitation link copied'), 'info', 2500);
  } catch {
    toast(format(_('Copy this link: {url}'), { url }), 'info', 10000);
  }
}

// ---------------------------------------------------------------------------
// Chat
// ---------------------------------------------------------------------------
function setupChat(channel) {
  state.chat = channel;
  const enable = (on) => {
    $('chat-input').disabled = !on;
    $('chat-send').disabled = !on;
  };
  channel.addEventListener('open', () => enable(true));
  channel.addEventListener('close', () => enable(false));
  channel.addEventListener('message', (e) => {
    if (typeof e.data !== 'string') return;
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (msg.type === 'chat') addChatMessage(msg);
    else if (msg.type === 'error') toast(format(_('Server: {message}'), { message: msg.message || msg.code }), 'error');
  });
  if (channel.readyState === 'open') enable(true);
}

function addChatMessage(msg) {
  const li = document.createElement('li');
  li.className = 'chat-message';
  const mine = msg.from === state.myId;
  if (mine) li.classList.add('mine');
  li.dataset.from = msg.from || '';
  li.dataset.name = msg.name || '';
  const head = document.createElement('div');
  head.className = 'chat-head';
  const who = document.createElement('span');
  who.className = 'chat-name';
  who.textContent = mine ? _('You') : (msg.name || _('Guest'));
  const when = document.createElement('time');
  when.className = 'chat-time';
  const d = msg.time ? new Date(msg.time) : new Date();
  if (!Number.isNaN(d.getTime())) {
    when.dateTime = d.toISOString();
    when.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  head.append(who, when);
  const body = document.createElement('div');
  body.className = 'chat-text';
  body.textContent = msg.text || '';
  li.append(head, body);
  const log = $('chat-log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  $('chat-empty').hidden = true;
  if (atBottom || mine) log.scrollTop = log.scrollHeight;
  const side = $('side');
  if (!mine && (side.hidden || side.dataset.tab !== 'chat')) {
    state.chatUnread++;
    updateChatBadge();
  }
}

function updateChatBadge() {
  const b = $('chat-badge');
  b.hidden = state.chatUnread === 0;
  b.textContent = state.chatUnread > 9 ? '9+' : String(state.chatUnread);
}

function sendChat(text) {
  const v = text.trim();
  if (!v) return false;
  if (!state.chat || state.chat.readyState !== 'open') { toast(_('Chat is not connected yet.'), 'warn'); return false; }
  state.chat.send(JSON.stringify({ type: 'chat', text: [...v].slice(0, 2000).join('') }));
  return true;
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------
async function init() {
  await loadTranslations();
  applyStrings();
  $('mic-button').addEventListener('click', toggleMic);
  $('cam-button').addEventListener('click', toggleCamera);
  $('people-button').addEventListener('click', () => openSide('people'));
  $('chat-button').addEventListener('click', () => openSide('chat'));
  $('tab-people').addEventListener('click', () => { if ($('side').dataset.tab !== 'people') openSide('people'); });
  $('tab-chat').addEventListener('click', () => { if ($('side').dataset.tab !== 'chat') openSide('chat'); });
  $('tab-recordings').addEventListener('click', () => { if ($('side').dataset.tab !== 'recordings') openSide('recordings'); });
  $('recordings-chip').addEventListener('click', () => openSide('recordings'));
  $('recordings-refresh').addEventListener('click', () => loadRecordings());
  $('record-button').addEventListener('click', toggleRecording);
  $('side-close').addEventListener('click', closeSide);
  $('leave-button').addEventListener('click', leave);
  $('copy-link').addEventListener('click', copyLink);
  $('alone-copy').addEventListener('click', copyLink);
  $('sound-unlock').addEventListener('click', unlockSound);
  $('rejoin-button').addEventListener('click', () => location.reload());
  $('home-button').addEventListener('click', () => { location.href = location.pathname; });
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (sendChat($('chat-input').value)) $('chat-input').value = '';
  });
  // Any click on the page counts as a gesture that may unblock audio.
  document.addEventListener('click', () => { if (state.soundBlocked) unlockSound(); }, true);
  window.addEventListener('resize', layoutSoon);
  if (window.ResizeObserver) new ResizeObserver(layoutSoon).observe($('stage'));
  window.addEventListener('pagehide', () => { if (state.joined && !state.leaving) send({ type: 'leave' }); });
  initLanding();
}

init();
