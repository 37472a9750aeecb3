// Supervisor view: polls /api/supervisor/overview and draws queues and operators.
// All text goes in with textContent.
(() => {
  "use strict";
  const POLL_MS = 2000;
  const $ = (sel) => document.querySelector(sel);

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function fill(tbody, rows, empty, columns) {
    tbody.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "sv-empty";
      const td = cell(tr, empty);
      td.colSpan = columns;
      tbody.appendChild(tr);
    }
    return tbody;
  }

  const MEDIA = { chat: "chat", messaging: "messaging", email: "email", voice: "voice" };

  function byMedia(counts) {
    const parts = Object.keys(MEDIA)
      .filter((m) => counts && counts[m])
      .map((m) => `${MEDIA[m]} ${counts[m]}`);
    return parts.length ? parts.join(" · ") : "–";
  }

  // Why a waiting contact is not on offer (the router's own reasoning, from the overview).
  const HOLDUP = {
    offer_next: "an operator has room: offered on the next pass",
    waiting_for_next_step: "nobody eligible at this step: waiting for the next step to widen the pool",
    no_eligible_operator: "no eligible operator is available",
    all_in_cool_down: "every eligible operator missed or declined it a moment ago (cool-down)",
    pending_offer_limit: "every eligible operator has an offer to answer first",
    all_in_wrap_up: "every eligible operator is in wrap-up",
    all_at_capacity: "every eligible operator is at capacity for this media",
  };

  let csrfToken = null;

  async function assign(contact, select, button) {
    const operatorId = Number(select.value);
    if (!operatorId) return;
    button.disabled = select.disabled = true;
    try {
      if (csrfToken == null) {
        const me = await fetch("/api/me", { credentials: "same-origin" });
        if (me.ok) csrfToken = (await me.json()).csrf_token;
      }
      const res = await fetch(`/api/supervisor/conversations/${contact.id}/assign`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken || "" },
        body: JSON.stringify({ operator_id: operatorId }),
      });
      const body = await res.json().catch(() => ({}));
      notice(res.ok
        ? `#${contact.id} offered to ${select.selectedOptions[0].textContent}.`
        : `#${contact.id} was not assigned: ${body.reason || res.status}.`, false);
    } catch (_) {
      notice("The gateway cannot be reached; retrying.");
    }
    select.blur();
    poll(true);
  }

  function assignControl(c) {
    const box = document.createElement("span");
    box.className = "sv-assign";
    const select = document.createElement("select");
    select.dataset.testid = "sv-assign-operator";
    select.setAttribute("aria-label", `Assign #${c.id} to`);
    const none = document.createElement("option");
    none.value = "";
    none.textContent = "Assign to…";
    select.appendChild(none);
    for (const op of c.eligible_operators || []) {
      const option = document.createElement("option");
      option.value = String(op.id);
      option.textContent = op.name;
      select.appendChild(option);
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn";
    button.textContent = "Offer";
    button.dataset.testid = "sv-assign";
    button.title = "Offer this contact to the chosen operator now (a pending offer is taken back)";
    button.addEventListener("click", () => assign(c, select, button));
    box.append(select, button);
    return box;
  }

  function contactsRow(q) {
    const tr = document.createElement("tr");
    tr.className = "sv-contacts";
    tr.dataset.queue = q.name;
    const td = cell(tr, "");
    td.colSpan = 9;
    const list = document.createElement("ol");
    list.className = "sv-contact-list";
    list.dataset.testid = "sv-contacts";
    for (const c of q.contacts) {
      const li = document.createElement("li");
      li.dataset.testid = "sv-contact";
      li.dataset.id = String(c.id);
      const step = c.rule ? ` · ${c.rule} step ${c.step + 1}` : "";
      const offered = c.status === "offered" ? " · on offer" : "";
      li.append(`#${c.id} ${c.media} · waiting ${duration(c.waited_seconds)}${step}${offered}`);
      if (c.status === "waiting" && c.holdup) {
        const why = document.createElement("span");
        why.className = "sv-holdup";
        why.dataset.testid = "sv-holdup";
        why.dataset.holdup = c.holdup;
        why.textContent = ` — ${HOLDUP[c.holdup] || c.holdup}`;
        li.append(why);
      }
      if (c.eligible_operators && c.eligible_operators.length) li.append(" ", assignControl(c));
      list.appendChild(li);
    }
    td.appendChild(list);
    return tr;
  }

  function finalRow(q) {
    const tr = document.createElement("tr");
    tr.className = "sv-contacts";
    const td = cell(tr, "");
    td.colSpan = 9;
    const list = document.createElement("ul");
    list.className = "sv-contact-list";
    for (const f of q.final_closes) {
      const li = document.createElement("li");
      li.dataset.testid = "sv-final-close";
      const reason = (f.reason || "").replace(/^final_action:(\S+)\s*/, "$1: ");
      li.textContent = `#${f.id} ${f.channel} closed by the rule's final action (${reason})`;
      list.appendChild(li);
    }
    td.appendChild(list);
    return tr;
  }

  function drawQueues(queues) {
    const tbody = fill($('[data-testid="sv-queues"] tbody'), queues, "No queues configured.", 9);
    for (const q of queues) {
      const tr = document.createElement("tr");
      tr.dataset.testid = "sv-queue";
      tr.dataset.queue = q.name;
      cell(tr, q.name);
      cell(tr, String(q.waiting)).dataset.testid = "sv-waiting";
      cell(tr, byMedia(q.waiting_by_media)).dataset.testid = "sv-waiting-media";
      cell(tr, String(q.offered));
      cell(tr, String(q.assigned));
      cell(tr, q.waiting + q.offered ? duration(q.longest_wait_seconds) : "–");
      const level = q.service_level;
      const text = level.percent == null
        ? "–"
        : `${level.percent} % within ${duration(level.threshold_seconds)} (${level.answered} answered)`;
      const td = cell(tr, text, level.percent != null && level.percent < 80 ? "sv-level-bad" : "");
      td.dataset.testid = "sv-service-level";
      cell(tr, String(q.abandoned || 0)).dataset.testid = "sv-abandoned";
      cell(tr, String(q.closed_by_final_action || 0)).dataset.testid = "sv-final";
      tbody.appendChild(tr);
      if (q.contacts && q.contacts.length) tbody.appendChild(contactsRow(q));
      if (q.final_closes && q.final_closes.length) tbody.appendChild(finalRow(q));
    }
  }

  // Contacts still choosing in an IVR menu: not in any queue yet.
  function drawInMenu(byChannel) {
    const parts = Object.entries(byChannel).map(([channel, n]) => `${n} on ${channel}`);
    $('[data-testid="sv-in-menu"]').textContent = parts.length
      ? `In IVR menus now: ${parts.join(", ")}.`
      : "Nobody is in an IVR menu now.";
  }

  function drawOperators(operators) {
    const tbody = fill($('[data-testid="sv-operators"] tbody'), operators, "No operator has signed in yet.", 6);
    const now = Date.now();
    for (const op of operators) {
      const tr = document.createElement("tr");
      tr.dataset.testid = "sv-operator";
      tr.dataset.username = op.username;
      cell(tr, op.display_name);
      const state = document.createElement("span");
      state.className = "sv-state";
      const activity = op.activity || op.state;
      state.dataset.state = activity;
      state.dataset.testid = "sv-operator-state";
      state.textContent = activity.replace("_", "-");
      const td = document.createElement("td");
      td.appendChild(state);
      tr.appendChild(td);
      cell(tr, duration((now - Date.parse(op.since)) / 1000));
      cell(tr, String(op.conversations)).dataset.testid = "sv-operator-conversations";
      cell(tr, byMedia(op.by_media)).dataset.testid = "sv-operator-media";
      cell(tr, String(op.offers));
      tbody.appendChild(tr);
    }
  }

  // What the notice shows: a problem reaching the overview (cleared by the next good poll), or
  // the outcome of the supervisor's own action (kept until the next action or problem).
  let noticeIsProblem = false;

  function notice(text, problem = true) {
    const el = $('[data-testid="sv-notice"]');
    el.textContent = text;
    el.hidden = !text;
    noticeIsProblem = problem;
  }

  let timer = null;

  async function poll(now) {
    clearTimeout(timer);
    // Not while the supervisor is choosing whom to assign a contact to.
    const choosing = document.activeElement && document.activeElement.closest(".sv-assign");
    if (choosing && !now) {
      timer = setTimeout(poll, POLL_MS);
      return;
    }
    try {
      const res = await fetch("/api/supervisor/overview", { credentials: "same-origin" });
      if (res.status === 401) {
        notice("Sign in on the console first (as a supervisor or admin), then come back here.");
      } else if (res.status === 403) {
        notice("This view is for supervisors and admins.");
      } else if (res.ok) {
        const data = await res.json();
        if (noticeIsProblem) notice("");
        drawQueues(data.queues || []);
        drawInMenu(data.in_menu || {});
        drawOperators(data.operators || []);
        $('[data-testid="sv-updated"]').textContent =
          `Updated ${new Date(data.at).toLocaleTimeString()}`;
      } else {
        notice(`The gateway answered ${res.status}; retrying.`);
      }
    } catch (_) {
      notice("The gateway cannot be reached; retrying.");
    }
    timer = setTimeout(poll, POLL_MS);
  }

  poll();
})();
