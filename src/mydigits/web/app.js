// mydigits web page: draw or photograph digits, see what the network reads, correct, teach.
// Plain JavaScript, no build step. Talks to the REST API of the same server (see /docs).
"use strict";

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- small helpers

function toast(message, isError = false) {
  const t = $("toast");
  t.textContent = message;
  t.className = isError ? "error" : "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, isError ? 6000 : 3000);
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// ---------------------------------------------------------------- tabs

function showTab(name) {
  for (const t of ["draw", "photo"]) {
    $(`tab-${t}`).setAttribute("aria-selected", String(t === name));
    $(`panel-${t}`).hidden = t !== name;
  }
}

// ---------------------------------------------------------------- drawing pad

const pad = { canvas: null, ctx: null, drawing: false, last: null, dirty: false };

function clearPad() {
  pad.ctx.fillStyle = "#fff";
  pad.ctx.fillRect(0, 0, pad.canvas.width, pad.canvas.height);
  pad.dirty = false;
}

function padPoint(event) {
  const r = pad.canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - r.left) * pad.canvas.width) / r.width,
    y: ((event.clientY - r.top) * pad.canvas.height) / r.height,
  };
}

function setupPad() {
  pad.canvas = $("pad");
  pad.ctx = pad.canvas.getContext("2d");
  clearPad();
  const c = pad.canvas;
  c.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    c.setPointerCapture(e.pointerId);
    pad.drawing = true;
    pad.last = padPoint(e);
    const ctx = pad.ctx;
    ctx.fillStyle = "#111";
    ctx.beginPath();
    ctx.arc(pad.last.x, pad.last.y, Number($("pen").value) / 2, 0, 2 * Math.PI);
    ctx.fill();
    pad.dirty = true;
  });
  c.addEventListener("pointermove", (e) => {
    if (!pad.drawing) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    const ctx = pad.ctx;
    ctx.strokeStyle = "#111";
    ctx.lineWidth = Number($("pen").value);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const ev of events.length ? events : [e]) {
      const p = padPoint(ev);
      ctx.beginPath();
      ctx.moveTo(pad.last.x, pad.last.y);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
      pad.last = p;
    }
  });
  const stop = () => { pad.drawing = false; };
  c.addEventListener("pointerup", stop);
  c.addEventListener("pointercancel", stop);
  $("clear").addEventListener("click", () => { clearPad(); $("result").hidden = true; });
  $("read-drawing").addEventListener("click", readDrawing);
}

async function readDrawing() {
  if (!pad.dirty) { toast("Draw some digits first"); return; }
  const dataUrl = pad.canvas.toDataURL("image/png");
  const image = await loadImage(dataUrl);
  await readAndShow(
    () => api("/api/read?crops=1", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: dataUrl, name: "drawing.png" }),
    }),
    image, pad.canvas.width,
  );
}

// ---------------------------------------------------------------- photos

const SEND_SIDE = 2000; // the server works at about this size anyway: send less over the network

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("this file is not an image the browser can show"));
    img.src = src;
  });
}

async function readFile(file) {
  if (!file) return;
  let image = null;
  try { image = await loadImage(URL.createObjectURL(file)); } catch (_) { image = null; }
  let blob = file;
  let sentWidth = image ? image.naturalWidth : 0;
  if (image && Math.max(image.naturalWidth, image.naturalHeight) > SEND_SIDE) {
    // big phone photo: shrink it here (the browser has already turned it upright)
    const f = SEND_SIDE / Math.max(image.naturalWidth, image.naturalHeight);
    const c = document.createElement("canvas");
    c.width = Math.round(image.naturalWidth * f);
    c.height = Math.round(image.naturalHeight * f);
    c.getContext("2d").drawImage(image, 0, 0, c.width, c.height);
    blob = await new Promise((res) => c.toBlob(res, "image/jpeg", 0.92));
    sentWidth = c.width;
  }
  const form = new FormData();
  form.append("file", blob, file.name || "photo.jpg");
  await readAndShow(() => api("/api/read?crops=1", { method: "POST", body: form }), image, sentWidth);
}

