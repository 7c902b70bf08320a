// The conformance transcripts of crates/ferry-protocol/vectors/transcripts/*.json (format in its
// README.md) run against the browser's transfer engine. crates/ferry-engine/tests/transcripts.rs
// runs the very same files against the Rust engine: one suite, two implementations.
//
// The pipe here only records what the engine sends and hands it the peer's messages; the engine
// is the real one, with its clock driven by the transcript (`timers: false`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../lib/server.js';
import { TransferSession } from '../../web/app/js/transfer/engine.js';
import { inlineHasher } from '../../web/app/js/hash/hasher.js';
import { parseFrame, encodeFrame } from '../../web/app/js/protocol/frames.js';

const dir = path.join(repoRoot, 'crates', 'ferry-protocol', 'vectors', 'transcripts');
const utf8 = new TextEncoder();
const text = new TextDecoder();

/** `"abc"` or `{prefix, repeat, times, suffix}`. @param {any} v @returns {string} */
const build = (v) => (typeof v === 'string' ? v : `${v.prefix ?? ''}${(v.repeat ?? '').repeat(v.times ?? 0)}${v.suffix ?? ''}`);

/** @param {Uint8Array} b */
function frameJson(b) {
  const f = parseFrame(b);
  return { frame: { transferId: f.transferId, index: f.index, offset: f.offset, payload: text.decode(f.payload) } };
}

/** Records what the engine sends; the test plays the peer through `handler`. */
class RecordingPipe {
  /** @param {number} maxMessageSize */
  constructor(maxMessageSize) {
    this.maxMessageSize = maxMessageSize;
    /** @type {any[]} */
    this.sent = [];
    /** @type {import('../../web/app/js/transfer/pipe.js').PipeHandler | null} */
    this.handler = null;
  }
  /** @param {string | Uint8Array} d */
  send(d) {
    this.sent.push(typeof d === 'string' ? JSON.parse(d) : frameJson(d));
  }
  bufferedAmount() {
    return 0;
  }
  drained() {
    return Promise.resolve();
  }
  /** @param {import('../../web/app/js/transfer/pipe.js').PipeHandler} h */
  attach(h) {
    this.handler = h;
  }
  close() {
    this.sent.push({ close: true });
  }
}

/** The normalized events of README.md "Events", from the session's events and transfer states. @param {TransferSession} s @param {any[]} out */
function track(s, out) {
  s.addEventListener('offer', (e) => {
    const t = /** @type {any} */ (e).detail;
    out.push({ event: 'offer', transferId: t.id, files: t.files.map((/** @type {any} */ f) => f.path), ...(t.selection ? { selection: t.selection } : {}) });
  });
  s.addEventListener('offer-refused', (e) => out.push({ event: 'offer-refused', transferId: /** @type {any} */ (e).detail.transferId }));
  s.addEventListener('text', (e) => {
    const d = /** @type {any} */ (e).detail;
    if (!d.mine) out.push({ event: 'text', text: d.text });
  });
  s.addEventListener('peer-error', (e) => out.push({ event: 'peer-error', code: /** @type {any} */ (e).detail.code }));
  s.addEventListener('security-code', (e) => out.push({ event: 'security-code', code: /** @type {any} */ (e).detail.code }));
  s.addEventListener('transfer', (e) => {
    const t = /** @type {import('../../web/app/js/transfer/engine.js').Transfer} */ (/** @type {any} */ (e).detail);
    let state = t.state;
    let files = t.files.map((f) => f.state);
    t.addEventListener('update', () => {
      t.files.forEach((f, index) => {
        if (f.state !== files[index] && (f.state === 'verified' || f.state === 'mismatch')) {
          out.push({ event: 'file-verified', transferId: t.id, role: t.role, index, ok: f.state === 'verified' });
        }
      });
      files = t.files.map((f) => f.state);
      if (t.state === state) return;
      const was = state;
      state = t.state;
      if (t.state === 'active' && was === 'waiting' && t.direction === 'send') out.push({ event: 'accepted', transferId: t.id });
      else if (t.state === 'declined' && t.direction === 'send') out.push({ event: 'declined', transferId: t.id });
      else if (t.state === 'done') out.push({ event: 'done', transferId: t.id, role: t.role });
      else if (t.state === 'cancelled' || t.state === 'failed') {
        out.push({ event: 'cancelled', transferId: t.id, role: t.role, byPeer: t.endedBy === 'peer' });
      }
    });
  });
}

