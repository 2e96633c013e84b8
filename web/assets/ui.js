// The call page: wires SFUClient to the DOM. Room comes from the path (/room/<name>), the
// display name and an optional access token from the query string; ?p2p=0 keeps a call of two
// on the server; ?prejoin=0 joins at once, without the pre-join screen (prejoin.js); ?media=0
// joins to watch, listen and chat, never asking for the camera or microphone.

import { SFUClient, State } from '/assets/client.js';
import { describePath } from '/assets/pathtext.js';
import { Tiles, setFlag } from '/assets/tiles.js';
// Local media, devices and the pre-join screen.
import { maySend } from '/assets/claims.js';
import { devicePanel as devicePanelFor } from '/assets/devices.js';
import { Speaker, capture, loadChoices, release } from '/assets/media.js';
import { prejoin } from '/assets/prejoin.js';
import { showUndecodable } from '/assets/undecodable.js';
import { ScreenShare } from '/assets/screen.js';
import { QualityBars } from '/assets/quality.js';
// The meeting's layout, people and overlay.
import { setButton } from '/assets/icons.js';
import { Layout } from '/assets/layout.js';
import { People } from '/assets/people.js';
import { Chat } from '/assets/chat.js';
import { tokenClaims } from '/assets/claims.js';
import { ReconnectOverlay } from '/assets/overlay.js';
// File transfer.
import { FileShare } from '/assets/files.js';
import { selfTest as sha256SelfTest, Sha256 } from '/assets/sha256.js';

// What people read. Keyed by error code or getUserMedia error name.
const MESSAGES = {
  unreachable: "Can't reach the server.",
  invalid_token: 'The access token in your link was rejected. Ask for a new link.',
  token_expired: 'Your access link has expired. Ask for a new link.',
  room_mismatch: 'Your access link is for a different room.',
  bad_room: "That room name isn't allowed. Pick another one.",
  rejected: 'The server refused to let you in.',
  token_required: 'This server needs an access token in the link (?token=...)',
  not_allowed: 'You can watch, but your access link does not allow sending video or audio.',
  rate_limited: 'The server is getting too many messages from you and is ignoring some.',
  ice_failed: 'The media connection broke.',
  replaced: 'You joined this call from another tab or device, so you were disconnected here. Use the other one, or rejoin here (which disconnects the other).',
  NotAllowedError: 'Camera and microphone access was blocked, so you joined as a viewer. Allow access (address bar) and reload to be seen and heard.',
  NotFoundError: 'No camera or microphone was found, so you joined as a viewer.',
  NotReadableError: 'Your camera or microphone is in use by another app, so you joined as a viewer.',
  InsecureContext: 'This page is not on a secure (https) connection, so the browser offers no camera or microphone. You joined as a viewer.',
};

const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(location.search);
const room = decodeURIComponent(location.pathname.slice('/room/'.length));
const displayName = params.get('name')?.trim() ?? '';
const linkToken = params.get('token');
const p2p = !['0', 'false', 'off'].includes(params.get('p2p') ?? '');
const showPrejoin = !['0', 'false', 'off'].includes(params.get('prejoin') ?? '');
const withMedia = !['0', 'false', 'off'].includes(params.get('media') ?? '');

const client = new SFUClient();
const tiles = new Tiles(client, $('#grid'), () => { $('#sound').hidden = false; });
showUndecodable(client, $('#grid'));
const layout = new Layout($('#grid'), showView);
const people = new People(client, {
  panel: $('#people-panel'),
  toggle: $('#people-toggle'),
  close: $('#people-close'),
  title: $('#people-title'),
  list: $('#people-list'),
  copy: $('#invite-copy'),
  fallback: $('#invite-field'),
  copied: $('#invite-copied'),
});
const chat = new Chat(client, {
  panel: $('#chat-panel'),
  toggle: $('#chat-toggle'),
  close: $('#chat-close'),
  log: $('#chat-log'),
  form: $('#chat-form'),
  input: $('#chat-input'),
  send: $('#chat-send'),
  error: $('#chat-error'),
}, {
  onOpen: (open) => {
    if (open) people.setOpen(false);
    document.body.toggleAttribute('data-panel-open', open || !$('#people-panel').hidden);
  },
});
const overlay = new ReconnectOverlay($('#overlay'));
// Remote MediaStreamTrack.id -> participant id. The server reuses the m-line of a track that
// ended for the next one, and the browser then fires `track` again with the same track object
// in the newcomer's stream: the latest event says who owns it.
const trackOwners = new Map();
let localStream = null;
let problem = ''; // why the connection is down, shown next to the reconnect count
const muted = { audio: false, video: false };

