/* dsa110_contimg web UI: light-curve plot (uPlot, vendored), ESE actions, small helpers. */
"use strict";
window.contimg = (function () {
  const TOKEN_KEY = "contimg-api-token";

  function authHeaders() {
    const t = window.localStorage.getItem(TOKEN_KEY);
    return t ? { Authorization: "Bearer " + t } : {};
  }

  function saveToken(form) {
    const v = form.token.value.trim();
    if (v) window.localStorage.setItem(TOKEN_KEY, v); else window.localStorage.removeItem(TOKEN_KEY);
    form.token.value = "";
    return false;
  }

  // Error bars drawn under uPlot's points: errs[i] is the +/- array of series i (or null).
  function errorBars(errs) {
    return {
      hooks: {
        draw: [u => {
          const ctx = u.ctx, xs = u.data[0];
          ctx.save();
          ctx.beginPath();
          ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
          ctx.clip();
          for (let i = 1; i < u.series.length; i++) {
            const e = errs[i], ys = u.data[i], s = u.series[i];
            if (!e || !s.show) continue;
            ctx.strokeStyle = s._stroke || s.stroke || "#333";
            ctx.lineWidth = 1 * devicePixelRatio;
            ctx.beginPath();
            for (let j = 0; j < xs.length; j++) {
              if (ys[j] == null || e[j] == null) continue;
              const x = u.valToPos(xs[j], "x", true);
              const y0 = u.valToPos(ys[j] - e[j], "y", true);
              const y1 = u.valToPos(ys[j] + e[j], "y", true);
              const w = 3 * devicePixelRatio;
              ctx.moveTo(x, y0); ctx.lineTo(x, y1);
              ctx.moveTo(x - w, y0); ctx.lineTo(x + w, y0);
              ctx.moveTo(x - w, y1); ctx.lineTo(x + w, y1);
            }
            ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
  }

  const plots = {};

  function mJy(v) { return v == null ? null : v * 1000; }

  // Insert a null point wherever the spacing exceeds 3x the median spacing (and 1 day), so that
  // lines never join points across an observing gap.
  function breakGaps(x, ys) {
    if (x.length < 3) return [x, ys];
    const dx = [];
    for (let i = 1; i < x.length; i++) dx.push(x[i] - x[i - 1]);
    const med = dx.slice().sort((a, b) => a - b)[Math.floor(dx.length / 2)];
    const gap = Math.max(3 * med, 1.0);
    const ox = [x[0]], oys = ys.map(y => [y[0]]);
    for (let i = 1; i < x.length; i++) {
      if (x[i] - x[i - 1] > gap) { ox.push((x[i] + x[i - 1]) / 2); oys.forEach(o => o.push(null)); }
      ox.push(x[i]); oys.forEach((o, k) => o.push(ys[k][i]));
    }
    return [ox, oys];
  }

  // Shade an MJD window (the ESE dip) behind the series.
  function shadeWindow(win) {
    return {
      hooks: {
        drawClear: [u => {
          if (!win || win.start == null) return;
          const x0 = u.valToPos(win.start, "x", true), x1 = u.valToPos(win.end != null ? win.end : u.scales.x.max, "x", true);
          const ctx = u.ctx;
          ctx.save();
          ctx.fillStyle = "rgba(215,48,39,0.12)";
          const l = Math.max(u.bbox.left, Math.min(x0, x1)), r = Math.min(u.bbox.left + u.bbox.width, Math.max(x0, x1, x0 + 2));
          ctx.fillRect(l, u.bbox.top, Math.max(r - l, 2), u.bbox.height);
          ctx.restore();
        }],
      },
    };
  }

  async function plotLightcurve(elId, api, series, opts) {
    opts = opts || {};
    const el = document.getElementById(elId);
    const status = document.getElementById("lc-status");
    const csv = document.getElementById("lc-csv");
    if (csv) csv.href = api + "/lightcurve?series=" + series + "&format=csv";
    let data;
    try {
      const r = await fetch(api + "/lightcurve?series=" + encodeURIComponent(series) + "&format=json");
      data = await r.json();
      if (!r.ok) throw new Error(data.error ? data.error.message : r.statusText);
    } catch (err) {
      if (status) status.textContent = "light curve unavailable: " + err.message;
      el.dataset.points = "0";
      el.dataset.series = series;
      return;
    }
    const rows = data.rows.filter(r => r.mjd != null);
    if (!rows.length && opts.fallback && opts.fallback !== series) {
      // nothing in this series (e.g. a blended source has no epoch points): show what exists
      const sel = document.getElementById("series");
      if (sel) sel.value = opts.fallback;
      const next = Object.assign({}, opts, { fallback: null, from: series });
      return plotLightcurve(elId, api, opts.fallback, next);
    }
    const x0 = rows.map(r => r.mjd);
    const cols = [
      rows.map(r => mJy(r.flux_jy)), rows.map(r => mJy(r.flux_err_jy)),
      rows.map(r => mJy(r.normalized_flux_jy)), rows.map(r => mJy(r.normalized_flux_err_jy)),
    ];
    const [x, c] = breakGaps(x0, cols);
    const [raw, rawErr, nrm, nrmErr] = c;
    if (plots[elId]) { plots[elId].destroy(); delete plots[elId]; }
    el.innerHTML = "";
    const xscale = { time: false };
    // one point: a day either side (uPlot's auto range would span 0 to the MJD)
    if (x0.length === 1) xscale.range = () => [x0[0] - 1, x0[0] + 1];
    const uopts = {
      width: Math.max(320, el.clientWidth || 800),
      height: 360,
      scales: { x: xscale },
      series: [
        { label: "MJD", value: (u, v) => v == null ? "-" : v.toFixed(5) },
        { label: "raw (mJy)", stroke: "#999999", width: 1, spanGaps: false, points: { show: true, size: 5 } },
        { label: "normalized (mJy)", stroke: "#2166ac", width: 1.5, spanGaps: false, points: { show: true, size: 6 } },
      ],
      axes: [{ label: "MJD (UTC, mid-exposure)" }, { label: "flux density (mJy)", size: 70 }],
      cursor: { drag: { x: true, y: true, uni: 30 } },
      plugins: [errorBars([null, rawErr, nrmErr]), shadeWindow(opts.dip)],
    };
    plots[elId] = new uPlot(uopts, [x, raw, nrm], el);
    el.dataset.points = String(x0.length);
    el.dataset.series = series;
    if (status) {
      let t = x0.length + " points (" + series + " series)";
      if (opts.from) t += " · the " + opts.from + " series has no points, showing the " + series + " series";
      status.textContent = t;
    }
    window.__lcPlot = plots[elId];
  }

  // The source page's cutout strip: 20 epochs per request, images lazy-loaded.
  async function cutoutStrip(elId, api) {
    const el = document.getElementById(elId);
    const more = document.getElementById("cutouts-more");
    const status = document.getElementById("cutouts-status");
    let offset = 0;
    async function page() {
      more.hidden = true;
      let body;
      try {
        const r = await fetch(api + "/cutouts?offset=" + offset + "&limit=20");
        body = await r.json();
        if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
      } catch (err) {
        status.textContent = "cutouts unavailable: " + err.message;
        return;
      }
      for (const e of body.items) {
        const fig = document.createElement("figure");
        const img = document.createElement("img");
        img.loading = "lazy"; img.decoding = "async"; img.src = e.url;
        img.alt = "cutout of " + e.data_id;
        img.width = 150; img.height = 170;
        img.onerror = () => { img.alt = "no cutout (image file missing?)"; img.classList.add("missing"); };
        const cap = document.createElement("figcaption");
        const a = document.createElement("a"); a.href = e.page; a.textContent = e.data_id;
        cap.appendChild(a);
        cap.appendChild(document.createElement("br"));
        cap.appendChild(document.createTextNode("MJD " + (e.mjd != null ? e.mjd.toFixed(4) : "?") + (e.flags ? " · " + e.flags : "")));
        fig.appendChild(img); fig.appendChild(cap); el.appendChild(fig);
      }
      offset += body.items.length;
      el.dataset.loaded = String(offset);
      status.textContent = offset + " of " + body.total + " epochs";
      if (body.next_offset != null) more.hidden = false;
    }
    more.onclick = page;
    await page();
  }

  // Buttons that apply to each status: an active candidate can be confirmed or dismissed; a
  // confirmed or dismissed one can only be reopened.
  function showActions(row, status) {
    row.dataset.status = status;
    row.querySelector("button.confirm").hidden = status !== "active";
    row.querySelector("button.dismiss").hidden = status !== "active";
    row.querySelector("button.reopen").hidden = status === "active";
  }

  async function eseAction(button, id, newStatus) {
    const row = button.closest("tr");
    const msg = document.getElementById("ese-message");
    const actions = { dismissed: "dismiss", confirmed: "confirm", active: "reopen" };
    const box = row.querySelector(".note-box");
    const typed = box ? box.value.trim() : "";
    try {
      const action = actions[newStatus];
      const r = await fetch("/api/ese/candidates/" + id + "/" + action, {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, authHeaders()),
        body: JSON.stringify({ note: typed || null }),
      });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
      const cell = row.querySelector(".status-cell");
      cell.innerHTML = '<span class="status s-' + body.status + '">' + body.status + "</span>";
      const n = row.querySelector(".note");
      if (n && body.note != null) n.textContent = body.note;
      if (box) box.value = "";
      showActions(row, body.status);
      if (msg) msg.textContent = "candidate " + id + " " + body.status;
    } catch (err) {
      if (msg) msg.textContent = "candidate " + id + ": " + err.message;
    }
  }

  // Light-curve thumbnails (normalized flux of the candidate's series, the flagged window
  // shaded), drawn when they scroll into view.
  function drawThumb(canvas, rows) {
    const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
    const pts = rows.filter(r => r.mjd != null && r.normalized_flux_jy != null);
    ctx.clearRect(0, 0, w, h);
    if (!pts.length) { ctx.fillStyle = "#999"; ctx.fillText("no points", 4, h / 2); return; }
    const xs = pts.map(r => r.mjd), ys = pts.map(r => r.normalized_flux_jy * 1000);
    const x0 = Math.min(...xs), x1 = Math.max(...xs) + 1e-9, y0 = Math.min(...ys), y1 = Math.max(...ys) + 1e-9;
    const X = v => 3 + (v - x0) / (x1 - x0) * (w - 6), Y = v => h - 3 - (v - y0) / (y1 - y0) * (h - 6);
    const ds = parseFloat(canvas.dataset.dipStart), de = parseFloat(canvas.dataset.dipEnd);
    if (!isNaN(ds)) {
      ctx.fillStyle = "rgba(215,48,39,0.15)";
      const a = X(ds), b = isNaN(de) ? w : X(de);
      ctx.fillRect(a - 2, 0, Math.max(b - a + 4, 4), h);
    }
    ctx.strokeStyle = "#2166ac"; ctx.fillStyle = "#2166ac"; ctx.lineWidth = 1;
    ctx.beginPath();
    pts.forEach((r, i) => { const x = X(xs[i]), y = Y(ys[i]); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
    pts.forEach((r, i) => ctx.fillRect(X(xs[i]) - 1.5, Y(ys[i]) - 1.5, 3, 3));
    canvas.dataset.points = String(pts.length);
  }

  function thumbnails(selector) {
    const load = async c => {
      try {
        const r = await fetch(c.dataset.api + "/lightcurve?series=" + c.dataset.series + "&format=json");
        const body = await r.json();
        if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
        drawThumb(c, body.rows);
      } catch (err) { c.title = "light curve unavailable: " + err.message; c.dataset.points = "0"; }
    };
    const items = document.querySelectorAll(selector);
    if (!("IntersectionObserver" in window)) { items.forEach(load); return; }
    const io = new IntersectionObserver(es => es.forEach(e => {
      if (e.isIntersecting) { io.unobserve(e.target); load(e.target); }
    }));
    items.forEach(c => io.observe(c));
  }

  function filterTable(id, text) {
    const t = text.toLowerCase();
    document.querySelectorAll("#" + id + " tbody tr").forEach(tr => {
      tr.style.display = tr.textContent.toLowerCase().includes(t) ? "" : "none";
    });
  }

  function sortable(table) {
    table.querySelectorAll("th").forEach((th, col) => {
      th.addEventListener("click", () => {
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const dir = th.dataset.dir === "asc" ? -1 : 1;
        th.dataset.dir = dir === 1 ? "asc" : "desc";
        rows.sort((a, b) => {
          const x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
          const nx = parseFloat(x), ny = parseFloat(y);
          if (!isNaN(nx) && !isNaN(ny)) return (nx - ny) * dir;
          return x.localeCompare(y) * dir;
        });
        rows.forEach(r => body.appendChild(r));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sortable").forEach(sortable);
    document.querySelectorAll(".ts[data-ts]").forEach(el => {
      const v = parseFloat(el.dataset.ts);
      if (!isNaN(v)) el.textContent = new Date(v * 1000).toISOString().replace("T", " ").slice(0, 19);
    });
  });

  return { plotLightcurve, cutoutStrip, eseAction, thumbnails, saveToken, filterTable };
})();
