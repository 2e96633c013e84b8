// Camera, microphone and speaker choosers: labelled <select>s filled from enumerateDevices,
// kept current when devices come and go. The pre-join screen and the call's Devices panel
// each have one.

import { iconSVG } from './icons.js';
import { KINDS, canPickSpeaker, deviceOf, listDevices, saveChoice, switchDevice } from './media.js';

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

  /**
   * selected() returns the device id in use by kind, to show as chosen; kinds are those offered
   * (all by default).
   */
  constructor(container, { onChange, selected, kinds = KINDS }) {
    this.#selected = selected;
    const n = ++pickers;
    for (const kind of kinds) {
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

/**
 * The call's Devices panel, a <details> put before the element `before`: it switches the camera
 * and microphone of stream() on the senders through replace(old, new) (SFUClient.replaceTrack:
 * no renegotiation), and the speaker (a media.js Speaker); the choices are remembered. With
 * inputs false it offers the speaker only (a watch-only call), and nothing where the browser
 * cannot choose one. onSwitched runs after a switch, onError(err) when one failed.
 */
export function devicePanel({ before, speaker, stream, replace, inputs = true, onSwitched, onError }) {
  if (!inputs && !canPickSpeaker()) return null;
  const panel = document.createElement('details');
  panel.id = 'devices';
  panel.className = 'devices';
  panel.innerHTML = `<summary class="with-icon" title="Devices">${iconSVG('settings')}<span class="btn-text">Devices</span></summary><div class="devices-body" role="group" aria-label="Devices"></div>`;
  let switching = Promise.resolve(); // one at a time
  const picker = new DevicePicker(panel.querySelector('.devices-body'), {
    kinds: inputs ? KINDS : ['audiooutput'],
    selected: () => ({
      videoinput: deviceOf(stream()?.getVideoTracks()[0]),
      audioinput: deviceOf(stream()?.getAudioTracks()[0]),
      audiooutput: speaker.sinkId,
    }),
    onChange: (kind, deviceId) => {
      switching = switching.then(async () => {
        if (kind === 'audiooutput') {
          saveChoice(kind, deviceId);
          return speaker.set(deviceId);
        }
        const s = stream();
        if (!s) return;
        await switchDevice(s, kind, deviceId, replace);
        onSwitched();
      }).catch((err) => {
        onError(err);
        refresh();
      });
    },
  });
  const refresh = () => picker.refresh().catch(() => {});
  panel.addEventListener('toggle', () => { if (panel.open) refresh(); });
  refresh();
  before.before(panel);
  return panel;
}
