// The call page's icons: inline SVG (24x24, drawn with currentColor, so they take the colour of
// their text), not emoji, which render as empty boxes where no emoji font is installed. An icon
// is decoration: the words next to it, or its button's aria-label, say what it means.

const PATHS = {
  mic: '<path d="M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z"/><path d="M19 11a7 7 0 0 1-14 0M12 18v3M8 21h8"/>',
  'mic-off': '<path d="M3 3l18 18"/><path d="M9 9v3a3 3 0 0 0 5.1 2.1M15 9.3V6a3 3 0 0 0-5.7-1.3"/><path d="M19 11a7 7 0 0 1-1.2 3.9M5 11a7 7 0 0 0 10.8 5.9M12 18v3M8 21h8"/>',
  camera: '<rect x="2" y="6" width="14" height="12" rx="2"/><path d="M16 10l6-3.5v11L16 14"/>',
  'camera-off': '<path d="M3 3l18 18"/><path d="M9.5 6H14a2 2 0 0 1 2 2v4.5M16 16v0a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h1"/><path d="M16 10l6-3.5v11l-4-2.3"/>',
  screen: '<rect x="2" y="4" width="20" height="13" rx="2"/><path d="M8 21h8M12 17v4M12 13V8M9.5 10.5L12 8l2.5 2.5"/>',
  people: '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M16 4.6a3.5 3.5 0 0 1 0 6.8M18 14.2a6.5 6.5 0 0 1 3.5 5.8"/>',
  link: '<path d="M10 14a4.5 4.5 0 0 0 6.4 0l3.2-3.2a4.5 4.5 0 0 0-6.4-6.4L11.6 6"/><path d="M14 10a4.5 4.5 0 0 0-6.4 0l-3.2 3.2a4.5 4.5 0 0 0 6.4 6.4l1.6-1.6"/>',
  leave: '<path d="M3.5 14.5c5-5 12-5 17 0l-2.2 2.6-3.6-1.4v-2.6a12 12 0 0 0-5.4 0v2.6l-3.6 1.4z"/>',
  pin: '<path d="M9 3h6l-1 6 4 4H6l4-4-1-6zM12 13v8"/>',
  'pin-off': '<path d="M3 3l18 18"/><path d="M9 3h6l-1 6 4 4h-4M6 13l4-4M12 13v8"/>',
  speaker: '<rect x="2" y="3" width="20" height="13" rx="1.5"/><rect x="2" y="18" width="5" height="3" rx="0.5"/><rect x="9.5" y="18" width="5" height="3" rx="0.5"/><rect x="17" y="18" width="5" height="3" rx="0.5"/>',
  grid: '<rect x="3" y="3" width="8" height="8" rx="1.5"/><rect x="13" y="3" width="8" height="8" rx="1.5"/><rect x="3" y="13" width="8" height="8" rx="1.5"/><rect x="13" y="13" width="8" height="8" rx="1.5"/>',
  settings: '<circle cx="12" cy="12" r="3"/><path d="M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9L7 7M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1"/>',
  volume: '<path d="M4 9h4l5-4v14l-5-4H4z"/><path d="M16.5 8.5a5 5 0 0 1 0 7M19 6a8.5 8.5 0 0 1 0 12"/>',
  close: '<path d="M6 6l12 12M18 6L6 18"/>',
  copy: '<rect x="8" y="8" width="12" height="12" rx="2"/><path d="M16 8V6a2 2 0 0 0-2-2H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h2"/>',
  check: '<path d="M4 12.5l5 5L20 6.5"/>',
  chat: '<path d="M4 5h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1h-9l-5 4v-4H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z"/>',
  send: '<path d="M3 11.5L21 3l-8.5 18-2.2-7.3z"/><path d="M10.3 13.7L21 3"/>',
  file: '<path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><path d="M14 3v5h5M12 17v-6M9.5 13.5L12 11l2.5 2.5"/>',
  download: '<path d="M12 4v11M7.5 10.5L12 15l4.5-4.5M5 20h14"/>',
};

/** The names of the icons there are. */
export const ICON_NAMES = Object.freeze(Object.keys(PATHS));

/** Returns the markup of icon name: an <svg> hidden from assistive technology. */
export function iconSVG(name) {
  const paths = PATHS[name];
  if (!paths) throw new Error(`sfu: no icon named ${name}`);
  return `<svg class="icon" viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${paths}</svg>`;
}

/** Returns a new <svg> element of icon name. */
export function icon(name) {
  const t = document.createElement('template');
  t.innerHTML = iconSVG(name);
  return t.content.firstChild;
}

/**
 * Gives button icon name and the words text: shown next to the icon, or, with hideText, only
 * to assistive technology (visually hidden) and as a tooltip.
 */
export function setButton(button, name, text, { hideText = false } = {}) {
  const words = document.createElement('span');
  words.className = hideText ? 'btn-text visually-hidden' : 'btn-text';
  words.textContent = text;
  button.classList.add('with-icon');
  button.replaceChildren(icon(name), words);
  button.title = text;
}