function setupPhoto() {
  for (const id of ["file", "camera"]) {
    $(id).addEventListener("change", (e) => { readFile(e.target.files[0]); e.target.value = ""; });
  }
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) readFile(e.dataTransfer.files[0]);
  });
}

// ---------------------------------------------------------------- results

let busyReading = false;

async function readAndShow(request, image, sentWidth) {
  if (busyReading) return;
  busyReading = true;
  document.body.classList.add("busy");
  try {
    const result = await request();
    showResult(result, image, sentWidth);
  } catch (err) {
    toast(err.message, true);
  } finally {
    busyReading = false;
    document.body.classList.remove("busy");
  }
}

function showResult(result, image, sentWidth) {
  $("result").hidden = false;
  $("text").textContent = result.text || "(no digits)";
  const ms = result.timings_ms && result.timings_ms.total;
  const nRejected = result.rejected.length;
  $("timing").textContent = (ms ? `read in ${Math.round(ms)} ms` : "") +
    (nRejected ? ` · ${nRejected} region(s) ignored (grey boxes)` : "");
  drawAnnotated(result, image, sentWidth);
  const list = $("digits");
  list.replaceChildren();
  let index = 0;
  for (const line of result.lines) {
    for (const d of line.digits) list.append(digitCard(d, index++));
  }
}

// Labels are sized to the digits (not to the picture) and placed where they cover no digit and no
// other label, as in `mydigits read --annotate` (annotating.py): on a dense sheet, labels sized to
// the picture and written above their boxes covered one another and the digits of the line above.
const LABEL_HEIGHT = 0.35; // of the digits' median height
const MIN_LABEL_PX = 12; // smaller cannot be read on a screen
const LABEL_GAP = 2;

function overlapArea(rect, others) {
  let area = 0;
  for (const o of others) {
    const w = Math.min(rect[0] + rect[2], o[0] + o[2]) - Math.max(rect[0], o[0]);
    const h = Math.min(rect[1] + rect[3], o[1] + o[3]) - Math.max(rect[1], o[1]);
    if (w > 0 && h > 0) area += w * h;
  }
  return area;
}

