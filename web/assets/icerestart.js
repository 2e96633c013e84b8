// ICE restarts of a session's two connections to the server (signaling/PROTOCOL.md, "ICE
// restarts"): the subscriber connection is the server's to restart, so we ask; the publisher
// connection is ours, restarted once it failed or stayed disconnected PUBLISHER_RESTART_MS. A
// connection not connected again ICE_GIVE_UP_MS after it failed is given up, and the page starts
// a fresh session.

const PUBLISHER_RESTART_MS = 2_000;
const ICE_GIVE_UP_MS = 20_000;

/**
 * Watches peer (a Peer of session.js, target 'publisher' or 'subscriber'): when its connection
 * is disconnected or failed, the subscriber's calls askRestart() at once, the publisher's calls
 * restart() after PUBLISHER_RESTART_MS (at once when failed); giveUp() when it is still not
 * connected ICE_GIVE_UP_MS after it failed.
 */
export function watchICE(peer, { askRestart, restart, giveUp }) {
  let restartTimer = 0;
  let giveUpTimer = 0;
  peer.pc.onconnectionstatechange = () => {
    if (peer.closed) return;
    const state = peer.pc.connectionState;
    clearTimeout(restartTimer);
    if (state === 'connected') {
      clearTimeout(giveUpTimer);
      giveUpTimer = 0;
      return;
    }
    if (state !== 'disconnected' && state !== 'failed') return;
    if (peer.target === 'subscriber') askRestart();
    else restartTimer = setTimeout(restart, state === 'failed' ? 0 : PUBLISHER_RESTART_MS);
    if (state === 'failed' && !giveUpTimer) {
      giveUpTimer = setTimeout(() => {
        if (!peer.closed && peer.pc.connectionState !== 'connected') giveUp();
      }, ICE_GIVE_UP_MS);
    }
  };
}
