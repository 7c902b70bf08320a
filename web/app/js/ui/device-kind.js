// What this device is, told to the other devices so they can draw it (signaling `?device=`):
// User-Agent Client Hints where the browser has them (`navigator.userAgentData.mobile`), the
// user agent string otherwise. iPadOS claims to be a Mac, hence touch points; Android tablets
// leave "Mobile" out of their user agent. And the icons for each kind, CLI peers included.

/** @returns {'phone' | 'tablet' | 'desktop'} */
export function deviceKind(
  ua = globalThis.navigator?.userAgent ?? '',
  uaData = /** @type {any} */ (globalThis.navigator)?.userAgentData,
  touchPoints = globalThis.navigator?.maxTouchPoints ?? 0,
) {
  if (/iPad/.test(ua) || (/Macintosh/.test(ua) && touchPoints > 1)) return 'tablet';
  if (/Android/.test(ua) && !/Mobile/.test(ua)) return 'tablet';
  if (uaData?.mobile === true || /iPhone|iPod|Mobile/.test(ua)) return 'phone';
  return 'desktop';
}

const PATHS = {
  phone: '<rect x="7" y="2" width="10" height="20" rx="2"/><path d="M11 18h2"/>',
  tablet: '<rect x="4" y="2" width="16" height="20" rx="2"/><path d="M11 18h2"/>',
  desktop: '<rect x="2" y="4" width="20" height="13" rx="2"/><path d="M8 21h8M12 17v4"/>',
  cli: '<rect x="2" y="4" width="20" height="16" rx="2"/><path d="M6 9l3 3-3 3M11 15h6"/>',
  unknown: '<circle cx="12" cy="12" r="9"/><path d="M12 8v5M12 16h.01"/>',
};

/**
 * The kind a peer card shows: `cli` for the command line, else what the peer said.
 * @param {{client: string, device?: string}} info
 * @returns {keyof PATHS}
 */
export function peerKind(info) {
  if (info.client === 'cli') return 'cli';
  return info.device === 'phone' || info.device === 'tablet' || info.device === 'desktop' ? info.device : 'unknown';
}

/** An inline SVG icon (decorative: the label next to it says the same). @param {keyof PATHS} kind */
export function deviceIconSVG(kind) {
  return `<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${PATHS[kind]}</svg>`;
}
