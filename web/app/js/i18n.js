// Strings of the UI in English and Simplified Chinese. The language comes from the browser unless
// the user picked one (kept in localStorage). Elements carrying `data-i18n="key"` (text) or
// `data-i18n-placeholder="key"` or `data-i18n-label="key"` (aria-label) are filled by `applyTranslations`; code that builds text itself
// calls `t()` and re-renders on the `ferry-lang` event.

import { CALL_STRINGS } from './call/call-strings.js';

/** @typedef {'en' | 'zh-CN'} Lang */

/** @type {Record<Lang, Record<string, string>>} */
const STRINGS = {
  en: {
    youAre: 'You are',
    connecting: 'Connecting…',
    online: 'Online',
    offline: 'Offline — reconnecting in {s} s',
    createRoom: 'Create room',
    join: 'Join',
    codePlaceholder: 'Room code',
    peersHere: 'Nearby and in your rooms',
    noPeers: 'Nobody else here yet. Open this page on another device on your network, or share a room code.',
    roomLan: 'Local network',
    roomCode: 'Room {code}',
    roomMembers: 'In this room: {names}',
    roomEmpty: 'Nobody has joined yet: share the code, link or QR code.',
    roomLink: 'Link',
    copy: 'Copy',
    leave: 'Leave',
    sendFiles: 'Send files',
    sendFolder: 'Send folder',
    dropHere: 'Drop files here',
    chat: 'Messages',
    chatPlaceholder: 'Type a message',
    send: 'Send',
    accept: 'Accept',
    decline: 'Decline',
    cancel: 'Cancel',
    incomingOffer: '{name} wants to send you {count} file(s), {size}',
    offerResumable: '{size} of this arrived before and was kept: the transfer resumes from there (partial data is kept for a day, and removed if you cancel)',
    offerKeeps: 'If the connection breaks off, what arrived is kept on this device for a day and the transfer resumes from there when it is sent again (removed if you cancel).',
    memoryWarning: 'This page cannot save files straight to disk, so all {size} would be held in the browser\'s memory until each file is complete. That is more than this device can safely hold here: the transfer may fail or the browser may slow down. Opened over HTTPS, ferry saves files to disk as they arrive.',
    insecureNotice: 'This page is open at {origin}, a plain-HTTP address, so the browser limits it: received files are held in memory until they are complete (very large files may not fit), and the page cannot be installed as an app. Transfers are still end-to-end encrypted. To lift these limits, open ferry over HTTPS (start ferry serve with --tls-cert and --tls-key, or --acme-domain), or open http://localhost on the computer that runs it.',
    gotIt: 'Got it',
    downloadCancelled: 'the download was cancelled in the browser',
    memoryFull: 'this browser ran out of memory holding the file (this page keeps received files in memory; opened over HTTPS, ferry saves them to disk as they arrive)',
    waitingAccept: 'Waiting for {name} to accept…',
    sending: 'Sending',
    receiving: 'Receiving',
    stateWaiting: 'waiting',
    stateActive: 'in progress',
    stateDone: 'done',
    stateDeclined: 'declined',
    stateCancelled: 'cancelled',
    stateFailed: 'failed',
    fileVerified: 'verified',
    fileMismatch: 'hash mismatch — file is corrupt and was discarded',
    save: 'Save',
    peerLeft: '{name} left',
    keepScreenOn: 'Keep this page open and the screen on until the transfer finishes: a locked phone pauses it.',
    hiddenDuringTransfer: 'This page was in the background during a transfer; the phone may have paused it.',
    peerOffline: '{name} lost its connection to the server; the direct connection is still up',
    connFailed: 'Connection to {name} failed',
    pathDirect: 'direct',
    pathStun: 'via STUN',
    pathRelay: 'via TURN relay',
    pathWebsocket: 'relay (WebSocket, end-to-end encrypted)',
    securityCode: 'code {code}',
    relaySwitch: 'Always use the relay',
    pathNone: 'not connected',
    eta: '{speed}/s, {eta} left',
    you: 'You',
    roomNotFound: 'No room with that code (it may have expired).',
    crowded: 'Many devices share this network, so only some of them are shown here. To find your own device, create a room and join it by code.',
  },
  'zh-CN': {
    youAre: '你是',
    connecting: '正在连接…',
    online: '在线',
    offline: '离线 — {s} 秒后重连',
    createRoom: '创建房间',
    join: '加入',
    codePlaceholder: '房间码',
    peersHere: '附近和你房间里的设备',
    noPeers: '这里还没有其他人。在同一网络的另一台设备上打开本页，或分享房间码。',
    roomLan: '本地网络',
    roomCode: '房间 {code}',
    roomMembers: '房间里有：{names}',
    roomEmpty: '还没有人加入：分享房间码、链接或二维码。',
    roomLink: '链接',
    copy: '复制',
    leave: '离开',
    sendFiles: '发送文件',
    sendFolder: '发送文件夹',
    dropHere: '把文件拖到这里',
    chat: '消息',
    chatPlaceholder: '输入消息',
    send: '发送',
    accept: '接受',
    decline: '拒绝',
    cancel: '取消',
    incomingOffer: '{name} 想发给你 {count} 个文件，共 {size}',
    offerResumable: '其中 {size} 之前已收到并保留：传输将从那里继续（未完成的数据保留一天，取消则删除）',
    offerKeeps: '如果连接中断，已收到的部分会在本设备上保留一天，再次发送时从那里继续（取消则删除）。',
    memoryWarning: '此页面无法直接把文件写入磁盘，所以这 {size} 会先全部保存在浏览器内存中，直到每个文件接收完成。这超过了本设备在这里能安全容纳的大小：传输可能失败，浏览器也可能变慢。通过 HTTPS 打开时，ferry 会边接收边把文件写入磁盘。',
    insecureNotice: '此页面是通过普通 HTTP 地址 {origin} 打开的，浏览器会限制它的功能：收到的文件会先保存在内存中，直到接收完成（很大的文件可能放不下），页面也不能安装为应用。传输仍然是端到端加密的。要解除这些限制，请通过 HTTPS 打开 ferry（用 --tls-cert 和 --tls-key，或 --acme-domain 启动 ferry serve），或在运行 ferry 的电脑上打开 http://localhost。',
    gotIt: '知道了',
    downloadCancelled: '下载已在浏览器中取消',
    memoryFull: '浏览器内存不足，无法继续保存这个文件（此页面把收到的文件保存在内存中；通过 HTTPS 打开时，ferry 会边接收边写入磁盘）',
    waitingAccept: '等待 {name} 接受…',
    sending: '发送中',
    receiving: '接收中',
    stateWaiting: '等待中',
    stateActive: '传输中',
    stateDone: '完成',
    stateDeclined: '已拒绝',
    stateCancelled: '已取消',
    stateFailed: '失败',
    fileVerified: '已校验',
    fileMismatch: '哈希不匹配 — 文件已损坏并被丢弃',
    save: '保存',
    peerLeft: '{name} 已离开',
    keepScreenOn: '传输完成前请保持此页面打开并保持屏幕常亮：手机锁屏会暂停传输。',
    hiddenDuringTransfer: '传输期间此页面曾处于后台，手机可能已暂停传输。',
    peerOffline: '{name} 与服务器的连接已断开；直连仍然有效',
    connFailed: '与 {name} 的连接失败',
    pathDirect: '直连',
    pathStun: '经 STUN',
    pathRelay: '经 TURN 中继',
    pathWebsocket: '中继（WebSocket，端到端加密）',
    securityCode: '安全码 {code}',
    relaySwitch: '总是使用中继',
    pathNone: '未连接',
    eta: '{speed}/秒，剩余 {eta}',
    you: '你',
    roomNotFound: '没有这个房间码的房间（可能已过期）。',
    crowded: '这个网络上的设备很多，这里只显示其中一部分。要找到你自己的设备，请创建房间并用房间码加入。',
  },
};

