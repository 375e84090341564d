// The microphone's resampler: the AudioContext's rate (44.1 / 48 kHz …) → 16 kHz int16 mono frames.
//
// Band-limited (windowed-sinc) interpolation on an exact rational clock: the position of output sample
// k is k · inRate / outRate input samples, kept as an integer plus a remainder, so the output rate is
// exactly 16 000 per second of input — no drift, however long the session (a rounded step of
// 2.75625 would drift; 0.15 % sounds fine and is still wrong). The taps for every phase are computed
// once: inRate/outRate reduced by their gcd has at most outRate/gcd phases.
// Frames of `frameSamples` (20 ms) are posted to the page as transferable ArrayBuffers.

const ZERO_CROSSINGS = 8; // of the output rate, each side of the centre tap
const CUTOFF = 0.45; // of the output rate: passes speech to 7.2 kHz, stops aliasing from above 8 kHz

function gcd(a, b) {
  while (b) [a, b] = [b, a % b];
  return a;
}

// Blackman window on [-1, 1].
function blackman(x) {
  if (x <= -1 || x >= 1) return 0;
  const t = (x + 1) / 2;
  return 0.42 - 0.5 * Math.cos(2 * Math.PI * t) + 0.08 * Math.cos(4 * Math.PI * t);
}

function sinc(x) {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

class MicResampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.inRate = Math.round(sampleRate); // the global of AudioWorkletGlobalScope
    this.outRate = opts.targetRate || 16000;
    this.frameSamples = opts.frameSamples || 320;
    const ratio = this.inRate / this.outRate;
    this.half = Math.max(1, Math.ceil(ZERO_CROSSINGS * Math.max(1, ratio)));
    const g = gcd(this.inRate, this.outRate);
    this.step = g; // the remainder moves in multiples of g
    const phases = this.outRate / g;
    const fc = (CUTOFF * this.outRate) / this.inRate; // cycles per input sample (≤ 0.5 downsampling)
    const cutoff = Math.min(fc, 0.45);
    const width = 2 * this.half;
    this.taps = new Array(phases);
    for (let p = 0; p < phases; p++) {
      const frac = (p * g) / this.outRate;
      const row = new Float32Array(width);
      let sum = 0;
      for (let m = 0; m < width; m++) {
        const d = frac + this.half - 1 - m; // output time minus the input sample's time
        const w = 2 * cutoff * sinc(2 * cutoff * d) * blackman(d / this.half);
        row[m] = w;
        sum += w;
      }
      for (let m = 0; m < width; m++) row[m] /= sum; // unity gain at DC for every phase
      this.taps[p] = row;
    }
    // Input history: `buf[n - base]` is input sample n. Samples before 0 are silence.
    this.buf = new Float32Array(8192);
    this.base = -this.half; // the buffer starts with `half` zeros of history
    this.count = this.half; // valid samples in buf
    this.posInt = 0; // integer part of the next output's input position
    this.posRem = 0; // remainder, in units of 1/outRate input samples
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
  }

  push(samples) {
    if (this.count + samples.length > this.buf.length) {
      const grown = new Float32Array(Math.max(this.buf.length * 2, this.count + samples.length));
      grown.set(this.buf.subarray(0, this.count));
      this.buf = grown;
    }
    this.buf.set(samples, this.count);
    this.count += samples.length;
  }

  produce() {
    const width = 2 * this.half;
    // Output k needs inputs posInt - half + 1 … posInt + half.
    while (this.posInt + this.half < this.base + this.count) {
      const row = this.taps[this.posRem / this.step];
      const first = this.posInt - this.half + 1 - this.base;
      let acc = 0;
      for (let m = 0; m < width; m++) acc += this.buf[first + m] * row[m];
      const s = Math.max(-1, Math.min(1, acc));
      this.frame[this.filled++] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
      if (this.filled === this.frameSamples) {
        const out = this.frame.buffer;
        this.port.postMessage(out, [out]);
        this.frame = new Int16Array(this.frameSamples);
        this.filled = 0;
      }
      this.posRem += this.inRate;
      this.posInt += Math.floor(this.posRem / this.outRate);
      this.posRem %= this.outRate;
    }
    // Drop history no later output needs.
    const keepFrom = this.posInt - this.half + 1 - this.base;
    if (keepFrom > 4096) {
      this.buf.copyWithin(0, keepFrom, this.count);
      this.count -= keepFrom;
      this.base += keepFrom;
    }
  }

  process(inputs) {
    const input = inputs[0];
    if (input && input.length > 0 && input[0].length > 0) {
      let mono = input[0];
      if (input.length > 1) {
        mono = new Float32Array(input[0].length);
        for (const channel of input) for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / input.length;
      }
      this.push(mono);
      this.produce();
    }
    return true;
  }
}

registerProcessor('mic-resampler', MicResampler);
