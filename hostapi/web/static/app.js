// The composer window: talks to the voc-host JSON API (hostapi/web/app.py), nothing else.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
let styles = [];
let busy = false;
let primerId = null;  // the uploaded primer's file id
let trainJob = null;  // the training job being watched
let trainedStyle = null;  // the style the last run trained (Resume continues it)
let trainedSeries = [];  // its curve so far: a resumed run draws on after it
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(path, body) {
  const init = { headers: { "X-Voc-Token": token } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

// MIDI files into the server's session folder (multipart); the answer names them by id only.
async function upload(fileList) {
  const form = new FormData();
  for (const f of fileList) form.append("files", f, f.name);
  const response = await fetch("/api/upload", { method: "POST", headers: { "X-Voc-Token": token }, body: form });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data.files;
}

// A file the server registered: its URL carries the token so <img>/<audio> work without cookies.
const fileUrl = (file) => `${file.url}?token=${encodeURIComponent(token)}`;

function formatSize(bytes) {
  if (bytes == null) return "";
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} kB`;
  return `${bytes} B`;
}

function styleStatus(s) {
  if (s.source === "bundled") return "bundled";
  if (s.installed) return "installed";
  if (s.needs_download) return "download";
  return s.source || "available";
}

function progressText(job) {
  const what = { download: "downloading", compose: "composing", extract: "extracting", verify: "verifying", train: "training" }[job.stage] || job.stage || "starting";
  let amount = "";
  if (job.total) {
    amount = job.unit === "B"
      ? ` ${formatSize(job.done)} of ${formatSize(job.total)}`
      : ` ${Math.round(job.done)} of ${Math.round(job.total)} ${job.unit || ""}`;
  }
  return `${what}${amount}${job.message ? ` · ${job.message}` : ""}`;
}

function showProgress(prefix, job) {
  $(`${prefix}-progress`).hidden = false;
  const bar = $(`${prefix}-bar`);
  if (job.total) { bar.max = job.total; bar.value = job.done; } else { bar.removeAttribute("value"); }
  $(`${prefix}-status`).textContent = progressText(job);
}

async function waitFor(jobId, prefix) {
  for (;;) {
    const job = await api(`/api/jobs/${jobId}`);
    showProgress(prefix, job);
    if (job.state === "done") return job.result;
    if (job.state === "failed") throw new Error(job.error || "failed");
    await new Promise((r) => setTimeout(r, 250));
  }
}

function setBusy(value) {
  busy = value;  // the training card has buttons of its own: a style trains while the window composes
  document.querySelectorAll("#compose-card button, #models-card button").forEach((b) => { b.disabled = value; });
}

// -- styles: the drop-down and the model table ---------------------------------------

async function loadStyles() {
  const data = await api("/api/styles");
  styles = data.styles;
  const select = $("style");
  const previous = select.value;
  select.innerHTML = "";
  const groups = { installed: "Installed", bundled: "Bundled", download: "Downloadable" };
  for (const [key, label] of Object.entries(groups)) {
    const members = styles.filter((s) => styleStatus(s) === key);
    if (!members.length) continue;
    const group = document.createElement("optgroup");
    group.label = label;
    for (const s of members) {
      const option = document.createElement("option");
      option.value = s.name;
      const size = key === "download" && s.size_bytes ? ` (${formatSize(s.size_bytes)})` : "";
      option.textContent = `${s.title || s.name}${size}`;
      group.appendChild(option);
    }
    select.appendChild(group);
  }
  if (styles.some((s) => s.name === previous)) select.value = previous;
  $("train-finetune-label").hidden = !styles.some((s) => s.name === "corpus" && s.installed);
  updateStyleNote();
  renderModels();
  if (data.warnings && data.warnings.length) {
    $("models-output").hidden = false;
    $("models-output").textContent = data.warnings.join("\n");
  }
}

function updateStyleNote() {
  const s = styles.find((x) => x.name === $("style").value);
  $("style-note").textContent = !s ? "No styles: is a composer plugin installed?"
    : `${s.description || s.name} · ${styleStatus(s) === "download" ? `will download ${formatSize(s.size_bytes)} first` : styleStatus(s)} · ${s.plugin}`;
}

function renderModels() {
  const body = $("models").querySelector("tbody");
  body.innerHTML = "";
  for (const s of styles) {
    const row = document.createElement("tr");
    const status = styleStatus(s);
    row.innerHTML = `<td></td><td><span class="badge ${status}"></span></td><td></td><td></td><td class="actions"></td>`;
    row.cells[0].textContent = s.title && s.title !== s.name ? `${s.name} — ${s.title}` : s.name;
    row.cells[1].firstChild.textContent = status;
    row.cells[2].textContent = formatSize(s.size_bytes);
    row.cells[3].textContent = s.plugin;
    const actions = status === "download" ? ["fetch"] : status === "installed" ? ["remove"] : [];
    for (const action of actions) {
      const button = document.createElement("button");
      button.className = "small";
      button.textContent = action;
      button.dataset.action = action;
      button.dataset.style = s.name;
      button.disabled = busy;
      row.cells[4].appendChild(button);
    }
    body.appendChild(row);
  }
}

async function runModels(action, style) {
  if (busy) return;
  if (action === "remove" && !confirm(`Remove the model of ${style}?`)) return;
  setBusy(true);
  $("models-output").hidden = true;
  try {
    const { job } = await api("/api/models", { action, styles: style ? [style] : [] });
    const result = await waitFor(job, "models");
    $("models-output").hidden = !result.text;
    $("models-output").textContent = result.text;
    await loadStyles();  // before the status line: "done" means the table is up to date
    $("models-status").textContent = result.ok ? `${action}: done` : `${action}: problems found`;
  } catch (e) {
    $("models-output").hidden = false;
    $("models-output").textContent = e.message;
    $("models-status").textContent = `${action}: failed`;
  } finally {
    setBusy(false);
  }
}

// -- compose --------------------------------------------------------------------------

function composeRequest() {
  const request = {
    style: $("style").value,
    temperature: Number($("temperature").value),
    variations: Number($("variations").value) || 1,
    audio: $("audio").checked,
    png: $("png").checked,
  };
  const length = $("length").value;
  if (length) request[$("length-unit").value] = Number(length);
  if ($("seed").value !== "") request.seed = Number($("seed").value);
  if ($("density").value !== "") request.density = Number($("density").value);
  if ($("tempo").value !== "") request.tempo = Number($("tempo").value);
  for (const id of ["chords", "key", "metre", "instrument"]) {
    if ($(id).value.trim() !== "") request[id] = $(id).value.trim();
  }
  request.musicxml = $("musicxml").checked;
  if (primerId) request.primer = primerId;
  return request;
}

async function choosePrimer() {
  const chosen = $("primer-file").files;
  primerId = null;
  $("primer-clear").hidden = !chosen.length;
  if (!chosen.length) return;
  try {
    const [file] = await upload(chosen);
    primerId = file.id;
  } catch (e) {
    $("compose-error").hidden = false;
    $("compose-error").textContent = e.message;
    $("primer-file").value = "";
    $("primer-clear").hidden = true;
  }
}

// The score: the server engraves the MusicXML (verovio) into SVG pages.
async function showScore(file) {
  const box = $("score");
  try {
    const data = await api(`/api/score/${file.id}`);
    box.innerHTML = data.pages.join("");
    box.dataset.notes = String(data.notes);
    box.hidden = false;
  } catch (e) {
    $("score-note").hidden = false;
    $("score-note").textContent = e.message;
  }
}

function showResult(r) {
  $("result-empty").hidden = true;
  $("result").hidden = false;
  $("result-summary").textContent =
    `${r.style} · seed ${r.seed} · ${r.duration_seconds.toFixed(1)} s · ${r.events} ${r.unit || "events"} · ${r.plugin}${r.model_id ? ` (${r.model_id})` : ""}`;
  $("result-report").textContent = r.summary || "";
  $("result-report").hidden = !r.summary;
  const roll = $("pianoroll");
  roll.hidden = !r.png;
  if (r.png) roll.src = fileUrl(r.png);
  const player = $("player");
  if (r.audio.length) {
    player.hidden = false;
    player.src = fileUrl(r.audio[0]);
  } else {
    player.hidden = true;
    player.removeAttribute("src");
  }
  $("no-audio").hidden = r.audio.length > 0;
  const list = $("downloads");
  list.innerHTML = "";
  const add = (file, label) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = fileUrl(file);
    link.download = file.name;
    link.textContent = label;
    item.appendChild(link);
    list.appendChild(item);
  };
  r.variations.forEach((f, i) => add(f, r.variations.length > 1 ? `MIDI ${i + 1}` : "MIDI"));
  r.audio.forEach((f, i) => add(f, r.audio.length > 1 ? `WAV ${i + 1}` : "WAV"));
  const scores = r.musicxml || [];
  scores.forEach((f, i) => add(f, scores.length > 1 ? `MusicXML ${i + 1}` : "MusicXML"));
  if (r.png) add(r.png, "PNG");
  $("score").hidden = true;
  $("score").innerHTML = "";
  $("score-note").hidden = true;
  if (scores.length) return showScore(scores[0]);
}

async function compose(event) {
  event.preventDefault();
  if (busy || !$("style").value) return;
  setBusy(true);
  $("compose-error").hidden = true;
  try {
    const { job } = await api("/api/compose", composeRequest());
    const result = await waitFor(job, "compose");
    await showResult(result);
    $("compose-status").textContent = "done";
    if (styles.some((s) => s.name === result.style && styleStatus(s) === "download")) await loadStyles();
  } catch (e) {
    $("compose-error").hidden = false;
    $("compose-error").textContent = e.message;
    $("compose-progress").hidden = true;
  } finally {
    setBusy(false);
  }
}

async function loadRuntime() {
  try {
    const data = await api("/api/runtime");
    const caps = Object.assign({}, ...data.reports.map((r) => r.capabilities));
    const ready = (what) => typeof caps[what] === "string" && caps[what].startsWith("ready");
    if ("audio" in caps) $("audio").checked = ready("audio");
    if ("png" in caps) $("png").checked = ready("png");
    if ("score" in caps) $("musicxml").checked = ready("score");
    const names = data.plugins.map((p) => `${p.name} ${p.version || ""}`.trim()).join(", ") || "no plugins";
    const broken = data.broken.length ? ` · ${data.broken.length} broken` : "";
    $("runtime").textContent = `plugins: ${names}${broken}` + (caps.audio ? ` · audio: ${caps.audio}` : "");
  } catch (e) {
    $("runtime").textContent = e.message;
  }
}

// The form's bounds and tooltips come from the compose settings record (hostapi COMPOSE_SETTINGS), the one
// both command lines are built from; a range slider keeps its own narrower span for the hand.
async function loadSettings() {
  for (const s of await api("/api/settings")) {
    const input = $(s.name.replace(/_/g, "-"));
    if (!input) continue;
    input.title = s.help;
    const list = $(`${input.id}-choices`);
    if (list && s.choices) {
      list.innerHTML = "";
      for (const value of s.choices) {
        const option = document.createElement("option");
        option.value = value;
        list.appendChild(option);
      }
    }
    if (input.type !== "number") continue;
    if (s.min != null) input.min = s.open_low ? "" : String(s.min);
    if (s.max != null) input.max = String(s.max);
  }
}

// -- training a style from the page ------------------------------------------------------

// Loss (solid) and validation loss (dashed) by epoch, drawn as SVG from the job's series.
function drawChart(series) {
  const svg = $("train-chart");
  const points = series.filter((p) => p.epoch != null && p.loss != null);
  svg.dataset.points = String(points.length);
  svg.dataset.epochs = points.map((p) => p.epoch).join(",");
  if (!points.length) { svg.setAttribute("hidden", ""); return; }
  svg.removeAttribute("hidden");  // an <svg> has no .hidden property: the attribute is what counts
  const W = 600, H = 240, L = 48, R = 12, T = 12, B = 30;
  const values = points.flatMap((p) => [p.loss, p.val_loss].filter((v) => v != null));
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
  const last = Math.max(...points.map((p) => p.epoch), 2);
  const x = (e) => L + ((e - 1) / Math.max(last - 1, 1)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const line = (key) => points.filter((p) => p[key] != null)
    .map((p, i) => `${i ? "L" : "M"}${x(p.epoch).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  let grid = "";
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    grid += `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/>` +
      `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`;
  }
  svg.innerHTML = grid +
    `<line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/>` +
    `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>` +
    `<text x="${(W + L) / 2}" y="${H - 6}" text-anchor="middle">epoch (1 to ${last}) · loss, solid: training, dashed: validation</text>` +
    `<path class="train" d="${line("loss")}"/>` + `<path class="val" d="${line("val_loss")}"/>` +
    points.map((p) => `<circle cx="${x(p.epoch)}" cy="${y(p.loss)}" r="2.5" fill="#7a3b2e"/>`).join("");
}

function showRolls(rolls) {
  const box = $("train-rolls");
  if (box.childElementCount === rolls.length) return;
  box.innerHTML = "";
  for (const roll of [...rolls].reverse()) {  // the newest checkpoint first
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = fileUrl(roll);
    img.alt = `piano roll of a sample at ${roll.label}`;
    const caption = document.createElement("figcaption");
    caption.textContent = `${roll.label}: a sample`;
    figure.append(img, caption);
    box.appendChild(figure);
  }
}

// A run ends by its time budget (or when it stops improving): the bar shows the time, the line the epoch.
function showTrainProgress(job, budget) {
  $("train-progress").hidden = false;
  const bar = $("train-bar");
  bar.max = budget;
  bar.value = job.state === "done" ? budget : Math.min(job.seconds, budget);
  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  const epoch = job.stage === "train" ? `epoch ${Math.floor(job.done) + 1}` : (job.stage || "starting");
  const last = job.series.length ? job.series[job.series.length - 1] : null;
  const loss = last && last.val_loss != null ? ` · validation loss ${last.val_loss.toFixed(3)}` : "";
  $("train-status").textContent = `training ${epoch}${loss} · ${clock(job.seconds)} of ${clock(budget)}`;
}

function trainError(message) {
  $("train-error").hidden = false;
  $("train-error").textContent = message;
}

async function watchTraining(body, prior = []) {
  const { job } = await api("/api/train", body);
  trainJob = job;
  trainedStyle = body.style;
  $("train-cancel").hidden = false;
  $("train-cancel").disabled = false;
  $("train-resume").hidden = true;
  try {
    for (;;) {
      const j = await api(`/api/jobs/${job}`);
      showTrainProgress(j, body.minutes * 60);
      const series = [...prior, ...j.series];
      drawChart(series);
      trainedSeries = series;
      showRolls((j.extra && j.extra.pianorolls) || []);
      if (j.cancelling) $("train-status").textContent = "cancelling: keeping what was trained…";
      if (j.state === "failed") throw new Error(j.error || "training failed");
      if (j.state === "cancelled") {
        $("train-status").textContent = "cancelled: what was saved is kept; Resume goes on from there";
        $("train-resume").hidden = false;
        return;
      }
      if (j.state === "done") {
        const r = j.result;
        $("train-result").hidden = false;
        $("train-result").textContent =
          `${r.style}: ${r.epochs_run} epochs; recommended epoch ${r.recommended_epoch} (${r.reason})\n${r.text || ""}`.trim();
        $("train-status").textContent = r.installed ? `done: ${r.style} is installed` : "done (no model to install)";
        if (r.installed) {
          await loadStyles();
          $("style").value = r.style;
          updateStyleNote();
        }
        return;
      }
      await sleep(400);
    }
  } finally {
    $("train-cancel").hidden = true;
    trainJob = null;
  }
}

async function startTraining(event) {
  event.preventDefault();
  $("train-error").hidden = true;
  $("train-result").hidden = true;
  const chosen = $("train-files").files;
  const style = $("train-style").value.trim();
  if (!chosen.length) return trainError("choose the MIDI files to train on");
  if (!style) return trainError("give the new style a name");
  $("train-start").disabled = true;
  try {
    $("train-progress").hidden = false;
    $("train-status").textContent = `uploading ${chosen.length} file(s)…`;
    const uploaded = await upload(chosen);
    const body = { style, files: uploaded.map((f) => f.id), minutes: Number($("train-minutes").value) };
    if (!$("train-finetune-label").hidden) body.fine_tune = $("train-finetune").checked;
    $("train-rolls").innerHTML = "";
    drawChart([]);
    await watchTraining(body);
  } catch (e) {
    trainError(e.message);
  } finally {
    $("train-start").disabled = false;
  }
}

async function resumeTraining() {
  if (!trainedStyle) return;
  $("train-error").hidden = true;
  $("train-start").disabled = true;
  $("train-resume").hidden = true;
  try {
    await watchTraining({ style: trainedStyle, resume: true, minutes: Number($("train-minutes").value) },
      trainedSeries);
  } catch (e) {
    trainError(e.message);
    $("train-resume").hidden = false;
  } finally {
    $("train-start").disabled = false;
  }
}

async function cancelTraining() {
  if (!trainJob) return;
  $("train-cancel").disabled = true;
  try { await api(`/api/jobs/${trainJob}/cancel`, {}); } catch (e) { trainError(e.message); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("compose-form").addEventListener("submit", compose);
  $("primer-file").addEventListener("change", choosePrimer);
  $("primer-clear").addEventListener("click", () => { $("primer-file").value = ""; choosePrimer(); });
  $("train-form").addEventListener("submit", startTraining);
  $("train-cancel").addEventListener("click", cancelTraining);
  $("train-resume").addEventListener("click", resumeTraining);
  $("style").addEventListener("change", updateStyleNote);
  $("temperature").addEventListener("input", () => { $("temperature-value").textContent = Number($("temperature").value).toFixed(2); });
  $("refresh").addEventListener("click", () => loadStyles().catch((e) => { $("models-output").hidden = false; $("models-output").textContent = e.message; }));
  $("models-card").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) runModels(button.dataset.action, button.dataset.style);
  });
  loadSettings().catch(() => {});
  loadRuntime();
  loadStyles().catch((e) => { $("style-note").textContent = e.message; });
});