/** @type {Lang} */
let current = pickInitial();

/** @returns {Lang} */
// Feature modules keep their strings in their own files.
for (const l of /** @type {Lang[]} */ (['en', 'zh-CN'])) Object.assign(STRINGS[l], CALL_STRINGS[l]);

function pickInitial() {
  const stored = globalThis.localStorage?.getItem('ferry-lang');
  if (stored === 'en' || stored === 'zh-CN') return stored;
  const nav = globalThis.navigator?.languages?.[0] ?? globalThis.navigator?.language ?? 'en';
  return nav.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

/** @returns {Lang} */
export function lang() {
  return current;
}

/** @param {string} value */
export function setLang(value) {
  current = value === 'zh-CN' ? 'zh-CN' : 'en';
  globalThis.localStorage?.setItem('ferry-lang', current);
  document.documentElement.lang = current;
  applyTranslations(document);
  window.dispatchEvent(new Event('ferry-lang'));
}

/**
 * @param {string} key
 * @param {Record<string, string | number>} [params]
 */
export function t(key, params = {}) {
  const s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ''));
}

/** @param {ParentNode} root */
export function applyTranslations(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(/** @type {HTMLElement} */ (el).dataset.i18n ?? '');
  }
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
    /** @type {HTMLInputElement} */ (el).placeholder = t(/** @type {HTMLElement} */ (el).dataset.i18nPlaceholder ?? '');
  }
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(/** @type {HTMLElement} */ (el).dataset.i18nLabel ?? ''));
  }
}

/**
 * More strings for a feature's own module (kept there so features do not all edit this file).
 * @param {Lang} language @param {Record<string, string>} strings
 */
export function addStrings(language, strings) {
  Object.assign(STRINGS[language], strings);
}
