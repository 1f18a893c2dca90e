// The live calls board: every live call of the organization with its caller, a ticking duration,
// who is talking to the caller (AI, a supervisor barged in, a supervisor who took over), the
// supervisors on it and the last words said. The list comes from `GET /api/v1/calls/live`, then the
// live events keep it current: a call that starts appears, one that ends leaves. Rows keep their
// size as text changes (fixed columns, tabular figures), so nothing jumps while events stream in.

import { api } from "./api.js";
import { el, replace, clock, notice } from "./dom.js";

const ENDED = new Set(["completed", "busy", "failed", "no-answer", "canceled"]);

export function render(main, ctx) {
  const calls = new Map(); // id → { call, row, cells, state, last }
  const count = el("p.count", { attrs: { role: "status", "aria-live": "polite" } });
  const error = el("p", { attrs: { role: "alert" } });
  const body = el("tbody");
  const table = el(
    "table.board",
    { id: "board" },
    el("caption.sr-only", {}, "Live calls"),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ["Caller", "Duration", "Talking", "Supervisors", "Last words"].map((h) => el("th", { scope: "col" }, h)),
      ),
    ),
    body,
  );
  const empty = el("p.empty", {}, "No live calls right now.");
  replace(main, el("h1", {}, "Live calls"), count, error, el("div.table-wrap", {}, table), empty);

  let reloading = null;
  async function reload() {
    if (reloading) return reloading;
    reloading = (async () => {
      try {
        const live = await api("/api/v1/calls/live");
        const seen = new Set();
        for (const call of live.items) {
          seen.add(call.id);
          upsert(call);
        }
        for (const id of [...calls.keys()]) if (!seen.has(id)) remove(id);
        error.textContent = "";
      } catch (err) {
        notice(error, `Could not load the live calls: ${err.message}`);
      } finally {
        reloading = null;
        summarize();
      }
    })();
    return reloading;
  }

  function upsert(call) {
    let entry = calls.get(call.id);
    if (!entry) {
      const cells = {
        caller: el("td.caller"),
        duration: el("td.duration"),
        state: el("td.state"),
        supervisors: el("td.supervisors"),
        last: el("td.last-words"),
      };
      const link = el("a", { href: `#/calls/${call.id}` }, call.from_number || "unknown");
      cells.caller.append(link);
      const row = el("tr", { dataset: { callId: call.id } }, Object.values(cells));
      row.addEventListener("click", (e) => {
        if (e.target !== link) ctx.navigate(`#/calls/${call.id}`);
      });
      entry = { call, row, cells, state: "AI", last: "" };
      calls.set(call.id, entry);
      body.prepend(row);
      showState(entry);
      replace(cells.last, "…");
    }
    entry.call = call;
    const names = (call.supervisors || []).map((s) => s.supervisor?.name || s.supervisor?.id || "supervisor");
    replace(entry.cells.supervisors, names.length ? names.join(", ") : "–");
    tick(entry);
  }

  function remove(id) {
    const entry = calls.get(id);
    if (!entry) return;
    entry.row.remove();
    calls.delete(id);
  }

  function showState(entry) {
    entry.cells.state.dataset.state = entry.state;
    replace(entry.cells.state, entry.state);
  }

  function tick(entry) {
    const seconds = (Date.now() - new Date(entry.call.started_at).getTime()) / 1000;
    entry.cells.duration.textContent = clock(seconds);
  }

  function summarize() {
    const n = calls.size;
    count.textContent = `${n} live call${n === 1 ? "" : "s"}`;
    empty.hidden = n > 0;
    table.hidden = n === 0;
  }

  const unsubscribe = ctx.events?.subscribe((kind, event) => {
    if (kind === "reset") return reload();
    const id = event?.call_id;
    if (kind === "call.started") return reload();
    if (kind === "call.ended") {
      remove(id);
      return summarize();
    }
    if (kind === "call.updated" && ENDED.has(event.data?.status)) {
      remove(id);
      return summarize();
    }
    const entry = calls.get(id);
    if (kind === "call.supervisor_action") {
      if (entry) {
        const action = event.data?.metadata?.action ?? event.data?.action;
        if (action === "barge") entry.state = "AI + supervisor";
        else if (action === "takeover") entry.state = "Supervisor";
        else if (action === "unbarge" || action === "release") entry.state = "AI";
        showState(entry);
      }
      return reload(); // who supervises may have changed
    }
    if (!entry) return;
    if (kind === "call.ai_unavailable") {
      entry.state = "AI unavailable";
      showState(entry);
    } else if (kind === "call.ai_reconnected" && entry.state === "AI unavailable") {
      entry.state = "AI";
      showState(entry);
    } else if (kind === "message.created" && event.data?.message_type === "transcript") {
      const who = event.data.sender?.type === "customer" ? "Caller" : event.data.sender?.type === "ai" ? "AI" : "Agent";
      replace(entry.cells.last, el("span.speaker", {}, `${who}: `), event.data.content);
      entry.cells.last.title = event.data.content;
    }
  });

  const ticker = setInterval(() => calls.forEach(tick), 1000);
  // Supervisors joining or leaving a socket are not events: the list is read again now and then.
  const refresher = setInterval(reload, 10000);
  reload();
  return () => {
    clearInterval(ticker);
    clearInterval(refresher);
    unsubscribe?.();
  };
}
