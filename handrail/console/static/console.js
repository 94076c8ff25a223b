// The approval console. Plain JavaScript, no build, no dependencies: every call is to Handrail's JSON API with the
// reviewer's key in the x-api-key header (kept in sessionStorage, never in a URL). Streams are read with fetch()
// because EventSource cannot send a header. Untrusted text (tool arguments, messages) is only ever set as
// textContent, never as HTML.
"use strict";

const KEY = "handrail.apiKey";
const state = {
  key: sessionStorage.getItem(KEY),
  devMode: false,
  me: null, // GET /auth/me: {user_id, is_admin, dev_mode}
  tools: new Map(), // name -> ToolInfo
  pending: new Map(), // approval_id -> Approval (status pending)
  feed: null, // AbortController of the approvals stream
  decided: new Set(), // ids decided since this subscription began: a list read meanwhile may still hold them
  epoch: 0, // one per subscription to the stream: what the feed brought before it may be stale
  view: null, // the current view's AbortController (its run streams)
  booted: false,
};

// --- helpers ---------------------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

// replaceChildren() would write a null child as the text "null": leave the absent ones out.
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

function headers(extra) {
  const h = { Accept: "application/json", ...(extra || {}) };
  if (state.key) h["x-api-key"] = state.key;
  return h;
}

async function api(path, options) {
  const opts = options || {};
  const init = { method: opts.method || "GET", headers: headers(opts.body ? { "Content-Type": "application/json" } : {}) };
  if (opts.body) init.body = JSON.stringify(opts.body);
  if (opts.signal) init.signal = opts.signal;
  const response = await fetch(path, init);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
  if (!response.ok) {
    const detail = body && typeof body === "object" && typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
    if (response.status === 401 && !opts.noSignIn) signOut(detail);
    throw new ApiError(response.status, detail, body);
  }
  return body;
}

// Server-sent events over fetch: calls onEvent(event, data) for each frame until the stream ends or is aborted.
async function sse(path, signal, onEvent) {
  const response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal });
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    if (response.status === 401) signOut(detail);
    throw new ApiError(response.status, detail, null);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue;
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      let parsed;
      try { parsed = JSON.parse(data.join("\n")); } catch (_) { parsed = data.join("\n"); }
      onEvent(event, parsed);
    }
  }
}

function ago(iso) {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  return `${span(Math.max(0, seconds))} ago`;
}

function until(iso) {
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  return seconds <= 0 ? "expired" : `expires in ${span(seconds)}`;
}

function span(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function announce(text) {
  $("announce").textContent = text;
}

function badge(kind, value, id) {
  return el("span", { class: `badge ${kind}-${value}`, text: value, id });
}

function setStatus(approval) {
  $("approval-title").textContent = `${approval.tool}: ${approval.status === "pending" ? "waiting for your decision" : approval.status}`;
  const shown = $("approval-status");
  if (shown) shown.replaceWith(badge("status", approval.status, "approval-status"));
  if (approval.status !== "pending") $("decide-heading").hidden = true;
}

function short(id) {
  return String(id).slice(0, 8);
}

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "string" ? part : part.text || "")).join("");
  return JSON.stringify(content);
}

// --- sign-in -----------------------------------------------------------------------------------------------------

async function boot() {
  try {
    state.me = await api("/auth/me", { noSignIn: true });
    const tools = await api("/tools", { noSignIn: true });
    state.tools = new Map(tools.map((t) => [t.name, t]));
    state.devMode = state.me.dev_mode;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      const refused = state.key ? `That key was not accepted: ${error.detail}` : "";
      state.key = null;
      sessionStorage.removeItem(KEY);
      showSignIn(refused);
      return;
    }
    showFatal(error);
    return;
  }
  state.booted = true;
  $("identity").textContent = state.devMode
    ? "Dev mode (no API keys configured): local-dev"
    : `Signed in as ${state.me.user_id}${state.me.is_admin ? " (admin: every user's approvals)" : ""}`;
  $("sign-out").hidden = state.devMode;
  fillToolFilter();
  startFeed();
  route();
}

function showSignIn(message) {
  stopFeed();
  state.booted = false;
  if (state.view) state.view.abort();
  showView("signin");
  $("signin-error").textContent = message || "";
  $("signin-key").value = "";
  $("signin-key").focus();
}

