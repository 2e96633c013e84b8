// The call page's reconnecting overlay: over the stage while the connection is down, why it is
// down, when the next attempt is and which one it is, with a spinner. Assistive technology hears
// the reason and the attempt once an attempt (role="alert"), not every tick of the countdown.

const TICK_MS = 250;

export class ReconnectOverlay {
  #el;
  #visible;
  #spoken;
  #timer = 0;

  /** el is the overlay: it holds a .overlay-text (shown) and a .overlay-spoken (for screen readers). */
  constructor(el) {
    this.#el = el;
    this.#visible = el.querySelector('.overlay-text');
    this.#spoken = el.querySelector('.overlay-spoken');
  }

  /** Shows the overlay: reason, the next attempt's number and in how many ms it starts. */
  show({ reason, attempt, delay }) {
    const at = performance.now() + delay;
    clearInterval(this.#timer);
    const tick = () => {
      const seconds = Math.ceil((at - performance.now()) / 1000);
      this.#visible.textContent = seconds > 0
        ? `${reason} Reconnecting in ${seconds} s (attempt ${attempt})`
        : `${reason} Reconnecting now (attempt ${attempt})`;
    };
    tick();
    this.#timer = setInterval(tick, TICK_MS);
    this.#spoken.textContent = `${reason} Reconnecting, attempt ${attempt}.`;
    this.#el.hidden = false;
  }

  /** Hides the overlay: connected again, or the call is over. */
  hide() {
    clearInterval(this.#timer);
    this.#el.hidden = true;
    this.#spoken.textContent = '';
  }
}
