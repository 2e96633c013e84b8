// Where the call page's tiles go on the stage. Two layouts:
//
//   grid     every tile the same size, as large as the stage allows: the column count is the
//            one that gives the largest 16:9 tiles (square ones on a portrait stage, a phone)
//            for the stage's width and height, recomputed when either changes;
//   speaker  one large tile (the featured one) and the others small in a strip below it.
//
// The featured tile is the pinned one, else a screen share (a tile with data-source="screen" is
// pinned when it appears, and can be unpinned), else the active speaker (the server's
// `speakers`, which tiles.js marks with data-active-speaker), else whoever it was before. A
// pinned tile is featured in either layout; unpinning goes back to the layout chosen.
//
// Tiles are placed with absolute positions, so any module can add a tile to the stage: this
// one watches the stage's children and gives each tile a pin button and its status badges.
// tiles.js sizes each remote tile's video layer to the tile (ResizeObserver), so the large tile
// asks for the top layer and the strip's for the lowest.

import { icon } from '/assets/icons.js';

const GAP = 8; // px between tiles, and around them
const MIN_TILE_WIDTH = 150; // px: below this, tiles stay this wide and the stage scrolls
const WIDE = 16 / 9;

/**
 * bestGrid returns the grid of n tiles of aspect ratio (width / height) that fits in width x
 * height with gap between tiles and makes them largest: {cols, rows, w, h}.
 */
export function bestGrid(n, width, height, gap = GAP, aspect = WIDE) {
  let best = { cols: 1, rows: Math.max(n, 1), w: 0, h: 0 };
  for (let cols = 1; cols <= Math.max(n, 1); cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((width - gap * (cols - 1)) / cols, ((height - gap * (rows - 1)) / rows) * aspect);
    if (w > best.w) best = { cols, rows, w, h: w / aspect };
  }
  return best;
}

// Places tiles, a grid of {cols, w, h}, centred in the box {x, y, w, h}, the last row centred
// too. Returns how far down the grid reaches.
function placeGrid(tiles, box, grid) {
  const rows = Math.ceil(tiles.length / grid.cols);
  const used = rows * grid.h + (rows - 1) * GAP;
  const top = box.y + Math.max(0, (box.h - used) / 2);
  tiles.forEach((tile, i) => {
    const row = Math.floor(i / grid.cols);
    const inRow = Math.min(grid.cols, tiles.length - row * grid.cols);
    const rowWidth = inRow * grid.w + (inRow - 1) * GAP;
    const left = box.x + (box.w - rowWidth) / 2 + (i % grid.cols) * (grid.w + GAP);
    place(tile, left, top + row * (grid.h + GAP), grid.w, grid.h);
  });
  return top + used;
}

function place(tile, x, y, w, h) {
  const px = (v) => `${Math.round(v)}px`;
  Object.assign(tile.style, { left: px(x), top: px(y), width: px(w), height: px(h) });
}

function nameOf(tile) {
  return tile.querySelector('.label')?.textContent.trim() || 'this person';
}

export class Layout {
  #stage;
  #mode = 'grid';
  #pinned = null; // the pinned tile element
  #lastSpeaker = null; // the tile featured for speaking last, kept while nobody speaks
  #screens = new WeakSet(); // screen tiles seen, pinned once on arrival
  #onChange;
  #spacer = document.createElement('div'); // gives the stage its scroll height

  /** stage is the element the tiles are in; onChange(layout) is called when the layout changes. */
  constructor(stage, onChange = () => {}) {
    this.#stage = stage;
    this.#onChange = onChange;
    this.#spacer.className = 'stage-spacer';
    this.#spacer.setAttribute('aria-hidden', 'true');
    stage.classList.add('stage');
    stage.dataset.layout = 'grid';
    stage.append(this.#spacer);
    new ResizeObserver(() => this.arrange()).observe(stage);
    new MutationObserver(() => this.arrange()).observe(stage, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ['hidden', 'data-active-speaker', 'data-source'],
    });
    this.arrange();
  }

  /** 'grid' or 'speaker': the layout chosen. */
  get mode() {
    return this.#mode;
  }

  /** Chooses the layout: 'grid' or 'speaker'. */
  setMode(mode) {
    this.#mode = mode === 'speaker' ? 'speaker' : 'grid';
    this.arrange();
  }

  /** Pins tile (featured in either layout), or with null unpins. */
  pin(tile) {
    this.#pinned = tile;
    this.arrange();
    this.#onChange(this);
  }

  #tiles() {
    return [...this.#stage.children].filter((el) => el.classList.contains('tile') && !el.hidden);
  }