function signOut(message) {
  state.key = null;
  sessionStorage.removeItem(KEY);
  state.pending.clear();
  $("identity").textContent = "";
  $("sign-out").hidden = true;
  showSignIn(message);
}

function showFatal(error) {
  showView("missing");
  $("missing-title").textContent = "The console cannot reach Handrail";
  $("missing-text").textContent = String(error.message || error);
}

// --- the live inbox ----------------------------------------------------------------------------------------------

function stopFeed() {
  if (state.feed) state.feed.abort();
  state.feed = null;
  $("live").hidden = true;
}

function setLive(up) {
  $("live").hidden = false;
  $("live").classList.toggle("down", !up);
  $("live-text").textContent = up ? "Live" : "Reconnecting…";
}

function startFeed() {
  stopFeed();
  const controller = new AbortController();
  state.feed = controller;
  (async () => {
    let wait = 500;
    while (!controller.signal.aborted) {
      try {
        await sse("/approvals/stream", controller.signal, (event, data) => {
          if (event === "metadata") {
            setLive(true);
            wait = 500;
            state.epoch += 1;
            state.decided = new Set();
            loadPending(controller.signal, state.epoch);
          } else if (event === "approval") {
            applyChange(data);
          }
        });
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status === 401) return;
      }
      if (controller.signal.aborted) return;
      setLive(false);
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 10000);
    }
  })();
}

// The list as it is now, plus what this subscription's events brought meanwhile (an approval created while the
// list was read); anything older that the list lacks was decided while the stream was down.
async function loadPending(signal, epoch) {
  try {
    const rows = await api("/approvals?status=pending&limit=200", { signal });
    const listed = new Set(rows.map((r) => r.approval_id));
    for (const [id, item] of [...state.pending]) {
      if (!listed.has(id) && item.epoch !== epoch) state.pending.delete(id);
    }
    for (const row of rows) {
      if (!state.pending.has(row.approval_id) && !state.decided.has(row.approval_id)) state.pending.set(row.approval_id, { ...row, epoch });
    }
    $("inbox-error").textContent = "";
  } catch (error) {
    if (signal.aborted) return;
    $("inbox-error").textContent = `Could not load the approvals: ${error.message}`;
  }
  renderInbox();
}

function applyChange(change) {
  const approval = change.approval;
  if (approval.status === "pending") {
    const isNew = !state.pending.has(approval.approval_id);
    state.pending.set(approval.approval_id, { ...approval, epoch: state.epoch, fresh: isNew });
    if (isNew) announce(`New approval waiting: ${approval.tool}, ${approval.preview}`);
  } else {
    state.pending.delete(approval.approval_id);
    state.decided.add(approval.approval_id);
  }
  renderInbox();
  window.dispatchEvent(new CustomEvent("approval-changed", { detail: approval }));
}

function fillToolFilter() {
  const select = $("filter-tool");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "All tools" }));
  for (const tool of state.tools.values()) {
    if (tool.requires_approval) select.append(el("option", { value: tool.name, text: tool.name }));
  }
  select.value = chosen;
}

