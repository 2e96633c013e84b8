// The call page's file transfer (filetransfer.js does the protocol): a Files button opens a
// panel to send a file to everyone or one person (or drop one on the call), and lists the
// transfers: offers to accept or decline, progress, a link to save what arrived and whether
// its checksum matched, each receiver's progress of what we send, and cancel buttons.

import { FileTransfers, formatBytes } from '/assets/filetransfer.js';
import { icon, setButton } from '/assets/icons.js';

// Progress is drawn at most this often.
const RENDER_MS = 200;

const STATES_IN = {
  offered: 'Offered to you',
  receiving: 'Receiving',
  done: 'Received',
  declined: 'Declined',
  cancelled: 'Cancelled',
  failed: 'Failed',
};
const STATES_OUT = {
  offered: 'Waiting for an answer',
  sending: 'Sending',
  done: 'Delivered',
  declined: 'Declined',
  cancelled: 'Cancelled',
  failed: 'Failed',
};

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

export class FileShare {
  /** The transfers (FileTransfers). */
  transfers;

  #client;
  #els = {}; // panel parts
  #items = new Map(); // transfer id -> {li, key, ...parts}
  #dirty = new Set();
  #timer = 0;

  /**
   * toggle is the controls' button that opens the panel, panel the (empty) container it fills,
   * dropZone the element a file may be dropped on.
   */
  constructor(client, { toggle, panel, dropZone }) {
    this.#client = client;
    this.transfers = new FileTransfers(client);
    this.#build(toggle, panel);
    this.transfers.addEventListener('change', ({ detail }) => this.#schedule(detail));
    for (const type of ['joined', 'moved', 'participant_joined', 'participant_left']) client.addEventListener(type, () => this.#recipients());
    this.#dropping(dropZone);
  }

  /** Opens or closes the panel; closing with restoreFocus gives the focus back to the toggle. */
  setOpen(open, { focus = true, restoreFocus = false } = {}) {
    const { panel, toggle, close } = this.#els;
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open && focus) close.focus();
    else if (!open && restoreFocus) toggle.focus();
  }

  /**
   * What the transfers are doing, for tests and debugging: {incoming, outgoing}, each a list of
   * plain objects.
   */
  report() {
    const { incoming, outgoing } = this.transfers;
    return {
      incoming: [...incoming.values()].map(({ id, from, name, size, type, state, received, direct, reason, hash, ok, blob }) => (
        { id, from, name, size, type, state, received, direct, reason, hash, ok, blobSize: blob?.size ?? -1 })),
      outgoing: [...outgoing.values()].map((t) => ({
        id: t.id, name: t.name, size: t.size, state: t.state, direct: t.direct, hash: t.hash,
        receivers: Object.fromEntries([...t.receivers].map(([pid, r]) => [pid, { state: r.state, acked: r.acked, resent: r.resent, verified: r.verified, reason: r.reason }])),
      })),
    };
  }

  /** Sends each file to the recipient chosen in the panel; trouble is said in the panel. */
  sendFiles(files) {
    const to = this.#els.to.value ? [this.#els.to.value] : [];
    const { problem } = this.#els;
    problem.textContent = '';
    for (const file of files) {
      try {
        this.transfers.send(file, to);
      } catch (err) {
        problem.textContent = `${file.name}: ${err.message}`;
      }
    }
    problem.hidden = !problem.textContent;
  }

  #build(toggle, panel) {
    setButton(toggle, 'file', 'Files');
    toggle.setAttribute('aria-controls', panel.id);
    toggle.setAttribute('aria-expanded', 'false');
    toggle.addEventListener('click', () => this.setOpen(panel.hidden));
    const title = el('h2', { id: `${panel.id}-title`, textContent: 'Files' });
    panel.setAttribute('aria-labelledby', title.id);
    const close = el('button', { type: 'button', className: 'icon-button' });
    setButton(close, 'close', 'Close files', { hideText: true });
    close.addEventListener('click', () => this.setOpen(false, { restoreFocus: true }));
    panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.setOpen(false, { restoreFocus: true }); });
    const to = el('select', { id: `${panel.id}-to` });
    const input = el('input', { type: 'file', id: `${panel.id}-input`, className: 'visually-hidden', tabIndex: -1 });
    input.setAttribute('aria-hidden', 'true');
    input.addEventListener('change', () => {
      this.sendFiles([...input.files]);
      input.value = '';
    });
    const choose = el('button', { type: 'button', id: `${panel.id}-choose` });
    setButton(choose, 'file', 'Choose a file to send');
    choose.addEventListener('click', () => input.click());
    const problem = el('p', { className: 'files-problem', role: 'alert', hidden: true });
    const live = el('p', { className: 'files-live', role: 'status' });
    live.setAttribute('aria-live', 'polite');
    const list = el('ul', { className: 'files-list' });
    list.setAttribute('aria-label', 'File transfers');
    panel.append(
      el('div', { className: 'panel-head' }, title, close),
      el('div', { className: 'files-send' },
        el('label', { htmlFor: to.id, textContent: 'Send to' }), to, choose, input,
        el('p', { className: 'files-hint', textContent: `Or drop a file on the call. Up to ${formatBytes(this.transfers.maxBytes)}.` })),
      problem, live, list);
    this.#els = { toggle, panel, close, to, input, problem, live, list, hint: panel.querySelector('.files-hint') };
    this.#recipients();
  }

  // The Send to choices: everyone, or one of the people here.
  #recipients() {
    const { to, hint } = this.#els;
    const chosen = to.value;
    const options = [el('option', { value: '', textContent: 'Everyone' })];
    for (const p of this.#client.participants.values()) options.push(el('option', { value: p.id, textContent: p.name || p.identity }));
    to.replaceChildren(...options);
    to.value = [...to.options].some((o) => o.value === chosen) ? chosen : '';
    hint.textContent = `Or drop a file on the call. Up to ${formatBytes(this.transfers.maxBytes)}.`;
  }

  #dropping(zone) {
    const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    zone.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      zone.dataset.dropping = '';
    });
    zone.addEventListener('dragleave', () => delete zone.dataset.dropping);
    zone.addEventListener('drop', (e) => {
      delete zone.dataset.dropping;
      if (!hasFiles(e)) return;
      e.preventDefault();
      this.setOpen(true, { focus: false });
      this.sendFiles([...e.dataTransfer.files]);
    });
  }

  #say(text) {
    this.#els.live.textContent = text;
  }

  #name(id) {
    const p = this.#client.participants.get(id);
    return p ? p.name || p.identity : 'someone who left';
  }

  #schedule(t) {
    if (!this.#items.has(t.id) && !t.out && t.state === 'offered') {
      // A new offer: say so, and show the panel without taking the focus.
      this.#say(`${this.#name(t.from)} offers you ${t.name} (${formatBytes(t.size)}).`);
      if (this.#els.panel.hidden) this.setOpen(true, { focus: false });
    }
    this.#dirty.add(t);
    this.#timer ||= setTimeout(() => {
      this.#timer = 0;
      for (const d of this.#dirty) this.#render(d);
      this.#dirty.clear();
    }, RENDER_MS);
  }

  #render(t) {
    let item = this.#items.get(t.id);
    const gone = !this.transfers.outgoing.has(t.id) && !this.transfers.incoming.has(t.id);
    if (gone) {
      item?.li.remove();
      this.#items.delete(t.id);
      return;
    }
    if (!item) {
      item = { li: el('li', { className: 'file' }), key: '' };
      item.li.dataset.transfer = t.id;
      this.#els.list.prepend(item.li);
      this.#items.set(t.id, item);
    }
    item.li.dataset.state = t.state;
    // The structure changes with the states only; progress updates what is there, so a
    // focused button stays.
    const key = t.out ? `${t.state}|${[...t.receivers.values()].map((r) => r.state).join(',')}` : t.state;
    if (key !== item.key) {
      item.key = key;
      this.#draw(t, item);
    }
    this.#progress(t, item);
  }

  #draw(t, item) {
    const head = el('p', { className: 'file-head' }, icon('file'), el('strong', { className: 'file-name', textContent: t.name }));
    const what = [formatBytes(t.size), t.type].filter(Boolean).join(', ');
    const meta = el('p', { className: 'file-meta', textContent: t.out ? `To ${this.#toWhom(t)}. ${what}` : `From ${this.#name(t.from)}. ${what}` });
    const buttons = el('div', { className: 'file-actions' });
    item.bars = new Map();
    const rows = [];
    if (t.out) {
      for (const [pid, r] of t.receivers) {
        const bar = el('progress', { max: t.size, value: r.acked });
        bar.setAttribute('aria-label', `${t.name} to ${this.#name(pid)}`);
        const status = el('span', { className: 'file-status' });
        item.bars.set(pid, { bar, status });
        const row = el('li', { className: 'file-receiver' }, el('span', { textContent: this.#name(pid) }), bar, status);
        row.dataset.participantId = pid;
        row.dataset.state = r.state;
        rows.push(row);
      }
      if (t.state === 'sending') buttons.append(this.#button('close', 'Cancel', () => this.transfers.cancel(t.id), 'file-cancel'));
    } else {
      const bar = el('progress', { max: t.size, value: t.received });
      bar.setAttribute('aria-label', `${t.name} from ${this.#name(t.from)}`);
      const status = el('span', { className: 'file-status' });
      item.bars.set('', { bar, status });
      rows.push(el('li', { className: 'file-receiver' }, bar, status));
      if (t.state === 'offered') {
        buttons.append(
          this.#button('download', 'Accept', () => this.transfers.accept(t.id), 'file-accept'),
          this.#button('close', 'Decline', () => this.transfers.decline(t.id), 'file-decline'));
      } else if (t.state === 'receiving') {
        buttons.append(this.#button('close', 'Cancel', () => this.transfers.cancel(t.id), 'file-cancel'));
      } else if (t.state === 'done' && t.blob) {
        item.url ??= URL.createObjectURL(t.blob);
        const save = el('a', { href: item.url, download: t.name, className: 'button with-icon file-save' }, icon('download'), el('span', { textContent: `Save ${t.name}` }));
        buttons.append(save);
      }
    }
    const finished = t.out ? t.state !== 'sending' : !['offered', 'receiving'].includes(t.state);
    if (finished) {
      buttons.append(this.#button('close', 'Remove from the list', () => {
        if (item.url) URL.revokeObjectURL(item.url);
        this.transfers.remove(t.id);
      }, 'file-remove'));
    }
    item.li.replaceChildren(head, meta, el('ul', { className: 'file-receivers' }, ...rows), buttons);
    if (finished) this.#say(this.#summary(t));
  }

  #progress(t, item) {
    if (t.out) {
      for (const [pid, r] of t.receivers) {
        const parts = item.bars.get(pid);
        if (!parts) continue;
        parts.bar.value = r.acked;
        parts.status.textContent = `${STATES_OUT[r.state]}${r.state === 'sending' ? ` ${percent(r.acked, t.size)}` : ''}${r.reason ? `. ${r.reason}` : ''}${r.verified ? ', checksum verified' : ''}`;
      }
      return;
    }
    const { bar, status } = item.bars.get('');
    bar.value = t.received;
    let text = STATES_IN[t.state];
    if (t.state === 'receiving') text += ` ${percent(t.received, t.size)}`;
    if (t.state === 'done') text += t.ok ? ', checksum verified' : ': the checksum does not match, the file is damaged';
    if (t.reason) text += `. ${t.reason}`;
    status.textContent = text;
  }

  #summary(t) {
    if (t.out) return `${t.name}: ${[...t.receivers].map(([pid, r]) => `${this.#name(pid)} ${STATES_OUT[r.state].toLowerCase()}`).join(', ')}.`;
    if (t.state === 'done') return `${t.name} received${t.ok ? ', checksum verified' : ', but the checksum does not match'}.`;
    return `${t.name}: ${STATES_IN[t.state].toLowerCase()}. ${t.reason}`;
  }

  #toWhom(t) {
    const ids = [...t.receivers.keys()];
    return ids.length === 1 ? this.#name(ids[0]) : `${ids.length} people`;
  }

  #button(iconName, text, onClick, className) {
    const b = el('button', { type: 'button', className });
    setButton(b, iconName, text);
    b.addEventListener('click', onClick);
    return b;
  }
}

function percent(n, total) {
  return total > 0 ? `${Math.floor((n / total) * 100)}%` : '';
}
