// ssfile view: the plot panel.  Numeric JSON fields of a stream over time, several series
// on one time axis, drawn on a <canvas> by hand (no library).  The server sends at most two
// points (min and max) per pixel column; zooming asks again for the new time range.
// On a large file the first answer is a preview (state "preview": a sample of evenly
// spaced windows of the file), drawn dashed and labelled; the page asks again until the
// exact series replaces it.
// Uses app.js's helpers (api, el, $, fmtMs, inspect, load, setLive).
"use strict";

const PLOT_PAD = {left: 56, right: 10, top: 8, bottom: 20};
const PLOT_COLORS = ["#2f6fde", "#e8833a", "#3aa35b", "#c43c5a", "#8c5bd6", "#1aa5b8"];
const HIT_PX = 8;

const plot = {
  series: [],     // {stream, field, color, answer: last /api/series answer}
  view: null,     // [lo, hi) ms on screen; null: everything
  drag: null,
  points: [],     // drawn points, for clicks: {x, y, offset, t, v, si}
  pending: null,  // timer of a re-fetch
  seq: 0,         // fetches started (answers of older fetches are dropped)
};
window.ssfilePlot = plot;  // the browser tests read what is drawn from here

function plotCanvas() { return $("plot"); }
function plotInner() { return plotCanvas().clientWidth - PLOT_PAD.left - PLOT_PAD.right; }

// ---- data -----------------------------------------------------------------------------

function extent() {
  let lo = Infinity, hi = -Infinity;
  for (const s of plot.series) {
    const a = s.answer;
    if (a && a.t_min !== undefined) { lo = Math.min(lo, a.t_min); hi = Math.max(hi, a.t_max + 1); }
  }
  return lo === Infinity ? null : [lo, hi];
}

function shown() { return plot.view || extent(); }

async function fetchSeries() {
  const seq = ++plot.seq;
  const width = Math.max(10, Math.round(plotInner()));
  const view = plot.view;
  const answers = await Promise.all(plot.series.map((s) =>
    api("series", {stream: s.stream, field: s.field, width,
                   from_ms: view ? Math.floor(view[0]) : null, to_ms: view ? Math.ceil(view[1]) : null})
      .catch((err) => ({state: "error", error: String(err.message || err)}))));
  if (seq !== plot.seq) return;  // a newer fetch (zoom, pan) is on its way
  answers.forEach((a, i) => { plot.series[i].answer = a; });
  drawPlot();
  renderPlotState();
  if (answers.some((a) => a.state === "pending" || a.state === "preview")) schedulePlotFetch(300);
}

function schedulePlotFetch(ms) {
  clearTimeout(plot.pending);
  plot.pending = setTimeout(fetchSeries, ms);
}

// called by app.js on every live tick
async function refreshPlots() {
  if (plot.series.length) await fetchSeries();
}

function addSeries(stream, field) {
  if (!stream || !field) return;
  if (plot.series.some((s) => s.stream === stream && s.field === field)) return;
  const used = new Set(plot.series.map((s) => s.color));
  const color = PLOT_COLORS.find((c) => !used.has(c)) || PLOT_COLORS[plot.series.length % PLOT_COLORS.length];
  plot.series.push({stream, field, color, answer: null});
  renderChips();
  plotCanvas().hidden = false;
  fetchSeries();
}

function removeSeries(i) {
  plot.series.splice(i, 1);
  renderChips();
  if (!plot.series.length) { plot.view = null; plotCanvas().hidden = true; }
  drawPlot();
  renderPlotState();
}

function renderChips() {
  $("plot-series").replaceChildren(...plot.series.map((s, i) => {
    const sw = el("span", {class: "swatch"});
    sw.style.background = s.color;
    const x = el("button", {title: "remove this series"}, "×");
    x.type = "button";
    x.addEventListener("click", () => removeSeries(i));
    return el("span", {class: "chip"}, sw, `${s.stream} · ${s.field}`, x);
  }));
}