function renderInbox() {
  const all = [...state.pending.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const tool = $("filter-tool").value;
  const risk = $("filter-risk").value;
  const shown = all.filter((a) => (!tool || a.tool === tool) && (!risk || a.risk === risk));
  const count = $("inbox-count");
  count.hidden = all.length === 0;
  count.textContent = String(all.length);
  count.setAttribute("aria-label", `${all.length} pending`);
  const list = $("inbox-list");
  list.replaceChildren(
    ...shown.map((a) => {
      const card = el(
        "a",
        { class: `card${a.fresh ? " fresh" : ""}`, href: `#/approvals/${encodeURIComponent(a.approval_id)}`, "data-approval-id": a.approval_id },
        el("div", { class: "row" }, el("span", { class: "tool", text: a.tool }), badge("risk", a.risk), el("span", { class: "meta", text: `from ${a.user_id}` })),
        el("p", { class: "preview", text: a.preview }),
        a.purpose ? el("p", { class: "meta", text: `Step: ${a.purpose}` }) : null,
        el("p", { class: "meta" }, el("time", { datetime: a.created_at, title: when(a.created_at), text: ago(a.created_at) }), " · ",
          el("time", { datetime: a.expires_at, title: when(a.expires_at), text: until(a.expires_at) })),
      );
      a.fresh = false;
      return el("li", {}, card);
    }),
  );
  $("inbox-empty").hidden = all.length !== 0;
  $("inbox-filtered").hidden = all.length === 0 || shown.length !== 0;
}

// --- one approval ------------------------------------------------------------------------------------------------

async function showApproval(id, signal) {
  showView("approval");
  const body = $("approval-body");
  body.replaceChildren(el("p", { class: "meta", text: "Loading…" }));
  let approval;
  try {
    approval = await api(`/approvals/${encodeURIComponent(id)}`, { signal });
  } catch (error) {
    if (error.status === 404) return showMissing(`No approval ${id} that you may see. It may belong to another user.`);
    body.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
    return;
  }
  const tool = state.tools.get(approval.tool) || (await api(`/tools/${encodeURIComponent(approval.tool)}`, { signal }).catch(() => null));
  let thread = null;
  try {
    thread = await api(`/threads/${approval.thread_id}/state`, { signal });
  } catch (_) { /* the page still shows the call */ }
  if (signal.aborted) return;
  document.title = `${approval.tool} · Approvals · Handrail`;
  fill(body,
    el("div", { class: "row" }, badge("risk", approval.risk), " ", badge("status", approval.status, "approval-status"),
      el("span", { class: "meta", text: ` asked by ${approval.requested_by}, ${ago(approval.created_at)} · ${until(approval.expires_at)}` })),
    approval.purpose ? el("p", {}, el("strong", { text: "Plan step: " }), approval.purpose) : null,
    el("h2", { text: "What it would do" }),
    preview(approval, approval.args),
    el("div", { id: "decision-area" }),
    el("h2", { id: "decide-heading", text: "Decide" }),
    decisionPanel(approval, tool),
    el("div", { id: "run-progress", "aria-live": "polite" }),
    el("h2", { text: "The conversation so far" }),
    el("div", { id: "conversation" }, conversation(thread)),
    el("h2", { text: "Steps already taken" }),
    el("div", { id: "steps" }, steps(thread)),
    el("p", {}, el("a", { href: `#/threads/${approval.thread_id}`, text: "The thread's timeline →" })),
  );
  setStatus(approval);
  if (approval.status !== "pending") showDecided(approval, false);
  const onChange = (event) => {
    const changed = event.detail;
    const area = $("decision-area");
    if (changed.approval_id === approval.approval_id && changed.status !== "pending" && !area.dataset.mine && !area.dataset.busy) {
      showDecided(changed, true);
    }
  };
  window.addEventListener("approval-changed", onChange);
  signal.addEventListener("abort", () => window.removeEventListener("approval-changed", onChange));
}

function preview(approval, args) {
  if (approval.tool === "send_email" && args && typeof args === "object") {
    return el("div", { class: "email", role: "group", "aria-label": "Email preview" },
      el("dl", {}, el("dt", { text: "To" }), el("dd", { "data-preview": "to", text: args.to || "" }),
        el("dt", { text: "Subject" }), el("dd", { "data-preview": "subject", text: args.subject || "" })),
      el("pre", { class: "body", "data-preview": "body", text: args.body || "" }));
  }
  return el("div", {}, el("p", { class: "plain-preview", text: approval.preview }),
    el("details", {}, el("summary", { text: "Arguments (JSON)" }), el("pre", { class: "json", text: JSON.stringify(args, null, 2) })));
}

function decisionPanel(approval, tool) {
  const schema = (tool && tool.args_schema) || { properties: {}, required: [] };
  const form = el("form", { id: "decision-form", novalidate: true, "aria-label": "Arguments" });
  const fields = [];
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const field = fieldFor(name, prop, (schema.required || []).includes(name), approval.args[name]);
    fields.push(field);
    form.append(field.wrap);
  }
  form.append(el("p", { id: "form-error", class: "error", role: "alert" }));
  const approve = el("button", { type: "button", class: "primary", id: "approve", text: "Approve as planned" });
  const edit = el("button", { type: "submit", id: "approve-edited", text: "Approve with my edits" });
  form.append(el("div", { class: "actions" }, approve, edit));
  const feedback = el("textarea", { id: "feedback", "aria-describedby": "feedback-hint" });
  const reject = el("button", { type: "button", class: "danger", id: "reject", text: "Reject" });
  const rejectBox = el("div", { class: "field" },
    el("label", { for: "feedback", text: "Feedback for the agent (when rejecting)" }),
    el("p", { id: "feedback-hint", class: "hint", text: "Say why, or what to do instead; the agent reads it and the final answer reflects it." }),
    feedback, el("div", { class: "actions" }, reject));
  const panel = el("div", { id: "decision-panel" }, form, rejectBox);
  const buttons = [approve, edit, reject];

  // The preview follows the edits, so the reviewer sees the email that would leave.
  form.addEventListener("input", () => {
    for (const f of fields) {
      const shown = document.querySelector(`[data-preview="${CSS.escape(f.name)}"]`);
      if (shown) shown.textContent = f.input.type === "checkbox" ? String(f.input.checked) : f.input.value;
      if (f.input.getAttribute("aria-invalid") === "true" && f.input.checkValidity()) setFieldError(f, "");
    }
  });

  const decide = async (payload) => {
    for (const b of buttons) b.disabled = true;
    $("form-error").textContent = "";
    // Our own decision comes back on the live feed too, maybe before this answer: it is not someone else's.
    $("decision-area").dataset.busy = "1";
    try {
      const decided = await api(`/approvals/${encodeURIComponent(approval.approval_id)}`, { method: "POST", body: payload });
      $("decision-area").dataset.mine = "1";
      panel.hidden = true;
      showOutcome(decided, `Your decision was recorded: ${decided.status}.`);
      followRun(decided);
    } catch (error) {
      for (const b of buttons) b.disabled = false;
      delete $("decision-area").dataset.busy;
      if (error.status === 409) {
        panel.hidden = true;
        const current = await api(`/approvals/${encodeURIComponent(approval.approval_id)}`).catch(() => null);
        showDecided(current || approval, true, error.detail);
      } else if (error.status === 400 || error.status === 422) {
        showServerErrors(fields, error.detail);
      } else {
        $("form-error").textContent = error.message;
      }
    }
  };

  approve.addEventListener("click", () => decide({ decision: "approve" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let firstBad = null;
    for (const f of fields) {
      const message = browserCheck(f);
      setFieldError(f, message);
      if (message && !firstBad) firstBad = f;
    }
    if (firstBad) {
      $("form-error").textContent = "Fix the highlighted fields; nothing was sent.";
      firstBad.input.focus();
      return;
    }
    const args = {};
    for (const f of fields) {
      const value = f.read();
      if (value !== undefined) args[f.name] = value;
    }
    decide({ decision: "edit", args });
  });
  reject.addEventListener("click", () => {
    const text = feedback.value.trim();
    decide(text ? { decision: "reject", feedback: text } : { decision: "reject" });
  });
  if (approval.status !== "pending") panel.hidden = true;
  return panel;
}

// One form field from one JSON-schema property: the browser checks what the schema says (required, pattern,
// lengths, bounds, enums); the server checks again and its message lands next to the field.
function fieldFor(name, prop, required, value) {
  const schema = prop.anyOf ? prop.anyOf.find((p) => p.type !== "null") || prop : prop;
  const id = `arg-${name}`;
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  let input;
  let read;
  if (schema.enum) {
    input = el("select", { id, name }, schema.enum.map((v) => el("option", { value: v, text: v })));
    input.value = value ?? "";
    read = () => input.value;
  } else if (schema.type === "boolean") {
    input = el("input", { id, name, type: "checkbox" });
    input.checked = Boolean(value);
    read = () => input.checked;
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", { id, name, type: "number", step: schema.type === "integer" ? "1" : "any", min: schema.minimum, max: schema.maximum, required });
    input.value = value ?? "";
    read = () => (input.value === "" ? undefined : Number(input.value));
  } else if (schema.type === "string") {
    const long = (schema.maxLength || 0) > 300 || name === "body";
    input = long ? el("textarea", { id, name, rows: 8 }) : el("input", { id, name, type: "text", autocomplete: "off", spellcheck: "false" });
    if (schema.pattern) input.setAttribute("pattern", schema.pattern);
    if (schema.minLength !== undefined) input.setAttribute("minlength", schema.minLength);
    if (schema.maxLength !== undefined) input.setAttribute("maxlength", schema.maxLength);
    if (required) input.required = true;
    input.value = value ?? "";
    read = () => input.value;
  } else {
    input = el("textarea", { id, name, rows: 4, class: "mono" });
    input.value = JSON.stringify(value ?? null, null, 2);
    read = () => JSON.parse(input.value);
  }
  input.setAttribute("aria-describedby", `${hintId} ${errorId}`);
  const error = el("p", { id: errorId, class: "error", role: "alert" });
  const wrap = el("div", { class: "field" },
    el("label", { for: id, text: `${schema.title || prop.title || name}${required ? "" : " (optional)"}` }),
    el("p", { id: hintId, class: "hint", text: prop.description || schema.description || "" }),
    input, error);
  return { name, input, error, wrap, read, schema };
}

function browserCheck(field) {
  const input = field.input;
  if (!input.checkValidity()) {
    if (input.validity.patternMismatch) return `Not a valid ${field.name}: it must match ${field.schema.pattern}`;
    return input.validationMessage;
  }
  if (input.classList.contains("mono")) {
    try { JSON.parse(input.value); } catch (_) { return "Not valid JSON"; }
  }
  if (input.tagName === "INPUT" && input.type === "text" && field.schema.pattern) {
    // The browser applies `pattern` with the `v` flag; the server applies it as written. Check as the server does.
    try { if (!new RegExp(field.schema.pattern).test(input.value)) return `Not a valid ${field.name}: it must match ${field.schema.pattern}`; } catch (_) { /* leave it to the server */ }
  }
  return "";
}

function setFieldError(field, message) {
  field.error.textContent = message;
  if (message) field.input.setAttribute("aria-invalid", "true");
  else field.input.removeAttribute("aria-invalid");
}

// "invalid resume for approval …: edited arguments are invalid: invalid arguments for send_email: to: String should
// match pattern …; subject: …" → each message next to its field; the whole text above the buttons.
function showServerErrors(fields, detail) {
  let placed = false;
  const marker = detail.match(/invalid arguments for [^:]+: (.*)$/s);
  if (marker) {
    for (const part of marker[1].split("; ")) {
      const m = part.match(/^([\w.]+): (.*)$/s);
      const field = m && fields.find((f) => f.name === m[1].split(".")[0]);
      if (field) {
        setFieldError(field, `Server: ${m[2]}`);
        if (!placed) field.input.focus();
        placed = true;
      }
    }
  }
  $("form-error").textContent = `The server refused the decision; nothing was sent: ${detail}`;
}

function showOutcome(approval, headline) {
  setStatus(approval);
  const area = $("decision-area");
  const decision = approval.decision || {};
  area.replaceChildren(
    el("div", { class: "decision", role: "status" },
      el("p", {}, el("strong", { text: headline })),
      el("p", { class: "meta", text: `Decided by ${approval.decided_by} at ${when(approval.decided_at)}.` }),
      decision.feedback ? el("p", { text: `Feedback: ${decision.feedback}` }) : null,
      approval.decided_args && approval.status === "edited" ? el("div", {}, el("p", { text: "Approved with these arguments:" }), preview(approval, approval.decided_args)) : null),
  );
}

function showDecided(approval, live, detail) {
  const panel = $("decision-panel");
  if (panel) panel.hidden = true;
  setStatus(approval);
  $("decision-area").replaceChildren(
    el("div", { class: "decision conflict", role: "alert" },
      el("p", {}, el("strong", { text: `Already decided by ${approval.decided_by || "someone else"}` }),
        ` (${approval.status}${approval.decided_at ? `, ${when(approval.decided_at)}` : ""}).`),
      detail ? el("p", { class: "meta", text: detail }) : null,
      live ? el("p", { class: "meta", text: "Nothing you entered was sent." }) : null,
      approval.resume_run_id ? el("p", {}, el("a", { href: `#/threads/${approval.thread_id}`, text: "Follow the run in the thread's timeline →" })) : null),
  );
}

// After a decision: the resumed run's progress, then its final answer.
async function followRun(decided) {
  const box = $("run-progress");
  const run = decided.run;
  const progress = el("ol", { class: "chat", "aria-label": "Run progress" });
  const status = el("p", { class: "meta", text: "The run is resuming…" });
  box.replaceChildren(el("h2", { text: "What happens next" }), status, progress);
  const signal = state.view ? state.view.signal : undefined;
  let last = null;
  const seen = new Set();
  try {
    await sse(`/threads/${run.thread_id}/runs/${run.run_id}/stream`, signal, (event, data) => {
      if (event === "values" && data && typeof data === "object") {
        last = data;
        status.textContent = "Running…";
        for (const obs of data.observations || []) {
          const key = `${obs.step}:${obs.call_id}:${obs.status}`;
          if (seen.has(key)) continue;
          seen.add(key);
          progress.append(el("li", { class: "tool" }, el("span", { class: "role", text: `Step ${obs.step + 1}: ${obs.tool} — ${obs.status}${obs.ok ? "" : " (not ok)"}` }),
            obs.error || (obs.data !== undefined ? summarize(obs.data) : "")));
        }
      } else if (event === "error") {
        status.textContent = `The run failed: ${data && data.message ? data.message : JSON.stringify(data)}`;
      }
    });
  } catch (error) {
    if (signal && signal.aborted) return;
  }
  // The conversation and the steps as they are now, the answer included.
  const threadState = await api(`/threads/${run.thread_id}/state`).catch(() => null);
  if (threadState) {
    if ($("conversation")) fill($("conversation"), conversation(threadState));
    if ($("steps")) fill($("steps"), steps(threadState));
    if (!last || !last.final_answer) last = threadState.values || last;
  }
  const finished = await api(`/threads/${run.thread_id}/runs/${run.run_id}`).catch(() => null);
  status.textContent = finished ? `The run ended: ${finished.status}.` : "The run ended.";
  if (last && last.final_answer) {
    box.append(el("h2", { text: "Final answer" }), el("div", { class: "answer", id: "final-answer", text: last.final_answer }));
  } else {
    const next = await api(`/approvals?status=pending&thread_id=${encodeURIComponent(run.thread_id)}`).catch(() => []);
    box.append(next.length
      ? el("p", { class: "decision" }, "The run paused again: ", el("a", { href: `#/approvals/${encodeURIComponent(next[0].approval_id)}`, text: `${next[0].tool} waits for a decision →` }))
      : el("p", { text: "The run has no final answer yet; " }, el("a", { href: `#/threads/${run.thread_id}`, text: "see the thread" })));
  }
  announce("The run finished.");
}

function summarize(data) {
  const text = typeof data === "string" ? data : JSON.stringify(data);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function conversation(thread) {
  const messages = (thread && thread.values && thread.values.messages) || [];
  if (!messages.length) return el("p", { class: "meta", text: "No messages to show." });
  return el("ol", { class: "chat", "aria-label": "Conversation" },
    messages.map((m) => {
      const role = m.type === "human" ? "User" : m.type === "ai" ? "Agent" : m.type === "tool" ? `Tool ${m.name || ""}` : m.type;
      return el("li", { class: m.type }, el("span", { class: "role", text: role }), textOf(m.content));
    }));
}

function steps(thread) {
  const values = (thread && thread.values) || {};
  const observations = values.observations || [];
  const plan = values.plan || [];
  if (!observations.length && !plan.length) return el("p", { class: "meta", text: "No step has run yet." });
  return el("div", { class: "table-wrap" },
    el("table", {},
      el("caption", { class: "visually-hidden", text: "Plan steps and their results" }),
      el("thead", {}, el("tr", {}, ["#", "Tool", "Purpose", "Status", "Result"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, plan.map((step, i) => {
        const obs = observations.find((o) => o.step === i);
        return el("tr", {},
          el("td", { text: String(i + 1) }), el("td", { class: "mono", text: step.tool }), el("td", { text: step.purpose || "" }),
          el("td", {}, obs ? el("span", { class: `badge ${obs.ok ? "good" : "bad"}`, text: obs.status }) : "not yet"),
          el("td", { text: obs ? obs.error || summarize(obs.data) : "" }));
      }))));
}

// --- a thread's timeline -----------------------------------------------------------------------------------------

async function showThread(id, signal) {
  showView("thread");
  const body = $("thread-body");
  body.replaceChildren(el("p", { class: "meta", text: "Loading…" }));
  let timeline;
  let current = null;
  try {
    timeline = await api(`/threads/${encodeURIComponent(id)}/timeline`, { signal });
    current = await api(`/threads/${encodeURIComponent(id)}/state`, { signal }).catch(() => null);
  } catch (error) {
    if (error.status === 404) return showMissing(`No thread ${id} that you may see.`);
    body.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
    return;
  }
  $("thread-title").textContent = `Thread ${short(timeline.thread_id)}`;
  const values = (current && current.values) || {};
  const waiting = timeline.approvals.filter((a) => a.status === "pending");
  fill(body,
    el("p", {}, badge("status", timeline.status), el("span", { class: "meta", text: ` of ${timeline.user_id}, started ${when(timeline.created_at)}, updated ${ago(timeline.updated_at)}` })),
    waiting.length ? el("p", {}, "Waiting: ", waiting.map((a) => el("a", { href: `#/approvals/${a.approval_id}`, text: `${a.tool} (${short(a.approval_id)}) ` }))) : null,
    values.final_answer ? el("div", {}, el("h2", { text: "Current answer" }), el("div", { class: "answer", text: values.final_answer })) : null,
    el("h2", { text: "Runs" }),
    timeline.runs.length ? el("ol", { class: "cards" }, timeline.runs.map(runCard)) : el("p", { class: "meta", text: "No runs." }),
    el("h2", { text: "Approvals" }),
    timeline.approvals.length
      ? el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Approval", "Tool", "Status", "Decided by", "When"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, timeline.approvals.map((a) => el("tr", {},
          el("td", {}, el("a", { href: `#/approvals/${a.approval_id}`, class: "mono", text: short(a.approval_id) })),
          el("td", { class: "mono", text: a.tool }), el("td", {}, badge("status", a.status)),
          el("td", { text: a.decided_by || "—" }), el("td", { text: when(a.decided_at || a.created_at) }))))))
      : el("p", { class: "meta", text: "No approvals on this thread." }),
    el("h2", { text: "Current state" }),
    el("details", {}, el("summary", { text: "The thread's values (JSON)" }), el("pre", { class: "json", text: JSON.stringify(values, null, 2) })),
  );
}

