// The SFU protocol client: one WebSocket for signaling and two RTCPeerConnections, publisher
// (we offer) and subscriber (the server offers), as described in signaling/PROTOCOL.md.
// It touches no DOM; the page listens to its events.

const PROTOCOL_VERSION = 2;
const PING_INTERVAL_MS = 10_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 10_000;

// Error codes after which retrying with the same token cannot succeed.
const FATAL_CODES = new Set(['invalid_token', 'token_expired', 'room_mismatch', 'bad_room']);
// Close codes the server uses for those refusals (4401 token, 4400 room).
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

// Three simulcast layers, lowest first, named as the server expects: a quarter, half and full
// resolution. The SFU forwards to each subscriber the best layer its link and view allow.
const SIMULCAST_ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/** Puts the codec named (e.g. 'vp9') first in the transceiver's preferences, if supported. */
function preferCodec(transceiver, name) {
  const caps = name && globalThis.RTCRtpReceiver?.getCapabilities?.('video');
  if (!caps || !transceiver.setCodecPreferences) return;
  const wanted = `video/${name}`;
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (first.length === 0) return;
  transceiver.setCodecPreferences([...first, ...caps.codecs.filter((c) => c.mimeType.toLowerCase() !== wanted)]);
}

/**
 * One RTCPeerConnection plus the bookkeeping trickle ICE needs: remote candidates wait for the
 * remote description, local candidates wait until our description has gone out, and
 * negotiation steps run one at a time.
 */
class Peer {
  #queue = Promise.resolve();
  #remotePending = [];
  #localPending = [];
  #descriptionSent = false;

  constructor(target, iceServers, send) {
    this.target = target;
    this.closed = false;
    this.send = send;
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    this.pc.onicecandidate = (e) => {
      // A null candidate is the end of gathering; the protocol spells that as "".
      const init = e.candidate ? e.candidate.toJSON() : { candidate: '' };
      if (this.#descriptionSent) this.#sendCandidate(init);
      else this.#localPending.push(init);
    };
  }

  /** Runs fn after every step queued before it; a failed step does not block later ones. */
  run(fn) {
    const step = this.#queue.then(fn);
    this.#queue = step.catch(() => {});
    return step;
  }

  /** Marks our description as sent, releasing the candidates gathered so far. */
  descriptionSent() {
    this.#descriptionSent = true;
    for (const init of this.#localPending.splice(0)) this.#sendCandidate(init);
  }

  async setRemote(description) {
    await this.pc.setRemoteDescription(description);
    for (const init of this.#remotePending.splice(0)) await this.#addCandidate(init);
  }

  addRemoteCandidate(init) {
    if (this.pc.remoteDescription) return this.#addCandidate(init);
    this.#remotePending.push(init);
  }

  close() {
    this.closed = true;
    this.pc.onicecandidate = this.pc.ontrack = this.pc.onconnectionstatechange = null;
    this.pc.close();
  }

  async #addCandidate(init) {
    try {
      await this.pc.addIceCandidate(init);
    } catch (err) {
      // End-of-candidates is optional; a bad single candidate is not worth a session.
      if (init.candidate) console.warn(`sfu: ${this.target} candidate refused:`, err);
    }
  }

  #sendCandidate(candidate) {
    this.send({ type: 'candidate', target: this.target, candidate });
  }
}

/**
 * SFUClient joins a room, publishes a local stream and receives everybody else's.
 *
 * Events (CustomEvent, payload in `detail`):
 *   state               {state, attempt, delay}   attempt/delay only while reconnecting
 *   joined              the server's `joined` message
 *   participant_joined  {participant}
 *   participant_left    {participantId}
 *   track_published     {participantId, track}
 *   track_unpublished   {participantId, trackId}
 *   track_muted         {participantId, trackId, kind, muted}
 *   track               {track, participantId, stream, receiver}   remote media arrived
 *   speakers            {speakers, active}   who speaks (participant ids, loudest first, ours
 *                       too) and who has the floor ('' for nobody); sent on change, ≤ 1 per 300 ms
 *   bye                 {reason}   'shutdown' (we reconnect), or 'replaced': this identity
 *                       joined elsewhere, and a fatal error 'replaced' follows (no reconnect)
 *   error               {code, message, ref, fatal}
 */
export class SFUClient extends EventTarget {
  /** Current State value. */
  state = State.CLOSED;
  /** Our own Participant from the last `joined`, or null. */
  self = null;
  /** The other participants by id, kept current from the server's messages. */
  participants = new Map();