function renderPlotState() {
  const box = $("plot-state");
  if (!plot.series.length) { box.textContent = "Pick a stream and a JSON field to plot it over time."; return; }
  box.replaceChildren(...plot.series.map((s) => {
    const a = s.answer, name = `${s.stream} · ${s.field}: `;
    if (!a || a.state === "pending") return el("div", {}, name + "reading the stream…");
    if (a.state === "error") return el("div", {class: "why"}, name + a.error);
    if (a.reason) return el("div", {class: "why"}, name + a.reason);
    if (a.state === "preview") {
      return el("div", {class: "preview"}, name + `preview: ${a.values} values from ${a.messages} ` +
        "messages sampled over the whole file, drawn dashed · reading every message for the exact plot…");
    }
    const skipped = a.messages - a.values;
    const parts = [`${a.values} values from ${a.messages} messages`];
    if (skipped) parts.push(`${skipped} without a number there (${a.missing} JSON without it, ${a.not_json} not JSON, ${a.binary} binary)`);
    parts.push(a.data.exact ? `${a.data.points} points in view, all drawn`
      : `${a.data.points} points in view, drawn as min/max per pixel (${a.data.t.length})`);
    if (a.stopped) parts.push(`stopped at damage: ${a.stopped}`);
    return el("div", {class: a.stopped ? "why" : ""}, name + parts.join(" · "));
  }));
}

// ---- drawing ----------------------------------------------------------------------------

function plotX(ms, view) { return PLOT_PAD.left + ((ms - view[0]) / (view[1] - view[0])) * plotInner(); }

function drawPlot() {
  const c = plotCanvas();
  if (c.hidden) return;
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  plot.points = [];
  const view = shown();
  const preview = plot.series.some((s) => s.answer && s.answer.state === "preview");
  c.dataset.preview = preview ? "1" : "";
  if (!view) return;
  c.dataset.lo = String(view[0]);
  c.dataset.hi = String(view[1]);
  let vlo = Infinity, vhi = -Infinity;
  for (const s of plot.series) {
    const d = s.answer && s.answer.data;
    if (!d) continue;
    d.t.forEach((t, i) => { if (t >= view[0] && t < view[1]) { vlo = Math.min(vlo, d.v[i]); vhi = Math.max(vhi, d.v[i]); } });
  }
  if (vlo === Infinity) { vlo = 0; vhi = 1; }
  if (vlo === vhi) { vlo -= 1; vhi += 1; }
  const pad = (vhi - vlo) * 0.05;
  vlo -= pad; vhi += pad;
  const ph = h - PLOT_PAD.top - PLOT_PAD.bottom;
  const yOf = (v) => PLOT_PAD.top + ph - ((v - vlo) / (vhi - vlo)) * ph;
  g.save();
  g.beginPath(); g.rect(PLOT_PAD.left, PLOT_PAD.top, plotInner(), ph); g.clip();
  plot.series.forEach((s, si) => {
    const d = s.answer && s.answer.data;
    if (!d || !d.t.length) return;
    g.strokeStyle = s.color; g.fillStyle = s.color; g.lineWidth = 1.25;
    g.setLineDash(s.answer.state === "preview" ? [5, 4] : []);
    g.beginPath();
    d.t.forEach((t, i) => {
      const x = plotX(t, view), y = yOf(d.v[i]);
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
      plot.points.push({x, y, offset: d.offset[i], t, v: d.v[i], si});
    });
    g.stroke();
    if (d.t.length <= plotInner() / 4) {  // few points: mark each one
      for (const p of plot.points) if (p.si === si) g.fillRect(p.x - 2, p.y - 2, 4, 4);
    }
  });
  g.restore();
  drawPlotAxes(g, view, vlo, vhi, w, h, ph);
  if (preview) {
    g.fillStyle = "#b26a00"; g.font = "bold 12px system-ui, sans-serif"; g.textAlign = "right";
    g.fillText("PREVIEW (sampled) · exact plot on its way", w - PLOT_PAD.right - 4, PLOT_PAD.top + 14);
  }
}

function fmtValue(v) {
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}

