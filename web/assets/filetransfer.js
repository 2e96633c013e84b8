// File transfer between the people of a call (signaling/PROTOCOL.md, "File transfer"): the
// protocol, without DOM. Messages go on the reliable application data channel under the topic
// "file", addressed to each receiver, or, in a call of two that runs peer to peer, on the
// direct connection's data channel, never touching the server. The sender keeps at most WINDOW
// bytes unacknowledged per receiver (the server buffers about that much for each receiver
// and drops beyond it), so a slow receiver slows only itself; the receiver checks a SHA-256 of
// the whole file against the sender's.

import { State } from './client.js';
import { ACCEPT, ACK, CANCEL, DATA, DECLINE, DONE, NACK, OFFER, RESULT, control, dataMessage, parse } from './filewire.js';
import { NACK_MS, complete, startReceiving, takeData } from './fileincoming.js';
import { Pacer } from './pacer.js';
import { Sha256 } from './sha256.js';

/** The data topic of file transfer. */
export const TOPIC = 'file';
/** Bytes of file in one message. */
export const CHUNK = 16 << 10;
/** The most bytes a sender has unacknowledged per receiver. */
export const WINDOW = 768 << 10;
/** The default largest file, when the server announces none. */
export const DEFAULT_MAX_BYTES = 1 << 30;
// The browser's own buffer per channel: the sender waits above HIGH for it to fall to LOW.
const BUFFER_HIGH = 1 << 20;
const BUFFER_LOW = 256 << 10;
// Without an acknowledgement for STALL_MS the sender sends again from the last one, waiting
// twice as long each time up to STALL_MAX_MS (what it sent before may still be queued in the
// server: sending it again at once would fill that queue with duplicates); a receiver that
// acknowledges nothing for GIVE_UP_MS is given up.
const STALL_MS = 3_000;
const STALL_MAX_MS = 24_000;
const GIVE_UP_MS = 60_000;
const TICK_MS = 1_000;
// The sender reads the file in blocks of READ_BLOCK, keeping the latest READ_CACHE for the
// receivers that follow.
const READ_BLOCK = 1 << 20;
const READ_CACHE = 4;
// The sender goes back to the same offset at most once in NACK_MS (fileincoming.js: the
// receiver asks for it as often).
// Recipient ids per offer message (datamsg.MaxRecipients).
const MAX_RECIPIENTS = 255;

