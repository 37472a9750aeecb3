/*
 * Contact Gateway operator console (single page, no build step).
 *
 * Signs in over the JSON API, then lives on the /ws/operator websocket (docs/protocol.md):
 * offers come in and are accepted or declined, conversations are answered and resolved.
 * All text from the network is rendered with textContent, never as HTML.
 */
(() => {
  "use strict";

  const PING_MS = 25000;
  const STALE_MS = 65000;
  const BACKOFF_MIN = 1000;
  const BACKOFF_MAX = 30000;
  const MAX_REPLY = 4000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    boot: $("boot"),
    loginView: $("login-view"),
    loginForm: $("login-form"),
    username: $("login-username"),
    password: $("login-password"),
    loginError: $("login-error"),
    loginSubmit: document.querySelector('[data-testid="login-submit"]'),
    demoLogins: $("demo-logins"),
    app: $("app"),
    connection: $("connection"),
    connText: document.querySelector("#connection .conn-text"),
    stateCurrent: $("state-current"),
    stateButtons: Array.from(document.querySelectorAll(".presence button[data-state]")),
    operatorName: $("operator-name"),
    logout: $("logout"),
    offers: $("offers"),
    offersEmpty: $("offers-empty"),
    offerCount: $("offer-count"),
    conversations: $("conversations"),
    conversationsEmpty: $("conversations-empty"),
    paneEmpty: $("pane-empty"),
    paneConversation: $("pane-conversation"),
    paneTitle: $("pane-title"),
    paneMeta: $("pane-meta"),
    paneIdentities: $("pane-identities"),
    replyVia: $("reply-via"),
    back: $("back"),
    resolve: $("resolve"),
    transfer: $("transfer"),
    sendBack: $("send-back"),
    moveDialog: $("move-dialog"),
    moveForm: $("move-form"),
    moveTitle: $("move-title"),
    moveHelp: $("move-help"),
    moveTarget: $("move-target"),
    moveTargetLabel: $("move-target-label"),
    moveText: $("move-text"),
    moveTextLabel: $("move-text-label"),
    moveError: $("move-error"),
    moveSubmit: $("move-submit"),
    moveCancel: $("move-cancel"),
    messages: $("messages"),
    replyForm: $("reply-form"),
    replyInput: $("reply-input"),
    replySend: $("reply-send"),
    toast: $("toast"),
  };

  // ---- extensions -----------------------------------------------------------------------
  // appeals.js adds to the console through these few hooks: the API helper, every socket
  // frame, the conversation on screen, the resolve step (a wrap-up code), and offer cards of
  // its own in the Offers list (appeal offers), counted with the conversation offers.
  const extensions = { frames: [], panes: [], resolve: null, offerCards: new Map() };

  function conversationInfo(conv) {
    return { id: conv.id, customer: conv.customer, channel: conv.channel, queue: conv.queue };
  }

  window.consoleExtensions = {
    api: (...args) => api(...args),
    serverNow: () => serverNow(),
    toast: (...args) => toast(...args),
    me: () => me,
    selected: () => {
      const conv = selectedId != null ? conversations.get(selectedId) : null;
      return conv ? conversationInfo(conv) : null;
    },
    open: (id) => {
      if (!conversations.has(Number(id))) return false;
      select(Number(id));
      return true;
    },
    onFrame: (fn) => { extensions.frames.push(fn); },
    onPane: (fn) => { extensions.panes.push(fn); },
    onResolve: (fn) => { extensions.resolve = fn; },
    /** Show `node` (an <li>) in the Offers list under `key`; `forget()` runs if the console
     *  drops it itself (signing out). */
    putOffer: (key, node, forget) => {
      const old = extensions.offerCards.get(key);
      if (old && old.node !== node) old.node.replaceWith(node);
      else if (!old) ui.offers.append(node);
      extensions.offerCards.set(key, { node, forget });
      renderOffers();
      updateTitle();
    },
    dropOffer: (key) => {
      const card = extensions.offerCards.get(key);
      if (!card) return;
      extensions.offerCards.delete(key);
      card.node.remove();
      renderOffers();
      updateTitle();
    },
    offersHeading: () => $("offers-title"),
  };

  // ---- state ----------------------------------------------------------------------------
  let csrfToken = null; // kept in memory only
  let me = null;
  let presence = null;
  let ws = null;
  let wsHello = false;
  let stopped = true;
  let attempt = 0;
  let reconnectTimer = null;
  let reconnectAt = 0;
  let pingTimer = null;
  let lastFrameAt = 0;
  let clockOffset = 0; // server time - local time, from the Date header
  let refCounter = 0;
  const outbox = []; // action frames waiting for the socket
  const requests = new Map(); // ref -> {kind, ...}
  const offers = new Map(); // offer id -> {offer, el, countdown}
  const conversations = new Map(); // conversation id -> conversation state
  const pendingReplies = new Map(); // client_id -> {client_id, conversationId, text, status, reason}
  const fetching = new Set(); // conversation ids being loaded over HTTP
  const accepting = new Set(); // conversation ids whose offer we just accepted
  let selectedId = null;
  let toastTimer = null;

  const CHANNELS = {
    webchat: "Web chat", sms: "SMS", whatsapp: "WhatsApp", email: "E-mail",
    telegram: "Telegram", voice: "Voice",
  };
  const STATES = { available: "Available", away: "Away", busy: "Busy", offline: "Offline" };

  // ---- helpers --------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function newClientId() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch (_) { /* insecure context */ }
    }
    if (c && typeof c.getRandomValues === "function") {
      return Array.from(c.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    }
    let out = "";
    while (out.length < 32) out += Math.random().toString(16).slice(2);
    return out.slice(0, 32);
  }

  function nextRef(kind) {
    refCounter += 1;
    return `${kind}-${Date.now().toString(36)}-${refCounter}`;
  }

  function channelName(channel) {
    return CHANNELS[channel] || (channel ? String(channel) : "Unknown");
  }

  function customerName(c) {
    return (c && c.customer && c.customer.name) || "Customer";
  }

  function serverNow() {
    return Date.now() + clockOffset;
  }

  function timeLabel(iso) {
    const d = iso ? new Date(iso) : new Date();
    if (Number.isNaN(d.getTime())) return "";
    const now = new Date();
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (d.toDateString() === now.toDateString()) return time;
    return `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
  }

  function toast(text, kind = "info", ms = 4500) {
    ui.toast.textContent = text;
    ui.toast.dataset.kind = kind;
    ui.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { ui.toast.hidden = true; }, ms);
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET" && method !== "HEAD") {
      if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
    }
    const res = await fetch(path, init);
    const date = Date.parse(res.headers.get("Date") || "");
    if (!Number.isNaN(date)) {
      const offset = date - Date.now();
      clockOffset = Math.abs(offset) > 2000 ? offset : 0;
    }
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    return { status: res.status, ok: res.ok, data };
  }

  // ---- sign-in --------------------------------------------------------------------------
  function showLogin(message) {
    stopSocket();
    resetState();
    me = null;
    csrfToken = null;
    ui.boot.hidden = true;
    ui.app.hidden = true;
    ui.loginView.hidden = false;
    ui.loginError.textContent = message || "";
    document.title = "Sign in · Contact Gateway";
    loadDemoLogins();
    ui.username.focus();
  }

  async function loadDemoLogins() {
    let res;
    try { res = await api("GET", "/api/demo/logins"); } catch (_) { return; }
    const logins = res.ok && res.data && Array.isArray(res.data.logins) ? res.data.logins : [];
    const list = ui.demoLogins.querySelector("ul");
    list.replaceChildren();
    for (const login of logins) {
      if (!login || typeof login.username !== "string") continue;
      const item = el("li");
      const button = el("button", "demo-login");
      button.type = "button";
      button.append(el("strong", "", login.username));
      if (login.role) button.append(el("span", "muted", ` · ${login.role}`));
      if (typeof login.password === "string") button.append(el("code", "", login.password));
      button.addEventListener("click", () => {
        ui.username.value = login.username;
        ui.password.value = typeof login.password === "string" ? login.password : "";
        ui.loginSubmit.focus();
      });
      item.append(button);
      list.append(item);
    }
    ui.demoLogins.hidden = list.children.length === 0;
  }

  function signedIn(data) {
    me = data.user || {};
    csrfToken = data.csrf_token || null;
    ui.boot.hidden = true;
    ui.loginView.hidden = true;
    ui.app.hidden = false;
    ui.loginError.textContent = "";
    ui.password.value = "";
    ui.operatorName.textContent = me.display_name || me.username || "";
    ui.operatorName.title = me.role ? `${me.username} (${me.role})` : me.username || "";
    renderPresence();
    renderOffers();
    renderConversationList();
    renderPane();
    updateTitle();
    startSocket();
  }

  ui.loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = ui.username.value.trim();
    const password = ui.password.value;
    if (!username || !password) {
      ui.loginError.textContent = "Enter your username and password.";
      return;
    }
    ui.loginSubmit.disabled = true;
    ui.loginError.textContent = "";
    try {
      const res = await api("POST", "/api/login", { username, password });
      if (res.ok && res.data && res.data.user) {
        signedIn(res.data);
      } else {
        const reason = res.data && res.data.reason;
        ui.loginError.textContent =
          res.status === 401 ? "Wrong username or password." : reason || `Sign-in failed (${res.status}).`;
        ui.password.select();
      }
    } catch (_) {
      ui.loginError.textContent = "Cannot reach the server. Check your connection and try again.";
    } finally {
      ui.loginSubmit.disabled = false;
    }
  });

  ui.logout.addEventListener("click", async () => {
    ui.logout.disabled = true;
    try { await api("POST", "/api/logout"); } catch (_) { /* signed out locally anyway */ }
    ui.logout.disabled = false;
    showLogin("");
  });

  async function checkSession() {
    try {
      const res = await api("GET", "/api/me");
      if (res.ok && res.data && res.data.user) return { ok: true, data: res.data };
      if (res.status === 401 || res.status === 403) return { ok: false, signedOut: true };
      return { ok: false };
    } catch (_) {
      return { ok: false };
    }
  }

  // ---- websocket ------------------------------------------------------------------------
  function setConnection(state, text) {
    ui.connection.dataset.state = state;
    ui.connText.textContent = text;
  }

  function startSocket() {
    stopped = false;
    attempt = 0;
    connect();
  }

  function stopSocket() {
    stopped = true;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    clearInterval(pingTimer);
    pingTimer = null;
    if (ws) {
      const old = ws;
      ws = null;
      old.onopen = old.onmessage = old.onclose = old.onerror = null;
      try { old.close(1000, "bye"); } catch (_) { /* already closed */ }
    }
    wsHello = false;
  }

  function connect() {
    reconnectTimer = null;
    if (stopped || ws) return;
    setConnection("connecting", attempt ? "Reconnecting…" : "Connecting…");
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws/operator`;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    wsHello = false;
    sock.onopen = () => {
      if (sock !== ws) return;
      lastFrameAt = Date.now();
      clearInterval(pingTimer);
      pingTimer = setInterval(() => tick(sock), PING_MS);
    };
    sock.onmessage = (event) => {
      if (sock !== ws) return;
      lastFrameAt = Date.now();
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      if (frame && typeof frame === "object") handleFrame(frame);
    };
    sock.onclose = () => {
      if (sock !== ws) return;
      onClosed();
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  function tick(sock) {
    if (sock !== ws || sock.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastFrameAt > STALE_MS) {
      try { sock.close(4000, "stale"); } catch (_) { /* ignore */ }
      onClosed();
      return;
    }
    sock.send(JSON.stringify({ type: "ping" }));
  }

  async function onClosed() {
    const hadHello = wsHello;
    const old = ws;
    ws = null;
    wsHello = false;
    clearInterval(pingTimer);
    pingTimer = null;
    if (old) old.onopen = old.onmessage = old.onclose = old.onerror = null;
    // Action frames sent on the dead socket may never be answered.
    for (const [ref, req] of requests) {
      if (req.kind !== "reply") {
        requests.delete(ref);
        if (req.kind === "accept" || req.kind === "decline") setOfferBusy(req.offerId, false);
      }
    }
    if (stopped) return;
    setConnection("offline", "Offline — reconnecting…");
    if (!hadHello) {
      // The upgrade itself failed: maybe the session ended.
      const session = await checkSession();
      if (stopped) return;
      if (session.signedOut) {
        showLogin("Your session has ended. Please sign in again.");
        return;
      }
      if (session.ok) csrfToken = session.data.csrf_token || csrfToken;
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (stopped || reconnectTimer) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** attempt);
    attempt = Math.min(attempt + 1, 10);
    const delay = base / 2 + Math.random() * (base / 2);
    reconnectAt = Date.now() + delay;
    reconnectTimer = setTimeout(connect, delay);
    updateReconnectText();
  }

  function updateReconnectText() {
    if (!reconnectTimer) return;
    const secs = Math.max(0, Math.ceil((reconnectAt - Date.now()) / 1000));
    setConnection("offline", secs > 1 ? `Offline — retrying in ${secs}s` : "Offline — reconnecting…");
  }

  function reconnectNow() {
    if (stopped || ws) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    connect();
  }

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  function socketReady() {
    return ws && wsHello && ws.readyState === WebSocket.OPEN;
  }

  /** Send an action frame now, or when the socket is back. */
  function sendAction(frame, request) {
    if (request) requests.set(frame.ref, request);
    if (socketReady()) ws.send(JSON.stringify(frame));
    else {
      // Only the latest presence change matters.
      if (frame.type === "state") {
        for (let i = outbox.length - 1; i >= 0; i -= 1) if (outbox[i].type === "state") outbox.splice(i, 1);
      }
      outbox.push(frame);
      if (!ws && !stopped) reconnectNow();
    }
  }

  function flushOutbox() {
    while (outbox.length && socketReady()) {
      const frame = outbox.shift();
      if (!requests.has(frame.ref)) requests.set(frame.ref, { kind: frame.type });
      ws.send(JSON.stringify(frame));
    }
    for (const reply of pendingReplies.values()) {
      if (reply.status !== "pending") continue;
      if (!conversations.has(reply.conversationId)) {
        failReply(reply, "The conversation is no longer yours.");
        continue;
      }
      transmitReply(reply);
    }
  }

  // ---- frames ---------------------------------------------------------------------------
  function handleFrame(frame) {
    switch (frame.type) {
      case "hello": onHello(frame); break;
      case "snapshot": onSnapshot(frame); break;
      case "offer": if (frame.offer) addOffer(frame.offer); break;
      case "offer_revoked": onOfferRevoked(frame); break;
      case "assigned": if (frame.conversation) onAssigned(frame.conversation); break;
      case "message": onMessageFrame(frame); break;
      case "closed": onClosedConversation(frame.conversation_id, frame.reason); break;
      case "message_status": onMessageStatus(frame); break;
      case "identity_status": onIdentityStatus(frame); break;
      case "message_attachments": onMessageAttachments(frame); break;
      case "state": setPresence(frame.state); break;
      case "result": onResult(frame); break;
      case "error": toast(frame.reason || `Error: ${frame.code || "unknown"}`, "error"); break;
      case "pong": break;
      default: break;
    }
    // Extensions see every frame too (appeals.js: {"type": "appeal"}, and "hello" to reload).
    for (const fn of extensions.frames) fn(frame);
  }

  function onHello(frame) {
    wsHello = true;
    attempt = 0;
    setConnection("online", "Live");
    if (frame.user) {
      me = { ...me, ...frame.user };
      ui.operatorName.textContent = me.display_name || me.username || "";
    }
    setPresence(frame.state);
  }

  function onSnapshot(frame) {
    const offerList = Array.isArray(frame.offers) ? frame.offers : [];
    const ids = new Set(offerList.map((o) => Number(o.id)));
    for (const id of Array.from(offers.keys())) if (!ids.has(id)) removeOffer(id);
    for (const offer of offerList) addOffer(offer);

    const convList = Array.isArray(frame.conversations) ? frame.conversations : [];
    const convIds = new Set(convList.map((c) => Number(c.id)));
    for (const id of Array.from(conversations.keys())) if (!convIds.has(id)) dropConversation(id);
    for (const c of convList) upsertConversation(c, { countUnread: false });
    if (selectedId == null || !conversations.has(selectedId)) {
      const first = sortedConversations()[0];
      selectedId = null;
      if (first && window.matchMedia("(min-width: 761px)").matches) select(first.id);
    }
    renderConversationList();
    renderPane();
    flushOutbox();
  }

  function onResult(frame) {
    const ref = frame.ref;
    const req = ref != null ? requests.get(ref) : null;
    if (!req) return;
    requests.delete(ref);
    const reason = frame.reason || frame.error || "the server refused";
    switch (req.kind) {
      case "state":
        if (frame.ok) setPresence(frame.state || req.state);
        else toast(`Could not change status: ${reason}`, "error");
        break;
      case "accept":
        if (frame.ok) {
          removeOffer(req.offerId);
          if (frame.conversation) onAssigned(frame.conversation);
        } else {
          accepting.delete(req.conversationId);
          removeOffer(req.offerId);
          toast(`Could not accept: ${reason}`, "error");
        }
        break;
      case "decline":
        removeOffer(req.offerId);
        if (!frame.ok) toast(`Could not decline: ${reason}`, "error");
        break;
      case "reply": {
        const reply = pendingReplies.get(req.clientId);
        if (frame.ok) {
          if (reply) removeReply(reply);
          if (frame.message) addMessage(Number(frame.message.conversation_id ?? req.conversationId), frame.message);
        } else if (reply) {
          failReply(reply, reason);
        }
        break;
      }
      case "resend":
        if (frame.ok) {
          req.message.status = "queued";
          req.message.reason = null;
          updateMessageEl(req.message);
        } else {
          toast(`Could not resend: ${reason}`, "error");
          updateMessageEl(req.message);
        }
        break;
      case "move":
        if (frame.ok) {
          ui.moveDialog.close();
          onMovedConversation(req.conversationId, req.label);
        } else {
          showMoveError(reason);
        }
        break;
      case "resolve":
        if (frame.ok) onClosedConversation(req.conversationId);
        else {
          setResolveBusy(false);
          toast(`Could not resolve: ${reason}`, "error");
        }
        break;
      default:
        if (!frame.ok) toast(reason, "error");
    }
  }

  // ---- presence -------------------------------------------------------------------------
  function setPresence(state) {
    if (typeof state !== "string" || !state) return;
    presence = state;
    renderPresence();
  }

  function renderPresence() {
    const label = presence ? STATES[presence] || presence.replace(/^./, (c) => c.toUpperCase()) : "…";
    ui.stateCurrent.textContent = label;
    ui.stateCurrent.dataset.state = presence || "unknown";
    for (const button of ui.stateButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.state === presence));
    }
    renderOffers();
  }

  for (const button of ui.stateButtons) {
    button.addEventListener("click", () => {
      const state = button.dataset.state;
      const ref = nextRef("state");
      sendAction({ type: "state", state, ref }, { kind: "state", state });
    });
  }

  // ---- offers ---------------------------------------------------------------------------
  function addOffer(offer) {
    const id = Number(offer.id);
    if (!Number.isFinite(id)) return;
    if (conversations.has(Number(offer.conversation_id))) return; // already ours
    const existing = offers.get(id);
    if (existing) {
      existing.offer = offer;
      updateOfferCard(existing);
      return;
    }
    const entry = { offer, el: null, countdown: null, busy: false };
    offers.set(id, entry);
    entry.el = buildOfferCard(entry);
    ui.offers.append(entry.el);
    updateOfferCard(entry);
    renderOffers();
    updateTitle();
  }

  function buildOfferCard(entry) {
    const { offer } = entry;
    const card = el("li", "offer");
    card.setAttribute("data-testid", "offer");
    card.dataset.offerId = String(offer.id);
    card.dataset.conversationId = String(offer.conversation_id);
    const head = el("div", "offer-head");
    entry.nameEl = el("strong", "offer-name");
    entry.channelEl = el("span", "chip");
    entry.countdown = el("span", "countdown");
    entry.countdown.setAttribute("data-testid", "offer-countdown");
    entry.countdown.setAttribute("aria-label", "Time left to accept");
    head.append(entry.nameEl, entry.channelEl, entry.countdown);
    entry.previewEl = el("p", "offer-preview");
    const actions = el("div", "offer-actions");
    const accept = el("button", "btn primary", "Accept");
    accept.type = "button";
    accept.setAttribute("data-testid", "offer-accept");
    const decline = el("button", "btn", "Decline");
    decline.type = "button";
    decline.setAttribute("data-testid", "offer-decline");
    accept.addEventListener("click", () => acceptOffer(Number(offer.id)));
    decline.addEventListener("click", () => declineOffer(Number(offer.id)));
    actions.append(accept, decline);
    entry.acceptEl = accept;
    entry.declineEl = decline;
    card.append(head, entry.previewEl);
    if (offer.handover || offer.note) {
      const note = el("p", "offer-note", handoverText(offer.handover, offer.note));
      note.setAttribute("data-testid", "offer-note");
      card.append(note);
    }
    card.append(actions);
    return card;
  }

  // A transfer note or send-back reason, as the next operator reads it.
  function handoverText(handover, note) {
    if (!handover) return `Note: ${note}`;
    const who = handover.from_name || "A colleague";
    const text = handover.text || "(no note)";
    return handover.kind === "sent_back"
      ? `Sent back by ${who}: ${text}`
      : `Transferred by ${who}${handover.queue ? ` to ${handover.queue}` : ""}: ${text}`;
  }

  function updateOfferCard(entry) {
    const { offer } = entry;
    const name = customerName(offer);
    entry.nameEl.textContent = name;
    entry.channelEl.textContent = channelName(offer.channel);
    entry.previewEl.textContent = offer.preview || "(no text)";
    entry.acceptEl.setAttribute("aria-label", `Accept conversation with ${name}`);
    entry.declineEl.setAttribute("aria-label", `Decline conversation with ${name}`);
    updateCountdown(entry);
  }

  function updateCountdown(entry) {
    const expires = Date.parse(entry.offer.expires_at || "");
    if (Number.isNaN(expires)) {
      entry.countdown.textContent = "";
      return true;
    }
    const left = Math.ceil((expires - serverNow()) / 1000);
    if (left <= -2) return false; // expired; the server revokes it too
    const secs = Math.max(0, left);
    const time = secs >= 60 ? `${Math.floor(secs / 60)}m ${secs % 60}s` : `${secs}s`;
    entry.countdown.textContent = `Accept within ${time}`;
    entry.countdown.title = "Time left to accept this offer; then it goes to a colleague";
    entry.countdown.classList.toggle("urgent", secs <= 10);
    return true;
  }

  function removeOffer(id) {
    const entry = offers.get(Number(id));
    if (!entry) return;
    offers.delete(Number(id));
    entry.el.remove();
    renderOffers();
    updateTitle();
  }

  function renderOffers() {
    const count = offers.size + extensions.offerCards.size;
    ui.offersEmpty.hidden = count > 0;
    ui.offerCount.hidden = count === 0;
    ui.offerCount.textContent = String(count);
    ui.app.classList.toggle("has-offers", count > 0);
    ui.offersEmpty.textContent = presence === "available"
      ? "No offers waiting."
      : "No offers waiting. Set yourself available to receive contacts.";
  }

  function setOfferBusy(id, busy) {
    const entry = offers.get(Number(id));
    if (!entry) return;
    entry.busy = busy;
    entry.acceptEl.disabled = busy;
    entry.declineEl.disabled = busy;
  }

  function acceptOffer(id) {
    const entry = offers.get(id);
    if (!entry || entry.busy) return;
    setOfferBusy(id, true);
    const conversationId = Number(entry.offer.conversation_id);
    accepting.add(conversationId);
    const ref = nextRef("accept");
    sendAction({ type: "accept", offer_id: id, ref }, { kind: "accept", offerId: id, conversationId });
  }

  function declineOffer(id) {
    const entry = offers.get(id);
    if (!entry || entry.busy) return;
    setOfferBusy(id, true);
    const ref = nextRef("decline");
    sendAction({ type: "decline", offer_id: id, ref }, { kind: "decline", offerId: id });
  }

  function onOfferRevoked(frame) {
    const entry = offers.get(Number(frame.offer_id));
    if (!entry) return;
    removeOffer(frame.offer_id);
    const reason = frame.reason;
    if (reason && reason !== "declined" && reason !== "accepted") {
      const why = reason === "timeout" || reason === "expired" ? "timed out" : `was withdrawn (${reason})`;
      toast(`The offer from ${customerName(entry.offer)} ${why}.`);
    }
  }

  setInterval(() => {
    for (const [id, entry] of offers) if (!updateCountdown(entry)) removeOffer(id);
    updateReconnectText();
  }, 1000);

  // ---- conversations --------------------------------------------------------------------
  function upsertConversation(data, { countUnread = true } = {}) {
    const id = Number(data.id);
    if (!Number.isFinite(id)) return null;
    let conv = conversations.get(id);
    if (!conv) {
      conv = {
        id,
        customer: data.customer || {},
        channel: data.channel,
        identityId: data.identity_id ?? null,
        identities: null, // the customer's, fetched when the conversation is opened
        status: data.status,
        queue: data.queue,
        created_at: data.created_at,
        messages: new Map(),
        unread: 0,
        item: null,
      };
      conversations.set(id, conv);
    } else {
      conv.customer = data.customer || conv.customer;
      conv.channel = data.channel || conv.channel;
      conv.identityId = data.identity_id ?? conv.identityId;
      conv.status = data.status || conv.status;
      conv.queue = data.queue || conv.queue;
    }
    if (typeof data.can_send_back === "boolean") conv.canSendBack = data.can_send_back;
    if (Array.isArray(data.handovers)) conv.handovers = data.handovers;
    for (const offerEntry of Array.from(offers.values())) {
      if (Number(offerEntry.offer.conversation_id) === id) removeOffer(offerEntry.offer.id);
    }
    if (Array.isArray(data.messages)) {
      for (const m of data.messages) addMessage(id, m, { countUnread, render: false });
    }
    return conv;
  }

  function onAssigned(data) {
    const conv = upsertConversation(data, { countUnread: false });
    if (!conv) return;
    // Accepted (perhaps in another tab): its offer card goes.
    for (const [id, entry] of Array.from(offers.entries())) {
      if (Number(entry.offer.conversation_id) === conv.id) removeOffer(id);
    }
    const mine = accepting.delete(conv.id);
    if (mine || selectedId == null) select(conv.id);
    else {
      renderConversationList();
      if (selectedId === conv.id) renderPane();
    }
  }

  function dropConversation(id) {
    const conv = conversations.get(id);
    if (!conv) return;
    conversations.delete(id);
    if (conv.item) conv.item.remove();
    for (const reply of Array.from(pendingReplies.values())) {
      if (reply.conversationId === id) pendingReplies.delete(reply.client_id);
    }
    if (selectedId === id) selectedId = null;
  }

  function onClosedConversation(rawId, reason) {
    const id = Number(rawId);
    const conv = conversations.get(id);
    if (!conv) return;
    const wasSelected = selectedId === id;
    dropConversation(id);
    const how = reason === "transferred" ? "passed on" : "resolved";
    toast(`Conversation with ${customerName(conv)} ${how}.`);
    if (wasSelected) {
      setResolveBusy(false);
      const next = sortedConversations()[0];
      if (next && window.matchMedia("(min-width: 761px)").matches) select(next.id);
      else renderPane();
    }
    renderConversationList();
    updateTitle();
  }

  // Who wrote the list's preview line: you, a colleague (a transferred conversation), or the
  // gateway itself (a menu, a notice); nothing for the customer.
  function previewAuthor(m) {
    if (m.direction !== "out") return "";
    if (m.author === "system") return "Automatic: ";
    const mine = me && (m.author === me.display_name || m.author === me.username);
    return mine || !m.author ? "You: " : `${m.author}: `;
  }

  function lastMessage(conv) {
    let last = null;
    for (const m of conv.messages.values()) if (!last || m.id > last.id) last = m;
    return last;
  }

  function sortedConversations() {
    return Array.from(conversations.values()).sort((a, b) => {
      const la = lastMessage(a);
      const lb = lastMessage(b);
      return (lb ? lb.id : 0) - (la ? la.id : 0) || b.id - a.id;
    });
  }

  function renderConversationList() {
    const list = sortedConversations();
    for (const conv of list) {
      if (!conv.item) conv.item = buildConversationItem(conv);
      updateConversationItem(conv);
    }
    // Re-append in order; nodes that are already in place are only moved, never rebuilt.
    list.forEach((c, i) => {
      if (ui.conversations.children[i] !== c.item.wrapper) {
        ui.conversations.insertBefore(c.item.wrapper, ui.conversations.children[i] || null);
      }
    });
    ui.conversationsEmpty.hidden = list.length > 0;
  }

  function buildConversationItem(conv) {
    const wrapper = el("li");
    const button = el("button", "conv");
    button.type = "button";
    button.setAttribute("data-testid", "conversation");
    button.dataset.conversationId = String(conv.id);
    const top = el("span", "conv-top");
    const name = el("span", "conv-name");
    const time = el("span", "conv-time muted small");
    top.append(name, time);
    const bottom = el("span", "conv-bottom");
    const channel = el("span", "chip");
    const preview = el("span", "conv-preview");
    preview.setAttribute("data-testid", "conversation-preview");
    const badge = el("span", "unread");
    badge.setAttribute("data-testid", "unread");
    bottom.append(channel, preview, badge);
    button.append(top, bottom);
    button.addEventListener("click", () => select(conv.id));
    wrapper.append(button);
    button.wrapper = wrapper;
    button.parts = { name, time, channel, preview, badge };
    return button;
  }

  function updateConversationItem(conv) {
    const item = conv.item;
    const { name, time, channel, preview, badge } = item.parts;
    const last = lastMessage(conv);
    name.textContent = customerName(conv);
    time.textContent = last ? timeLabel(last.created_at) : "";
    channel.textContent = channelName(conv.channel);
    preview.textContent = last ? `${previewAuthor(last)}${last.text}` : "";
    badge.textContent = conv.unread > 99 ? "99+" : String(conv.unread);
    badge.hidden = conv.unread === 0;
    item.classList.toggle("has-unread", conv.unread > 0);
    const selected = conv.id === selectedId;
    item.classList.toggle("selected", selected);
    item.setAttribute("aria-current", selected ? "true" : "false");
    item.setAttribute(
      "aria-label",
      `${customerName(conv)}, ${channelName(conv.channel)}${conv.unread ? `, ${conv.unread} unread` : ""}`
    );
  }

  function select(id) {
    const conv = conversations.get(id);
    if (!conv) return;
    selectedId = id;
    conv.unread = 0;
    renderConversationList();
    renderPane();
    updateTitle();
    if (window.matchMedia("(min-width: 761px)").matches) ui.replyInput.focus({ preventScroll: true });
  }

  // ---- messages -------------------------------------------------------------------------
  function onMessageFrame(frame) {
    const message = frame.message;
    if (!message) return;
    const convId = Number(frame.conversation_id ?? message.conversation_id);
    if (!conversations.has(convId)) {
      loadConversation(convId);
      return;
    }
    addMessage(convId, message, { countUnread: true });
  }

  function onMessageStatus(frame) {
    const conv = conversations.get(Number(frame.conversation_id));
    const known = conv && conv.messages.get(Number(frame.message_id));
    if (!known || typeof frame.status !== "string") return;
    known.status = frame.status;
    known.reason = frame.reason || (frame.error_code ? `error ${frame.error_code}` : null);
    if (selectedId === conv.id) updateMessageEl(known);
  }

  // The customer blocked the bot (or started it again): their identity is (un)reachable.
  function onIdentityStatus(frame) {
    const conv = conversations.get(Number(frame.conversation_id));
    if (!conv) return;
    const known = (conv.identities || []).find((i) => i.id === Number(frame.identity_id));
    if (known) known.unreachable = Boolean(frame.unreachable);
    else conv.identities = null; // fetched afresh when the conversation is opened
    const who = `${channelName(frame.channel)} ${frame.address || ""}`.trim();
    toast(`${who}: ${frame.reason || (frame.unreachable ? "unreachable" : "reachable")}`,
      frame.unreachable ? "error" : "info");
    if (selectedId === conv.id) {
      if (conv.identities == null) loadIdentities(conv);
      else renderIdentities(conv);
    }
  }

  // A customer's files arrived (or were given up): redraw that message's list of files.
  function onMessageAttachments(frame) {
    const conv = conversations.get(Number(frame.conversation_id));
    const known = conv && conv.messages.get(Number(frame.message_id));
    if (!known || !Array.isArray(frame.attachments)) return;
    known.attachments = frame.attachments;
    if (!known.el) return;
    const old = known.el.querySelector(".attachments");
    const fresh = attachmentList(known.attachments);
    if (old) old.replaceWith(fresh);
    else known.el.insertBefore(fresh, known.metaEl);
  }

  const RESENDABLE = new Set(["failed", "undelivered"]);

  function resendMessage(m) {
    const ref = nextRef("resend");
    sendAction({ type: "resend", message_id: m.id, ref }, { kind: "resend", message: m });
  }

  async function loadConversation(id) {
    if (!Number.isFinite(id) || fetching.has(id)) return;
    fetching.add(id);
    try {
      const res = await api("GET", `/api/conversations/${id}`);
      if (res.ok && res.data && res.data.conversation) {
        const conv = upsertConversation(res.data.conversation, { countUnread: false });
        if (conv && selectedId == null) select(conv.id);
        else renderConversationList();
        if (conv && selectedId === conv.id) renderPane();
      }
    } catch (_) {
      /* the next snapshot brings it */
    } finally {
      fetching.delete(id);
    }
  }

  function addMessage(convId, raw, { countUnread = true, render = true } = {}) {
    const conv = conversations.get(convId);
    if (!conv || !raw) return;
    const id = Number(raw.id);
    if (!Number.isFinite(id)) return;
    const known = conv.messages.get(id);
    if (known) {
      if (raw.status && raw.status !== known.status) {
        known.status = raw.status;
        if (render && selectedId === convId) updateMessageEl(known);
      }
      return;
    }
    const message = {
      id,
      direction: raw.direction === "out" ? "out" : "in",
      author: typeof raw.author === "string" ? raw.author : "",
      text: typeof raw.text === "string" ? raw.text : "",
      created_at: raw.created_at,
      status: raw.status || "",
      attachments: Array.isArray(raw.attachments) ? raw.attachments : [],
      channel: typeof raw.channel === "string" ? raw.channel : null,
      el: null,
    };
    conv.messages.set(id, message);
    if (message.direction === "out") {
      // Our own reply came back: the pending copy goes.
      for (const reply of pendingReplies.values()) {
        if (reply.conversationId === convId && reply.text === message.text) {
          removeReply(reply);
          break;
        }
      }
    } else if (countUnread && (convId !== selectedId || document.visibilityState !== "visible")) {
      conv.unread += 1;
    }
    if (!render) return;
    if (selectedId === convId) placeMessage(conv, message);
    renderConversationList();
    updateTitle();
  }

  function buildMessageEl(conv, m) {
    // The gateway's own messages (a menu, a notice, a status answer) are no one's words.
    const automatic = m.direction === "out" && m.author === "system";
    const item = el("div", `message ${m.direction}${automatic ? " automatic" : ""}`);
    item.setAttribute("data-testid", "message");
    item.dataset.direction = m.direction;
    item.dataset.id = String(m.id);
    if (automatic) item.dataset.automatic = "true";
    const who = automatic
      ? "Automatic message"
      : m.direction === "in" ? customerName(conv) : m.author || "Agent";
    // A message on another of the customer's channels than the conversation's says so.
    const via = m.channel && m.channel !== conv.channel ? ` · via ${channelName(m.channel)}` : "";
    const author = el("div", "message-author", who + via);
    const bubble = el("div", "bubble", m.text);
    const meta = el("div", "message-meta");
    item.append(author, bubble);
    if (Array.isArray(m.attachments) && m.attachments.length) item.append(attachmentList(m.attachments));
    item.append(meta);
    m.el = item;
    m.metaEl = meta;
    updateMessageEl(m);
    return item;
  }

  function sizeLabel(bytes) {
    if (typeof bytes !== "number") return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function attachmentList(attachments) {
    const list = el("ul", "attachments");
    list.setAttribute("data-testid", "attachments");
    for (const a of attachments) {
      const name = a.filename || a.content_type || "file";
      const label = [name, sizeLabel(a.size)].filter(Boolean).join(" · ");
      const li = el("li", "attachment");
      li.dataset.state = a.state || "";
      const url = typeof a.url === "string" ? a.url : "";
      if (a.state === "kept" && url.startsWith("/api/messages/")) {
        const link = el("a", "", label);
        link.href = url;
        link.rel = "noopener noreferrer";
        link.setAttribute("download", name);
        link.setAttribute("data-testid", "attachment-link");
        li.append(link);
      } else if (a.state === "pending") {
        li.append(el("span", "muted", `${label} (fetching…)`));
      } else {
        const why = typeof a.reason === "string" && a.reason ? `: ${a.reason}` : "";
        li.append(el("span", "muted", `${label} (not kept${why})`));
      }
      list.append(li);
    }
    return list;
  }

  function updateMessageEl(m) {
    if (!m.el) return;
    m.el.dataset.status = m.status || "";
    const parts = [timeLabel(m.created_at)];
    if (m.direction === "out" && m.status) parts.push(m.status);
    if (m.direction === "out" && RESENDABLE.has(m.status) && m.reason) parts.push(m.reason);
    m.metaEl.textContent = parts.filter(Boolean).join(" · ");
    if (m.direction === "out" && RESENDABLE.has(m.status)) {
      const resend = el("button", "link-button", "Resend");
      resend.type = "button";
      resend.setAttribute("data-testid", "resend");
      resend.addEventListener("click", () => {
        resend.disabled = true;
        resendMessage(m);
      });
      m.metaEl.append(" ", resend);
    }
  }

  function nearBottom() {
    const box = ui.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  function placeMessage(conv, m) {
    const stick = nearBottom();
    const node = buildMessageEl(conv, m);
    let before = null;
    for (const child of ui.messages.children) {
      const cid = child.dataset.id;
      if (child.classList.contains("pending") || (cid && Number(cid) > m.id)) { before = child; break; }
    }
    ui.messages.insertBefore(node, before);
    if (stick || m.direction === "out") ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // ---- replies --------------------------------------------------------------------------
  function buildReplyEl(reply) {
    const item = el("div", "message out pending");
    item.setAttribute("data-testid", "message");
    item.dataset.direction = "out";
    item.dataset.clientId = reply.client_id;
    const author = el("div", "message-author", (me && (me.display_name || me.username)) || "You");
    const bubble = el("div", "bubble", reply.text);
    const meta = el("div", "message-meta");
    item.append(author, bubble, meta);
    reply.el = item;
    reply.metaEl = meta;
    updateReplyEl(reply);
    return item;
  }

  function updateReplyEl(reply) {
    if (!reply.el) return;
    reply.el.dataset.status = reply.status;
    reply.el.classList.toggle("failed", reply.status === "failed");
    reply.metaEl.replaceChildren();
    if (reply.status === "failed") {
      reply.metaEl.append(el("span", "", `Not sent: ${reply.reason || "error"} · `));
      const retry = el("button", "link", "Retry");
      retry.type = "button";
      retry.addEventListener("click", () => {
        reply.status = "pending";
        updateReplyEl(reply);
        transmitReply(reply);
      });
      reply.metaEl.append(retry);
    } else {
      reply.metaEl.textContent = "Sending…";
    }
  }

  function transmitReply(reply) {
    const ref = reply.client_id;
    requests.set(ref, { kind: "reply", clientId: reply.client_id, conversationId: reply.conversationId });
    if (socketReady()) {
      const frame = {
        type: "reply", conversation_id: reply.conversationId, client_id: reply.client_id,
        text: reply.text, ref,
      };
      if (reply.identityId != null) frame.identity_id = reply.identityId;
      ws.send(JSON.stringify(frame));
    } else if (!ws && !stopped) {
      reconnectNow(); // sent again from flushOutbox once the socket is back
    }
  }

  function removeReply(reply) {
    pendingReplies.delete(reply.client_id);
    requests.delete(reply.client_id);
    if (reply.el) reply.el.remove();
  }

  function failReply(reply, reason) {
    reply.status = "failed";
    reply.reason = reason;
    requests.delete(reply.client_id);
    updateReplyEl(reply);
  }

  function sendReply() {
    const conv = conversations.get(selectedId);
    const text = ui.replyInput.value;
    if (!conv || !text.trim()) return;
    if (text.length > MAX_REPLY) {
      toast(`Replies can be at most ${MAX_REPLY} characters.`, "error");
      return;
    }
    const via = ui.replyVia.hidden ? null : Number(ui.replyVia.value);
    const identityId = via != null && Number.isFinite(via) && via !== conv.identityId ? via : null;
    const reply = {
      client_id: newClientId(), conversationId: conv.id, text, status: "pending", el: null, identityId,
    };
    pendingReplies.set(reply.client_id, reply);
    ui.messages.append(buildReplyEl(reply));
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.replyInput.value = "";
    transmitReply(reply);
  }

  ui.replyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    sendReply();
    ui.replyInput.focus();
  });
  ui.replyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendReply();
    }
  });

  // ---- conversation pane ----------------------------------------------------------------
  function setResolveBusy(busy) {
    ui.resolve.disabled = busy;
    ui.resolve.textContent = busy ? "Resolving…" : "Resolve";
  }

  ui.resolve.addEventListener("click", async () => {
    if (selectedId == null) return;
    // An extension may ask for a wrap-up code and resolve over HTTP; true: it took over.
    if (extensions.resolve && (await extensions.resolve(selectedId))) return;
    if (selectedId == null) return;
    const ref = nextRef("resolve");
    setResolveBusy(true);
    sendAction({ type: "resolve", conversation_id: selectedId, ref }, { kind: "resolve", conversationId: selectedId });
  });

  // ---- transfer and send back ----------------------------------------------------------
  let moveMode = "transfer";

  function showMoveError(text) {
    ui.moveError.textContent = text;
    ui.moveError.hidden = false;
    ui.moveSubmit.disabled = false;
  }

  function option(value, label) {
    const opt = document.createElement("option");
    opt.value = value;
    opt.textContent = label;
    return opt;
  }

  async function openMove(mode) {
    if (selectedId == null) return;
    moveMode = mode;
    const transfer = mode === "transfer";
    ui.moveTitle.textContent = transfer ? "Transfer conversation" : "Send back to the previous step";
    ui.moveHelp.textContent = transfer
      ? "To a queue (the contact waits there) or to a colleague (they get an offer)."
      : "The contact goes back to the queue it came from, ahead of new contacts.";
    ui.moveTarget.hidden = ui.moveTargetLabel.hidden = !transfer;
    ui.moveTextLabel.textContent = transfer ? "Note for the next person" : "Reason (required)";
    ui.moveSubmit.textContent = transfer ? "Transfer" : "Send back";
    ui.moveText.value = "";
    ui.moveError.hidden = true;
    ui.moveSubmit.disabled = false;
    if (transfer) {
      ui.moveTarget.replaceChildren(option("", "Loading…"));
      const res = await api("GET", "/api/transfer-targets");
      if (!res.ok || !res.data) {
        toast("Could not load the transfer targets.", "error");
        return;
      }
      const queues = document.createElement("optgroup");
      queues.label = "Queues";
      for (const q of res.data.queues) {
        queues.append(option(`queue:${q.name}`, q.description ? `${q.name} — ${q.description}` : q.name));
      }
      const people = document.createElement("optgroup");
      people.label = "Colleagues";
      for (const o of res.data.operators) {
        people.append(option(`operator:${o.id}`, `${o.name} (${o.state})`));
      }
      ui.moveTarget.replaceChildren(queues, people);
    }
    ui.moveDialog.showModal();
    (transfer ? ui.moveTarget : ui.moveText).focus();
  }

  ui.transfer.addEventListener("click", () => openMove("transfer"));
  ui.sendBack.addEventListener("click", () => openMove("send_back"));
  ui.moveCancel.addEventListener("click", () => ui.moveDialog.close());

  ui.moveForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (selectedId == null) return;
    const text = ui.moveText.value.trim();
    const ref = nextRef("move");
    let frame;
    let label;
    if (moveMode === "transfer") {
      const [kind, value] = ui.moveTarget.value.split(/:(.*)/s);
      if (!value) return showMoveError("Choose a queue or a colleague.");
      frame = { type: "transfer", conversation_id: selectedId, note: text, ref };
      if (kind === "queue") frame.queue = value;
      else frame.to_operator = Number(value);
      label = ui.moveTarget.selectedOptions[0].textContent;
    } else {
      if (!text) return showMoveError("Say why it goes back.");
      frame = { type: "send_back", conversation_id: selectedId, reason: text, ref };
      label = "the previous step";
    }
    ui.moveSubmit.disabled = true;
    sendAction(frame, { kind: "move", conversationId: selectedId, label });
  });

  function onMovedConversation(rawId, label) {
    const id = Number(rawId);
    const conv = conversations.get(id);
    if (!conv) return;
    const wasSelected = selectedId === id;
    dropConversation(id);
    toast(`Conversation with ${customerName(conv)} passed on to ${label}.`);
    if (wasSelected) {
      selectedId = null;
      renderConversationList();
      renderPane();
    }
  }

  ui.back.addEventListener("click", () => {
    selectedId = null;
    renderConversationList();
    renderPane();
  });

  function renderPane() {
    const conv = selectedId != null ? conversations.get(selectedId) : null;
    ui.app.classList.toggle("has-selection", Boolean(conv));
    for (const fn of extensions.panes) fn(conv ? conversationInfo(conv) : null);
    if (!conv) {
      ui.paneEmpty.hidden = false;
      ui.paneConversation.hidden = true;
      ui.messages.replaceChildren();
      return;
    }
    ui.paneEmpty.hidden = true;
    ui.paneConversation.hidden = false;
    ui.paneConversation.dataset.conversationId = String(conv.id);
    ui.paneTitle.textContent = customerName(conv);
    const meta = [channelName(conv.channel)];
    if (conv.queue) meta.push(`queue ${conv.queue}`);
    meta.push(`#${conv.id}`);
    ui.paneMeta.textContent = meta.join(" · ");
    renderIdentities(conv);
    if (conv.identities == null) loadIdentities(conv);
    setResolveBusy(false);
    // A conversation known from the socket's snapshot: its details say whether it can go back
    // a step and what the colleagues who passed it on said.
    if (conv.canSendBack === undefined) loadConversation(conv.id);
    const noBack = conv.canSendBack === false;
    ui.sendBack.disabled = noBack;
    ui.sendBack.title = noBack
      ? "This conversation is at the first step of its routing rule: there is no step to send it back to."
      : "Back to the previous step of its routing rule, with a reason for the next operator";
    const nodes = Array.from(conv.messages.values())
      .sort((a, b) => a.id - b.id)
      .map((m) => buildMessageEl(conv, m));
    // Handovers (transfer notes, send-back reasons) stand in the timeline where they happened.
    for (const h of conv.handovers || []) {
      const item = el("div", "message system handover");
      item.setAttribute("data-testid", "handover");
      item.setAttribute("role", "note");
      item.append(el("div", "bubble", handoverText(h, h.text)));
      const at = Date.parse(h.at);
      const after = nodes.findIndex((n) => {
        const m = conv.messages.get(Number(n.dataset.id));
        return m && Date.parse(m.created_at) > at;
      });
      nodes.splice(after < 0 ? nodes.length : after, 0, item);
    }
    for (const reply of pendingReplies.values()) {
      if (reply.conversationId === conv.id) nodes.push(buildReplyEl(reply));
    }
    ui.messages.replaceChildren(...nodes);
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // ---- the customer's identities: shown, and a reply can go to another of them ----------
  const REPLY_CHANNELS = new Set(["sms", "whatsapp", "email", "telegram"]);

  async function loadIdentities(conv) {
    const customerId = Number(conv.customer && conv.customer.id);
    if (!Number.isFinite(customerId)) return;
    conv.identities = [];
    const res = await api("GET", `/api/customers/${customerId}`);
    if (!res.ok || !res.data || !res.data.customer) {
      conv.identities = null; // tried again when the conversation is opened next
      return;
    }
    conv.identities = Array.isArray(res.data.customer.identities) ? res.data.customer.identities : [];
    if (selectedId === conv.id) renderIdentities(conv);
  }

  function identityLabel(identity) {
    const notes = [];
    if (identity.opted_out) notes.push("opted out");
    if (identity.unreachable) notes.push("unreachable");
    const note = notes.length ? ` (${notes.join(", ")})` : "";
    return `${channelName(identity.channel)} ${identity.address}${note}`;
  }

  function renderIdentities(conv) {
    const identities = conv.identities || [];
    renderIdentityChips(conv, identities);
    const others = identities.filter(
      (i) => i.id !== conv.identityId && REPLY_CHANNELS.has(i.channel),
    );
    const previous = ui.replyVia.value;
    ui.replyVia.replaceChildren();
    // A phone call is answered on the phone; writing goes to another of the caller's channels.
    const phone = conv.channel === "voice";
    const own = identities.find((i) => i.id === conv.identityId);
    const cannotWrite = phone && !others.some((i) => !i.opted_out && !i.unreachable);
    ui.replyInput.disabled = cannotWrite;
    ui.replySend.disabled = cannotWrite;
    ui.replyInput.placeholder = cannotWrite
      ? `Phone call: call ${own ? own.address : "the customer"} back from your phone`
      : own && own.unreachable
        ? `${identityLabel(own)}: replies here are not delivered`
        : "Write a reply… (Enter sends, Shift+Enter for a new line)";
    if (!others.length) {
      ui.replyVia.hidden = true;
      return;
    }
    if (!phone) {
      const first = el("option", "", `Reply on ${own ? identityLabel(own) : channelName(conv.channel)}`);
      first.value = String(conv.identityId);
      ui.replyVia.append(first);
    }
    for (const identity of others) {
      const option = el("option", "", `Reply on ${identityLabel(identity)}`);
      option.value = String(identity.id);
      option.disabled = Boolean(identity.opted_out || identity.unreachable);
      ui.replyVia.append(option);
    }
    const usable = Array.from(ui.replyVia.options).filter((o) => !o.disabled);
    if (usable.some((o) => o.value === previous)) ui.replyVia.value = previous;
    else if (usable.length) ui.replyVia.value = usable[0].value;
    ui.replyVia.hidden = false;
  }

  // The customer's other identities, each with Unlink; Link… adds one by its address; an
  // unlink or link can be undone (every change is in the audit log).
  function renderIdentityChips(conv, identities) {
    ui.paneIdentities.replaceChildren();
    const others = identities.filter((i) => i.id !== conv.identityId);
    if (others.length) ui.paneIdentities.append(document.createTextNode("Also known as: "));
    for (const identity of others) {
      const chip = el("span", "identity", identityLabel(identity));
      chip.setAttribute("data-testid", "identity");
      const unlink = el("button", "link-button", "Unlink");
      unlink.type = "button";
      unlink.setAttribute("data-testid", "identity-unlink");
      unlink.addEventListener("click", () => changeIdentity(conv, "DELETE",
        `/api/customers/${conv.customer.id}/identities/${identity.id}`, undefined,
        `${identityLabel(identity)} is no longer this customer's.`));
      chip.append(" ", unlink);
      ui.paneIdentities.append(chip, " ");
    }
    const link = el("button", "link-button", "Link…");
    link.type = "button";
    link.setAttribute("data-testid", "identity-link");
    link.addEventListener("click", () => linkIdentity(conv));
    ui.paneIdentities.append(link);
    if (conv.undo) {
      const undo = el("button", "link-button", "Undo");
      undo.type = "button";
      undo.setAttribute("data-testid", "identity-undo");
      undo.addEventListener("click", () => changeIdentity(conv, "POST",
        `/api/customer-links/${conv.undo}/undo`, undefined, "Undone."));
      ui.paneIdentities.append(" ", undo);
    }
  }

  async function changeIdentity(conv, method, path, body, done) {
    const res = await api(method, path, body);
    if (!res.ok) {
      toast((res.data && res.data.reason) || `Could not change the identities (${res.status}).`, "error");
      return;
    }
    conv.undo = res.data && res.data.undo_id ? res.data.undo_id : null;
    toast(done);
    conv.identities = null;
    await loadIdentities(conv);
  }

  async function linkIdentity(conv) {
    const answer = window.prompt(
      "Link this customer's other address: the channel and the address, e.g. \"sms +15557654321\" or \"email lena@example.org\"",
    );
    if (!answer) return;
    const [channel, ...rest] = answer.trim().split(/\s+/);
    const address = rest.join(" ");
    const found = await api("GET",
      `/api/identities?channel=${encodeURIComponent((channel || "").toLowerCase())}&address=${encodeURIComponent(address)}`);
    if (!found.ok) {
      toast((found.data && found.data.reason) || "No such address.", "error");
      return;
    }
    await changeIdentity(conv, "POST", `/api/customers/${conv.customer.id}/identities`,
      { identity_id: found.data.identity.id },
      `${channelName(found.data.identity.channel)} ${found.data.identity.address} is now this customer's.`);
  }

  // ---- title ----------------------------------------------------------------------------
  function updateTitle() {
    let unread = 0;
    for (const c of conversations.values()) unread += c.unread;
    const count = offers.size + extensions.offerCards.size + unread;
    document.title = `${count ? `(${count}) ` : ""}Operator console · Contact Gateway`;
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || selectedId == null) return;
    const conv = conversations.get(selectedId);
    if (conv && conv.unread) {
      conv.unread = 0;
      renderConversationList();
      updateTitle();
    }
  });

  // ---- reset / boot ---------------------------------------------------------------------
  function resetState() {
    for (const id of Array.from(offers.keys())) removeOffer(id);
    for (const [key, card] of Array.from(extensions.offerCards)) {
      extensions.offerCards.delete(key);
      card.node.remove();
      if (card.forget) card.forget();
    }
    for (const id of Array.from(conversations.keys())) dropConversation(id);
    pendingReplies.clear();
    requests.clear();
    outbox.length = 0;
    accepting.clear();
    selectedId = null;
    presence = null;
    renderConversationList();
    renderPane();
  }

  async function boot() {
    const session = await checkSession();
    if (session.ok) signedIn(session.data);
    else showLogin(session.signedOut ? "" : "Cannot reach the server right now; try signing in again.");
  }

  boot();
})();
