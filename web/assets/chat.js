// The call page's chat: a side panel with the room's messages (the server's `chat`, and the
// history `joined` carries, each message shown once by its id however often a rejoin repeats
// it), lines saying who joined and left, and a field to write in (Enter sends, Shift+Enter is a
// new line). Everything people wrote is put on the page as text (textContent, createElement),
// never as markup; links (http and https only) become anchors that open in a new tab. The panel
// opens from a toggle that counts the messages that came while it was closed.

import { State } from '/assets/client.js';
import { setButton } from '/assets/icons.js';

// What people read when the server refuses a message; keyed by error code.
const REFUSALS = {
  bad_chat: "That message can't be sent: it is empty or holds characters that are not allowed.",
  chat_too_long: 'That message is too long to send. Shorten it and try again.',
  not_allowed: 'Your access link lets you read the chat but not write in it.',
  rate_limited: 'You are sending messages too fast. Wait a moment, then send again.',
  unavailable: 'The chat is unavailable right now. Try again in a moment.',
  not_joined: 'You are not in the call yet; your message was not sent.',
};
const MAX_LINES = 500; // lines kept on the page; older ones go
const LINK = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}]+$/;

/** Splits text into strings and {href, text} links (http and https only), in order. */
export function linkify(text) {
  const out = [];
  let at = 0;
  for (const match of text.matchAll(LINK)) {
    const raw = match[0].replace(TRAILING, '');
    let url = null;
    try { url = new URL(raw); } catch { /* not a link after all */ }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    if (match.index > at) out.push(text.slice(at, match.index));
    out.push({ href: url.href, text: raw });
    at = match.index + raw.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

export class Chat {
  #client;
  #els;
  #onOpen;
  #seen = new Set(); // message ids shown
  #names = new Map(); // participant id -> name, for the lines saying who left
  #unread = 0;
  #lastSent = '';
  #readOnly = false;

  /**
   * els holds the panel's elements: panel, toggle, close, log (the list), form, input, send and
   * error. onOpen(open) is told when the panel opens or closes.
   */
  constructor(client, els, { onOpen = () => {} } = {}) {
    this.#client = client;
    this.#els = els;
    this.#onOpen = onOpen;
    els.log.setAttribute('role', 'log');
    els.log.setAttribute('aria-live', 'polite');
    els.toggle.setAttribute('aria-controls', els.panel.id);
    els.toggle.setAttribute('aria-expanded', 'false');
    els.toggle.addEventListener('click', () => this.setOpen(els.panel.hidden));
    setButton(els.close, 'close', 'Close the chat', { hideText: true });
    els.close.addEventListener('click', () => this.setOpen(false, true));
    els.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.setOpen(false, true);
    });
    setButton(els.send, 'send', 'Send');
    els.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    els.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    els.input.addEventListener('input', () => this.#showError(''));

    const history = ({ detail }) => {
      for (const p of detail.participants ?? []) this.#names.set(p.id, nameOf(p));
      for (const m of detail.chat ?? []) this.#add(m, false);
    };
    client.addEventListener('joined', history);
    client.addEventListener('moved', history);
    client.addEventListener('chat', ({ detail }) => this.#add(detail, true));
    client.addEventListener('participant_joined', ({ detail }) => {
      const name = nameOf(detail.participant);
      this.#names.set(detail.participant.id, name);
      this.#system(`${name} joined`);
    });
    client.addEventListener('participant_left', ({ detail }) => {
      const name = this.#names.get(detail.participantId);
      this.#names.delete(detail.participantId);
      if (name) this.#system(`${name} left`);
    });
    client.addEventListener('error', ({ detail }) => {
      if (detail.ref !== 'chat') return;
      this.#showError(REFUSALS[detail.code] ?? `Your message was not sent (${detail.message}).`);
      if (!els.input.value && this.#lastSent) els.input.value = this.#lastSent;
    });
    client.addEventListener('state', ({ detail }) => {
      if (detail.state === State.CONNECTED) this.#showError('');
    });
    this.#showUnread();
  }

  /** Makes the chat read only: the access link does not allow writing (the server says so too). */
  setReadOnly(readOnly) {
    this.#readOnly = readOnly;
    const { input, send } = this.#els;
    input.disabled = send.disabled = readOnly;
    input.placeholder = readOnly ? 'Your access link lets you read the chat only' : 'Write a message';
  }

  /** Whether the panel is open. */
  get open() { return !this.#els.panel.hidden; }

  /** Opens or closes the panel; closing with restoreFocus puts the focus back on the toggle. */
  setOpen(open, restoreFocus = false) {
    const { panel, toggle, input, close } = this.#els;
    if (open === this.open) return;
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) {
      this.#unread = 0;
      this.#showUnread();
      this.#scrollToEnd();
      (this.#readOnly ? close : input).focus();
    } else if (restoreFocus) toggle.focus();
    this.#onOpen(open);
  }

  /** Sends what the field holds. The server's echo of it is the acknowledgement. */
  send() {
    const { input } = this.#els;
    const text = input.value.trim();
    if (this.#readOnly) return this.#showError(REFUSALS.not_allowed);
    if (!text.trim()) return;
    if (this.#client.state !== State.CONNECTED) {
      return this.#showError('You are not connected right now; your message was not sent. Try again once connected.');
    }
    this.#client.sendChat(text);
    this.#lastSent = text;
    input.value = '';
    this.#showError('');
  }

  // Adds a message not shown yet; live says it came now (it counts as unread while closed).
  #add(m, live) {
    if (!m?.id || this.#seen.has(m.id) || typeof m.text !== 'string') return;
    this.#seen.add(m.id);
    const self = this.#client.self;
    const mine = !!self && (m.participantId === self.id || (!!m.identity && m.identity === self.identity));
    this.#append(messageLine(m, mine));
    if (live && !mine && !this.open) {
      this.#unread++;
      this.#showUnread();
    }
  }

  #system(text) {
    const li = document.createElement('li');
    li.className = 'chat-system';
    li.textContent = text;
    this.#append(li);
  }

  #append(li) {
    const { log } = this.#els;
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(li);
    while (log.children.length > MAX_LINES) log.firstElementChild.remove();
    if (atEnd) this.#scrollToEnd();
  }

  #scrollToEnd() {
    const { log } = this.#els;
    log.scrollTop = log.scrollHeight;
  }

  #showError(text) {
    const { error } = this.#els;
    error.textContent = text;
    error.hidden = !text;
  }

  #showUnread() {
    const { toggle } = this.#els;
    if (!toggle.querySelector('.count')) {
      setButton(toggle, 'chat', 'Chat');
      const badge = document.createElement('span');
      badge.className = 'count';
      badge.setAttribute('aria-hidden', 'true');
      toggle.append(badge);
    }
    const badge = toggle.querySelector('.count');
    badge.textContent = String(this.#unread);
    badge.hidden = this.#unread === 0;
    const words = this.#unread ? `Chat, ${this.#unread} unread` : 'Chat';
    toggle.title = words;
    toggle.setAttribute('aria-label', words);
  }
}

function nameOf(p) {
  return p?.name || p?.identity || 'Guest';
}

// One message: who, when (the reader's local time) and what, all as text; links as anchors.
function messageLine(m, mine) {
  const li = document.createElement('li');
  li.className = 'chat-msg';
  li.dataset.id = m.id;
  if (mine) li.dataset.mine = '';
  const head = document.createElement('div');
  head.className = 'chat-head';
  const who = document.createElement('span');
  who.className = 'chat-name';
  who.textContent = mine ? `${m.name || m.identity || 'You'} (you)` : (m.name || m.identity || 'Guest');
  const when = document.createElement('time');
  when.className = 'chat-time';
  const at = new Date(Number(m.time) || Date.now());
  when.dateTime = at.toISOString();
  when.textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  head.append(who, ' ', when);
  const body = document.createElement('p');
  body.className = 'chat-text';
  for (const part of linkify(m.text)) {
    if (typeof part === 'string') {
      body.append(document.createTextNode(part));
      continue;
    }
    const a = document.createElement('a');
    a.href = part.href;
    a.textContent = part.text;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    body.append(a);
  }
  li.append(head, body);
  return li;
}