window.sfuDebug = {
  client,
  async inboundVideo() {
    const report = await client.getStats('subscriber');
    const out = [];
    report?.forEach((s) => {
      if (s.type !== 'inbound-rtp' || (s.kind ?? s.mediaType) !== 'video') return;
      out.push({
        participantId: trackOwners.get(s.trackIdentifier) ?? null,
        framesDecoded: s.framesDecoded ?? 0,
        frameHeight: s.frameHeight ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
      });
    });
    return out;
  },
  tiles: () => [...document.querySelectorAll('.tile[data-participant-id]')].map((el) => el.dataset.participantId),
  direct: () => client.direct(),
  joinedAt: 0, // epoch ms of the latest joined

  layout: () => layout,
  speaking: () => [...document.querySelectorAll('.tile[data-speaking]')].map((el) => el.dataset.participantId ?? 'local'),
  localStream: () => localStream,
  chat: () => chat,
};

// --- status ---------------------------------------------------------------------------------

function setStatus(text, tone = 'info') {
  const el = $('#status');
  el.textContent = text;
  el.dataset.tone = tone;
}

function setNotice(text) {
  const el = $('#notice');
  el.textContent = text;
  el.hidden = !text;
}

function describeConnected() {
  const others = tiles.count;
  const who = others === 0 ? 'nobody else is here yet' : others === 1 ? '1 other person here' : `${others} other people here`;
  return `Connected to ${room}: ${who}.`;
}

// --- client events --------------------------------------------------------------------------

client.addEventListener('state', ({ detail }) => {
  document.body.dataset.state = detail.state;
  // Whoever spoke before the connection dropped may not be speaking now.
  if (detail.state !== State.CONNECTED) tiles.setSpeakers({ speakers: [], active: '' });
  if (detail.state !== State.CONNECTED) showPath({ mode: '' });
  if (detail.state === State.RECONNECTING) {
    overlay.show({ reason: problem || 'Lost the connection.', attempt: detail.attempt, delay: detail.delay });
  } else overlay.hide();
  switch (detail.state) {
    case State.CONNECTING: return setStatus(`Connecting to ${room}…`);
    case State.CONNECTED: problem = ''; return setStatus(describeConnected(), 'ok');
    case State.RECONNECTING: {
      const seconds = Math.round(detail.delay / 1000);
      return setStatus(`${problem || 'Lost the connection.'} Reconnecting in ${seconds}s (attempt ${detail.attempt})…`, 'warn');
    }
    case State.CLOSED: return setStatus('You left the call.');
    case State.ERROR:
      // The fatal error event already said why; there is no call to send to any more.
      stopSending();
      tiles.clear();
  }
});

client.addEventListener('error', ({ detail }) => {
  if (detail.ref === 'chat') return; // the chat panel says it (chat.js)
  const text = MESSAGES[detail.code];
  if (detail.fatal) {
    if (detail.code === 'replaced') offerRejoin('Rejoin here');
    return setStatus(text ?? `Could not join: ${detail.message}`, 'error');
  }
  // Our grant does not let us send after all: release the camera and microphone.
  if (detail.code === 'not_allowed' && detail.ref === 'offer') stopSending();
  if (detail.code === 'unreachable' || detail.code === 'ice_failed') problem = text;
  else if (text) setNotice(text);
  else console.warn('sfu:', detail.code, detail.message);
});

client.addEventListener('bye', ({ detail }) => {
  if (detail.reason === 'shutdown') problem = 'The server is shutting down.';
});

client.addEventListener('joined', ({ detail }) => {
  window.sfuDebug.joinedAt = performance.timeOrigin + performance.now();
  showPath({ mode: 'sfu' });
  if (detail.self?.name) $('#local .label').textContent = `${detail.self.name} (you)`;
  // A rejoin starts from nothing: the media shown belongs to the previous session.
  trackOwners.clear();
  tiles.sync(detail.participants, false);
});

// A move to another server took over: the media shown plays on until the new session's does.
client.addEventListener('moved', ({ detail }) => {
  tiles.sync(detail.participants, true);
  setStatus(describeConnected(), 'ok');
});

client.addEventListener('speakers', ({ detail }) => tiles.setSpeakers(detail));

// Peer to peer for two: the other's media over the direct connection is one more feed of theirs.
client.addEventListener('direct_track', ({ detail }) => tiles.addFeed(detail.participantId, detail.stream, true));
client.addEventListener('direct_show', ({ detail }) => tiles.showDirect(detail.participantId, detail.on));
client.addEventListener('direct_closed', ({ detail }) => tiles.dropDirect(detail.participantId));
client.addEventListener('path', ({ detail }) => showPath(detail));

function showPath(detail) {
  const el = $('#path');
  el.textContent = describePath(detail);
  el.dataset.mode = detail.mode;
}

