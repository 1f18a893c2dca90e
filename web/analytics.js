// Analytics: the organization's call figures over a period (`GET /api/v1/analytics`): totals, the
// breakdowns by status, direction and sentiment, and the time series as a bar chart drawn in inline
// SVG (calls per bucket, completed calls overlaid). Buckets are UTC hours, days or weeks (from
// Monday); the chart is redrawn to the width of its container so its text keeps a readable size.

import { el, append, replace, field, clock, notice } from "./dom.js";
import { api, ApiError } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const INTERVALS = [
  ["hour", "Hour"],
  ["day", "Day"],
  ["week", "Week"],
];

/** The last form values, kept while the dashboard is open. */
let remembered = null;

export function render(main, ctx) {
  if (ctx.role !== "admin" && ctx.role !== "supervisor") {
    append(main, [
      el("div.page.page-analytics", {}, el("h1", {}, "Analytics"), el("p", {}, "Analytics are for supervisors and admins.")),
    ]);
    return undefined;
  }

  let alive = true;
  let sequence = 0;
  let observer = null;
  let frame = 0;

  const interval = el(
    "select",
    { name: "interval" },
    INTERVALS.map(([value, label]) => el("option", { value }, label)),
  );
  interval.value = "day";
  const from = el("input", { type: "date", name: "start_date" });
  const to = el("input", { type: "date", name: "end_date" });
  const show = el("button.primary", { type: "submit" }, "Show");
  const form = el(
    "form.filters",
    { attrs: { "aria-label": "Analytics period" }, onsubmit: submit },
    el("div.field-row", {}, field("Interval", interval), field("From (UTC)", from), field("To (UTC, included)", to)),
    el("div.actions", {}, show),
    el("p.hint", {}, "Without dates: the last 30 days. Hourly figures cover at most 1,000 hours."),
  );
  const alert = el("div.notice", { attrs: { role: "alert" } });
  const period = el("p.period", { attrs: { role: "status" } });
  const results = el("div.results");

  append(main, [el("div.page.page-analytics", {}, el("h1", {}, "Analytics"), form, alert, period, results)]);

  if (remembered) {
    interval.value = remembered.interval;
    from.value = remembered.from;
    to.value = remembered.to;
  }
  load();

  return () => {
    alive = false;
    observer?.disconnect();
    cancelAnimationFrame(frame);
  };

  function submit(event) {
    event.preventDefault();
    load();
  }

  async function load() {
    let query;
    try {
      query = {
        interval: interval.value,
        start_date: from.value ? utcDay(from.value, 0) : undefined,
        end_date: to.value ? utcDay(to.value, 1) : undefined,
      };
    } catch (error) {
      notice(alert, error.message);
      return;
    }
    const mine = ++sequence;
    show.disabled = true;
    results.setAttribute("aria-busy", "true");
    try {
      const answer = await api("/api/v1/analytics", { query });
      if (!alive || mine !== sequence) return;
      alert.className = "notice";
      alert.textContent = "";
      remembered = { interval: interval.value, from: from.value, to: to.value };
      present(answer);
    } catch (error) {
      if (!alive || mine !== sequence) return;
      notice(alert, describe(error));
    } finally {
      if (alive && mine === sequence) {
        show.disabled = false;
        results.setAttribute("aria-busy", "false");
      }
    }
  }

  function present(a) {
    observer?.disconnect();
    const t = a.totals ?? {};
    const calls = Number(t.calls ?? 0);
    const share = (n) => (calls ? ` (${Math.round((n / calls) * 100)}%)` : "");
    const step = a.interval ?? interval.value;

    const totals = el(
      "dl.figures",
      {},
      figure("Calls", calls.toLocaleString()),
      figure("Completed", `${Number(t.completed ?? 0).toLocaleString()}${share(t.completed ?? 0)}`),
      figure("Failed", `${Number(t.failed ?? 0).toLocaleString()}${share(t.failed ?? 0)}`),
      figure("Total duration", clock(t.total_duration_seconds ?? 0)),
      figure("Average duration", t.average_duration_seconds == null ? "–" : clock(Math.round(t.average_duration_seconds))),
    );

    const chartFigure = el("figure.chart-figure", { id: "analytics-chart" });
    const caption = el(
      "figcaption",
      {},
      `Calls per ${step} (UTC): `,
      el("span.swatch.swatch-calls", { attrs: { "aria-hidden": "true" } }),
      " all calls, ",
      el("span.swatch.swatch-completed", { attrs: { "aria-hidden": "true" } }),
      " completed.",
    );
    const holder = el("div.chart-holder");
    append(chartFigure, [holder, caption]);
    const series = a.series ?? [];

    period.textContent = `${formatInstant(a.start_date)} to ${formatInstant(a.end_date)} (UTC, end excluded), by ${step}.`;
    replace(
      results,
      el("section.block", { attrs: { "aria-label": "Totals" } }, el("h2", {}, "Totals"), totals),
      el("section.block", { attrs: { "aria-label": "Calls over time" } }, el("h2", {}, "Over time"), chartFigure, seriesTable(series, step)),
      el(
        "section.block",
        { attrs: { "aria-label": "Breakdowns" } },
        el("h2", {}, "Breakdowns"),
        el(
          "div.breakdowns",
          {},
          breakdown("By status", "Status", a.by_status),
          breakdown("By direction", "Direction", a.by_direction),
          breakdown("By sentiment", "Sentiment", a.by_sentiment),
        ),
      ),
    );

    // Drawn at the holder's width, then again whenever that width changes.
    let drawnWidth = 0;
    const draw = () => {
      const width = Math.round(holder.clientWidth || 800);
      if (Math.abs(width - drawnWidth) < 4) return;
      drawnWidth = width;
      replace(holder, chart(series, step, width));
    };
    draw();
    if (typeof ResizeObserver === "function") {
      observer = new ResizeObserver(() => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => alive && draw());
      });
      observer.observe(holder);
    }
  }
}

