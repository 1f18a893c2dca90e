// History: the organization's calls, newest first (`GET /api/v1/calls`). A filter form maps onto the
// API's query parameters; submitting it shows the first page. Pages are keyset pages of 20 calls
// (`cursor` = the previous answer's `next_cursor`). Each row leads to the call's view. The filters
// and the page are kept while the dashboard is open, so coming back from a call finds the list as
// it was left.

import { el, append, replace, field, clock, when, notice } from "./dom.js";
import { api, ApiError } from "./api.js";

const LIMIT = 20;

// The wire names of the API's enums (actors/src/domain.rs).
const STATUSES = ["queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"];
const DIRECTIONS = ["inbound", "outbound"];
const SENTIMENTS = ["positive", "neutral", "negative", "mixed"];
const OUTCOMES = [
  "appointment_scheduled",
  "appointment_rescheduled",
  "appointment_cancelled",
  "info_request",
  "complaint",
  "unresolved",
];

const COLUMNS = ["Started", "From", "To", "Direction", "Status", "Duration", "Sentiment", "Outcome"];

/** What the view showed last: form values, the filters in force, the page cursors and the page. */
let remembered = null;

export function render(main, ctx) {
  let alive = true;
  let sequence = 0; // answers to superseded requests are dropped

  // The filters in force (as sent) and the cursor of each page seen: cursors[0] is the first page.
  let active = {};
  let cursors = [null];
  let page = 0;

  const controls = {
    status: choice("status", STATUSES),
    direction: choice("direction", DIRECTIONS),
    sentiment: choice("sentiment", SENTIMENTS),
    outcome: choice("outcome", OUTCOMES),
    agent: el("input", { type: "text", name: "agent", maxLength: 200, autocomplete: "off" }),
    q: el("input", { type: "search", name: "q", maxLength: 200, placeholder: "Words said or written" }),
    start_date: el("input", { type: "datetime-local", name: "start_date" }),
    end_date: el("input", { type: "datetime-local", name: "end_date" }),
  };
  const labels = {
    status: "Status",
    direction: "Direction",
    sentiment: "Sentiment",
    outcome: "Outcome",
    agent: "Agent",
    q: "Search",
    start_date: "Started from",
    end_date: "Started before",
  };

  const apply = el("button.primary", { type: "submit" }, "Apply filters");
  const reset = el("button", { type: "button", onclick: resetFilters }, "Reset");
  const form = el(
    "form.filters",
    { attrs: { "aria-label": "Filter calls" }, onsubmit: submit },
    el(
      "div.field-row",
      {},
      Object.keys(controls).map((name) => {
        const wrapper = field(labels[name], controls[name]);
        if (["q", "start_date", "end_date"].includes(name)) wrapper.classList.add("wide");
        return wrapper;
      }),
    ),
    el("div.actions", {}, apply, reset),
  );

  const alert = el("div.notice", { attrs: { role: "alert" } });
  const summary = el("p.summary", { attrs: { role: "status" } });

  const tbody = el("tbody");
  const table = el(
    "table.data",
    { id: "history-table" },
    el("caption", {}, "Calls, newest first"),
    el("thead", {}, el("tr", {}, COLUMNS.map((c) => el("th", { scope: "col" }, c)))),
    tbody,
  );
  const wrap = el("div.table-wrap", {}, table);

  const first = el("button", { type: "button", onclick: () => load(0) }, "First page");
  const previous = el("button", { type: "button", onclick: () => load(page - 1) }, "Previous page");
  const next = el("button", { type: "button", onclick: () => load(page + 1) }, "Next page");
  const pageLabel = el("span.page-number");
  const pager = el("nav.pager", { attrs: { "aria-label": "Pages of calls" } }, pageLabel, first, previous, next);

  append(main, [
    el(
      "div.page.page-history",
      {},
      el("h1", {}, "History"),
      form,
      alert,
      summary,
      wrap,
      pager,
    ),
  ]);

  if (remembered) {
    for (const [name, value] of Object.entries(remembered.values)) controls[name].value = value;
    ({ active, cursors, page } = remembered);
    load(page);
  } else {
    load(0);
  }

  return () => {
    alive = false;
  };

  function submit(event) {
    event.preventDefault();
    try {
      active = filters();
    } catch (error) {
      notice(alert, error.message);
      return;
    }
    cursors = [null];
    load(0);
  }

  function resetFilters() {
    for (const control of Object.values(controls)) control.value = "";
    active = {};
    cursors = [null];
    load(0);
  }

  /** The form's filters as query parameters (empty ones left out, dates in RFC 3339 UTC). */
  function filters() {
    const query = {};
    for (const name of ["status", "direction", "sentiment", "outcome"]) {
      if (controls[name].value) query[name] = controls[name].value;
    }
    for (const name of ["agent", "q"]) {
      const value = controls[name].value.trim();
      if (value) query[name] = value;
    }
    for (const name of ["start_date", "end_date"]) {
      const value = controls[name].value;
      if (!value) continue;
      const date = new Date(value);
      if (Number.isNaN(date.getTime())) throw new Error(`${labels[name]}: not a valid date and time.`);
      query[name] = date.toISOString();
    }
    return query;
  }

  async function load(index) {
    if (index < 0 || index >= cursors.length) return;
    const mine = ++sequence;
    busy(true);
    try {
      const answer = await api("/api/v1/calls", {
        query: { ...active, limit: LIMIT, cursor: cursors[index] ?? undefined },
      });
      if (!alive || mine !== sequence) return;
      page = index;
      cursors = cursors.slice(0, index + 1);
      if (answer.has_more && answer.next_cursor) cursors.push(answer.next_cursor);
      clearNotice(alert);
      show(answer);
      remembered = {
        values: Object.fromEntries(Object.entries(controls).map(([name, c]) => [name, c.value])),
        active,
        cursors,
        page,
      };
    } catch (error) {
      if (!alive || mine !== sequence) return;
      notice(alert, describe(error));
    } finally {
      if (alive && mine === sequence) busy(false);
    }
  }

  function show(answer) {
    const items = answer.items ?? [];
    const total = Number(answer.total ?? 0);
    const count = answer.total_exact === false ? `${total.toLocaleString()}+` : total.toLocaleString();
    const noun = answer.total_exact !== false && total === 1 ? "call" : "calls";
    summary.textContent = `${count} ${noun}`;
    pageLabel.textContent = `Page ${(page + 1).toLocaleString()}`;
    if (!items.length) {
      replace(
        tbody,
        el("tr.empty", {}, el("td", { colSpan: COLUMNS.length }, page ? "No more calls." : "No calls match these filters.")),
      );
    } else {
      replace(tbody, items.map(row));
    }
  }

  function row(call) {
    const href = `#/calls/${encodeURIComponent(call.id)}`;
    const tr = el(
      "tr.clickable",
      {
        dataset: { callId: call.id },
        onclick: (event) => {
          // The link handles its own clicks; a click elsewhere in the row opens the call too, unless
          // the reader was selecting text.
          if (event.target.closest("a") || String(window.getSelection?.() ?? "")) return;
          ctx.navigate(`#/calls/${call.id}`);
        },
      },
      el("td", {}, el("a", { href }, when(call.started_at))),
      el("td.tel", {}, call.from || "–"),
      el("td.tel", {}, call.to || "–"),
      el("td", {}, humanize(call.direction)),
      el("td", {}, badge("status", call.status)),
      el("td.num", {}, call.duration_seconds == null ? "–" : clock(call.duration_seconds)),
      el("td", {}, call.sentiment ? badge("sentiment", call.sentiment) : "–"),
      el("td", {}, call.outcome ? humanize(call.outcome) : "–"),
    );
    return tr;
  }

  function busy(on) {
    wrap.setAttribute("aria-busy", String(on));
    apply.disabled = on;
    first.disabled = on || page === 0;
    previous.disabled = on || page === 0;
    next.disabled = on || cursors.length <= page + 1;
  }
}

/** A select with "Any" and the enum's values. */
function choice(name, values) {
  return el(
    "select",
    { name },
    el("option", { value: "" }, "Any"),
    values.map((v) => el("option", { value: v }, humanize(v))),
  );
}

/** A small label for an enum value, with a class per value for colour. */
function badge(kind, value) {
  return el(`span.badge.${kind}-${String(value).replace(/[^a-z0-9-]/gi, "-")}`, {}, humanize(value));
}

/** "no-answer" → "No answer", "appointment_scheduled" → "Appointment scheduled". */
function humanize(value) {
  if (!value) return "–";
  const text = String(value).replace(/[-_]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function clearNotice(node) {
  node.className = "notice";
  node.textContent = "";
}

function describe(error) {
  if (error instanceof ApiError) return error.message || `The server answered ${error.status}.`;
  if (error instanceof TypeError) return "The server could not be reached.";
  return error?.message || "Something went wrong.";
}
