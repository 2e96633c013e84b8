// One session of the SFU protocol (signaling/PROTOCOL.md): a WebSocket and the two
// RTCPeerConnections of one join, publisher (we offer) and subscriber (the server offers), and
// in a call of two the peer connection to the other (direct.js).
// SFUClient owns one session, two while it moves to another node; a session never reconnects.

import { DataChannels } from './data.js';
import { DirectCall } from './direct.js';
import { Peer, preferCodec, simulcastEncodings } from './peer.js';
import { codecName, decodableVideoCodecs, switchVideoCodec } from './codecswitch.js';
import { watchICE } from './icerestart.js';
import { sendScreen } from './screen.js';

const PROTOCOL_VERSION = 2;
const PING_INTERVAL_MS = 10_000;
// Not joined this long after it began (a handshake or join that hangs), a session is given up as
// closed with the server's own code for that, and its owner tries again.
const JOIN_TIMEOUT_MS = 10_000;
const CLOSE_JOIN_TIMEOUT = 4408;

/** Error codes after which retrying with the same token cannot succeed. */
export const FATAL_CODES = new Set(['invalid_token', 'token_expired', 'room_mismatch', 'bad_room']);

/**
 * Session speaks the protocol for one join of a room. What it learns goes to its owner's emit
 * function as (type, detail), with the types of SFUClient's events and these of its own:
 *   closed      {code, opened}   the socket closed (not after close())
 *   fatal       {code, message}  the server refused the token or the room
 *   ice_failed  {target}         a connection failed and ICE restarts did not bring it back
 *   move        {timeLeft}       the node asks us to move (also kept in moveAsked)
 * Participants with our own identity, or that ours() names, are our other session while we
 * move: they are left out of participants and of every event, so the page never shows them.
 */
export class Session {
  /** Our own Participant from `joined`, or null before. */
  self = null;
  /** The other participants by id, kept current from the server's messages. */
  participants = new Map();
  /** The server's `joined` message, without our other sessions; null before. */
  joined = null;
  /** True once the socket closed or close() was called. */
  ended = false;
  /** The timeLeft of the server's `move`, or null if it did not ask. */
  moveAsked = null;

  #url;
  #room;
  #media; // the owner's {stream, videoCodec, simulcast, muted, screen}, read when publishing
  #emit;
  #ours;
  #ws = null;
  #opened = false;
  #publisher = null; // Peer
  #subscriber = null; // Peer
  #iceServers = [];
  #answerWaiter = null; // {resolve, reject} while our publisher offer is outstanding
  #pingTimer = 0;
  #joinTimer = 0;
  #twins = new Set(); // ids of participants with our identity: our other sessions
  #received = new Map(); // RTCRtpReceiver -> the latest `track` detail it fired
  #owners = new Map(); // remote MediaStreamTrack id -> participant id
  #p2p; // whether we take part in peer to peer for two
  #direct; // DirectCall
  #sending = true; // false while the call goes peer to peer: our publisher encodings are off
  #layersActive = {}; // rid -> active, the server's latest `layers` (dynacast)
  #encodings = Promise.resolve(); // setParameters calls, one at a time
  #screen = null; // the publisher transceiver of our shared screen, kept for the next share
  #data = null; // DataChannels of the publisher connection

