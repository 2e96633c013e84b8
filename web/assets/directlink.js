// One peer connection of "Peer to peer for two" (signaling/PROTOCOL.md): the media of the call
// straight between the two browsers, negotiated through the server as WebRTC's "perfect
// negotiation" does. direct.js decides when to open, show and close it.

import { Peer } from './peer.js';

// How long an ICE restart has to reconnect before the link counts as failed (the server's
// p2p_timeout by default).
export const RESTART_TIMEOUT_MS = 5_000;
// How often a connecting link looks for the peer's first decoded frame.
const MEDIA_POLL_MS = 100;
// The link's data channel (for file transfer): negotiated out of band with a fixed stream id on
// both sides, so neither waits for the other to announce it.
const CHANNEL_LABEL = 'files';
const CHANNEL_ID = 0;

/**
 * DirectLink is the peer connection to one other participant. It sends our audio and video
 * (one encoding each), receives the peer's into `stream`, and reports through onState:
 *   ('connecting'), ('connected', {path}) once ICE and DTLS are connected and the peer's media
 *   decoded, ('reconnected', {path}) after an ICE restart, ('failed'), and ('media', {stream})
 *   when the remote stream has its tracks, ('channel', {channel}) when its data channel opened.
 *   Each but reconnected comes once.
 * Offers that cross are resolved by politeness: the polite side rolls its own back and
 * answers, the impolite side ignores the other's. The impolite side makes the first offer and
 * the ICE restarts.
 */
export class DirectLink {
  /** The peer's media over this connection, once negotiated; null before. */
  stream = null;
  /** The local candidate type of the selected pair ('host', 'srflx', 'prflx', 'relay'), once connected. */
  path = '';
  /** When (epoch ms) the peer's first frame was decoded, 0 before. */
  firstFrameAt = 0;
  closed = false;
  /** Set when the call went back to the server: the link only waits to be closed. */
  closing = false;
  /** The binary RTCDataChannel to the peer, open once 'channel' was reported. */
  channel = null;
  /** Offers that crossed one of ours: ignored (impolite side), or ours rolled back (polite). */
  ignored = 0;
  rolledBack = 0;

  #peer;
  #polite;
  #peerSendsVideo;
  #onState;
  #said = new Set();
  #ignoring = false; // the peer's latest offer crossed ours and was ignored (impolite side)
  #pollTimer = 0;
  #restartTimer = 0;
  #local = null; // our MediaStream, or null while we have none

  /**
   * peerSendsVideo() says whether the peer publishes video (else its audio is what plays);
   * send(msg) sends a message to the server; onState(state, detail) hears the link's progress.
   */
  constructor({ peerId, polite, iceServers, send, onState, peerSendsVideo }) {
    this.peerId = peerId;
    this.#polite = polite;
    this.#onState = onState;
    this.#peerSendsVideo = peerSendsVideo;
    this.#peer = new Peer('peer', iceServers, send);
    const { pc } = this.#peer;
    pc.onnegotiationneeded = () => this.#offer();
    pc.onconnectionstatechange = () => this.#connectionState();
    if (!polite) {
      // Audio first, as the other clients do, so the answerer's transceivers take the offer's
      // media sections in order. Directions are set now; the tracks come with setLocal.
      for (const kind of ['audio', 'video']) pc.addTransceiver(kind, { direction: 'sendrecv' });
    }
    this.channel = pc.createDataChannel(CHANNEL_LABEL, { negotiated: true, id: CHANNEL_ID, ordered: true });
    this.channel.binaryType = 'arraybuffer';
    this.channel.onopen = () => this.say('channel', { channel: this.channel });
  }

  /** The RTCPeerConnection (for statistics and debugging). */
  get pc() {
    return this.#peer.pc;
  }

  /** Sends the tracks of stream (or nothing, for null) from now on; no renegotiation needed. */
  setLocal(stream) {
    this.#local = stream;
    return this.#attachLocal();
  }

  /** Applies an offer, answer or candidate the peer sent through the server. */
  signal(msg) {
    const peer = this.#peer;
    const { pc } = peer;
    if (msg.type === 'candidate') return peer.run(() => peer.addRemoteCandidate(msg.candidate));
    return peer.run(async () => {
      if (this.closed) return;
      if (msg.type === 'answer') {
        if (pc.signalingState !== 'have-local-offer') return; // not to an offer of ours under way
        await peer.setRemote({ type: 'answer', sdp: msg.sdp });
        return this.#negotiated();
      }
      const collision = pc.signalingState !== 'stable';
      this.#ignoring = collision && !this.#polite;
      if (this.#ignoring) {
        this.ignored++;
        return;
      }
      if (collision) this.rolledBack++;
      await peer.setRemote({ type: 'offer', sdp: msg.sdp }); // the polite side's rolls back
      await this.#attachLocal();
      await pc.setLocalDescription();
      this.#peer.send({ type: 'answer', target: 'peer', sdp: pc.localDescription.sdp });
      peer.descriptionSent();
      this.#negotiated();
    }).catch((err) => { if (!this.closed) console.warn('sfu: peer connection negotiation:', err); });
  }

  /** Closes the connection; it reports nothing more. Safe to call twice. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#restartTimer);
    this.#peer.pc.onnegotiationneeded = null;
    this.#peer.close();
  }

  /** Whether the state was reported (each is reported once). */
  said(state) {
    return this.#said.has(state);
  }

