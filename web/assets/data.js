// Application data on the publisher connection's data channels (signaling/PROTOCOL.md,
// "Application data"): the binary envelope of internal/datamsg, and the two channels a session
// opens, "sfu" (reliable, ordered) and "sfu-lossy" (unordered, no retransmissions).

export const RELIABLE_LABEL = 'sfu';
export const LOSSY_LABEL = 'sfu-lossy';
// The envelope's first byte (datamsg.Version).
const VERSION = 1;
// The longest topic or participant id, and the most recipients, an envelope carries.
const MAX_FIELD = 255;
const MAX_RECIPIENTS = 255;
// Topics the server keeps for itself.
const RESERVED_PREFIX = 'sfu.';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * encodeOutgoing builds a client's envelope: version | topic len | topic | recipients |
 * {id len | id}... | payload. payload is a Uint8Array, an ArrayBuffer or a string (sent as
 * UTF-8). It throws on a reserved or overlong topic, or a bad recipient list.
 */
export function encodeOutgoing(topic, to, payload) {
  if (topic.startsWith(RESERVED_PREFIX)) throw new Error(`sfu: topic "${topic}" is reserved (it starts with "${RESERVED_PREFIX}")`);
  const t = utf8.encode(topic);
  if (t.length > MAX_FIELD) throw new Error('sfu: topic longer than 255 bytes');
  if (to.length > MAX_RECIPIENTS) throw new Error('sfu: more than 255 recipients');
  const ids = to.map((id) => utf8.encode(id));
  if (ids.some((id) => id.length === 0 || id.length > MAX_FIELD)) throw new Error('sfu: bad recipient id');
  const body = typeof payload === 'string' ? utf8.encode(payload) : payload instanceof Uint8Array ? payload : new Uint8Array(payload);
  const head = 3 + t.length + ids.reduce((n, id) => n + 1 + id.length, 0);
  const out = new Uint8Array(head + body.length);
  const view = new DataView(out.buffer);
  let at = 0;
  view.setUint8(at++, VERSION);
  view.setUint8(at++, t.length);
  out.set(t, at);
  at += t.length;
  view.setUint8(at++, ids.length);
  for (const id of ids) {
    view.setUint8(at++, id.length);
    out.set(id, at);
    at += id.length;
  }
  out.set(body, at);
  return out;
}

/**
 * decodeDelivered reads the server's envelope (version | from len | from | topic len | topic |
 * payload) from an ArrayBuffer: {from, topic, payload}, payload a Uint8Array viewing buf; null
 * when it is malformed.
 */
export function decodeDelivered(buf) {
  const bytes = new Uint8Array(buf);
  const view = new DataView(buf);
  if (bytes.length < 3 || view.getUint8(0) !== VERSION) return null;
  let at = 1;
  const field = () => {
    if (at >= bytes.length) return null;
    const n = view.getUint8(at++);
    if (at + n > bytes.length) return null;
    const s = fromUtf8.decode(bytes.subarray(at, at + n));
    at += n;
    return s;
  };
  const from = field();
  const topic = field();
  if (from === null || topic === null) return null;
  return { from, topic, payload: bytes.subarray(at) };
}

/**
 * DataChannels are the two channels of one publisher connection. emit(type, detail) hears:
 *   data               {from, topic, payload, lossy}   a message for us
 *   data_open          {lossy}   a channel opened (each session opens its own)
 *   bufferedamountlow  {lossy}   the channel's bufferedAmount fell to its low threshold
 */
export class DataChannels {
  #channels; // {reliable, lossy} RTCDataChannels
  #emit;

  constructor(pc, emit) {
    this.#emit = emit;
    this.#channels = {
      reliable: pc.createDataChannel(RELIABLE_LABEL, { ordered: true }),
      lossy: pc.createDataChannel(LOSSY_LABEL, { ordered: false, maxRetransmits: 0 }),
    };
    for (const [which, ch] of Object.entries(this.#channels)) {
      const lossy = which === 'lossy';
      ch.binaryType = 'arraybuffer';
      ch.onopen = () => emit('data_open', { lossy });
      ch.onbufferedamountlow = () => emit('bufferedamountlow', { lossy });
      ch.onmessage = (e) => {
        if (typeof e.data === 'string') return;
        const m = decodeDelivered(e.data);
        if (!m) return console.warn('sfu: malformed data message from the server');
        this.#emit('data', { ...m, lossy });
      };
    }
  }

  /** The channel, reliable or lossy. */
  channel(lossy) {
    return lossy ? this.#channels.lossy : this.#channels.reliable;
  }

  /** Whether the channel is open. */
  open(lossy) {
    return this.channel(lossy).readyState === 'open';
  }

  /**
   * Sends payload on topic to the participant ids in to (empty: everyone else): false when the
   * channel is not open (the message is not sent). It throws where encodeOutgoing does.
   */
  send(payload, { topic = '', to = [], lossy = false } = {}) {
    const envelope = encodeOutgoing(topic, to, payload);
    const ch = this.channel(lossy);
    if (ch.readyState !== 'open') return false;
    ch.send(envelope);
    return true;
  }

  /** Closes both channels; they say nothing more. */
  close() {
    for (const ch of Object.values(this.#channels)) {
      ch.onopen = ch.onmessage = ch.onbufferedamountlow = null;
      ch.close();
    }
  }
}
