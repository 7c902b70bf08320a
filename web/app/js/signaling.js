// The signaling client: one WebSocket to `/ws` (docs/protocol.md §1), reconnected with
// exponential backoff when the server goes away. It knows nothing about rooms or WebRTC; it hands
// every server message to listeners and keeps the peer token (per tab) so a reconnect keeps the
// same peer id and name.

const TOKEN_KEY = 'ferry-token';
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
// Browsers cannot see WebSocket pings; an application ping keeps idle proxies from closing us.
const PING_EVERY_MS = 20_000;

/** @typedef {'connecting' | 'open' | 'waiting'} ConnState */

/**
 * Events: `state` (detail: {state, retryInMs}), `message` (detail: a server message object).
 */
export class SignalingClient extends EventTarget {
  /** @param {{url?: string, client?: string, device?: string}} [opts] `device`: phone, tablet or desktop (shown to peers) */
  constructor(opts = {}) {
    super();
    this.url = opts.url ?? defaultUrl();
    this.client = opts.client ?? 'browser';
    this.device = opts.device ?? '';
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {ConnState} */
    this.state = 'connecting';
    this.attempt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.setState('connecting', 0);
    const token = sessionStorage.getItem(TOKEN_KEY);
    const q = new URLSearchParams({ client: this.client });
    if (this.device) q.set('device', this.device);
    if (token) q.set('token', token);
    const ws = new WebSocket(`${this.url}?${q}`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'welcome') {
        this.attempt = 0;
        if (typeof msg.token === 'string') sessionStorage.setItem(TOKEN_KEY, msg.token);
        this.setState('open', 0);
      }
      this.dispatchEvent(new CustomEvent('message', { detail: msg }));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      // 4000: another connection took over our token — e.g. a duplicated tab, which copies
      // sessionStorage. Start over as a new peer instead of kicking each other out forever.
      if (ev.code === 4000) sessionStorage.removeItem(TOKEN_KEY);
      this.scheduleReconnect();
    };
    ws.onopen = () => {
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({ type: 'ping' }), PING_EVERY_MS);
    };
  }

  scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    // ±25 % jitter so a restarted server is not hit by every client in the same instant.
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.setState('waiting', delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** @param {object} msg */
  send(msg) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** @param {ConnState} state @param {number} retryInMs */
  setState(state, retryInMs) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, retryInMs } }));
  }
}

function defaultUrl() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/ws`;
}
