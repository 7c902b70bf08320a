// Runs the native `ferry` binary (target/debug, or FERRY_BIN) as a child process against a test
// server, for tests where a CLI peer meets the web app.

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './server.js';

/** Where the CLIs of this test process keep their receive identities (not the user's home). */
let stateDir = '';

/**
 * Runs the ferry CLI with `--json`; `events` resolves each JSON line by its `event`.
 * @param {string[]} args
 * @param {string} serverUrl
 * @param {Record<string, string>} [extraEnv] e.g. a test switch (`FERRY_TEST_DISK_RATE`)
 */
export function runFerry(args, serverUrl, extraEnv = {}) {
  const bin = process.env.FERRY_BIN ?? path.join(repoRoot, 'target', 'debug', 'ferry');
  stateDir ||= mkdtempSync(path.join(tmpdir(), 'ferry-e2e-state-'));
  const env = { ...process.env, FERRY_STATE_DIR: stateDir, ...extraEnv };
  const proc = spawn(bin, [...args, '--server', serverUrl, '--bind', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.FERRY_E2E_VERBOSE) process.stderr.write(d);
  });
  /** @type {Map<string, any>} */
  const seen = new Map();
  /** @type {Map<string, (v: any) => void>} */
  const waiting = new Map();
  let buf = '';
  proc.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const v = JSON.parse(line);
        seen.set(v.event, v);
        waiting.get(v.event)?.(v);
      } catch {
        // not a JSON line (the CLI prints only JSON with --json, but be lenient)
      }
    }
  });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    /** @param {string} event @param {number} [timeout] */
    event(event, timeout = 60_000) {
      if (seen.has(event)) return Promise.resolve(seen.get(event));
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${event} from ferry ${args[0]} in ${timeout} ms\n${stderr}`)), timeout);
        waiting.set(event, (v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
    },
    /** @returns {Promise<number | null>} */
    exit: () => exited,
    stderr: () => stderr,
  };
}
