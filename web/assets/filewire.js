// The messages of file transfer (signaling/PROTOCOL.md, "File transfer (web client)"): a kind
// byte, then a JSON body, or for data the transfer id, the offset and the bytes.

// Message kinds, the first byte of each message.
export const OFFER = 1;
export const ACCEPT = 2;
export const DECLINE = 3;
export const DATA = 4;
export const ACK = 5;
export const DONE = 6;
export const CANCEL = 7;
export const RESULT = 8;
export const NACK = 9;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** control is a message of kind with a JSON body. */
export function control(kind, body) {
  const json = utf8.encode(JSON.stringify(body));
  const out = new Uint8Array(1 + json.length);
  out[0] = kind;
  out.set(json, 1);
  return out;
}

/** dataMessage is DATA: kind | id len | id | offset (float64, big-endian) | bytes. */
export function dataMessage(id, offset, bytes) {
  const idb = utf8.encode(id);
  const out = new Uint8Array(2 + idb.length + 8 + bytes.length);
  out[0] = DATA;
  out[1] = idb.length;
  out.set(idb, 2);
  new DataView(out.buffer).setFloat64(2 + idb.length, offset);
  out.set(bytes, 10 + idb.length);
  return out;
}

/** parse reads a message: {kind, ...}, null when malformed. */
export function parse(bytes) {
  if (bytes.length < 2) return null;
  const kind = bytes[0];
  if (kind === DATA) {
    const n = bytes[1];
    if (bytes.length < 10 + n) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const offset = view.getFloat64(2 + n);
    if (!Number.isSafeInteger(offset) || offset < 0) return null;
    return { kind, id: fromUtf8.decode(bytes.subarray(2, 2 + n)), offset, bytes: bytes.subarray(10 + n) };
  }
  try {
    const body = JSON.parse(fromUtf8.decode(bytes.subarray(1)));
    if (typeof body?.id !== 'string') return null;
    return { kind, ...body };
  } catch {
    return null;
  }
}

