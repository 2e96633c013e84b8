// SHA-256 (FIPS 180-4) fed in pieces: crypto.subtle digests only a whole buffer, and a file
// transfer checks files far larger than it should hold at once.

// Int32Array, not Uint32Array: values over 2^31 would leave V8's small-integer arithmetic.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Sha256 hashes bytes given in any number of update calls. */
export class Sha256 {
  #h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  #w = new Int32Array(64);
  #block = new Uint8Array(64); // a partial block waiting for more bytes
  #filled = 0;
  #length = 0; // bytes hashed so far

  /** Adds bytes (a Uint8Array or an ArrayBuffer) to the message. */
  update(bytes) {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    this.#length += data.length;
    let i = 0;
    if (this.#filled > 0) {
      const n = Math.min(64 - this.#filled, data.length);
      this.#block.set(data.subarray(0, n), this.#filled);
      this.#filled += n;
      i = n;
      if (this.#filled < 64) return this;
      this.#compress(this.#block, 0);
      this.#filled = 0;
    }
    for (; i + 64 <= data.length; i += 64) this.#compress(data, i);
    if (i < data.length) {
      this.#block.set(data.subarray(i));
      this.#filled = data.length - i;
    }
    return this;
  }

  /** Finishes the hash: the 32-byte digest. The object is spent afterwards. */
  digest() {
    const bits = this.#length * 8;
    const pad = new Uint8Array(((this.#filled < 56 ? 56 : 120) - this.#filled) + 8);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    const out = new Uint8Array(32);
    const dv = new DataView(out.buffer);
    for (let j = 0; j < 8; j++) dv.setUint32(j * 4, this.#h[j]);
    return out;
  }

  /** Finishes the hash: the digest in lowercase hexadecimal. */
  hex() {
    return [...this.digest()].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  #compress(data, at) {
    const w = this.#w;
    for (let t = 0; t < 16; t++) {
      const p = at + t * 4;
      w[t] = (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3];
    }
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15];
      const b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (((w[t - 16] + s0) | 0) + ((w[t - 7] + s1) | 0)) | 0;
    }
    const h = this.#h;
    let a = h[0] | 0, b = h[1] | 0, c = h[2] | 0, d = h[3] | 0;
    let e = h[4] | 0, f = h[5] | 0, g = h[6] | 0, k = h[7] | 0;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (((k + S1) | 0) + ((ch + K[t]) | 0) + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
  }
}

/** The SHA-256 of bytes in lowercase hexadecimal. */
export function sha256Hex(bytes) {
  return new Sha256().update(bytes).hex();
}

// Known answers (FIPS 180-4 examples, and one message of a million bytes fed unevenly), for
// selfTest.
const VECTORS = [
  ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
];

/**
 * Checks the implementation against known answers; it returns the failures (empty when all
 * pass), each a string saying which input gave what.
 */
export function selfTest() {
  const failures = [];
  const text = new TextEncoder();
  for (const [input, want] of VECTORS) {
    const got = sha256Hex(text.encode(input));
    if (got !== want) failures.push(`"${input}": ${got}, want ${want}`);
  }
  // A million 'a', in pieces of sizes that cross block boundaries every way.
  const h = new Sha256();
  const a = new Uint8Array(1000).fill(0x61);
  let left = 1_000_000;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, [1, 63, 64, 65, 999, 1000][i % 6]);
    h.update(a.subarray(0, n));
    left -= n;
  }
  const million = h.hex();
  if (million !== 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0') failures.push(`a million "a": ${million}`);
  return failures;
}
