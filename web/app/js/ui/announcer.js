// One polite live region for the whole page: offers arriving and transfers ending are spoken by
// screen readers without moving focus. Progress itself is not announced (it changes many times a
// second); its <progress> elements carry labels for whoever looks.

/** @type {HTMLElement | null} */
let region = null;

/** @param {HTMLElement} el */
export function setAnnouncer(el) {
  region = el;
}

/** @param {string} text */
export function announce(text) {
  if (!region) return;
  // A repeated identical text is not announced again unless the region's content changes.
  region.textContent = '';
  const r = region;
  setTimeout(() => {
    r.textContent = text;
  }, 50);
}
