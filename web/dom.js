// Building the page. Everything a caller, a customer or a model said goes in as text (`textContent`
// through `el`), never as markup: nothing on this page assigns innerHTML.

/** `el("li.msg", {dataset: {start: 1.2}, onclick: f}, "text", child)`: an element with a tag, classes
 *  after dots, properties (dataset, attributes by `attrs`, event handlers `on…`) and children (strings
 *  become text nodes; null and false are skipped). */
export function el(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, v);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

/** Appends children (text for strings and numbers). */
export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** A labelled form field: `field("Email", el("input", {...}))`. */
export function field(label, control) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  return el("div.field", {}, el("label", { htmlFor: control.id }, label), control);
}

/** "3:07" or "1:02:03" from seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/** A date-time in the reader's locale. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

/** A status line for errors and confirmations (`role=status`, read by screen readers). */
export function notice(node, text, kind = "error") {
  node.className = `notice ${kind}`;
  node.textContent = text;
}
