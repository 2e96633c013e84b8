// The SFU protocol client: it joins a room through one session at a time (session.js: one
// WebSocket, a publisher and a subscriber connection, and in a call of two a direct one to the
// other person; see signaling/PROTOCOL.md), reconnects
// when a session is lost, and moves make before break when its node asks it to (`move`).
// It touches no DOM; the page listens to its events.

import { Session } from './session.js';

const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 10_000;
// A move waits at most this long for media on the new session before it takes over anyway.
const MOVE_SETTLE_MS = 5_000;
// How often a move compares what the two sessions receive, and how recent a frame must be to
// count as playing.
const MOVE_POLL_MS = 100;
const MOVE_RECENT_MS = 500;
// How long the old session goes on once the new one took over: the others receive our new
// tracks only after a renegotiation and a keyframe, and until then they see and hear us
// through the old one.
const MOVE_LINGER_MS = 2_000;

// Close codes the server uses for refusals that retrying cannot cure (4401 token, 4400 room).
const FATAL_CLOSE_CODES = new Set([4400, 4401]);
// Close code for a session replaced by the same identity joining on another connection (another
// tab or device). Reconnecting would throw that one out in turn, and so on forever.
const CLOSE_REPLACED = 4409;

/** Connection states, as carried by the `state` event. */
export const State = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  CLOSED: 'closed',
  ERROR: 'error',
});