function runCard(run) {
  const duration = run.started_at && run.ended_at ? `${Math.round(new Date(run.ended_at) - new Date(run.started_at))} ms` : "";
  return el("li", { class: "card run" },
    el("h3", {}, el("span", { class: "mono", text: `Run ${short(run.run_id)} ` }), badge("status", run.status),
      run.paused ? el("span", { class: "meta", text: " paused for approval" }) : null),
    el("p", { class: "meta" }, `${when(run.created_at)}${duration ? ` · ${duration}` : ""}`,
      run.resumes_approval ? ` · carries out approval ${short(run.resumes_approval)}` : "",
      /^https?:\/\//.test(run.trace_url || "") ? el("span", {}, " · ", el("a", { href: run.trace_url, target: "_blank", rel: "noopener noreferrer", text: "Langfuse trace" })) : null),
    run.error ? el("p", { class: "error", text: `${run.error.error || "Error"}: ${run.error.message || ""}` }) : null,
    run.nodes.length
      ? el("p", { class: "nodes" }, el("span", { class: "label", text: "Nodes: " }),
        el("span", { class: "mono", text: run.nodes.map((n) => `${n.node}${n.paused ? " (paused)" : n.latency_ms === null ? "" : ` ${n.latency_ms} ms`}`).join(" → ") }))
      : null,
    run.steps.length
      ? el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Node", "Call", "Result", "Latency"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, run.steps.map((s) => el("tr", {},
          el("td", { class: "mono", text: s.node || "—" }), el("td", { class: "mono", text: `${s.kind === "tool" ? "tool " : "model "}${s.name}` }),
          el("td", {}, el("span", { class: `badge ${s.ok ? "good" : "bad"}`, text: s.ok ? "ok" : "error" })),
          el("td", { text: s.latency_ms === null ? "" : `${s.latency_ms} ms` }))))))
      : null,
    run.events.length
      ? el("ul", {}, run.events.map((e) => el("li", {}, eventText(e))))
      : null);
}

