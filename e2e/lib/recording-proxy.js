// A TCP proxy in front of the server that records every byte the server sends to the client.
// Server-to-client WebSocket frames are unmasked, so this is exactly what the relay forwards.

import net from 'node:net';

/**
 * @param {string} serverUrl e.g. http://127.0.0.1:1234
 * @returns {Promise<{url: string, seen: () => Buffer, clear: () => void, close: () => void}>}
 */
export async function recordingProxy(serverUrl) {
  const target = new URL(serverUrl);
  /** @type {Buffer[]} */
  let chunks = [];
  /** @type {Set<net.Socket>} */
  const sockets = new Set();
  const server = net.createServer((down) => {
    const up = net.connect(Number(target.port), target.hostname);
    sockets.add(down);
    sockets.add(up);
    up.on('data', (d) => chunks.push(Buffer.from(d)));
    down.pipe(up);
    up.pipe(down);
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const addr = /** @type {net.AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${addr.port}`,
    seen: () => Buffer.concat(chunks),
    clear: () => {
      chunks = [];
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
