// Peer to peer for two (signaling/PROTOCOL.md): a session's side of it. The server asks for a
// peer connection to the only other participant (peer_start), says when the call goes direct
// and when it comes back (mode), and ends it (peer_end). Every switch is make before break: the
// page shows the other path's media only once it plays, and only then is the old one stopped.

import { DirectLink, RESTART_TIMEOUT_MS } from './directlink.js';

// After the call went back to the server, how often we look for the server's media of the
// peer, and how long we wait for it before swapping anyway (the server's p2p_timeout).
const SFU_POLL_MS = 50;
const SFU_WAIT_MS = RESTART_TIMEOUT_MS;
// The server's media plays once it has for SFU_SETTLE_MS, the latest within SFU_RECENT_MS.
const SFU_SETTLE_MS = 300;
const SFU_RECENT_MS = 150;
// Once we show the server's media, the peer connection stays open while the peer may still
// show ours from it: until its media to us has stopped for LINGER_QUIET_MS (it closed its
// side), or LINGER_MAX_MS.
const LINGER_QUIET_MS = 500;
const LINGER_MAX_MS = 3_000;
const LINGER_POLL_MS = 100;

const now = () => performance.timeOrigin + performance.now();

/**
 * DirectCall runs the peer connections of one session. It learns what it needs through the
 * functions it is given:
 *   send(msg)            a message to the server
 *   iceServers()         the iceServers of `joined`
 *   localStream()        our MediaStream, or null
 *   sends(id, kind)      whether participant id publishes a track of kind
 *   sfuReceivers(id)     the subscriber connection's RTCRtpReceivers of participant id
 *   setSending(on)       our publisher encodings active (true) or not
 *   emit(type, detail)   events for the page:
 *     path           {mode: 'sfu'|'p2p', trying, candidate, reason}   how the call's media goes
 *     direct_track   {participantId, stream}   the peer's media over the peer connection
 *     direct_show    {participantId, on}       show it (on) or the server's media (off), now
 *     direct_closed  {participantId}           the peer connection is gone
 *     direct_channel {participantId, channel}  its data channel opened
 */
export class DirectCall {
  /** The room's media path as the server last said: 'sfu' or 'p2p'. */
  mode = 'sfu';

  #o;
  #link = null; // DirectLink
  #times = {}; // epoch ms of the latest link's milestones, for status()
  #timer = 0;

  constructor(options) {
    this.#o = options;
  }

  /** The open peer connection, or null. */
  get pc() {
    return this.#link?.pc ?? null;
  }

  /**
   * The open data channel to participant id while the call goes peer to peer with them, or
   * null (no direct call, another peer, or the call is on its way back to the server).
   */
  channel(id) {
    const l = this.#link;
    if (this.mode !== 'p2p' || !l || l.peerId !== id || l.closing || l.channel?.readyState !== 'open') return null;
    return l.channel;
  }