function eventText(e) {
  const detail = e.detail || {};
  if (e.kind === "approval_requested") return `${when(e.at)}: approval asked for ${e.tool} by ${e.actor}`;
  if (e.kind === "approval_decided") return `${when(e.at)}: ${e.tool} ${e.outcome} by ${detail.decided_by || e.actor}${detail.feedback ? ` (feedback: ${detail.feedback})` : ""}`;
  if (e.kind === "tool_call") return `${when(e.at)}: ${e.tool} ran: ${e.outcome}${detail.error ? ` (${detail.error})` : ""}`;
  return `${when(e.at)}: ${e.kind}${e.tool ? ` ${e.tool}` : ""}${e.outcome ? `: ${e.outcome}` : ""}`;
}

// --- memories (GET and DELETE /memories) ----------------------------------------------------------------------------

async function showMemories(userId, signal) {
  document.title = "Memories · Handrail";
  showView("memories");
  const own = state.me.user_id;
  const whose = userId || own;
  const query = whose === own ? "" : `?${new URLSearchParams({ user_id: whose })}`;
  $("memories-user").hidden = !state.me.is_admin; // only an admin key may read another user's memories
  $("memories-user-id").value = whose;
  $("memories-title").textContent = whose === own ? "What the agent remembers for you" : `What the agent remembers for ${whose}`;
  $("memories-error").textContent = "";
  $("memories-list").replaceChildren();
  $("memories-empty").hidden = true;
  let found;
  try {
    found = await api(`/memories${query}`, { signal });
  } catch (error) {
    if (!signal.aborted) $("memories-error").textContent = error.message;
    return;
  }
  $("memories-list").replaceChildren(...found.memories.map((m) => memoryCard(m, query)));
  $("memories-empty").hidden = found.memories.length > 0;
}