function newId() {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * FileTransfers runs the transfers of one page. Its state is in outgoing and incoming (Maps by
 * transfer id); it fires 'change' ({detail: transfer}) whenever one changes. A transfer:
 *   outgoing: {id, out: true, name, size, type, state ('sending', 'done', 'cancelled'), direct,
 *              receivers: Map(participant id -> {state, sent, acked, verified, reason})}
 *     a receiver's state: 'offered', 'sending', 'done', 'declined', 'cancelled', 'failed'
 *   incoming: {id, out: false, from, name, size, type, state, received, direct, reason, blob,
 *              hash (ours, once done), ok (whether it matched the sender's)}
 *     its state: 'offered', 'receiving', 'done', 'declined', 'cancelled', 'failed'
 * reason says why a transfer ended early, in words for people.
 */
export class FileTransfers extends EventTarget {
  outgoing = new Map();
  incoming = new Map();
  /** The largest file sent or accepted (the server's `maxFileBytes`). */
  maxBytes = DEFAULT_MAX_BYTES;

  #client;
  #channels = new Map(); // participant id -> the direct RTCDataChannel we listen to
  #tick = 0;
  #pace = new Pacer(); // what we send through the server, under its limit for us

  constructor(client) {
    super();
    this.#client = client;
    client.addEventListener('data', ({ detail }) => {
      if (detail.topic === TOPIC && !detail.lossy) this.#receive(detail.from, detail.payload, false);
    });
    for (const type of ['joined', 'moved']) {
      client.addEventListener(type, ({ detail }) => {
        // A new session: the ids of everyone changed, and nothing can go on.
        this.#endAll('The connection was renewed.');
        this.maxBytes = detail.maxFileBytes > 0 ? detail.maxFileBytes : DEFAULT_MAX_BYTES;
        this.#pace.setLimit(detail.dataLimits?.bytesPerSecond ?? 0, detail.dataLimits?.byteBurst ?? 0);
      });
    }
    client.addEventListener('state', ({ detail }) => {
      if (detail.state !== State.CONNECTED) this.#endAll('The connection was lost.');
    });
    client.addEventListener('participant_left', ({ detail }) => this.#left(detail.participantId));
    client.addEventListener('direct_channel', ({ detail }) => this.#listenDirect(detail.participantId, detail.channel));
    client.addEventListener('path', ({ detail }) => {
      if (detail.mode !== 'p2p') this.#endDirect();
    });
    client.addEventListener('bufferedamountlow', ({ detail }) => { if (!detail.lossy) this.#pumpAll(); });
    client.addEventListener('data_error', ({ detail }) => this.#dataError(detail));
  }

  /**
   * Offers file to the participant ids in to (none: everyone in the call now). It returns the
   * transfer, or throws an Error whose message says why not (too large, nobody to send to).
   */
  send(file, to = []) {
    if (file.size > this.maxBytes) throw new Error(`The file is larger than the largest allowed here (${formatBytes(this.maxBytes)}).`);
    const ids = to.length ? to.filter((id) => this.#client.participants.has(id)) : [...this.#client.participants.keys()];
    if (ids.length === 0) throw new Error('There is nobody to send it to.');
    const t = {
      id: newId(), out: true, file, name: file.name || 'file', size: file.size, type: file.type || '',
      state: 'sending', receivers: new Map(), hasher: new Sha256(), hashedUpTo: 0, hash: '', cache: new Map(),
    };
    const direct = ids.length === 1 ? this.#client.directChannel(ids[0]) : null;
    if (!direct && this.#client.dataChannel()?.readyState !== 'open') throw new Error('Not connected yet: try again in a moment.');
    t.direct = !!direct;
    if (direct) this.#listenDirect(ids[0], direct);
    for (const id of ids) t.receivers.set(id, { state: 'offered', sent: 0, high: 0, acked: 0, verified: null, reason: '', resent: 0, gen: 0, pumping: false, progressAt: 0, ackAt: 0, stallWait: STALL_MS, nackAt: -1, nackTime: 0, doneSent: false });
    this.outgoing.set(t.id, t);
    const offer = control(OFFER, { id: t.id, name: t.name, size: t.size, type: t.type });
    if (direct) direct.send(offer);
    else for (let i = 0; i < ids.length; i += MAX_RECIPIENTS) this.#client.sendData(offer, { topic: TOPIC, to: ids.slice(i, i + MAX_RECIPIENTS) });
    this.#startTick();
    this.#changed(t);
    return t;
  }

  /** Accepts an incoming offer: the sender starts sending. */
  accept(id) {
    const t = this.incoming.get(id);
    if (!t || t.state !== 'offered') return;
    startReceiving(t);
    this.#reply(t, control(ACCEPT, { id }));
    this.#changed(t);
  }

  /** Declines an incoming offer. */
  decline(id) {
    const t = this.incoming.get(id);
    if (!t || t.state !== 'offered') return;
    this.#reply(t, control(DECLINE, { id, reason: 'declined' }));
    this.#finishIncoming(t, 'declined', '');
  }

  /**
   * Cancels a transfer: ours to everybody still receiving it, or an incoming one (offered or
   * under way).
   */
  cancel(id) {
    const out = this.outgoing.get(id);
    if (out) {
      for (const [pid, r] of out.receivers) {
        if (r.state !== 'offered' && r.state !== 'sending') continue;
        this.#to(out, pid, control(CANCEL, { id, reason: 'cancelled' }));
        this.#endReceiver(out, r, 'cancelled', 'You cancelled.');
      }
      return;
    }
    const t = this.incoming.get(id);
    if (!t || (t.state !== 'offered' && t.state !== 'receiving')) return;
    this.#reply(t, control(CANCEL, { id, reason: 'cancelled' }));
    this.#finishIncoming(t, 'cancelled', 'You cancelled.');
  }

  /** Forgets a finished transfer (its Blob goes with it). */
  remove(id) {
    const t = this.outgoing.get(id) ?? this.incoming.get(id);
    if (!t || t.state === 'sending' || t.state === 'receiving' || (!t.out && t.state === 'offered')) return;
    this.outgoing.delete(id);
    this.incoming.delete(id);
    this.#changed(t);
  }

  // --- receiving messages -------------------------------------------------------------------

  #receive(from, bytes, direct) {
    const m = parse(bytes);
    if (!m) return;
    switch (m.kind) {
      case OFFER: return this.#onOffer(from, m, direct);
      case DATA: return this.#onData(from, m);
      case DONE: return this.#onDone(from, m);
      case ACCEPT: case DECLINE: case ACK: case RESULT: case NACK: return this.#onReply(from, m);
      case CANCEL: {
        const t = this.incoming.get(m.id);
        if (t && t.from === from && (t.state === 'offered' || t.state === 'receiving')) {
          return this.#finishIncoming(t, 'cancelled', 'The sender cancelled.');
        }
        return this.#onReply(from, m);
      }
    }
  }

  #onOffer(from, m, direct) {
    if (this.incoming.has(m.id) || !Number.isSafeInteger(m.size) || m.size < 0) return;
    const t = {
      id: m.id, out: false, from, name: String(m.name ?? 'file').slice(0, 255), size: m.size, type: String(m.type ?? '').slice(0, 100),
      state: 'offered', received: 0, direct, reason: '', blob: null, hash: '', ok: null, senderHash: '',
    };
    this.incoming.set(t.id, t);
    if (t.size > this.maxBytes) {
      this.#reply(t, control(DECLINE, { id: t.id, reason: 'too_large' }));
      return this.#finishIncoming(t, 'declined', `It is larger than the largest file allowed here (${formatBytes(this.maxBytes)}).`);
    }
    this.#changed(t);
  }

  #onData(from, m) {
    const t = this.incoming.get(m.id);
    if (!t || t.from !== from || t.state !== 'receiving') return;
    const { reply, fail } = takeData(t, m, Date.now());
    if (reply) this.#reply(t, reply);
    if (fail) return this.#finishIncoming(t, 'failed', fail);
    this.#maybeComplete(t);
    this.#changed(t);
  }

  #onDone(from, m) {
    const t = this.incoming.get(m.id);
    if (!t || t.from !== from || t.state !== 'receiving' || typeof m.sha256 !== 'string') return;
    t.senderHash = m.sha256;
    this.#maybeComplete(t);
  }

  #maybeComplete(t) {
    const reply = complete(t);
    if (!reply) return;
    this.#reply(t, reply);
    this.#changed(t);
  }

  #finishIncoming(t, state, reason) {
    t.state = state;
    t.reason = reason;
    t.parts = null;
    t.hasher = null;
    this.#changed(t);
  }

  // A receiver's answer to one of our transfers.
  #onReply(from, m) {
    const t = this.outgoing.get(m.id);
    const r = t?.receivers.get(from);
    if (!r) return;
    switch (m.kind) {
      case ACCEPT:
        if (r.state !== 'offered') return;
        r.state = 'sending';
        r.progressAt = r.ackAt = Date.now();
        this.#changed(t);
        return this.#pump(t, from, r);
      case DECLINE:
        if (r.state !== 'offered') return;
        return this.#endReceiver(t, r, 'declined', m.reason === 'too_large' ? 'Too large for them.' : 'Declined.');
      case CANCEL:
        if (r.state !== 'offered' && r.state !== 'sending') return;
        return this.#endReceiver(t, r, 'cancelled', m.reason === 'too_large' ? 'They stopped it: more than announced.' : 'They cancelled.');
      case ACK:
        if (r.state !== 'sending' || !(m.received > r.acked) || m.received > r.high) return;
        r.acked = m.received;
        if (r.sent < r.acked) {
          // Sent again from further back: the receiver has it already.
          r.sent = r.acked;
          r.gen++;
        }
        r.progressAt = r.ackAt = Date.now();
        r.stallWait = STALL_MS;
        this.#changed(t);
        return this.#pump(t, from, r);
      case NACK: {
        if (r.state !== 'sending' || !(m.at >= r.acked) || !(m.at < r.sent)) return;
        const now = Date.now();
        if (m.at === r.nackAt && now - r.nackTime < NACK_MS) return; // already going back there
        r.nackAt = m.at;
        r.nackTime = now;
        return this.#rewind(t, from, r, m.at);
      }
      case RESULT:
        if (r.state !== 'sending' || r.acked !== t.size) return;
        r.verified = !!m.ok;
        return this.#endReceiver(t, r, 'done', m.ok ? '' : 'Their copy does not match (checksum).');
    }
  }

  // --- sending ------------------------------------------------------------------------------

  // Sends receiver r of t what its window allows; one loop per receiver at a time.
  async #pump(t, pid, r) {
    if (r.pumping) return;
    r.pumping = true;
    try {
      while (r.state === 'sending') {
        const route = this.#route(t, pid);
        if (!route) return this.#endReceiver(t, r, 'failed', 'The connection to them was lost.');
        if (r.sent === t.size) {
          if (!r.doneSent && t.hashedUpTo === t.size) {
            t.hash ||= t.hasher.hex();
            r.doneSent = route.send(control(DONE, { id: t.id, sha256: t.hash }));
          }
          return;
        }
        if (r.sent - r.acked >= WINDOW) return; // an acknowledgement pumps again
        if (!t.direct && !this.#pace.allows(CHUNK, () => this.#pumpAll())) return; // it pumps again
        if (route.channel.bufferedAmount > BUFFER_HIGH) {
          route.channel.bufferedAmountLowThreshold = BUFFER_LOW;
          return; // bufferedamountlow pumps again
        }
        const gen = r.gen;
        const offset = r.sent;
        const bytes = await this.#read(t, offset);
        if (r.state !== 'sending' || gen !== r.gen) continue;
        if (offset === t.hashedUpTo) {
          t.hasher.update(bytes);
          t.hashedUpTo += bytes.length;
        }
        if (!route.send(dataMessage(t.id, offset, bytes))) return this.#endReceiver(t, r, 'failed', 'The connection to them was lost.');
        r.sent = offset + bytes.length;
        r.high = Math.max(r.high, r.sent);
      }
    } catch (err) {
      this.#to(t, pid, control(CANCEL, { id: t.id, reason: 'read_failed' }));
      this.#endReceiver(t, r, 'failed', `Could not read the file (${err.message}).`);
    } finally {
      r.pumping = false;
    }
  }

  // The channel to send t's messages to pid on, with send(bytes) saying whether it went.
  #route(t, pid) {
    if (t.direct) {
      const ch = this.#client.directChannel(pid);
      return ch && { channel: ch, send: (b) => (ch.readyState === 'open' ? (ch.send(b), true) : false) };
    }
    const ch = this.#client.dataChannel();
    return ch && { channel: ch, send: (b) => this.#client.sendData(b, { topic: TOPIC, to: [pid] }) };
  }

  #to(t, pid, bytes) {
    return this.#route(t, pid)?.send(bytes) ?? false;
  }

  // A reply to the sender of incoming transfer t, on the way its offer came.
  #reply(t, bytes) {
    if (t.direct) {
      const ch = this.#client.directChannel(t.from);
      if (ch?.readyState === 'open') ch.send(bytes);
      return;
    }
    this.#client.sendData(bytes, { topic: TOPIC, to: [t.from] });
  }

  async #read(t, offset) {
    const block = Math.floor(offset / READ_BLOCK);
    let p = t.cache.get(block);
    if (!p) {
      const start = block * READ_BLOCK;
      p = t.file.slice(start, Math.min(start + READ_BLOCK, t.size)).arrayBuffer().then((b) => new Uint8Array(b));
      t.cache.set(block, p);
      if (t.cache.size > READ_CACHE) t.cache.delete(t.cache.keys().next().value);
    }
    const buf = await p;
    const at = offset - block * READ_BLOCK;
    return buf.subarray(at, Math.min(at + CHUNK, buf.length));
  }

  // Goes back to offset: what followed is sent again (the receiver drops what it has).
  #rewind(t, pid, r, offset) {
    const at = Math.max(r.acked, Math.min(offset, r.sent));
    r.resent += r.sent - at;
    r.sent = at;
    r.doneSent = false;
    r.gen++;
    r.progressAt = Date.now();
    this.#pump(t, pid, r);
  }

  #endReceiver(t, r, state, reason) {
    r.state = state;
    r.reason = reason;
    r.gen++;
    if (![...t.receivers.values()].some((x) => x.state === 'offered' || x.state === 'sending')) {
      t.state = [...t.receivers.values()].some((x) => x.state === 'done') ? 'done' : 'cancelled';
      t.cache.clear();
      t.hasher = null;
      t.file = null; // a cancelled or finished transfer holds nothing of the file
    }
    this.#changed(t);
  }

  #pumpAll() {
    for (const t of this.outgoing.values()) {
      for (const [pid, r] of t.receivers) if (r.state === 'sending') this.#pump(t, pid, r);
    }
  }

  // Once a second: receivers that acknowledged nothing for their stall time get what followed
  // their last acknowledgement again; after GIVE_UP_MS without they are given up.
  #startTick() {
    if (this.#tick) return;
    this.#tick = setInterval(() => {
      const now = Date.now();
      this.#pace.tick();
      let active = false;
      for (const t of this.outgoing.values()) {
        for (const [pid, r] of t.receivers) {
          if (r.state === 'offered') active = true;
          if (r.state !== 'sending') continue;
          active = true;
          if (r.sent > r.acked && now - r.ackAt >= GIVE_UP_MS) {
            this.#to(t, pid, control(CANCEL, { id: t.id, reason: 'stalled' }));
            this.#endReceiver(t, r, 'failed', 'They stopped answering.');
          } else if (r.sent > r.acked && now - r.progressAt >= r.stallWait) {
            r.stallWait = Math.min(2 * r.stallWait, STALL_MAX_MS);
            this.#rewind(t, pid, r, r.acked);
          } else this.#pump(t, pid, r);
        }
      }
      if (!active) {
        clearInterval(this.#tick);
        this.#tick = 0;
      }
    }, TICK_MS);
  }

  // The server's errors about our data: we sent too fast (the pacer slows down), or may not
  // send data at all. What the server dropped (data_dropped, rate_limited) is sent again when
  // the receiver reports the gap or acknowledges nothing for a while: rewinding at once would
  // send again what is still queued for it too.
  #dataError({ code }) {
    if (code === 'not_allowed' || code === 'data_too_large') {
      const why = code === 'not_allowed' ? 'Your access link does not allow sending files.' : 'The server refused a piece as too large.';
      for (const t of this.outgoing.values()) {
        if (t.direct) continue;
        for (const r of t.receivers.values()) if (r.state === 'offered' || r.state === 'sending') this.#endReceiver(t, r, 'failed', why);
      }
      // Accepting needs answers to the sender, refused as well.
      if (code === 'not_allowed') {
        for (const t of this.incoming.values()) {
          if (!t.direct && t.state === 'receiving') this.#finishIncoming(t, 'failed', 'Your access link does not allow answering the sender.');
        }
      }
      return;
    }
    if (code === 'rate_limited') this.#pace.slowDown();
  }

  // --- ending -------------------------------------------------------------------------------

  #listenDirect(pid, channel) {
    if (this.#channels.get(pid) === channel) return;
    this.#channels.set(pid, channel);
    channel.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') this.#receive(pid, new Uint8Array(e.data), true);
    });
    channel.addEventListener('bufferedamountlow', () => this.#pumpAll());
    channel.addEventListener('close', () => {
      if (this.#channels.get(pid) === channel) this.#channels.delete(pid);
      this.#endDirect();
    });
  }

  // The call of two went back to the server: transfers on the direct connection stop (they
  // are not resumed through the server; the sender can send again).
  #endDirect() {
    const why = 'The call moved to the server (someone joined, or the direct connection broke). Send it again.';
    for (const t of this.outgoing.values()) {
      if (!t.direct) continue;
      for (const r of t.receivers.values()) if (r.state === 'offered' || r.state === 'sending') this.#endReceiver(t, r, 'failed', why);
    }
    for (const t of this.incoming.values()) {
      if (t.direct && (t.state === 'offered' || t.state === 'receiving')) this.#finishIncoming(t, 'failed', why);
    }
  }

  #left(pid) {
    for (const t of this.outgoing.values()) {
      const r = t.receivers.get(pid);
      if (r && (r.state === 'offered' || r.state === 'sending')) this.#endReceiver(t, r, 'cancelled', 'They left.');
    }
    for (const t of this.incoming.values()) {
      if (t.from === pid && (t.state === 'offered' || t.state === 'receiving')) this.#finishIncoming(t, 'cancelled', 'The sender left.');
    }
  }

  #endAll(why) {
    for (const t of this.outgoing.values()) {
      for (const r of t.receivers.values()) if (r.state === 'offered' || r.state === 'sending') this.#endReceiver(t, r, 'failed', why);
    }
    for (const t of this.incoming.values()) {
      if (t.state === 'offered' || t.state === 'receiving') this.#finishIncoming(t, 'failed', why);
    }
  }

  #changed(t) {
    this.dispatchEvent(new CustomEvent('change', { detail: t }));
  }
}

/** Bytes in words: "512 B", "1.5 MB". */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}
