/*
 * Contact Gateway web chat widget.
 *
 * Embed with:
 *   <script src="https://gateway.example/static/widget.js"
 *           data-gateway="https://gateway.example" data-title="Chat with us" async></script>
 * Optional: data-topic="billing" (the page's subject) and data-language="de" (default: the
 * browser's language); the routing rules can match on both.
 *
 * Speaks the web chat protocol in docs/protocol.md. Everything lives in an open Shadow DOM
 * attached to <div id="cg-webchat">, so the host site's CSS cannot break it. All text coming
 * from the network is rendered with textContent, never as HTML.
 */
(() => {
  "use strict";

  if (window.ContactGatewayChat || document.getElementById("cg-webchat")) return;

  const script = document.currentScript;
  const scriptSrc = (script && script.src) || location.href;
  const gateway = (
    (script && script.dataset.gateway) || new URL(scriptSrc, location.href).origin
  ).replace(/\/+$/, "");
  const title = (script && script.dataset.title) || "Chat with us";
  // For the routing rules: the page's subject and the visitor's language.
  const topic = (script && script.dataset.topic) || "";
  const language = (script && script.dataset.language) || navigator.language || "";

  const TOKEN_KEY = "cg.webchat.token";
  const OUTBOX_KEY = "cg.webchat.outbox";
  const READ_KEY = "cg.webchat.read";
  const MAX_TEXT = 4000;
  const PING_MS = 25000;
  const STALE_MS = 65000;
  const BACKOFF_MIN = 1000;
  const BACKOFF_MAX = 30000;
  const RATE_LIMIT_DELAY = 10000;

  // ---- storage (localStorage can throw: private mode, disabled storage) ----------------
  const store = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch (_) { return null; }
    },
    set(key, value) {
      try { window.localStorage.setItem(key, value); } catch (_) { /* not persisted */ }
    },
    remove(key) {
      try { window.localStorage.removeItem(key); } catch (_) { /* ignore */ }
    },
  };

  function newClientId() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch (_) { /* insecure context */ }
    }
    if (c && typeof c.getRandomValues === "function") {
      const bytes = c.getRandomValues(new Uint8Array(16));
      return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    }
    let out = "";
    while (out.length < 32) out += Math.random().toString(16).slice(2);
    return out.slice(0, 32);
  }

  function loadOutbox() {
    try {
      const data = JSON.parse(store.get(OUTBOX_KEY) || "[]");
      if (!Array.isArray(data)) return [];
      return data.filter(
        (m) => m && typeof m.client_id === "string" && typeof m.text === "string" && m.text.trim()
      );
    } catch (_) {
      return [];
    }
  }

  // ---- DOM ----------------------------------------------------------------------------
  const STYLE = `
    :host { all: initial; }
    * { box-sizing: border-box; }
    .root {
      position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
      color: #1b2330;
    }
    button { font: inherit; cursor: pointer; }
    button:focus-visible, textarea:focus-visible, .log:focus-visible {
      outline: 3px solid #7fb0ff; outline-offset: 2px;
    }
    .launcher {
      position: relative; width: 58px; height: 58px; border-radius: 50%; border: 0;
      background: #1f5fbf; color: #fff; display: grid; place-items: center;
      box-shadow: 0 6px 20px rgba(16, 36, 74, .28); margin-left: auto;
      transition: transform .15s ease, background .15s ease;
    }
    .launcher:hover { background: #184d9c; transform: translateY(-1px); }
    .launcher svg { width: 26px; height: 26px; fill: currentColor; }
    .launcher .icon-close { display: none; }
    .root.open .launcher .icon-chat { display: none; }
    .root.open .launcher .icon-close { display: block; }
    .badge {
      position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px;
      border-radius: 11px; background: #d93025; color: #fff; font-size: 12px; font-weight: 700;
      line-height: 22px; text-align: center; border: 2px solid #fff;
    }
    .badge[hidden] { display: none; }
    .panel {
      position: absolute; right: 0; bottom: 74px; width: 370px;
      height: min(580px, calc(100vh - 120px)); display: flex; flex-direction: column;
      background: #fff; border-radius: 14px; overflow: hidden;
      box-shadow: 0 12px 40px rgba(16, 36, 74, .25); border: 1px solid #dde3ec;
    }
    .panel[hidden] { display: none; }
    .head {
      display: flex; align-items: center; gap: 10px; padding: 14px 14px 14px 18px;
      background: #1f5fbf; color: #fff;
    }
    .head h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }
    .head .sub { display: block; font-size: 12px; font-weight: 400; opacity: .85; }
    .close {
      width: 34px; height: 34px; border-radius: 8px; border: 0; background: transparent;
      color: #fff; font-size: 22px; line-height: 1;
    }
    .close:hover { background: rgba(255, 255, 255, .16); }
    .status {
      padding: 6px 14px; font-size: 13px; background: #fff6da; color: #5c4500;
      border-bottom: 1px solid #f0e2b0;
    }
    .status:empty { display: none; }
    .status.error { background: #fdecea; color: #8a1c13; border-color: #f5c6c0; }
    .log {
      flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 8px;
      background: #f5f7fa;
    }
    .hint { margin: auto 8px; color: #5b6778; font-size: 14px; text-align: center; }
    .msg { max-width: 82%; display: flex; flex-direction: column; }
    .msg.in { align-self: flex-end; align-items: flex-end; }
    .msg.out { align-self: flex-start; align-items: flex-start; }
    .author { font-size: 12px; color: #5b6778; margin: 0 4px 2px; }
    .bubble {
      padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere;
      word-break: break-word;
    }
    .msg.in .bubble { background: #1f5fbf; color: #fff; border-bottom-right-radius: 4px; }
    .msg.out .bubble {
      background: #fff; color: #1b2330; border: 1px solid #dde3ec; border-bottom-left-radius: 4px;
    }
    .msg[data-status="sending"] .bubble { opacity: .7; }
    .msg[data-status="failed"] .bubble { background: #fdecea; color: #8a1c13; border: 1px solid #f5c6c0; }
    .meta { font-size: 11px; color: #6b7686; margin: 2px 4px 0; }
    .quick { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
    .quick button {
      border: 1px solid #1f5fbf; background: #fff; color: #1f5fbf; border-radius: 14px;
      padding: 5px 12px; font: inherit; font-size: 13px; cursor: pointer;
    }
    .quick button:hover, .quick button:focus-visible { background: #e8f0fc; outline: none; }
    .composer {
      display: flex; gap: 8px; align-items: flex-end; padding: 10px; border-top: 1px solid #dde3ec;
      background: #fff;
    }
    textarea {
      flex: 1; resize: none; min-height: 42px; max-height: 140px; padding: 10px 12px;
      font: inherit; color: inherit; border: 1px solid #c5cedb; border-radius: 10px;
      background: #fff;
    }
    textarea:focus { border-color: #1f5fbf; }
    .send {
      height: 42px; padding: 0 16px; border: 0; border-radius: 10px; background: #1f5fbf;
      color: #fff; font-weight: 600;
    }
    .send:hover { background: #184d9c; }
    .send:disabled { background: #9fb3d1; cursor: default; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    @media (max-width: 480px) {
      .root { right: 12px; bottom: 12px; }
      .root.open .panel {
        position: fixed; inset: 0; width: auto; height: auto; border-radius: 0; border: 0;
      }
      .root.open .launcher { display: none; }
    }
    @media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }
  `;

  // Static markup only: no data is ever interpolated here.
  const SHELL = `
    <div class="root">
      <div class="panel" data-testid="cg-panel" role="dialog" aria-modal="false" hidden>
        <div class="head">
          <h2><span class="title"></span><span class="sub">We usually answer within a few minutes</span></h2>
          <button type="button" class="close" aria-label="Close chat">&times;</button>
        </div>
        <div class="status" data-testid="cg-status" role="status" aria-live="polite"></div>
        <div class="log" role="log" aria-live="polite" aria-label="Conversation" tabindex="0">
          <p class="hint">Hi! Ask us anything and a member of our team will answer here.</p>
        </div>
        <form class="composer" novalidate>
          <label class="sr" for="cg-input">Your message</label>
          <textarea id="cg-input" data-testid="cg-input" rows="1" placeholder="Write a message…"
            aria-label="Your message" autocomplete="off"></textarea>
          <button type="submit" class="send" data-testid="cg-send" aria-label="Send message">Send</button>
        </form>
      </div>
      <button type="button" class="launcher" data-testid="cg-launcher" aria-label="Open chat"
        aria-expanded="false">
        <svg class="icon-chat" viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>
        <svg class="icon-close" viewBox="0 0 24 24" aria-hidden="true"><path d="M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z"/></svg>
        <span class="badge" aria-hidden="true" hidden></span>
      </button>
    </div>
  `;

  const host = document.createElement("div");
  host.id = "cg-webchat";
  const shadow = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = STYLE;
  shadow.appendChild(style);
  const wrapper = document.createElement("div");
  wrapper.innerHTML = SHELL;
  shadow.appendChild(wrapper.firstElementChild);

  const $ = (sel) => shadow.querySelector(sel);
  const ui = {
    root: $(".root"),
    panel: $(".panel"),
    title: $(".title"),
    close: $(".close"),
    status: $(".status"),
    log: $(".log"),
    hint: $(".hint"),
    form: $(".composer"),
    input: $("textarea"),
    send: $(".send"),
    launcher: $(".launcher"),
    badge: $(".badge"),
  };
  ui.title.textContent = title;
  ui.panel.setAttribute("aria-label", title);
  ui.panel.id = "cg-panel";
  ui.launcher.setAttribute("aria-controls", "cg-panel");
  ui.input.maxLength = MAX_TEXT;

  // ---- state ----------------------------------------------------------------------------
  const messages = new Map(); // server id -> entry
  const pending = new Map(); // client_id -> entry (not yet acked)
  let inflight = []; // client_ids sent on the current socket, in order, awaiting ack/error
  let maxSeq = 0; // highest seq of a message frame received (resume cursor)
  let conversationId = null;
  let ws = null;
  let ready = false;
  let connecting = false;
  let started = false;
  let attempt = 0;
  let reconnectTimer = null;
  let pingTimer = null;
  let lastFrameAt = 0;
  let holdUntil = 0; // no reconnect before this (after a rate-limit close)
  let isOpen = false;
  let connState = "idle"; // idle | connecting | reconnecting | online | unavailable
  let notice = null; // {text, error, until}
  let noticeTimer = null;
  let readSeq = Number(store.get(READ_KEY)) || 0;

  // ---- status line ------------------------------------------------------------------------
  function renderStatus() {
    let text = "";
    let error = false;
    if (notice && notice.until > Date.now()) {
      text = notice.text;
      error = notice.error;
    } else if (connState === "reconnecting") {
      text = "Reconnecting…";
    } else if (connState === "connecting" && (pending.size || isOpen)) {
      text = "Connecting…";
    } else if (connState === "unavailable") {
      text = "Chat is not available right now. Retrying…";
      error = true;
    }
    ui.status.textContent = text;
    ui.status.classList.toggle("error", error);
  }

  function showNotice(text, error = true, ms = 5000) {
    notice = { text, error, until: Date.now() + ms };
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { notice = null; renderStatus(); }, ms + 20);
    renderStatus();
  }

  function setConnState(state) {
    connState = state;
    renderStatus();
  }

  // ---- rendering ------------------------------------------------------------------------
  function timeLabel(iso) {
    const d = iso ? new Date(iso) : new Date();
    if (Number.isNaN(d.getTime())) return "";
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function statusLabel(status) {
    switch (status) {
      case "sending": return "Sending…";
      case "failed": return "Not sent";
      case "sent": return "Sent";
      default: return "";
    }
  }

  function buildBubble(entry) {
    const el = document.createElement("div");
    el.className = `msg ${entry.direction === "in" ? "in" : "out"}`;
    el.setAttribute("data-testid", "cg-message");
    el.dataset.direction = entry.direction === "in" ? "in" : "out";
    if (entry.direction !== "in" && entry.author && entry.author !== "system") {
      const author = document.createElement("div");
      author.className = "author";
      author.textContent = entry.author;
      el.appendChild(author);
    }
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = entry.text;
    el.appendChild(bubble);
    if (Array.isArray(entry.buttons) && entry.buttons.length) el.appendChild(quickReplies(entry.buttons));
    const meta = document.createElement("div");
    meta.className = "meta";
    el.appendChild(meta);
    entry.el = el;
    entry.meta = meta;
    updateBubble(entry);
    return el;
  }

  // A menu's choices (IVR): one tap sends the choice as the visitor's message.
  function quickReplies(buttons) {
    const box = document.createElement("div");
    box.className = "quick";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Choices");
    for (const choice of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("data-testid", "cg-quick-reply");
      button.textContent = choice.label;
      button.addEventListener("click", () => {
        dropQuickReplies();
        sendText(choice.value);
      });
      box.appendChild(button);
    }
    return box;
  }

  // Only the newest menu's choices can be tapped.
  function dropQuickReplies() {
    for (const box of Array.from(ui.log.querySelectorAll(".quick"))) box.remove();
  }

  function updateBubble(entry) {
    const el = entry.el;
    if (!el) return;
    el.dataset.status = entry.status;
    if (entry.id != null) el.dataset.id = String(entry.id);
    if (entry.seq != null) el.dataset.seq = String(entry.seq);
    else delete el.dataset.seq;
    const parts = [timeLabel(entry.created_at)];
    if (entry.direction === "in") parts.push(statusLabel(entry.status));
    if (entry.status === "failed" && entry.reason) parts.push(entry.reason);
    entry.meta.textContent = parts.filter(Boolean).join(" · ");
  }

  function isNearBottom() {
    const log = ui.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  // Keep bubbles ordered by seq; messages without a seq (still sending) stay at the end.
  function place(entry) {
    const stick = isNearBottom();
    if (ui.hint.parentNode) ui.hint.remove();
    const el = entry.el || buildBubble(entry);
    if (entry.seq == null) {
      ui.log.appendChild(el);
    } else {
      let before = null;
      for (const child of ui.log.children) {
        if (child === el || child.dataset.status === "failed") continue;
        const seq = child.dataset.seq;
        if (seq === undefined || Number(seq) > entry.seq) { before = child; break; }
      }
      if (before) ui.log.insertBefore(el, before);
      else ui.log.appendChild(el);
    }
    if (stick || entry.direction === "in") scrollToBottom();
  }

  function updateBadge() {
    let unread = 0;
    if (!isOpen) {
      for (const m of messages.values()) if (m.direction !== "in" && m.seq > readSeq) unread += 1;
    }
    ui.badge.hidden = unread === 0;
    ui.badge.textContent = unread > 9 ? "9+" : String(unread);
    ui.launcher.setAttribute(
      "aria-label",
      isOpen ? "Close chat" : unread ? `Open chat, ${unread} unread` : "Open chat"
    );
  }

  function markRead() {
    if (!isOpen) return;
    let top = readSeq;
    for (const m of messages.values()) if (m.seq > top) top = m.seq;
    if (top !== readSeq) {
      readSeq = top;
      store.set(READ_KEY, String(readSeq));
    }
    updateBadge();
  }

  // ---- outbox ---------------------------------------------------------------------------
  function persistOutbox() {
    const list = [];
    for (const p of pending.values()) {
      if (p.status === "sending") list.push({ client_id: p.client_id, text: p.text, created_at: p.created_at });
    }
    if (list.length) store.set(OUTBOX_KEY, JSON.stringify(list));
    else store.remove(OUTBOX_KEY);
  }

  function queueMessage(text, clientId, createdAt) {
    const entry = {
      client_id: clientId || newClientId(),
      id: null,
      seq: null,
      direction: "in",
      text,
      author: "",
      status: "sending",
      created_at: createdAt || new Date().toISOString(),
    };
    pending.set(entry.client_id, entry);
    place(entry);
    return entry;
  }

  function transmit(entry) {
    if (!ready || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ type: "message", client_id: entry.client_id, text: entry.text }));
    inflight.push(entry.client_id);
    return true;
  }

  function submit() {
    const text = ui.input.value;
    if (!text.trim()) return;
    if (text.length > MAX_TEXT) {
      showNotice(`Messages can be at most ${MAX_TEXT} characters.`);
      return;
    }
    ui.input.value = "";
    autosize();
    dropQuickReplies();
    sendText(text);
  }

  function sendText(text) {
    const entry = queueMessage(text);
    persistOutbox();
    scrollToBottom();
    if (!transmit(entry)) start();
  }

  // ---- server frames --------------------------------------------------------------------
  function onAck(frame) {
    inflight = inflight.filter((id) => id !== frame.client_id);
    const entry = pending.get(frame.client_id);
    if (!entry) return;
    pending.delete(frame.client_id);
    persistOutbox();
    if (frame.conversation_id != null) conversationId = frame.conversation_id;
    const id = Number(frame.id);
    if (messages.has(id)) {
      // Already shown (replayed during a resume while our ack was lost): drop the copy.
      entry.el.remove();
      return;
    }
    entry.id = id;
    entry.seq = frame.seq != null ? Number(frame.seq) : id;
    entry.status = "sent";
    messages.set(id, entry);
    updateBubble(entry);
    place(entry);
  }

  function onMessage(frame) {
    const id = Number(frame.id);
    if (!Number.isFinite(id)) return;
    const seq = frame.seq != null ? Number(frame.seq) : id;
    if (seq > maxSeq) maxSeq = seq;
    if (frame.conversation_id != null) conversationId = frame.conversation_id;
    if (messages.has(id)) return;
    const entry = {
      client_id: null,
      id,
      seq,
      direction: frame.direction === "in" ? "in" : "out",
      text: typeof frame.text === "string" ? frame.text : "",
      author: typeof frame.author === "string" ? frame.author : "",
      status: frame.direction === "in" ? "sent" : frame.status || "received",
      created_at: frame.created_at,
      buttons: Array.isArray(frame.buttons)
        ? frame.buttons.filter((b) => b && typeof b.label === "string" && typeof b.value === "string")
        : [],
    };
    // A newer menu, or the visitor's own answer after one, retires the older choices.
    if (entry.buttons.length || entry.direction === "in") dropQuickReplies();
    messages.set(id, entry);
    place(entry);
    if (isOpen) markRead();
    else updateBadge();
  }

  const ERROR_TEXT = {
    too_long: "That message is too long.",
    bad_frame: "That message could not be sent.",
    bad_json: "Something went wrong sending that.",
  };

  function onError(frame) {
    const code = typeof frame.code === "string" ? frame.code : "";
    const reason = typeof frame.reason === "string" ? frame.reason : "";
    // The server answers frames in order; a rejected message frame gets an error instead of
    // an ack, so it belongs to the oldest message still waiting for its answer.
    if ((code === "too_long" || code === "bad_frame") && inflight.length) {
      const clientId = inflight.shift();
      const entry = pending.get(clientId);
      if (entry) {
        pending.delete(clientId);
        entry.status = "failed";
        entry.reason = ERROR_TEXT[code] || reason;
        updateBubble(entry);
        persistOutbox();
      }
    }
    showNotice(ERROR_TEXT[code] || reason || "Something went wrong.");
  }

  function onConversationClosed(frame) {
    if (frame.conversation_id != null && frame.conversation_id !== conversationId) return;
    conversationId = null;
    showNotice("This conversation was closed. Write again any time to start a new one.", false, 15000);
  }

  function onReady(frame) {
    ready = true;
    attempt = 0;
    inflight = [];
    conversationId = frame.conversation_id != null ? frame.conversation_id : conversationId;
    setConnState("online");
    ws.send(JSON.stringify({ type: "resume", after: maxSeq }));
    for (const entry of pending.values()) {
      if (entry.status === "sending") transmit(entry);
    }
  }

  function handleFrame(raw) {
    let frame;
    try { frame = JSON.parse(raw); } catch (_) { return; }
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "ready": onReady(frame); break;
      case "ack": onAck(frame); break;
      case "message": onMessage(frame); break;
      case "closed": onConversationClosed(frame); break;
      case "error": onError(frame); break;
      case "pong": break;
      default: break;
    }
  }

  // ---- connection -----------------------------------------------------------------------
  class HttpError extends Error {
    constructor(status) {
      super(`HTTP ${status}`);
      this.status = status;
    }
  }

  async function requestToken(old) {
    const init = { method: "POST", credentials: "omit", mode: "cors", cache: "no-store" };
    if (old) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify({ token: old });
    }
    const res = await fetch(`${gateway}/api/webchat/session`, init);
    if (res.status === 403 && old) {
      // The token is no longer valid (forged, rotated secret): start afresh.
      store.remove(TOKEN_KEY);
      return requestToken(null);
    }
    if (!res.ok) throw new HttpError(res.status);
    const data = await res.json();
    if (!data || typeof data.token !== "string") throw new Error("bad session answer");
    store.set(TOKEN_KEY, data.token);
    return data.token;
  }

  function socketUrl(token) {
    const url = new URL(`${gateway}/ws/webchat`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", token);
    if (topic) url.searchParams.set("topic", topic);
    if (/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(language)) {
      url.searchParams.set("language", language);
    }
    return url.toString();
  }

  function start() {
    started = true;
    if (ws || connecting || reconnectTimer) return;
    connect();
  }

  async function connect() {
    reconnectTimer = null;
    if (ws || connecting) return;
    connecting = true;
    if (connState !== "reconnecting" && connState !== "unavailable") setConnState("connecting");
    let token;
    try {
      token = await requestToken(store.get(TOKEN_KEY));
    } catch (err) {
      connecting = false;
      if (err instanceof HttpError && err.status >= 400 && err.status < 500) setConnState("unavailable");
      else setConnState("reconnecting");
      scheduleReconnect();
      return;
    }
    connecting = false;
    let sock;
    try {
      sock = new WebSocket(socketUrl(token));
    } catch (_) {
      setConnState("reconnecting");
      scheduleReconnect();
      return;
    }
    ws = sock;
    ready = false;
    sock.onopen = () => {
      if (sock !== ws) return;
      lastFrameAt = Date.now();
      clearInterval(pingTimer);
      pingTimer = setInterval(() => tick(sock), PING_MS);
    };
    sock.onmessage = (event) => {
      if (sock !== ws) return;
      lastFrameAt = Date.now();
      if (typeof event.data === "string") handleFrame(event.data);
    };
    sock.onclose = (event) => {
      if (sock !== ws) return;
      onClosed(event.code);
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  function tick(sock) {
    if (sock !== ws || sock.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastFrameAt > STALE_MS) {
      // No pong and no heartbeat for too long: the connection is dead; start over.
      sock.close(4000, "stale");
      onClosed(4000);
      return;
    }
    sock.send(JSON.stringify({ type: "ping" }));
  }

  function onClosed(code) {
    const old = ws;
    ws = null;
    ready = false;
    inflight = [];
    clearInterval(pingTimer);
    pingTimer = null;
    if (old) { old.onopen = old.onmessage = old.onclose = old.onerror = null; }
    if (code === 4429) {
      holdUntil = Date.now() + RATE_LIMIT_DELAY;
      showNotice("You are sending messages too fast", true, RATE_LIMIT_DELAY);
      setConnState("reconnecting");
      scheduleReconnect(RATE_LIMIT_DELAY);
      return;
    }
    if (code === 4401) store.remove(TOKEN_KEY); // token revoked: ask for a new one
    setConnState("reconnecting");
    scheduleReconnect();
  }

  function scheduleReconnect(minDelay = 0) {
    if (reconnectTimer) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** attempt);
    attempt = Math.min(attempt + 1, 10);
    const delay = Math.max(minDelay, base / 2 + Math.random() * (base / 2));
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (!started || ws || connecting) return;
    if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
    const wait = holdUntil - Date.now();
    if (wait > 0) scheduleReconnect(wait); // respect a rate-limit pause
    else connect();
  }

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  // ---- open / close ---------------------------------------------------------------------
  function open() {
    if (!isOpen) {
      isOpen = true;
      ui.panel.hidden = false;
      ui.root.classList.add("open");
      ui.launcher.setAttribute("aria-expanded", "true");
      renderStatus();
      markRead();
      scrollToBottom();
      start();
    }
    ui.input.focus();
  }

  function close() {
    if (!isOpen) return;
    const hadFocus = shadow.activeElement && ui.panel.contains(shadow.activeElement);
    isOpen = false;
    ui.panel.hidden = true;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    updateBadge();
    if (hadFocus) ui.launcher.focus();
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, 140)}px`;
  }

  ui.launcher.addEventListener("click", () => (isOpen ? close() : open()));
  ui.close.addEventListener("click", close);
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    ui.input.focus();
  });
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  ui.input.addEventListener("input", autosize);
  ui.root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen) {
      event.preventDefault();
      close();
      ui.launcher.focus();
    }
  });

  // ---- boot -----------------------------------------------------------------------------
  function boot() {
    document.body.appendChild(host);
    // Messages that were never acknowledged (page closed while offline) go out again with
    // the same client_id, so the server stores each once.
    for (const m of loadOutbox()) queueMessage(m.text, m.client_id, m.created_at);
    updateBadge();
    renderStatus();
    // A returning visitor (or one with unsent messages) reconnects at once so the history
    // and unread replies are there; a new visitor gets a session only when they open the chat.
    if (store.get(TOKEN_KEY) || pending.size) start();
  }

  window.ContactGatewayChat = { open, close };

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot, { once: true });
})();
