// The theme switch in the settings: System (prefers-color-scheme), Light or Dark, kept in
// localStorage. theme-early.js applies the stored choice before first paint; this wires the select.

const KEY = 'ferry-theme';

/** @returns {'auto' | 'light' | 'dark'} */
export function storedTheme() {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'auto';
  } catch {
    return 'auto';
  }
}

/** @param {string} theme */
export function applyTheme(theme) {
  const root = document.documentElement;
  if (theme === 'light' || theme === 'dark') root.dataset.theme = theme;
  else delete root.dataset.theme;
  try {
    if (theme === 'light' || theme === 'dark') localStorage.setItem(KEY, theme);
    else localStorage.removeItem(KEY);
  } catch {
    // Storage blocked: the choice lasts for this page only.
  }
}

/** @param {HTMLSelectElement} select */
export function setUpThemeSelect(select) {
  select.value = storedTheme();
  select.addEventListener('change', () => applyTheme(select.value));
}
