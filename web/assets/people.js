// The call page's list of people: who is in the call (one entry a person, however many sessions
// they have while moving between servers), which one is you, whose microphone is off and who is
// speaking (the server's `speakers`), kept current from the client's events; and the invite
// link to copy. The panel opens from a toggle button that shows the count, and closes with its
// close button or Escape, giving the focus back to the toggle.

import { State } from '/assets/client.js';
import { icon, setButton } from '/assets/icons.js';

const CONFIRM_MS = 4000;

/** The address to invite someone to this room: the room's page without name or token. */
export function inviteURL(loc = location) {
  return `${loc.origin}${loc.pathname}`;
}

export class People {
  #client;
  #els;
  #self = { muted: false, last: null }; // last: our Participant, kept while reconnecting
  #speaking = new Set();
  #confirmTimer = 0;
  #last = null; // the entries drawn last

  /**
   * els holds the panel's elements: panel, toggle, close, title, list, copy, fallback (the text
   * field shown when the clipboard cannot be written) and copied (the confirmation).
   */
  constructor(client, els) {
    this.#client = client;
    this.#els = els;
    const render = () => this.render();
    for (const type of ['joined', 'moved', 'participant_joined', 'participant_left', 'track_published', 'track_unpublished', 'track_muted']) {
      client.addEventListener(type, render);
    }
    client.addEventListener('speakers', ({ detail }) => {
      this.#speaking = new Set(detail.speakers);
      render();
    });
    client.addEventListener('state', ({ detail }) => {
      if (detail.state !== State.CONNECTED) this.#speaking.clear();
      render();
    });
    els.toggle.setAttribute('aria-controls', els.panel.id);
    els.toggle.setAttribute('aria-expanded', 'false');
    els.toggle.addEventListener('click', () => this.setOpen(els.panel.hidden));
    setButton(els.close, 'close', 'Close the list of people', { hideText: true });
    els.close.addEventListener('click', () => this.setOpen(false, true));
    els.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.setOpen(false, true);
    });
    setButton(els.copy, 'link', 'Copy invite link');
    els.copy.addEventListener('click', () => this.copyInvite());
    render();
  }

  /** Tells the list about us: muted is whether our microphone is off (or missing). */
  setSelf({ muted }) {
    this.#self.muted = muted;
    this.render();
  }

  /** Opens or closes the panel; closing with restoreFocus puts the focus back on the toggle. */
  setOpen(open, restoreFocus = false) {
    const { panel, toggle, close } = this.#els;
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    document.body.toggleAttribute('data-panel-open', open);
    if (open) close.focus();
    else if (restoreFocus) toggle.focus();
  }

  /** Copies the invite link, or shows it selected in a text field when the clipboard is out of reach. */
  async copyInvite() {
    const url = inviteURL();
    const { fallback } = this.#els;
    try {
      if (!navigator.clipboard?.writeText) throw new Error('no clipboard');
      await navigator.clipboard.writeText(url);
      fallback.hidden = true;
      this.#confirm('Link copied');
    } catch {
      fallback.value = url;
      fallback.hidden = false;
      fallback.focus();
      fallback.select();
      let copied = false;
      try { copied = document.execCommand('copy'); } catch { /* the field is there to copy by hand */ }
      this.#confirm(copied ? 'Link copied' : 'Copy the link from the field (Ctrl+C or long press).');
    }
  }

  #confirm(text) {
    const { copied } = this.#els;
    copied.textContent = text;
    clearTimeout(this.#confirmTimer);
    this.#confirmTimer = setTimeout(() => { copied.textContent = ''; }, CONFIRM_MS);
  }

  // Everyone, us first: {key, name, you, muted, speaking}. While reconnecting there is no
  // session to ask, and the list stays as it was (as the tiles do), speaking nobody.
  #entries() {
    if (!this.#client.self && this.#client.state === State.RECONNECTING && this.#last) {
      return this.#last.map((e) => ({ ...e, speaking: false }));
    }
    const self = this.#client.self ?? this.#self.last;
    this.#self.last = self;
    const out = [];
    if (self) {
      out.push({ key: `self:${self.id}`, name: self.name || self.identity || 'You', you: true, muted: this.#self.muted, speaking: this.#speaking.has(self.id) });
    }
    const people = new Map(); // identity -> entry
    for (const p of this.#client.participants.values()) {
      const identity = p.identity || p.id;
      const audio = (p.tracks ?? []).find((t) => t.kind === 'audio');
      const prev = people.get(identity);
      people.set(identity, {
        key: identity,
        name: p.name || p.identity || 'Guest',
        you: false,
        muted: !audio || audio.muted,
        speaking: this.#speaking.has(p.id) || !!prev?.speaking,
      });
    }
    const others = [...people.values()].sort((a, b) => a.name.localeCompare(b.name));
    this.#last = out.concat(others);
    return this.#last;
  }

  /** Redraws the list and the counts. */
  render() {
    const entries = this.#entries();
    const { list, toggle, title } = this.#els;
    const count = entries.length;
    title.textContent = `People (${count})`;
    if (!toggle.querySelector('.count')) {
      setButton(toggle, 'people', 'People');
      const badge = document.createElement('span');
      badge.className = 'count';
      toggle.append(badge);
    }
    toggle.querySelector('.count').textContent = String(count);
    toggle.title = `People (${count})`;
    list.replaceChildren(...entries.map(item));
  }
}

function item(entry) {
  const li = document.createElement('li');
  li.className = 'person';
  li.dataset.key = entry.key;
  if (entry.muted) li.dataset.muted = '';
  if (entry.speaking) li.dataset.speaking = '';
  const avatar = document.createElement('span');
  avatar.className = 'avatar';
  avatar.setAttribute('aria-hidden', 'true');
  avatar.textContent = entry.name.slice(0, 1).toUpperCase();
  const name = document.createElement('span');
  name.className = 'person-name';
  name.textContent = entry.name;
  if (entry.you) {
    const you = document.createElement('span');
    you.className = 'you';
    you.textContent = ' (you)';
    name.append(you);
  }
  const state = document.createElement('span');
  state.className = 'person-state';
  const words = [entry.muted ? 'microphone off' : 'microphone on'];
  if (entry.speaking) words.unshift('speaking');
  const text = document.createElement('span');
  text.className = 'visually-hidden';
  text.textContent = `, ${words.join(', ')}`;
  state.append(...(entry.speaking ? [icon('volume')] : []), icon(entry.muted ? 'mic-off' : 'mic'), text);
  li.append(avatar, name, state);
  return li;
}
