// Audio worklets of the supervisor console (run on the audio thread).
// - `sb-player`: plays the call's audio as it arrives from the supervise socket (PCM16 frames
//   converted to float by the page), through a small jitter buffer: it waits for 60 ms before it
//   starts, and keeps at most 400 ms (the oldest is dropped: a supervisor hears the call live).
// - `sb-capture`: cuts the microphone into 20 ms PCM16 frames for the socket.

const START_MS = 60;
const MAX_MS = 400;

class Player extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; // [{ left, right, offset }]
    this.buffered = 0;
    this.playing = false;
    this.port.onmessage = (e) => {
      const { left, right } = e.data;
      this.queue.push({ left, right: right || left, offset: 0 });
      this.buffered += left.length;
      const max = (MAX_MS / 1000) * sampleRate;
      while (this.buffered > max && this.queue.length > 1) this.buffered -= this.queue.shift().left.length;
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0];
    const left = out[0];
    const right = out[1] || out[0];
    if (!this.playing && this.buffered >= (START_MS / 1000) * sampleRate) this.playing = true;
    let i = 0;
    while (this.playing && i < left.length && this.queue.length) {
      const chunk = this.queue[0];
      const n = Math.min(left.length - i, chunk.left.length - chunk.offset);
      left.set(chunk.left.subarray(chunk.offset, chunk.offset + n), i);
      if (right !== left) right.set(chunk.right.subarray(chunk.offset, chunk.offset + n), i);
      chunk.offset += n;
      i += n;
      this.buffered -= n;
      if (chunk.offset === chunk.left.length) this.queue.shift();
    }
    if (i < left.length) {
      left.fill(0, i);
      if (right !== left) right.fill(0, i);
      if (this.playing && !this.queue.length) this.playing = false; // ran dry: buffer again
    }
    return true;
  }
}

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 50);
    this.frame = new Int16Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0][0];
    if (!input) return true;
    for (let i = 0; i < input.length; i++) {
      const s = Math.max(-1, Math.min(1, input[i]));
      this.frame[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.filled === this.size) {
        // The buffer moves to the page (transferred, not copied): a new one for the next frame.
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("sb-player", Player);
registerProcessor("sb-capture", Capture);
