// What the call page says about the path of the call's media (PROTOCOL.md, "Peer to peer for
// two"), in words for people rather than ICE terms.

// The path of the direct connection (PROTOCOL.md, peer_state's path), explained.
const VIA = {
  host: 'over your local network',
  srflx: 'through your routers (a way through found with STUN)',
};

// Why a call of two went back through the server.
const BECAUSE = {
  third_joined: 'a third person joined',
  peer_failed: 'the direct connection failed',
  peer_timeout: 'a direct connection could not be made in time',
  peer_left: 'the other person left',
};

/**
 * describePath turns the client's `path` event into a sentence: how the media of the call goes
 * now, and for a direct call how it found its way; '' when there is no call to describe.
 */
export function describePath({ mode, trying = false, candidate = '', reason = '' }) {
  if (mode === 'p2p') {
    if (candidate === 'relay') return 'Media: direct, relayed by the TURN server (peer to peer through a relay).';
    const via = VIA[candidate];
    return via ? `Media: direct connection (peer to peer), ${via}.` : 'Media: direct connection (peer to peer).';
  }
  if (mode !== 'sfu') return '';
  if (trying) return 'Media: through the server, trying a direct connection…';
  const because = BECAUSE[reason];
  return because ? `Media: through the server (${because}).` : 'Media: through the server.';
}
