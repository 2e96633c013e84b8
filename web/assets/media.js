// Local media for the call page: capturing the camera and microphone on the devices the person
// chose, remembering those choices (localStorage), switching a device during the call without a
// renegotiation, the speaker remote media plays on, and a microphone level meter.
// It touches no DOM but the elements it is given (and, for the speaker, every <video>/<audio>).

const VIDEO_CONSTRAINTS = { width: { ideal: 1280 }, height: { ideal: 720 } };
const STORE_KEY = 'sfu.devices';

/** The device kinds a person picks, as enumerateDevices names them. */
export const KINDS = Object.freeze(['videoinput', 'audioinput', 'audiooutput']);

/** The track kind ('audio' or 'video') an input device kind captures. */
export const trackKind = (deviceKind) => (deviceKind === 'videoinput' ? 'video' : 'audio');

/** Whether the browser can choose where media plays (HTMLMediaElement.setSinkId). */
export const canPickSpeaker = () => typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;

/** The device ids chosen last, by kind ({videoinput, audioinput, audiooutput}; absent: default). */
export function loadChoices() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) ?? '{}');
    return Object.fromEntries(KINDS.filter((k) => typeof saved[k] === 'string').map((k) => [k, saved[k]]));
  } catch {
    return {};
  }
}

/** Remembers deviceId as the choice for kind, for reconnects and the next visit. */
export function saveChoice(kind, deviceId) {
  const choices = { ...loadChoices(), [kind]: deviceId };
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(choices));
  } catch { /* private mode: the choice lasts as long as the page */ }
}

// The constraints for one track kind on the device chosen, if any: `ideal`, so that a device
// gone since (unplugged) falls back to the default instead of failing.
function constraintsFor(kind, choices) {
  const deviceId = choices[kind === 'video' ? 'videoinput' : 'audioinput'];
  const base = kind === 'video' ? { ...VIDEO_CONSTRAINTS } : {};
  if (deviceId) base.deviceId = { ideal: deviceId };
  return Object.keys(base).length ? base : true;
}

/**
 * Captures the camera and microphone on the devices chosen. When both fail but for a refusal,
 * it takes whichever one works (one device may be missing or busy). It throws the browser's
 * error, or one named InsecureContext where the page has no access to devices at all.
 */
export async function capture(choices = loadChoices()) {
  if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('insecure context'), { name: 'InsecureContext' });
  const get = (constraints) => navigator.mediaDevices.getUserMedia(constraints);
  const audio = constraintsFor('audio', choices);
  const video = constraintsFor('video', choices);
  try {
    return await get({ audio, video });
  } catch (err) {
    if (err.name === 'NotAllowedError' || err.name === 'SecurityError') throw err;
    for (const constraints of [{ audio }, { video }]) {
      try { return await get(constraints); } catch { /* try the next */ }
    }
    throw err;
  }
}

