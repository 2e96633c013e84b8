// The pre-join screen of the call page: before connecting, the person sees their camera,
// watches their microphone's level, picks camera, microphone and speaker, and clicks Join.

import { DevicePicker } from './devices.js';
import { LevelMeter, capture, deviceOf, saveChoice, switchDevice } from './media.js';

/**
 * Shows the pre-join screen before the element `before` and captures the camera and microphone
 * on the devices chosen last. It resolves when the person clicks Join with {stream, error}: the
 * stream to publish (null if nothing could be captured, error then says why) on the devices
 * chosen, which are remembered. speaker (media.js Speaker) plays the call where the person
 * says; messages maps getUserMedia error names to what people read.
 */
export function prejoin({ before, speaker, messages, room }) {
  const section = document.createElement('section');
  section.id = 'prejoin';
  section.className = 'prejoin';
  section.setAttribute('aria-labelledby', 'prejoin-title');
  section.innerHTML = `
    <h2 id="prejoin-title"></h2>
    <div class="prejoin-preview">
      <video id="prejoin-video" autoplay playsinline muted aria-label="Your camera"></video>
    </div>
    <form class="prejoin-form">
      <label for="prejoin-level">Microphone level</label>
      <meter id="prejoin-level" min="0" max="1" low="0.25" high="0.85" optimum="0.5" value="0"></meter>
      <div class="prejoin-devices"></div>
      <p class="prejoin-problem" role="alert" hidden></p>
      <button id="prejoin-join" type="submit">Join</button>
    </form>`;
  section.querySelector('h2').textContent = `Ready to join ${room}?`;
  before.before(section);

  const video = section.querySelector('video');
  const problem = section.querySelector('.prejoin-problem');
  const meter = new LevelMeter(section.querySelector('meter'));
  let stream = null;
  let error = null;
  let busy = Promise.resolve(); // device switches, one at a time

  const inUse = () => ({
    videoinput: deviceOf(stream?.getVideoTracks()[0]),
    audioinput: deviceOf(stream?.getAudioTracks()[0]),
    audiooutput: speaker.sinkId,
  });
  const show = () => {
    video.srcObject = null;
    video.srcObject = stream;
    meter.attach(stream?.getAudioTracks()[0] ?? null);
  };
  const say = (text) => {
    problem.textContent = text;
    problem.hidden = !text;
  };
  const picker = new DevicePicker(section.querySelector('.prejoin-devices'), {
    selected: inUse,
    onChange: (kind, deviceId) => {
      busy = busy.then(async () => {
        if (kind === 'audiooutput') {
          saveChoice(kind, deviceId);
          return speaker.set(deviceId);
        }
        if (!stream) stream = new MediaStream();
        await switchDevice(stream, kind, deviceId, async (old, track) => {
          if (old) stream.removeTrack(old);
          stream.addTrack(track);
        });
        say('');
        show();
      }).catch((err) => say(`Could not switch to that device (${err.message}).`));
    },
  });

  const ready = capture().then(
    (s) => {
      stream = s;
      show();
    },
    (err) => {
      error = err;
      say(messages[err.name] ?? `Could not start your camera or microphone (${err.message}). You can still join as a viewer.`);
    },
  ).then(() => picker.refresh()).catch(() => {});

  const join = section.querySelector('#prejoin-join');
  join.focus();
  return new Promise((resolve) => {
    section.querySelector('form').addEventListener('submit', async (e) => {
      e.preventDefault();
      join.disabled = true;
      await ready;
      await busy;
      for (const kind of ['videoinput', 'audioinput']) {
        const id = inUse()[kind];
        if (id) saveChoice(kind, id);
      }
      meter.stop();
      picker.close();
      video.srcObject = null;
      section.remove();
      resolve({ stream, error: stream?.getTracks().length ? null : error });
    });
  });
}
