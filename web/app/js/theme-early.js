// Runs before first paint (a classic script in <head>): applies the theme the user chose, so a
// dark page never flashes white. "auto" (no attribute) follows prefers-color-scheme in style.css.
try {
  var chosen = localStorage.getItem('ferry-theme');
  if (chosen === 'light' || chosen === 'dark') document.documentElement.dataset.theme = chosen;
} catch (e) {
  // Storage blocked: the system theme applies.
}
