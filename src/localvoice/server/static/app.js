// The voice page: microphone → AudioWorklet (16 kHz int16) → /ws → reply audio played gaplessly.
// Protocol: docs/websocket.md. Standard Web APIs only (Chromium and Firefox), no network beyond the
// server that served this page.
'use strict';

const TEXT = {
  zh: {
    connecting: '连接中…', open: '已连接', closed: '已断开，重连中…', idle: '未开始',
    listening: '在听', thinking: '在想', speaking: '在说', start: '开始', talk: '按住说话',
    talking: '松开结束', handsfree: '免按键', stop: '打断', send: '发送', placeholder: '也可以打字…',
    hint: '说话即可提问；回答时开口会打断它。', hearing: '（在听你说…）', interrupted: '（被打断）',
    v2v: '语音到语音', asr: '识别', llm: '首字', tts: '首段语音', micDenied: '无法使用麦克风：',
    persona: '角色', voice: '声音', default: '默认', restarted: '已切换，对话重新开始',
    full: '会话已满，稍后重连…', tooSlow: '连接太慢，已断开', unsecure: '麦克风需要 https 或 localhost',
  },
  en: {
    connecting: 'connecting…', open: 'connected', closed: 'disconnected, reconnecting…', idle: 'not started',
    listening: 'listening', thinking: 'thinking', speaking: 'speaking', start: 'Start', talk: 'Hold to talk',
    talking: 'Release to send', handsfree: 'Hands-free', stop: 'Interrupt', send: 'Send', placeholder: 'or type…',
    hint: 'Just speak to ask; talk over a reply to interrupt it.', hearing: '(listening…)', interrupted: '(interrupted)',
    v2v: 'voice to voice', asr: 'ASR', llm: 'first token', tts: 'first audio', micDenied: 'No microphone: ',
    persona: 'Persona', voice: 'Voice', default: 'Default', restarted: 'Switched; the conversation starts over',
    full: 'All sessions are busy; retrying…', tooSlow: 'Connection too slow; closed', unsecure: 'The microphone needs https or localhost',
  },
};
const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem('lv.lang') || ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
const t = (key) => TEXT[lang][key] || key;

function applyLanguage() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) {
    if (el.id === 'state' || el.id === 'connection') el.textContent = t(el.dataset.state);
    else el.textContent = t(el.dataset.i18n);
  }
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  $('lang').textContent = lang === 'zh' ? 'EN' : '中';
}

// ---------- what the page shows ----------

const turns = new Map(); // turn → {user, assistant, text}
let partial = null; // the "(listening…)" bubble while the user speaks
let partialTimer = 0;
function dropPartial() {
  clearTimeout(partialTimer);
  if (partial) { partial.remove(); partial = null; }
}

function bubble(kind, text) {
  const el = document.createElement('div');
  el.className = `turn ${kind}`;
  el.textContent = text;
  $('log').append(el);
  el.scrollIntoView({ block: 'end' });
  return el;
}
function turnOf(n) {
  if (!turns.has(n)) turns.set(n, { user: null, assistant: null, text: '' });
  return turns.get(n);
}
function setPill(id, state) {
  const el = $(id);
  el.dataset.state = state;
  el.textContent = t(state);
}
function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = !message;
}
function notice(message) {
  const el = bubble('notice', message);
  el.className = 'notice';
}
const seconds = (ms) => (ms == null ? '–' : `${(ms / 1000).toFixed(2)} s`);

