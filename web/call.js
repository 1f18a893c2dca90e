// One call: its details, the transcript as a chat (growing live while the call lasts) with system
// events inline, notes, the analysis once the call has been analysed, and the recording, which seeks
// with HTTP Range requests: each transcript line with audio timing is a button that plays from there.
// On a live call, supervisors and admins get the console (console.js).

import { api, accessToken } from "./api.js";
import { el, field, replace, clock, when, notice } from "./dom.js";
import { mount as mountConsole } from "./console.js";

/** System events by `metadata.system_event_type`, as a person would say them. */
const EVENTS = {
  call_started: "Call started",
  call_answered: "Call answered",
  call_ended: "Call ended",
  barge_in: "The caller talked over the agent",
  ai_reconnected: "AI reconnected",
  ai_unavailable: "AI unavailable",
  supervisor_action: "Supervisor",
  dtmf: "Key pressed",
  function_called: "Tool called",
};
const SPEAKERS = { customer: "Caller", ai: "AI agent", agent: "Agent", supervisor: "Supervisor", operator: "Operator", system: "System" };

export function render(main, ctx) {
  const id = ctx.params[0];
  const heading = el("h1", {}, "Call");
  const facts = el("dl.facts", { id: "call-facts" });
  const error = el("p", { attrs: { role: "alert" } });
  const transcript = el("ol.transcript", { id: "transcript", attrs: { "aria-live": "polite", "aria-label": "Transcript" } });
  const player = el("div.player", { id: "player" });
  const analysis = el("section.analysis.card", { id: "analysis", attrs: { "aria-labelledby": "analysis-title" } });
  const noteText = el("textarea", { id: "note-text", rows: 2, maxLength: 10000 });
  const noteStatus = el("p", { attrs: { role: "status" } });
  const notes = el(
    "form.notes",
    { id: "notes-form" },
    field("Add a note", noteText),
    el("button", { type: "submit", id: "note-add" }, "Add note"),
    noteStatus,
  );
  const side = el("div.side", {}, player, analysis);
  const view = el(
    "div.call-view",
    { id: "call-view", dataset: { callId: id } },
    el("p", {}, el("a", { href: ctx.role === "agent" ? "#/history" : "#/live" }, "← Back")),
    heading,
    error,
    facts,
    el("div.columns", {}, el("section.chat.card", { attrs: { "aria-label": "Conversation" } }, el("h2", {}, "Conversation"), transcript, notes), side),
  );
  replace(main, view);

  const shown = new Map(); // message id → <li>
  let call = null;
  let audioEl = null;
  let console_ = null;
  let pending = []; // events that came before the first load
  let loaded = false;
  let poll = null;

  async function loadCall() {
    call = await api(`/api/v1/calls/${encodeURIComponent(id)}`);
    view.dataset.callId = call.id;
    view.dataset.status = call.status;
    replace(heading, `Call from ${call.from}`);
    const c = call.conversation;
    replace(
      facts,
      fact("Status", call.status.replaceAll("-", " ")),
      fact("From", call.from),
      fact("To", call.to),
      fact("Direction", call.direction),
      fact("Started", when(call.started_at)),
      fact("Duration", call.duration_seconds != null ? clock(call.duration_seconds) : live() ? "live" : "–"),
      call.agent && fact("Agent", call.agent),
      c.subject && fact("Subject", c.subject),
    );
    showAnalysis();
    showRecording();
    if (live() && ctx.role !== "agent" && !console_) {
      console_ = mountConsole(side, call, { onEnded: () => loadCall().catch(() => {}) });
    }
    if (!live() && console_) {
      console_.ended();
      console_ = null;
    }
  }

  function live() {
    return call && !call.ended_at && !["completed", "busy", "failed", "no-answer", "canceled"].includes(call.status);
  }

  function fact(name, value) {
    return [el("dt", {}, name), el("dd", {}, value)];
  }

  function showAnalysis() {
    const c = call.conversation;
    const summary = call.summary?.content || c.ai_summary;
    if (!summary && !c.sentiment && c.satisfaction_score == null && !c.outcome) {
      replace(analysis, el("h2", { id: "analysis-title" }, "Analysis"), el("p.muted", {}, live() ? "After the call." : "Not analysed yet."));
      return;
    }
    const custom = c.analysis && typeof c.analysis === "object" ? Object.entries(c.analysis) : [];
    replace(
      analysis,
      el("h2", { id: "analysis-title" }, "Analysis"),
      summary && el("p.summary", { id: "summary" }, summary),
      el(
        "dl.facts",
        {},
        c.sentiment && fact("Sentiment", c.sentiment),
        c.satisfaction_score != null && fact("Satisfaction", `${c.satisfaction_score} / 10`),
        c.outcome && fact("Outcome", c.outcome.replaceAll("_", " ")),
        custom.map(([k, v]) => fact(k.replaceAll("_", " "), typeof v === "string" ? v : JSON.stringify(v))),
      ),
    );
  }

  async function showRecording() {
    if (!call.recordings?.length) {
      replace(player, el("h2", {}, "Recording"), el("p.muted", {}, live() ? "Available when the call ends." : "No recording."));
      audioEl = null;
      return;
    }
    if (audioEl) return;
    const rec = call.recordings[0];
    audioEl = el("audio", { id: "recording", controls: true, preload: "metadata" });
    // The element fetches the file itself, with Range requests as it seeks: the short-lived access
    // token goes in the query, and is renewed when it has expired.
    const source = async () => `${rec.url || `/api/v1/calls/${call.id}/recording`}?access_token=${encodeURIComponent(await accessToken())}`;
    audioEl.src = await source();
    let renewed = 0;
    audioEl.addEventListener("error", async () => {
      if (renewed++ > 3) return;
      const at = audioEl.currentTime;
      audioEl.src = await source();
      audioEl.currentTime = at;
    });
    replace(
      player,
      el("h2", {}, "Recording"),
      audioEl,
      el("p.muted", {}, `${clock(rec.duration_ms / 1000)} · ${rec.channels === 2 ? "caller left, agent right" : "mono"}`),
      el("a", { href: "#", onclick: download }, "Download"),
    );
    for (const li of shown.values()) li.querySelector("button.seek")?.removeAttribute("disabled");
  }

  async function download(e) {
    e.preventDefault();
    const token = encodeURIComponent(await accessToken());
    const a = el("a", { href: `/api/v1/calls/${call.id}/recording?download=true&access_token=${token}` });
    a.click();
  }

  async function loadMessages() {
    let cursor;
    do {
      const page = await api(`/api/v1/calls/${call.id}/messages`, { query: { limit: 1000, cursor } });
      page.items.forEach(add);
      cursor = page.has_more ? page.next_cursor : undefined;
    } while (cursor);
  }

  function add(m) {
    if (shown.has(m.id)) return update(m);
    const li = line(m);
    shown.set(m.id, li);
    transcript.append(li);
    if (transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 120) {
      transcript.scrollTop = transcript.scrollHeight;
    }
  }

  function update(m) {
    const old = shown.get(m.id);
    if (!old) return add(m);
    const li = line(m);
    old.replaceWith(li);
    shown.set(m.id, li);
  }

  function line(m) {
    const type = m.message_type;
    const sender = m.sender?.type || "system";
    const meta = m.metadata || {};
    const li = el(`li.msg.${type}.from-${sender}`, { dataset: { id: m.id, type, sender } });
    if (type === "system") {
      const kind = meta.system_event_type || "event";
      const what = EVENTS[kind] || kind.replaceAll("_", " ");
      const said = m.content && m.content !== kind ? m.content : "";
      const supervisor = meta.supervisor?.name || meta.supervisor?.id;
      const detail = [supervisor, meta.action, meta.reason, meta.cause, meta.digit, meta.text, said]
        .filter((d) => typeof d === "string" && d)
        .join(" · ");
      li.append(el("span.event", {}, what), detail && el("span.text", {}, detail));
      li.append(el("time", { dateTime: m.timestamp }, ` · ${new Date(m.timestamp).toLocaleTimeString()}`));
      return li;
    }
    const who = SPEAKERS[sender] || sender;
    const label = type === "note" ? (meta.whisper ? `Whisper · ${m.sender?.name || who}` : `Note · ${m.sender?.name || who}`) : who;
    const start = typeof meta.audio_start_time === "number" ? meta.audio_start_time : null;
    const head = el("div.head", {}, el("span.speaker", {}, label));
    if (start !== null) {
      li.dataset.start = String(start);
      head.append(
        el(
          "button.seek",
          { type: "button", disabled: !audioEl, attrs: { "aria-label": `Play from ${clock(start)}` }, onclick: () => seek(start) },
          clock(start),
        ),
      );
    } else {
      head.append(el("time", { dateTime: m.timestamp }, new Date(m.timestamp).toLocaleTimeString()));
    }
    li.append(head, el("p.text", {}, m.content));
    if (meta.interrupted) li.append(el("p.muted", {}, `interrupted: the caller heard ${Math.round((meta.heard_ms || 0) / 100) / 10} s`));
    return li;
  }

  function seek(seconds) {
    if (!audioEl) return;
    audioEl.currentTime = seconds;
    audioEl.play().catch(() => {});
  }

  notes.addEventListener("submit", async (e) => {
    e.preventDefault();
    const content = noteText.value.trim();
    if (!content || !call) return;
    try {
      const row = await api(`/api/v1/calls/${call.id}/notes`, { method: "POST", body: { content } });
      if (row?.id) add(row);
      noteText.value = "";
      notice(noteStatus, "Note added.", "ok");
    } catch (err) {
      notice(noteStatus, err.message);
    }
  });

  function onEvent(kind, event) {
    if (kind === "reset") {
      if (loaded) loadMessages().catch(() => {});
      return;
    }
    if (!loaded) return pending.push([kind, event]);
    if (event.call_id !== call.id && event.conversation_id !== call.conversation.id) return;
    if (kind === "message.created" || kind === "message.updated") update(event.data);
    else if (kind === "message.deleted") {
      shown.get(event.data?.id)?.remove();
      shown.delete(event.data?.id);
    }
    if (kind === "call.ended" || kind === "call.updated" || kind === "conversation.analyzed") {
      loadCall().catch(() => {});
    }
  }
  const unsubscribe = ctx.events?.subscribe(onEvent);

  (async () => {
    try {
      await loadCall();
      await loadMessages();
      loaded = true;
      for (const [kind, event] of pending) onEvent(kind, event);
      pending = [];
      // Agents have no event stream: the call is read again while it lasts.
      if (!ctx.events) {
        poll = setInterval(async () => {
          if (!live()) return clearInterval(poll);
          await loadCall().catch(() => {});
          await loadMessages().catch(() => {});
        }, 3000);
      }
    } catch (err) {
      notice(error, err.status === 404 ? "No such call." : `Could not load the call: ${err.message}`);
    }
  })();

  return () => {
    unsubscribe?.();
    clearInterval(poll);
    console_?.destroy();
    audioEl?.pause();
  };
}