/** Stops every track of stream (a null stream is fine). */
export function release(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

/**
 * The devices by kind: {videoinput: [{deviceId, label}], audioinput, audiooutput}. Labels are
 * empty until the page was granted access; such devices are numbered instead.
 */
export async function listDevices() {
  const out = Object.fromEntries(KINDS.map((k) => [k, []]));
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  for (const d of all) {
    const list = out[d.kind];
    if (!list || !d.deviceId) continue;
    const what = { videoinput: 'Camera', audioinput: 'Microphone', audiooutput: 'Speaker' }[d.kind];
    list.push({ deviceId: d.deviceId, label: d.label || `${what} ${list.length + 1}` });
  }
  return out;
}

/** The deviceId a track captures from ('' if the browser does not say). */
export const deviceOf = (track) => track?.getSettings?.().deviceId ?? '';

/**
 * Switches stream's track of the input kind ('videoinput' or 'audioinput') to deviceId: it
 * captures the new device, hands the new track to replace(old, new) (which puts it in the
 * stream and on the senders, without a renegotiation), keeps whether it was enabled (muted), and
 * stops the old one. If the new device cannot be opened while the old one is (some cameras are
 * one at a time), the old one is stopped first. It returns the new track.
 */
export async function switchDevice(stream, deviceKind, deviceId, replace) {
  const kind = trackKind(deviceKind);
  const old = stream.getTracks().find((t) => t.kind === kind) ?? null;
  const constraints = { [kind]: { ...(kind === 'video' ? VIDEO_CONSTRAINTS : {}), deviceId: { exact: deviceId } } };
  let fresh;
  try {
    fresh = await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    if (!old || err.name !== 'NotReadableError') throw err;
    old.stop();
    fresh = await navigator.mediaDevices.getUserMedia(constraints);
  }
  const track = fresh.getTracks()[0];
  if (old) track.enabled = old.enabled;
  await replace(old, track);
  old?.stop();
  saveChoice(deviceKind, deviceId);
  return track;
}

/**
 * Plays every <video> and <audio> in root, present and future, on the speaker deviceId ('' for
 * the default). Call it again to change the speaker; where setSinkId is missing it does nothing.
 */
export class Speaker {
  #root;
  #sinkId = '';
  #observer = null;

  constructor(root, sinkId = '') {
    this.#root = root;
    this.#sinkId = sinkId;
    if (!canPickSpeaker()) return;
    this.#observer = new MutationObserver((records) => {
      for (const r of records) for (const node of r.addedNodes) this.#applyWithin(node);
    });
    this.#observer.observe(root, { childList: true, subtree: true });
    this.#applyWithin(root);
  }

  /** The speaker chosen ('' for the default). */
  get sinkId() {
    return this.#sinkId;
  }

  /** Moves all playback to deviceId. */
  async set(deviceId) {
    this.#sinkId = deviceId;
    if (!this.#observer) return;
    await Promise.all([...this.#root.querySelectorAll('video, audio')].map((el) => this.#apply(el)));
  }

  #applyWithin(node) {
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    if (node.matches('video, audio')) this.#apply(node);
    for (const el of node.querySelectorAll('video, audio')) this.#apply(el);
  }

  #apply(el) {
    if (el.sinkId === this.#sinkId) return Promise.resolve();
    return el.setSinkId(this.#sinkId).catch((err) => console.warn('sfu: cannot play on the speaker chosen', err));
  }
}

/**
 * Shows the level of an audio track on a <meter> (0 to 1), ten times a second. The browser may
 * hold the audio context until the person interacts with the page; it resumes then.
 */
export class LevelMeter {
  #meter;
  #ctx = null;
  #source = null;
  #analyser = null;
  #timer = 0;
  #buf = null;
  #resume = () => this.#ctx?.resume().catch(() => {});

  constructor(meter) {
    this.#meter = meter;
  }

  /** Measures track (null: shows nothing). */
  attach(track) {
    this.#source?.disconnect();
    this.#source = null;
    if (!track || typeof AudioContext === 'undefined') {
      this.#meter.value = 0;
      return;
    }
    if (!this.#ctx) {
      this.#ctx = new AudioContext();
      this.#analyser = this.#ctx.createAnalyser();
      this.#analyser.fftSize = 512;
      this.#buf = new Float32Array(this.#analyser.fftSize);
      this.#timer = setInterval(() => this.#sample(), 100);
      for (const type of ['pointerdown', 'keydown']) addEventListener(type, this.#resume, { capture: true });
    }
    this.#resume();
    this.#source = this.#ctx.createMediaStreamSource(new MediaStream([track]));
    this.#source.connect(this.#analyser);
  }

  /** Stops measuring and frees the audio context. */
  stop() {
    clearInterval(this.#timer);
    for (const type of ['pointerdown', 'keydown']) removeEventListener(type, this.#resume, { capture: true });
    this.#source?.disconnect();
    this.#ctx?.close().catch(() => {});
    this.#ctx = this.#source = this.#analyser = null;
  }

  #sample() {
    if (!this.#source) return;
    this.#analyser.getFloatTimeDomainData(this.#buf);
    let sum = 0;
    for (const v of this.#buf) sum += v * v;
    const rms = Math.sqrt(sum / this.#buf.length);
    // Speech sits around -30 dBFS: map -60..0 dBFS onto the meter.
    const db = 20 * Math.log10(rms || 1e-6);
    this.#meter.value = Math.max(0, Math.min(1, (db + 60) / 60));
  }
}
