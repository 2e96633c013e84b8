// Network quality on the call page: three small bars on each tile, from the server's `quality`
// messages (signaling/PROTOCOL.md, "Network quality": 0 bad, 1 poor, 2 fair, 3 good) and, for
// our own tile, from what the browser measures of its own connections too.

const NAMES = ['bad', 'poor', 'fair', 'good'];
const MEASURE_EVERY_MS = 2_000;

// The server's loss thresholds, applied to what the browser sees.
function lossLevel(loss) {
  if (loss < 0.02) return 3;
  if (loss < 0.05) return 2;
  if (loss < 0.10) return 1;
  return 0;
}

// A round trip this long makes a conversation awkward, whatever the loss.
function rttLevel(seconds) {
  if (seconds < 0.3) return 3;
  if (seconds < 0.5) return 2;
  if (seconds < 1) return 1;
  return 0;
}

// Three bars, rising; as many filled as the level says (none for 0, drawn red).
function barsSVG(level) {
  const color = level >= 3 ? 'var(--ok, #3c3)' : level === 2 ? '#e6c200' : '#e5484d';
  const bars = [0, 1, 2].map((i) => {
    const h = 4 + 4 * i;
    const fill = i < level ? color : 'rgba(255,255,255,0.35)';
    return `<rect x="${i * 5}" y="${12 - h}" width="3.5" height="${h}" rx="1" fill="${fill}"/>`;
  }).join('');
  const cross = level === 0 ? `<path d="M1 1l4 4M5 1l-4 4" stroke="${color}" stroke-width="1.4"/>` : '';
  return `<svg viewBox="0 0 14 12" width="14" height="12" aria-hidden="true">${bars}${cross}</svg>`;
}

/**
 * QualityBars draws the network quality of each tile in grid: the others' tiles (marked
 * data-participant-id) from the server's levels, local (our own tile) from the worse of the
 * server's level for us and the browser's own measure.
 */
export class QualityBars {
  #client;
  #grid;
  #local;
  #server = { level: 3, others: {} }; // the latest `quality` message
  #browser = 3; // what our browser measures of its connections
  #prev = new Map(); // inbound-rtp id -> {lost, received} at the previous measure
  #timer = 0;

  constructor(client, grid, local) {
    this.#client = client;
    this.#grid = grid;
    this.#local = local;
    client.addEventListener('quality', ({ detail }) => {
      this.#server = detail;
      this.#render();
    });
    client.addEventListener('joined', () => {
      this.#server = { level: 3, others: {} };
      this.#prev.clear();
      this.#render();
    });
    // Tiles come and go; a new one gets its bars at once.
    new MutationObserver(() => this.#render()).observe(grid, { childList: true });
    this.#timer = setInterval(() => this.#measure().catch(() => {}), MEASURE_EVERY_MS);
  }

  /** Stops measuring. */
  close() {
    clearInterval(this.#timer);
  }

  /**
   * The levels shown now, for tests: {self, others: {participant id: level}}, and the two that
   * make our own: the server's and the browser's.
   */
  shown() {
    const others = {};
    for (const tile of this.#grid.querySelectorAll('.tile[data-participant-id]')) {
      const q = tile.querySelector(':scope > .quality');
      if (q) others[tile.dataset.participantId] = Number(q.dataset.level);
    }
    const self = this.#local.querySelector(':scope > .quality');
    return { self: self ? Number(self.dataset.level) : null, others, server: this.#server.level, browser: this.#browser };
  }

  // The browser's view: loss the server reports of our sending (remote-inbound-rtp), loss on
  // what we receive since the previous measure, and the round trip of the connections.
  async #measure() {
    let level = 3;
    for (const target of ['publisher', 'subscriber']) {
      const report = await this.#client.getStats(target);
      report?.forEach((s) => {
        if (s.type === 'remote-inbound-rtp') {
          if (typeof s.fractionLost === 'number') level = Math.min(level, lossLevel(s.fractionLost));
          if (typeof s.roundTripTime === 'number') level = Math.min(level, rttLevel(s.roundTripTime));
        } else if (s.type === 'inbound-rtp') {
          const prev = this.#prev.get(s.id);
          const now = { lost: s.packetsLost ?? 0, received: s.packetsReceived ?? 0 };
          this.#prev.set(s.id, now);
          const lost = now.lost - (prev?.lost ?? now.lost);
          const total = lost + now.received - (prev?.received ?? now.received);
          if (total >= 50 && lost > 0) level = Math.min(level, lossLevel(lost / total));
        } else if (s.type === 'candidate-pair' && s.nominated && typeof s.currentRoundTripTime === 'number') {
          level = Math.min(level, rttLevel(s.currentRoundTripTime));
        }
      });
    }
    if (level !== this.#browser) {
      this.#browser = level;
      this.#render();
    }
  }

  #render() {
    if (!this.#local.hidden) this.#set(this.#local, Math.min(this.#server.level ?? 3, this.#browser));
    for (const tile of this.#grid.querySelectorAll('.tile[data-participant-id]')) {
      const level = this.#server.others?.[tile.dataset.participantId];
      if (level === undefined) tile.querySelector(':scope > .quality')?.remove();
      else this.#set(tile, level);
    }
  }

  #set(tile, level) {
    let el = tile.querySelector(':scope > .quality');
    if (!el) {
      el = document.createElement('span');
      el.className = 'quality';
      el.setAttribute('role', 'img');
      tile.append(el);
    }
    if (el.dataset.level === String(level)) return;
    el.dataset.level = String(level);
    el.setAttribute('aria-label', `Network: ${NAMES[level] ?? 'unknown'}`);
    el.title = el.getAttribute('aria-label');
    el.innerHTML = barsSVG(level);
  }
}