function memoryCard(memory, query) {
  const remove = el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete: ${memory.text}` });
  const card = el("li", { class: "card memory" },
    el("p", { class: "preview", text: memory.text }),
    el("p", { class: "meta" }, `Kept ${when(memory.created_at)}`,
      memory.source_thread ? el("span", {}, " in ", el("a", { href: `#/threads/${encodeURIComponent(memory.source_thread)}`, text: `thread ${short(memory.source_thread)}` })) : null),
    remove);
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await api(`/memories/${encodeURIComponent(memory.id)}${query}`, { method: "DELETE" });
    } catch (error) {
      if (error.status !== 404) { // 404: already gone (a "forget" in a thread, another tab): the card goes too
        remove.disabled = false;
        $("memories-error").textContent = error.message;
        return;
      }
    }
    card.remove();
    announce(`Deleted the memory: ${memory.text}`);
    $("memories-empty").hidden = $("memories-list").children.length > 0;
  });
  return card;
}

// --- routing -----------------------------------------------------------------------------------------------------

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  const heading = document.querySelector(`#view-${name} h1`);
  if (heading && state.booted) heading.focus({ preventScroll: true });
}

function showMissing(text) {
  showView("missing");
  $("missing-title").textContent = "Not found";
  $("missing-text").textContent = text;
}