  #options = null; // {url, token, room} from connect
  #ws = null;
  #publisher = null; // Peer
  #subscriber = null; // Peer
  #iceServers = [];
  #stream = null; // the local MediaStream to publish, kept across reconnects
  #muted = { audio: false, video: false };
  #videoCodec = ''; // preferred video codec, e.g. 'vp9'; '' keeps the browser's order
  #simulcast = true; // publish video as three layers (rids q, h, f)
  #answerWaiter = null; // {resolve, reject} while our publisher offer is outstanding
  #attempt = 0;
  #retryTimer = 0;
  #pingTimer = 0;
  #stopped = false; // after leave() or a fatal error: never reconnect
  #firstJoin = null; // {resolve, reject} for connect()'s promise

  /**
   * Connects and joins. `token` is a string or an async function returning one (called before
   * each attempt, so a reconnect may use a fresh token). A token function may throw an error
   * with `fatal: true` to stop for good. The promise resolves with the first `joined` message
   * and rejects on a fatal error; later trouble is reported through events only.
   */
  connect({ url, token, room }) {
    this.#options = { url, token, room };
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
    this.#stream = stream;
    this.#videoCodec = videoCodec.toLowerCase();
    this.#simulcast = simulcast;
    if (this.state === State.CONNECTED) await this.#startPublishing();
  }

  /**
   * Asks to receive at most simulcast layer maxLayer (0 lowest, 2 highest) of a remote track,
   * for example because it is shown small.
   */
  setLayer(trackId, maxLayer) {
    if (this.state === State.CONNECTED) this.#send({ type: 'set_layer', trackId, maxLayer });
  }

  /** Mutes or unmutes our own track of kind ('audio' or 'video') and tells the room. */
  setMuted(kind, muted) {
    this.#muted[kind] = muted;
    for (const track of this.#stream?.getTracks() ?? []) {
      if (track.kind === kind) track.enabled = !muted;
    }
    if (this.state === State.CONNECTED) this.#send({ type: 'mute', kind, muted });
  }

  /** Leaves the room for good. The local stream is left to the caller to stop. */
  leave() {
    this.#stopped = true;
    this.#send({ type: 'leave' });
    this.#endSession();
    this.#firstJoin?.reject(new Error('sfu: left before joining'));
    this.#firstJoin = null;
    this.#setState(State.CLOSED);
  }

  /** Returns the RTCStatsReport of the 'publisher' or 'subscriber' connection, or null. */
  async getStats(target = 'subscriber') {
    const peer = target === 'publisher' ? this.#publisher : this.#subscriber;
    return peer ? peer.pc.getStats() : null;
  }