function drawPlotAxes(g, view, vlo, vhi, w, h, ph) {
  g.strokeStyle = "#c4cad1"; g.fillStyle = "#6b7480"; g.font = "11px system-ui, sans-serif";
  g.beginPath();
  g.moveTo(PLOT_PAD.left - 0.5, PLOT_PAD.top); g.lineTo(PLOT_PAD.left - 0.5, PLOT_PAD.top + ph);
  g.lineTo(w - PLOT_PAD.right, PLOT_PAD.top + ph + 0.5); g.stroke();
  g.textAlign = "right";
  for (const f of [0, 0.5, 1]) {
    const v = vlo + f * (vhi - vlo);
    g.fillText(fmtValue(v), PLOT_PAD.left - 4, PLOT_PAD.top + ph - f * ph + (f === 1 ? 9 : f === 0 ? 0 : 4));
  }
  g.textAlign = "left"; g.fillText(fmtMs(view[0]), PLOT_PAD.left, h - 4);
  g.textAlign = "right"; g.fillText(fmtMs(Math.ceil(view[1]) - 1), w - PLOT_PAD.right, h - 4);
}

// ---- zoom, pan, click ---------------------------------------------------------------------

function zoomBy(factor, atX) {
  const view = shown();
  if (!view) return;
  const f = atX === undefined ? 0.5 : Math.min(1, Math.max(0, (atX - PLOT_PAD.left) / plotInner()));
  const at = view[0] + f * (view[1] - view[0]);
  const span = Math.max(2, (view[1] - view[0]) * factor);
  plot.view = [at - f * span, at - f * span + span];
  drawPlot();
  schedulePlotFetch(120);
}

function nearestPoint(x, y) {
  let best = null, bestD = HIT_PX * HIT_PX;
  for (const p of plot.points) {
    const d = (p.x - x) ** 2 + (p.y - y) ** 2;
    if (d <= bestD) { best = p; bestD = d; }
  }
  return best;
}

function plotEvents() {
  const c = plotCanvas();
  const at = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  c.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoomBy(e.deltaY < 0 ? 1 / 1.5 : 1.5, at(e)[0]);
  }, {passive: false});
  c.addEventListener("mousedown", (e) => {
    const view = shown();
    if (!view) return;
    plot.drag = {x0: at(e)[0], y0: at(e)[1], view, moved: false};
    c.classList.add("dragging");
  });
  c.addEventListener("mousemove", (e) => {
    const [x, y] = at(e);
    const p = nearestPoint(x, y);
    $("plot-hover").textContent = p ? `${plot.series[p.si].field} = ${fmtValue(p.v)} at ${fmtMs(p.t)} (offset ${p.offset})` : "";
    const d = plot.drag;
    if (!d) return;
    const dx = x - d.x0;
    if (Math.abs(dx) < 4 && !d.moved) return;
    d.moved = true;
    const shift = (dx / plotInner()) * (d.view[1] - d.view[0]);
    plot.view = [d.view[0] - shift, d.view[1] - shift];
    drawPlot();
  });
  window.addEventListener("mouseup", (e) => {
    const d = plot.drag;
    if (!d) return;
    plot.drag = null;
    c.classList.remove("dragging");
    if (d.moved) { schedulePlotFetch(0); return; }
    const p = nearestPoint(d.x0, d.y0);
    if (p) openPoint(p);
  });
  c.addEventListener("dblclick", () => { plot.view = null; drawPlot(); schedulePlotFetch(0); });
}

// a point's message: in the inspector, and the table paged there
function openPoint(p) {
  setLive(false);
  load({from: p.offset}, {keepSelection: true}).then(() => inspect(p.offset));
}

function plotWire() {
  $("plot-form").addEventListener("submit", (e) => {
    e.preventDefault();
    addSeries($("plot-stream").value, $("plot-field").value.trim());
  });
  $("plot-stream").addEventListener("change", suggestFields);
  $("plot-zoom-in").addEventListener("click", () => zoomBy(1 / 2));
  $("plot-zoom-out").addEventListener("click", () => zoomBy(2));
  $("plot-reset").addEventListener("click", () => { plot.view = null; drawPlot(); schedulePlotFetch(0); });
  window.addEventListener("resize", () => { drawPlot(); schedulePlotFetch(200); });
  plotEvents();
}

async function suggestFields() {
  const stream = $("plot-stream").value;
  if (!stream) return;
  try {
    const f = await api("fields", {stream});
    $("plot-fields").replaceChildren(...f.fields.map((name) => { const o = el("option", {}); o.value = name; return o; }));
  } catch (err) { showError(err); }
}

plotWire();
