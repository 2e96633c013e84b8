// Camera, microphone and speaker choosers: labelled <select>s filled from enumerateDevices,
// kept current when devices come and go. The pre-join screen and the call's Devices panel
// each have one.

import { KINDS, canPickSpeaker, listDevices } from './media.js';

const LABELS = { videoinput: 'Camera', audioinput: 'Microphone', audiooutput: 'Speaker' };
let pickers = 0;

/**
 * DevicePicker puts one labelled <select> per device kind in container (the speaker only where
 * the browser can choose it) and calls onChange(kind, deviceId) when the person picks another.
 */
export class DevicePicker {
  /** The <select>s by kind. */
  selects = {};
  #selected;
  #refresh = () => this.refresh().catch(() => {});

  /** selected() returns the device id in use by kind, to show as chosen. */
  constructor(container, { onChange, selected }) {
    this.#selected = selected;
    const n = ++pickers;
    for (const kind of KINDS) {
      if (kind === 'audiooutput' && !canPickSpeaker()) continue;
      const label = document.createElement('label');
      label.className = 'device';
      const id = `device-${kind}-${n}`;
      label.htmlFor = id;
      label.textContent = LABELS[kind];
      const select = document.createElement('select');
      select.id = id;
      select.dataset.kind = kind;
      select.addEventListener('change', () => onChange(kind, select.value));
      label.append(select);
      container.append(label);
      this.selects[kind] = select;
    }
    navigator.mediaDevices?.addEventListener?.('devicechange', this.#refresh);
  }

  /** Lists the devices again and marks those in use. */
  async refresh() {
    const devices = await listDevices();
    const chosen = this.#selected();
    for (const [kind, select] of Object.entries(this.selects)) {
      const list = devices[kind];
      select.replaceChildren(...list.map(({ deviceId, label }) => new Option(label, deviceId)));
      if (list.length === 0) select.append(new Option(`No ${LABELS[kind].toLowerCase()} found`, ''));
      select.disabled = list.length === 0;
      const want = chosen[kind];
      if (want && list.some((d) => d.deviceId === want)) select.value = want;
    }
  }

  /** Stops following device changes. */
  close() {
    navigator.mediaDevices?.removeEventListener?.('devicechange', this.#refresh);
  }
}
