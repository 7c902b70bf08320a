// Starts a real `ferry serve` on an ephemeral loopback port for one test file. Builds nothing:
// scripts/test runs `cargo build` first (set FERRY_BIN to use another binary).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

/**
 * @param {string[]} [extraArgs] more `ferry serve` options
 * @param {{port?: number | string}} [opts] a fixed port (default: any free one)
 * @returns {Promise<{url: string, stop: () => Promise<void>, proc: import('node:child_process').ChildProcess}>}
 */
export async function startServer(extraArgs = [], opts = {}) {
  const bin = process.env.FERRY_BIN ?? path.join(repoRoot, 'target', 'debug', 'ferry');
  // With a fixed HTTP port the embedded STUN/TURN server would take UDP 3478, which parallel
  // test runs share; any free port will do.
  const portArgs = opts.port ? ['--port', String(opts.port), '--turn-port', '0'] : ['--port', '0'];
  const proc = spawn(bin, ['serve', '--host', '127.0.0.1', ...portArgs, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
  });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.FERRY_E2E_VERBOSE) process.stderr.write(d);
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`ferry serve did not print its address in 30 s\n${stderr}`)), 30_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (https?:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${e.message} (run cargo build -p ferry first)`));
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ferry serve exited with ${code}\n${stderr}`));
    });
  });
  proc.stdout.resume();
  return {
    url,
    proc,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
      }),
  };
}