const handlers = {
  hello(m) { window.lvStats.hello = m; },
  state(m) { setPill('state', m.state); },
  speech_started() {
    clearTimeout(partialTimer);
    if (!partial) partial = bubble('user partial', t('hearing'));
  },
  transcript_partial(m) {
    clearTimeout(partialTimer);
    if (!partial) partial = bubble('user partial', '');
    partial.textContent = m.text;
    window.lvStats.partials.push(m.text);
  },
  speech_ended() {
    // A sound that never becomes a turn (noise, a backchannel) leaves no placeholder behind.
    partialTimer = setTimeout(dropPartial, 6000);
  },
  transcript(m) {
    const turn = turnOf(m.turn);
    dropPartial();
    $('hint').hidden = true;
    turn.user = bubble('user', m.text);
    turn.user.dataset.turn = m.turn;
  },
  reply_delta(m) {
    const turn = turnOf(m.turn);
    if (!turn.assistant) { turn.assistant = bubble('assistant', ''); turn.assistant.dataset.turn = m.turn; }
    turn.text += m.text;
    turn.assistant.textContent = turn.text;
    turn.assistant.scrollIntoView({ block: 'end' });
  },
  reply_audio() {},
  clause_spoken() {},
  timings(m) {
    const turn = turnOf(m.turn);
    if (!turn.assistant) return;
    const line = document.createElement('span');
    line.className = 'latency';
    line.textContent = `${t('v2v')} ${seconds(m.ms.voice_to_voice)} · ${t('asr')} ${seconds(m.ms.asr)} · `
      + `${t('llm')} ${seconds(m.ms.llm_first_token)} · ${t('tts')} ${seconds(m.ms.tts_first_audio)}`;
    turn.timing = line;
    turn.assistant.append(line);
  },
  reply_done(m) {
    const turn = turnOf(m.turn);
    if (m.withdrawn) { if (turn.assistant) turn.assistant.remove(); turns.delete(m.turn); return; }
    window.lvStats.replies.push({ turn: m.turn, written: m.written, heard: m.heard, interrupted: m.interrupted });
    if (!turn.assistant || !m.interrupted) return;
    // Show what was heard, and strike out what never played.
    const rest = m.written.slice(m.heard.length);
    turn.assistant.textContent = m.heard;
    const cut = document.createElement('span');
    cut.className = 'unheard';
    cut.textContent = rest || t('interrupted');
    turn.assistant.append(cut);
    if (turn.timing) turn.assistant.append(turn.timing);
  },
  choices(m) { showChoices(m); },
  error(m) { showError(m.message); },
  notice(m) { notice(m.message); },
  pong() {},
  clear(m) { player.clear(m.id, m.at); },
};

// ---------- persona and voice pickers (hidden when there is nothing to choose) ----------

const picked = { persona: localStorage.getItem('lv.persona') || '', voice: localStorage.getItem('lv.voice') || '' };

function fillPicker(kind, names, current) {
  const select = $(kind);
  select.replaceChildren();
  for (const name of ['', ...names]) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name || t('default');
    if (!name) option.dataset.i18n = 'default';
    select.append(option);
  }
  select.value = current;
  $(`${kind}-box`).hidden = names.length === 0;
}

function showChoices(m) {
  window.lvStats.choices = m;
  fillPicker('persona', m.personas, m.persona);
  fillPicker('voice', m.voices, m.voice);
  if (m.restarted) {
    turns.clear(); // the server's conversation, and its turn numbers, start again
    notice(t('restarted'));
    return;
  }
  // A new connection starts with the server's own: ask again for what this page had chosen.
  const want = {};
  for (const kind of ['persona', 'voice']) {
    const list = kind === 'persona' ? m.personas : m.voices;
    if (picked[kind] && picked[kind] !== m[kind] && list.includes(picked[kind])) want[kind] = picked[kind];
  }
  if (Object.keys(want).length) sendConfig(want);
}

function sendConfig(fields) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'config', ...fields }));
}

function onPick(kind) {
  picked[kind] = $(kind).value;
  localStorage.setItem(`lv.${kind}`, picked[kind]);
  sendConfig({ [kind]: picked[kind] });
}

// ---------- the reply's audio: scheduled buffers, reported back ----------