  /** Takes a server message about the peer connection; false for any other. */
  handle(msg) {
    if (msg.target === 'peer') {
      if (this.#link && msg.from === this.#link.peerId) this.#link.signal(msg);
      return true;
    }
    switch (msg.type) {
      case 'peer_start': this.#start(msg.peerId, !!msg.polite); return true;
      case 'mode': this.#mode(msg); return true;
      case 'peer_end': this.#end(msg.peerId, msg.reason); return true;
      default: return false;
    }
  }

  /** Sends stream's tracks over the peer connection from now on. */
  setLocal(stream) {
    this.#link?.setLocal(stream);
  }

  /** Closes the peer connection at once, reporting nothing (the session ends). */
  close() {
    if (this.#link) this.#drop(this.#link, { quiet: true });
  }

  /** What the latest peer connection did, for the page and its tests. */
  status() {
    const l = this.#link;
    return { mode: this.mode, peerId: l?.peerId ?? '', open: !!l, ignored: l?.ignored ?? 0, rolledBack: l?.rolledBack ?? 0, ...this.#times };
  }

  #start(peerId, polite) {
    if (this.#link) this.#drop(this.#link, {});
    this.#times = { startedAt: now() };
    const o = this.#o;
    const link = new DirectLink({
      peerId, polite, iceServers: o.iceServers(), send: o.send,
      peerSendsVideo: () => o.sends(peerId, 'video'),
      onState: (state, detail) => this.#linkState(link, state, detail),
    });
    this.#link = link;
    link.setLocal(o.localStream());
    o.emit('path', { mode: this.mode, trying: true });
  }

  #linkState(link, state, detail) {
    if (link !== this.#link) return;
    const o = this.#o;
    switch (state) {
      case 'media':
        return o.emit('direct_track', { participantId: link.peerId, stream: detail.stream });
      case 'channel':
        return o.emit('direct_channel', { participantId: link.peerId, channel: detail.channel });
      case 'connecting':
      case 'failed':
        return o.send({ type: 'peer_state', state });
      case 'connected':
        this.#times.firstFrameAt = link.firstFrameAt;
        this.#times.connectedAt = now();
        this.#times.path = detail.path;
        return o.send({ type: 'peer_state', state, path: detail.path });
      case 'reconnected':
        this.#times.path = detail.path;
        if (this.mode === 'p2p') o.emit('path', { mode: 'p2p', candidate: detail.path });
    }
  }

  #mode(msg) {
    const o = this.#o;
    const link = this.#link;
    if (msg.mode === 'p2p') {
      if (!link || link.peerId !== msg.peerId) return;
      this.mode = 'p2p';
      this.#times.p2pAt = now();
      // Its media plays already (that is what connected meant): show it, then stop sending
      // to the server.
      o.emit('direct_show', { participantId: link.peerId, on: true });
      o.setSending(false);
      return o.emit('path', { mode: 'p2p', candidate: link.path });
    }
    this.mode = 'sfu';
    o.setSending(true);
    o.emit('path', { mode: 'sfu', reason: msg.reason });
    if (!link || link.closing) return;
    this.#times.sfuAt = now();
    link.closing = true;
    if (msg.reason === 'peer_left') return this.#swap(link); // nothing to wait for
    const flow = { seen: latest(o.sfuReceivers(link.peerId)), first: {}, last: {} };
    this.#awaitServer(link, flow, now() + SFU_WAIT_MS);
  }

  // Swaps to the server's media of the peer once it plays (new decoded frames, new audio
  // played out, of each kind the peer sends) and has for SFU_SETTLE_MS: its first frames come
  // as the peer's encoder starts again, and may stall. At the deadline it swaps anyway.
  #awaitServer(link, flow, deadline) {
    if (link !== this.#link) return;
    const o = this.#o;
    const t = now();
    const seen = latest(o.sfuReceivers(link.peerId));
    const kinds = ['audio', 'video'].filter((k) => o.sends(link.peerId, k));
    for (const k of kinds) {
      if (seen[k] <= flow.seen[k]) continue;
      flow.last[k] = t;
      flow.first[k] ??= t;
      this.#times[`${k}FromServerAt`] ??= t;
    }
    flow.seen = seen;
    const plays = (k) => t - flow.first[k] >= SFU_SETTLE_MS && t - flow.last[k] <= SFU_RECENT_MS;
    if ((kinds.length > 0 && kinds.every(plays)) || t >= deadline) return this.#swap(link);
    this.#timer = setTimeout(() => this.#awaitServer(link, flow, deadline), SFU_POLL_MS);
  }

  // Shows the server's media in one step, then closes the link when the peer has closed its
  // side or LINGER_MAX_MS passed.
  #swap(link) {
    this.#times.swappedAt = now();
    this.#o.emit('direct_show', { participantId: link.peerId, on: false });
    const until = now() + LINGER_MAX_MS;
    let last = -1;
    let quietSince = now();
    const check = async () => {
      if (link !== this.#link) return;
      const n = await link.packetsReceived();
      if (link !== this.#link) return;
      if (n !== last) {
        last = n;
        quietSince = now();
      }
      if (now() - quietSince >= LINGER_QUIET_MS || now() >= until) return this.#drop(link, { report: true });
      this.#timer = setTimeout(check, LINGER_POLL_MS);
    };
    check();
  }

  #end(peerId, reason) {
    const link = this.#link;
    if (!link || link.peerId !== peerId) return;
    this.#drop(link, {});
    this.mode = 'sfu';
    this.#o.setSending(true);
    this.#o.emit('path', { mode: 'sfu', reason });
  }

  // Closes link; says so to the server if report (the call came back to it), and to the page
  // unless quiet (the session ends).
  #drop(link, { report = false, quiet = false }) {
    clearTimeout(this.#timer);
    link.close();
    if (this.#link === link) this.#link = null;
    this.#times.closedAt = now();
    if (quiet) return;
    this.#o.emit('direct_show', { participantId: link.peerId, on: false });
    this.#o.emit('direct_closed', { participantId: link.peerId });
    if (report) this.#o.send({ type: 'peer_state', state: 'closed' });
  }
}

// The latest time media of each kind played from receivers (their synchronization sources,
// far cheaper than statistics).
function latest(receivers) {
  const out = { audio: 0, video: 0 };
  for (const r of receivers) {
    const kind = r.track?.kind;
    if (!kind) continue;
    for (const s of r.getSynchronizationSources()) out[kind] = Math.max(out[kind], s.timestamp);
  }
  return out;
}
