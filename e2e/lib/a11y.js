// Accessibility and layout checks run on real pages: axe-core (injected from node_modules) with
// every rule it has, and "fits the width" (nothing wider than the viewport, so nothing needs a
// sideways scroll on a phone).

import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');

/**
 * Runs axe-core on the page and fails on any serious or critical violation.
 * @param {import('playwright-core').Page} page @param {string} screen what the page shows (for the message)
 * @returns {Promise<number>} how many rules passed
 */
export async function assertNoSeriousA11yViolations(page, screen) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE_PATH });
  const result = await page.evaluate(async () => {
    const axe = /** @type {any} */ (window).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return {
      passes: r.passes.length,
      violations: r.violations.map((/** @type {any} */ v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((/** @type {any} */ n) => `${n.target.join(' ')}: ${n.failureSummary}`),
      })),
    };
  });
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${screen}: axe-core reports serious or critical violations:\n${JSON.stringify(bad, null, 2)}`);
  return result.passes;
}

/**
 * Nothing on the page is wider than the viewport.
 * @param {import('playwright-core').Page} page @param {string} screen
 */
export async function assertFitsWidth(page, screen) {
  const { scroll, width, widest } = await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    let widest = '';
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > w + 1 && getComputedStyle(el).position !== 'fixed') {
        widest = `${el.tagName.toLowerCase()}${el.getAttribute('data-testid') ? `[${el.getAttribute('data-testid')}]` : ''} right=${Math.round(r.right)}`;
        break;
      }
    }
    return { scroll: document.documentElement.scrollWidth, width: w, widest };
  });
  assert.ok(scroll <= width && !widest, `${screen}: wider than the ${width} px viewport (scrollWidth ${scroll}; ${widest})`);
}
