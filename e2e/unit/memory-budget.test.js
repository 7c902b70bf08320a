// How much an in-memory receive may hold before the offer dialog warns (storage/sinks.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBudgetBytes, DEFAULT_MEMORY_BUDGET_BYTES } from '../../web/app/js/storage/sinks.js';

const MiB = 1024 * 1024;

test('an eighth of navigator.deviceMemory, between 256 MiB and 1 GiB; 256 MiB when unknown', () => {
  assert.equal(DEFAULT_MEMORY_BUDGET_BYTES, 256 * MiB);
  for (const unknown of [undefined, 0, -1, NaN]) assert.equal(memoryBudgetBytes(unknown), 256 * MiB, String(unknown));
  assert.equal(memoryBudgetBytes(0.25), 256 * MiB);
  assert.equal(memoryBudgetBytes(2), 256 * MiB);
  assert.equal(memoryBudgetBytes(4), 512 * MiB);
  assert.equal(memoryBudgetBytes(8), 1024 * MiB);
  assert.equal(memoryBudgetBytes(32), 1024 * MiB);
});