const player = {
  ctx: null, out: null, analyser: null, rate: 24000,
  streamPos: 0, // output-stream samples received (the server's count, see docs)
  nextTime: 0, segments: [], // {start, end, t0, node}
  setup(ctx, rate) {
    this.ctx = ctx;
    this.rate = rate;
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.out = ctx.createGain();
    this.out.connect(this.analyser);
    this.analyser.connect(ctx.destination);
  },
  play(buffer) {
    const samples = new Int16Array(buffer);
    const stats = window.lvStats;
    stats.framesReceived += 1;
    stats.samplesReceived += samples.length;
    const start = this.streamPos;
    this.streamPos += samples.length;
    if (!this.ctx || samples.length === 0) return;
    const audio = this.ctx.createBuffer(1, samples.length, this.rate);
    const data = audio.getChannelData(0);
    for (let i = 0; i < samples.length; i++) data[i] = samples[i] / 32768;
    const node = this.ctx.createBufferSource();
    node.buffer = audio;
    node.connect(this.out);
    const t0 = Math.max(this.nextTime, this.ctx.currentTime + 0.03);
    node.start(t0);
    this.nextTime = t0 + samples.length / this.rate;
    const segment = { start, end: this.streamPos, t0, node };
    this.segments.push(segment);
    stats.scheduled += 1;
    node.onended = () => {
      if (!segment.stopped) { stats.ended += 1; stats.samplesPlayed += segment.end - segment.start; }
      this.segments = this.segments.filter((s) => s !== segment);
      this.report();
    };
  },
  position() {
    if (!this.ctx) return this.streamPos;
    const now = this.ctx.currentTime;
    for (const s of this.segments) {
      const length = s.end - s.start;
      if (now < s.t0 + length / this.rate) return s.start + Math.max(0, Math.min(length, Math.floor((now - s.t0) * this.rate)));
    }
    return this.streamPos;
  },
  report() {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'played', samples: this.position() }));
  },
  clear(id, at) {
    const played = this.position();
    for (const s of this.segments) { s.stopped = true; try { s.node.stop(); } catch (e) { /* not started */ } }
    this.segments = [];
    this.nextTime = 0;
    this.streamPos = Math.max(this.streamPos, at);
    window.lvStats.clears += 1;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'cleared', id, played }));
  },
  reset() {
    for (const s of this.segments) { s.stopped = true; try { s.node.stop(); } catch (e) { /* not started */ } }
    this.segments = [];
    this.nextTime = 0;
    this.streamPos = 0;
  },
};
setInterval(() => {
  if (player.segments.length) player.report();
  if (player.analyser && player.segments.length) {
    const data = new Float32Array(player.analyser.fftSize);
    player.analyser.getFloatTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v));
    window.lvStats.outputPeak = Math.max(window.lvStats.outputPeak, peak);
  }
}, 100);

// ---------- the microphone ----------

const mic = { ctx: null, node: null, ready: false };

let starting = null;
function startAudio() {
  if (!starting) starting = openAudio().finally(() => { starting = null; });
  return starting;
}

async function openAudio() {
  if (mic.ready) return;
  if (!window.isSecureContext || !navigator.mediaDevices) { showError(t('unsecure')); return; }
  const ctx = mic.ctx || new AudioContext();
  mic.ctx = ctx;
  if (ctx.state === 'suspended') {
    // Without a user gesture some browsers leave resume() pending rather than rejecting it.
    await Promise.race([ctx.resume().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 300))]);
  }
  if (ctx.state !== 'running') { $('start').hidden = false; return; } // needs a click first
  $('start').hidden = true;
  player.setup(ctx, (window.lvStats.hello && window.lvStats.hello.output.rate_hz) || 24000);
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    await ctx.audioWorklet.addModule('mic-worklet.js');
    const source = ctx.createMediaStreamSource(stream);
    mic.node = new AudioWorkletNode(ctx, 'mic-resampler', { processorOptions: { targetRate: 16000, frameSamples: 320 } });
    const mute = ctx.createGain();
    mute.gain.value = 0; // keeps the worklet pulled in every browser; nothing is heard
    source.connect(mic.node).connect(mute).connect(ctx.destination);
    mic.node.port.onmessage = (event) => onMicFrame(event.data);
    mic.ready = true;
    window.lvStats.micRate = ctx.sampleRate;
    setPill('state', 'listening');
  } catch (error) {
    showError(t('micDenied') + error.message);
  }
}

function onMicFrame(buffer) {
  const samples = new Int16Array(buffer);
  let sum = 0;
  for (const v of samples) sum += v * v;
  const dbfs = 10 * Math.log10(sum / samples.length / 32768 / 32768 + 1e-12);
  $('level').style.width = `${Math.max(0, Math.min(100, (dbfs + 60) * 1.8))}%`;
  window.lvStats.micFrames += 1;
  if (socket && socket.readyState === WebSocket.OPEN && socket.bufferedAmount < 1 << 20) socket.send(buffer);
}

// ---------- talk button, hands-free, text ----------

