// The call part of a peer card: call / share-screen buttons (only for a peer that takes calls),
// the incoming-call prompt, and while a call runs the remote and local video, the controls
// (mute, camera, screen, devices, hang up) and the quality line from getStats().

import { h } from './dom.js';
import { t } from '../i18n.js';
import { CallController, CallError } from '../call/call-controller.js';

/**
 * @typedef {import('./peer-card.js').PeerInfo} PeerInfo
 * @typedef {import('../rtc/peer-link.js').PeerLink} PeerLink
 */

export class CallView {
  /**
   * @param {PeerInfo} info
   * @param {PeerLink} link
   * @param {{connect: () => Promise<import('../transfer/engine.js').TransferSession>}} deps
   */
  constructor(info, link, deps) {
    this.info = info;
    this.call = new CallController(link, { connect: deps.connect });
    /** @type {{reason: string} | null} */
    this.lastEnd = null;
    this.note = '';

    const button = (/** @type {string} */ testid, /** @type {() => unknown} */ onclick) =>
      /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'small', testid, onclick: () => this.run(onclick) }));
    this.startBtn = button('call-start', () => this.call.start({ audio: true, video: true, screen: false }));
    this.audioBtn = button('call-start-audio', () => this.call.start({ audio: true, video: false, screen: false }));
    this.shareBtn = button('call-share-screen', () => this.call.start({ audio: false, video: false, screen: true }));
    this.actions = h('span', { class: 'call-actions', testid: 'call-actions' }, this.startBtn, this.audioBtn, this.shareBtn);

    this.promptText = h('span', { testid: 'call-incoming-text' });
    this.acceptBtn = button('call-accept', () => this.call.accept());
    this.declineBtn = button('call-decline', () => this.call.decline());
    this.prompt = h('div', { class: 'call-incoming', testid: 'call-incoming', role: 'alertdialog', hidden: true }, this.promptText, this.acceptBtn, this.declineBtn);

    this.remoteVideo = /** @type {HTMLVideoElement} */ (h('video', { class: 'call-remote', testid: 'call-remote-video', autoplay: true, playsinline: true }));
    this.localVideo = /** @type {HTMLVideoElement} */ (h('video', { class: 'call-local', testid: 'call-local-video', autoplay: true, playsinline: true }));
    // Our own microphone is never played back here.
    this.localVideo.muted = true;
    this.stateEl = h('span', { class: 'call-state', testid: 'call-state', dataset: { state: 'idle' } });
    this.remoteFlagsEl = h('span', { class: 'badge', testid: 'call-remote-media', dataset: { muted: 'false', cameraOff: 'false', screen: 'false' } });
    this.muteBtn = button('call-mute', () => this.call.setMuted(!this.call.muted));
    this.cameraBtn = button('call-camera', () => this.call.setCameraOff(!this.call.cameraOff));
    this.screenBtn = button('call-screen', () => (this.call.screenTrack ? this.call.stopScreen() : this.call.shareScreen()));
    this.hangUpBtn = button('call-hangup', () => this.call.hangUp());
    this.cameraSelect = /** @type {HTMLSelectElement} */ (h('select', { testid: 'call-camera-select' }));
    this.micSelect = /** @type {HTMLSelectElement} */ (h('select', { testid: 'call-mic-select' }));
    this.cameraSelect.addEventListener('change', () => this.run(() => this.call.chooseCamera(this.cameraSelect.value)));
    this.micSelect.addEventListener('change', () => this.run(() => this.call.chooseMic(this.micSelect.value)));
    this.cameraLabel = h('span');
    this.micLabel = h('span');
    this.qualityEl = h('p', { class: 'hint call-quality', testid: 'call-quality' });
    this.panel = h(
      'div',
      { class: 'call-panel', testid: 'call-panel', hidden: true },
      h('div', { class: 'call-head' }, this.stateEl, this.remoteFlagsEl),
      h('div', { class: 'call-videos' }, this.remoteVideo, this.localVideo),
      h('div', { class: 'call-controls' }, this.muteBtn, this.cameraBtn, this.screenBtn, this.hangUpBtn),
      h('div', { class: 'call-devices' }, h('label', {}, this.cameraLabel, this.cameraSelect), h('label', {}, this.micLabel, this.micSelect)),
      this.qualityEl,
    );
    this.noteEl = h('p', { class: 'hint', testid: 'call-note', hidden: true });
    this.el = h('div', { class: 'call', testid: 'call' }, this.prompt, this.panel, this.noteEl);

    this.call.addEventListener('change', () => this.render());
    this.call.addEventListener('ended', (e) => {
      const { reason } = /** @type {CustomEvent} */ (e).detail;
      this.lastEnd = { reason };
      this.setNote(t(`callEnded_${reason}`, { name: this.info.name }));
    });
    link.addEventListener('path', () => this.render());
    window.addEventListener('ferry-lang', () => this.render());
    this.render();
  }

  /** @param {PeerInfo} info */
  update(info) {
    this.info = info;
    this.render();
  }

  /** The peer left every room we share: a running call ends (the link closes too). */
  peerGone() {
    this.call.finish('connection-lost', 'link');
  }

  /** Runs a user action, showing why it failed. @param {() => unknown} fn */
  run(fn) {
    this.setNote('');
    Promise.resolve()
      .then(fn)
      .catch((e) => {
        const err = /** @type {Error} */ (e);
        this.setNote(err instanceof CallError ? t(err.code, { name: this.info.name }) + (err.detail ? ` (${err.detail})` : '') : err.message);
      });
  }

  /** @param {string} text */
  setNote(text) {
    this.noteEl.textContent = text;
    this.noteEl.hidden = !text;
  }

  render() {
    const c = this.call;
    const idle = c.state === 'idle';
    this.actions.hidden = !idle || !c.canCall(this.info.client);
    this.startBtn.textContent = t('callStart');
    this.audioBtn.textContent = t('callAudioOnly');
    this.shareBtn.textContent = t('callShareScreen');

    this.prompt.hidden = c.state !== 'incoming';
    const kind = c.kinds.screen && !c.kinds.video ? 'callKindScreen' : c.kinds.video ? 'callKindVideo' : 'callKindAudio';
    this.promptText.textContent = t('callIncoming', { name: this.info.name, kind: t(kind) });
    this.acceptBtn.textContent = t('callAccept');
    this.declineBtn.textContent = t('callDecline');

    const inCall = c.state === 'outgoing' || c.state === 'active';
    this.panel.hidden = !inCall;
    this.stateEl.dataset.state = c.state;
    this.stateEl.textContent = c.state === 'outgoing' ? t('callRinging', { name: this.info.name }) : t('callActive', { name: this.info.name });
    const f = c.remoteFlags;
    Object.assign(this.remoteFlagsEl.dataset, { muted: String(f.muted), cameraOff: String(f.cameraOff), screen: String(f.screen) });
    const flags = [f.muted && t('callRemoteMuted'), f.cameraOff && !f.screen && t('callRemoteCameraOff'), f.screen && t('callRemoteScreen')].filter(Boolean);
    this.remoteFlagsEl.textContent = flags.join(' · ');
    this.remoteFlagsEl.hidden = c.state !== 'active' || flags.length === 0;

    this.muteBtn.textContent = c.muted ? t('callUnmute') : t('callMute');
    this.muteBtn.dataset.on = String(c.muted);
    this.muteBtn.hidden = !c.micTrack;
    this.cameraBtn.textContent = c.cameraOff ? t('callCameraOn') : t('callCameraOff');
    this.cameraBtn.dataset.on = String(c.cameraOff);
    this.cameraBtn.hidden = !c.kinds.video && !c.cameraTrack;
    this.screenBtn.textContent = c.screenTrack ? t('callScreenStop') : t('callScreenStart');
    this.screenBtn.dataset.on = String(c.screenTrack !== null);
    this.screenBtn.disabled = c.state !== 'active';
    this.hangUpBtn.textContent = t('callHangUp');
    this.cameraLabel.textContent = t('callCamera');
    this.micLabel.textContent = t('callMic');

    if (this.remoteVideo.srcObject !== c.remoteStream) this.remoteVideo.srcObject = inCall ? c.remoteStream : null;
    if (!inCall) this.remoteVideo.srcObject = null;
    const local = c.localVideoTrack();
    const current = /** @type {MediaStream | null} */ (this.localVideo.srcObject);
    if ((current?.getVideoTracks()[0] ?? null) !== local) this.localVideo.srcObject = local ? new MediaStream([local]) : null;
    for (const v of [this.remoteVideo, this.localVideo]) if (v.srcObject && v.paused) v.play().catch(() => {});

    const q = c.quality;
    const path = q?.path || '–';
    this.qualityEl.dataset.path = q?.path ?? '';
    const iv = q?.inVideo;
    Object.assign(this.qualityEl.dataset, { width: String(iv?.width ?? 0), height: String(iv?.height ?? 0), fps: String(iv?.fps ?? 0) });
    this.qualityEl.textContent = iv && iv.width
      ? t('callQuality', { w: iv.width, h: iv.height, fps: iv.fps, kbps: iv.kbps, outKbps: q?.outVideo?.kbps ?? 0, path })
      : t('callQualityNone', { path });
    this.qualityEl.hidden = c.state !== 'active';
    if (inCall && this.cameraSelect.options.length === 0 && (c.micTrack || c.cameraTrack)) void this.fillDevices();
    if (!inCall) {
      this.cameraSelect.replaceChildren();
      this.micSelect.replaceChildren();
    }
  }

  async fillDevices() {
    const { cameras, mics } = await this.call.devices();
    const fill = (/** @type {HTMLSelectElement} */ sel, /** @type {MediaDeviceInfo[]} */ list, /** @type {MediaStreamTrack | null} */ track) => {
      const current = track?.getSettings().deviceId ?? '';
      sel.replaceChildren(...list.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${i + 1}`)));
    };
    fill(this.cameraSelect, cameras, this.call.cameraTrack);
    fill(this.micSelect, mics, this.call.micTrack);
  }
}