  /**
   * token is the string to join with; media is read whenever the session publishes; ours(id)
   * says whether a participant id is one of the owner's sessions; p2p false keeps our calls of
   * two on the server.
   */
  constructor({ url, room, token, media, emit, ours, p2p = true }) {
    this.#url = url;
    this.#room = room;
    this.token = token;
    this.#media = media;
    this.#emit = emit;
    this.#ours = ours;
    this.#p2p = p2p;
    this.#direct = new DirectCall({
      send: (m) => this.send(m),
      iceServers: () => this.#iceServers,
      localStream: () => this.#media.stream,
      sends: (id, kind) => !!this.participants.get(id)?.tracks?.some((t) => t.kind === kind),
      sfuReceivers: (id) => [...this.#received.values()].filter((d) => d.participantId === id).map((d) => d.receiver),
      setSending: (on) => this.#setSending(on),
      emit: (type, detail) => this.#emit(type, detail),
    });
  }

  /** Opens the WebSocket and joins. */
  open() {
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    this.#joinTimer = setTimeout(() => {
      const opened = this.#opened;
      this.close();
      this.#emit('closed', { code: CLOSE_JOIN_TIMEOUT, opened });
    }, JOIN_TIMEOUT_MS);
    ws.onopen = () => {
      this.#opened = true;
      this.send({ type: 'join', version: PROTOCOL_VERSION, token: this.token, p2p: this.#p2p, ...decodableVideoCodecs(), ...(this.#room ? { room: this.#room } : {}) });
      this.#pingTimer = setInterval(() => this.send({ type: 'ping' }), PING_INTERVAL_MS);
    };
    ws.onmessage = (e) => this.#onMessage(e.data);
    ws.onclose = (e) => {
      const opened = this.#opened;
      this.close();
      this.#emit('closed', { code: e.code, opened });
    };
  }

  /** Sends leave, then closes. */
  leave() {
    this.send({ type: 'leave' });
    this.close();
  }

  /** Closes the socket and both connections; the session says nothing more. Safe to call twice. */
  close() {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#joinTimer);
    if (this.#ws) {
      this.#ws.onopen = this.#ws.onmessage = this.#ws.onclose = null;
      this.#ws.close(1000);
    }
    this.#data?.close();
    this.#publisher?.close();
    this.#subscriber?.close();
    this.#direct.close();
    this.#answerWaiter?.reject(new Error('sfu: session ended'));
    this.#answerWaiter = null;
  }

  send(msg) {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  setMuted(kind, muted) {
    if (this.self) this.send({ type: 'mute', kind, muted });
  }

  setLayer(trackId, maxLayer) {
    if (this.self) this.send({ type: 'set_layer', trackId, maxLayer });
  }

  /**
   * Takes participant id for our other session (one that joined with another identity, as a
   * fresh token may give), dropping it if it was announced already.
   */
  disown(id) {
    if (this.#twins.has(id) || id === this.self?.id) return;
    this.#twins.add(id);
    if (this.participants.delete(id)) this.#emit('participant_left', { participantId: id });
  }

  /** Whether some participant here publishes the track. */
  hasTrack(trackId) {
    for (const p of this.participants.values()) if (p.tracks?.some((t) => t.id === trackId)) return true;
    return false;
  }

  /** The latest `track` detail of each receiver whose participant is still here. */
  tracks() {
    return [...this.#received.values()].filter((d) => this.participants.has(d.participantId));
  }

  /**
   * Sends application data on the publisher connection's channels (DataChannels.send): false
   * while they are not open.
   */
  sendData(payload, options) {
    return this.#data?.send(payload, options) ?? false;
  }

  /** The publisher connection's reliable or lossy RTCDataChannel, or null before joining. */
  dataChannel(lossy) {
    return this.#data?.channel(lossy) ?? null;
  }

  /** The open data channel of the direct connection to participant id, or null. */
  directChannel(id) {
    return this.#direct.channel(id);
  }

  /** The 'publisher', 'subscriber' or 'peer' RTCPeerConnection, or null. */
  peerConnection(target) {
    if (target === 'peer') return this.#direct.pc;
    return (target === 'publisher' ? this.#publisher : this.#subscriber)?.pc ?? null;
  }

  /** What the peer connection of a call of two did (DirectCall.status). */
  directStatus() {
    return this.#direct.status();
  }

  /**
   * The remote media playing now, as keys "identity/kind": those of which a frame (decoded
   * video, or audio) reached its track since the previous call with the same prev, a Map the
   * caller keeps. It reads the receivers' synchronization sources, which cost far less than
   * statistics.
   */
  flowing(prev) {
    const out = new Set();
    const pc = this.#subscriber?.pc;
    if (!pc || this.ended) return out;
    for (const { receiver } of pc.getTransceivers()) {
      const { track } = receiver;
      if (!track) continue;
      const latest = Math.max(0, ...receiver.getSynchronizationSources().map((s) => s.timestamp));
      const before = prev.get(receiver);
      prev.set(receiver, latest);
      if (before === undefined || latest <= before) continue;
      const identity = this.participants.get(this.#owners.get(track.id))?.identity;
      if (identity) out.add(`${identity}/${track.kind}`);
    }
    return out;
  }

  /**
   * Sends newTrack where oldTrack was sent, to the server and over a direct connection; a track
   * of a kind not sent yet is published (a renegotiation).
   */
  async replaceTrack(oldTrack, newTrack) {
    const sender = oldTrack && this.#publisher?.pc.getSenders().find((s) => s.track === oldTrack);
    if (sender) await sender.replaceTrack(newTrack);
    else await this.publish();
    this.#direct.setLocal(this.#media.stream);
  }

  /**
   * Publishes the owner's stream (adding the tracks not sent yet) and restates our mutes. The
   * first call makes the publisher connection with its data channels: with nothing to publish
   * yet, its offer carries the data channels alone.
   */
  publish() {
    const { stream } = this.#media;
    if (!this.self || this.ended) return Promise.resolve();
    const fresh = !this.#publisher;
    if ((!stream && !this.#media.screen && !this.#screen) && !fresh) return Promise.resolve();
    const peer = (this.#publisher ??= this.#newPeer('publisher'));
    if (fresh) this.#data = new DataChannels(peer.pc, this.#emit);
    if (stream) this.#direct.setLocal(stream);
    return peer.run(async () => {
      const sending = new Set(peer.pc.getSenders().map((s) => s.track));
      await this.#syncScreen(peer.pc);
      for (const track of stream?.getTracks() ?? []) {
        if (sending.has(track)) continue;
        const init = { direction: 'sendonly', streams: [stream] };
        if (track.kind === 'video' && this.#media.simulcast) init.sendEncodings = simulcastEncodings(this.#media.videoCodec);
        const transceiver = peer.pc.addTransceiver(track, init);
        if (track.kind === 'video') preferCodec(transceiver, this.#media.videoCodec);
      }
      await this.#offerPublisher(peer, {});
      // A session starts unmuted on the server; restate what the user chose. The server holds
      // it for our tracks, which it publishes only once their media arrives.
      for (const kind of ['audio', 'video']) {
        if (this.#media.muted[kind]) this.send({ type: 'mute', kind, muted: true });
      }
      if (!this.#sending) this.#applyEncodings(); // new tracks while the call is direct
    });
  }

  #onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return console.warn('sfu: unparsable message from server');
    }
    if (this.#direct.handle(msg)) return;
    const twin = this.#twins.has(msg.participantId);
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
          if (this.#isTwin(participant)) {
            this.#twins.add(participant.id);
            continue;
          }
          this.participants.set(participant.id, participant);
          this.#emit('participant_joined', { participant });
        }
        for (const participantId of msg.left ?? []) {
          if (this.#twins.delete(participantId)) continue;
          this.participants.delete(participantId);
          this.#emit('participant_left', { participantId });
        }
        return;
      case 'track_published': {
        if (twin) return;
        const p = this.participants.get(msg.participantId);
        if (p) p.tracks = [...(p.tracks ?? []).filter((t) => t.id !== msg.track.id), msg.track];
        return this.#emit('track_published', { participantId: msg.participantId, track: msg.track });
      }
      case 'track_unpublished': {
        if (twin) return;
        const p = this.participants.get(msg.participantId);
        if (p) p.tracks = (p.tracks ?? []).filter((t) => t.id !== msg.trackId);
        return this.#emit('track_unpublished', { participantId: msg.participantId, trackId: msg.trackId });
      }
      case 'track_muted': {
        if (twin) return;
        const track = this.participants.get(msg.participantId)?.tracks?.find((t) => t.id === msg.trackId);
        if (track) track.muted = msg.muted;
        const { participantId, trackId, kind, muted } = msg;
        return this.#emit('track_muted', { participantId, trackId, kind, muted });
      }
      case 'track_undecodable': {
        if (twin) return;
        const { participantId, trackId, kind, codec } = msg;
        return this.#emit('track_undecodable', { participantId, trackId, kind, codec });
      }
      case 'speakers':
        return this.#emit('speakers', { speakers: msg.speakers ?? [], active: msg.active ?? '' });
      case 'layers': return this.#onLayers(msg.layers ?? {});
      case 'quality': return this.#emit('quality', { level: msg.level ?? 3, others: msg.others ?? {} });
      case 'error': return this.#onError(msg);
      case 'bye': return this.#emit('bye', { reason: msg.reason });
      case 'move':
        this.moveAsked = msg.timeLeft ?? 0;
        return this.#emit('move', { timeLeft: this.moveAsked });
      case 'restart': if (msg.target === 'publisher') this.#restartPublisher(true); return;
      case 'codec': return this.#onCodec(msg);
      case 'chat': return this.#emit('chat', msg);
      case 'pong': return;
      default: console.warn('sfu: unknown message type', msg.type);
    }
  }

  // Our own identity in the room is our other session: a tab that joined elsewhere with it
  // would have replaced us.
  #isTwin(p) {
    return !!this.self && p.id !== this.self.id && (p.identity === this.self.identity || this.#ours(p.id));
  }

  #onJoined(msg) {
    clearTimeout(this.#joinTimer);
    this.self = msg.self;
    const others = [];
    for (const p of msg.participants ?? []) {
      if (this.#isTwin(p)) this.#twins.add(p.id);
      else others.push(p);
    }
    this.participants = new Map(others.map((p) => [p.id, p]));
    this.joined = { ...msg, participants: others };
    this.#iceServers = msg.iceServers ?? [];
    this.#subscriber = this.#newPeer('subscriber');
    this.#subscriber.pc.ontrack = (e) => {
      const stream = e.streams[0] ?? null;
      const participantId = stream?.id ?? null;
      if (this.#twins.has(participantId)) return;
      const detail = { track: e.track, participantId, stream, receiver: e.receiver };
      this.#received.set(e.receiver, detail);
      this.#owners.set(e.track.id, participantId);
      this.#emit('track', detail);
    };
    this.#emit('joined', this.joined);
    this.publish().catch((err) => this.#negotiationFailed('publisher', err));
  }

  // Dynacast: the server says which simulcast layers of our video anybody receives; encoding
  // the others would waste our uplink and CPU.
  #onLayers(active) {
    Object.assign(this.#layersActive, active);
    this.#applyEncodings();
  }

  // While the call goes peer to peer we send the server nothing: the tracks and the connection
  // stay, so that the call comes back without a renegotiation.
  #setSending(on) {
    this.#sending = on;
    this.#applyEncodings();
  }

  // Sets each publisher encoding active as dynacast and the call's path want it. The calls go
  // one at a time: a sender refuses setParameters while another is under way.
  #applyEncodings() {
    this.#encodings = this.#encodings.then(async () => {
      for (const sender of this.#publisher?.pc.getSenders() ?? []) {
        if (!sender.track) continue;
        const params = sender.getParameters();
        let changed = false;
        for (const enc of params.encodings ?? []) {
          // A shared screen goes through the server in a call of two as well: the direct
          // connection carries one picture of each side.
          const screen = sender === this.#screen?.sender;
          const want = (this.#sending || screen) && (!enc.rid || this.#layersActive[enc.rid] !== false);
          if (enc.active !== want) {
            enc.active = want;
            changed = true;
          }
        }
        if (changed) await sender.setParameters(params);
      }
    }).catch((err) => console.warn('sfu: could not change encodings', err));
  }

  #onError(msg) {
    if (msg.ref === 'offer') this.#answerWaiter?.reject(Object.assign(new Error(msg.message), { code: msg.code }));
    if (FATAL_CODES.has(msg.code)) return this.#emit('fatal', { code: msg.code, message: msg.message });
    if (msg.ref === 'data') {
      const { code, message, participantId = '' } = msg;
      return this.#emit('data_error', { code, message, participantId });
    }
    this.#emit('error', { code: msg.code, message: msg.message, ref: msg.ref, fatal: false });
  }

  // Makes and sends an offer on the publisher connection and applies the answer. It runs in
  // the peer's queue.
  async #offerPublisher(peer, options) {
    await peer.pc.setLocalDescription(await peer.pc.createOffer(options));
    const answered = new Promise((resolve, reject) => { this.#answerWaiter = { resolve, reject }; });
    const sources = this.#screen?.mid ? { sources: { [this.#screen.mid]: 'screen' } } : {};
    this.send({ type: 'offer', sdp: peer.pc.localDescription.sdp, ...sources });
    peer.descriptionSent();
    const sdp = await answered;
    this.#answerWaiter = null;
    await peer.setRemote({ type: 'answer', sdp });
  }

  // The room asks for our video in another codec: somebody cannot decode ours. We keep to it
  // for the rest of the call, rejoins included.
  #onCodec(msg) {
    const codec = codecName(msg.codec);
    const peer = this.#publisher;
    if (msg.kind !== 'video' || !codec || codec === this.#media.videoCodec || !peer || this.ended) return;
    console.info(`sfu: sending video in ${codec}, not ${codecName(msg.from)}: somebody in the room cannot decode it`);
    this.#media.videoCodec = codec;
    this.#emit('codec', { trackId: msg.trackId, codec, from: codecName(msg.from) });
    peer.run(async () => {
      const { stream, simulcast } = this.#media;
      const screen = this.#screen;
      let changed = !!stream && switchVideoCodec(peer.pc, stream, codec, simulcast, screen?.sender);
      // Our shared screen goes anew in the codec too; an idle screen transceiver stays idle and
      // the next share takes a new one.
      this.#screen = null;
      if (screen?.sender.track) {
        peer.pc.removeTrack(screen.sender);
        await this.#syncScreen(peer.pc);
        changed = true;
      }
      if (!changed) return;
      await this.#offerPublisher(peer, {});
      if (this.#media.muted.video) this.send({ type: 'mute', kind: 'video', muted: true }); // a new track
    }).catch((err) => { if (!peer.closed) this.#negotiationFailed('publisher', err); });
  }

  // --- screen sharing (screen.js) -------------------------------------------------------------

  // Sends the owner's shared screen (media.screen) on our screen's transceiver, or stops it.
  async #syncScreen(pc) {
    this.#screen = await sendScreen(pc, this.#screen, this.#media.screen ?? null, this.#media.videoCodec);
  }

  // Restarts ICE on the publisher connection: when it is not connected, or at once when the
  // server asked (its side may have lost us while ours still looks connected).
  #restartPublisher(asked) {
    const peer = this.#publisher;
    if (!peer || peer.closed || this.ended) return;
    peer.run(async () => {
      if (!asked && peer.pc.connectionState === 'connected') return;
      await this.#offerPublisher(peer, { iceRestart: true });
    }).catch((err) => { if (!peer.closed) this.#negotiationFailed('publisher', err); });
  }

  #newPeer(target) {
    const peer = new Peer(target, this.#iceServers, (m) => this.send(m));
    watchICE(peer, {
      askRestart: () => this.send({ type: 'restart', target }),
      restart: () => this.#restartPublisher(false),
      giveUp: () => this.#emit('ice_failed', { target }),
    });
    return peer;
  }

  #onSubscriberOffer(sdp) {
    const peer = this.#subscriber;
    if (!peer) return;
    // Offers come one at a time (the server waits for each answer), but applying one is
    // asynchronous, so they still go through the peer's queue.
    peer.run(async () => {
      await peer.setRemote({ type: 'offer', sdp });
      await peer.pc.setLocalDescription(await peer.pc.createAnswer());
      this.send({ type: 'answer', sdp: peer.pc.localDescription.sdp });
      peer.descriptionSent();
    }).catch((err) => { if (!peer.closed) this.#negotiationFailed('subscriber', err); });
  }

  #negotiationFailed(target, err) {
    if (err.code || this.ended) return; // the server's refusal was already reported as an error
    this.#emit('error', { code: 'negotiation_failed', message: `sfu: ${target}: ${err.message}`, fatal: false });
  }
}
