// The browser's protocol modules against the shared vectors in crates/ferry-protocol/vectors/,
// the same files the Rust tests read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../lib/server.js';
import { trySanitizePath } from '../../web/app/js/protocol/names.js';
import { parseFrame, encodeFrame } from '../../web/app/js/protocol/frames.js';
import { parseControl, validateOffer } from '../../web/app/js/protocol/control.js';
import * as constants from '../../web/app/js/protocol/constants.js';
import { commitment, dtlsIdentity, securityCode, VerifyExchange } from '../../web/app/js/protocol/verify.js';

const vectors = (/** @type {string} */ name) =>
  JSON.parse(readFileSync(path.join(repoRoot, 'crates', 'ferry-protocol', 'vectors', name), 'utf8'));

/** @param {any} t */
const build = (t) => (typeof t === 'string' ? t : `${t.prefix ?? ''}${(t.repeat ?? '').repeat(t.times ?? 0)}${t.suffix ?? ''}`);

test('names.json: sanitizer matches every vector', () => {
  const cases = vectors('names.json');
  assert.ok(cases.length > 20);
  for (const c of cases) {
    const input = build(c.input);
    const want = c.output === null ? null : build(c.output);
    assert.equal(trySanitizePath(input), want, `input ${JSON.stringify(input.slice(0, 60))}`);
  }
});

test('hostile names never leave the folder', () => {
  for (const hostile of ['../../x', '/etc/passwd', 'a\0b', 'a/../../b', '..\\..\\win.ini', 'x'.repeat(5000)]) {
    const p = trySanitizePath(hostile);
    assert.ok(p !== null, hostile.slice(0, 20));
    assert.ok(!p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0') && !p.includes('\\'));
    for (const part of p.split('/')) assert.ok(new TextEncoder().encode(part).length <= 255);
  }
});

const unhex = (/** @type {string} */ s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

test('frames.json: parse and encode', () => {
  for (const c of vectors('frames.json')) {
    const bytes = unhex(c.hex);
    if (c.invalid) {
      assert.throws(() => parseFrame(bytes), c.invalid);
      continue;
    }
    const f = parseFrame(bytes);
    assert.equal(f.transferId, c.transferId);
    assert.equal(f.index, c.index);
    assert.equal(f.offset, c.offset);
    assert.deepEqual([...f.payload], [...unhex(c.payloadHex)]);
    assert.deepEqual([...encodeFrame(f)], [...bytes]);
  }
  assert.throws(() => parseFrame(new Uint8Array(256 * 1024 + 1)), /over the limit/);
});

test('control.json: valid messages parse and round-trip, invalid ones get the same error code as in Rust', () => {
  const v = vectors('control.json');
  for (const c of v.valid) {
    const msg = parseControl(JSON.stringify(c));
    assert.equal(msg.type, c.type);
    assert.deepEqual(parseControl(JSON.stringify(msg)), msg);
    for (const [k, val] of Object.entries(c)) assert.deepEqual(/** @type {any} */ (msg)[k], val, `${c.type}.${k}`);
  }
  for (const c of v.invalid) {
    assert.throws(() => parseControl(c.json), (/** @type {any} */ e) => e.code === c.error, c.json);
  }
  assert.throws(() => parseControl(JSON.stringify({ type: 'text', id: 'm', text: 'x'.repeat(64 * 1024 + 1) })), (/** @type {any} */ e) => e.code === 'too-large');
});

test('offers: paths sanitized, sums checked, refused names refuse the offer', () => {
  const ok = validateOffer(
    [
      { path: '../../x', size: 1, type: 'a/b' },
      { path: 'dir/y.txt', size: 2, type: '' },
    ],
    3,
  );
  assert.deepEqual(ok.map((f) => f.path), ['x', 'dir/y.txt']);
  assert.throws(() => validateOffer([{ path: 'a', size: 1, type: '' }], 2), /does not match/);
  assert.throws(() => validateOffer([{ path: '..', size: 1, type: '' }], 1), /nothing left/);
  assert.throws(() => validateOffer([], 0), /no files/);
});

test('limits.json: constants.js holds the same limits as transfer.rs', () => {
  const limits = vectors('limits.json');
  const keys = Object.keys(limits).filter((k) => !k.startsWith('_'));
  assert.ok(keys.length >= 11);
  for (const k of keys) assert.equal(/** @type {any} */ (constants)[k], limits[k], k);
});

test('error_codes.json: TransferErrorCode holds the codes of transfer.rs, in order', () => {
  assert.deepEqual(Object.values(constants.TransferErrorCode), vectors('error_codes.json'));
});

test('verify.json: commitments, security codes and the SDP identity match the Rust side', () => {
  const v = vectors('verify.json');
  for (const c of v.cases) {
    assert.equal(commitment(c.own.nonce), c.own.commit);
    assert.equal(commitment(c.peer.nonce), c.peer.commit);
    assert.equal(securityCode(c.own.id, c.own.nonce, c.peer.id, c.peer.nonce), c.code, c.name);
    assert.equal(securityCode(c.peer.id, c.peer.nonce, c.own.id, c.own.nonce), c.code, c.name);
  }
  assert.equal(dtlsIdentity(v.sdp.sdp), v.sdp.identity);
  assert.equal(dtlsIdentity('v=0\r\n'), null);
});

test('verify: two exchanges wired together agree; the code changes when either fingerprint does', () => {
  const fp = (/** @type {string} */ c) => `dtls-sha-256:${c.repeat(64)}`;
  /** @param {string} a @param {string} b */
  const run = (a, b, na = '1'.repeat(64), nb = '2'.repeat(64)) => {
    const x = new VerifyExchange(a, b, na);
    const y = new VerifyExchange(b, a, nb);
    const cx = /** @type {any} */ (x.start());
    const cy = /** @type {any} */ (y.start());
    const ox = /** @type {any} */ (x.onCommit(cy.commit)).send.at(-1);
    const oy = /** @type {any} */ (y.onCommit(cx.commit)).send.at(-1);
    const kx = /** @type {any} */ (x.onOpen(oy.nonce)).code;
    const ky = /** @type {any} */ (y.onOpen(ox.nonce)).code;
    assert.equal(kx, ky);
    assert.match(kx, /^\d{3} \d{3}$/);
    return kx;
  };
  const base = run(fp('a'), fp('b'));
  assert.notEqual(run(fp('c'), fp('b')), base, 'our fingerprint changed');
  assert.notEqual(run(fp('a'), fp('c')), base, 'their fingerprint changed');
  assert.notEqual(run(fp('a'), fp('b'), '3'.repeat(64)), base, 'a nonce changed');
  const x = new VerifyExchange(fp('a'), fp('b'), '1'.repeat(64));
  x.start();
  x.onCommit(commitment('2'.repeat(64)));
  assert.deepEqual(x.onOpen('4'.repeat(64)), { violation: 'verify-open does not match its verify-commit: no security code' });
  assert.equal(x.code, null);
});
