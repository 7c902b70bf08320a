// Strings of paired devices (pairing/paired-devices.js and its views), en and zh-CN.

import { addStrings } from '../i18n.js';

addStrings('en', {
  pair: 'Pair',
  pairing: 'Pairing…',
  paired: 'paired',
  pairedTitle: 'Paired with this browser: recognised by its key, on any network',
  pairUnconfirmed: '{name} is in a paired room but could not prove the pairing: treat it as a stranger.',
  pairAsk: 'Pair with {name}?',
  pairExplain: 'Paired devices find each other on any network that reaches this server, without a room code. You can unpair at any time in Settings.',
  pairCompare: 'Security code {code}: check that {name} shows the same code before you pair.',
  pairYes: 'Pair',
  notNow: 'Not now',
  pairDeclined: '{name} did not pair.',
  pairDone: 'Paired with {name}.',
  pairUnsupported: '{name} cannot pair (only the web app keeps pairings).',
  pairFailed: 'Could not pair with {name}: {reason}',
  pairedDevices: 'Paired devices',
  pairedEmpty: 'No paired devices. Pair from a device’s card to find it on any network.',
  pairedVolatile: 'This browser does not keep data for this site (private mode?): pairings last only until the tab closes.',
  pairedLastSeen: 'last seen {when}',
  unpair: 'Unpair',
  unpairLabel: 'Unpair {name}',
});

addStrings('zh-CN', {
  pair: '配对',
  pairing: '正在配对…',
  paired: '已配对',
  pairedTitle: '已与此浏览器配对：凭密钥识别，任何网络均可',
  pairUnconfirmed: '{name} 在配对房间中，但无法证明配对：请把它当作陌生设备。',
  pairAsk: '与 {name} 配对？',
  pairExplain: '配对的设备无需房间码，在任何能连到此服务器的网络上都能找到彼此。可随时在“设置”中取消配对。',
  pairCompare: '安全码 {code}：配对前请确认 {name} 显示的安全码相同。',
  pairYes: '配对',
  notNow: '暂不',
  pairDeclined: '{name} 未接受配对。',
  pairDone: '已与 {name} 配对。',
  pairUnsupported: '{name} 无法配对（只有网页版会保存配对）。',
  pairFailed: '无法与 {name} 配对：{reason}',
  pairedDevices: '已配对的设备',
  pairedEmpty: '没有已配对的设备。在设备卡片上点“配对”，即可在任何网络上找到它。',
  pairedVolatile: '此浏览器不为本站保存数据（隐私模式？）：配对只保留到标签页关闭。',
  pairedLastSeen: '上次见到 {when}',
  unpair: '取消配对',
  unpairLabel: '取消与 {name} 的配对',
});