  /** Reports state once. */
  say(state, detail = {}) {
    if (this.closed || this.#said.has(state)) return;
    this.#said.add(state);
    this.#onState(state, detail);
  }

  /** Packets received over the link so far, audio and video together. */
  async packetsReceived() {
    let n = 0;
    const report = await this.pc.getStats().catch(() => null);
    report?.forEach((s) => { if (s.type === 'inbound-rtp') n += s.packetsReceived ?? 0; });
    return n;
  }

  // Makes an offer when negotiation is needed: at first on the impolite side, later on either
  // (a restart, a track added). Steps run in the peer's queue, so a remote offer that arrives
  // meanwhile is handled after ours went out, and seen as a collision.
  #offer() {
    const peer = this.#peer;
    const { pc } = peer;
    peer.run(async () => {
      if (this.closed || pc.signalingState !== 'stable') return; // fired again once stable
      // The impolite side offers first: the polite one answers that before offering anything.
      if (this.#polite && !pc.currentRemoteDescription) return;
      await pc.setLocalDescription();
      peer.send({ type: 'offer', target: 'peer', sdp: pc.localDescription.sdp });
      peer.descriptionSent();
    }).catch((err) => { if (!this.closed) console.warn('sfu: peer connection offer:', err); });
  }

  // Gives every transceiver our track of its kind; on the polite side the offer made them.
  async #attachLocal() {
    const tracks = this.#local?.getTracks() ?? [];
    for (const t of this.pc.getTransceivers()) {
      if (t.stopped || t.currentDirection === 'stopped') continue;
      const kind = t.receiver.track.kind;
      if (t.direction === 'recvonly') t.direction = 'sendrecv';
      const track = tracks.find((tr) => tr.kind === kind) ?? null;
      if (t.sender.track !== track) await t.sender.replaceTrack(track).catch(() => {});
    }
  }

  // A description exchange completed: the receivers' tracks are the peer's media.
  #negotiated() {
    if (this.stream || this.closed) return;
    const tracks = this.pc.getReceivers().map((r) => r.track).filter(Boolean);
    if (tracks.length === 0) return;
    this.stream = new MediaStream(tracks);
    this.say('media', { stream: this.stream });
  }

  #connectionState() {
    if (this.closed) return;
    switch (this.pc.connectionState) {
      case 'connecting': return this.say('connecting');
      case 'connected':
        clearTimeout(this.#restartTimer);
        this.#restartTimer = 0;
        return this.#awaitMedia();
      case 'disconnected':
        if (this.closing) return;
        // The impolite side restarts ICE; either side gives up if that does not reconnect.
        if (!this.#polite) this.pc.restartIce();
        clearTimeout(this.#restartTimer);
        this.#restartTimer = setTimeout(() => {
          if (this.pc.connectionState !== 'connected') this.say('failed');
        }, RESTART_TIMEOUT_MS);
        return;
      case 'failed': if (!this.closing) this.say('failed');
    }
  }

  // Connected means the peer's media decoded too: a video frame, or audio from a peer that
  // sends no video.
  async #awaitMedia() {
    clearTimeout(this.#pollTimer);
    const report = await this.pc.getStats().catch(() => null);
    if (this.closed || this.pc.connectionState !== 'connected') return;
    let frames = 0;
    let audio = 0;
    report?.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') frames += s.framesDecoded ?? 0;
      else audio += s.packetsReceived ?? 0;
    });
    if (frames > 0 || (audio > 0 && !this.#peerSendsVideo())) {
      if (!this.firstFrameAt) this.firstFrameAt = performance.timeOrigin + performance.now();
      this.path = selectedCandidateType(report, this.#peer);
      // After an ICE restart the path may differ; connected is reported once.
      if (this.said('connected')) this.#onState('reconnected', { path: this.path });
      else this.say('connected', { path: this.path });
      return;
    }
    this.#pollTimer = setTimeout(() => this.#awaitMedia(), MEDIA_POLL_MS);
  }
}

/**
 * The path of the selected candidate pair in a stats report (pathOf), or ''. A peer-reflexive
 * remote candidate is a host candidate met in a check before it was signaled when its address is
 * one the other side signaled as a host candidate, or, since browsers hide the address of such
 * candidates, when neither side is behind a NAT (no server-reflexive candidate on either side);
 * otherwise it is the other side's NAT mapping.
 */
export function selectedCandidateType(report, peer = null) {
  if (!report) return '';
  let pairId = '';
  report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
  let pair = pairId ? report.get(pairId) : null;
  if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
  if (!pair) return '';
  const remote = report.get(pair.remoteCandidateId);
  let remoteType = remote?.candidateType ?? '';
  if (remoteType === 'prflx' && peer) {
    const address = remote.address ?? remote.ip;
    let localNAT = false;
    report.forEach((s) => { if (s.type === 'local-candidate' && s.candidateType === 'srflx') localNAT = true; });
    if (address ? peer.signaledHost(address, remote.port) : !(localNAT || peer.signaledSrflx())) remoteType = 'host';
  }
  return pathOf(report.get(pair.localCandidateId)?.candidateType ?? '', remoteType);
}

/**
 * pathOf is what a selected pair of candidates of these types crosses (PROTOCOL.md, peer_state):
 * 'relay' when either end is a TURN relay, 'srflx' when either end is a NAT's address (a host
 * candidate behind a NAT is seen by the other side as one), 'host' when both are the hosts' own.
 */
export function pathOf(local, remote) {
  if (!local || !remote) return '';
  if (local === 'relay' || remote === 'relay') return 'relay';
  if (['srflx', 'prflx'].includes(local) || ['srflx', 'prflx'].includes(remote)) return 'srflx';
  return 'host';
}
