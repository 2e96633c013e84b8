// One RTCPeerConnection of the SFU protocol (signaling/PROTOCOL.md), with the bookkeeping trickle
// ICE needs, and the publisher's encoding choices.

// Three simulcast layers, lowest first, named as the server expects: a quarter, half and full
// resolution. The SFU forwards to each subscriber the best layer its link and view allow.
export const SIMULCAST_ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/**
 * The simulcast encodings for a publisher preferring codec (e.g. 'vp9'). VP9 and AV1 encoders
 * make one stream with spatial layers (SVC) unless each encoding names a scalability mode:
 * Chromium then sends only the first encoding, the quarter-size one. With 'L1T3' on each it
 * sends three independent streams, as with VP8, which the SFU switches between (by RID, in
 * any order). Firefox's VP9 encoders never grow past the size of the first encoding (libvpx:
 * "Desired width too large"), so that every layer was quarter-size: Firefox gets the largest
 * first.
 */
export function simulcastEncodings(codec) {
  if (codec !== 'vp9' && codec !== 'av1') return SIMULCAST_ENCODINGS;
  const encodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e, scalabilityMode: 'L1T3' }));
  return FIREFOX ? encodings.reverse() : encodings;
}

// Feature detection cannot tell the encoder quirk above; the engine's name can.
const FIREFOX = /\bFirefox\//.test(globalThis.navigator?.userAgent ?? '');

/** Puts the codec named (e.g. 'vp9') first in the transceiver's preferences, if supported. */
export function preferCodec(transceiver, name) {
  const caps = name && globalThis.RTCRtpReceiver?.getCapabilities?.('video');
  if (!caps || !transceiver.setCodecPreferences) return;
  const wanted = `video/${name}`;
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (first.length === 0) return;
  transceiver.setCodecPreferences([...first, ...caps.codecs.filter((c) => c.mimeType.toLowerCase() !== wanted)]);
}

/**
 * One RTCPeerConnection plus the bookkeeping trickle ICE needs: remote candidates wait for the
 * remote description, local candidates wait until our description has gone out, and
 * negotiation steps run one at a time.
 */
export class Peer {
  #queue = Promise.resolve();
  #remotePending = [];
  #remoteHosts = new Set(); // "address port" of the host candidates the other side trickled
  #remoteSrflx = false; // the other side trickled a server-reflexive candidate
  #localPending = [];
  #descriptionSent = false;

  constructor(target, iceServers, send) {
    this.target = target;
    this.closed = false;
    this.send = send;
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    this.pc.onicecandidate = (e) => {
      // A null candidate is the end of gathering; the protocol spells that as "".
      const init = e.candidate ? e.candidate.toJSON() : { candidate: '' };
      if (this.#descriptionSent) this.#sendCandidate(init);
      else this.#localPending.push(init);
    };
  }

  /** Runs fn after every step queued before it; a failed step does not block later ones. */
  run(fn) {
    const step = this.#queue.then(fn);
    this.#queue = step.catch(() => {});
    return step;
  }

  /** Marks our description as sent, releasing the candidates gathered so far. */
  descriptionSent() {
    this.#descriptionSent = true;
    for (const init of this.#localPending.splice(0)) this.#sendCandidate(init);
  }

  async setRemote(description) {
    await this.pc.setRemoteDescription(description);
    for (const init of this.#remotePending.splice(0)) await this.#addCandidate(init);
  }

  /**
   * Whether the other side signaled a host candidate at address and port, trickled or in its
   * description: a peer-reflexive candidate there is that host candidate, met in a check first.
   */
  signaledHost(address, port) {
    const key = `${address} ${port}`;
    if (this.#remoteHosts.has(key)) return true;
    const sdp = this.pc.remoteDescription?.sdp ?? '';
    return sdp.split('\n').some((line) => hostCandidate(line.trim().replace(/^a=/, '')) === key);
  }

  /** Whether the other side signaled a server-reflexive candidate: it is behind a NAT. */
  signaledSrflx() {
    if (this.#remoteSrflx) return true;
    return / typ srflx/.test(this.pc.remoteDescription?.sdp ?? '');
  }

  addRemoteCandidate(init) {
    const value = init?.candidate ?? '';
    const host = hostCandidate(value);
    if (host) this.#remoteHosts.add(host);
    if (/ typ srflx/.test(value)) this.#remoteSrflx = true;
    if (this.pc.remoteDescription) return this.#addCandidate(init);
    this.#remotePending.push(init);
  }

  close() {
    this.closed = true;
    this.pc.onicecandidate = this.pc.ontrack = this.pc.onconnectionstatechange = null;
    this.pc.close();
  }

  async #addCandidate(init) {
    try {
      await this.pc.addIceCandidate(init);
    } catch (err) {
      // End-of-candidates is optional; a bad single candidate is not worth a session.
      if (init.candidate) console.warn(`sfu: ${this.target} candidate refused:`, err);
    }
  }

  #sendCandidate(candidate) {
    this.send({ type: 'candidate', target: this.target, candidate });
  }
}

/** "address port" of a host candidate's attribute value ("candidate:... typ host ..."), or ''. */
function hostCandidate(value) {
  const f = value.split(/\s+/);
  return f.length >= 8 && f[0].startsWith('candidate:') && f[6] === 'typ' && f[7] === 'host' ? `${f[4]} ${f[5]}` : '';
}
