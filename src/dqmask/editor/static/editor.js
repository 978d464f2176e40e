// dqmask edit: the page. Plain canvas code, no library.
// Image coordinates are those of `regions`: 0-based, pixel centres on integers, y up
// (FITS orientation, as DS9). Screen y goes down, so imageToScreen flips it.
"use strict";
(function () {
  const base = location.pathname.replace(/[^/]*$/, "");  // "/<token>/"
  const $ = (id) => document.getElementById(id);
  const canvas = $("image");
  const ctx = canvas.getContext("2d");

  const S = {
    doc: 0, chip: 0, info: null, T: 256,
    cx: 0, cy: 0, scale: 1, level: 0,
    tool: "pan", shapes: [], selected: -1,
    poly: null, drag: null, stroke: null,
    maskVersion: 0, flags: 0, busy: 0, pendingTiles: 0,
    firstDraw: null, started: performance.now(), lastPixel: null, pixelBusy: false,
    sent: [],  // every action sent, in order (tests compare the server's result with the cores)
  };
  const cache = new Map();      // url -> {img, ok, failed}
  const lastMask = new Map();   // tile key -> last loaded mask image (no flicker on change)

  // ---------------------------------------------------------------- requests
  async function request(method, path, body) {
    S.busy++;
    try {
      const init = { method, headers: {} };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers["Content-Type"] = "application/json";
      }
      const r = await fetch(base + "api/" + path, init);
      const data = await r.json().catch(() => ({ error: r.statusText }));
      if (!r.ok) { const e = new Error(data.error || r.statusText); e.status = r.status; e.data = data; throw e; }
      return data;
    } finally { S.busy--; }
  }
  const q = (o) => Object.entries(o).map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&");

  function status(text, isError) {
    const el = $("status");
    el.textContent = text || "";
    el.className = isError ? "error" : "";
  }

  // ---------------------------------------------------------------- view
  function size() { return [canvas.width, canvas.height]; }
  function imageToScreen(x, y) {
    const [w, h] = size();
    return [(x - S.cx) * S.scale + w / 2, h / 2 - (y - S.cy) * S.scale];
  }
  function screenToImage(sx, sy) {
    const [w, h] = size();
    return [S.cx + (sx - w / 2) / S.scale, S.cy - (sy - h / 2) / S.scale];
  }
  function fit() {
    if (!S.info) return;
    const [ny, nx] = S.info.shape;
    const [w, h] = size();
    S.scale = Math.min(w / nx, h / ny) * 0.98;
    S.cx = (nx - 1) / 2; S.cy = (ny - 1) / 2;
    changed();
  }
  function zoomAt(sx, sy, factor) {
    const [x, y] = screenToImage(sx, sy);
    S.scale = Math.min(64, Math.max(1 / 65536, S.scale * factor));
    const [w, h] = size();
    S.cx = x - (sx - w / 2) / S.scale; S.cy = y + (sy - h / 2) / S.scale;
    changed();
  }
  function resize() {
    const r = canvas.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round(r.width));
    canvas.height = Math.max(1, Math.round(r.height));
    draw();
  }

  // ---------------------------------------------------------------- tiles
  function tileParams(layer, z, tx, ty) {
    const p = { doc: S.doc, chip: S.chip, layer, z, tx, ty };
    if (layer === "image") Object.assign(p, { stretch: $("stretch").value, limits: $("limits").value, percent: $("percent").value });
    if (layer === "dq") p.flags = S.flags;
    if (layer === "mask") p.v = S.maskVersion;
    return base + "api/tile?" + q(p);
  }
  function getImage(url) {
    let e = cache.get(url);
    if (!e) {
      e = { img: new Image(), ok: false, failed: false };
      e.img.onload = () => { e.ok = true; draw(); };
      e.img.onerror = () => { e.failed = true; draw(); };
      e.img.src = url;
      cache.set(url, e);
      if (cache.size > 600) cache.delete(cache.keys().next().value);
    }
    return e;
  }
  function placeTile(img, tx, ty, f) {
    const span = S.T * f;
    const [left, top] = imageToScreen(tx * span - 0.5, ty * span + img.height * f - 0.5);
    ctx.drawImage(img, left, top, img.width * f * S.scale, img.height * f * S.scale);
  }
  function visibleTiles(f) {
    const [ny, nx] = S.info.shape;
    const [w, h] = size();
    const [xa, ya] = screenToImage(0, h), [xb, yb] = screenToImage(w, 0);
    const span = S.T * f, out = [];
    const tx0 = Math.max(0, Math.floor((xa + 0.5) / span)), tx1 = Math.min(Math.ceil(nx / span) - 1, Math.floor((xb + 0.5) / span));
    const ty0 = Math.max(0, Math.floor((ya + 0.5) / span)), ty1 = Math.min(Math.ceil(ny / span) - 1, Math.floor((yb + 0.5) / span));
    for (let ty = ty0; ty <= ty1; ty++) for (let tx = tx0; tx <= tx1; tx++) out.push([tx, ty]);
    return out;
  }

  // ---------------------------------------------------------------- drawing
  let drawQueued = false;
  function draw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; drawNow(); });
  }
  function drawNow() {
    const [w, h] = size();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h);
    if (!S.info) return;
    ctx.imageSmoothingEnabled = false;
    S.level = Math.max(0, Math.min(16, Math.floor(Math.log2(1 / S.scale) + 1e-9)));
    const f = 1 << S.level;
    const tiles = visibleTiles(f);
    let pending = 0, drawn = 0;
    for (const [tx, ty] of tiles) {
      const e = getImage(tileParams("image", S.level, tx, ty));
      if (e.ok) { placeTile(e.img, tx, ty, f); drawn++; } else if (!e.failed) pending++;
    }
    if (S.flags && S.info.has_dq) {
      ctx.globalAlpha = +$("dq-opacity").value;
      for (const [tx, ty] of tiles) {
        const e = getImage(tileParams("dq", S.level, tx, ty));
        if (e.ok) placeTile(e.img, tx, ty, f); else if (!e.failed) pending++;
      }
      ctx.globalAlpha = 1;
    }
    if (S.info.masked > 0 || S.maskShown) {
      ctx.globalAlpha = +$("mask-opacity").value;
      for (const [tx, ty] of tiles) {
        const key = [S.doc, S.chip, S.level, tx, ty].join("/");
        const e = getImage(tileParams("mask", S.level, tx, ty));
        if (e.ok) { lastMask.set(key, e.img); placeTile(e.img, tx, ty, f); }
        else { if (!e.failed) pending++; const old = lastMask.get(key); if (old) placeTile(old, tx, ty, f); }
      }
      ctx.globalAlpha = 1;
      S.maskShown = S.info.masked > 0;
    }
    S.pendingTiles = pending;
    if (drawn && S.firstDraw === null) {
      S.firstDraw = performance.now() - S.started;
      document.body.dataset.firstDraw = String(S.firstDraw);
    }
    document.body.dataset.drawn = pending === 0 && drawn === tiles.length ? "1" : "0";
    drawShapes();
  }

  function pathShape(s) {
    ctx.beginPath();
    if (s.shape === "polygon") {
      s.points.forEach(([x, y], i) => { const [a, b] = imageToScreen(x, y); i ? ctx.lineTo(a, b) : ctx.moveTo(a, b); });
      ctx.closePath();
    } else if (s.shape === "circle") {
      const [a, b] = imageToScreen(s.x, s.y);
      ctx.arc(a, b, s.r * S.scale, 0, 2 * Math.PI);
    } else {
      const [a, b] = imageToScreen(s.x, s.y);
      const rot = -s.angle * Math.PI / 180, hw = s.width * S.scale / 2, hh = s.height * S.scale / 2;
      if (s.shape === "ellipse") ctx.ellipse(a, b, hw, hh, rot, 0, 2 * Math.PI);
      else {
        const c = Math.cos(rot), n = Math.sin(rot);
        [[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]].forEach(([u, v], i) => {
          const px = a + u * c - v * n, py = b + u * n + v * c;
          i ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
        });
        ctx.closePath();
      }
    }
  }
  function handles(s) {
    if (s.shape === "polygon") return s.points.map((p, i) => ({ i, x: p[0], y: p[1] }));
    if (s.shape === "circle") return [{ i: "r", x: s.x + s.r, y: s.y }];
    const a = s.angle * Math.PI / 180;
    return [{ i: "wh", x: s.x + (s.width / 2) * Math.cos(a) - (s.height / 2) * Math.sin(a),
              y: s.y + (s.width / 2) * Math.sin(a) + (s.height / 2) * Math.cos(a) }];
  }
  function drawShapes() {
    ctx.lineWidth = 1.5;
    S.shapes.forEach((s, k) => {
      ctx.setLineDash(s.include ? [] : [6, 4]);
      ctx.strokeStyle = s.include ? "#3f3" : "#f44";
      pathShape(s); ctx.stroke();
      if (k === S.selected) {
        ctx.setLineDash([]); ctx.fillStyle = "#ff0";
        for (const hd of handles(s)) { const [a, b] = imageToScreen(hd.x, hd.y); ctx.fillRect(a - 4, b - 4, 8, 8); }
      }
    });
    ctx.setLineDash([]);
    if (S.poly && S.poly.length) {
      ctx.strokeStyle = "#ff0"; ctx.beginPath();
      S.poly.forEach(([x, y], i) => { const [a, b] = imageToScreen(x, y); i ? ctx.lineTo(a, b) : ctx.moveTo(a, b); });
      if (S.hover) { const [a, b] = imageToScreen(...S.hover); ctx.lineTo(a, b); }
      ctx.stroke();
    }
    if (S.drag && S.drag.preview) { ctx.strokeStyle = "#ff0"; pathShape(S.drag.preview); ctx.stroke(); }
    if (S.stroke) {
      ctx.strokeStyle = S.stroke.erase ? "rgba(0,200,255,.8)" : "rgba(255,80,80,.8)";
      ctx.lineWidth = Math.max(1, S.stroke.size * S.scale); ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath();
      S.stroke.points.forEach(([x, y], i) => { const [a, b] = imageToScreen(x, y); i ? ctx.lineTo(a, b) : ctx.moveTo(a, b); });
      if (S.stroke.points.length === 1) { const [a, b] = imageToScreen(...S.stroke.points[0]); ctx.lineTo(a + 0.01, b); }
      ctx.stroke(); ctx.lineWidth = 1.5;
    }
  }

  // ---------------------------------------------------------------- state
  function applyState(st) {
    const first = !S.info || S.info.name !== st.name || S.info.chip !== st.chip;
    S.info = st;
    S.shapes = st.shapes || [];
    if (S.selected >= S.shapes.length) S.selected = -1;
    S.maskVersion = st.version;
    S.T = st.tile || S.T;
    $("file-name").textContent = `${st.name} [SCI,${st.extver}] ${st.shape[1]}x${st.shape[0]} ${st.telescope} ${st.product}`;
    $("masked").textContent = `${st.masked} masked`;
    $("undo").disabled = !st.can_undo; $("redo").disabled = !st.can_redo;
    $("file-prev").disabled = st.doc <= 0; $("file-next").disabled = st.doc >= st.files.length - 1;
    const chip = $("chip");
    if (chip.options.length !== st.chips) {
      chip.innerHTML = "";
      for (let k = 0; k < st.chips; k++) chip.add(new Option(String(k + 1), String(k)));
    }
    chip.value = String(st.chip);
    if (first) buildStatic(st);
    const offer = st.offer;
    $("offer").hidden = !offer;
    if (offer) {
      $("offer-text").textContent = offer.error ? `${offer.path}: ${offer.error}` :
        `A session autosaved at ${offer.time} (${offer.masked} masked pixels, ${offer.shapes} shapes) was found in ${offer.path}.`;
      $("offer-restore").disabled = !!offer.error;
    }
    if (st.messages && st.messages.length) status(st.messages.join("; "));
    if (st.message) status(st.message);
    if (st.mask_note && first) status(st.mask_note);
    if (first) fit(); else draw();
  }
  function fill(select, values, current) {
    if (select.options.length) return;
    for (const v of values) select.add(new Option(v, v));
    if (current !== undefined) select.value = current;
  }
  function buildStatic(st) {
    fill($("limits"), st.limits, "zscale");
    fill($("stretch"), st.stretches, "linear");
    const conv = $("convention");
    if (!conv.options.length) {
      const labels = { bad: "bad (1 = bad)", good: "good (drizzlepac static, 1 = good)",
        background: "background (NSClean, 1 = background)", user_mask: "user_mask (jwst clean_flicker_noise)",
        dq: "dq (jwst dq_init user_supplied_dq)" };
      for (const c of st.conventions) conv.add(new Option(labels[c] || c, c));
      conv.value = "bad";
    }
    const d = st.detect_defaults;
    if ($("detect-sigma").value === "") {
      $("detect-sigma").value = d.sigma; $("detect-smooth").value = d.smooth;
      $("detect-minarea").value = d.minpixarea; $("detect-box").value = d.box_size || "";
      $("detect-nobkg").checked = d.ignore_background;
    }
    const legend = $("flag-legend");
    legend.innerHTML = "";
    S.flags = 0;
    if (!st.has_dq) legend.textContent = "no DQ in this file";
    // start with DO_NOT_USE ticked when present (every present flag otherwise)
    const dnu = st.flags.some((fl) => fl.name === "DO_NOT_USE" && fl.count);
    for (const fl of st.flags) {
      const lab = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.dataset.testid = "flag-" + fl.name; box.value = fl.value;
      box.checked = dnu ? fl.name === "DO_NOT_USE" : !!fl.count;
      if (box.checked) S.flags |= fl.value;
      box.addEventListener("change", () => { S.flags = box.checked ? (S.flags | fl.value) >>> 0 : (S.flags & ~fl.value) >>> 0; draw(); });
      const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = fl.color;
      const txt = document.createElement("span");
      txt.textContent = `${fl.name} (${fl.value})` + (fl.count === null || fl.count === undefined ? "" : ` ${fl.count}`);
      lab.append(box, sw, txt); legend.append(lab);
    }
    S.flags >>>= 0;
  }
  async function loadState() {
    try { applyState(await request("GET", "state?" + q({ doc: S.doc, chip: S.chip }))); }
    catch (e) { status(e.message, true); }
  }
  async function act(op, extra) {
    S.sent.push(Object.assign({ op }, extra || {}));
    try {
      const st = await request("POST", "action", Object.assign({ doc: S.doc, chip: S.chip, op }, extra || {}));
      applyState(st);
      return st;
    } catch (e) { status(e.message, true); loadState(); return null; }
  }
  function sendShapes() { return act("shapes", { shapes: S.shapes }); }

  async function save(what, overwrite) {
    const body = { doc: S.doc, chip: S.chip, what, convention: $("convention").value,
      flags: $("flags").value.trim(), overwrite: !!overwrite };
    try {
      const st = await request("POST", "save", body);
      applyState(st);
      const li = document.createElement("li"); li.textContent = st.saved; $("saved").append(li);
    } catch (e) {
      if (e.status === 409 && confirm(`${e.data.exists} exists. Replace it?`)) return save(what, true);
      status(e.message, true);
    }
  }

  // ---------------------------------------------------------------- tools
  function setTool(t) {
    if (S.poly && t !== "polygon") S.poly = null;
    S.tool = t;
    document.querySelectorAll(".tools button").forEach((b) => b.classList.toggle("active", b.dataset.tool === t));
    draw();
  }
  function closePolygon() {
    if (!S.poly) return;
    const pts = [];
    for (const p of S.poly) {  // drop repeated vertices (a double-click adds two)
      const last = pts[pts.length - 1];
      if (!last || Math.hypot(last[0] - p[0], last[1] - p[1]) * S.scale > 2) pts.push(p);
    }
    S.poly = null; S.hover = null;
    if (pts.length >= 3) {
      S.shapes.push({ shape: "polygon", include: !$("exclude").checked, points: pts });
      S.selected = S.shapes.length - 1;
      sendShapes();
    } else draw();
  }
  function eventPoint(ev) {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }
  function insideShape(s, x, y) {
    if (s.shape === "polygon") {
      let inside = false;
      const p = s.points;
      for (let i = 0, j = p.length - 1; i < p.length; j = i++) {
        if ((p[i][1] > y) !== (p[j][1] > y) && x < (p[j][0] - p[i][0]) * (y - p[i][1]) / (p[j][1] - p[i][1]) + p[i][0]) inside = !inside;
      }
      return inside;
    }
    if (s.shape === "circle") return Math.hypot(x - s.x, y - s.y) <= s.r;
    const a = -s.angle * Math.PI / 180, dx = x - s.x, dy = y - s.y;
    const u = dx * Math.cos(a) - dy * Math.sin(a), v = dx * Math.sin(a) + dy * Math.cos(a);
    if (s.shape === "box") return Math.abs(u) <= s.width / 2 && Math.abs(v) <= s.height / 2;
    return (u / (s.width / 2)) ** 2 + (v / (s.height / 2)) ** 2 <= 1;
  }
  function hitHandle(sx, sy) {
    if (S.selected < 0) return null;
    for (const hd of handles(S.shapes[S.selected])) {
      const [a, b] = imageToScreen(hd.x, hd.y);
      if (Math.abs(a - sx) <= 6 && Math.abs(b - sy) <= 6) return hd.i;
    }
    return null;
  }
  function dragShape(kind, a, b) {
    const x0 = Math.min(a[0], b[0]), x1 = Math.max(a[0], b[0]), y0 = Math.min(a[1], b[1]), y1 = Math.max(a[1], b[1]);
    const include = !$("exclude").checked;
    if (kind === "circle") return { shape: "circle", include, x: a[0], y: a[1], r: Math.hypot(b[0] - a[0], b[1] - a[1]) };
    return { shape: kind, include, x: (x0 + x1) / 2, y: (y0 + y1) / 2, width: x1 - x0, height: y1 - y0, angle: 0 };
  }
  function moveShape(s, dx, dy) {
    if (s.shape === "polygon") s.points = s.points.map(([x, y]) => [x + dx, y + dy]);
    else { s.x += dx; s.y += dy; }
  }
  function editHandle(s, which, x, y) {
    if (s.shape === "polygon") s.points[which] = [x, y];
    else if (s.shape === "circle") s.r = Math.max(0.01, Math.hypot(x - s.x, y - s.y));
    else {
      const a = -s.angle * Math.PI / 180, dx = x - s.x, dy = y - s.y;
      s.width = Math.max(0.01, 2 * Math.abs(dx * Math.cos(a) - dy * Math.sin(a)));
      s.height = Math.max(0.01, 2 * Math.abs(dx * Math.sin(a) + dy * Math.cos(a)));
    }
  }

  canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [sx, sy] = eventPoint(ev);
    zoomAt(sx, sy, ev.deltaY < 0 ? 1.25 : 0.8);
  }, { passive: false });
  canvas.addEventListener("mousedown", (ev) => {
    if (!S.info) return;
    const [sx, sy] = eventPoint(ev);
    const p = screenToImage(sx, sy);
    if (ev.button !== 0 || S.tool === "pan") {
      if (ev.button === 0) {
        const hd = hitHandle(sx, sy);
        if (hd !== null) { S.drag = { kind: "handle", which: hd, moved: false }; return; }
        for (let k = S.shapes.length - 1; k >= 0; k--) {
          if (insideShape(S.shapes[k], p[0], p[1])) { S.selected = k; S.drag = { kind: "move", last: p, moved: false }; draw(); return; }
        }
        S.selected = -1;
      }
      S.drag = { kind: "pan", sx, sy, cx: S.cx, cy: S.cy };
      draw();
      return;
    }
    if (S.tool === "box" || S.tool === "circle" || S.tool === "ellipse") S.drag = { kind: "shape", start: p, preview: null };
    else if (S.tool === "brush" || S.tool === "eraser") {
      S.stroke = { points: [p], size: Math.max(1, +$("brush-size").value || 1), erase: S.tool === "eraser" };
      draw();
    }
  });
  window.addEventListener("mousemove", (ev) => {
    if (!S.info) return;
    const [sx, sy] = eventPoint(ev);
    const p = screenToImage(sx, sy);
    if (ev.target === canvas) readout(p);
    if (S.drag) {
      const d = S.drag;
      if (d.kind === "pan") { S.cx = d.cx - (sx - d.sx) / S.scale; S.cy = d.cy + (sy - d.sy) / S.scale; draw(); }
      else if (d.kind === "move") { moveShape(S.shapes[S.selected], p[0] - d.last[0], p[1] - d.last[1]); d.last = p; d.moved = true; draw(); }
      else if (d.kind === "handle") { editHandle(S.shapes[S.selected], d.which, p[0], p[1]); d.moved = true; draw(); }
      else if (d.kind === "shape") { d.preview = dragShape(S.tool, d.start, p); draw(); }
    } else if (S.stroke) { S.stroke.points.push(p); draw(); }
    else if (S.poly) { S.hover = p; draw(); }
  });
  window.addEventListener("mouseup", (ev) => {
    if (!S.info) return;
    const [sx, sy] = eventPoint(ev);
    const p = screenToImage(sx, sy);
    const d = S.drag;
    S.drag = null;
    if (d && (d.kind === "move" || d.kind === "handle") && d.moved) { sendShapes(); return; }
    if (d && d.kind === "shape") {
      const s = dragShape(S.tool, d.start, p);
      if ((s.r || Math.min(s.width, s.height)) * S.scale >= 2) { S.shapes.push(s); S.selected = S.shapes.length - 1; sendShapes(); }
      else draw();
      return;
    }
    if (S.stroke) {
      const st = S.stroke;
      S.stroke = null;
      act("paint", { points: st.points, size: st.size, erase: st.erase });
    }
  });
  canvas.addEventListener("click", (ev) => {
    if (S.tool !== "polygon" || ev.button !== 0 || !S.info) return;
    const [sx, sy] = eventPoint(ev);
    const p = screenToImage(sx, sy);
    if (!S.poly) S.poly = [];
    if (S.poly.length >= 3) {
      const [a, b] = imageToScreen(...S.poly[0]);
      if (Math.hypot(a - sx, b - sy) <= 8) { closePolygon(); return; }
    }
    S.poly.push(p);
    draw();
  });
  canvas.addEventListener("dblclick", (ev) => { if (S.tool === "polygon") { ev.preventDefault(); closePolygon(); } });
  window.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
    if (ev.key === "Enter" && S.poly) closePolygon();
    else if (ev.key === "Escape") { S.poly = null; S.stroke = null; S.drag = null; draw(); }
    else if ((ev.key === "Delete" || ev.key === "Backspace") && S.selected >= 0) deleteSelected();
    else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") act(ev.shiftKey ? "redo" : "undo");
    else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "y") act("redo");
    else return;
    ev.preventDefault();
  });
  function deleteSelected() {
    if (S.selected < 0) return;
    S.shapes.splice(S.selected, 1);
    S.selected = -1;
    sendShapes();
  }

  // ---------------------------------------------------------------- cursor readout
  function sexagesimal(deg, hours) {
    let v = hours ? deg / 15 : Math.abs(deg);
    const sign = !hours && deg < 0 ? "-" : hours ? "" : "+";
    const a = Math.floor(v); v = (v - a) * 60; const b = Math.floor(v); const c = (v - b) * 60;
    const p2 = (n) => String(n).padStart(2, "0");
    return `${sign}${p2(a)}:${p2(b)}:${c.toFixed(hours ? 3 : 2).padStart(hours ? 6 : 5, "0")}`;
  }
  async function readout(p) {
    const x = Math.round(p[0]), y = Math.round(p[1]);
    const key = `${S.doc}/${S.chip}/${x}/${y}`;
    if (key === S.lastPixel) return;
    S.lastPixel = key;
    if (S.pixelBusy) return;
    S.pixelBusy = true;
    try {
      while (true) {
        const want = S.lastPixel;
        const [, , wx, wy] = want.split("/");
        const r = await request("GET", "pixel?" + q({ doc: S.doc, chip: S.chip, x: wx, y: wy }));
        if (want === S.lastPixel) { showPixel(r); break; }
      }
    } catch (e) { status(e.message, true); }
    finally { S.pixelBusy = false; }
  }
  function showPixel(r) {
    if (!r.inside) { $("cursor").textContent = "\u00a0"; return; }
    let t = `x ${r.x1} y ${r.y1} (0-based ${r.x}, ${r.y})  SCI ${r.sci === null ? r.sci_text : Number(r.sci).toPrecision(6)}`;
    if (r.dq !== undefined) t += `  DQ ${r.dq}${r.flags.length ? " " + r.flags.join("+") : ""}`;
    if (r.ra !== undefined) t += `  RA ${r.ra.toFixed(6)} Dec ${r.dec.toFixed(6)} (${sexagesimal(r.ra, true)} ${sexagesimal(r.dec, false)})`;
    if (r.masked) t += "  [masked]";
    $("cursor").textContent = t;
  }

  // ---------------------------------------------------------------- controls
  function changed() { draw(); }
  document.querySelectorAll(".tools button").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  ["limits", "stretch", "percent"].forEach((id) => $(id).addEventListener("change", draw));
  ["mask-opacity", "dq-opacity"].forEach((id) => $(id).addEventListener("input", draw));
  $("zoom-fit").addEventListener("click", fit);
  $("zoom-1").addEventListener("click", () => { S.scale = 1; draw(); });
  $("undo").addEventListener("click", () => act("undo"));
  $("redo").addEventListener("click", () => act("redo"));
  $("grow").addEventListener("click", () => act("grow", { pixels: parseInt($("grow-pixels").value, 10) || 0 }));
  $("invert").addEventListener("click", () => act("invert"));
  $("clear").addEventListener("click", () => act("clear"));
  $("fill").addEventListener("click", () => act("fill"));
  $("delete-shape").addEventListener("click", deleteSelected);
  function detectParams() {
    return { sigma: +$("detect-sigma").value, smooth: +$("detect-smooth").value,
      minpixarea: parseInt($("detect-minarea").value, 10) || 0, box_size: parseInt($("detect-box").value, 10) || null,
      ignore_background: $("detect-nobkg").checked };
  }
  async function runDetect() { status("detecting..."); await act("detect", { params: detectParams() }); }
  $("detect").addEventListener("click", runDetect);
  let live = null;
  ["detect-sigma", "detect-smooth", "detect-minarea", "detect-box", "detect-nobkg"].forEach((id) =>
    ["input", "change"].forEach((kind) => $(id).addEventListener(kind, () => {
      if (!$("detect-live").checked) return;
      clearTimeout(live); live = setTimeout(runDetect, 400);  // re-run once typing pauses
    })));
  $("background").addEventListener("click", async () => { status("automatic background..."); await act("background", { params: {} }); });
  $("save-mask").addEventListener("click", () => save("mask"));
  $("save-regions").addEventListener("click", () => save("regions"));
  $("apply").addEventListener("click", () => {
    if (confirm("OR the DQ flags into " + S.info.name + " where masked (a backup _orig.fits is kept)?")) save("apply");
  });
  $("load-regions").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    const text = await file.text();
    ev.target.value = "";
    act("load_regions", { text });
  });
  $("offer-restore").addEventListener("click", () => act("restore"));
  $("offer-discard").addEventListener("click", () => act("discard"));
  $("chip").addEventListener("change", () => { S.chip = +$("chip").value; S.selected = -1; loadState(); });
  async function switchFile(delta) {
    const carry = $("carry").checked ? S.shapes.map((s) => JSON.parse(JSON.stringify(s))) : null;
    S.doc += delta; S.chip = 0; S.selected = -1; S.info = null;
    $("chip").innerHTML = "";
    await loadState();
    if (carry && carry.length) { S.shapes = S.shapes.concat(carry); await sendShapes(); }
  }
  $("file-prev").addEventListener("click", () => switchFile(-1));
  $("file-next").addEventListener("click", () => switchFile(1));
  // the canvas follows its box (window resized, the autosave banner shown or hidden)
  new ResizeObserver(resize).observe($("stage"));

  // The surface the browser tests and the benchmark use (documented in docs/editor.md).
  window.dqmaskEditor = {
    state: S, imageToScreen, screenToImage, fit,
    setView(cx, cy, scale) { S.cx = cx; S.cy = cy; S.scale = scale; drawNow(); },
    idle() { return S.busy === 0 && S.pendingTiles === 0 && !drawQueued; },
  };
  setTool("pan");
  resize();
  loadState();
})();
