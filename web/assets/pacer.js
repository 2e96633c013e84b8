// Pacing of what the web client sends through the server, for file transfer (filetransfer.js).

/**
 * Pacer keeps what we send through the server under its rate limit for us, a token bucket that
 * `joined` announces (dataLimits: bytesPerSecond, byteBurst): ours fills at a tenth under its
 * rate and holds half its burst, so a file of a few megabytes goes at once and a larger one at
 * the server's rate, with nothing refused. From a server that announced none it starts
 * unlimited. Each time the server still says rate_limited (other data of ours shares the
 * allowance), a quarter less than the rate sent in the latest second; a tenth more each second
 * without, up to the announced rate (or unlimited again).
 */
export class Pacer {
  /** Bytes per second; Infinity: not paced. */
  rate = Infinity;
  #ceiling = Infinity; // the highest rate: under the server's limit, when it said it
  #burst = 0; // the most tokens held: half the server's burst, when it said it
  #tokens = 0;
  #at = 0;
  #sent = 0; // bytes sent since the latest tick
  #lastSecond = 0; // bytes sent in the latest tick's second
  #limited = false; // rate_limited since the latest tick
  #timer = 0;

  /**
   * Whether n bytes may go now (they are counted as sent); if not, later() is called once they
   * may.
   */
  allows(n, later) {
    if (this.rate === Infinity) {
      this.#sent += n;
      return true;
    }
    const now = performance.now();
    this.#tokens = Math.min(Math.max(this.rate / 4, this.#burst), this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens >= n) {
      this.#tokens -= n;
      this.#sent += n;
      return true;
    }
    this.#timer ||= setTimeout(() => {
      this.#timer = 0;
      later();
    }, Math.ceil(((n - this.#tokens) / this.rate) * 1000));
    return false;
  }

  /** The server's limit on the bytes we send, from `joined`'s dataLimits; 0: not told. */
  setLimit(bytesPerSecond, burst) {
    const told = bytesPerSecond > 0 && burst > 0;
    this.#ceiling = told ? bytesPerSecond * 0.9 : Infinity;
    this.#burst = told ? burst / 2 : 0;
    this.rate = this.#ceiling;
    this.#tokens = this.#burst; // a new session: the server's bucket is full
    this.#at = performance.now();
  }

  /** The server dropped what we sent for our rate. */
  slowDown() {
    if (this.#limited) return;
    this.#limited = true;
    const base = Math.min(this.rate, Math.max(this.#lastSecond, this.#sent));
    this.rate = Math.max(64 << 10, base * 0.75);
    this.#tokens = 0;
    this.#at = performance.now();
  }

  /** Called each second. */
  tick() {
    this.#lastSecond = this.#sent;
    this.#sent = 0;
    if (!this.#limited && this.rate < this.#ceiling) {
      this.rate = Math.min(this.#ceiling, this.rate * 1.1);
      if (this.rate > 256 << 20) this.rate = Infinity;
    }
    this.#limited = false;
  }
}