/** Free-text fields are compared only when the expectation spells them out. @param {any[]} actual @param {any[]} expected */
function comparable(actual, expected) {
  /** @type {Record<string, string>} */
  const free = { error: 'message', cancel: 'reason', text: 'id', hello: 'app' };
  return actual.map((a, i) => {
    const key = free[a.type];
    if (!key || (expected[i] && key in expected[i])) return a;
    const { [key]: _, ...rest } = a;
    return rest;
  });
}

/** Lets the engine's promise chains (blob reads, hashing, per-transfer queues) run to the end. @param {RecordingPipe} pipe @param {any[]} events */
async function settle(pipe, events) {
  let stable = 0;
  let last = -1;
  while (stable < 5) {
    await new Promise((r) => setTimeout(r, 0));
    const n = pipe.sent.length + events.length;
    stable = n === last ? stable + 1 : 0;
    last = n;
  }
}

const memorySink = () => ({ write() {}, close: async () => {}, abort() {} });

/** @param {string} file */
async function run(file) {
  const t = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  const pipe = new RecordingPipe(t.maxMessageSize ?? 256 * 1024);
  let now = 0;
  const s = new TransferSession(pipe, { hasherFactory: inlineHasher, timers: false, now: () => now, progressEveryMs: 0, flowWindow: t.flowWindow, verify: t.verify ?? null });
  /** @type {any[]} */
  const events = [];
  track(s, events);
  for (const [i, step] of t.steps.entries()) {
    const at = `${file} step ${i} (${step.note ?? ''})`;
    let refused = false;
    const h = () => /** @type {import('../../web/app/js/transfer/pipe.js').PipeHandler} */ (pipe.handler);
    if (step.start) s.start();
    else if (step.peer) h().message(JSON.stringify(step.peer));
    else if (step.peerText !== undefined) h().message(build(step.peerText));
    else if (step.peerFrame) {
      const f = step.peerFrame;
      const bytes = encodeFrame({ transferId: f.transferId, index: f.index, offset: f.offset, payload: utf8.encode(build(f.payload)) });
      h().message(bytes.slice().buffer);
    } else if (step.peerBinaryHex !== undefined) h().message(new Uint8Array(Buffer.from(step.peerBinaryHex, 'hex')).buffer);
    else if (step.wait !== undefined) {
      now += step.wait;
      s.handleTimeout(now);
    } else if (step.closed) h().close('the peer closed the pipe');
    else if (step.user) {
      const u = step.user;
      const incoming = s.incoming.get(u.transferId);
      switch (u.do) {
        case 'offer':
          try {
            s.sendFiles(u.files.map((/** @type {any} */ f) => ({ blob: new Blob([build(f.content)], { type: f.type ?? '' }), path: f.path, mtime: f.mtime })));
          } catch {
            refused = true;
          }
          break;
        case 'accept':
          if (incoming?.state === 'waiting') incoming.accept(memorySink);
          else refused = true;
          break;
        case 'decline':
          if (incoming?.state === 'waiting') incoming.decline();
          else refused = true;
          break;
        case 'cancel': {
          const tr = u.role === 'sender' ? s.outgoing.get(u.transferId) : incoming;
          if (tr) tr.cancel(u.reason ?? '');
          else refused = true;
          break;
        }
        case 'text':
          try {
            s.sendText(build(u.text));
          } catch {
            refused = true;
          }
          break;
        default:
          throw new Error(`${at}: unknown user command ${u.do}`);
      }
    } else throw new Error(`${at}: unknown step`);
    await settle(pipe, events);
    assert.equal(refused, step.refused ?? false, `${at}: command refused?`);
    const wire = pipe.sent.splice(0);
    const got = events.splice(0);
    assert.deepEqual(comparable(wire, step.wire), step.wire, `${at}: wire`);
    if (step.events) assert.deepEqual(got, step.events, `${at}: events`);
  }
}

const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

test('there are transcripts', () => assert.ok(files.length >= 5, dir));

for (const f of files) test(`transcript ${f}`, () => run(f));