  /** The current RTCPeerConnection for 'publisher' or 'subscriber', or null (for debugging). */
  peerConnection(target) {
    return (target === 'publisher' ? this.#publisher : this.#subscriber)?.pc ?? null;
  }

  async #open() {
    if (this.#attempt === 0) this.#setState(State.CONNECTING);
    const { url, room } = this.#options;
    let token;
    try {
      token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
    } catch (err) {
      if (err.fatal) return this.#fail(err.code ?? 'token_unavailable', err.message);
      this.#emit('error', { code: 'unreachable', message: `sfu: getting a token: ${err.message}`, fatal: false });
      return this.#retry();
    }
    if (this.#stopped) return;

    const ws = new WebSocket(url);
    let opened = false;
    this.#ws = ws;
    ws.onopen = () => {
      opened = true;
      this.#send({ type: 'join', version: PROTOCOL_VERSION, token, ...(room ? { room } : {}) });
      this.#pingTimer = setInterval(() => this.#send({ type: 'ping' }), PING_INTERVAL_MS);
    };
    ws.onmessage = (e) => this.#onMessage(e.data);
    ws.onclose = (e) => this.#onClose(e.code, opened);
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
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (this.#attempt - 1), BACKOFF_MAX_MS);
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

  // Closes the socket and both connections and forgets the room. Safe to call twice.
  #endSession() {
    clearTimeout(this.#retryTimer);
    clearInterval(this.#pingTimer);
    if (this.#ws) {
      this.#ws.onopen = this.#ws.onmessage = this.#ws.onclose = null;
      this.#ws.close(1000);
      this.#ws = null;
    }
    this.#publisher?.close();
    this.#subscriber?.close();
    this.#publisher = this.#subscriber = null;
    this.#answerWaiter?.reject(new Error('sfu: session ended'));
    this.#answerWaiter = null;
    this.self = null;
    this.participants.clear();
  }

  #onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return console.warn('sfu: unparsable message from server');
    }
    switch (msg.type) {
      case 'joined': return this.#onJoined(msg);
      case 'answer': return this.#answerWaiter?.resolve(msg.sdp);
      case 'offer': return this.#onSubscriberOffer(msg.sdp);
      case 'candidate': {
        const peer = msg.target === 'publisher' ? this.#publisher : this.#subscriber;
        return peer?.run(() => peer.addRemoteCandidate(msg.candidate));
      }
      case 'participants': // joins and departures, batched
        for (const participant of msg.joined ?? []) {
          this.participants.set(participant.id, participant);
          this.#emit('participant_joined', { participant });
        }
        for (const participantId of msg.left ?? []) {
          this.participants.delete(participantId);
          this.#emit('participant_left', { participantId });
        }
        return;
      case 'track_published': {
        const p = this.participants.get(msg.participantId);
        if (p) p.tracks = [...(p.tracks ?? []).filter((t) => t.id !== msg.track.id), msg.track];
        return this.#emit('track_published', { participantId: msg.participantId, track: msg.track });
      }
      case 'track_unpublished': {
        const p = this.participants.get(msg.participantId);
        if (p) p.tracks = (p.tracks ?? []).filter((t) => t.id !== msg.trackId);
        return this.#emit('track_unpublished', { participantId: msg.participantId, trackId: msg.trackId });
      }
      case 'track_muted': {
        const track = this.participants.get(msg.participantId)?.tracks?.find((t) => t.id === msg.trackId);
        if (track) track.muted = msg.muted;
        const { participantId, trackId, kind, muted } = msg;
        return this.#emit('track_muted', { participantId, trackId, kind, muted });
      }
      case 'speakers':
        return this.#emit('speakers', { speakers: msg.speakers ?? [], active: msg.active ?? '' });
      case 'layers': return this.#onLayers(msg.layers ?? {});
      case 'error': return this.#onError(msg);
      case 'bye':
        this.#emit('bye', { reason: msg.reason });
        if (msg.reason === 'replaced') this.#failReplaced();
        return;
      case 'pong': return;
      default: console.warn('sfu: unknown message type', msg.type);
    }
  }

  // Dynacast: the server says which simulcast layers of our video anybody receives; encoding
  // the others would waste our uplink and CPU.
  #onLayers(active) {
    const sender = this.#publisher?.pc.getSenders().find((s) => s.track?.kind === 'video');
    if (!sender) return;
    const params = sender.getParameters();
    let changed = false;
    for (const enc of params.encodings ?? []) {
      if (enc.rid in active && enc.active !== active[enc.rid]) {
        enc.active = active[enc.rid];
        changed = true;
      }
    }
    if (changed) sender.setParameters(params).catch((err) => console.warn('sfu: could not change layers', err));
  }

  #onJoined(msg) {
    this.#attempt = 0;
    this.self = msg.self;
    this.participants = new Map((msg.participants ?? []).map((p) => [p.id, p]));
    this.#iceServers = msg.iceServers ?? [];
    this.#subscriber = this.#newPeer('subscriber');
    this.#subscriber.pc.ontrack = (e) => {
      const stream = e.streams[0] ?? null;
      this.#emit('track', { track: e.track, participantId: stream?.id ?? null, stream, receiver: e.receiver });
    };
    this.#setState(State.CONNECTED);
    this.#emit('joined', msg);
    this.#firstJoin?.resolve(msg);
    this.#firstJoin = null;
    if (this.#stream) {
      this.#startPublishing().catch((err) => this.#negotiationFailed('publisher', err));
    }
  }

