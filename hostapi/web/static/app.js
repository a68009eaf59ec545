// The composer window: talks to the voc-host JSON API (hostapi/web/app.py), nothing else.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
let styles = [];
let busy = false;

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
  const what = { download: "downloading", compose: "composing", extract: "extracting", verify: "verifying" }[job.stage] || job.stage || "starting";
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
  busy = value;
  document.querySelectorAll("button").forEach((b) => { b.disabled = value; });
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
  if ($("chords").value.trim() !== "") request.chords = $("chords").value.trim();
  return request;
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
  if (r.png) add(r.png, "PNG");
}

async function compose(event) {
  event.preventDefault();
  if (busy || !$("style").value) return;
  setBusy(true);
  $("compose-error").hidden = true;
  try {
    const { job } = await api("/api/compose", composeRequest());
    const result = await waitFor(job, "compose");
    $("compose-status").textContent = "done";
    showResult(result);
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
    if (input.type !== "number") continue;
    if (s.min != null) input.min = s.open_low ? "" : String(s.min);
    if (s.max != null) input.max = String(s.max);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("compose-form").addEventListener("submit", compose);
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