let talking = false;
function listening() { return $('handsfree').checked || talking; }
function sendListen() {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'listen', on: listening() }));
  $('talk').classList.toggle('active', talking);
  $('talk').textContent = t(talking ? 'talking' : 'talk');
  $('talk').disabled = $('handsfree').checked;
}
function setTalking(on) { if (talking !== on) { talking = on; startAudio(); sendListen(); } }

// ---------- the socket, reconnecting with backoff ----------

let socket = null;
let backoff = 500;

function connect() {
  const token = new URLSearchParams(location.search).get('token');
  const protocols = ['localvoice.v1', ...(token ? [`token.${token}`] : [])];
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  setPill('connection', 'connecting');
  const ws = new WebSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  socket = ws;
  ws.onopen = () => {
    backoff = 500;
    setPill('connection', 'open');
    showError('');
    player.reset(); // a new connection is a new conversation and a new output stream
    turns.clear(); // its turn numbers start again at 1
    dropPartial();
    ws.send(JSON.stringify({ type: 'config', playback_reports: true, partials: true }));
    sendListen();
  };
  ws.onmessage = (event) => {
    if (typeof event.data !== 'string') { player.play(event.data); return; }
    const message = JSON.parse(event.data);
    window.lvStats.events.push(message.type);
    const handle = handlers[message.type];
    if (handle) handle(message);
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    setPill('connection', 'closed');
    if (event.code === 1013) showError(t('full'));
    else if (event.code === 1008 && event.reason) showError(event.reason);
    else if (event.reason) showError(event.reason);
    const delay = backoff * (0.8 + Math.random() * 0.4);
    backoff = Math.min(backoff * 2, 15000);
    setTimeout(connect, delay);
  };
}

// ---------- a check of the resampler against an offline render (used by the browser test) ----------

window.lvResamplerCheck = async (inRate, seconds, tones) => {
  const n = Math.round(inRate * seconds);
  const ctx = new OfflineAudioContext(1, n, inRate);
  await ctx.audioWorklet.addModule('mic-worklet.js');
  const buffer = ctx.createBuffer(1, n, inRate);
  const data = buffer.getChannelData(0);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (const [hz, amplitude] of tones) v += amplitude * Math.sin((2 * Math.PI * hz * i) / inRate);
    data[i] = v;
  }
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  const node = new AudioWorkletNode(ctx, 'mic-resampler', { processorOptions: { targetRate: 16000, frameSamples: 320 } });
  const out = [];
  node.port.onmessage = (event) => { for (const v of new Int16Array(event.data)) out.push(v); };
  source.connect(node).connect(ctx.destination);
  source.start();
  await ctx.startRendering();
  await new Promise((resolve) => setTimeout(resolve, 300)); // the last frames' messages
  return out;
};

// ---------- wiring ----------

window.lvStats = {
  hello: null, events: [], replies: [], partials: [], framesReceived: 0, samplesReceived: 0, scheduled: 0, ended: 0,
  samplesPlayed: 0, clears: 0, outputPeak: 0, micFrames: 0, micRate: null,
};

document.addEventListener('DOMContentLoaded', () => {
  applyLanguage();
  $('handsfree').checked = localStorage.getItem('lv.handsfree') !== 'off';
  $('lang').onclick = () => { lang = lang === 'zh' ? 'en' : 'zh'; localStorage.setItem('lv.lang', lang); applyLanguage(); sendListen(); };
  $('start').onclick = () => startAudio();
  $('persona').onchange = () => onPick('persona');
  $('voice').onchange = () => onPick('voice');
  $('handsfree').onchange = () => {
    localStorage.setItem('lv.handsfree', $('handsfree').checked ? 'on' : 'off');
    startAudio();
    sendListen();
  };
  const talk = $('talk');
  talk.onpointerdown = (e) => { e.preventDefault(); setTalking(true); };
  talk.onpointerup = talk.onpointerleave = () => setTalking(false);
  document.addEventListener('keydown', (e) => { if (e.code === 'Space' && e.target === document.body) { e.preventDefault(); setTalking(true); } });
  document.addEventListener('keyup', (e) => { if (e.code === 'Space' && e.target === document.body) setTalking(false); });
  $('stop').onclick = () => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'interrupt' })); };
  $('typing').onsubmit = (e) => {
    e.preventDefault();
    const text = $('text').value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: 'text', text }));
    $('text').value = '';
    startAudio();
  };
  sendListen();
  connect();
  startAudio();
});
