// The dashboard's shell: sign-in, the navigation each role may use, the hash router, and the one
// live-event stream every view listens to.

import { login, logout, onSession, current } from "./api.js";
import { replace, notice } from "./dom.js";
import { LiveEvents } from "./events.js";

/** Views by route; `roles` lists who may open one (the route × role table of the API). */
const VIEWS = {
  live: { load: () => import("./board.js"), roles: ["admin", "supervisor"] },
  calls: { load: () => import("./call.js"), roles: ["admin", "supervisor", "agent"] },
  history: { load: () => import("./history.js"), roles: ["admin", "supervisor", "agent"] },
  analytics: { load: () => import("./analytics.js"), roles: ["admin", "supervisor"] },
  admin: { load: () => import("./admin.js"), roles: ["admin"] },
};

const main = document.getElementById("main");
const loginForm = document.getElementById("login");
let events = null;
let cleanup = null;
let generation = 0;

loginForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const button = document.getElementById("login-submit");
  button.disabled = true;
  try {
    await login(document.getElementById("login-email").value, document.getElementById("login-password").value);
  } catch (err) {
    notice(error, err.status === 401 ? "Wrong email or password." : err.message);
  } finally {
    button.disabled = false;
  }
});

document.getElementById("logout").addEventListener("click", () => logout());
window.addEventListener("hashchange", route);

onSession((session) => {
  const signedIn = session !== null;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  if (signedIn) {
    const name = session.user?.display_name || session.user?.email || "";
    document.getElementById("whoami").textContent = `${name} · ${session.role}`;
    document.body.dataset.role = session.role;
    for (const link of document.querySelectorAll("#nav a")) {
      const roles = link.dataset.roles?.split(" ");
      link.hidden = roles !== undefined && !roles.includes(session.role);
    }
    if (session.role !== "agent") {
      events = new LiveEvents(document.getElementById("live-status"));
      events.start();
    }
    const target = location.hash.slice(2).split("/")[0];
    if (!VIEWS[target]?.roles.includes(session.role)) {
      location.hash = session.role === "agent" ? "#/history" : "#/live";
    }
    route();
  } else {
    events?.stop();
    events = null;
    leave();
    delete document.body.dataset.role;
    loginForm.reset();
    replace(main, loginForm);
    document.getElementById("login-email").focus();
  }
});

/** Shows the view the hash names (`#/live`, `#/calls/<id>`, `#/history`, …). */
async function route() {
  const session = current();
  if (!session) return;
  const [name = "live", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = VIEWS[name];
  leave();
  const mine = ++generation;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!view || !view.roles.includes(session.role)) {
    replace(main, notFound(view ? "Your role cannot open this page." : "No such page."));
    return;
  }
  const module = await view.load();
  if (mine !== generation) return;
  replace(main);
  const ctx = { role: session.role, events, navigate: (hash) => (location.hash = hash), params: rest };
  cleanup = module.render(main, ctx) || null;
  main.focus({ preventScroll: true });
}

function leave() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
}

function notFound(text) {
  const p = document.createElement("p");
  notice(p, text);
  return p;
}
