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

  async function plotLightcurve(elId, api, series) {
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
      return;
    }
    const rows = data.rows.filter(r => r.mjd != null);
    const x = rows.map(r => r.mjd);
    const raw = rows.map(r => mJy(r.flux_jy)), rawErr = rows.map(r => mJy(r.flux_err_jy));
    const nrm = rows.map(r => mJy(r.normalized_flux_jy)), nrmErr = rows.map(r => mJy(r.normalized_flux_err_jy));
    if (plots[elId]) { plots[elId].destroy(); delete plots[elId]; }
    el.innerHTML = "";
    const opts = {
      width: Math.max(320, el.clientWidth || 800),
      height: 360,
      scales: { x: { time: false } },
      series: [
        { label: "MJD", value: (u, v) => v == null ? "-" : v.toFixed(5) },
        { label: "raw (mJy)", stroke: "#999999", width: 1, spanGaps: true, points: { show: true, size: 5 } },
        { label: "normalized (mJy)", stroke: "#2166ac", width: 1.5, spanGaps: true, points: { show: true, size: 6 } },
      ],
      axes: [{ label: "MJD (UTC, mid-exposure)" }, { label: "flux density (mJy)", size: 70 }],
      cursor: { drag: { x: true, y: true, uni: 30 } },
      plugins: [errorBars([null, rawErr, nrmErr])],
    };
    plots[elId] = new uPlot(opts, [x, raw, nrm], el);
    el.dataset.points = String(x.length);
    el.dataset.series = series;
    if (status) status.textContent = x.length + " points (" + series + " series)";
    window.__lcPlot = plots[elId];
  }

  async function eseAction(button, id, newStatus) {
    const row = button.closest("tr");
    const msg = document.getElementById("ese-message");
    const actions = { dismissed: "dismiss", confirmed: "confirm", active: "reopen" };
    const note = (newStatus === "active" ? "reopened" : newStatus) + " from the web UI";
    try {
      const action = actions[newStatus];
      const r = await fetch("/api/ese/candidates/" + id + "/" + action, {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, authHeaders()),
        body: JSON.stringify({ note: note }),
      });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
      const cell = row.querySelector(".status-cell");
      cell.innerHTML = '<span class="status s-' + body.status + '">' + body.status + "</span>";
      const n = row.querySelector(".note");
      if (n && body.note != null) n.textContent = body.note;
      if (msg) msg.textContent = "candidate " + id + " " + body.status;
    } catch (err) {
      if (msg) msg.textContent = "candidate " + id + ": " + err.message;
    }
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

  return { plotLightcurve, eseAction, saveToken, filterTable };
})();
