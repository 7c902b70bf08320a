// Renders the app's PNG icons (manifest, notifications, apple-touch-icon) from the SVGs in
// web/app/icons with Debian's chromium, so the PNGs are never drawn by hand:
//   cd e2e && node tools/make-icons.js

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser } from '../lib/browser.js';
import { repoRoot } from '../lib/server.js';

const dir = path.join(repoRoot, 'web', 'app', 'icons');
const jobs = [
  ['icon.svg', 'icon-192.png', 192],
  ['icon.svg', 'icon-512.png', 512],
  ['icon-maskable.svg', 'icon-maskable-512.png', 512],
];
const browser = await launchBrowser();
const page = await browser.newPage();
for (const [svg, png, size] of jobs) {
  await page.setViewportSize({ width: Number(size), height: Number(size) });
  const src = `data:image/svg+xml;base64,${readFileSync(path.join(dir, String(svg))).toString('base64')}`;
  await page.setContent(`<html><body style="margin:0;background:transparent"><img src="${src}" width="${size}" height="${size}"></body></html>`);
  await page.locator('img').evaluate((img) => /** @type {HTMLImageElement} */ (img).decode());
  writeFileSync(path.join(dir, String(png)), await page.screenshot({ omitBackground: true }));
  console.log(`wrote ${png}`);
}
await browser.close();