function route() {
  if (!state.booted) return;
  if (state.view) state.view.abort();
  state.view = new AbortController();
  const signal = state.view.signal;
  const hash = location.hash.replace(/^#/, "") || "/";
  let m;
  if ((m = hash.match(/^\/approvals\/([^/]+)$/))) {
    showApproval(decodeURIComponent(m[1]), signal);
  } else if ((m = hash.match(/^\/threads\/([^/]+)$/))) {
    showThread(decodeURIComponent(m[1]), signal);
  } else if ((m = hash.match(/^\/memories(?:\/([^/]+))?$/))) {
    showMemories(m[1] ? decodeURIComponent(m[1]) : null, signal);
  } else {
    document.title = "Approvals · Handrail";
    showView("inbox");
    renderInbox();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("signin-key").value.trim();
    if (!key) {
      $("signin-error").textContent = "Enter an API key.";
      return;
    }
    state.key = key;
    sessionStorage.setItem(KEY, key);
    $("signin-error").textContent = "";
    await boot();
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("memories-user").addEventListener("submit", (event) => {
    event.preventDefault();
    const whose = $("memories-user-id").value.trim();
    location.hash = whose ? `#/memories/${encodeURIComponent(whose)}` : "#/memories";
  });
  $("filter-tool").addEventListener("change", renderInbox);
  $("filter-risk").addEventListener("change", renderInbox);
  window.addEventListener("hashchange", route);
  setInterval(() => { if (!$("view-inbox").hidden) renderInbox(); }, 30000);
  boot();
});
