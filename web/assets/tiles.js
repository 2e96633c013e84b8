// The call page's tiles of the other people: one per person (identity), with the layer of each
// video sized to its tile, who speaks, and sound that the browser may hold back until a click.
//
// While someone moves to another server they are in the room twice for a moment (two
// participants, one identity), and while we move, our old and our new session each receive
// everybody's media. So a tile holds one <video> per MediaStream (a feed) and shows the newest one
// that plays; the others wait unseen and unheard. Nobody is shown twice, and a swap shows no
// empty picture. In a call of two that goes direct (peer to peer), the other's media over the
// direct connection is one more feed of theirs, shown while the client says so (showDirect).

/** Sets (on) or removes the empty data attribute key of el. */
export function setFlag(el, key, on) {
  if (on) el.dataset[key] = '';
  else delete el.dataset[key];
}

function identityOf(p) {
  return p.identity || p.id;
}

// The simulcast layer that suits a picture px device pixels high.
function layerForHeight(px) {
  if (px <= 180) return 0;
  if (px <= 360) return 1;
  return 2;
}

export class Tiles {
  #client;
  #grid;
  #onSoundBlocked;
  #people = new Map(); // identity -> {tile, feeds: [{stream, participantId, video, order, playing, direct}]}
  #direct = new Set(); // participant ids whose direct feed is to be shown
  #identities = new Map(); // participant id -> identity, for everyone in the room
  #arrival = new Map(); // participant id -> in which order we learnt of it
  #arrivals = 0;
  #feeds = 0;
  #sentLayer = new Map(); // remote video track id -> layer last asked for
  #speakers = { speakers: [], active: '' }; // the server's last `speakers` message
  #soundBlocked = false; // the browser refused to play sound before the user interacted
  #sizes = new ResizeObserver((entries) => {
    for (const e of entries) {
      const identity = e.target.dataset.identity;
      if (identity) this.#updateLayer(identity);
    }
  });

  /** grid is the element the tiles go in; onSoundBlocked is called when sound needs a click. */
  constructor(client, grid, onSoundBlocked) {
    this.#client = client;
    this.#grid = grid;
    this.#onSoundBlocked = onSoundBlocked;
  }

  /** How many people are in the room besides us. */
  get count() {
    return new Set([...this.#client.participants.values()].map(identityOf)).size;
  }

  /** Notes a participant of the room and gives its person a tile. */
  learn(p) {
    if (!this.#arrival.has(p.id)) this.#arrival.set(p.id, ++this.#arrivals);
    const identity = identityOf(p);
    this.#identities.set(p.id, identity);
    this.#ensureTile(identity);
    this.#refreshTile(identity);
  }

  /** Drops a participant that left, with its feeds, and its person's tile with the last one. */
  forget(participantId) {
    const identity = this.#identities.get(participantId);
    this.#identities.delete(participantId);
    const person = this.#people.get(identity);
    if (!person) return;
    for (const feed of person.feeds.filter((f) => f.participantId === participantId)) this.#dropFeed(person, feed);
    if (this.#membersOf(identity).length === 0) this.#removeTile(identity);
    else this.#pickFeed(identity);
  }

  /**
   * Makes the tiles those of participants, a session's whole roster. keepFeeds keeps the media
   * shown so far (after a move it plays until the new session's does), even of a participant
   * the new session does not know yet if its person is there (the servers tell each other of
   * moving sessions with a lag); else it goes, and so do the layers asked for.
   */
  sync(participants, keepFeeds) {
    const present = new Set(participants.map((p) => p.id));
    const people = new Set(participants.map(identityOf));
    for (const [id, identity] of [...this.#identities]) {
      if (present.has(id)) continue;
      // Kept out of the roster, its feeds play on until a newer one of its person plays.
      if (keepFeeds && people.has(identity)) this.#identities.delete(id);
      else this.forget(id);
    }
    // A new session (after a move too) starts on the server; its own direct call may follow.
    for (const id of [...this.#direct]) this.dropDirect(id);
    if (!keepFeeds) {
      this.#sentLayer.clear();
      for (const id of this.#arrival.keys()) if (!present.has(id)) this.#arrival.delete(id);
      for (const person of this.#people.values()) for (const feed of [...person.feeds]) this.#dropFeed(person, feed);
    }
    for (const p of participants) this.learn(p);
  }

  /** Removes every tile. */
  clear() {
    for (const identity of [...this.#people.keys()]) this.#removeTile(identity);
    this.#identities.clear();
  }

  /**
   * Puts stream, a participant's media on one of our sessions, in its person's tile: it waits
   * unseen until it plays, unless nothing else of that person does. A direct feed (the media of
   * the peer connection) is shown only while showDirect says so.
   */
  addFeed(participantId, stream, direct = false) {
    if (!this.#identities.has(participantId)) {
      this.learn(this.#client.participants.get(participantId) ?? { id: participantId });
    }
    const identity = this.#identities.get(participantId);
    const person = this.#people.get(identity);
    if (person.feeds.some((f) => f.stream === stream)) return;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.className = 'standby';
    if (direct) video.dataset.direct = '';
    const feed = { stream, participantId, video, order: ++this.#feeds, playing: false, direct };
    // It plays once it shows a picture. (Its sound may come first, and its video only later.)
    video.addEventListener('resize', () => {
      if (feed.playing || video.videoWidth === 0) return;
      feed.playing = true;
      this.#pickFeed(identity);
    });
    video.srcObject = stream;
    person.tile.prepend(video);
    person.feeds.push(feed);
    this.#play(video);
    this.#pickFeed(identity);
  }

  /**
   * Shows participantId's direct feed (on), or its media through the server (off), in one
   * step; each still shows the other while it is the only one that plays.
   */
  showDirect(participantId, on) {
    if (on) this.#direct.add(participantId);
    else this.#direct.delete(participantId);
    this.#pickFeed(this.#identities.get(participantId));
  }

  /** Removes participantId's direct feeds: the peer connection closed. */
  dropDirect(participantId) {
    this.#direct.delete(participantId);
    const identity = this.#identities.get(participantId);
    const person = this.#people.get(identity);
    if (!person) return;
    for (const feed of person.feeds.filter((f) => f.direct && f.participantId === participantId)) this.#dropFeed(person, feed);
    this.#pickFeed(identity);
  }

  /** Brings the tile of a participant's person in line with what the server told us. */
  refresh(participantId) {
    this.#refreshTile(this.#identities.get(participantId));
  }

  /** Outlines who is speaking, and more boldly who has the floor (the server's `speakers`). */
  setSpeakers(next) {
    this.#speakers = next;
    this.#showSpeakers();
  }

  /** Turns the sound on, after a click. */
  enableSound() {
    this.#soundBlocked = false;
    for (const { feeds } of this.#people.values()) {
      for (const { video } of feeds) {
        if (video.classList.contains('standby')) continue;
        video.muted = false;
        this.#play(video);
      }
    }
  }

  #membersOf(identity) {
    return [...this.#identities].filter(([, i]) => i === identity).map(([id]) => id);
  }

  // The tile follows the participant it shows (or else the newest of its person): label, muted
  // indicators, layer.
  #refreshTile(identity) {
    const person = this.#people.get(identity);
    if (!person) return;
    const { tile } = person;
    const members = this.#membersOf(identity);
    if (members.length === 0) return;
    const shown = person.feeds.find((f) => !f.video.classList.contains('standby'))?.participantId;
    const arrival = (id) => this.#arrival.get(id) ?? 0;
    const id = members.includes(shown) ? shown : members.reduce((a, b) => (arrival(a) > arrival(b) ? a : b));
    tile.dataset.participantId = id;
    const p = this.#client.participants.get(id);
    if (!p) return;
    const name = p.name || p.identity || 'Guest';
    tile.querySelector('.label').textContent = name;
    tile.dataset.initial = name.slice(0, 1).toUpperCase();
    const tracks = p.tracks ?? [];
    const video = tracks.find((t) => t.kind === 'video' && t.source !== 'screen'); // a screen has its own tile
    const audio = tracks.find((t) => t.kind === 'audio');
    setFlag(tile, 'noVideo', !video);
    setFlag(tile, 'videoMuted', !!video?.muted);
    setFlag(tile, 'audioMuted', !audio || audio.muted);
    this.#updateLayer(identity);
  }

  #ensureTile(identity) {
    if (this.#people.has(identity)) return;
    const tile = document.createElement('div');
    tile.className = 'tile';
    tile.dataset.identity = identity;
    const label = document.createElement('span');
    label.className = 'label';
    tile.append(label);
    this.#grid.append(tile);
    this.#people.set(identity, { tile, feeds: [] });
    this.#sizes.observe(tile);
    this.#showSpeakers();
  }

  #removeTile(identity) {
    const person = this.#people.get(identity);
    if (!person) return;
    for (const feed of [...person.feeds]) this.#dropFeed(person, feed);
    this.#sizes.unobserve(person.tile);
    person.tile.remove();
    this.#people.delete(identity);
  }

  #dropFeed(person, feed) {
    person.feeds.splice(person.feeds.indexOf(feed), 1);
    feed.video.srcObject = null;
    feed.video.remove();
  }

  // Shows a person's newest feed that plays (of the participant we learnt of last, then the
  // latest stream), or the newest if none plays yet; the others wait muted and unseen. Of a
  // participant in a direct call, the direct feed or the others, as showDirect said, where one
  // plays. Older streams of the participant shown (our previous session's), and older ones of
  // participants no longer in the roster, go once the new one plays; a direct feed goes only
  // with dropDirect, and stays the server's media until then.
  #pickFeed(identity) {
    const person = this.#people.get(identity);
    if (!person) return;
    const rank = (f) => (this.#arrival.get(f.participantId) ?? 0) * 1e6 + f.order;
    const preferred = (f) => f.direct === this.#direct.has(f.participantId);
    const playing = person.feeds.filter((f) => f.playing);
    const pool = [playing.filter(preferred), playing, person.feeds.filter(preferred), person.feeds].find((p) => p.length > 0) ?? [];
    const best = pool.reduce((a, b) => (a && rank(a) > rank(b) ? a : b), null);
    for (const feed of [...person.feeds]) {
      const gone = !this.#identities.has(feed.participantId);
      const sameKind = feed.direct === best?.direct;
      if (best?.playing && feed !== best && sameKind && rank(feed) < rank(best) && (gone || feed.participantId === best.participantId)) {
        this.#dropFeed(person, feed);
        continue;
      }
      const shown = feed === best;
      if (shown !== feed.video.classList.contains('standby')) continue; // as it was
      feed.video.classList.toggle('standby', !shown);
      feed.video.muted = !shown || this.#soundBlocked;
      if (shown) this.#play(feed.video);
    }
    this.#refreshTile(identity);
  }

  // Asks for the simulcast layer that matches the size the tile is shown at, for the participant
  // it shows; another session of that person (moving to another server) gets the lowest until it
  // is shown, which is cheaper to decode meanwhile.
  #updateLayer(identity) {
    const tile = this.#people.get(identity)?.tile;
    if (!tile) return;
    const shown = layerForHeight(tile.clientHeight * (window.devicePixelRatio || 1));
    for (const id of this.#membersOf(identity)) {
      const video = this.#client.participants.get(id)?.tracks?.find((t) => t.kind === 'video' && t.source !== 'screen');
      const layer = id === tile.dataset.participantId ? shown : 0;
      if (!video || this.#sentLayer.get(video.id) === layer) continue;
      this.#sentLayer.set(video.id, layer);
      this.#client.setLayer(video.id, layer);
    }
  }

  #showSpeakers() {
    const speaking = new Set(this.#speakers.speakers);
    for (const tile of this.#grid.querySelectorAll('.tile')) {
      const ids = tile.classList.contains('local') ? [this.#client.self?.id] : this.#membersOf(tile.dataset.identity);
      setFlag(tile, 'speaking', ids.some((id) => id && speaking.has(id)));
      setFlag(tile, 'activeSpeaker', ids.some((id) => id && id === this.#speakers.active));
    }
  }

  // Browsers may refuse to autoplay sound until the user interacts with the page; then play
  // muted (the picture still moves) and ask for a click.
  #play(video) {
    video.play().catch((err) => {
      if (err.name !== 'NotAllowedError') return;
      this.#soundBlocked = true;
      video.muted = true;
      video.play().catch(() => {});
      this.#onSoundBlocked();
    });
  }
}
