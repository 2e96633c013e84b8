// The receiving side of one file transfer (filetransfer.js): what arrives, in order, hashed as
// it comes, and what to answer. It keeps its state on the transfer object and sends nothing
// itself.

import { ACK, CANCEL, NACK, RESULT, control } from './filewire.js';
import { Sha256 } from './sha256.js';

/** A receiver asks for a missing offset once, and again only after NACK_MS. */
export const NACK_MS = 2_000;
// A receiver acknowledges every ACK_EVERY bytes, and at the end.
const ACK_EVERY = 128 << 10;
// The receiver folds the chunks received into one Blob every FOLD_BYTES.
const FOLD_BYTES = 16 << 20;

/** startReceiving readies incoming transfer t, just accepted, for its data. */
export function startReceiving(t) {
  t.state = 'receiving';
  t.hasher = new Sha256();
  t.parts = [];
  t.partsBytes = 0;
  t.ackedAt = 0;
  t.nackAt = 0;
  t.nackOffset = -1;
  t.dupAckAt = 0;
}

/**
 * takeData applies a DATA message m to t at time now (ms): {reply, fail}, the message to send
 * the sender (or null) and why the transfer failed (or '').
 */
export function takeData(t, m, now) {
  if (m.offset > t.received) {
    // Something before it was lost (the server dropped it): ask for it again.
    if (t.nackOffset === t.received && now - t.nackAt < NACK_MS) return { reply: null, fail: '' };
    t.nackAt = now;
    t.nackOffset = t.received;
    return { reply: control(NACK, { id: t.id, at: t.received }), fail: '' };
  }
  if (m.offset < t.received) {
    // Sent again after a loss or a stall: we have it. Say how far we are, so the sender skips
    // ahead (once per NACK_MS).
    if (now - t.dupAckAt < NACK_MS) return { reply: null, fail: '' };
    t.dupAckAt = now;
    return { reply: control(ACK, { id: t.id, received: t.received }), fail: '' };
  }
  if (t.received + m.bytes.length > t.size) {
    return { reply: control(CANCEL, { id: t.id, reason: 'too_large' }), fail: 'The sender sent more than the size announced.' };
  }
  // The payload views the whole message: keep a copy of the file's bytes only.
  const bytes = m.bytes.slice();
  t.hasher.update(bytes);
  t.parts.push(bytes);
  t.partsBytes += bytes.length;
  t.received += bytes.length;
  if (t.partsBytes >= FOLD_BYTES) {
    t.parts = [new Blob(t.parts)];
    t.partsBytes = 0;
  }
  if (t.received - t.ackedAt < ACK_EVERY && t.received !== t.size) return { reply: null, fail: '' };
  t.ackedAt = t.received;
  return { reply: control(ACK, { id: t.id, received: t.received }), fail: '' };
}

/**
 * complete finishes t once all of it arrived and the sender's hash is known: its Blob, its
 * hash and whether it matched; it returns the RESULT message for the sender, or null when t
 * is not complete yet.
 */
export function complete(t) {
  if (t.received !== t.size || !t.senderHash || t.state !== 'receiving') return null;
  t.hash = t.hasher.hex();
  t.ok = t.hash === t.senderHash;
  t.blob = new Blob(t.parts, { type: t.type });
  t.parts = null;
  t.hasher = null;
  t.state = 'done';
  return control(RESULT, { id: t.id, ok: t.ok });
}
