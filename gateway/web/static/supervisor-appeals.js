/*
 * The supervisor page's Appeals section: every stage's list grouped by queue, late and nearly
 * late first with badges; filters (queue, status, late only); assign or reassign to an
 * operator; change the priority; open the appeal view (appeals.js) in a dialog; the customers
 * to call back (call-back tasks not done yet), each with Done.
 * Polls /api/appeals like the rest of the page polls its overview.
 */
(() => {
  "use strict";

  const K = window.AppealKit;
  const POLL_MS = 4000;
  const root = document.getElementById("sv-appeals");
  if (!K || !root) return;
  const { el, button, refOf, topicOf, statusLabel, humanize, deadline, dueBadge, byUrgency, OPEN } = K;
  const api = K.pageApi();
  const ui = {
    queue: document.getElementById("sv-appeals-queue"),
    status: document.getElementById("sv-appeals-status"),
    late: document.getElementById("sv-appeals-late"),
    groups: document.getElementById("sv-appeal-groups"),
    empty: document.getElementById("sv-appeals-empty"),
    notice: document.getElementById("sv-appeals-notice"),
    counts: document.querySelector('[data-testid="sv-appeal-counts"] tbody'),
    alerts: document.getElementById("sv-appeal-alerts"),
  };
  const ALERTS = {
    stage_warning: "stage nearly late", stage_breach: "stage deadline passed",
    first_response_warning: "first answer nearly late", first_response_breach: "first answer late",
    resolution_warning: "resolution nearly late", resolution_breach: "resolution late",
  };
  const DONE = { escalate: "escalated to the next stage", notify: "staff told", warn: "" };
  const ALERTS_SHOWN = 8;
  // The call-back tasks, under the deadline alerts (hidden while there are none).
  const callbackTitle = el("h3", "ap-subhead", "Call back");
  callbackTitle.id = "sv-callbacks-title";
  const callbackList = el("ul", "sv-callbacks");
  callbackList.setAttribute("data-testid", "sv-appeal-callbacks");
  callbackList.setAttribute("aria-labelledby", callbackTitle.id);
  callbackTitle.hidden = callbackList.hidden = true;
  ui.alerts.after(callbackTitle, callbackList);
  let me = {};
  let operators = [];
  let operatorsAt = 0;
  let timer = null;
  const queuesSeen = new Set();

  function notice(text, kind) {
    ui.notice.textContent = text;
    ui.notice.dataset.kind = kind || "info";
    ui.notice.hidden = !text;
  }

  // ---- the appeal view in a dialog ----
  const viewDialog = el("dialog", "ap-dialog ap-view-dialog");
  viewDialog.setAttribute("aria-label", "Appeal");
  viewDialog.setAttribute("data-testid", "sv-appeal-dialog");
  const viewRoot = el("div", "pane-appeal");
  viewDialog.append(viewRoot);
  document.body.append(viewDialog);
  let opener = null;
  const view = K.AppealView(viewRoot, {
    api,
    me: () => me,
    toast: (text, kind) => notice(text, kind),
    closeLabel: "Close the appeal",
    closeIcon: "✕",
    onClose: () => viewDialog.close(),
    onChanged: () => poll(true),
    operators: loadOperators,
  });
  viewDialog.addEventListener("close", () => {
    view.close();
    if (opener && opener.isConnected) opener.focus();
  });

  async function openView(id, trigger) {
    opener = trigger || document.activeElement;
    const shown = await view.open(id);
    if (!shown) return;
    viewDialog.showModal();
    const heading = viewRoot.querySelector(".ap-titles h2");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus();
    }
  }

  async function loadOperators() {
    if (operators.length && Date.now() - operatorsAt < 30000) return operators;
    const res = await api("GET", "/api/transfer-targets");
    if (res.ok && res.data) {
      operators = res.data.operators || [];
      operatorsAt = Date.now();
    }
    return operators;
  }

  // ---- actions from the list ----
  async function assign(a, select, trigger) {
    const ownerId = Number(select.value);
    if (!ownerId) {
      select.focus();
      notice(`Choose whom to give ${refOf(a)} to.`, "error");
      return;
    }
    const action = a.status === "awaiting" || a.status === "new" ? "take" : "reassign";
    trigger.disabled = select.disabled = true;
    const res = await api("POST", `/api/appeals/${a.id}/actions`, { action, expected_version: a.version, owner_id: ownerId });
    trigger.disabled = select.disabled = false;
    const who = select.selectedOptions[0] ? select.selectedOptions[0].textContent : "them";
    if (res.ok) notice(`${refOf(a)} is now with ${who}.`);
    else if (res.status === 409) notice(`${refOf(a)} changed meanwhile (someone else acted on it); the list is fresh again.`, "error");
    else notice(`${refOf(a)} was not reassigned: ${K.reasonOf(res, "refused")}.`, "error");
    poll(true);
  }

  async function reprioritise(a, select) {
    select.disabled = true;
    const res = await api("PATCH", `/api/appeals/${a.id}`, { expected_version: a.version, priority: select.value });
    select.disabled = false;
    if (res.ok) notice(`${refOf(a)}: priority ${humanize(select.value).toLowerCase()}.`);
    else if (res.status === 409) notice(`${refOf(a)} changed meanwhile; the list is fresh again.`, "error");
    else notice(`${refOf(a)}: priority not changed: ${K.reasonOf(res, "refused")}.`, "error");
    poll(true);
  }

  // ---- drawing ----
  function cell(row, content, className) {
    const td = el("td", className);
    if (content instanceof Node) td.append(content);
    else td.textContent = content == null ? "" : String(content);
    row.append(td);
    return td;
  }

  function assignControl(a) {
    const box = el("span", "ap-inline");
    if (!OPEN.has(a.status)) return box;
    const select = el("select");
    select.setAttribute("aria-label", `Give appeal ${refOf(a)} to`);
    select.setAttribute("data-testid", "sv-appeal-operator");
    const none = el("option", "", "Operator…");
    none.value = "";
    select.append(none);
    for (const op of operators) {
      if (op.id === a.owner_id) continue;
      const opt = el("option", "", op.name);
      opt.value = String(op.id);
      select.append(opt);
    }
    const go = button(a.owner_id ? "Reassign" : "Assign", "btn", "sv-appeal-assign");
    go.setAttribute("aria-label", `${a.owner_id ? "Reassign" : "Assign"} appeal ${refOf(a)}`);
    go.addEventListener("click", () => assign(a, select, go));
    box.append(select, go);
    return box;
  }

  function row(a) {
    const tr = el("tr");
    const due = deadline(a).state;
    tr.className = due === "late" ? "ap-row-late" : due === "warn" ? "ap-row-warn" : "";
    tr.setAttribute("data-testid", "sv-appeal");
    tr.dataset.reference = a.reference || "";
    tr.dataset.appealId = String(a.id);
    tr.dataset.deadline = due;
    const open = button(refOf(a), "link-button ap-row-ref", "sv-appeal-open");
    open.setAttribute("aria-label", `Open appeal ${refOf(a)}`);
    open.addEventListener("click", () => openView(a.id, open));
    cell(tr, open);
    cell(tr, [topicOf(a), a.customer_name].filter(Boolean).join(" · "));
    cell(tr, a.stage_name || a.queue);
    const status = el("span", "ap-status", statusLabel(a.status));
    status.dataset.status = a.status;
    cell(tr, status);
    cell(tr, a.owner_name || (a.owner_id ? `#${a.owner_id}` : "—")).setAttribute("data-testid", "sv-appeal-owner");
    const prio = K.prioritySelect(`sv-prio-${a.id}`, a.priority);
    prio.setAttribute("aria-label", `Priority of appeal ${refOf(a)}`);
    prio.setAttribute("data-testid", "sv-appeal-priority");
    prio.disabled = !OPEN.has(a.status);
    prio.addEventListener("change", () => reprioritise(a, prio));
    cell(tr, prio);
    cell(tr, dueBadge(a));
    cell(tr, assignControl(a));
    return tr;
  }

  const HEADS = ["Appeal", "Topic · customer", "Stage", "Status", "Owner", "Priority", "Deadline", "Give to"];

  function group(queue, appeals) {
    const box = el("div", "ap-group");
    box.setAttribute("data-testid", "sv-appeal-group");
    box.dataset.queue = queue;
    const title = el("h3");
    title.id = `sv-appeals-q-${queue.replace(/[^a-z0-9_-]/gi, "_")}`;
    title.append(el("span", "", `Queue ${queue}`), el("span", "muted small", appeals.length === 1 ? "1 appeal" : `${appeals.length} appeals`));
    const late = appeals.filter((a) => deadline(a).state === "late").length;
    const warn = appeals.filter((a) => deadline(a).state === "warn").length;
    if (late) {
      const b = el("span", "ap-due", `${late} late`);
      b.dataset.state = "late";
      title.append(b);
    }
    if (warn) {
      const b = el("span", "ap-due", `${warn} nearly late`);
      b.dataset.state = "warn";
      title.append(b);
    }
    const scroll = el("div", "sv-scroll");
    const table = el("table", "sv-table");
    table.setAttribute("aria-labelledby", title.id);
    const thead = el("thead");
    const hr = el("tr");
    for (const h of HEADS) {
      const th = el("th", "", h);
      th.scope = "col";
      hr.append(th);
    }
    thead.append(hr);
    const tbody = el("tbody");
    for (const a of appeals) tbody.append(row(a));
    table.append(thead, tbody);
    scroll.append(table);
    box.append(title, scroll);
    return box;
  }

  function draw(appeals) {
    for (const a of appeals) queuesSeen.add(a.queue);
    const chosen = ui.queue.value;
    const options = Array.from(queuesSeen).sort();
    const have = Array.from(ui.queue.options).slice(1).map((o) => o.value);
    if (have.join("\n") !== options.join("\n")) {
      const all = el("option", "", "All queues");
      all.value = "";
      ui.queue.replaceChildren(all, ...options.map((q) => {
        const o = el("option", "", q);
        o.value = q;
        return o;
      }));
      ui.queue.value = chosen;
    }
    let shown = appeals;
    if (ui.status.value === "open") shown = shown.filter((a) => OPEN.has(a.status));
    else if (ui.status.value) shown = shown.filter((a) => a.status === ui.status.value);
    if (chosen) shown = shown.filter((a) => a.queue === chosen);
    if (ui.late.checked) shown = shown.filter((a) => deadline(a).state === "late");
    const byQueue = new Map();
    for (const a of shown.slice().sort(byUrgency)) {
      if (!byQueue.has(a.queue)) byQueue.set(a.queue, []);
      byQueue.get(a.queue).push(a);
    }
    // Queues with late appeals first, then the ones with nearly late, then by name.
    const worst = (list) => Math.min(...list.map((a) => ({ late: 0, warn: 1 })[deadline(a).state] ?? 2));
    const queues = Array.from(byQueue.keys()).sort((x, y) => worst(byQueue.get(x)) - worst(byQueue.get(y)) || x.localeCompare(y));
    // A keyboard user keeps their place when the list is drawn again.
    const active = document.activeElement;
    const row = active && ui.groups.contains(active) ? active.closest("tr") : null;
    const place = row ? [row.dataset.appealId, active.getAttribute("data-testid")] : null;
    ui.groups.replaceChildren(...queues.map((q) => group(q, byQueue.get(q))));
    if (place) {
      const again = ui.groups.querySelector(`tr[data-appeal-id="${place[0]}"] [data-testid="${place[1]}"]`);
      if (again) again.focus();
    }
    ui.empty.hidden = shown.length > 0;
  }

  // ---- the numbers per queue and the alerts that still stand ----
  function drawOverview(data) {
    const rows = (data.queues || []).map((q) => {
      const tr = el("tr");
      tr.setAttribute("data-testid", "sv-appeal-count");
      tr.dataset.queue = q.queue;
      const values = [q.queue, q.open, q.awaiting, q.in_progress, q.pending_customer, q.pending_third_party, q.late, q.nearly_late];
      values.forEach((v, i) => {
        const td = cell(tr, v);
        if (i === 6 && v) td.className = "sv-level-bad";
        if (i === 6) td.setAttribute("data-testid", "sv-appeal-late-count");
      });
      return tr;
    });
    ui.counts.replaceChildren(...rows);
    const alerts = (data.alerts || []).slice(0, ALERTS_SHOWN).map((a) => {
      const item = el("li", "ap-alert");
      item.dataset.kind = a.kind;
      item.setAttribute("data-testid", "sv-appeal-alert");
      const open = button(a.reference_display || a.reference, "link-button ap-row-ref", "sv-alert-open");
      open.setAttribute("aria-label", `Open appeal ${a.reference_display || a.reference}`);
      open.addEventListener("click", () => openView(a.appeal_id, open));
      const what = [ALERTS[a.kind] || humanize(a.kind), `queue ${a.queue}`, DONE[a.action] || "", K.dateTime(a.created_at)];
      item.append(open, el("span", "", ` ${what.filter(Boolean).join(" · ")}`));
      return item;
    });
    ui.alerts.replaceChildren(...alerts);
    drawCallbacks(data.callbacks || []);
  }

  function drawCallbacks(tasks) {
    const active = document.activeElement;
    const item = active && callbackList.contains(active) ? active.closest("li") : null;
    const place = item ? [item.dataset.taskId, active.getAttribute("data-testid")] : null;
    callbackList.replaceChildren(...tasks.map((task) => {
      const ref = task.reference_display || task.reference;
      const li = el("li", "sv-callback");
      li.setAttribute("data-testid", "sv-appeal-callback");
      li.dataset.taskId = String(task.id);
      li.dataset.appealId = String(task.appeal_id);
      const open = button(ref, "link-button ap-row-ref", "sv-callback-open");
      open.setAttribute("aria-label", `Open appeal ${ref}`);
      open.addEventListener("click", () => openView(task.appeal_id, open));
      const what = [`queue ${task.queue}`, topicOf(task), task.customer_name, K.ago(task.created_at)];
      const text = el("span", "", what.filter(Boolean).join(" · "));
      text.title = K.callbackWhy(task);
      const done = button("Done…", "btn", "sv-callback-done");
      done.setAttribute("aria-label", `Called back: mark the call-back task of appeal ${ref} done`);
      done.addEventListener("click", async () => {
        const outcome = await K.askCallbackDone(api, task);
        if (!outcome) return;
        notice(outcome === "done" ? `${ref}: call-back done.` : `${ref}: this call-back was done already.`);
        poll(true);
      });
      li.append(open, text, done);
      return li;
    }));
    callbackTitle.hidden = callbackList.hidden = tasks.length === 0;
    if (place) {
      const again = callbackList.querySelector(`li[data-task-id="${place[0]}"] [data-testid="${place[1]}"]`);
      if (again) again.focus();
    }
  }

  async function poll(now) {
    clearTimeout(timer);
    // Not while the supervisor is choosing something in the list.
    const busy = (document.activeElement && document.activeElement.closest("#sv-appeal-groups select"))
      || document.querySelector('[data-testid="ap-callback-dialog"]');
    if ((busy || viewDialog.open) && !now) {
      timer = setTimeout(poll, POLL_MS);
      return;
    }
    const query = new URLSearchParams();
    if (ui.queue.value) query.set("queue", ui.queue.value);
    if (ui.status.value) query.set("status", ui.status.value);
    if (ui.late.checked) query.set("late", "1");
    try {
      if (!me.id) {
        const res = await fetch("/api/me", { credentials: "same-origin", cache: "no-store" });
        if (res.ok) me = (await res.json()).user || {};
      }
      await loadOperators();
      const [res, overview] = await Promise.all([
        api("GET", `/api/appeals${query.toString() ? `?${query}` : ""}`),
        api("GET", "/api/appeals/overview"),
      ]);
      if (overview.ok && overview.data) drawOverview(overview.data);
      if (res.ok) draw(K.listOf(res.data, "appeals"));
      else if (res.status !== 401 && res.status !== 403) notice(`The appeals list answered ${res.status}; retrying.`, "error");
    } catch (_) {
      /* the page's own notice says the gateway cannot be reached */
    }
    timer = setTimeout(poll, POLL_MS);
  }

  for (const input of [ui.queue, ui.status, ui.late]) input.addEventListener("change", () => poll(true));
  poll(true);
})();