  #onError(msg) {
    const fatal = FATAL_CODES.has(msg.code);
    if (msg.ref === 'offer') this.#answerWaiter?.reject(Object.assign(new Error(msg.message), { code: msg.code }));
    if (fatal) return this.#fail(msg.code, msg.message);
    this.#emit('error', { code: msg.code, message: msg.message, ref: msg.ref, fatal: false });
  }

  #newPeer(target) {
    const peer = new Peer(target, this.#iceServers, (m) => this.#send(m));
    peer.pc.onconnectionstatechange = () => {
      // ICE gave up: the cheapest sure repair is a fresh session.
      if (peer.pc.connectionState === 'failed' && !peer.closed) {
        this.#emit('error', { code: 'ice_failed', message: `sfu: ${target} connection failed`, fatal: false });
        this.#retry();
      }
    };
    return peer;
  }

  #startPublishing() {
    const stream = this.#stream;
    const peer = (this.#publisher ??= this.#newPeer('publisher'));
    return peer.run(async () => {
      const sending = new Set(peer.pc.getSenders().map((s) => s.track));
      for (const track of stream.getTracks()) {
        if (sending.has(track)) continue;
        const init = { direction: 'sendonly', streams: [stream] };
        if (track.kind === 'video' && this.#simulcast) init.sendEncodings = SIMULCAST_ENCODINGS;
        const transceiver = peer.pc.addTransceiver(track, init);
        if (track.kind === 'video') preferCodec(transceiver, this.#videoCodec);
      }
      await peer.pc.setLocalDescription(await peer.pc.createOffer());
      const answered = new Promise((resolve, reject) => { this.#answerWaiter = { resolve, reject }; });
      this.#send({ type: 'offer', sdp: peer.pc.localDescription.sdp });
      peer.descriptionSent();
      const sdp = await answered;
      this.#answerWaiter = null;
      await peer.setRemote({ type: 'answer', sdp });
      // A rejoin starts unmuted on the server; restate what the user chose.
      for (const kind of ['audio', 'video']) {
        if (this.#muted[kind]) this.#send({ type: 'mute', kind, muted: true });
      }
    });
  }

  #onSubscriberOffer(sdp) {
    const peer = this.#subscriber;
    if (!peer) return;
    // Offers come one at a time (the server waits for each answer), but applying one is
    // asynchronous, so they still go through the peer's queue.
    peer.run(async () => {
      await peer.setRemote({ type: 'offer', sdp });
      await peer.pc.setLocalDescription(await peer.pc.createAnswer());
      this.#send({ type: 'answer', sdp: peer.pc.localDescription.sdp });
      peer.descriptionSent();
    }).catch((err) => { if (!peer.closed) this.#negotiationFailed('subscriber', err); });
  }

  #negotiationFailed(target, err) {
    if (err.code) return; // the server's refusal was already reported by #onError
    if (this.#stopped || this.state !== State.CONNECTED) return;
    this.#emit('error', { code: 'negotiation_failed', message: `sfu: ${target}: ${err.message}`, fatal: false });
  }

  #send(msg) {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  #setState(state, extra = {}) {
    this.state = state;
    this.#emit('state', { state, ...extra });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
