// Admin (admins only): the organization's users (role, disabled flag, new users), its API keys
// (list, revoke, new keys) and its own provider credentials (Twilio account SID and auth token,
// OpenAI key). Secrets the server returns once — a generated password, a new API key — are shown
// once in a marked box; credentials are write-only: the page says whether each is set, never what
// it is.

import { el, append, replace, field, when, notice } from "./dom.js";
import { api, ApiError, current } from "./api.js";

const ROLES = ["admin", "supervisor", "agent"];

export function render(main, ctx) {
  const root = el("div.page.page-admin", {}, el("h1", {}, "Admin"));
  append(main, [root]);
  if (ctx.role !== "admin") {
    append(root, [el("p", {}, "Administration is for admins only.")]);
    return undefined;
  }
  const state = { alive: true };
  append(root, [usersSection(state), keysSection(state), credentialsSection(state)]);
  return () => {
    state.alive = false;
  };
}

// ---------------------------------------------------------------------------------------------
// Users

function usersSection(state) {
  const say = messages();
  const tbody = el("tbody");
  const table = el(
    "table.data",
    { id: "users-table" },
    el("caption", {}, "Users of the organization"),
    el(
      "thead",
      {},
      el("tr", {}, ["Email", "Display name", "Role", "Status", "Created", "Access"].map((h) => el("th", { scope: "col" }, h))),
    ),
    tbody,
  );
  const once = el("div.once-holder");

  const email = el("input", { type: "email", name: "email", required: true, autocomplete: "off", maxLength: 254 });
  const displayName = el("input", { type: "text", name: "display_name", autocomplete: "off", maxLength: 200 });
  const role = roleSelect("agent");
  const password = el("input", {
    type: "password",
    name: "password",
    minLength: 12,
    autocomplete: "new-password",
    attrs: { "aria-describedby": "new-user-password-hint" },
  });
  const create = el("button.primary", { type: "submit" }, "Create user");
  const form = el(
    "form.create",
    { id: "new-user-form", attrs: { "aria-label": "New user" }, onsubmit: submit },
    el("h3", {}, "New user"),
    el(
      "div.field-row",
      {},
      field("Email", email),
      field("Display name", displayName),
      field("Role", role),
      field("Password (optional)", password),
    ),
    el("p.hint", { id: "new-user-password-hint" }, "At least 12 characters. Leave it empty to have one generated: it is shown once."),
    el("div.actions", {}, create),
  );

  const section = el(
    "section.block",
    { id: "admin-users", attrs: { "aria-labelledby": "admin-users-title" } },
    el("h2", { id: "admin-users-title" }, "Users"),
    say.alert,
    say.status,
    el("div.table-wrap", {}, table),
    once,
    form,
  );
  load();
  return section;

  async function load() {
    try {
      const users = await api("/api/v1/users");
      if (!state.alive) return;
      const list = Array.isArray(users) ? users : users?.items ?? [];
      replace(
        tbody,
        list.length ? list.map(row) : el("tr.empty", {}, el("td", { colSpan: 6 }, "No users yet.")),
      );
    } catch (error) {
      if (state.alive) say.fail(error);
    }
  }

  function row(user) {
    const self = current()?.user?.id === user.id;
    const select = roleSelect(user.role);
    select.id = `user-role-${user.id}`;
    const save = el("button", { type: "button", disabled: true }, "Save role");
    select.addEventListener("change", () => {
      save.disabled = select.value === user.role;
    });
    save.addEventListener("click", () => change({ role: select.value }, `${user.email} is now ${select.value}.`));
    const toggle = el(
      user.disabled ? "button" : "button.danger",
      {
        type: "button",
        onclick: () => {
          if (!user.disabled && !window.confirm(`Disable ${user.email}? They cannot log in, and their sessions end.`)) return;
          change({ disabled: !user.disabled }, `${user.email} is ${user.disabled ? "enabled" : "disabled"}.`);
        },
      },
      user.disabled ? "Enable" : "Disable",
    );
    if (self) {
      // An admin does not lock themselves out from here.
      select.disabled = true;
      toggle.disabled = true;
      toggle.title = "Your own account";
    }
    const tr = el(
      "tr",
      { dataset: { userId: user.id } },
      el("td", {}, user.email, self ? el("span.muted", {}, " (you)") : null),
      el("td", {}, user.display_name || "–"),
      el(
        "td",
        {},
        el(
          "div.inline",
          {},
          el("label.sr-only", { htmlFor: select.id }, `Role of ${user.email}`),
          select,
          self ? null : save,
        ),
      ),
      el("td", {}, user.disabled ? el("span.badge.disabled", {}, "Disabled") : el("span.badge.active", {}, "Active")),
      el("td", {}, when(user.created_at)),
      el("td", {}, toggle),
    );
    return tr;

    async function change(body, done) {
      save.disabled = true;
      toggle.disabled = true;
      select.disabled = true;
      try {
        const after = await api(`/api/v1/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body });
        if (!state.alive) return;
        tr.replaceWith(row(after ?? { ...user, ...body }));
        say.ok(done);
      } catch (error) {
        if (!state.alive) return;
        select.value = user.role;
        select.disabled = false;
        toggle.disabled = false;
        say.fail(error);
      }
    }
  }

  async function submit(event) {
    event.preventDefault();
    const body = {
      email: email.value.trim(),
      display_name: displayName.value.trim(),
      role: role.value,
    };
    if (password.value) body.password = password.value;
    create.disabled = true;
    try {
      const created = await api("/api/v1/users", { method: "POST", body });
      if (!state.alive) return;
      const user = created?.user ?? {};
      form.reset();
      say.ok(`${user.email ?? body.email} is created, as ${user.role ?? body.role}.`);
      if (created?.password) {
        replace(once, showOnce(`Password for ${user.email ?? body.email}`, created.password, once, "generated-password"));
      }
      load();
    } catch (error) {
      if (state.alive) say.fail(error);
    } finally {
      create.disabled = false;
      password.value = "";
    }
  }
}

// ---------------------------------------------------------------------------------------------
// API keys

function keysSection(state) {
  const say = messages();
  const tbody = el("tbody");
  const table = el(
    "table.data",
    { id: "api-keys-table" },
    el("caption", {}, "API keys (revoked ones included)"),
    el(
      "thead",
      {},
      el("tr", {}, ["Name", "Role", "Prefix", "Created", "Status", "Access"].map((h) => el("th", { scope: "col" }, h))),
    ),
    tbody,
  );
  const once = el("div.once-holder");
  const name = el("input", { type: "text", name: "name", required: true, autocomplete: "off", maxLength: 200 });
  const role = roleSelect("agent");
  const create = el("button.primary", { type: "submit" }, "Create key");
  const form = el(
    "form.create",
    { id: "new-api-key-form", attrs: { "aria-label": "New API key" }, onsubmit: submit },
    el("h3", {}, "New API key"),
    el("div.field-row", {}, field("Name", name), field("Role", role)),
    el("div.actions", {}, create),
  );
  const section = el(
    "section.block",
    { id: "admin-api-keys", attrs: { "aria-labelledby": "admin-api-keys-title" } },
    el("h2", { id: "admin-api-keys-title" }, "API keys"),
    say.alert,
    say.status,
    el("div.table-wrap", {}, table),
    once,
    form,
  );
  load();
  return section;

  async function load() {
    try {
      const keys = await api("/api/v1/api-keys");
      if (!state.alive) return;
      const list = Array.isArray(keys) ? keys : keys?.items ?? [];
      replace(tbody, list.length ? list.map(row) : el("tr.empty", {}, el("td", { colSpan: 6 }, "No API keys yet.")));
    } catch (error) {
      if (state.alive) say.fail(error);
    }
  }

  function row(key) {
    const revoked = Boolean(key.revoked_at);
    const revoke = revoked
      ? null
      : el(
          "button.danger",
          {
            type: "button",
            onclick: async () => {
              if (!window.confirm(`Revoke the API key "${key.name}"? Whatever uses it stops working at once.`)) return;
              revoke.disabled = true;
              try {
                await api(`/api/v1/api-keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
                if (!state.alive) return;
                say.ok(`The API key "${key.name}" is revoked.`);
                load();
              } catch (error) {
                if (!state.alive) return;
                revoke.disabled = false;
                say.fail(error);
              }
            },
          },
          "Revoke",
        );
    if (revoke) revoke.setAttribute("aria-label", `Revoke the API key ${key.name}`);
    return el(
      revoked ? "tr.revoked" : "tr",
      { dataset: { keyId: key.id } },
      el("td", {}, key.name),
      el("td", {}, humanize(key.role)),
      el("td", {}, key.prefix ? el("code", {}, `${key.prefix}…`) : "–"),
      el("td", {}, when(key.created_at)),
      el("td", {}, revoked ? el("span.badge.unset", {}, `Revoked ${when(key.revoked_at)}`) : el("span.badge.active", {}, "Active")),
      el("td", {}, revoke ?? "–"),
    );
  }

  async function submit(event) {
    event.preventDefault();
    const body = { name: name.value.trim(), role: role.value };
    create.disabled = true;
    try {
      const created = await api("/api/v1/api-keys", { method: "POST", body });
      if (!state.alive) return;
      form.reset();
      say.ok(`The API key "${created?.api_key?.name ?? body.name}" is created.`);
      if (created?.key) replace(once, showOnce(`API key "${created?.api_key?.name ?? body.name}"`, created.key, once, "new-api-key"));
      load();
    } catch (error) {
      if (state.alive) say.fail(error);
    } finally {
      create.disabled = false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Organization credentials

const CREDENTIALS = [
  {
    field: "twilio_account_sid",
    label: "Twilio account SID",
    secret: false,
    isSet: (view) => view?.twilio_account_sid != null,
  },
  { field: "twilio_auth_token", label: "Twilio auth token", secret: true, isSet: (view) => Boolean(view?.twilio_auth_token_set) },
  { field: "openai_api_key", label: "OpenAI API key", secret: true, isSet: (view) => Boolean(view?.openai_api_key_set) },
];

function credentialsSection(state) {
  const say = messages();
  const list = el("div.credentials");
  const section = el(
    "section.block",
    { id: "admin-credentials", attrs: { "aria-labelledby": "admin-credentials-title" } },
    el("h2", { id: "admin-credentials-title" }, "Organization credentials"),
    el(
      "p.hint",
      {},
      "Your organization's own Twilio account and OpenAI key. They are stored sealed and never shown again: this page only says whether each is set.",
    ),
    say.alert,
    say.status,
    list,
  );
  load();
  return section;

  async function load() {
    try {
      const view = await api("/api/v1/organization/credentials");
      if (state.alive) show(view);
    } catch (error) {
      if (state.alive) say.fail(error);
    }
  }

  function show(view) {
    replace(list, CREDENTIALS.map((c) => credential(c, view)));
  }

  function credential(c, view) {
    const set = c.isSet(view);
    const input = el("input", {
      type: c.secret ? "password" : "text",
      name: c.field,
      autocomplete: "off",
      spellcheck: false,
      required: true,
      maxLength: 512,
      placeholder: set ? "Replace with a new value" : "Enter a value",
    });
    input.setAttribute("autocapitalize", "off");
    if (!c.secret) {
      input.pattern = "AC[0-9a-fA-F]{32}";
      input.title = "AC followed by 32 hexadecimal digits";
    }
    const save = el("button.primary", { type: "submit" }, "Save");
    const clear = el(
      "button.danger",
      {
        type: "button",
        disabled: !set,
        onclick: () => {
          if (!window.confirm(`Clear the ${c.label}? It is removed from the organization's settings.`)) return;
          put(null, `${c.label} cleared.`);
        },
      },
      "Clear",
    );
    clear.setAttribute("aria-label", `Clear the ${c.label}`);
    const status = el(
      "p.credential-status",
      {},
      el(set ? "span.badge.active" : "span.badge.unset", { dataset: { set: String(set) } }, set ? "set" : "not set"),
      // The account SID identifies the account (the API shows it); secrets are never shown.
      !c.secret && set ? el("code.sid", {}, view.twilio_account_sid) : null,
    );
    const form = el(
      "form.credential",
      {
        dataset: { field: c.field },
        attrs: { "aria-label": c.label },
        onsubmit: (event) => {
          event.preventDefault();
          const value = input.value.trim();
          if (!value) return;
          put(value, `${c.label} saved.`);
        },
      },
      el("h3", {}, c.label),
      status,
      el("div.inline", {}, field(set ? `New ${c.label}` : c.label, input), save, clear),
    );
    return form;

    async function put(value, done) {
      save.disabled = true;
      clear.disabled = true;
      try {
        const view = await api("/api/v1/organization/credentials", { method: "PUT", body: { [c.field]: value } });
        if (!state.alive) return;
        input.value = "";
        show(view);
        say.ok(done);
      } catch (error) {
        if (!state.alive) return;
        save.disabled = false;
        clear.disabled = !set;
        say.fail(error);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

function roleSelect(selected) {
  // defaultSelected (the `selected` attribute): a form reset comes back to it, not to "admin".
  const select = el(
    "select",
    { name: "role" },
    ROLES.map((r) => el("option", { value: r, defaultSelected: r === selected }, humanize(r))),
  );
  select.value = selected;
  return select;
}

/** A secret the server returns once, in a marked box with Copy and Done buttons. */
function showOnce(title, secret, holder, id) {
  const code = el("code.secret", { id: `${id}-value` }, secret);
  const copied = el("span.muted", { attrs: { role: "status" } });
  const copy = el(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(secret);
          copied.textContent = "Copied.";
        } catch {
          // No clipboard access (plain HTTP, permissions): select the text for a manual copy.
          const range = document.createRange();
          range.selectNodeContents(code);
          const selection = window.getSelection();
          selection?.removeAllRanges();
          selection?.addRange(range);
          copied.textContent = "Selected: copy it with your keyboard.";
        }
      },
    },
    "Copy",
  );
  const done = el("button", { type: "button", onclick: () => holder.replaceChildren() }, "Done");
  const box = el(
    "div.once",
    { id, attrs: { role: "region", "aria-label": title } },
    el("p.once-title", {}, el("strong", {}, `${title}: copy it now. It will not be shown again.`)),
    code,
    el("div.actions", {}, copy, done, copied),
  );
  return box;
}

/** An alert (errors) and a status line (confirmations) for a section. */
function messages() {
  const alert = el("div.notice", { attrs: { role: "alert" } });
  const status = el("div.notice", { attrs: { role: "status" } });
  const quiet = (node) => {
    node.className = "notice";
    node.textContent = "";
  };
  return {
    alert,
    status,
    fail(error) {
      quiet(status);
      notice(alert, describe(error));
    },
    ok(text) {
      quiet(alert);
      notice(status, text, "ok");
    },
  };
}

function humanize(value) {
  const text = String(value ?? "–").replace(/[-_]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function describe(error) {
  if (error instanceof ApiError) return error.message || `The server answered ${error.status}.`;
  if (error instanceof TypeError) return "The server could not be reached.";
  return error?.message || "Something went wrong.";
}