client.addEventListener('participant_joined', ({ detail }) => {
  tiles.learn(detail.participant);
  setStatus(describeConnected(), 'ok');
});

client.addEventListener('participant_left', ({ detail }) => {
  tiles.forget(detail.participantId);
  setStatus(describeConnected(), 'ok');
});

for (const type of ['track_published', 'track_unpublished', 'track_muted']) {
  client.addEventListener(type, ({ detail }) => tiles.refresh(detail.participantId));
}

client.addEventListener('track', ({ detail }) => {
  const { track, participantId, stream } = detail;
  if (!participantId || !stream) return;
  trackOwners.set(track.id, participantId);
  tiles.addFeed(participantId, stream);
});

// --- local media ----------------------------------------------------------------------------

function showLocal(stream) {
  const tile = $('#local');
  tile.hidden = false;
  tile.querySelector('video').srcObject = stream;
  const name = client.self?.name || displayName;
  tile.querySelector('.label').textContent = name ? `${name} (you)` : 'You';
  tile.dataset.initial = (name || 'Y').slice(0, 1).toUpperCase();
  const hasAudio = stream.getAudioTracks().length > 0;
  const hasVideo = stream.getVideoTracks().length > 0;
  people.setSelf({ muted: !hasAudio || muted.audio });
  $('#mic').disabled = !hasAudio;
  $('#cam').disabled = !hasVideo;
  setFlag(tile, 'noVideo', !hasVideo);
  if (!hasAudio) setNotice('No microphone found: others can see you but not hear you.');
  if (!hasVideo) setNotice('No camera found: others can hear you but not see you.');
}

function toggle(kind) {
  muted[kind] = !muted[kind];
  client.setMuted(kind, muted[kind]);
  const button = kind === 'audio' ? $('#mic') : $('#cam');
  button.setAttribute('aria-pressed', String(muted[kind]));
  showMedia(kind);
  if (kind === 'audio') people.setSelf({ muted: muted.audio });
  setFlag($('#local'), kind === 'audio' ? 'audioMuted' : 'videoMuted', muted[kind]);
}

// The mic or camera button says what pressing it does; the icon shows the state now.
function showMedia(kind) {
  const on = !muted[kind];
  if (kind === 'audio') setButton($('#mic'), on ? 'mic' : 'mic-off', on ? 'Mute mic' : 'Unmute mic');
  else setButton($('#cam'), on ? 'camera' : 'camera-off', on ? 'Stop camera' : 'Start camera');
}

// The view button offers the other layout; a pinned tile is shown large in either.
function showView() {
  const speaker = layout.mode === 'speaker';
  setButton($('#view'), speaker ? 'grid' : 'speaker', speaker ? 'Grid view' : 'Speaker view');
}

function leave() {
  client.leave();
  stopSending();
  tiles.clear();
  offerRejoin('Rejoin');
}

// Turns the leave button into one that joins again, with a fresh page.
function offerRejoin(label) {
  const button = $('#leave');
  setButton(button, 'leave', label);
  button.onclick = () => location.reload();
}

// --- start ----------------------------------------------------------------------------------

