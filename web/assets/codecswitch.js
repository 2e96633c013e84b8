// The room's codec choice (signaling/PROTOCOL.md, "Codecs"): when somebody in the room cannot
// decode the codec we send our video in, the server sends `codec` with one everybody decodes,
// and we send our video in that one instead.

import { preferCodec, simulcastEncodings } from './peer.js';

/**
 * `{codecs}` for `join`: the video codecs (MIME types) this browser decodes, so that the server
 * never offers us a track we cannot decode and has its publisher switch to a codec we do; `{}`
 * where the browser cannot tell (an empty list would say that we decode no video at all).
 * Retransmission and error correction formats are not codecs of their own.
 */
export function decodableVideoCodecs() {
  const caps = globalThis.RTCRtpReceiver?.getCapabilities?.('video')?.codecs ?? [];
  const names = caps.map((c) => c.mimeType).filter((m) => !/\/(rtx|red|ulpfec|flexfec-03)$/i.test(m));
  return names.length > 0 ? { codecs: [...new Set(names)] } : {};
}

/** The short codec name ('vp8') of a MIME type ('video/VP8'). */
export function codecName(mimeType) {
  return (mimeType ?? '').split('/').pop().toLowerCase();
}

/**
 * Sends each video track of stream that pc sends in a new m-line preferring codec, and stops
 * sending it on its old one. A browser changes a sender's codec only within what was
 * negotiated, and the server keeps a track's codec for its life, so the track is published
 * anew: the server ends the old track and announces the new one. Returns whether anything
 * changed (then the caller makes an offer). The sender skip (a shared screen's) is left alone.
 */
export function switchVideoCodec(pc, stream, codec, simulcast, skip = null) {
  let changed = false;
  for (const sender of pc.getSenders()) {
    const track = sender.track;
    if (track?.kind !== 'video' || sender === skip) continue;
    pc.removeTrack(sender);
    const init = { direction: 'sendonly', streams: [stream] };
    if (simulcast) init.sendEncodings = simulcastEncodings(codec);
    preferCodec(pc.addTransceiver(track, init), codec);
    changed = true;
  }
  return changed;
}