/** "2024-05-10" → RFC 3339 of that UTC midnight, `days` later. */
function utcDay(value, days) {
  const date = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) throw new Error(`${value}: not a valid date.`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString();
}

function figure(label, value) {
  return el("div.figure", {}, el("dt", {}, label), el("dd", {}, value));
}

/** A small table of a breakdown map, largest first. */
function breakdown(title, heading, map) {
  const entries = Object.entries(map ?? {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const total = entries.reduce((sum, [, n]) => sum + Number(n), 0);
  const body = entries.length
    ? entries.map(([key, n]) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, humanize(key)),
          el("td.num", {}, Number(n).toLocaleString()),
          el("td.num", {}, total ? `${Math.round((n / total) * 100)}%` : "–"),
        ),
      )
    : [el("tr.empty", {}, el("td", { colSpan: 3 }, "No calls."))];
  return el(
    "div.table-wrap",
    {},
    el(
      "table.data.compact",
      {},
      el("caption", {}, title),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, heading), el("th", { scope: "col" }, "Calls"), el("th", { scope: "col" }, "Share"))),
      el("tbody", {}, body),
    ),
  );
}

/** The series as a table, folded away (the chart's figures for those who prefer them). */
function seriesTable(series, step) {
  return el(
    "details.series-data",
    {},
    el("summary", {}, "Show the figures as a table"),
    el(
      "div.table-wrap",
      {},
      el(
        "table.data.compact",
        {},
        el("caption", {}, `Calls per ${step} (UTC)`),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ["Bucket", "Calls", "Completed", "Average duration"].map((h) => el("th", { scope: "col" }, h)),
          ),
        ),
        el(
          "tbody",
          {},
          series.map((p) =>
            el(
              "tr",
              {},
              el("th", { scope: "row" }, bucketName(p.bucket_start, step)),
              el("td.num", {}, Number(p.calls).toLocaleString()),
              el("td.num", {}, Number(p.completed).toLocaleString()),
              el("td.num", {}, p.average_duration_seconds == null ? "–" : clock(Math.round(p.average_duration_seconds))),
            ),
          ),
        ),
      ),
    ),
  );
}