// Where to write each box's label, a rectangle of sizes[i] ([w, h]) for boxes[i] ([x, y, w, h]):
// annotating.place_labels. Boxes are taken top to bottom, then left to right; each label goes to
// the first place that covers nothing, of: above its box, below it, further up, further down; when
// every place covers something, to the one covering least.
function placeLabels(boxes, sizes, width, height, tries = 3) {
  const out = new Array(boxes.length);
  const placed = [];
  const middle = (b) => b[1] + Math.floor(b[3] / 2);
  const order = boxes.map((_, i) => i)
    .sort((a, b) => middle(boxes[a]) - middle(boxes[b]) || boxes[a][0] - boxes[b][0]);
  for (const i of order) {
    const [x, y, w, h] = boxes[i];
    const [lw, lh] = sizes[i];
    const lx = Math.min(Math.max(x + (w - lw) / 2, 0), Math.max(width - lw, 0));
    const step = lh + LABEL_GAP;
    const ys = [y - LABEL_GAP - lh, y + h + LABEL_GAP];
    for (let k = 1; k < tries; k++) ys.push(y - LABEL_GAP - lh - k * step);
    for (let k = 1; k < tries; k++) ys.push(y + h + LABEL_GAP + k * step);
    let best = null;
    let bestCost = Infinity;
    for (const ly of ys) {
      if (ly < 0 || ly + lh > height) continue;
      const rect = [lx, ly, lw, lh];
      const cost = overlapArea(rect, placed) + overlapArea(rect, boxes);
      if (cost < bestCost) { best = rect; bestCost = cost; }
      if (cost === 0) break;
    }
    if (!best) best = [lx, Math.min(Math.max(y, 0), Math.max(height - lh, 0)), lw, lh]; // inside the box
    placed.push(best);
    out[i] = best;
  }
  return out;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function drawAnnotated(result, image, sentWidth) {
  const c = $("annotated");
  if (!image) { c.hidden = true; return; }
  c.hidden = false;
  const maxW = 900;
  const scaleImg = Math.min(1, maxW / image.naturalWidth);
  c.width = Math.round(image.naturalWidth * scaleImg);
  c.height = Math.round(image.naturalHeight * scaleImg);
  const ctx = c.getContext("2d");
  ctx.drawImage(image, 0, 0, c.width, c.height);
  const s = c.width / (sentWidth || image.naturalWidth); // boxes are in the sent picture's pixels
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#999";
  for (const r of result.rejected) ctx.strokeRect(r.box[0] * s, r.box[1] * s, r.box[2] * s, r.box[3] * s);
  const digits = result.lines.flatMap((line) => line.digits);
  const boxes = digits.map((d) => d.box.map((v) => v * s));
  const texts = digits.map((d) => `${d.digit === null ? "?" : d.digit}`);
  const digitHeight = boxes.length ? median(boxes.map((b) => b[3])) : 0;
  const shortSide = Math.min(c.width, c.height);
  const px = Math.round(Math.min(Math.max(LABEL_HEIGHT * digitHeight, MIN_LABEL_PX),
    Math.max(MIN_LABEL_PX, shortSide / 12)));
  ctx.font = `bold ${px}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  const sizes = texts.map((t) => [ctx.measureText(t).width + 2 * LABEL_GAP + 2, px + 2 * LABEL_GAP]);
  const labels = placeLabels(boxes, sizes, c.width, c.height);
  c.dataset.boxes = JSON.stringify(boxes);
  c.dataset.labels = JSON.stringify(labels); // for the end-to-end test, and to inspect
  const lw = Math.max(1.5, Math.round(digitHeight / 40));
  digits.forEach((d, i) => {
    const [x, y, w, h] = boxes[i];
    const [lx, ly, lwidth, lheight] = labels[i];
    const color = d.digit === null ? "#bc4c00" : "#1a7f37";
    ctx.lineWidth = lw;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    ctx.fillStyle = color;
    ctx.fillRect(lx, ly, lwidth, lheight);
    ctx.fillStyle = "#fff";
    ctx.fillText(texts[i], lx + LABEL_GAP + 1, ly + lheight - LABEL_GAP);
  });
}

function digitCard(d, index) {
  const best = d.probabilities.indexOf(Math.max(...d.probabilities));
  const guess = el("div", {
    class: "guess" + (d.digit === null ? " unsure" : ""),
    text: d.digit === null ? `? (${best}?)` : String(d.digit),
  });
  const bars = el("div", { class: "bars", title: "probability of each digit" });
  d.probabilities.forEach((p, k) => {
    bars.append(el("div", {
      class: "bar" + (k === best ? " best" : ""),
      style: `height:${Math.max(1, Math.round(p * 100))}%`,
      title: `${k}: ${(p * 100).toFixed(1)}%`,
    }));
  });
  const labels = el("div", { class: "bar-labels" });
  for (let k = 0; k < 10; k++) labels.append(el("span", { text: String(k) }));
  const img = el("img", { alt: `crop of digit ${index + 1}`, width: "28", height: "28" });
  if (d.crop) img.src = d.crop;
  const card = el("li", { class: "digit", tabindex: "0", "data-index": String(index) }, [
    img,
    el("div", {}, [guess, el("div", { class: "conf", text: `${Math.round(d.confidence * 100)}% sure` }),
      bars, labels]),
  ]);
  const open = () => openFix(card, d);
  card.addEventListener("click", (e) => { if (!card.querySelector(".fix")) open(); e.stopPropagation(); });
  card.addEventListener("keydown", (e) => { if (e.key === "Enter" && !card.querySelector(".fix")) open(); });
  return card;
}

function openFix(card, d) {
  const input = el("input", {
    type: "text", inputmode: "numeric", maxlength: "1", pattern: "[0-9]",
    "aria-label": "the right digit", class: "fix-input",
  });
  const save = el("button", { type: "button", class: "primary", text: "Save" });
  const cancel = el("button", { type: "button", text: "Cancel" });
  const fix = el("div", { class: "fix" }, [el("span", { text: "It is" }), input, save, cancel]);
  card.append(fix);
  input.focus();
  const close = () => fix.remove();
  cancel.addEventListener("click", (e) => { e.stopPropagation(); close(); });
  const submit = async () => {
    const label = input.value.trim();
    if (!/^[0-9]$/.test(label)) { toast("Type one digit, 0 to 9", true); return; }
    save.disabled = true;
    try {
      const saved = await api("/api/samples", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ image: d.crop, label }),
      });
      close();
      card.classList.add("corrected");
      card.querySelector(".guess").textContent = `${d.digit === null ? "?" : d.digit} → ${label}`;
      toast(`Saved as a sample of ${label} (${saved.waiting} waiting to be taught)`);
      setWaiting(saved.waiting);
    } catch (err) {
      save.disabled = false;
      toast(err.message, true);
    }
  };
  save.addEventListener("click", (e) => { e.stopPropagation(); submit(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") submit();
    if (e.key === "Escape") close();
  });
  input.addEventListener("click", (e) => e.stopPropagation());
}

// ---------------------------------------------------------------- teaching

function setWaiting(n) {
  $("waiting").textContent = String(n);
  $("teach-button").disabled = n === 0 || teaching;
}

let teaching = false;

async function refreshSamples() {
  try { setWaiting((await api("/api/samples")).waiting); } catch (_) { /* ignore */ }
}

async function teach() {
  const bar = $("teach-progress");
  const status = $("teach-status");
  teaching = true;
  $("teach-button").disabled = true;
  bar.hidden = false;
  bar.value = 0;
  try {
    let job = await api("/api/teach", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    status.textContent = "teaching…";
    while (job.state === "queued" || job.state === "running") {
      await new Promise((r) => setTimeout(r, 1000));
      job = await api(`/api/jobs/${job.id}`);
      bar.value = job.progress;
      status.textContent = job.message || job.state;
    }
    if (job.state === "succeeded") {
      const summary = job.result && job.result.summary;
      status.textContent = summary || job.message;
      toast(job.message);
      await refreshModels();
    } else {
      status.textContent = `failed: ${job.error}`;
      toast(`Teaching failed: ${job.error}`, true);
    }
  } catch (err) {
    status.textContent = err.message;
    toast(err.message, true);
  } finally {
    teaching = false;
    await refreshSamples();
  }
}

// ---------------------------------------------------------------- models

async function refreshModels() {
  const select = $("model-select");
  try {
    const info = await api("/api/models");
    select.replaceChildren(...info.models.map((m) => {
      const o = el("option", { value: m.name, text: m.name === "default" ? "default (shipped)" : m.name });
      if (m.active) o.selected = true;
      return o;
    }));
    select.title = `reading with ${info.reading_with}`;
  } catch (err) {
    toast(err.message, true);
  }
}

async function useModel() {
  const name = $("model-select").value;
  try {
    const info = await api(`/api/models/${encodeURIComponent(name)}/use`, { method: "POST" });
    toast(`Now reading with ${info.active}`);
  } catch (err) {
    toast(err.message, true);
  }
  await refreshModels();
}

// ---------------------------------------------------------------- start

window.addEventListener("DOMContentLoaded", () => {
  $("tab-draw").addEventListener("click", () => showTab("draw"));
  $("tab-photo").addEventListener("click", () => showTab("photo"));
  setupPad();
  setupPhoto();
  $("teach-button").addEventListener("click", teach);
  $("model-select").addEventListener("change", useModel);
  refreshModels();
  refreshSamples();
});
