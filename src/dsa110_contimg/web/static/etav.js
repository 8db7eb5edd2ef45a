/* The eta-V plot: a plain 2-D canvas (100,000 points draw in a few tens of ms), log-log axes,
   thresholds at the chosen sigma, hover shows the source, click opens its page.
   Data: GET /api/variability/eta-v?series=...&sigma=... (columns). */
"use strict";
window.contimgEtaV = (function () {
  const PAD = { left: 70, right: 20, top: 16, bottom: 50 };
  const COLORS = { base: "rgba(90,90,90,0.45)", above: "#e08214", ref: "#2166ac", ese: "#d73027" };
  let state = null;

  function log10(x) { return Math.log(x) / Math.LN10; }

  // eta and v arrive as base64 little-endian float32 (see GET /api/variability/eta-v)
  function f32(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  const SUP = { "-": "\u207b", 0: "\u2070", 1: "\u00b9", 2: "\u00b2", 3: "\u00b3", 4: "\u2074",
    5: "\u2075", 6: "\u2076", 7: "\u2077", 8: "\u2078", 9: "\u2079" };
  function decade(d) { return "10" + String(d).split("").map(c => SUP[c]).join(""); }

  function niceRange(vals) {
    let lo = Infinity, hi = -Infinity;
    for (const v of vals) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (!isFinite(lo)) { lo = -1; hi = 1; }
    if (hi - lo < 1) { const c = (hi + lo) / 2; lo = c - 0.5; hi = c + 0.5; }
    return [Math.floor(lo * 4) / 4 - 0.1, Math.ceil(hi * 4) / 4 + 0.1];
  }

  function setup(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 900, h = canvas.clientHeight || 560;
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx, w, h };
  }

  function draw() {
    const s = state, { ctx, w, h } = setup(s.canvas);
    const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
    const [x0, x1] = s.xr, [y0, y1] = s.yr;
    const sx = pw / (x1 - x0), sy = ph / (y1 - y0);
    s.toPx = (lx, ly) => [PAD.left + (lx - x0) * sx, PAD.top + ph - (ly - y0) * sy];
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    // axes: decades and their labels
    ctx.strokeStyle = "#ddd"; ctx.fillStyle = "#333"; ctx.font = "12px sans-serif";
    ctx.lineWidth = 1;
    ctx.textAlign = "center";
    for (let d = Math.ceil(x0); d <= x1; d++) {
      const [px] = s.toPx(d, y0);
      ctx.beginPath(); ctx.moveTo(px, PAD.top); ctx.lineTo(px, PAD.top + ph); ctx.stroke();
      ctx.fillText(decade(d), px, PAD.top + ph + 16);
    }
    ctx.textAlign = "right";
    for (let d = Math.ceil(y0); d <= y1; d++) {
      const [, py] = s.toPx(x0, d);
      ctx.beginPath(); ctx.moveTo(PAD.left, py); ctx.lineTo(PAD.left + pw, py); ctx.stroke();
      ctx.fillText(decade(d), PAD.left - 6, py + 4);
    }
    ctx.textAlign = "center";
    ctx.fillText("η (weighted reduced χ²)", PAD.left + pw / 2, h - 10);
    ctx.save(); ctx.translate(16, PAD.top + ph / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText("V (fractional variability)", 0, 0); ctx.restore();
    ctx.strokeStyle = "#333"; ctx.strokeRect(PAD.left, PAD.top, pw, ph);
    // points: background first, then above-threshold, references and ESE candidates on top
    const n = s.lx.length, px = s.px = new Float32Array(n), py = s.py = new Float32Array(n);
    const cls = s.cls;
    for (let i = 0; i < n; i++) {
      const p = s.toPx(s.lx[i], s.ly[i]); px[i] = p[0]; py[i] = p[1];
    }
    for (const c of [0, 1, 2, 3]) {
      ctx.fillStyle = [COLORS.base, COLORS.above, COLORS.ref, COLORS.ese][c];
      const r = c === 0 ? 1.5 : 2.5;
      for (let i = 0; i < n; i++) if (cls[i] === c) ctx.fillRect(px[i] - r, py[i] - r, 2 * r, 2 * r);
    }
    // thresholds
    const th = s.data.thresholds;
    ctx.save();
    ctx.beginPath(); ctx.rect(PAD.left, PAD.top, pw, ph); ctx.clip();
    ctx.setLineDash([6, 4]); ctx.strokeStyle = "#b2182b"; ctx.lineWidth = 1.5;
    if (th.eta) { const [tx] = s.toPx(log10(th.eta), y0); ctx.beginPath(); ctx.moveTo(tx, PAD.top); ctx.lineTo(tx, PAD.top + ph); ctx.stroke(); }
    if (th.v) { const [, ty] = s.toPx(x0, log10(th.v)); ctx.beginPath(); ctx.moveTo(PAD.left, ty); ctx.lineTo(PAD.left + pw, ty); ctx.stroke(); }
    ctx.setLineDash([]);
    ctx.restore();
    // a pixel grid of point indices for hover and click (nearest within 6 px)
    const G = 8, gw = Math.ceil(w / G), gh = Math.ceil(h / G), grid = new Map();
    for (let i = 0; i < n; i++) {
      const k = Math.floor(py[i] / G) * gw + Math.floor(px[i] / G);
      const a = grid.get(k); if (a) a.push(i); else grid.set(k, [i]);
    }
    s.grid = { G, gw, gh, cells: grid };
    s.canvas.dataset.drawn = String(n);
  }

  function nearest(x, y) {
    const s = state; if (!s || !s.grid) return -1;
    const { G, gw, cells } = s.grid, cx = Math.floor(x / G), cy = Math.floor(y / G);
    let best = -1, bd = 36;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const a = cells.get((cy + dy) * gw + (cx + dx)); if (!a) continue;
      for (const i of a) {
        const d = (s.px[i] - x) ** 2 + (s.py[i] - y) ** 2;
        if (d < bd || (d === bd && s.cls[i] > s.cls[best])) { bd = d; best = i; }
      }
    }
    return best;
  }

  function sourceUrl(i) {
    const d = state.data;
    return "/sources/" + encodeURIComponent(d.catalogs[d.catalog_index[i]]) + "/" + encodeURIComponent(d.source_id[i]);
  }

  function describe(i) {
    const d = state.data;
    let t = d.catalogs[d.catalog_index[i]] + " " + d.source_id[i] + " · η " + d.eta[i].toPrecision(3) +
      " · V " + d.v[i].toPrecision(3) + " · " + d.n_points[i] + " points";
    if (d.ese_status[i]) t += " · ESE " + d.ese_status[i];
    if (d.is_reference[i]) t += " · reference";
    return t;
  }

  async function load(canvasId, series, sigma) {
    const canvas = document.getElementById(canvasId);
    const status = document.getElementById("etav-status");
    const tip = document.getElementById("etav-tip");
    canvas.dataset.drawn = "";
    let data;
    try {
      const r = await fetch("/api/variability/eta-v?series=" + encodeURIComponent(series) + "&sigma=" + encodeURIComponent(sigma));
      data = await r.json();
      if (!r.ok) throw new Error(data.error ? data.error.message : r.statusText);
    } catch (err) {
      status.textContent = "eta-V data unavailable: " + err.message;
      canvas.dataset.drawn = "0";
      return;
    }
    data.eta = f32(data.eta); data.v = f32(data.v);
    const n = data.count, lx = new Float64Array(n), ly = new Float64Array(n), cls = new Uint8Array(n);
    const th = data.thresholds, te = th.eta ? log10(th.eta) : Infinity, tv = th.v ? log10(th.v) : Infinity;
    for (let i = 0; i < n; i++) {
      lx[i] = log10(data.eta[i]); ly[i] = log10(data.v[i]);
      cls[i] = data.ese_status[i] ? 3 : data.is_reference[i] ? 2 : (lx[i] > te && ly[i] > tv) ? 1 : 0;
    }
    // axis ranges include the threshold lines, so that they are always visible
    const xs = isFinite(te) ? Array.from(lx).concat([te]) : lx, ys = isFinite(tv) ? Array.from(ly).concat([tv]) : ly;
    state = { canvas, data, lx, ly, cls, xr: niceRange(xs), yr: niceRange(ys) };
    draw();
    status.textContent = n ? (n + " sources (" + series + " series) · thresholds at " + th.n_sigma +
      "σ: η > " + (th.eta ? th.eta.toPrecision(3) : "–") + ", V > " + (th.v ? th.v.toPrecision(3) : "–") +
      " · " + th.n_above + " above both") : "no source has eta and V in the " + series + " series yet";
    if (!canvas.dataset.wired) {
      canvas.dataset.wired = "1";
      canvas.addEventListener("mousemove", ev => {
        const b = canvas.getBoundingClientRect(), i = nearest(ev.clientX - b.left, ev.clientY - b.top);
        canvas.style.cursor = i >= 0 ? "pointer" : "default";
        tip.textContent = i >= 0 ? describe(i) : "hover a point to see the source; click to open it";
      });
      canvas.addEventListener("click", ev => {
        const b = canvas.getBoundingClientRect(), i = nearest(ev.clientX - b.left, ev.clientY - b.top);
        if (i >= 0) window.location.href = sourceUrl(i);
      });
      window.addEventListener("resize", () => { if (state) draw(); });
    }
  }

  // for tests and scripts: the page position of a source's point
  function pointOf(sourceId) {
    const i = state.data.source_id.indexOf(sourceId);
    if (i < 0) return null;
    const b = state.canvas.getBoundingClientRect();
    return { x: b.left + state.px[i], y: b.top + state.py[i] };
  }

  return { load, pointOf };
})();
