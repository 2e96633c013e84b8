// Screen sharing on the call page: the "Share screen" button (getDisplayMedia, published as a
// second video track named a screen, signaling/PROTOCOL.md "Track sources"), and the others'
// shared screens, each in a tile of its own marked data-source="screen".

import { setButton } from './icons.js';
import { preferCodec } from './peer.js';

// One encoding at full resolution, not simulcast. A shared screen is mostly text: a half or a
// quarter of its resolution is unreadable, so lower simulcast layers would be pictures nobody
// can use, and would cost the sharer's encoder for nothing. The server gives a screen its
// bandwidth before any camera, and with the track's contentHint 'detail' and the sender's
// degradationPreference 'maintain-resolution' the encoder answers a short link with fewer
// frames per second, which a screen bears well, rather than with blur.
export const SCREEN_ENCODINGS = [{ maxBitrate: 2_500_000 }];

// What getDisplayMedia is asked for: a screen changes little, 15 frames a second are plenty.
const DISPLAY_CONSTRAINTS = { video: { frameRate: { ideal: 15, max: 30 } }, audio: false };

const SHARE_LABEL = 'Share screen';
const STOP_LABEL = 'Stop sharing';

/** The track id the subscriber connection's remote description gives the m-line mid (msid). */
function msidTrackOf(pc, mid) {
  const sdp = pc?.remoteDescription?.sdp ?? '';
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const lines = section.split(/\r?\n/);
    if (!lines.includes(`a=mid:${mid}`)) continue;
    return lines.find((l) => l.startsWith('a=msid:'))?.split(' ')[1] ?? null;
  }
  return null;
}

/**
 * Has pc send track (our shared screen; null: none) on screen, our screen's transceiver (null
 * before the first share), in codec; returns the transceiver. The session names it a screen in
 * its offers. A later share takes the same transceiver again, so sharing on and off never adds
 * media sections. It runs in the publisher connection's queue.
 */
export async function sendScreen(pc, screen, track, codec) {
  if (screen && screen.sender.track === track) return screen;
  if (screen) {
    await screen.sender.replaceTrack(track);
    screen.direction = track ? 'sendonly' : 'inactive';
    return screen;
  }
  if (!track) return null;
  const t = pc.addTransceiver(track, { direction: 'sendonly', sendEncodings: SCREEN_ENCODINGS });
  preferCodec(t, codec);
  // Short of bandwidth or CPU, the encoder lowers the frame rate and keeps the text sharp.
  const params = t.sender.getParameters();
  params.degradationPreference = 'maintain-resolution';
  await t.sender.setParameters(params).catch(() => {}); // not every browser has it
  return t;
}

/**
 * ScreenShare runs the share button and shows the others' screens. client is the page's
 * SFUClient, grid the element tiles go in, button the share button (hidden where the browser
 * cannot share, or the server does not let us publish), onNotice(text) tells the person why
 * sharing did not start.
 */
export class ScreenShare {
  #client;
  #grid;
  #button;
  #onNotice;
  #track = null; // our shared screen while we share
  #shown = new Map(); // server track id -> {tile, video, receiver, participantId}
  #clickedAt = 0; // epoch ms of the latest click on Share screen (for tests)