  #featured(tiles) {
    if (tiles.length < 2) return null;
    for (const tile of tiles) {
      if (tile.dataset.source !== 'screen' || this.#screens.has(tile)) continue;
      this.#screens.add(tile);
      this.#pinned = tile; // a screen share comes to the front when it starts
    }
    if (this.#pinned && !tiles.includes(this.#pinned)) this.#pinned = null;
    if (this.#pinned) return this.#pinned;
    if (this.#mode !== 'speaker') return null;
    const remote = tiles.filter((t) => !t.classList.contains('local'));
    const speaking = remote.find((t) => 'activeSpeaker' in t.dataset);
    if (speaking) this.#lastSpeaker = speaking;
    if (this.#lastSpeaker && tiles.includes(this.#lastSpeaker)) return this.#lastSpeaker;
    return remote[0] ?? tiles[0];
  }

  /** Places every tile for the stage's size now. */
  arrange() {
    const tiles = this.#tiles();
    for (const tile of tiles) this.#decorate(tile);
    const featured = this.#featured(tiles);
    const before = this.#stage.dataset.layout;
    this.#stage.dataset.layout = featured ? 'speaker' : 'grid';
    for (const tile of tiles) {
      if (tile === featured) tile.dataset.featured = '';
      else delete tile.dataset.featured;
      const pinned = tile === this.#pinned;
      const button = tile.querySelector(':scope > .tile-pin');
      const label = `${pinned ? 'Unpin' : 'Pin'} ${nameOf(tile)}`;
      if (button.getAttribute('aria-label') !== label) {
        button.setAttribute('aria-label', label);
        button.title = label;
        button.setAttribute('aria-pressed', String(pinned));
        button.replaceChildren(icon(pinned ? 'pin-off' : 'pin'));
      }
    }
    const box = {
      x: GAP,
      y: GAP,
      w: Math.max(0, this.#stage.clientWidth - 2 * GAP),
      h: Math.max(0, this.#stage.clientHeight - 2 * GAP),
    };
    const bottom = featured ? this.#arrangeSpeaker(featured, tiles.filter((t) => t !== featured), box) : this.#arrangeGrid(tiles, box);
    this.#spacer.style.top = `${Math.round(bottom + GAP - 1)}px`;
    if (before !== this.#stage.dataset.layout) this.#onChange(this);
  }

  #arrangeGrid(tiles, box) {
    if (tiles.length === 0) return 0;
    const aspect = box.h > box.w ? 1 : WIDE;
    let grid = bestGrid(tiles.length, box.w, box.h, GAP, aspect);
    if (grid.w < MIN_TILE_WIDTH && box.w >= MIN_TILE_WIDTH) {
      // Too small to see anyone: keep a size people can see and scroll for the rest.
      const cols = Math.max(1, Math.floor((box.w + GAP) / (MIN_TILE_WIDTH + GAP)));
      const w = (box.w - GAP * (cols - 1)) / cols;
      grid = { cols, w, h: w / aspect };
    }
    if (aspect === 1) {
      // On a portrait stage, tiles may grow taller (up to 3:4) into the height left over.
      const rows = Math.ceil(tiles.length / grid.cols);
      grid = { ...grid, h: Math.max(grid.h, Math.min(grid.w * 4 / 3, (box.h - GAP * (rows - 1)) / rows)) };
    }
    return placeGrid(tiles, box, grid);
  }

  #arrangeSpeaker(featured, others, box) {
    if (box.h > box.w) {
      // Portrait (a phone): the featured tile across the top, the others in a grid below.
      const h = others.length === 0 ? box.h : Math.min(box.h * 0.6, Math.max(box.w / WIDE, box.h * 0.4));
      place(featured, box.x, box.y, box.w, h);
      if (others.length === 0) return box.y + h;
      const rest = { x: box.x, y: box.y + h + GAP, w: box.w, h: box.h - h - GAP };
      return Math.max(box.y + h, this.#arrangeGrid(others, rest));
    }
    // Landscape: the featured tile as large as fits above a strip of the others.
    const stripH = others.length === 0 ? 0 : Math.min(160, Math.max(90, box.h * 0.2));
    const mainH = box.h - (stripH ? stripH + GAP : 0);
    const w = Math.min(box.w, mainH * WIDE);
    const h = w / WIDE;
    place(featured, box.x + (box.w - w) / 2, box.y + (mainH - h) / 2, w, h);
    if (others.length === 0) return box.y + mainH;
    // One row: as wide as a share of the stage's width allows, as high as the strip.
    const n = others.length;
    const tileW = Math.min((box.w - GAP * (n - 1)) / n, stripH * WIDE);
    const row = { cols: n, w: tileW, h: tileW / WIDE };
    return placeGrid(others, { x: box.x, y: box.y + mainH + GAP, w: box.w, h: stripH }, row);
  }

  // Gives a tile its pin button and its status badges (microphone off, speaking), once.
  #decorate(tile) {
    if (tile.querySelector(':scope > .tile-pin')) return;
    const pin = document.createElement('button');
    pin.type = 'button';
    pin.className = 'tile-pin';
    pin.addEventListener('click', () => this.pin(this.#pinned === tile ? null : tile));
    const badges = document.createElement('span');
    badges.className = 'tile-badges';
    badges.append(badge('mic-off', 'badge-muted', 'microphone off'), badge('volume', 'badge-speaking', 'speaking'));
    tile.append(badges, pin);
  }
}

function badge(name, className, words) {
  const el = document.createElement('span');
  el.className = `badge ${className}`;
  const text = document.createElement('span');
  text.className = 'visually-hidden';
  text.textContent = words;
  el.append(icon(name), text);
  return el;
}