async function fetchToken() {
  if (linkToken) return linkToken;
  const query = `room=${encodeURIComponent(room)}&name=${encodeURIComponent(displayName)}`;
  // A request that hangs fails after 10 s, and the client asks again.
  const res = await fetch(`/api/token?${query}`, { cache: 'no-store', signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) {
    throw Object.assign(new Error(MESSAGES.token_required), { fatal: true, code: 'token_required' });
  }
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  return (await res.json()).token;
}

function start() {
  if (!room || (!displayName && !linkToken)) {
    // Without a name there is nobody to introduce: ask for one in the lobby.
    location.replace(`/?room=${encodeURIComponent(room)}`);
    return;
  }
  document.title = `${room} · Call`;
  $('#room-name').textContent = room;
  showMedia('audio');
  showMedia('video');
  showView();
  setButton($('#sound'), 'volume', 'Turn on sound');
  setButton($('#leave'), 'leave', 'Leave');
  $('#view').onclick = () => {
    layout.pin(null);
    layout.setMode(layout.mode === 'speaker' ? 'grid' : 'speaker');
    showView();
  };
  $('#mic').onclick = () => toggle('audio');
  $('#cam').onclick = () => toggle('video');
  $('#sound').onclick = () => {
    tiles.enableSound();
    $('#sound').hidden = true;
  };
  $('#leave').onclick = leave;
  addEventListener('pagehide', () => client.leave());
  // Screen sharing (screen.js).
  const screen = new ScreenShare(client, $('#grid'), $('#share'), setNotice);
  window.sfuDebug.screens = () => screen.report();
  // Network quality bars on the tiles (quality.js).
  const quality = new QualityBars(client, $('#grid'), $('#local'));
  window.sfuDebug.quality = () => quality.shown();
  // File transfer (files.js).
  const files = new FileShare(client, { toggle: $('#files-toggle'), panel: $('#files-panel'), dropZone: $('.call') });
  // One side panel at a time: opening people, chat or files closes the other two.
  const panels = [
    { toggle: '#people-toggle', panel: '#people-panel', close: () => people.setOpen(false) },
    { toggle: '#chat-toggle', panel: '#chat-panel', close: () => chat.setOpen(false) },
    { toggle: '#files-toggle', panel: '#files-panel', close: () => files.setOpen(false, { focus: false }) },
  ];
  for (const p of panels) {
    $(p.toggle).addEventListener('click', () => {
      if ($(p.panel).hidden) return;
      for (const other of panels) if (other !== p && !$(other.panel).hidden) other.close();
    });
  }
  Object.assign(window.sfuDebug, { files, sha256SelfTest, Sha256 });
  startCall().catch((err) => console.warn('sfu: could not start the call', err));
}

// --- media and devices (media.js, devices.js, prejoin.js) -------------------------------------

const speaker = new Speaker(document.body, loadChoices().audiooutput ?? '');
let sendingOff = false; // the call is over, or we may not send: capture nothing more
let devicePanel = null;

// Joins: at once for a watch-only grant (capturing nothing), after the pre-join screen, or at
// once capturing meanwhile (?prejoin=0). A token the server cannot give stops here, before any
// camera or microphone is opened.
async function startCall() {
  let token = linkToken;
  try {
    token ??= await fetchToken();
  } catch (err) {
    if (err.fatal) return failBeforeJoin(err.code);
    // Not fatal: the client asks again and reports it.
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // Failures are reported through events; the promise only says when the first join is done.
  const connect = () => client.connect({ url: `${scheme}//${location.host}/ws`, token: fetchToken, room, p2p }).catch(() => {});
  chat.setReadOnly(tokenClaims(token)?.grants?.data === false);
  if (!maySend(token) || !withMedia) {
    // Watch only, or a link without media (?media=0): no camera or microphone is ever asked for.
    hideSendControls();
    showDevicePanel(false);
    people.setSelf({ muted: true });
    return connect();
  }
  if (showPrejoin) {
    document.body.dataset.state = 'prejoin';
    setStatus('Check your camera and microphone, then join.');
    const { stream, error } = await prejoin({ before: $('#grid'), speaker, messages: MESSAGES, room });
    connect();
    return stream ? sendMedia(stream) : noMedia(error);
  }
  connect();
  return capture().then(sendMedia, noMedia);
}

function failBeforeJoin(code) {
  document.body.dataset.state = State.ERROR;
  setStatus(MESSAGES[code] ?? `Could not join (${code}).`, 'error');
  stopSending();
}

// Shows and publishes stream, unless the call ended or may not send meanwhile: then the devices
// are released at once.
function sendMedia(stream) {
  if (sendingOff) return release(stream);
  localStream = stream;
  showLocal(stream);
  showDevicePanel();
  return client.publish(stream, { videoCodec: params.get('codec') ?? '', simulcast: params.get('simulcast') !== 'false' })
    .catch((err) => console.warn('sfu: publishing failed', err));
}

function noMedia(err) {
  people.setSelf({ muted: true });
  $('#mic').disabled = $('#cam').disabled = true;
  if (err) setNotice(MESSAGES[err.name] ?? `Could not start your camera or microphone (${err.message}), so you joined as a viewer.`);
}

function hideSendControls() {
  $('#mic').hidden = $('#cam').hidden = $('#share').hidden = true;
}

// We send nothing from now on: the camera and microphone are released at once, their tile and
// controls go.
function stopSending() {
  sendingOff = true;
  release(localStream);
  localStream = null;
  $('#local').hidden = true;
  hideSendControls();
  if (devicePanel) devicePanel.hidden = true;
}

// The call's Devices panel (devices.js); a watch-only call has the speaker only.
function showDevicePanel(inputs = true) {
  devicePanel ??= devicePanelFor({
    before: $('#leave'), speaker, inputs,
    stream: () => (sendingOff ? null : localStream),
    replace: (old, track) => client.replaceTrack(old, track),
    onSwitched: () => {
      const video = $('#local video');
      video.srcObject = null;
      video.srcObject = localStream;
      setFlag($('#local'), 'noVideo', localStream.getVideoTracks().length === 0);
      $('#mic').disabled = localStream.getAudioTracks().length === 0;
      $('#cam').disabled = localStream.getVideoTracks().length === 0;
    },
    onError: (err) => setNotice(`Could not switch to that device (${err.message}).`),
  });
}

start();