const backoff = (attempt) => Math.min(BACKOFF_FIRST_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SFUClient joins a room, publishes a local stream and receives everybody else's.
 *
 * Events (CustomEvent, payload in `detail`):
 *   state               {state, attempt, delay}   attempt/delay only while reconnecting
 *   joined              the server's `joined` message (a new session: show nothing older)
 *   participant_joined  {participant}
 *   participant_left    {participantId}
 *   track_published     {participantId, track}
 *   track_unpublished   {participantId, trackId}
 *   track_muted         {participantId, trackId, kind, muted}
 *   track_undecodable   {participantId, trackId, kind, codec}   this browser cannot decode the
 *                       track's codec (a MIME type): it is not sent to us; say so
 *   codec               {trackId, codec, from}   somebody cannot decode our video: we now send it
 *                       in codec ('vp8') instead of from
 *   track               {track, participantId, stream, receiver}   remote media arrived
 *   quality             {level, others}   network quality, 0 bad to 3 good: ours, and the others'
 *                       by participant id (PROTOCOL.md, "Network quality"); sent on change
 *   speakers            {speakers, active}   who speaks (participant ids, loudest first, ours
 *                       too) and who has the floor ('' for nobody); sent on change, ≤ 1 per 300 ms
 *   move                {timeLeft}   our node is going away: we open a session elsewhere while
 *                       this one goes on; nothing for the page to do
 *   moved               the new session's `joined`, with `participants` as they are now: it has
 *                       taken over (self and participants are its own), and its `track` events
 *                       follow at once. Media of the old session plays on for a moment, so a
 *                       page keeps showing it until the new tracks play.
 *   bye                 {reason}   'shutdown' (we reconnect), or 'replaced': this identity
 *                       joined elsewhere, and a fatal error 'replaced' follows (no reconnect)
 *   error               {code, message, ref, fatal}
 *   path                {mode, trying, candidate, reason}   how the call's media goes: 'sfu'
 *                       (through the server; trying: a direct connection is being made) or
 *                       'p2p' (directly, candidate: our side's ICE candidate type)
 *   direct_track        {participantId, stream}   the other's media over the direct connection
 *   direct_show         {participantId, on}   show that (on) or the server's media (off) now;
 *                       the page swaps in one step
 *   direct_closed       {participantId}   the direct connection and its stream are gone
 *   direct_channel      {participantId, channel}   the direct connection's data channel opened
 *                       (an RTCDataChannel, binary; for file transfer, files.js)
 *   data                {from, topic, payload, lossy}   application data for us (PROTOCOL.md,
 *                       "Application data"): from a participant id, payload a Uint8Array
 *   data_open           {lossy}   a data channel opened (after each join, rejoin and move)
 *   bufferedamountlow   {lossy}   that channel's bufferedAmount fell to its
 *                       bufferedAmountLowThreshold (dataChannel(lossy) sets it)
 *   data_error          {code, message, participantId}   the server's error with ref "data":
 *                       data_dropped (a reliable message to participantId did not fit its
 *                       buffer), data_too_large, not_allowed, rate_limited, bad_topic, bad_data
 * A participant with our own identity is our other session while we move; it never appears.
 */
export class SFUClient extends EventTarget {
  /** Current State value. */
  state = State.CLOSED;

  #options = null; // {url, token, room, p2p} from connect
  #session = null; // the session the page sees
  #move = null; // {from, next, attempt, timer, freshToken, replaced} while moving
  #retiring = new Set(); // sessions moved away from, left once MOVE_LINGER_MS has passed
  // What we publish, kept across sessions: the local MediaStream, the preferred video codec
  // ('' keeps the browser's order), three simulcast layers or one, and what the user muted.
  #media = { stream: null, videoCodec: '', simulcast: true, muted: { audio: false, video: false }, screen: null };
  #layers = new Map(); // remote track id -> the maxLayer we asked for
  #attempt = 0;
  #retryTimer = 0;
  #stopped = false; // after leave() or a fatal error: never reconnect
  #firstJoin = null; // {resolve, reject} for connect()'s promise

  /** Our own Participant in the current session, or null. */
  get self() {
    return this.#session?.self ?? null;
  }

  /** The other participants by id, kept current from the server's messages. */
  get participants() {
    return this.#session?.participants ?? new Map();
  }

  /**
   * Connects and joins. `token` is a string or an async function returning one (called before
   * each attempt, so a reconnect may use a fresh token). A token function may throw an error
   * with `fatal: true` to stop for good. The promise resolves with the first `joined` message
   * and rejects on a fatal error; later trouble is reported through events only. With p2p
   * false our calls of two stay on the server (PROTOCOL.md, "Peer to peer for two").
   */
  connect({ url, token, room, p2p = true }) {
    this.#options = { url, token, room, p2p };
    this.#stopped = false;
    this.#attempt = 0;
    const joined = new Promise((resolve, reject) => { this.#firstJoin = { resolve, reject }; });
    this.#open();
    return joined;
  }

  /**
   * Publishes the tracks of stream, now or as soon as we are joined, and after every rejoin.
   * `videoCodec` ('vp8', 'vp9', 'h264' or 'av1') puts that codec first in our offer when the
   * browser has it; the SFU forwards whatever the publisher sends.
   */
  async publish(stream, { videoCodec = '', simulcast = true } = {}) {
    Object.assign(this.#media, { stream, videoCodec: videoCodec.toLowerCase(), simulcast });
    this.#move?.next?.publish().catch(() => {}); // its trouble is the move's to handle
    if (this.state === State.CONNECTED) await this.#session.publish();
  }

  /**
   * Shares track, a screen (screen.js), beside the published stream, now or as soon as we are
   * joined, and after every rejoin; null stops sharing.
   */
  async shareScreen(track) {
    this.#media.screen = track;
    this.#move?.next?.publish().catch(() => {});
    if (this.state === State.CONNECTED) await this.#session.publish();
  }

  /**
   * Asks to receive at most simulcast layer maxLayer (0 lowest, 2 highest) of a remote track,
   * for example because it is shown small.
   */
  setLayer(trackId, maxLayer) {
    this.#layers.set(trackId, maxLayer);
    if (this.state === State.CONNECTED) this.#session.setLayer(trackId, maxLayer);
    const next = this.#move?.next;
    if (next?.hasTrack(trackId)) next.setLayer(trackId, maxLayer);
  }

  /** Sends a chat message to the room (PROTOCOL.md, "Chat"); its echo, a `chat` event, says it went. */
  sendChat(text) {
    if (this.state === State.CONNECTED) this.#session.send({ type: 'chat', text });
  }

  /** Mutes or unmutes our own track of kind ('audio' or 'video') and tells the room. */
  setMuted(kind, muted) {
    this.#media.muted[kind] = muted;
    for (const track of this.#media.stream?.getTracks() ?? []) {
      if (track.kind === kind) track.enabled = !muted;
    }
    for (const s of this.#sessions()) s.setMuted(kind, muted);
  }

  /**
   * Puts newTrack in the published stream in place of oldTrack (null: a kind not sent yet), on
   * every session, without a renegotiation where a sender had oldTrack: for a switch of camera
   * or microphone. newTrack takes the mute of its kind; later sessions publish it.
   */
  async replaceTrack(oldTrack, newTrack) {
    const { stream } = this.#media;
    if (!stream) return;
    if (oldTrack) stream.removeTrack(oldTrack);
    stream.addTrack(newTrack);
    newTrack.enabled = !this.#media.muted[newTrack.kind];
    await Promise.all(this.#sessions().map((s) => s.replaceTrack(oldTrack, newTrack)));
  }

  /**
   * Sends application data (PROTOCOL.md, "Application data"): payload (Uint8Array, ArrayBuffer
   * or string) on topic to the participant ids in to (none: everybody else with a channel
   * open), on the reliable channel or, with lossy, the one that may drop. It returns false when
   * the channel is not open (not joined, or a new session's channel is opening: data_open says
   * when), and throws on a topic starting with "sfu." or one over 255 bytes.
   */
  sendData(payload, { topic = '', to = [], lossy = false } = {}) {
    if (this.state !== State.CONNECTED) return false;
    return this.#session.sendData(payload, { topic, to, lossy });
  }

  /**
   * The current session's reliable or lossy RTCDataChannel, or null: its bufferedAmount, and
   * its bufferedAmountLowThreshold for the bufferedamountlow event, serve flow control.
   */
  dataChannel({ lossy = false } = {}) {
    return this.#session?.dataChannel(lossy) ?? null;
  }

  /**
   * The open data channel of the direct connection to participant id in a call of two
   * (PROTOCOL.md, "Peer to peer for two"), or null: what goes on it never reaches the server.
   */
  directChannel(id) {
    return this.#session?.directChannel(id) ?? null;
  }

  /** Leaves the room for good. The local stream is left to the caller to stop. */
  leave() {
    this.#stopped = true;
    for (const s of this.#sessions()) s.leave();
    this.#endSession();
    this.#firstJoin?.reject(new Error('sfu: left before joining'));
    this.#firstJoin = null;
    this.#setState(State.CLOSED);
  }

  /** Returns the RTCStatsReport of the 'publisher' or 'subscriber' connection, or null. */
  async getStats(target = 'subscriber') {
    return this.peerConnection(target)?.getStats() ?? null;
  }

  /** The current RTCPeerConnection for 'publisher', 'subscriber' or 'peer', or null (for debugging). */
  peerConnection(target) {
    return this.#session?.peerConnection(target) ?? null;
  }

  /**
   * What the direct connection of a call of two did: {mode, peerId, open, path, and the times
   * (epoch ms) startedAt, firstFrameAt, connectedAt, p2pAt, sfuAt, swappedAt, closedAt}; null
   * without a session.
   */
  direct() {
    return this.#session?.directStatus() ?? null;
  }

  // Every session still open: the current one, the one we move to, those we moved from.
  #sessions() {
    return [this.#session, this.#move?.next, ...this.#retiring].filter((s) => s && !s.ended);
  }

  #newSession(token) {
    const session = new Session({
      url: this.#options.url, room: this.#options.room, token, media: this.#media, p2p: this.#options.p2p,
      emit: (type, detail) => this.#onSessionEvent(session, type, detail),
      ours: (id) => this.#sessions().some((s) => s.self?.id === id),
    });
    return session;
  }

  async #open() {
    if (this.#attempt === 0) this.#setState(State.CONNECTING);
    let token;
    try {
      token = await this.#token();
    } catch (err) {
      if (err.fatal) return this.#fail(err.code ?? 'token_unavailable', err.message);
      this.#emit('error', { code: 'unreachable', message: `sfu: getting a token: ${err.message}`, fatal: false });
      return this.#retry();
    }
    if (this.#stopped) return;
    this.#session = this.#newSession(token);
    this.#session.open();
  }

  async #token() {
    const { token } = this.#options;
    return typeof token === 'function' ? token() : token;
  }

  #onSessionEvent(session, type, detail) {
    if (session === this.#session) return this.#onCurrentEvent(session, type, detail);
    if (session === this.#move?.next) return this.#onNextEvent(session, type, detail);
    // A session we moved away from: nothing it says matters any more.
  }

  #onCurrentEvent(session, type, detail) {
    switch (type) {
      case 'joined':
        this.#attempt = 0;
        // A new session: the tracks are new too, and the page asks for their layers again.
        this.#layers.clear();
        this.#setState(State.CONNECTED);
        this.#emit('joined', detail);
        this.#firstJoin?.resolve(detail);
        this.#firstJoin = null;
        return;
      case 'closed':
        if (this.#move && this.#lostWhileMoving(detail.code === CLOSE_REPLACED)) return;
        return this.#onClose(detail.code, detail.opened);
      case 'fatal': return this.#fail(detail.code, detail.message);
      case 'bye':
        // While we move, the new session may replace this one (PROTOCOL.md, Moving).
        if (detail.reason === 'replaced' && this.#move && this.#lostWhileMoving(true)) return;
        this.#emit('bye', detail);
        if (detail.reason === 'replaced') this.#failReplaced();
        return;
      case 'ice_failed':
        this.#emit('error', { code: 'ice_failed', message: `sfu: ${detail.target} connection failed`, fatal: false });
        // ICE gave up: the cheapest sure repair is a fresh session, unless one is ready.
        if (this.#move && this.#lostWhileMoving(false)) return;
        return this.#retry();
      case 'move': return this.#startMove(session, detail.timeLeft);
      case 'error':
        if (detail.code === 'negotiation_failed' && (this.#stopped || this.state !== State.CONNECTED)) return;
        return this.#emit('error', detail);
      default: return this.#emit(type, detail);
    }
  }

  #onClose(code, opened) {
    this.#endSession();
    if (this.#stopped) return;
    if (code === CLOSE_REPLACED) return this.#failReplaced();
    if (FATAL_CLOSE_CODES.has(code)) {
      return this.#fail('rejected', `sfu: the server refused the session (close code ${code})`);
    }
    if (!opened) this.#emit('error', { code: 'unreachable', message: 'sfu: cannot reach the server', fatal: false });
    this.#retry();
  }

  // Drops the current session and schedules a fresh one with exponential backoff.
  #retry() {
    this.#endSession();
    this.#attempt++;
    const delay = backoff(this.#attempt);
    this.#setState(State.RECONNECTING, { attempt: this.#attempt, delay });
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  // The same identity joined from another tab or device; rejoining would throw that one out.
  #failReplaced() {
    this.#fail('replaced', 'sfu: you joined from another tab or device');
  }

  #fail(code, message) {
    this.#stopped = true;
    this.#endSession();
    this.#emit('error', { code, message, fatal: true });
    this.#firstJoin?.reject(Object.assign(new Error(message), { code }));
    this.#firstJoin = null;
    this.#setState(State.ERROR);
  }

  // Closes every session and forgets the room. Safe to call twice.
  #endSession() {
    clearTimeout(this.#retryTimer);
    this.#session?.close();
    this.#session = null;
    this.#dropMove();
    for (const s of this.#retiring) s.close();
    this.#retiring.clear();
  }

  // --- moving (PROTOCOL.md, "Moving"): make before break --------------------------------------

  // The node of session `from` goes away: open a new session through the same URL (a load
  // balancer sends it to a live node) with the same token, so the same identity.
  #startMove(from, timeLeft) {
    if (this.#stopped || this.#move) return;
    this.#move = { from, next: null, attempt: 0, timer: 0, freshToken: false, replaced: false };
    this.#emit('move', { timeLeft });
    this.#dialMove(this.#move);
  }

  async #dialMove(move) {
    let token = move.from.token;
    if (move.freshToken) {
      try {
        token = await this.#token();
      } catch {
        return this.#moveAgain(move);
      }
    }
    if (this.#move !== move || this.#stopped) return;
    move.next = this.#newSession(token);
    move.next.open();
  }

  #onNextEvent(next, type, detail) {
    const move = this.#move;
    switch (type) {
      case 'joined':
        this.#session?.disown(next.self.id);
        // Replaced by this join, the old session has nothing to wait for.
        if (move.replaced || move.from.ended) return this.#switchTo(next);
        return this.#catchUp(move, next);
      case 'fatal':
        // The token was refused (expired, perhaps): the next attempt asks the token function
        // for a fresh one. The old session serves meanwhile.
        move.freshToken = true;
        return this.#nextLost(move, next);
      case 'bye':
      case 'closed':
        // Replaced by yet another tab or device: that one has the room now.
        if (detail.reason === 'replaced' || detail.code === CLOSE_REPLACED) return this.#failReplaced();
        return this.#nextLost(move, next);
      case 'ice_failed':
        return this.#nextLost(move, next);
      case 'track':
        // Received as the page shows it, not larger: decoding both sessions' media costs enough.
        for (const t of next.participants.get(detail.participantId)?.tracks ?? []) {
          if (this.#layers.has(t.id)) next.setLayer(t.id, this.#layers.get(t.id));
        }
        return;
      default:
        // Everything else is in the session's own state, which the page gets when it takes over.
    }
  }

  // The new session is lost before it took over: try again while the old one lasts.
  #nextLost(move, next) {
    next.close();
    move.next = null;
    if (move.replaced || move.from.ended) {
      // Neither is left: reconnect as after any lost session.
      this.#move = null;
      return this.#retry();
    }
    this.#moveAgain(move);
  }

  #moveAgain(move) {
    if (this.#move !== move) return;
    move.attempt++;
    move.timer = setTimeout(() => this.#dialMove(move), backoff(move.attempt));
  }

  // The session we move from ended (closed, replaced by the new one, or its ICE failed): the
  // new one takes over now if it has joined. It reports whether it dealt with the loss.
  #lostWhileMoving(replaced) {
    const move = this.#move;
    if (move.next?.self) {
      this.#switchTo(move.next);
      return true;
    }
    if (replaced && move.next) {
      // The server replaced the old session for our new one, whose `joined` is on its way.
      move.replaced = true;
      return true;
    }
    this.#dropMove();
    return false;
  }

  #dropMove() {
    if (!this.#move) return;
    clearTimeout(this.#move.timer);
    this.#move.next?.leave();
    this.#move = null;
  }

  // Waits until the new session receives media of everyone whose media the old one receives
  // (a decoded video frame, audio, within MOVE_RECENT_MS), or MOVE_SETTLE_MS, then switches.
  async #catchUp(move, next) {
    const want = new Set();
    const seenOld = new Map();
    const seenNew = new Map();
    const playing = new Map(); // key -> when the new session last played it
    const start = Date.now();
    for (let round = 0; ; round++) {
      const now = Date.now();
      for (const key of move.from.flowing(seenOld)) want.add(key);
      for (const key of next.flowing(seenNew)) playing.set(key, now);
      // Someone who left entirely is not waited for.
      const present = new Set([...move.from.participants.values()].map((p) => p.identity));
      for (const key of want) if (!present.has(key.slice(0, key.lastIndexOf('/')))) want.delete(key);
      if (round > 0 && [...want].every((key) => now - (playing.get(key) ?? -Infinity) <= MOVE_RECENT_MS)) break;
      if (now - start >= MOVE_SETTLE_MS) break;
      await sleep(MOVE_POLL_MS);
      if (this.#move !== move || move.next !== next) return;
    }
    this.#switchTo(next);
  }

  // The new session takes over in one step; the old one goes on for MOVE_LINGER_MS.
  #switchTo(next) {
    const move = this.#move;
    clearTimeout(move.timer);
    this.#move = null;
    const old = this.#session;
    this.#session = next;
    this.#attempt = 0;
    if (old?.self) next.disown(old.self.id);
    for (const [trackId, layer] of this.#layers) {
      if (next.hasTrack(trackId)) next.setLayer(trackId, layer);
      else this.#layers.delete(trackId);
    }
    this.#emit('moved', { ...next.joined, participants: [...next.participants.values()] });
    for (const detail of next.tracks()) this.#emit('track', detail);
    if (old && !old.ended) {
      this.#retiring.add(old);
      setTimeout(() => {
        if (!this.#retiring.delete(old)) return;
        old.leave();
      }, MOVE_LINGER_MS);
    }
    if (next.moveAsked !== null) this.#startMove(next, next.moveAsked);
  }

  #setState(state, extra = {}) {
    this.state = state;
    this.#emit('state', { state, ...extra });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