  constructor(client, grid, button, onNotice = () => {}) {
    this.#client = client;
    this.#grid = grid;
    this.#button = button;
    this.#onNotice = onNotice;
    button.hidden = !navigator.mediaDevices?.getDisplayMedia;
    this.#setButton(false);
    button.onclick = () => (this.#track ? this.stop() : this.start());
    client.addEventListener('track', ({ detail }) => this.#onTrack(detail));
    client.addEventListener('track_unpublished', ({ detail }) => this.#drop(detail.trackId));
    client.addEventListener('participant_left', ({ detail }) => this.#dropOf((id) => id === detail.participantId));
    // A new session shows nothing of the previous one; after a move, those still here stay.
    client.addEventListener('joined', () => this.#dropOf(() => true));
    client.addEventListener('moved', () => this.#dropOf((id) => !client.participants.has(id)));
    client.addEventListener('state', ({ detail }) => {
      if (detail.state === 'closed' || detail.state === 'error') this.stop(); // left the call
    });
    client.addEventListener('error', ({ detail }) => {
      // A token without the publish grant: we can watch, not share.
      if (detail.code !== 'not_allowed' || detail.ref !== 'offer') return;
      this.stop();
      button.hidden = true;
    });
  }

  /** Asks the browser for a screen (it needs the click that calls it) and shares it. */
  async start() {
    if (this.#track) return;
    this.#clickedAt = performance.timeOrigin + performance.now();
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia(DISPLAY_CONSTRAINTS);
    } catch (err) {
      if (err.name !== 'NotAllowedError') this.#onNotice(`Could not share your screen (${err.message}).`);
      return; // NotAllowedError: the person chose not to share
    }
    const [track] = stream.getVideoTracks();
    if (!track) return;
    if ('contentHint' in track) track.contentHint = 'detail';
    // The browser's own "Stop sharing" ends the track.
    track.onended = () => { if (this.#track === track) this.stop(); };
    this.#track = track;
    this.#setButton(true);
    await this.#client.shareScreen(track).catch((err) => console.warn('sfu: sharing the screen failed', err));
  }

  /** Stops sharing our screen. */
  stop() {
    const track = this.#track;
    if (!track) return;
    this.#track = null;
    track.onended = null;
    track.stop();
    this.#setButton(false);
    this.#client.shareScreen(null).catch((err) => console.warn('sfu: stopping the screen failed', err));
  }

  /** Whether we share our screen now. */
  get sharing() {
    return !!this.#track;
  }

  /**
   * The screens shown, for tests and debugging: participant, track, the picture's size, and
   * the receiver's decoding statistics; clickedAt is when Share screen was last clicked here,
   * captured what our own shared screen's track says of itself while we share.
   */
  async report() {
    const screens = [];
    for (const [trackId, s] of this.#shown) {
      let inbound = {};
      (await s.receiver?.getStats())?.forEach((r) => { if (r.type === 'inbound-rtp') inbound = r; });
      screens.push({
        trackId,
        participantId: s.participantId,
        width: s.video.videoWidth,
        height: s.video.videoHeight,
        framesDecoded: inbound.framesDecoded ?? 0,
        frameWidth: inbound.frameWidth ?? 0,
        frameHeight: inbound.frameHeight ?? 0,
        framesPerSecond: inbound.framesPerSecond ?? 0,
      });
    }
    const { width = 0, height = 0, frameRate = 0 } = this.#track?.getSettings() ?? {};
    return { sharing: this.sharing, clickedAt: this.#clickedAt, captured: { width, height, frameRate }, screens };
  }

  #setButton(sharing) {
    setButton(this.#button, 'screen', sharing ? STOP_LABEL : SHARE_LABEL);
    this.#button.setAttribute('aria-pressed', String(sharing));
  }

  // A remote track arrived (or an m-line was reused for another): a screen gets a tile of its
  // own, and leaves its participant's stream, whose tile shows the camera.
  #onTrack({ track, participantId, stream, receiver }) {
    if (track.kind !== 'video' || !participantId) return;
    const mid = this.#client.peerConnection('subscriber')?.getTransceivers().find((t) => t.receiver === receiver)?.mid;
    const trackId = mid == null ? null : msidTrackOf(this.#client.peerConnection('subscriber'), mid);
    // The receiver showed another screen before its m-line was reused.
    for (const [id, s] of this.#shown) if (s.receiver === receiver && id !== trackId) this.#drop(id);
    const info = this.#client.participants.get(participantId)?.tracks?.find((t) => t.id === trackId);
    if (info?.source !== 'screen') return;
    stream?.removeTrack(track);
    if (this.#shown.has(trackId)) return;
    const tile = document.createElement('div');
    tile.className = 'tile screen';
    tile.dataset.source = 'screen';
    tile.dataset.publisherId = participantId;
    tile.dataset.trackId = trackId;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.srcObject = new MediaStream([track]);
    const label = document.createElement('span');
    label.className = 'label';
    const name = this.#client.participants.get(participantId)?.name || 'Someone';
    label.textContent = `${name}'s screen`;
    tile.append(video, label);
    this.#grid.prepend(tile);
    video.play().catch(() => {});
    this.#shown.set(trackId, { tile, video, receiver, participantId });
    this.#client.setLayer(trackId, 2); // all of it: a screen is shown large
  }

  #drop(trackId) {
    const s = this.#shown.get(trackId);
    if (!s) return;
    this.#shown.delete(trackId);
    s.video.srcObject = null;
    s.tile.remove();
  }

  #dropOf(match) {
    for (const [trackId, s] of [...this.#shown]) if (match(s.participantId)) this.#drop(trackId);
  }
}
