// Pacing of what the web client sends through the server, for file transfer (filetransfer.js).

/**
 * Pacer keeps what we send through the server under its rate limit for us, which it does not
 * announce: unlimited at first, a quarter less than the rate sent in the latest second each time
 * the server says rate_limited, and a tenth more each second without, until unlimited again.
 */
export class Pacer {
  /** Bytes per second; Infinity: not paced. */
  rate = Infinity;
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
    this.#tokens = Math.min(this.rate / 4, this.#tokens + ((now - this.#at) / 1000) * this.rate);
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
    if (!this.#limited && this.rate !== Infinity) {
      this.rate *= 1.1;
      if (this.rate > 256 << 20) this.rate = Infinity;
    }
    this.#limited = false;
  }
}
