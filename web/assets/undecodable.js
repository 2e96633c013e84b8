// Says in words, on a participant's tile, that this browser cannot play their video: the
// server's `track_undecodable` (signaling/PROTOCOL.md). The note goes when that track ends,
// which it does when the room has the publisher send video in a codec everybody decodes.

const CODEC_NAMES = { vp8: 'VP8', vp9: 'VP9', h264: 'H.264', av1: 'AV1', h265: 'H.265' };

/** "Your browser can't play Ann's video (H.264)". */
export function undecodableText(name, kind, mimeType) {
  const short = (mimeType ?? '').split('/').pop().toLowerCase();
  const codec = CODEC_NAMES[short] ?? (short.toUpperCase() || 'unknown codec');
  const what = kind === 'audio' ? 'sound' : 'video';
  return `Your browser can't play ${name}'s ${what} (${codec})`;
}

/** Keeps a note on the tiles in grid of the participants whose tracks client cannot play. */
export function showUndecodable(client, grid) {
  const notes = new Map(); // track id -> {participantId, text}
  const render = () => {
    for (const tile of grid.querySelectorAll('.tile')) {
      const texts = [...notes.values()].filter((n) => n.participantId === tile.dataset.participantId).map((n) => n.text);
      let el = tile.querySelector('.undecodable');
      if (texts.length === 0) {
        el?.remove();
        continue;
      }
      if (!el) {
        el = document.createElement('p');
        el.className = 'undecodable';
        el.setAttribute('role', 'status');
        tile.append(el);
      }
      const text = texts.join('. ');
      if (el.textContent !== text) el.textContent = text;
    }
  };
  client.addEventListener('track_undecodable', ({ detail }) => {
    const p = client.participants.get(detail.participantId);
    const name = p?.name || p?.identity || 'this person';
    notes.set(detail.trackId, { participantId: detail.participantId, text: undecodableText(name, detail.kind, detail.codec) });
    render();
  });
  client.addEventListener('track_unpublished', ({ detail }) => {
    if (notes.delete(detail.trackId)) render();
  });
  client.addEventListener('participant_left', ({ detail }) => {
    for (const [id, n] of notes) if (n.participantId === detail.participantId) notes.delete(id);
    render();
  });
  // Tiles come and change whom they show as participants arrive. render writes only what
  // changed, so the mutations it makes itself end in a pass that changes nothing.
  new MutationObserver(render).observe(grid, { childList: true, subtree: true, attributeFilter: ['data-participant-id'] });
}
