/*
 * IVR menus admin page (no build step, no libraries): the menus, a diagram drawn here as SVG
 * from the graph the API gives, the YAML with Validate / Publish, the version history with
 * Roll back, and a call simulator (docs/ivr.md, "Admin API and page").
 *
 * Sign-in works as on the supervisor page: the console's session cookie; writes send its CSRF
 * token. All text from the network goes in with textContent, never as HTML.
 */
(() => {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const BOX_W = 176;
  const BOX_H = 56;
  const COL_GAP = 22;
  const ROW_GAP = 78;
  const PAD = 26;
  const BACK_MARGIN = 56; // room left of the boxes for arrows that go back up
  const WAYPOINT_W = 14; // the room an arrow takes in a row it passes through
  const LINE_PX = 20; // the editor's line height (ivr.css)
  const GROUPS = {
    menu: "wait", gather: "wait", voicemail: "wait", appeal_status: "wait",
    say: "go", play: "go", set: "go", hours: "go", lookup: "go", appeal: "go",
    queue: "end", transfer: "end", hangup: "end",
  };
  const RECORDING = { url: "https://recordings.example/simulated.mp3", duration_seconds: 15 };
  // What the appeals desk can answer, per question (the simulator never looks an appeal up).
  const APPEAL_ANSWERS = {
    status: [["found", "Appeal found"], ["not_found", "Not found"], ["limited", "Too many misses"], ["failed", "Desk failed"]],
    open: [["opened", "Appeal opened"], ["failed", "Could not open"]],
  };

  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
  const ui = {
    notice: $("ivr-notice"),
    who: $("ivr-who"),
    workspace: $("ivr-workspace"),
    diagramPanel: $("ivr-diagram-panel"),
    columns: $("ivr-columns"),
    menus: $("ivr-menus"),
    diagram: $("ivr-diagram"),
    caption: $("ivr-diagram-caption"),
    editor: $("ivr-editor"),
    gutter: $("ivr-gutter"),
    base: $("ivr-editor-base"),
    validate: $("ivr-validate"),
    publish: $("ivr-publish"),
    revert: $("ivr-revert"),
    status: $("ivr-status"),
    problems: $("ivr-problems"),
    versions: $("ivr-versions"),
    setup: $("ivr-sim-setup"),
    language: $("ivr-sim-language"),
    at: $("ivr-sim-at"),
    draft: $("ivr-sim-draft"),
    simStatus: $("ivr-sim-status"),
    keypad: $("ivr-keypad"),
    digits: $("ivr-sim-digits"),
    sayForm: $("ivr-sim-say"),
    sayText: $("ivr-sim-text"),
    saySend: $("ivr-sim-send"),
    timeout: $("ivr-sim-timeout"),
    lookup: $("ivr-sim-lookup"),
    lookupUrl: $("ivr-sim-lookup-url"),
    lookupJson: $("ivr-sim-lookup-json"),
    lookupOk: $("ivr-sim-lookup-ok"),
    lookupFailed: $("ivr-sim-lookup-failed"),
    appeal: $("ivr-sim-appeal"),
    appealWhat: $("ivr-sim-appeal-what"),
    appealAnswers: $("ivr-sim-appeal-answers"),
    recording: $("ivr-sim-recording"),
    record: $("ivr-sim-record"),
    heard: $("ivr-heard"),
    textingText: $("ivr-texting-text"),
    textingButtons: $("ivr-texting-buttons"),
    attributes: $("ivr-sim-attributes"),
  };

  const page = {
    csrf: "",
    menuId: null,
    menu: null, // GET /api/admin/ivr/menus/{id}: the version in force and its graph
    call: null, // the simulator's last answer
    digits: "", // keys pressed at a digits question, not sent yet
    busy: false,
    problemNodes: new Set(), // nodes the last validation found problems in
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = page.csrf;
    const res = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    return { status: res.status, ok: res.ok, data: data || {} };
  }

  function notice(text, link) {
    ui.notice.replaceChildren(text || "");
    if (link) {
      ui.notice.append(" ");
      const a = el("a", "", link.text);
      a.href = link.href;
      ui.notice.append(a);
    }
    ui.notice.hidden = !text;
  }

  function when(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  // ---- menus ---------------------------------------------------------------------------

  async function loadMenus(select) {
    const res = await api("GET", "/api/admin/ivr/menus");
    if (!res.ok) return failed(res);
    const menus = Array.isArray(res.data.menus) ? res.data.menus : [];
    ui.menus.replaceChildren();
    if (!menus.length) ui.menus.append(el("span", "muted", "No menus yet: publish one with PUT /api/admin/ivr/menus/{id}."));
    for (const menu of menus) {
      const button = el("button", "ivr-menu");
      button.type = "button";
      button.dataset.testid = "ivr-menu";
      button.dataset.menu = menu.id;
      button.append(el("strong", "", menu.id));
      button.append(el("span", "muted small", menu.description || ""));
      button.append(el("span", "chip", `#${menu.version.id} · ${menu.nodes} nodes · ${menu.languages.join(", ")}`));
      button.addEventListener("click", () => openMenu(menu.id));
      ui.menus.append(button);
    }
    const wanted = select || page.menuId || (menus[0] && menus[0].id);
    if (wanted) await openMenu(wanted);
  }

  async function openMenu(menuId, keepEditor) {
    const res = await api("GET", `/api/admin/ivr/menus/${encodeURIComponent(menuId)}`);
    if (!res.ok) return failed(res);
    const changedMenu = page.menuId !== menuId;
    page.menuId = menuId;
    page.menu = res.data;
    for (const button of ui.menus.querySelectorAll(".ivr-menu")) {
      button.setAttribute("aria-current", String(button.dataset.menu === menuId));
    }
    const version = page.menu.version;
    drawDiagram(page.menu.graph, `Version #${version.id} in force · ${page.menu.graph.nodes.length} nodes`);
    if (!keepEditor || changedMenu) {
      setEditor(version.source_text);
      ui.problems.replaceChildren();
    }
    ui.base.textContent = `menu ${menuId} · version #${version.id} (${version.source}, ${when(version.created_at)})`;
    if (changedMenu) {
      ui.language.replaceChildren();
      for (const language of page.menu.languages) {
        const option = el("option", "", language);
        option.value = language;
        ui.language.append(option);
      }
      resetCall();
    }
    draftState();
    await loadVersions();
  }

  function failed(res) {
    if (res.status === 401) notice("Your session has ended: sign in on the console again.", { href: "/console", text: "Open the console" });
    else setStatus(res.data.reason || `The gateway answered ${res.status}.`, "bad");
    return null;
  }

  // ---- the diagram ---------------------------------------------------------------------

  function mergedEdges(graph) {
    // Two arrows between the same boxes ("0 Operator" and "exhausted") become one with both
    // labels; a way back that retraces a way forward (to-spanish → main) becomes its second head.
    const merged = new Map();
    for (const edge of graph.edges) {
      const key = `${edge.from}\u0000${edge.to}`;
      const seen = merged.get(key);
      if (seen) {
        if (edge.label) seen.label = seen.label ? `${seen.label} · ${edge.label}` : edge.label;
        seen.implicit = seen.implicit && edge.implicit;
      } else {
        merged.set(key, { ...edge, twoWay: false });
      }
    }
    for (const edge of merged.values()) {
      const forward = edge.back && merged.get(`${edge.to}\u0000${edge.from}`);
      if (forward && !forward.back) {
        forward.twoWay = true;
        edge.drawn = false;
      }
    }
    return [...merged.values()].filter((e) => e.drawn !== false);
  }

  function layout(graph, edges) {
    // Rows by layer (from the API); an arrow that crosses rows gets a waypoint in each row it
    // crosses, so it is routed between the boxes instead of through them.
    const byId = new Map(graph.nodes.map((n) => [n.id, n]));
    const rows = [];
    const items = new Map();
    const add = (id, layer, dummy) => {
      (rows[layer] = rows[layer] || []).push(id);
      items.set(id, { id, layer, dummy, w: dummy ? WAYPOINT_W : BOX_W, node: byId.get(id) });
    };
    for (const node of graph.nodes) add(node.id, node.layer, false);
    const parents = new Map();
    const rank = new Map(); // the order arrows leave their box: menu options in their order
    const link = (from, to, order) => {
      if (!parents.has(to)) parents.set(to, []);
      parents.get(to).push(from);
      if (!rank.has(to)) rank.set(to, order);
    };
    const waypoints = new Map();
    edges.forEach((edge, order) => {
      if (edge.back) return;
      let previous = edge.from;
      const chain = [];
      for (let level = byId.get(edge.from).layer + 1; level < byId.get(edge.to).layer; level++) {
        const id = `\u0000${order}:${level}`;
        add(id, level, true);
        link(previous, id, order);
        chain.push(id);
        previous = id;
      }
      link(previous, edge.to, order);
      waypoints.set(edge, chain);
    });
    for (let level = 0; level < rows.length; level++) rows[level] = rows[level] || [];
    const rowWidth = (row) => row.reduce((sum, id) => sum + items.get(id).w, 0) + Math.max(0, row.length - 1) * COL_GAP;
    const widest = Math.max(BOX_W, ...rows.map(rowWidth));
    const center = new Map();
    const place = (row) => {
      let x = (widest - rowWidth(row)) / 2;
      for (const id of row) {
        center.set(id, x + items.get(id).w / 2);
        x += items.get(id).w + COL_GAP;
      }
    };
    rows.forEach(place);
    // Order each row by where its parents are (a few sweeps), so arrows cross less.
    for (let sweep = 0; sweep < 3; sweep++) {
      for (const row of rows.slice(1)) {
        const weight = new Map(row.map((id) => {
          const xs = (parents.get(id) || []).filter((p) => center.has(p)).map((p) => center.get(p));
          return [id, xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : center.get(id)];
        }));
        row.sort((a, b) => weight.get(a) - weight.get(b) || (rank.get(a) ?? 1e9) - (rank.get(b) ?? 1e9));
        place(row);
      }
    }
    const boxes = new Map();
    for (const [id, item] of items) {
      const x = PAD + BACK_MARGIN + center.get(id) - item.w / 2;
      const y = PAD + 16 + item.layer * (BOX_H + ROW_GAP);
      boxes.set(id, { ...item, x, y });
    }
    return {
      boxes,
      waypoints,
      width: PAD * 2 + widest + BACK_MARGIN,
      height: PAD * 2 + 16 + rows.length * (BOX_H + ROW_GAP) - ROW_GAP,
    };
  }

  function cubicPoint(p, t) {
    const u = 1 - t;
    const at = (i) => u * u * u * p[0][i] + 3 * u * u * t * p[1][i] + 3 * u * t * t * p[2][i] + t * t * t * p[3][i];
    return [at(0), at(1)];
  }

  function fit(text, width, pxPerChar) {
    const max = Math.floor(width / pxPerChar);
    return text.length <= max ? text : `${text.slice(0, Math.max(1, max - 1))}…`;
  }

  function drawDiagram(graph, caption) {
    const edges = mergedEdges(graph).filter((e) => graph.nodes.some((n) => n.id === e.from) && graph.nodes.some((n) => n.id === e.to));
    const { boxes, waypoints, width, height } = layout(graph, edges);
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": `Diagram of menu ${page.menuId}: ${graph.nodes.length} nodes`,
    });
    root.dataset.testid = "ivr-svg";
    const defs = svg("defs");
    const marker = svg("marker", {
      id: "ivr-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: "ivr-arrowhead" }));
    defs.append(marker);
    root.append(defs);

    // Spread the arrows over the bottom of their box and the top of their target, in the
    // order of where they go (or come from), so they do not start on top of each other.
    const first = (edge) => boxes.get((waypoints.get(edge) || [])[0] || edge.to);
    const last = (edge) => boxes.get((waypoints.get(edge) || []).slice(-1)[0] || edge.from);
    const outs = new Map();
    const ins = new Map();
    const forward = edges.filter((e) => !e.back);
    for (const edge of forward) {
      if (!outs.has(edge.from)) outs.set(edge.from, []);
      if (!ins.has(edge.to)) ins.set(edge.to, []);
      outs.get(edge.from).push(edge);
      ins.get(edge.to).push(edge);
    }
    for (const list of outs.values()) list.sort((a, b) => first(a).x - first(b).x);
    for (const list of ins.values()) list.sort((a, b) => last(a).x - last(b).x);
    const edgeLayer = svg("g", { class: "ivr-edges" });
    const labelLayer = svg("g", { class: "ivr-edge-labels" });
    const placed = [];
    for (const edge of forward) {
      const from = boxes.get(edge.from);
      const to = boxes.get(edge.to);
      const outList = outs.get(edge.from);
      const inList = ins.get(edge.to);
      const points = [[from.x + (BOX_W * (outList.indexOf(edge) + 1)) / (outList.length + 1), from.y + BOX_H]];
      for (const id of waypoints.get(edge) || []) {
        const w = boxes.get(id);
        points.push([w.x + WAYPOINT_W / 2, w.y], [w.x + WAYPOINT_W / 2, w.y + BOX_H]);
      }
      points.push([to.x + (BOX_W * (inList.indexOf(edge) + 1)) / (inList.length + 1), to.y]);
      let d = `M${points[0][0]},${points[0][1]}`;
      const segments = [];
      for (let i = 1; i < points.length; i++) {
        const [px, py] = points[i - 1];
        const [qx, qy] = points[i];
        if (i % 2 === 0) { d += ` L${qx},${qy}`; continue; } // straight down through a row
        const dy = Math.max(24, (qy - py) / 2);
        const curve = [[px, py], [px, py + dy], [qx, qy - dy], [qx, qy]];
        segments.push(curve);
        d += ` C${curve[1][0]},${curve[1][1]} ${curve[2][0]},${curve[2][1]} ${qx},${qy}`;
      }
      // Labels of a fan of arrows sit near their targets, where the arrows are apart.
      const t = outList.length >= 4 ? 0.7 : 0.5;
      drawEdge(edgeLayer, labelLayer, placed, edge, d, cubicPoint(segments[0], t));
    }
    for (const edge of edges.filter((e) => e.back)) {
      // The way back up, around the left of both boxes.
      const from = boxes.get(edge.from);
      const to = boxes.get(edge.to);
      const bend = Math.min(from.x, to.x) - 46;
      const sy = from.y + BOX_H / 2;
      const ty = to.y + BOX_H / 2;
      const d = `M${from.x},${sy} C${bend},${sy} ${bend},${ty} ${to.x},${ty}`;
      drawEdge(edgeLayer, labelLayer, placed, edge, d, cubicPoint([[from.x, sy], [bend, sy], [bend, ty], [to.x, ty]], 0.5));
    }
    root.append(edgeLayer);

    const nodeLayer = svg("g", { class: "ivr-nodes" });
    for (const [id, box] of boxes) {
      if (box.dummy) continue;
      const node = box.node;
      const g = svg("g", {
        class: "ivr-node", transform: `translate(${box.x} ${box.y})`, tabindex: 0, role: "button",
        "data-node": id, "data-kind": node.kind, "data-group": GROUPS[node.kind] || "go",
      });
      g.dataset.testid = "ivr-node";
      g.append(svg("title", {}, `${id} (${node.kind}${node.line ? `, line ${node.line}` : ""})\n${node.prompt || node.label}`));
      g.append(svg("rect", { class: "ivr-box", width: BOX_W, height: BOX_H, rx: 8 }));
      g.append(svg("rect", { class: "ivr-band", width: 6, height: BOX_H - 2, x: 1, y: 1, rx: 3 }));
      const kindWidth = node.kind.length * 6.2 + 8;
      g.append(svg("text", { class: "ivr-node-id", x: 14, y: 22 }, fit(id, BOX_W - 24 - kindWidth, 7.9)));
      g.append(svg("text", { class: "ivr-node-kind", x: BOX_W - 9, y: 21, "text-anchor": "end" }, node.kind));
      g.append(svg("text", { class: "ivr-node-label", x: 14, y: 42 }, fit(node.label || "", BOX_W - 22, 6.1)));
      if (id === graph.start) {
        g.append(svg("text", { class: "ivr-start", x: BOX_W / 2, y: -8, "text-anchor": "middle" }, "▼ start"));
      }
      const go = () => { if (node.line) goToLine(node.line); };
      g.addEventListener("click", go);
      g.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); go(); }
      });
      nodeLayer.append(g);
    }
    root.append(nodeLayer);
    root.append(labelLayer);
    ui.diagram.replaceChildren(root);
    ui.caption.textContent = caption;
    if (page.call) highlight(page.call.node);
    markProblems();
  }

  function drawEdge(edgeLayer, labelLayer, placed, edge, d, at) {
    const path = svg("path", {
      d,
      class: `ivr-edge${edge.implicit ? " is-implicit" : ""}${edge.back ? " is-back" : ""}`,
      "marker-end": "url(#ivr-arrow)", "data-from": edge.from, "data-to": edge.to,
    });
    if (edge.twoWay) path.setAttribute("marker-start", "url(#ivr-arrow)");
    const what = `${edge.from} → ${edge.to}${edge.twoWay ? " and back" : ""}`;
    path.append(svg("title", {}, `${what}${edge.label ? `: ${edge.label}` : ""} (${edge.field})`));
    edgeLayer.append(path);
    if (!edge.label) return;
    // Keep labels off each other: move one down until it is free (a few tries).
    const w = edge.label.length * 6.3 + 6;
    let [x, y] = at;
    for (let tries = 0; tries < 4; tries++) {
      const clash = placed.some((p) => Math.abs(p.x - x) < (p.w + w) / 2 && Math.abs(p.y - y) < 14);
      if (!clash) break;
      y += 14;
    }
    placed.push({ x, y, w });
    const label = svg("text", { class: "ivr-edge-label", x, y: y + 4, "text-anchor": "middle" }, edge.label);
    label.dataset.testid = "ivr-edge-label";
    labelLayer.append(label);
  }

  function markProblems() {
    for (const g of ui.diagram.querySelectorAll(".ivr-node")) {
      g.classList.toggle("has-problem", page.problemNodes.has(g.getAttribute("data-node")));
    }
  }

  function highlight(nodeId) {
    for (const g of ui.diagram.querySelectorAll(".ivr-node")) {
      const current = g.getAttribute("data-node") === nodeId;
      g.classList.toggle("is-current", current);
      if (current) g.setAttribute("data-current", "true");
      else g.removeAttribute("data-current");
    }
    const current = ui.diagram.querySelector(".ivr-node.is-current");
    if (current) {
      // Bring it into view inside the diagram only (never scroll the page away).
      const box = current.getBoundingClientRect();
      const frame = ui.diagram.getBoundingClientRect();
      if (box.left < frame.left || box.right > frame.right) {
        ui.diagram.scrollLeft += box.left - frame.left - frame.width / 2 + box.width / 2;
      }
    }
  }

  // ---- the editor ----------------------------------------------------------------------

  function setEditor(text) {
    ui.editor.value = text;
    ui.editor.scrollTop = 0;
    gutter();
  }

  function gutter() {
    const count = ui.editor.value.split("\n").length;
    const numbers = [];
    for (let n = 1; n <= count; n++) numbers.push(n);
    ui.gutter.textContent = `${numbers.join("\n")}\n`;
    ui.gutter.scrollTop = ui.editor.scrollTop;
  }

  function goToLine(line) {
    const lines = ui.editor.value.split("\n");
    const target = Math.min(Math.max(1, line), lines.length);
    let start = 0;
    for (let i = 0; i < target - 1; i++) start += lines[i].length + 1;
    ui.editor.focus();
    ui.editor.setSelectionRange(start, start + lines[target - 1].length);
    ui.editor.scrollTop = Math.max(0, (target - 1) * LINE_PX - ui.editor.clientHeight / 3);
    ui.gutter.scrollTop = ui.editor.scrollTop;
  }

  function draftState() {
    if (!page.menu) return;
    const changed = ui.editor.value !== page.menu.version.source_text;
    ui.editor.dataset.changed = String(changed);
    ui.base.dataset.changed = String(changed);
    ui.revert.disabled = !changed;
  }

  function setStatus(text, tone) {
    ui.status.textContent = text || "";
    ui.status.dataset.tone = tone || "";
  }

  function showProblems(problems) {
    ui.problems.replaceChildren();
    page.problemNodes = new Set(problems.map((p) => p.node).filter(Boolean));
    markProblems();
    for (const problem of problems) {
      const li = el("li");
      const button = el("button", "ivr-problem");
      button.type = "button";
      button.dataset.testid = "ivr-problem";
      if (problem.line) button.dataset.line = String(problem.line);
      button.append(el("span", "ivr-problem-line", problem.line ? `line ${problem.line}` : "file"));
      if (problem.node) button.append(el("span", "chip", problem.node));
      button.append(el("span", "", problem.message));
      button.addEventListener("click", () => { if (problem.line) goToLine(problem.line); });
      li.append(button);
      ui.problems.append(li);
    }
  }

  function problemsFrom(res) {
    if (Array.isArray(res.data.problems) && res.data.problems.length) {
      showProblems(res.data.problems);
      const n = res.data.problems.length;
      setStatus(`${n} problem${n === 1 ? "" : "s"}: nothing was changed. Click one to find its line.`, "bad");
      return true;
    }
    return false;
  }

  async function validate() {
    setStatus("Validating…");
    const res = await api("POST", "/api/admin/ivr/validate", { source_text: ui.editor.value });
    if (res.ok) {
      showProblems([]);
      setStatus(`Valid: menu ${res.data.menu_id}, content ${res.data.version}. The diagram shows this draft.`, "ok");
      drawDiagram(res.data.graph, "Draft from the editor (validated, not published)");
    } else if (!problemsFrom(res)) {
      failed(res);
    }
  }

  async function publish() {
    if (!page.menu) return;
    setStatus("Publishing…");
    const res = await api("PUT", `/api/admin/ivr/menus/${encodeURIComponent(page.menuId)}`, {
      source_text: ui.editor.value,
      expected_version: page.menu.version.id,
    });
    if (res.status === 201) {
      showProblems([]);
      await loadMenus(page.menuId);
      setStatus(`Published version #${res.data.id}: every call and chat uses it now.`, "ok");
    } else if (res.status === 409) {
      setStatus(`${res.data.reason} Your text is still here; "Back to the version in force" loads #${res.data.current}.`, "bad");
      await openMenu(page.menuId, true);
    } else if (!problemsFrom(res)) {
      failed(res);
    }
  }

  // ---- versions ------------------------------------------------------------------------

  async function loadVersions() {
    const res = await api("GET", `/api/admin/ivr/menus/${encodeURIComponent(page.menuId)}/versions`);
    if (!res.ok) return failed(res);
    ui.versions.replaceChildren();
    const inForce = page.menu.version.id;
    for (const version of res.data.versions || []) {
      const li = el("li", "ivr-version");
      li.dataset.testid = "ivr-version";
      li.dataset.version = String(version.id);
      const head = el("div", "ivr-version-head");
      head.append(el("strong", "", `#${version.id}`));
      head.append(el("span", "muted small", `${version.source}${version.author ? ` · ${version.author}` : ""} · ${when(version.created_at)}`));
      if (version.id === inForce) head.append(el("span", "chip", "in force"));
      li.append(head);
      const actions = el("div", "ivr-row");
      const open = el("button", "btn ghost", "Open in editor");
      open.type = "button";
      open.dataset.testid = "ivr-open-version";
      open.addEventListener("click", () => openVersion(version.id));
      actions.append(open);
      if (version.id !== inForce) {
        const rollback = el("button", "btn", "Roll back to this");
        rollback.type = "button";
        rollback.dataset.testid = "ivr-rollback";
        rollback.addEventListener("click", () => rollbackTo(version.id));
        actions.append(rollback);
      }
      li.append(actions);
      ui.versions.append(li);
    }
  }

  async function openVersion(versionId) {
    const res = await api("GET", `/api/admin/ivr/menus/${encodeURIComponent(page.menuId)}/versions/${versionId}`);
    if (!res.ok) return failed(res);
    setEditor(res.data.source_text);
    showProblems([]);
    draftState();
    setStatus(`Version #${versionId} is in the editor; Publish makes it the version in force.`);
  }

  async function rollbackTo(versionId) {
    setStatus(`Rolling back to #${versionId}…`);
    const res = await api("POST", `/api/admin/ivr/menus/${encodeURIComponent(page.menuId)}/rollback`, { version_id: versionId });
    if (res.ok) {
      showProblems([]);
      await loadMenus(page.menuId);
      setEditor(page.menu.version.source_text);
      draftState();
      setStatus(`Rolled back: version #${res.data.id}, a copy of #${versionId}, is in force.`, "ok");
    } else if (!problemsFrom(res)) {
      failed(res);
    }
  }

  // ---- the simulator -------------------------------------------------------------------

  function atValue() {
    if (!ui.at.value) return undefined;
    const date = new Date(ui.at.value); // datetime-local: the browser's own time zone
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  }

  function resetCall() {
    page.call = null;
    page.digits = "";
    ui.heard.replaceChildren();
    ui.textingText.textContent = "";
    ui.textingButtons.replaceChildren();
    ui.attributes.replaceChildren();
    ui.simStatus.textContent = "No call yet.";
    highlight(null);
    controls();
  }

  async function simulate(body, said) {
    if (page.busy) return;
    page.busy = true;
    controls();
    const request = { ...body };
    const at = atValue();
    if (at) request.at = at;
    if (ui.draft.checked) request.source_text = ui.editor.value;
    try {
      const res = await api("POST", `/api/admin/ivr/menus/${encodeURIComponent(page.menuId)}/simulate`, request);
      if (res.ok) {
        showCall(res.data, said, body.state === undefined);
      } else if (problemsFrom(res)) {
        ui.simStatus.textContent = "The draft has problems (see the YAML): fix them or untick “the draft”.";
      } else if (res.status === 401) {
        failed(res);
      } else {
        ui.simStatus.textContent = res.data.reason || `The gateway answered ${res.status}.`;
      }
    } catch (_) {
      ui.simStatus.textContent = "The gateway cannot be reached.";
    } finally {
      page.busy = false;
      controls();
    }
  }

  function waitingText(call) {
    const where = `${call.kind} '${call.node}'`;
    if (call.done) return `The call has ended at ${where}.`;
    switch (call.waiting) {
      case "answer": return `Waiting at ${where} for a key (${call.ask.keys.join(", ")}) or words.`;
      case "digits": return `Waiting at ${where} for ${call.ask.min_digits}-${call.ask.max_digits} digits${call.ask.finish_on_key ? `, then ${call.ask.finish_on_key}` : ""}.`;
      case "lookup": return `Waiting for the lookup at ${where}: answer it below.`;
      case "appeal": return `Waiting for the appeals desk at ${where}: answer it below.`;
      case "recording": return `Recording at ${where}.`;
      default: return `At ${where}.`;
    }
  }

  function heardClass(line) {
    const verb = line.split(/[\s:(]/, 1)[0];
    return `ivr-heard-${verb}`;
  }

  function showCall(call, said, fresh) {
    page.call = call;
    page.digits = "";
    if (fresh) {
      ui.heard.replaceChildren();
      const started = el("li", "ivr-heard-you", `Call started · ${when(call.at)} · ${call.language}`);
      ui.heard.append(started);
    } else if (said) {
      ui.heard.append(el("li", "ivr-heard-you", said));
    }
    for (const line of call.heard) {
      const li = el("li", heardClass(line), line);
      li.dataset.testid = "ivr-heard-line";
      ui.heard.append(li);
    }
    if (call.note) ui.heard.append(el("li", "ivr-heard-note", `note: ${call.note}`));
    ui.heard.scrollTop = ui.heard.scrollHeight;
    ui.simStatus.textContent = waitingText(call);
    ui.simStatus.dataset.done = String(call.done);

    ui.textingText.textContent = call.text || "(nothing to show)";
    ui.textingButtons.replaceChildren();
    for (const button of call.buttons) {
      const b = el("button", "ivr-reply", button.label);
      b.type = "button";
      b.dataset.testid = "ivr-texting-button";
      b.addEventListener("click", () => send({ text: button.value }, `Customer tapped “${button.label}”`));
      ui.textingButtons.append(b);
    }
    ui.attributes.replaceChildren();
    for (const [name, value] of Object.entries(call.attributes)) {
      ui.attributes.append(el("dt", "", name), el("dd", "", value));
    }
    if (call.waiting === "lookup" && call.lookup) {
      ui.lookupUrl.textContent = `${call.lookup.method} ${call.lookup.url}`;
      ui.lookupJson.value = JSON.stringify(sample(call.lookup.fields), null, 2);
    }
    ui.appealAnswers.replaceChildren();
    if (call.waiting === "appeal" && call.appeal) {
      const asked = call.appeal.action === "status"
        ? `status of appeal ${call.appeal.number}`
        : `open an appeal of topic ${call.appeal.topic}`;
      ui.appealWhat.textContent = asked;
      for (const [outcome, label] of APPEAL_ANSWERS[call.appeal.action] || []) {
        const b = el("button", "btn", label);
        b.type = "button";
        b.dataset.testid = `ivr-sim-appeal-${outcome}`;
        b.addEventListener("click", () => send({ appeal: { outcome } }, `Appeals desk: ${label}`));
        ui.appealAnswers.append(b);
      }
    }
    highlight(call.node);
    controls();
  }

  function sample(fields) {
    // An answer with every field the menu keeps, for the admin to edit.
    const data = {};
    for (const path of fields) {
      const parts = path.split(".");
      let here = data;
      parts.slice(0, -1).forEach((part) => { here = here[part] = here[part] || {}; });
      here[parts[parts.length - 1]] = "shipped";
    }
    return data;
  }

  function controls() {
    const call = page.call;
    const waiting = call && !call.done ? call.waiting : null;
    const answering = waiting === "answer" || waiting === "digits";
    for (const key of ui.keypad.querySelectorAll("button")) key.disabled = page.busy || !answering;
    ui.sayText.disabled = page.busy || !(answering || waiting === "recording");
    ui.saySend.disabled = ui.sayText.disabled;
    ui.timeout.disabled = page.busy || !waiting;
    ui.lookup.hidden = waiting !== "lookup";
    ui.recording.hidden = waiting !== "recording";
    ui.appeal.hidden = waiting !== "appeal";
    for (const b of ui.appealAnswers.querySelectorAll("button")) b.disabled = page.busy;
    ui.lookupOk.disabled = ui.lookupFailed.disabled = ui.record.disabled = page.busy;
    for (const b of ui.textingButtons.querySelectorAll("button")) b.disabled = page.busy || !answering;
    ui.digits.textContent = waiting === "digits"
      ? `Entered: ${page.digits || "–"} (${call.ask.min_digits}-${call.ask.max_digits} digits${call.ask.finish_on_key ? `, end with ${call.ask.finish_on_key}` : ""})`
      : "";
  }

  function send(event, said) {
    if (!page.call) return;
    simulate({ state: page.call.state, event }, said);
  }

  function press(key) {
    const call = page.call;
    if (!call || call.done) return;
    if (call.waiting !== "digits") {
      send({ digits: key }, `Caller pressed ${key}`);
      return;
    }
    // A digits question collects keys until the finish key or the most digits, as a phone does.
    const ask = call.ask;
    if (key === "*" && !page.digits && ask.back) {
      send({ digits: "*" }, "Caller pressed *");
      return;
    }
    if (ask.finish_on_key && key === ask.finish_on_key) {
      send({ digits: page.digits + key }, `Caller entered ${page.digits}${key}`);
      return;
    }
    page.digits += key;
    if (page.digits.length >= ask.max_digits) send({ digits: page.digits }, `Caller entered ${page.digits}`);
    else controls();
  }

  function buildKeypad() {
    for (const key of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]) {
      const button = el("button", "btn ivr-key", key);
      button.type = "button";
      button.dataset.testid = `ivr-key-${key === "*" ? "star" : key === "#" ? "pound" : key}`;
      button.setAttribute("aria-label", `key ${key}`);
      button.addEventListener("click", () => press(key));
      ui.keypad.append(button);
    }
  }

  // ---- wiring --------------------------------------------------------------------------

  function wire() {
    buildKeypad();
    ui.editor.addEventListener("input", () => { gutter(); draftState(); });
    ui.editor.addEventListener("scroll", () => { ui.gutter.scrollTop = ui.editor.scrollTop; });
    ui.validate.addEventListener("click", validate);
    ui.publish.addEventListener("click", publish);
    ui.revert.addEventListener("click", async () => {
      await openMenu(page.menuId, true);
      setEditor(page.menu.version.source_text);
      showProblems([]);
      draftState();
      setStatus(`The editor holds version #${page.menu.version.id} again.`);
    });
    ui.setup.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!page.menuId) return;
      simulate({ attributes: { language: ui.language.value } });
    });
    ui.sayForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = ui.sayText.value.trim();
      if (!text) return;
      ui.sayText.value = "";
      send({ text }, `Caller said “${text}”`);
    });
    ui.timeout.addEventListener("click", () => {
      if (page.digits) send({ digits: page.digits }, `Caller entered ${page.digits}, then silence`);
      else send({ timeout: true }, "Silence: no answer in time");
    });
    ui.lookupOk.addEventListener("click", () => {
      let data;
      try { data = JSON.parse(ui.lookupJson.value); } catch (error) {
        ui.simStatus.textContent = `That is not JSON: ${error.message}`;
        return;
      }
      if (!data || typeof data !== "object" || Array.isArray(data)) {
        ui.simStatus.textContent = "The lookup's answer must be a JSON object.";
        return;
      }
      send({ lookup: { ok: true, data } }, `Lookup answered ${JSON.stringify(data)}`);
    });
    ui.lookupFailed.addEventListener("click", () => send({ lookup: { ok: false } }, "Lookup failed (an error or a timeout)"));
    ui.record.addEventListener("click", () => send({ recording: RECORDING }, "Caller left a 15 s message"));
    controls();
  }

  async function boot() {
    wire();
    let me;
    try {
      me = await api("GET", "/api/me");
    } catch (_) {
      notice("The gateway cannot be reached; reload the page to try again.");
      return;
    }
    if (me.status === 401) {
      notice("Sign in on the console first (as an admin), then come back here.", { href: "/console", text: "Open the console" });
      return;
    }
    if (!me.ok) {
      notice(`The gateway answered ${me.status}; reload the page to try again.`);
      return;
    }
    if (!me.data.user || me.data.user.role !== "admin") {
      notice("This page is for admins.");
      return;
    }
    page.csrf = me.data.csrf_token || "";
    ui.who.textContent = `Signed in as ${me.data.user.display_name || me.data.user.username}`;
    ui.workspace.hidden = ui.diagramPanel.hidden = ui.columns.hidden = false;
    await loadMenus();
  }

  boot();
})();