/** The bar chart: one `rect.bar` per bucket (height ∝ calls) with a `rect.bar-completed` over it. */
function chart(series, step, width) {
  const W = Math.max(280, width);
  const H = Math.round(Math.min(300, Math.max(200, W * 0.35)));
  const m = { top: 14, right: 24, bottom: 30, left: 44 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const n = series.length;
  const peak = series.reduce((max, p) => Math.max(max, Number(p.calls) || 0), 0);
  const top = niceCeiling(peak);
  const y = (v) => m.top + plotH - (v / top) * plotH;
  const height = (v) => {
    const h = (v / top) * plotH;
    return v > 0 ? Math.max(1, h) : 0; // a single call stays visible
  };
  const totalCalls = series.reduce((sum, p) => sum + (Number(p.calls) || 0), 0);
  const totalCompleted = series.reduce((sum, p) => sum + (Number(p.completed) || 0), 0);

  const root = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${W} ${H}`,
    width: "100%",
    preserveAspectRatio: "xMidYMid meet",
    role: "img",
    "aria-label": n
      ? `Bar chart of calls per ${step}: ${n} ${step}s from ${bucketName(series[0].bucket_start, step)} to ${bucketName(series[n - 1].bucket_start, step)}, ${totalCalls} calls, ${totalCompleted} completed, at most ${peak} in one ${step}.`
      : `Bar chart of calls per ${step}: no ${step}s in this period.`,
  });

  // Horizontal grid lines with the y-axis labels: 0, the middle and the maximum.
  const ticks = top >= 2 && Number.isInteger(top / 2) ? [0, top / 2, top] : [0, top];
  const grid = svg("g", { class: "grid", "aria-hidden": "true" });
  for (const v of ticks) {
    grid.append(
      svg("line", { x1: m.left, x2: W - m.right, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "gridline" }),
      svg("text", { x: m.left - 6, y: y(v), class: "y-label", "text-anchor": "end", "dominant-baseline": "middle" }, v.toLocaleString()),
    );
  }
  root.append(grid);

  // The bars.
  const slot = n ? plotW / n : plotW;
  const gap = slot >= 6 ? slot * 0.2 : 0;
  const barW = Math.max(0.5, slot - gap);
  const bars = svg("g", { class: "bars" });
  series.forEach((p, i) => {
    const calls = Number(p.calls) || 0;
    const completed = Math.min(calls, Number(p.completed) || 0);
    const x = m.left + i * slot + gap / 2;
    const name = bucketName(p.bucket_start, step);
    const label = `${name}: ${calls.toLocaleString()} ${calls === 1 ? "call" : "calls"}, ${completed.toLocaleString()} completed`;
    const bar = svg("rect", { class: "bar", x: fixed(x), width: fixed(barW), y: fixed(m.top + plotH - height(calls)), height: fixed(height(calls)) });
    bar.dataset.bucket = p.bucket_start;
    bar.dataset.calls = String(calls);
    bar.append(svg("title", {}, label));
    const done = svg("rect", {
      class: "bar-completed",
      x: fixed(x),
      width: fixed(barW),
      y: fixed(m.top + plotH - height(completed)),
      height: fixed(height(completed)),
    });
    done.append(svg("title", {}, label));
    bars.append(bar, done);
  });
  root.append(bars);

  // X-axis labels, thinned to what fits (at most 12).
  const room = step === "hour" ? 96 : 64;
  const most = Math.max(2, Math.min(12, Math.floor(plotW / room)));
  const every = Math.max(1, Math.ceil(n / most));
  const axis = svg("g", { class: "x-axis", "aria-hidden": "true" });
  // Labels near either edge are anchored inwards so that they are not cut off.
  const anchor = (cx) => (cx - room / 2 < 0 ? "start" : cx + room / 2 > W ? "end" : "middle");
  for (let i = 0; i < n; i += every) {
    const cx = m.left + i * slot + slot / 2;
    axis.append(
      svg("line", { x1: fixed(cx), x2: fixed(cx), y1: m.top + plotH, y2: m.top + plotH + 4, class: "tick" }),
      svg("text", { x: fixed(cx), y: m.top + plotH + 18, class: "x-label", "text-anchor": anchor(cx) }, tickName(series[i].bucket_start, step)),
    );
  }
  root.append(axis);
  return root;
}

/** 0 → 1, 7 → 8, 13 → 15, 230 → 250: a round maximum for the y axis. */
function niceCeiling(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const f of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    const candidate = Math.round(f * magnitude * 100) / 100;
    if (candidate >= value && Number.isInteger(candidate)) return candidate;
  }
  return Math.ceil(value);
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function fixed(v) {
  return Math.round(v * 100) / 100;
}

const DAY = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
const HOUR = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZone: "UTC",
});
const SHORT_DAY = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
const SHORT_HOUR = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZone: "UTC",
});

/** A bucket in full, for titles and the table: "May 10, 2024", "Week of May 6, 2024", "May 10, 2024, 14:00". */
function bucketName(iso, step) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  if (step === "hour") return HOUR.format(date);
  if (step === "week") return `Week of ${DAY.format(date)}`;
  return DAY.format(date);
}

/** A bucket on the x axis: "May 10" or "May 10, 14:00". */
function tickName(iso, step) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return (step === "hour" ? SHORT_HOUR : SHORT_DAY).format(date);
}

function formatInstant(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "–" : HOUR.format(date);
}

/** "no-answer" → "No answer", "in-progress" → "In progress". */
function humanize(value) {
  const text = String(value).replace(/[-_]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function describe(error) {
  if (error instanceof ApiError) return error.message || `The server answered ${error.status}.`;
  if (error instanceof TypeError) return "The server could not be reached.";
  return error?.message || "Something went wrong.";
}
