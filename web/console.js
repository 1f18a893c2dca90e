// The supervisor console of a live call: listen (the supervise socket's PCM16, played with Web
// Audio, mixed or caller-left/agent-right), whisper to the AI, barge in or take over with the
// microphone (getUserMedia, sent as 20 ms PCM16 frames at 16 kHz), release, hang up, and who else
// is on the call. Actions go over the socket when it is open, else over REST.

import { api, accessToken } from "./api.js";
import { el, field, replace, notice } from "./dom.js";

const RATE = 16000;

export function mount(container, call, { onEnded } = {}) {
  const status = el("p.console-status", { id: "console-status", attrs: { role: "status", "aria-live": "polite" } });
  const listen = el("button", { type: "button", id: "listen", attrs: { "aria-pressed": "false" } }, "Listen");
  const channels = el(
    "select",
    { id: "listen-channels" },
    el("option", { value: "mix" }, "Mixed"),
    el("option", { value: "stereo" }, "Caller left, agent right"),
  );
  const level = el("meter", { id: "listen-level", min: 0, max: 1, value: 0, attrs: { "aria-label": "Listening level" } });
  const whisperText = el("input", { id: "whisper-text", type: "text", maxLength: 2000, autocomplete: "off" });
  const whisperForm = el(
    "form.whisper",
    { id: "whisper-form" },
    field("Whisper to the AI (the caller does not hear it)", whisperText),
    el("button", { type: "submit", id: "whisper-send" }, "Whisper"),
  );
  const barge = el("button", { type: "button", id: "barge", attrs: { "aria-pressed": "false" } }, "Barge in");
  const takeover = el("button", { type: "button", id: "takeover", attrs: { "aria-pressed": "false" } }, "Take over");
  const release = el("button", { type: "button", id: "release", disabled: true }, "Release");
  const hangup = el("button.danger", { type: "button", id: "hangup" }, "Hang up");
  const present = el("ul.present", { id: "present" });
  const section = el(
    "section.console.card",
    { id: "console", attrs: { "aria-labelledby": "console-title" } },
    el("h2", { id: "console-title" }, "Supervisor console"),
    el("div.row", {}, listen, field("Audio", channels), level),
    whisperForm,
    el("div.row", {}, barge, takeover, release, hangup),
    status,
    el("h3", {}, "On this call"),
    present,
  );
  container.append(section);

  let socket = null;
  let opening = null;
  let audio = null; // { ctx, player, analyser, meterTimer }
  let mic = null; // { stream, source, capture }
  let speaking = null; // "barge" | "takeover" | null
  let listening = false;
  let ended = false;

  function say(text, kind = "info") {
    notice(status, text, kind);
  }

  async function ensureAudio() {
    if (audio) return audio;
    const ctx = new AudioContext({ sampleRate: RATE });
    await ctx.audioWorklet.addModule("/assets/pcm-worklet.js");
    const player = new AudioWorkletNode(ctx, "sb-player", { numberOfInputs: 0, outputChannelCount: [2] });
    const gain = ctx.createGain();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    player.connect(gain).connect(ctx.destination);
    player.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const meterTimer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length);
      level.value = Math.min(1, rms * 4);
      level.dataset.rms = rms.toFixed(4);
      level.dataset.peak = Math.max(Number(level.dataset.peak || 0), rms).toFixed(4);
    }, 100);
    audio = { ctx, player, gain, analyser, meterTimer };
    await ctx.resume();
    return audio;
  }

  async function open() {
    if (socket && socket.readyState === WebSocket.OPEN) return socket;
    if (opening) return opening;
    opening = (async () => {
      await ensureAudio();
      const params = new URLSearchParams({
        codec: "pcm16",
        rate: String(RATE),
        channels: channels.value,
        input_codec: "pcm16",
        input_rate: String(RATE),
        access_token: await accessToken(),
      });
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/api/v1/calls/${call.id}/supervise?${params}`);
      ws.binaryType = "arraybuffer";
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error("the supervise socket could not open (is the call still live?)"));
      });
      ws.onmessage = (m) => onMessage(m.data);
      ws.onclose = () => {
        if (socket === ws) socket = null;
        stopMic();
        setSpeaking(null);
        setListening(false);
        if (!ended) say("Disconnected from the call.");
      };
      socket = ws;
      refreshPresent();
      return ws;
    })();
    try {
      return await opening;
    } finally {
      opening = null;
    }
  }

  function onMessage(data) {
    if (data instanceof ArrayBuffer) {
      if (!listening || !audio) return;
      const pcm = new Int16Array(data);
      if (channels.value === "stereo") {
        const n = pcm.length / 2;
        const left = new Float32Array(n), right = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          left[i] = pcm[2 * i] / 32768;
          right[i] = pcm[2 * i + 1] / 32768;
        }
        audio.player.port.postMessage({ left, right }, [left.buffer, right.buffer]);
      } else {
        const mono = new Float32Array(pcm.length);
        for (let i = 0; i < pcm.length; i++) mono[i] = pcm[i] / 32768;
        audio.player.port.postMessage({ left: mono }, [mono.buffer]);
      }
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg.type === "ready") say("Connected to the call.");
    else if (msg.type === "ack") say(`Done: ${msg.action}.`);
    else if (msg.type === "error") say(`${msg.action}: ${msg.error?.message || "refused"}`, "error");
    else if (msg.type === "ended") finish("The call has ended.");
  }

  async function act(action, body) {
    try {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ action, ...(body || {}) }));
      } else {
        await api(`/api/v1/calls/${call.id}/${action}`, { method: "POST", body });
        say(`Done: ${action}.`);
      }
      return true;
    } catch (err) {
      say(`${action}: ${err.message}`, "error");
      return false;
    }
  }

  function setListening(on) {
    listening = on;
    listen.setAttribute("aria-pressed", String(on));
    listen.textContent = on ? "Stop listening" : "Listen";
    if (audio) audio.gain.gain.value = on ? 1 : 0;
  }

  function setSpeaking(mode) {
    speaking = mode;
    barge.setAttribute("aria-pressed", String(mode === "barge"));
    barge.textContent = mode === "barge" ? "Stop barging" : "Barge in";
    takeover.setAttribute("aria-pressed", String(mode === "takeover"));
    takeover.disabled = mode === "barge";
    barge.disabled = mode === "takeover";
    release.disabled = mode !== "takeover";
  }

  async function startMic() {
    if (mic) return;
    const { ctx } = await ensureAudio();
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
    const source = ctx.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(ctx, "sb-capture");
    capture.port.onmessage = (e) => {
      if (socket && socket.readyState === WebSocket.OPEN && speaking) socket.send(e.data);
    };
    // A node is only processed while the graph pulls it: its (silent) output goes to the speakers.
    source.connect(capture).connect(ctx.destination);
    mic = { stream, source, capture };
  }

  function stopMic() {
    if (!mic) return;
    mic.source.disconnect();
    mic.capture.disconnect();
    mic.capture.port.onmessage = null;
    mic.stream.getTracks().forEach((t) => t.stop());
    mic = null;
  }

  async function speak(mode) {
    try {
      await open();
      await startMic();
    } catch (err) {
      stopMic();
      return say(`Microphone or call unavailable: ${err.message}`, "error");
    }
    setListening(true);
    if (await act(mode)) setSpeaking(mode);
  }

  listen.addEventListener("click", async () => {
    if (listening) return setListening(false);
    try {
      await open();
      setListening(true);
    } catch (err) {
      say(err.message, "error");
    }
  });
  channels.addEventListener("change", () => {
    // The layout is chosen when the socket opens: reopen it (unless speaking into the call).
    if (socket && !speaking) {
      const wasListening = listening;
      socket.close();
      socket = null;
      if (wasListening) listen.click();
    }
  });
  whisperForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = whisperText.value.trim();
    if (!text) return;
    if (await act("whisper", { text })) whisperText.value = "";
  });
  barge.addEventListener("click", async () => {
    if (speaking === "barge") {
      if (await act("unbarge")) {
        stopMic();
        setSpeaking(null);
      }
    } else {
      await speak("barge");
    }
  });
  takeover.addEventListener("click", () => speaking !== "takeover" && speak("takeover"));
  release.addEventListener("click", async () => {
    if (await act("release")) {
      stopMic();
      setSpeaking(null);
    }
  });
  hangup.addEventListener("click", async () => {
    if (window.confirm("Hang up this call for the caller?")) await act("hangup");
  });

  async function refreshPresent() {
    try {
      const live = await api("/api/v1/calls/live");
      const mine = live.items.find((c) => c.id === call.id);
      if (!mine) return;
      const names = mine.supervisors.map((s) => s.supervisor?.name || s.supervisor?.id || "supervisor");
      replace(present, names.length ? names.map((n) => el("li", {}, n)) : el("li.muted", {}, "Nobody is listening."));
    } catch {
      // the list is a courtesy: an error here leaves the last one shown
    }
  }
  refreshPresent();
  const presentTimer = setInterval(refreshPresent, 5000);

  function finish(text) {
    if (ended) return;
    ended = true;
    say(text);
    for (const b of [listen, barge, takeover, release, hangup, whisperText, channels]) b.disabled = true;
    onEnded?.();
    teardown();
  }

  function teardown() {
    clearInterval(presentTimer);
    stopMic();
    socket?.close();
    socket = null;
    if (audio) {
      clearInterval(audio.meterTimer);
      audio.ctx.close();
      audio = null;
    }
  }

  return { ended: () => finish("The call has ended."), destroy: teardown };
}
