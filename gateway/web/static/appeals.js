/*
 * Appeals in the operator console and on the supervisor page (no build step).
 *
 * One kit for both pages (window.AppealKit): words, the deadline countdown, dialogs, a topic's
 * form, and the appeal view (number, route stepper, owner, deadline, fields, history, notes,
 * conversations, notices, and the buttons of the actions the appeal allows now).
 * In the console it also adds: "Open appeal" in a conversation's pane, the customer's earlier
 * appeals, the operator's stage lists in the sidebar (live on {"type": "appeal"} frames), the
 * appeals the gateway offers them (cards among the conversation offers, Take or Decline), the
 * customers to call back (call-back tasks: a notice reached them on no channel; Done with an
 * optional note), and a wrap-up code when a conversation is resolved. The console's own script lends its API helper
 * and a few hooks (window.consoleExtensions).
 * Every change sends the appeal's version; a 409 reloads it and says someone else changed it.
 * All text from the network is rendered with textContent, never as HTML.
 */
(() => {
  "use strict";

  // ---- words ----------------------------------------------------------------------------
  const STATUS = {
    new: "New", awaiting: "Awaiting", in_progress: "In progress",
    pending_customer: "Waiting for the customer", pending_third_party: "Waiting for a third party",
    resolved: "Resolved", closed: "Closed", cancelled: "Cancelled",
  };
  const OPEN = new Set(["new", "awaiting", "in_progress", "pending_customer", "pending_third_party"]);
  const PAUSED = new Set(["pending_customer", "pending_third_party"]);
  const PRIORITIES = ["low", "normal", "high", "urgent"];
  const CATEGORY = { complaint: "Complaint", request: "Request", question: "Question", incident: "Incident" };
  const CHANNELS = {
    webchat: "Web chat", sms: "SMS", whatsapp: "WhatsApp", email: "E-mail", telegram: "Telegram", voice: "Voice",
  };
  // The order of the buttons; the words of each action (history and buttons).
  const ACTION_ORDER = [
    "take", "advance", "resolve", "resume", "send_back", "wait_customer", "wait_third_party",
    "release", "close", "reopen", "reassign", "escalate", "cancel",
  ];
  const DONE = {
    created: "created it", register: "registered it", take: "took it", reassign: "reassigned it",
    release: "released it to the queue", advance: "passed it on", send_back: "sent it back",
    escalate: "escalated it", wait_customer: "waits for the customer",
    wait_third_party: "waits for a third party", resume: "resumed it", resolve: "resolved it",
    close: "closed it", cancel: "cancelled it", reopen: "reopened it", edit: "changed it",
    note: "added a note", link: "linked a conversation",
    offered: "offered it to an operator", declined: "declined the offer",
    offer_missed: "ended an offer nobody answered in time",
    notice: "sent a notice to the customer", callback_needed: "asked for a call-back",
    callback_done: "called the customer back",
  };
  // What a notice that reached the customer nowhere was to tell them (call-back tasks).
  const NOTICE_SAID = {
    registered: "that their appeal is registered", resolved: "that it is resolved",
    stage_changed: "that it moved to another stage", in_progress: "that work on it started",
    pending_customer: "that we wait for their answer", pending_third_party: "that we wait for a third party",
    closed: "that it is closed", cancelled: "that it is cancelled",
  };
  const PHONE_CHANNELS = new Set(["sms", "whatsapp", "voice"]);
  // What an operator may do to an appeal of theirs (a supervisor may do everything).
  const OWNER_ACTIONS = new Set([
    "release", "advance", "send_back", "wait_customer", "wait_third_party", "resume", "resolve", "close", "cancel",
  ]);
  // Actions that need a reason from whoever does them.
  const NEEDS_REASON = {
    send_back: { label: "What should the previous stage do? (required)", help: "The appeal goes back a stage, with your reason on top." },
    wait_customer: { label: "What are we waiting for? (required)", help: "The deadlines stop until the customer answers or someone resumes it." },
    wait_third_party: { label: "Who and what are we waiting for? (required)", help: "The deadlines stop until someone resumes it." },
    cancel: { label: "Why is it cancelled? (required)", help: "A cancelled appeal is closed for good." },
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function button(label, className, testid) {
    const b = el("button", className || "btn", label);
    b.type = "button";
    if (testid) b.setAttribute("data-testid", testid);
    return b;
  }

  function humanize(name) {
    const words = String(name || "").replace(/[_-]+/g, " ").trim();
    return words ? words[0].toUpperCase() + words.slice(1) : "";
  }

  /** A label that may be per language ({en: "...", ru: "..."}). */
  function words(value, fallback) {
    if (typeof value === "string" && value) return value;
    if (value && typeof value === "object") {
      const lang = (navigator.language || "en").slice(0, 2);
      return value[lang] || value.en || Object.values(value).find((v) => typeof v === "string") || fallback;
    }
    return fallback;
  }

  function statusLabel(status) { return STATUS[status] || humanize(status); }
  function channelName(channel) { return CHANNELS[channel] || humanize(channel) || "Unknown"; }
  function refOf(a) { return a.reference_display || a.reference || `#${a.id}`; }
  function topicOf(a) { return words(a.topic_title, humanize(a.topic)); }

  function dateTime(iso) {
    const d = iso ? new Date(iso) : null;
    if (!d || Number.isNaN(d.getTime())) return "";
    return d.toLocaleString([], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  function span(seconds) {
    const s = Math.max(0, Math.round(Math.abs(seconds)));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  // ---- deadlines ------------------------------------------------------------------------
  let now = () => Date.now();

  function ago(iso) {
    const at = Date.parse(iso || "");
    if (Number.isNaN(at)) return "";
    const seconds = (now() - at) / 1000;
    return seconds < 60 ? "just now" : `${span(seconds)} ago`;
  }

  /** Where an appeal stands against its stage deadline: late, warn (nearly late), ok, paused, none. */
  function deadline(a, at = now()) {
    if (!OPEN.has(a.status)) return { state: "none", text: "" };
    if (PAUSED.has(a.status)) return { state: "paused", text: "Deadline paused" };
    const due = Date.parse(a.stage_due_at || "");
    if (Number.isNaN(due)) return { state: "none", text: "No deadline" };
    const warn = Date.parse(a.stage_warn_at || "");
    const left = (due - at) / 1000;
    if (left <= 0 || (a.late && left < 5)) return { state: "late", text: `Late by ${span(left)}` };
    const nearly = (!Number.isNaN(warn) && at >= warn) || a.nearly_late;
    return { state: nearly ? "warn" : "ok", text: `Due in ${span(left)}` };
  }

  function dueBadge(a) {
    const badge = el("span", "ap-due");
    badge.setAttribute("data-testid", "appeal-due");
    badge.apAppeal = a;
    paintDue(badge);
    return badge;
  }

  function paintDue(badge) {
    const d = deadline(badge.apAppeal);
    badge.dataset.state = d.state;
    badge.textContent = d.text;
    badge.title = badge.apAppeal.stage_due_at ? `Stage deadline ${dateTime(badge.apAppeal.stage_due_at)}` : "";
    return d;
  }

  // Every countdown on the page moves once a second.
  setInterval(() => {
    for (const badge of document.querySelectorAll(".ap-due")) if (badge.apAppeal) paintDue(badge);
  }, 1000);

  /** Late first, then nearly late, then the nearest deadline, then the oldest. */
  function byUrgency(a, b) {
    const rank = (x) => ({ late: 0, warn: 1, ok: 2, paused: 3, none: 4 })[deadline(x).state];
    const due = (x) => Date.parse(x.stage_due_at || "") || Infinity;
    return rank(a) - rank(b) || due(a) - due(b) || Date.parse(a.created_at) - Date.parse(b.created_at);
  }

  // ---- HTTP -----------------------------------------------------------------------------
  /** The page's own fetch with the session's CSRF token (the supervisor page has no console). */
  function pageApi() {
    let csrf = null;
    return async (method, path, body) => {
      const headers = { Accept: "application/json" };
      const init = { method, headers, credentials: "same-origin", cache: "no-store" };
      if (method !== "GET") {
        if (csrf == null) {
          const me = await fetch("/api/me", { credentials: "same-origin", cache: "no-store" });
          if (me.ok) csrf = (await me.json()).csrf_token || "";
        }
        headers["X-CSRF-Token"] = csrf || "";
        if (body !== undefined) {
          headers["Content-Type"] = "application/json";
          init.body = JSON.stringify(body);
        }
      }
      const res = await fetch(path, init);
      let data = null;
      try { data = await res.json(); } catch (_) { data = null; }
      return { status: res.status, ok: res.ok, data };
    };
  }

  function reasonOf(res, fallback) {
    return (res && res.data && res.data.reason) || `${fallback} (${res ? res.status : "no answer"})`;
  }

  /** The server's 422 messages per field, whichever shape they come in. */
  function fieldErrors(data) {
    const out = {};
    const raw = data && (data.problems || data.invalid_fields || data.fields || data.errors);
    if (Array.isArray(raw)) {
      for (const e of raw) {
        const name = e && (e.field || e.name);
        if (name) out[name] = e.reason || e.message || "not valid";
      }
    } else if (raw && typeof raw === "object") {
      for (const [name, v] of Object.entries(raw)) {
        out[name] = typeof v === "string" ? v : Array.isArray(v) ? v.join("; ") : (v && (v.reason || v.message)) || "not valid";
      }
    }
    return out;
  }

  function appealOf(data) { return data && (data.appeal || (data.id ? data : null)); }
  function listOf(data, key) { return Array.isArray(data) ? data : (data && Array.isArray(data[key]) ? data[key] : []); }

  // ---- dialogs --------------------------------------------------------------------------
  let dialogCount = 0;
  const KEEP = Symbol("keep the dialog open");

  /**
   * A modal dialog (focus stays inside, Escape cancels, focus goes back to the opener).
   * build(body) adds the inputs and returns read(); submit(values) answers null when done or
   * a message to show (the dialog stays open). Resolves with the values, or null if cancelled.
   */
  function dialog({ title, help, submitLabel, build, submit, testid, wide }) {
    return new Promise((resolve) => {
      dialogCount += 1;
      const id = `ap-dialog-${dialogCount}`;
      const opener = document.activeElement;
      const box = el("dialog", `ap-dialog${wide ? " wide" : ""}`);
      box.setAttribute("aria-labelledby", `${id}-title`);
      if (testid) box.setAttribute("data-testid", testid);
      const form = el("form");
      form.noValidate = true;
      const heading = el("h3", "", title);
      heading.id = `${id}-title`;
      form.append(heading);
      if (help) {
        const p = el("p", "muted small", help);
        p.id = `${id}-help`;
        box.setAttribute("aria-describedby", p.id);
        form.append(p);
      }
      const body = el("div", "ap-dialog-body");
      form.append(body);
      const read = build(body, id);
      const error = el("p", "ap-error");
      error.setAttribute("role", "alert");
      error.setAttribute("data-testid", "ap-dialog-error");
      error.hidden = true;
      const actions = el("div", "ap-dialog-actions");
      const cancel = button("Cancel", "btn", "ap-dialog-cancel");
      const ok = el("button", "btn primary", submitLabel);
      ok.type = "submit";
      ok.setAttribute("data-testid", "ap-dialog-submit");
      actions.append(cancel, ok);
      form.append(error, actions);
      box.append(form);
      document.body.append(box);
      let result = null;
      cancel.addEventListener("click", () => box.close());
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const values = read();
        ok.disabled = true;
        error.hidden = true;
        let problem = null;
        try { problem = await submit(values, box); } catch (_) { problem = "The gateway cannot be reached; try again."; }
        ok.disabled = false;
        if (problem === KEEP) return; // done, and the dialog now shows the outcome
        if (problem) {
          error.textContent = problem;
          error.hidden = false;
          return;
        }
        result = values;
        box.close();
      });
      box.addEventListener("close", () => {
        box.remove();
        if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
        resolve(result);
      });
      box.showModal();
      const first = body.querySelector("input, select, textarea");
      (first || ok).focus();
    });
  }

  /** A required reason; the dialog refuses an empty one and shows the server's refusal. */
  function askReason({ title, help, label, submitLabel, send }) {
    return dialog({
      title, help, submitLabel, testid: "ap-reason-dialog",
      build(body, id) {
        const lab = el("label", "", label);
        lab.htmlFor = `${id}-reason`;
        const text = el("textarea");
        text.id = `${id}-reason`;
        text.rows = 3;
        text.maxLength = 1000;
        text.required = true;
        text.setAttribute("aria-required", "true");
        text.setAttribute("data-testid", "ap-reason");
        body.append(lab, text);
        return () => ({ reason: text.value.trim(), input: text });
      },
      async submit(values) {
        if (!values.reason) {
          values.input.setAttribute("aria-invalid", "true");
          values.input.focus();
          return "Write a reason first.";
        }
        return send(values.reason);
      },
    });
  }

  // ---- call-back tasks ------------------------------------------------------------------
  /** Why the customer is to be called: which notice reached them on which channels not. */
  function callbackWhy(task) {
    const said = NOTICE_SAID[task.event] || (task.event ? `of "${humanize(task.event).toLowerCase()}"` : "about their appeal");
    const tried = (task.tried || []).map(channelName);
    return `Not told ${said}: ${tried.length ? `${tried.join(", ")} did not reach them` : "no channel to reach them on"}.`;
  }

  /** Phone numbers to call: the appeal's phone fields, then the customer's phone identities. */
  function callbackPhones(task, identities) {
    const out = [];
    const seen = new Set();
    const add = (number, label) => {
      if (!number || seen.has(number)) return;
      seen.add(number);
      out.push({ number, label });
    };
    for (const p of task.phones || []) add(p.number, words(p.label, humanize(p.name)));
    for (const i of identities || []) {
      if (PHONE_CHANNELS.has(i.channel)) add(i.address, channelName(i.channel));
    }
    return out;
  }

  /** The numbers as links to call (tel:), with what each one is. */
  function phoneLinks(phones) {
    const box = el("span", "ap-phones");
    box.setAttribute("data-testid", "callback-phones");
    for (const p of phones) {
      const link = el("a", "ap-phone", p.number);
      link.href = `tel:${p.number.replace(/[^0-9+]/g, "")}`;
      link.setAttribute("aria-label", `Call ${p.number} (${p.label})`);
      link.title = p.label;
      box.append(link);
    }
    return box;
  }

  /**
   * "Called back": an optional note for the appeal's history, then the task is done.
   * Resolves with "done", "gone" (a colleague did it first, or it is no longer yours to do)
   * or null (cancelled).
   */
  async function askCallbackDone(api, task) {
    let outcome = null;
    await dialog({
      title: `Called back: ${task.reference_display || task.reference}`,
      help: "The call-back task is done for everyone in its queue. A note goes into the appeal's history (optional).",
      submitLabel: "Mark done",
      testid: "ap-callback-dialog",
      build(body, id) {
        const lab = el("label", "", "Note (optional)");
        lab.htmlFor = `${id}-note`;
        const text = el("textarea");
        text.id = `${id}-note`;
        text.rows = 3;
        text.maxLength = 1000;
        text.placeholder = "What the customer was told, or why they could not be reached";
        text.setAttribute("data-testid", "ap-callback-note");
        body.append(lab, text);
        return () => ({ note: text.value.trim() });
      },
      async submit(values) {
        const res = await api("POST", `/api/appeals/callbacks/${task.id}/done`, values.note ? { note: values.note } : {});
        if (res.ok) { outcome = "done"; return null; }
        if (res.status === 409 || res.status === 404) { outcome = "gone"; return null; }
        return reasonOf(res, "Not marked done");
      },
    });
    return outcome;
  }

  // ---- a topic's form -------------------------------------------------------------------
  function choiceOf(c) {
    if (c && typeof c === "object") return { value: String(c.value ?? c.name), label: words(c.label, humanize(c.value ?? c.name)) };
    return { value: String(c), label: humanize(c) };
  }

  /**
   * Inputs for the topic's fields (text, number, choice, date, phone, address) with their
   * labels, required marks and a place for the server's message next to each one.
   */
  function fieldForm(defs, values, prefix) {
    const node = el("div", "ap-fields");
    const parts = new Map();
    let dirty = false;
    for (const def of defs || []) {
      if (!def || !def.name) continue;
      const id = `${prefix}-f-${def.name}`;
      const row = el("div", "ap-field");
      row.dataset.field = def.name;
      const label = el("label", "", words(def.label, humanize(def.name)));
      label.htmlFor = id;
      let input;
      const type = def.type || "text";
      if (type === "choice") {
        input = el("select");
        const blank = el("option", "", def.required ? "Choose…" : "—");
        blank.value = "";
        input.append(blank);
        for (const c of def.choices || []) {
          const { value, label: text } = choiceOf(c);
          const opt = el("option", "", text);
          opt.value = value;
          input.append(opt);
        }
      } else if (type === "address") {
        input = el("textarea");
        input.rows = 2;
        input.autocomplete = "street-address";
      } else {
        input = el("input");
        input.type = { number: "number", date: "date", phone: "tel" }[type] || "text";
        if (type === "number") {
          input.step = "any";
          input.inputMode = "decimal";
          if (def.min != null) input.min = String(def.min);
          if (def.max != null) input.max = String(def.max);
        }
        if (type === "phone") input.autocomplete = "tel";
        if (type === "text" && def.max_length) input.maxLength = Number(def.max_length);
      }
      input.id = id;
      input.name = def.name;
      input.dataset.type = type;
      input.setAttribute("data-testid", `ap-field-${def.name}`);
      if (def.required) {
        input.required = true;
        input.setAttribute("aria-required", "true");
        const mark = el("span", "ap-req", " *");
        mark.setAttribute("aria-hidden", "true");
        label.append(mark, el("span", "sr", " (required)"));
      }
      const current = values ? values[def.name] : undefined;
      if (current != null) input.value = typeof current === "object" ? JSON.stringify(current) : String(current);
      input.addEventListener("input", () => { dirty = true; });
      const described = [];
      const hint = def.help;
      if (hint) {
        const h = el("p", "ap-hint muted small", words(hint, ""));
        h.id = `${id}-hint`;
        described.push(h.id);
        row.append(label, input, h);
      } else {
        row.append(label, input);
      }
      const error = el("p", "ap-field-error");
      error.id = `${id}-error`;
      error.setAttribute("data-testid", "ap-field-error");
      error.hidden = true;
      described.push(error.id);
      input.setAttribute("aria-describedby", described.join(" "));
      row.append(error);
      node.append(row);
      parts.set(def.name, { input, error, def, row });
    }
    return {
      node,
      get dirty() { return dirty; },
      set dirty(v) { dirty = v; },
      /** The values as the API takes them: empty optional fields left out, numbers as numbers. */
      read() {
        const out = {};
        for (const [name, { input }] of parts) {
          const raw = input.value.trim();
          if (!raw) continue;
          if (input.dataset.type === "number") {
            const n = Number(raw);
            out[name] = Number.isFinite(n) ? n : raw;
          } else {
            out[name] = raw;
          }
        }
        return out;
      },
      /** The server's messages next to their fields; the first bad one gets the focus. */
      showErrors(map) {
        let first = null;
        let unplaced = [];
        for (const [name, part] of parts) {
          const message = map[name];
          part.error.hidden = !message;
          part.error.textContent = message || "";
          part.row.classList.toggle("invalid", Boolean(message));
          if (message) part.input.setAttribute("aria-invalid", "true");
          else part.input.removeAttribute("aria-invalid");
          if (message && !first) first = part.input;
        }
        unplaced = Object.keys(map).filter((name) => !parts.has(name)).map((n) => `${humanize(n)}: ${map[n]}`);
        if (first) first.focus();
        return unplaced;
      },
    };
  }

  function prioritySelect(id, value) {
    const select = el("select");
    select.id = id;
    for (const p of PRIORITIES) {
      const opt = el("option", "", humanize(p));
      opt.value = p;
      select.append(opt);
    }
    if (value) select.value = value;
    return select;
  }

  // ---- the appeal view ------------------------------------------------------------------
  let viewCount = 0;

  /**
   * One appeal on screen, kept fresh: open(id), refresh(), close(). ctx: {api, me(), toast,
   * onClose, onChanged(appeal), openConversation(id), operators()}.
   */
  function AppealView(root, ctx) {
    viewCount += 1;
    const prefix = `ap-view-${viewCount}`;
    let appeal = null;
    let form = null;
    let notice = "";
    let loading = 0;

    function me() { return (ctx.me && ctx.me()) || {}; }
    function supervisor() { return ["supervisor", "admin"].includes(me().role); }

    async function open(id, message) {
      notice = message || "";
      const ticket = ++loading;
      const res = await ctx.api("GET", `/api/appeals/${id}`);
      if (ticket !== loading) return null;
      const found = res.ok ? appealOf(res.data) : null;
      if (!found) {
        ctx.toast(reasonOf(res, "Could not load the appeal"), "error");
        return null;
      }
      const keepForm = appeal && appeal.id === found.id && form && form.dirty;
      appeal = found;
      render(keepForm);
      return appeal;
    }

    function close() {
      appeal = null;
      form = null;
      root.replaceChildren();
    }

    async function act(action, extra = {}) {
      const body = { action, expected_version: appeal.version, ...extra };
      const res = await ctx.api("POST", `/api/appeals/${appeal.id}/actions`, body);
      return afterChange(res, "The action was refused");
    }

    /** null when done; a message to show otherwise (a 409 has reloaded the appeal already). */
    async function afterChange(res, what) {
      if (res.ok) {
        const fresh = appealOf(res.data);
        notice = "";
        if (fresh && fresh.id === appeal.id && !fresh.history) await open(appeal.id);
        else if (fresh) { appeal = fresh; render(false); }
        if (ctx.onChanged) ctx.onChanged(appeal);
        return null;
      }
      if (res.status === 409) {
        const moved = res.data && /version|changed|stale|conflict/i.test(`${res.data.error} ${res.data.reason}`);
        const why = moved || !(res.data && res.data.reason)
          ? "Someone else changed this appeal meanwhile; here it is as it is now. Check it and try again."
          : `${res.data.reason} (reloaded).`;
        if (form) form.dirty = false;
        await open(appeal.id, why);
        if (ctx.onChanged) ctx.onChanged(appeal);
        return why;
      }
      return reasonOf(res, what);
    }

    function actionLabel(action) {
      const stages = appeal.stages || [];
      const next = stages[appeal.stage + 1];
      const prev = stages[appeal.stage - 1];
      switch (action) {
        case "take": return "Take";
        case "release": return "Release to the queue";
        case "advance": return next ? `Advance to ${next.name}` : "Advance";
        case "send_back": return prev ? `Send back to ${prev.name}…` : "Send back…";
        case "escalate": return next ? `Escalate to ${next.name}` : "Escalate";
        case "wait_customer": return "Wait for the customer…";
        case "wait_third_party": return "Wait for a third party…";
        case "resume": return "Resume";
        case "resolve": return "Resolve";
        case "close": return "Close";
        case "cancel": return "Cancel appeal…";
        case "reopen": return "Reopen";
        case "reassign": return "Reassign…";
        default: return humanize(action);
      }
    }

    /** The actions this person may press: a supervisor every allowed one; an operator takes
     * it, and works on it (the owner's actions) once it is theirs. */
    function usableActions() {
      const allowed = new Set(appeal.allowed_actions || []);
      const mine = appeal.owner_id != null && appeal.owner_id === me().id;
      const mayTake = () => !ctx.canTake || ctx.canTake(appeal);
      return ACTION_ORDER.filter((a) => allowed.has(a)
        && (supervisor() || (a === "take" && mayTake()) || (mine && OWNER_ACTIONS.has(a))));
    }

    async function runAction(action, trigger) {
      const stages = appeal.stages || [];
      if (NEEDS_REASON[action]) {
        const words = NEEDS_REASON[action];
        const prev = stages[appeal.stage - 1];
        await askReason({
          title: action === "send_back" && prev ? `Send ${refOf(appeal)} back to ${prev.name}` : `${actionLabel(action).replace("…", "")}: ${refOf(appeal)}`,
          help: words.help,
          label: words.label,
          submitLabel: actionLabel(action).replace("…", ""),
          send: (reason) => act(action, { reason }),
        });
        return;
      }
      if (action === "reassign") {
        await chooseOwner(action);
        return;
      }
      trigger.disabled = true;
      const problem = await act(action);
      trigger.disabled = false;
      if (problem) showNotice(problem);
      else ctx.toast(`${refOf(appeal)}: ${statusLabel(appeal.status).toLowerCase()}${appeal.stage_name ? `, ${appeal.stage_name}` : ""}.`);
    }

    async function chooseOwner(action) {
      const people = ctx.operators ? await ctx.operators() : [];
      await dialog({
        title: `Reassign ${refOf(appeal)}`,
        help: "The chosen colleague owns the appeal from now on.",
        submitLabel: "Reassign",
        testid: "ap-owner-dialog",
        build(body, id) {
          const lab = el("label", "", "Colleague");
          lab.htmlFor = `${id}-owner`;
          const select = el("select");
          select.id = `${id}-owner`;
          select.setAttribute("data-testid", "ap-owner");
          for (const p of people) {
            if (p.id === appeal.owner_id) continue;
            const opt = el("option", "", p.state ? `${p.name} (${p.state})` : p.name);
            opt.value = String(p.id);
            select.append(opt);
          }
          body.append(lab, select);
          return () => ({ owner_id: Number(select.value) });
        },
        submit: (v) => (v.owner_id ? act(action, { owner_id: v.owner_id }) : Promise.resolve("Choose a colleague.")),
      });
    }

    function showNotice(text) {
      notice = text;
      const box = root.querySelector(".ap-notice");
      if (box) {
        box.textContent = text;
        box.hidden = !text;
      }
    }

    function section(title, testid) {
      const box = el("section", "ap-section");
      const h = el("h3", "", title);
      h.id = `${prefix}-${testid}`;
      box.setAttribute("aria-labelledby", h.id);
      box.setAttribute("data-testid", testid);
      box.append(h);
      return box;
    }

    function render(keepForm) {
      const a = appeal;
      const oldForm = keepForm ? root.querySelector(".ap-details") : null;
      const view = el("article", "ap-view");
      view.dataset.appealId = String(a.id);
      view.dataset.status = a.status;
      view.setAttribute("data-testid", "appeal-view");
      view.setAttribute("aria-labelledby", `${prefix}-title`);

      // Head: number, topic, status, priority, close.
      const head = el("header", "ap-head");
      const back = button(ctx.closeIcon || "←", "btn ghost ap-back", "appeal-close");
      back.setAttribute("aria-label", ctx.closeLabel || "Close the appeal");
      back.addEventListener("click", () => ctx.onClose && ctx.onClose());
      const titles = el("div", "ap-titles");
      const ref = el("p", "ap-ref", refOf(a));
      ref.setAttribute("data-testid", "appeal-reference");
      const h = el("h2", "", topicOf(a));
      h.id = `${prefix}-title`;
      const meta = [CATEGORY[a.category] || humanize(a.category), a.customer_name || `customer #${a.customer_id}`];
      if (a.channel) meta.push(`opened on ${channelName(a.channel)}`);
      titles.append(ref, h, el("p", "muted small", meta.filter(Boolean).join(" · ")));
      const pills = el("div", "ap-pills");
      const status = el("span", "ap-status", statusLabel(a.status));
      status.dataset.status = a.status;
      status.setAttribute("data-testid", "appeal-status");
      const prio = el("span", "ap-prio", humanize(a.priority));
      prio.dataset.priority = a.priority;
      pills.append(status, prio);
      head.append(back, titles, pills);

      const body = el("div", "ap-body");
      const note = el("p", "ap-notice", notice);
      note.setAttribute("role", "alert");
      note.setAttribute("data-testid", "appeal-notice");
      note.hidden = !notice;
      body.append(note);

      // Sent back: what the next stage asked for, on top.
      if (a.returned_reason) {
        const from = (a.stages || [])[a.stage + 1];
        const last = (a.history || []).filter((x) => x.action === "send_back").pop();
        const who = [from && from.name, last && last.actor].filter(Boolean);
        const box = el("div", "ap-returned");
        box.setAttribute("role", "note");
        box.setAttribute("data-testid", "appeal-returned");
        box.append(el("strong", "", `Sent back${who.length ? ` by ${who[0]}` : ""}${who.length > 1 ? ` (${who[1]})` : ""}: `));
        box.append(document.createTextNode(a.returned_reason));
        body.append(box);
      }

      for (const task of standingCallbacks(a)) body.append(callbackLine(a, task));

      body.append(stepper(a), facts(a), actions(a));

      const columns = el("div", "ap-columns");
      const left = el("div", "ap-col");
      const right = el("div", "ap-col");
      left.append(oldForm || details(a), notes(a));
      right.append(history(a), conversations(a), notices(a));
      columns.append(left, right);
      body.append(columns);
      view.append(head, body);
      root.replaceChildren(view);
    }

    /** The call-back tasks of this appeal not done yet, with why (from their history row). */
    function standingCallbacks(a) {
      if (a.status === "closed" || a.status === "cancelled") return [];
      const asked = (a.history || []).filter((h) => h.action === "callback_needed");
      return (a.alerts || []).filter((x) => x.kind === "callback" && x.action === "callback").map((x) => {
        const h = asked.find((y) => Date.parse(y.created_at) === Date.parse(x.created_at)) || {};
        const detail = h.detail || {};
        return { ...x, appeal_id: a.id, reference: a.reference, reference_display: refOf(a), event: detail.event, tried: detail.tried || [] };
      });
    }

    function callbackLine(a, task) {
      const box = el("div", "ap-callback-line");
      box.setAttribute("role", "note");
      box.setAttribute("data-testid", "appeal-callback");
      box.dataset.taskId = String(task.id);
      const text = el("p", "ap-callback-text");
      text.append(el("strong", "", "Call the customer back. "), document.createTextNode(`${callbackWhy(task)} Asked ${ago(task.created_at)}, queue ${task.queue}.`));
      box.append(text);
      const phones = callbackPhones({
        phones: (a.form || []).filter((f) => f.type === "phone" && typeof (a.fields || {})[f.name] === "string")
          .map((f) => ({ name: f.name, label: f.label, number: a.fields[f.name] })),
      });
      if (phones.length) box.append(phoneLinks(phones));
      if (!ctx.mayDoCallback || ctx.mayDoCallback(task)) {
        const done = button("Done…", "btn primary", "appeal-callback-done");
        done.setAttribute("aria-label", `Called back: mark the call-back task of appeal ${refOf(a)} done`);
        done.addEventListener("click", async () => {
          const outcome = await askCallbackDone(ctx.api, task);
          if (!outcome) return;
          ctx.toast(outcome === "done" ? `${refOf(a)}: call-back done.` : `${refOf(a)}: this call-back was done already.`);
          await open(a.id);
          if (ctx.onChanged) ctx.onChanged(appeal);
        });
        box.append(done);
      }
      return box;
    }

    function stepper(a) {
      const list = el("ol", "ap-stepper");
      list.setAttribute("aria-label", "Route of this appeal");
      list.setAttribute("data-testid", "appeal-stepper");
      (a.stages || []).forEach((s, i) => {
        const state = i < a.stage ? "done" : i === a.stage ? (OPEN.has(a.status) ? "current" : "end") : "next";
        const item = el("li", "ap-step");
        item.dataset.state = state;
        if (state === "current") item.setAttribute("aria-current", "step");
        const dot = el("span", "ap-step-dot", state === "done" ? "✓" : String(i + 1));
        dot.setAttribute("aria-hidden", "true");
        const name = el("span", "ap-step-name", s.name);
        const queue = el("span", "ap-step-queue", s.queue);
        const said = { done: "done", current: "now here", end: "last stage", next: "ahead" }[state];
        item.append(dot, name, queue, el("span", "sr", ` (${said})`));
        list.append(item);
      });
      return list;
    }

    function facts(a) {
      const dl = el("dl", "ap-facts");
      const add = (term, value, testid) => {
        const pair = el("div", "ap-fact");
        const dd = el("dd");
        if (value instanceof Node) dd.append(value);
        else dd.textContent = value || "—";
        if (testid) dd.setAttribute("data-testid", testid);
        pair.append(el("dt", "", term), dd);
        dl.append(pair);
      };
      add("Stage", a.stage_name ? `${a.stage_name} (${a.queue})` : a.queue, "appeal-stage");
      add("Owner", a.owner_name || (a.owner_id ? `#${a.owner_id}` : "Nobody yet"), "appeal-owner");
      add("Stage deadline", dueBadge(a));
      if (a.resolution_due_at && OPEN.has(a.status)) add("Resolve by", dateTime(a.resolution_due_at));
      if (a.paused_at) add("Paused since", dateTime(a.paused_at));
      add("Opened", dateTime(a.created_at));
      if (a.resolved_at) add("Resolved", dateTime(a.resolved_at));
      return dl;
    }

    function actions(a) {
      const bar = el("div", "ap-actions");
      bar.setAttribute("role", "group");
      bar.setAttribute("aria-label", `Actions on appeal ${refOf(a)}`);
      for (const action of usableActions()) {
        const primary = ["take", "advance", "resolve", "resume"].includes(action);
        const danger = action === "cancel";
        const b = button(actionLabel(action), `btn${primary ? " primary" : ""}${danger ? " danger" : ""}`, `appeal-action-${action}`);
        b.dataset.action = action;
        b.addEventListener("click", () => runAction(action, b));
        bar.append(b);
      }
      if (!bar.children.length) bar.append(el("span", "muted small", OPEN.has(a.status) ? "Nothing for you to do on this appeal now." : "This appeal is finished."));
      return bar;
    }

    function details(a) {
      const box = section("Details", "appeal-details");
      box.classList.add("ap-details");
      // The owner or a supervisor changes the details; only a supervisor the priority.
      const editable = (OPEN.has(a.status) || a.status === "resolved")
        && (supervisor() || (a.owner_id != null && a.owner_id === me().id));
      const f = el("form", "ap-form");
      f.noValidate = true;
      form = fieldForm(a.form || [], a.fields || {}, prefix);
      const sumLabel = el("label", "", "Summary");
      sumLabel.htmlFor = `${prefix}-summary`;
      const summary = el("textarea");
      summary.id = `${prefix}-summary`;
      summary.rows = 2;
      summary.maxLength = 500;
      summary.value = a.summary || "";
      summary.setAttribute("data-testid", "appeal-summary");
      const prioLabel = el("label", "", "Priority");
      prioLabel.htmlFor = `${prefix}-priority`;
      const prio = prioritySelect(`${prefix}-priority`, a.priority);
      prio.setAttribute("data-testid", "appeal-priority");
      prio.disabled = !supervisor();
      if (!supervisor()) prio.title = "A supervisor changes the priority";
      for (const input of [summary, prio]) input.addEventListener("input", () => { form.dirty = true; });
      const error = el("p", "ap-error");
      error.setAttribute("role", "alert");
      error.hidden = true;
      const save = el("button", "btn", "Save changes");
      save.type = "submit";
      save.setAttribute("data-testid", "appeal-save");
      const meta = el("div", "ap-field-row");
      const p1 = el("div", "ap-field ap-narrow");
      p1.append(prioLabel, prio);
      const p2 = el("div", "ap-field");
      p2.append(sumLabel, summary);
      meta.append(p1, p2);
      f.append(form.node, meta, error, save);
      if (!editable) {
        for (const c of f.querySelectorAll("input, select, textarea, button")) c.disabled = true;
        save.hidden = true;
        if (OPEN.has(a.status)) f.append(el("p", "muted small", "Take the appeal to change its details."));
      }
      f.addEventListener("submit", async (event) => {
        event.preventDefault();
        save.disabled = true;
        error.hidden = true;
        const change = { expected_version: appeal.version, fields: form.read(), summary: summary.value.trim() };
        if (prio.value !== appeal.priority) change.priority = prio.value;
        const res = await ctx.api("PATCH", `/api/appeals/${a.id}`, change);
        save.disabled = false;
        if (res.status === 422) {
          const unplaced = form.showErrors(fieldErrors(res.data));
          const text = unplaced.length ? unplaced.join("; ") : Object.keys(fieldErrors(res.data)).length ? "" : reasonOf(res, "Not saved");
          error.textContent = text;
          error.hidden = !text;
          return;
        }
        form.dirty = false;
        const problem = await afterChange(res, "Not saved");
        if (problem && res.status !== 409) {
          error.textContent = problem;
          error.hidden = false;
        } else if (!problem) ctx.toast(`${refOf(appeal)} saved.`);
      });
      box.append(f);
      return box;
    }

    function notes(a) {
      const box = section("Internal notes", "appeal-notes");
      const list = el("ul", "ap-notes");
      for (const n of a.notes || []) {
        const item = el("li", "ap-note");
        item.append(el("p", "ap-note-text", n.text), el("p", "muted small", `${n.author || "—"} · ${dateTime(n.created_at)}`));
        list.append(item);
      }
      if (!list.children.length) list.append(el("li", "muted small", "No notes yet. Notes are for staff only."));
      const f = el("form", "ap-note-form");
      f.noValidate = true;
      const label = el("label", "sr", "New note (staff only)");
      label.htmlFor = `${prefix}-note`;
      const text = el("textarea");
      text.id = `${prefix}-note`;
      text.rows = 2;
      text.maxLength = 4000;
      text.placeholder = "Add a note for colleagues (the customer never sees it)";
      text.setAttribute("data-testid", "appeal-note-input");
      const add = el("button", "btn", "Add note");
      add.type = "submit";
      add.setAttribute("data-testid", "appeal-note-add");
      f.append(label, text, add);
      f.addEventListener("submit", async (event) => {
        event.preventDefault();
        const value = text.value.trim();
        if (!value) { text.focus(); return; }
        add.disabled = true;
        const res = await ctx.api("POST", `/api/appeals/${a.id}/notes`, { text: value });
        add.disabled = false;
        if (!res.ok) { ctx.toast(reasonOf(res, "The note was not added"), "error"); return; }
        text.value = "";
        await open(a.id);
        const again = root.querySelector('[data-testid="appeal-note-input"]');
        if (again) again.focus();
      });
      box.append(list, f);
      return box;
    }

    function history(a) {
      const box = section("History", "appeal-history");
      const list = el("ol", "ap-history");
      for (const h of (a.history || []).slice().reverse()) {
        const item = el("li");
        const did = DONE[h.action] || humanize(h.action);
        const stage = h.queue ? ` · ${h.queue}` : "";
        const change = h.from_status && h.to_status && h.from_status !== h.to_status
          ? ` · ${statusLabel(h.from_status)} → ${statusLabel(h.to_status)}` : "";
        item.append(el("span", "ap-history-what", `${h.actor || "—"} ${did}`), el("span", "muted small", `${dateTime(h.created_at)}${stage}${change}${h.channel ? ` · ${channelName(h.channel)}` : ""}`));
        if (h.reason) item.append(el("span", "ap-history-reason", h.reason));
        list.append(item);
      }
      box.append(list);
      return box;
    }

    function conversations(a) {
      const box = section("Conversations", "appeal-conversations");
      const list = el("ul", "ap-plain");
      for (const c of a.conversations || []) {
        const item = el("li");
        const label = `#${c.id} · ${channelName(c.channel)} · ${humanize(c.status)} · ${dateTime(c.created_at)}`;
        if (ctx.openConversation) {
          const b = button(label, "link-button", "appeal-conversation");
          b.addEventListener("click", () => {
            if (!ctx.openConversation(c.id)) ctx.toast(`Conversation #${c.id} is not one of yours now.`);
          });
          item.append(b);
        } else item.textContent = label;
        list.append(item);
      }
      if (!list.children.length) list.append(el("li", "muted small", "None."));
      box.append(list);
      return box;
    }

    function notices(a) {
      const box = section("Notices to the customer", "appeal-notices");
      const list = el("ul", "ap-plain");
      for (const n of a.notices || []) {
        const item = el("li", "ap-notice-item");
        const state = el("span", "ap-delivery", humanize(n.state));
        state.dataset.state = n.state;
        item.append(el("span", "", `${humanize(n.event)} · ${n.channel ? channelName(n.channel) : "no channel yet"} · ${dateTime(n.created_at)} `), state);
        list.append(item);
      }
      if (!list.children.length) list.append(el("li", "muted small", "None sent."));
      box.append(list);
      return box;
    }

    return {
      open,
      close,
      get appeal() { return appeal; },
      refresh: () => (appeal ? open(appeal.id, notice) : null),
    };
  }

  window.AppealKit = {
    STATUS, OPEN, statusLabel, refOf, topicOf, humanize, words, dateTime, span, deadline, dueBadge,
    byUrgency, pageApi, reasonOf, fieldErrors, appealOf, listOf, dialog, askReason, fieldForm,
    prioritySelect, AppealView, el, button, channelName, ago, callbackWhy, callbackPhones, phoneLinks,
    askCallbackDone,
    setClock(fn) { now = fn; },
  };

  // ==== the console =======================================================================
  const hooks = window.consoleExtensions;
  if (hooks) setupConsole(hooks);

  function setupConsole(console_) {
    const $ = (id) => document.getElementById(id);
    const ui = {
      app: $("app"),
      pane: $("pane"),
      paneAppeal: $("pane-appeal"),
      strip: $("conv-appeal"),
      block: $("appeals-block"),
      toTake: $("appeals-to-take"),
      toTakeEmpty: $("appeals-to-take-empty"),
      mine: $("appeals-mine"),
      mineEmpty: $("appeals-mine-empty"),
      lateCount: $("appeals-late-count"),
      conversations: $("conversations"),
      offers: $("offers"),
    };
    if (!ui.paneAppeal || !ui.strip || !ui.block) return;
    const api = console_.api;
    const toast = console_.toast;
    AppealKit.setClock(console_.serverNow);
    let topics = null; // {topics: [...], dispositions: [...]}
    let topicsAt = 0;
    let userId = null;
    let shownConversation = null;
    let stripTicket = 0;
    let listTimer = null;
    let operatorsCache = null;
    let myQueues = null; // the queues this operator works in, as the stage list's answer says
    const customerCache = new Map(); // customer id -> {at, identities: Promise<list | null>}

    // The customers to call back, on top of the Appeals section (hidden while there are none).
    const callbackTitle = el("h3", "ap-subhead ap-callbacks-title");
    callbackTitle.id = "appeals-callbacks-title";
    const callbackCount = el("span", "count");
    callbackCount.setAttribute("data-testid", "appeals-callbacks-count");
    callbackTitle.append(document.createTextNode("Call back "), callbackCount);
    const callbackList = el("ul", "ap-list ap-callbacks");
    callbackList.id = "appeals-callbacks";
    callbackList.setAttribute("data-testid", "appeals-callbacks");
    callbackList.setAttribute("aria-labelledby", callbackTitle.id);
    callbackTitle.tabIndex = -1; // focus lands here when the last task leaves under it
    callbackTitle.hidden = callbackList.hidden = true;
    ui.block.querySelector("h2").after(callbackTitle, callbackList);

    const view = AppealView(ui.paneAppeal, {
      api,
      toast,
      me: console_.me,
      closeLabel: "Back",
      onClose: closeView,
      onChanged: () => { scheduleLists(); refreshStrip(); },
      openConversation: (id) => {
        const ok = console_.open(id);
        if (ok) closeView();
        return ok;
      },
      operators: loadOperators,
      // An operator takes appeals waiting in the queues they work in.
      canTake: (a) => !myQueues || myQueues.includes(a.queue),
      // ... and does the call-back tasks of those queues (a supervisor every one).
      mayDoCallback: (task) => ["supervisor", "admin"].includes((console_.me() || {}).role)
        || !myQueues || myQueues.includes(task.queue),
    });

    async function loadOperators() {
      if (operatorsCache) return operatorsCache;
      const res = await api("GET", "/api/transfer-targets");
      operatorsCache = res.ok && res.data ? res.data.operators || [] : [];
      setTimeout(() => { operatorsCache = null; }, 30000);
      return operatorsCache;
    }

    async function loadTopics(force) {
      if (topics && !force && Date.now() - topicsAt < 60000) return topics;
      const res = await api("GET", "/api/appeal-topics");
      if (!res.ok) return topics || { topics: [], dispositions: [] };
      const data = res.data || {};
      topics = {
        topics: listOf(data, "topics"),
        dispositions: Array.isArray(data.dispositions) ? data.dispositions : [],
      };
      topicsAt = Date.now();
      return topics;
    }

    // ---- the appeal view in the pane ----
    async function openView(id, message) {
      const shown = await view.open(id, message);
      scheduleLists(); // what was read just now is fresher than the lists
      if (!shown) return;
      ui.paneAppeal.hidden = false;
      ui.app.classList.add("has-appeal");
      const heading = ui.paneAppeal.querySelector(".ap-titles h2");
      if (heading) {
        heading.tabIndex = -1;
        heading.focus({ preventScroll: true });
      }
      markSelected();
    }

    function closeView() {
      view.close();
      ui.paneAppeal.hidden = true;
      ui.app.classList.remove("has-appeal");
      markSelected();
      const again = console_.selected();
      const open = again ? ui.strip.querySelector("button") : ui.block.querySelector(".ap-item-open");
      if (open) open.focus({ preventScroll: true });
    }

    // Picking a conversation in the list leaves the appeal.
    ui.conversations.addEventListener("click", (event) => {
      if (event.target.closest("button.conv") && view.appeal) closeView();
    });

    // ---- the stage lists ----
    function scheduleLists() {
      clearTimeout(listTimer);
      listTimer = setTimeout(loadLists, 250);
    }

    async function loadLists() {
      const asked = Date.now();
      const [waiting, own, callbacks] = await Promise.all([
        api("GET", "/api/appeals?status=awaiting&queue=mine"),
        api("GET", "/api/appeals?owner=me&status=open"),
        api("GET", "/api/appeals/callbacks"),
      ]);
      if (callbacks.ok) fillCallbacks(listOf(callbacks.data, "callbacks"));
      if (!waiting.ok && !own.ok) return;
      if (waiting.ok && waiting.data && Array.isArray(waiting.data.queues)) myQueues = waiting.data.queues;
      const mineList = listOf(own.data, "appeals").filter((a) => OPEN.has(a.status)).sort(byUrgency);
      const mineIds = new Set(mineList.map((a) => a.id));
      if (waiting.ok) syncOffers(listOf(waiting.data, "appeals"), asked);
      // An appeal offered to this operator stands among the offers, not here too.
      const takeList = listOf(waiting.data, "appeals")
        .filter((a) => (a.status === "awaiting" || a.status === "new") && !mineIds.has(a.id)
          && !offers.has(a.id))
        .sort(byUrgency);
      // A keyboard user keeps their place when the lists are drawn again.
      const active = document.activeElement;
      const item = active && ui.block.contains(active) ? active.closest(".ap-item") : null;
      const place = item && item.parentElement ? [item.parentElement.id, item.dataset.appealId, active.className] : null;
      fillList(ui.toTake, ui.toTakeEmpty, takeList, true);
      fillList(ui.mine, ui.mineEmpty, mineList, false);
      if (place && place[0] !== callbackList.id) {
        const again = Array.from(ui.block.querySelectorAll(`#${place[0]} .ap-item[data-appeal-id="${place[1]}"] button`))
          .find((b) => b.className === place[2]);
        if (again) again.focus({ preventScroll: true });
      }
      const late = [...takeList, ...mineList].filter((a) => deadline(a).state === "late").length;
      ui.lateCount.hidden = late === 0;
      ui.lateCount.textContent = String(late);
      ui.lateCount.setAttribute("aria-label", `${late} late`);
      markSelected();
    }

    function fillList(list, empty, appeals, takeable) {
      const items = appeals.map((a) => {
        const item = el("li", "ap-item");
        item.setAttribute("data-testid", "appeal-item");
        item.dataset.appealId = String(a.id);
        item.dataset.reference = a.reference || "";
        const open = el("button", "ap-item-open");
        open.type = "button";
        const top = el("span", "ap-item-top");
        top.append(el("strong", "ap-item-ref", refOf(a)), dueBadge(a));
        const bottom = el("span", "ap-item-bottom", [topicOf(a), a.stage_name || a.queue, a.customer_name].filter(Boolean).join(" · "));
        open.append(top, bottom);
        open.setAttribute("aria-label", `Appeal ${refOf(a)}, ${topicOf(a)}, ${a.stage_name || a.queue}, ${deadline(a).text}`);
        open.addEventListener("click", () => openView(a.id));
        item.append(open);
        if (takeable && (a.allowed_actions || ["take"]).includes("take")) {
          const take = button("Take", "btn", "appeal-take");
          take.setAttribute("aria-label", `Take appeal ${refOf(a)}`);
          take.addEventListener("click", () => takeFromList(a, take));
          item.append(take);
        }
        return item;
      });
      list.replaceChildren(...items);
      empty.hidden = items.length > 0;
    }

    // ---- the customers to call back ----
    /** The customer's identities, if this operator may read them (they serve the customer;
     * otherwise the gateway answers 404 and only the appeal's own phone fields are shown). */
    function customerIdentities(customerId) {
      const cached = customerCache.get(customerId);
      if (cached && Date.now() - cached.at < 60000) return cached.identities;
      const identities = api("GET", `/api/customers/${encodeURIComponent(customerId)}`)
        .then((res) => (res.ok && res.data && res.data.customer ? res.data.customer.identities || [] : null))
        .catch(() => null);
      customerCache.set(customerId, { at: Date.now(), identities });
      return identities;
    }

    function fillCallbacks(tasks) {
      const active = document.activeElement;
      const item = active && callbackList.contains(active) ? active.closest(".ap-item") : null;
      const place = item ? [item.dataset.taskId, active.getAttribute("data-testid")] : null;
      callbackList.replaceChildren(...tasks.map(callbackItem));
      callbackTitle.hidden = callbackList.hidden = tasks.length === 0;
      callbackCount.textContent = String(tasks.length);
      callbackCount.setAttribute("aria-label", `${tasks.length} to call back`);
      if (place) {
        const again = callbackList.querySelector(`.ap-item[data-task-id="${place[0]}"] [data-testid="${place[1]}"]`);
        if (again) again.focus({ preventScroll: true });
        else if (!callbackList.hidden) callbackTitle.focus();
      }
      markSelected();
    }

    function callbackItem(task) {
      const item = el("li", "ap-item ap-callback");
      item.setAttribute("data-testid", "appeal-callback-item");
      item.dataset.appealId = String(task.appeal_id);
      item.dataset.taskId = String(task.id);
      item.dataset.reference = task.reference || "";
      const ref = task.reference_display || task.reference;
      const open = el("button", "ap-item-open");
      open.type = "button";
      open.setAttribute("data-testid", "appeal-callback-open");
      const top = el("span", "ap-item-top");
      const age = el("span", "ap-item-age", ago(task.created_at));
      age.title = `Asked ${dateTime(task.created_at)}`;
      top.append(el("strong", "ap-item-ref", ref), age);
      const who = el("span", "ap-item-bottom", [topicOf(task), task.customer_name].filter(Boolean).join(" · "));
      const why = el("span", "ap-item-why", callbackWhy(task));
      why.setAttribute("data-testid", "appeal-callback-why");
      open.append(top, who, why);
      open.setAttribute("aria-label", `Call back about appeal ${ref}, ${topicOf(task)}, ${task.customer_name || "the customer"}, asked ${ago(task.created_at)}`);
      open.addEventListener("click", () => openView(task.appeal_id));
      const done = button("Done…", "btn", "appeal-callback-done");
      done.setAttribute("aria-label", `Called back: mark the call-back task of appeal ${ref} done`);
      done.addEventListener("click", () => callbackDone(task));
      const extra = el("div", "ap-callback-extra");
      const phones = callbackPhones(task);
      if (phones.length) extra.append(phoneLinks(phones));
      item.append(open, done, extra);
      // The customer's own phone numbers, when this operator may read the customer.
      const identities = task.customer_id != null ? customerIdentities(task.customer_id) : Promise.resolve(null);
      identities.then((found) => {
        const more = callbackPhones(task, found || []);
        if (!item.isConnected) return;
        if (more.length > phones.length) extra.replaceChildren(phoneLinks(more));
        else if (!more.length) extra.replaceChildren(el("span", "muted", "No phone number on file: open the appeal for its details."));
      });
      return item;
    }

    async function callbackDone(task) {
      const ref = task.reference_display || task.reference;
      const outcome = await askCallbackDone(api, task);
      if (!outcome) return;
      toast(outcome === "done" ? `${ref}: call-back done.` : `${ref}: this call-back was done already.`);
      scheduleLists();
      if (view.appeal && view.appeal.id === task.appeal_id) view.refresh();
    }

    async function takeFromList(a, trigger) {
      trigger.disabled = true;
      const res = await api("POST", `/api/appeals/${a.id}/actions`, { action: "take", expected_version: a.version });
      trigger.disabled = false;
      if (res.ok) {
        toast(`${refOf(a)} is yours now.`);
        await openView(a.id);
      } else if (res.status === 409) {
        toast("Someone else changed this appeal meanwhile (perhaps took it); the list is fresh again.", "error");
      } else {
        toast(reasonOf(res, "Could not take it"), "error");
      }
      scheduleLists();
    }

    function markSelected() {
      const current = view.appeal ? String(view.appeal.id) : null;
      for (const item of ui.block.querySelectorAll(".ap-item")) {
        const on = item.dataset.appealId === current;
        item.classList.toggle("selected", on);
        item.querySelector(".ap-item-open").setAttribute("aria-current", on ? "true" : "false");
      }
    }

    // ---- appeal offers: the gateway offers an awaiting appeal to one operator at a time ----
    // A card among the conversation offers (the place an operator answers within seconds),
    // with Take and Decline and a countdown; it goes when taken, declined, revoked or expired.
    // The awaiting list (queue=mine) carries offered_to and offer_expires_at, so an offer
    // still pending comes back after a reconnect or a reload.
    const offers = new Map(); // appeal id -> {id, appeal, expiresAt, since, busy, card, parts}
    const ended = new Set(); // `${id}@${expires_at}`: offers that are over, never shown again
    const missedTold = new Set(); // appeal ids whose missed offer the operator was told of
    const announcer = el("p", "sr");
    announcer.setAttribute("role", "status");
    announcer.setAttribute("aria-live", "polite");
    announcer.setAttribute("data-testid", "appeal-offer-announcer");
    if (ui.offers) ui.offers.after(announcer);

    function myId() { return (console_.me() || {}).id; }
    function offerKey(id, expiresAt) { return `${id}@${expiresAt || ""}`; }
    function secondsLeft(entry) { return Math.ceil((Date.parse(entry.expiresAt) - console_.serverNow()) / 1000); }

    function countdownText(secs) {
      return secs >= 60 ? `${Math.floor(secs / 60)}m ${secs % 60}s` : `${secs}s`;
    }

    function formatReference(reference) {
      const digits = String(reference || "").replace(/\D/g, "");
      return digits.length === 9 ? `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}` : String(reference || "");
    }

    function announce(text) {
      announcer.textContent = "";
      // A change of text a moment later is read even when the same words come twice.
      setTimeout(() => { announcer.textContent = text; }, 50);
    }

    function showOffer(a, expiresAt, fresh) {
      const id = Number(a.id);
      const expires = Date.parse(expiresAt || "");
      if (!Number.isFinite(id) || Number.isNaN(expires) || !console_.putOffer) return;
      if (ended.has(offerKey(id, expiresAt)) || expires <= console_.serverNow()) return;
      let entry = offers.get(id);
      if (entry && entry.expiresAt !== expiresAt) {
        endOffer(id); // an earlier offer of the same appeal (another stage): this one replaces it
        entry = null;
      }
      if (entry) {
        entry.appeal = a;
        fillOffer(entry);
        return;
      }
      missedTold.delete(id);
      entry = { id, appeal: a, expiresAt, since: Date.now(), busy: false };
      buildOffer(entry);
      offers.set(id, entry);
      console_.putOffer(`appeal:${id}`, entry.card, () => { offers.delete(id); });
      fillOffer(entry);
      if (fresh) {
        const where = [topicOf(a), a.stage_name || a.queue].filter(Boolean).join(", ");
        announce(`Appeal ${refOf(a)} offered to you: ${where}. Take or decline within ${span(secondsLeft(entry))}.`);
      }
    }

    function buildOffer(entry) {
      const card = el("li", "offer ap-offer");
      card.setAttribute("data-testid", "appeal-offer");
      card.dataset.appealId = String(entry.id);
      const head = el("div", "offer-head");
      const kind = el("span", "chip ap-offer-kind", "Appeal");
      const ref = el("strong", "ap-offer-ref");
      ref.setAttribute("data-testid", "appeal-offer-reference");
      const countdown = el("span", "countdown");
      countdown.setAttribute("role", "timer");
      countdown.setAttribute("data-testid", "appeal-offer-countdown");
      countdown.title = "Time left to take this appeal; then it is offered to a colleague";
      head.append(kind, countdown);
      // The number and what it is about on one line (it wraps in a narrow sidebar).
      const what = el("p", "ap-offer-what");
      const topic = el("span", "ap-offer-topic");
      topic.setAttribute("data-testid", "appeal-offer-topic");
      what.append(ref, " ", topic);
      const meta = el("p", "ap-offer-meta");
      const customer = el("span", "ap-offer-customer");
      customer.setAttribute("data-testid", "appeal-offer-customer");
      const prio = el("span", "ap-prio");
      prio.setAttribute("data-testid", "appeal-offer-priority");
      const due = el("span", "ap-offer-due");
      meta.append(customer, prio, due);
      const returned = el("p", "offer-note ap-offer-returned");
      returned.setAttribute("data-testid", "appeal-offer-returned");
      const actions = el("div", "offer-actions");
      const take = button("Take", "btn primary", "appeal-offer-take");
      const decline = button("Decline", "btn", "appeal-offer-decline");
      take.addEventListener("click", () => takeOffer(entry));
      decline.addEventListener("click", () => declineOffer(entry));
      actions.append(take, decline);
      card.append(head, what, meta, returned, actions);
      entry.card = card;
      entry.parts = { ref, countdown, topic, customer, prio, due, returned, take, decline };
    }

    function fillOffer(entry) {
      const a = entry.appeal;
      const p = entry.parts;
      entry.card.dataset.reference = a.reference || "";
      p.ref.textContent = refOf(a);
      p.topic.textContent = [topicOf(a), a.stage_name || a.queue].filter(Boolean).join(" · ");
      p.customer.textContent = a.customer_name || "Customer";
      p.prio.textContent = `${humanize(a.priority || "normal")} priority`;
      p.prio.dataset.priority = a.priority || "normal";
      p.due.replaceChildren(dueBadge(a));
      p.returned.hidden = !a.returned_reason;
      p.returned.textContent = a.returned_reason ? `Sent back: ${a.returned_reason}` : "";
      p.take.setAttribute("aria-label", `Take appeal ${refOf(a)}, ${topicOf(a)}`);
      p.decline.setAttribute("aria-label", `Decline appeal ${refOf(a)}`);
      tickOffer(entry);
    }

    /** The countdown; false once the offer is over here (the gateway ends it too). */
    function tickOffer(entry) {
      const left = secondsLeft(entry);
      if (left <= -2) return false;
      const secs = Math.max(0, left);
      entry.parts.countdown.textContent = `Take within ${countdownText(secs)}`;
      entry.parts.countdown.classList.toggle("urgent", secs <= 10);
      return true;
    }

    setInterval(() => {
      for (const entry of Array.from(offers.values())) {
        if (!tickOffer(entry)) {
          endOffer(entry.id);
          toldMissed(entry.id, refOf(entry.appeal));
        }
      }
    }, 1000);

    /** The card goes; focus, if it was on the card, moves to the next offer or the heading. */
    function endOffer(id) {
      const entry = offers.get(id);
      if (!entry) return;
      offers.delete(id);
      ended.add(offerKey(id, entry.expiresAt));
      const hadFocus = entry.card.contains(document.activeElement)
        || (entry.focused && document.activeElement === document.body);
      console_.dropOffer(`appeal:${id}`);
      if (hadFocus) {
        const next = ui.offers && ui.offers.querySelector(".offer .btn.primary:not(:disabled)");
        const heading = console_.offersHeading && console_.offersHeading();
        if (next) next.focus();
        else if (heading) {
          heading.tabIndex = -1;
          heading.focus();
        }
      }
    }

    function toldMissed(id, reference) {
      if (missedTold.has(id)) return;
      missedTold.add(id);
      toast(`You missed appeal ${reference}.`);
    }

    function onOfferRevoked(frame) {
      const id = Number(frame.appeal_id);
      const entry = offers.get(id);
      const reference = entry ? refOf(entry.appeal) : formatReference(frame.reference);
      endOffer(id);
      scheduleLists();
      if (frame.reason === "missed") toldMissed(id, reference);
      else if (frame.reason === "taken") toast(`Appeal ${reference} was taken by a colleague.`);
      else if (frame.reason === "cancel") toast(`Appeal ${reference} was cancelled; the offer is over.`);
      else if (frame.reason === "escalate") toast(`Appeal ${reference} moved to the next stage; the offer is over.`);
      else toast(`The offer of appeal ${reference} is over.`);
    }

    /** The awaiting list says which offers are still ours (after a reconnect, a reload). */
    function syncOffers(list, asked) {
      const me = myId();
      const still = new Set();
      for (const a of list) {
        if (a.offered_to !== me || !a.offer_expires_at || a.status !== "awaiting") continue;
        still.add(a.id);
        showOffer(a, a.offer_expires_at, !offers.has(a.id));
      }
      // Offers shown before the list was asked for and not in it any more ended meanwhile.
      for (const entry of Array.from(offers.values())) {
        if (!still.has(entry.id) && entry.since < asked) endOffer(entry.id);
      }
    }

    function setOfferBusy(entry, busy) {
      // A disabled button loses focus: remember where it was, to put it back or move it on.
      const focused = entry.card.contains(document.activeElement) ? document.activeElement : null;
      if (busy) entry.focused = focused;
      entry.busy = busy;
      entry.parts.take.disabled = busy;
      entry.parts.decline.disabled = busy;
      entry.card.setAttribute("aria-busy", String(busy));
      if (!busy && entry.focused && entry.focused.isConnected && document.activeElement === document.body) {
        entry.focused.focus();
      }
      if (!busy) entry.focused = null;
    }

    async function takeOffer(entry) {
      if (entry.busy) return;
      setOfferBusy(entry, true);
      let a = entry.appeal;
      const take = (x) => api("POST", `/api/appeals/${x.id}/actions`, { action: "take", expected_version: x.version });
      let res = await take(a);
      if (res.status === 409 && res.data && res.data.error === "version_conflict") {
        // Someone changed it meanwhile (a note, the priority): still offered to us, take it.
        const again = await api("GET", `/api/appeals/${a.id}`);
        const fresh = again.ok ? appealOf(again.data) : null;
        if (fresh && fresh.status === "awaiting" && fresh.offered_to === myId()) {
          a = fresh;
          res = await take(a);
        }
      }
      if (res.ok) {
        endOffer(entry.id);
        toast(`${refOf(a)} is yours now.`);
        scheduleLists();
        await openView(a.id);
        return;
      }
      if (res.status === 409 && res.data && res.data.error === "at_capacity") {
        setOfferBusy(entry, false); // it stays offered until it runs out or is declined
        toast(reasonOf(res, "Could not take it"), "error");
        return;
      }
      endOffer(entry.id);
      toast(res.status === 409 ? `Appeal ${refOf(a)} changed meanwhile: ${reasonOf(res, "it cannot be taken now")}`
        : reasonOf(res, "Could not take it"), "error");
      scheduleLists();
    }

    async function declineOffer(entry) {
      if (entry.busy) return;
      setOfferBusy(entry, true);
      const res = await api("POST", `/api/appeals/${entry.id}/decline`);
      if (res.ok || res.status === 404) {
        const reference = refOf(entry.appeal);
        endOffer(entry.id);
        if (res.ok) announce(`Declined appeal ${reference}.`);
        else toast(`The offer of appeal ${reference} had already ended.`);
        scheduleLists();
        return;
      }
      setOfferBusy(entry, false);
      toast(reasonOf(res, "Could not decline"), "error");
    }

    // ---- the conversation's appeal and the customer's earlier ones ----
    async function refreshStrip() {
      const conv = shownConversation;
      if (!conv) return;
      const ticket = ++stripTicket;
      const customerId = conv.customer && conv.customer.id;
      const [res, customer] = customerId != null
        ? await Promise.all([
          api("GET", `/api/appeals?customer_id=${encodeURIComponent(customerId)}`),
          api("GET", `/api/customers/${encodeURIComponent(customerId)}`),
        ])
        : [null, null];
      if (ticket !== stripTicket) return;
      const appeals = res && res.ok ? listOf(res.data, "appeals") : [];
      const linked = appeals.find((a) => a.conversation_id === conv.id
        || (Array.isArray(a.conversation_ids) && a.conversation_ids.includes(conv.id)));
      const parts = [];
      if (linked) {
        const tag = el("span", "ap-strip-label", "Appeal");
        const link = button(refOf(linked), "link-button ap-strip-ref", "conv-appeal-link");
        link.setAttribute("aria-label", `Open appeal ${refOf(linked)}`);
        link.addEventListener("click", () => openView(linked.id));
        const status = el("span", "ap-status", statusLabel(linked.status));
        status.dataset.status = linked.status;
        parts.push(tag, link, el("span", "muted small", topicOf(linked)), status);
      } else {
        const open = button("Open appeal…", "btn", "open-appeal");
        open.addEventListener("click", () => openAppealDialog(conv));
        parts.push(open);
      }
      const earlier = appeals.filter((a) => a !== linked);
      if (earlier.length) {
        const more = el("details", "ap-earlier");
        more.setAttribute("data-testid", "customer-appeals");
        more.append(el("summary", "", `Earlier appeals of ${conv.customer.name || "this customer"} (${earlier.length})`));
        const list = el("ul", "ap-plain");
        for (const a of earlier) {
          const item = el("li");
          const b = button(`${refOf(a)} · ${topicOf(a)}`, "link-button", "customer-appeal");
          b.addEventListener("click", () => openView(a.id));
          const about = [statusLabel(a.status), dateTime(a.created_at)];
          if (a.conversation_id) about.push(`conversation #${a.conversation_id}`);
          item.append(b, el("span", "muted small", ` ${about.join(" · ")}`));
          list.append(item);
        }
        more.append(list);
        parts.push(more);
      }
      const before = customer && customer.ok && customer.data && Array.isArray(customer.data.conversations)
        ? customer.data.conversations.filter((c) => c.id !== conv.id)
        : [];
      if (before.length) {
        const more = el("details", "ap-earlier");
        more.setAttribute("data-testid", "customer-conversations");
        more.append(el("summary", "", `Earlier conversations (${before.length})`));
        const list = el("ul", "ap-plain");
        for (const c of before) {
          const item = el("li");
          item.dataset.testid = "customer-conversation";
          const about = [`#${c.id}`, channelName(c.channel), humanize(c.status)];
          if (c.created_at) about.push(dateTime(c.created_at));
          const appeal = appeals.find((a) => a.conversation_id === c.id);
          item.append(el("span", "", about.join(" · ")));
          if (appeal) {
            const b = button(refOf(appeal), "link-button", "customer-conversation-appeal");
            b.setAttribute("aria-label", `Open appeal ${refOf(appeal)}, opened from conversation ${c.id}`);
            b.addEventListener("click", () => openView(appeal.id));
            item.append(" · appeal ", b);
          }
          list.append(item);
        }
        more.append(list);
        parts.push(more);
      }
      ui.strip.replaceChildren(...parts);
    }

    console_.onPane((conv) => {
      const changed = (conv && conv.id) !== (shownConversation && shownConversation.id);
      shownConversation = conv;
      if (!conv) {
        ui.strip.replaceChildren();
        return;
      }
      if (changed) {
        ui.strip.replaceChildren();
        refreshStrip();
      }
    });

    // ---- "Open appeal": topic, its form, priority, summary ----
    async function openAppealDialog(conv) {
      const { topics: list } = await loadTopics(true);
      if (!list.length) {
        toast("No appeal topics are set up yet (an admin adds them).", "error");
        return;
      }
      let created = null;
      let fields = null;
      await dialog({
        title: `New appeal for ${conv.customer && conv.customer.name ? conv.customer.name : "this customer"}`,
        help: "The customer gets its number; it moves through its topic's stages from here.",
        submitLabel: "Open appeal",
        testid: "appeal-create-dialog",
        wide: true,
        build(body, id) {
          const topicLabel = el("label", "", "Topic");
          topicLabel.htmlFor = `${id}-topic`;
          const topic = el("select");
          topic.id = `${id}-topic`;
          topic.setAttribute("data-testid", "appeal-topic");
          const blank = el("option", "", "Choose a topic…");
          blank.value = "";
          topic.append(blank);
          for (const t of list) {
            const opt = el("option", "", `${words(t.title, humanize(t.name))}${t.category ? ` (${CATEGORY[t.category] || t.category})` : ""}`);
            opt.value = t.name;
            topic.append(opt);
          }
          const topicError = el("p", "ap-field-error");
          topicError.id = `${id}-topic-error`;
          topicError.hidden = true;
          topic.setAttribute("aria-describedby", topicError.id);
          const route = el("p", "ap-route muted small");
          route.setAttribute("data-testid", "appeal-route");
          const holder = el("div", "ap-topic-fields");
          const prioLabel = el("label", "", "Priority");
          prioLabel.htmlFor = `${id}-priority`;
          const prio = prioritySelect(`${id}-priority`, "normal");
          prio.setAttribute("data-testid", "appeal-create-priority");
          const sumLabel = el("label", "", "Summary");
          sumLabel.htmlFor = `${id}-summary`;
          const summary = el("textarea");
          summary.id = `${id}-summary`;
          summary.rows = 2;
          summary.maxLength = 500;
          summary.setAttribute("data-testid", "appeal-create-summary");
          const pick = () => {
            const t = list.find((x) => x.name === topic.value);
            fields = t ? fieldForm(t.fields || [], {}, `${id}-${t.name}`) : null;
            holder.replaceChildren(...(fields ? [fields.node] : []));
            if (t && t.priority) prio.value = t.priority;
            const stages = (t && (t.stages || t.route)) || [];
            route.textContent = stages.length ? `Route: ${stages.map((s) => s.name || s).join(" → ")}` : "";
          };
          topic.addEventListener("change", pick);
          if (list.length === 1) { topic.value = list[0].name; pick(); }
          const meta = el("div", "ap-field-row");
          const f1 = el("div", "ap-field");
          f1.append(topicLabel, topic, topicError, route);
          const f2 = el("div", "ap-field ap-narrow");
          f2.append(prioLabel, prio);
          meta.append(f1, f2);
          const f3 = el("div", "ap-field");
          f3.append(sumLabel, summary);
          body.append(meta, holder, f3);
          return () => ({ topic: topic.value, priority: prio.value, summary: summary.value.trim(), topicInput: topic, topicError });
        },
        async submit(v, box) {
          v.topicError.hidden = true;
          if (!v.topic) {
            v.topicError.textContent = "Choose a topic.";
            v.topicError.hidden = false;
            v.topicInput.setAttribute("aria-invalid", "true");
            v.topicInput.focus();
            return "Choose a topic first.";
          }
          v.topicInput.removeAttribute("aria-invalid");
          const res = await api("POST", "/api/appeals", {
            topic: v.topic, conversation_id: conv.id, priority: v.priority, summary: v.summary,
            fields: fields ? fields.read() : {},
          });
          if (res.status === 422) {
            const map = fieldErrors(res.data);
            const unplaced = fields ? fields.showErrors(map) : Object.keys(map);
            if (Object.keys(map).length && !unplaced.length) return "Check the marked fields.";
            return unplaced.length ? unplaced.join("; ") : reasonOf(res, "The appeal was not opened");
          }
          if (!res.ok) return reasonOf(res, "The appeal was not opened");
          created = appealOf(res.data);
          showRegistered(box, created, res.status === 200);
          return KEEP;
        },
      });
      refreshStrip();
      scheduleLists();
      if (created && created.openNow) openView(created.id);
    }

    /** The dialog turns into the number, big, with what to do next. */
    function showRegistered(box, appeal, existed) {
      const form = box.querySelector("form");
      const done = el("div", "ap-registered");
      done.setAttribute("data-testid", "appeal-registered");
      const title = el("h3", "", existed ? "This conversation already has an appeal" : "Appeal registered");
      title.id = box.getAttribute("aria-labelledby");
      const number = el("p", "ap-big-ref", refOf(appeal));
      number.setAttribute("data-testid", "appeal-created-reference");
      number.tabIndex = -1;
      const said = el("p", "muted", `${topicOf(appeal)} · ${appeal.stage_name || appeal.queue} · tell the customer this number; they can quote it on any channel.`);
      const actions = el("div", "ap-dialog-actions");
      const close = button("Done", "btn", "appeal-created-done");
      const open = button("Open the appeal", "btn primary", "appeal-created-open");
      close.addEventListener("click", () => box.close());
      open.addEventListener("click", () => { appeal.openNow = true; box.close(); });
      actions.append(close, open);
      done.append(title, number, said, actions);
      form.replaceWith(done);
      box.removeAttribute("aria-describedby");
      number.focus();
    }

    // ---- wrap-up codes when a conversation is resolved ----
    console_.onResolve(async (conversationId) => {
      const { dispositions } = await loadTopics(false);
      if (!dispositions.length) return false;
      await dialog({
        title: "Resolve conversation",
        help: "Choose how it ended (the wrap-up code goes into the reports).",
        submitLabel: "Resolve",
        testid: "disposition-dialog",
        build(body, id) {
          const label = el("label", "", "Outcome");
          label.htmlFor = `${id}-code`;
          const select = el("select");
          select.id = `${id}-code`;
          select.required = true;
          select.setAttribute("aria-required", "true");
          select.setAttribute("data-testid", "disposition");
          const blank = el("option", "", "Choose…");
          blank.value = "";
          select.append(blank);
          for (const d of dispositions) {
            const opt = el("option", "", words(d.label, humanize(d.code)));
            opt.value = d.code;
            select.append(opt);
          }
          body.append(label, select);
          return () => ({ code: select.value, input: select });
        },
        async submit(v) {
          if (!v.code) { v.input.focus(); return "Choose an outcome."; }
          const res = await api("POST", `/api/conversations/${conversationId}/resolve`, { disposition: v.code });
          return res.ok ? null : reasonOf(res, "Could not resolve");
        },
      });
      return true; // resolved here (the socket's "closed" frame updates the list) or cancelled
    });

    // ---- live: frames from the console's socket ----
    console_.onFrame((frame) => {
      if (frame.type === "hello") {
        const me = console_.me() || {};
        if (me.id !== userId) {
          userId = me.id;
          topics = null;
          if (view.appeal) closeView();
          for (const id of Array.from(offers.keys())) endOffer(id);
          ended.clear();
        }
        scheduleLists(); // also after a reconnect: pushes (and offers) may have been missed
        if (view.appeal) view.refresh();
        return;
      }
      if (frame.type === "appeal_offer") {
        if (frame.appeal) showOffer(frame.appeal, frame.expires_at, true);
        scheduleLists();
        return;
      }
      if (frame.type === "appeal_offer_revoked") {
        onOfferRevoked(frame);
        return;
      }
      if (frame.type !== "appeal" || !frame.appeal) return;
      const a = frame.appeal;
      const offered = offers.get(a.id);
      if (offered) {
        // Still ours to answer: the card follows the changes; otherwise the offer is over.
        if (a.offered_to === myId() && a.offer_expires_at === offered.expiresAt) {
          // (a push names no customer: the card keeps the name it has)
          offered.appeal = { ...a, customer_name: a.customer_name || offered.appeal.customer_name };
          fillOffer(offered);
        } else {
          endOffer(a.id);
        }
      }
      scheduleLists();
      // A call-back task that came or was done moves no version: the view is read again too.
      const callback = /^callback_/.test(String(frame.action || ""));
      if (view.appeal && view.appeal.id === a.id && (a.version !== view.appeal.version || callback)) view.refresh();
      if (shownConversation && shownConversation.customer && shownConversation.customer.id === a.customer_id) refreshStrip();
    });

    // The lists are read again now and then too: a deadline passes on its own, and a push
    // can be missed while the socket reconnects.
    setInterval(() => { if (!ui.app.hidden && document.visibilityState === "visible") scheduleLists(); }, 20000);
  }
})();
