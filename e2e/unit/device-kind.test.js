// deviceKind() over real user agent strings and client hints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceKind, peerKind } from '../../web/app/js/ui/device-kind.js';

const UA = {
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  androidPhone: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  androidTablet: 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  ipadOS: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  oldIpad: 'Mozilla/5.0 (iPad; CPU OS 12_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1',
  windows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  linuxFirefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
};

test('phones, tablets and computers from the user agent and client hints', () => {
  assert.equal(deviceKind(UA.iphone, undefined, 5), 'phone');
  assert.equal(deviceKind(UA.androidPhone, { mobile: true }, 5), 'phone');
  assert.equal(deviceKind(UA.androidTablet, { mobile: false }, 5), 'tablet');
  assert.equal(deviceKind(UA.ipadOS, undefined, 5), 'tablet', 'iPadOS says Macintosh but has touch points');
  assert.equal(deviceKind(UA.ipadOS, undefined, 0), 'desktop', 'a real Mac');
  assert.equal(deviceKind(UA.oldIpad, undefined, 5), 'tablet');
  assert.equal(deviceKind(UA.windows, { mobile: false }, 0), 'desktop');
  assert.equal(deviceKind(UA.linuxFirefox, undefined, 0), 'desktop');
  // A client hint of "mobile" wins over a desktop-looking string (Chrome's reduced UA).
  assert.equal(deviceKind(UA.windows, { mobile: true }, 0), 'phone');
});

test('a peer card draws the CLI as a terminal and an unknown device as such', () => {
  assert.equal(peerKind({ client: 'cli', device: 'desktop' }), 'cli');
  assert.equal(peerKind({ client: 'browser', device: 'phone' }), 'phone');
  assert.equal(peerKind({ client: 'browser' }), 'unknown');
  assert.equal(peerKind({ client: 'browser', device: '<img>' }), 'unknown');
});
