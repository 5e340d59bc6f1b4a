// cer's page: upload a video, follow its job, then play it over a timeline of the results;
// or, in the Live tab, stream the camera and microphone and see each window's verdict as it comes.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const BAND_COLOURS = ["#c0392b", "#27ae60", "#2c6fbb", "#e67e22", "#8e44ad", "#16a085", "#7f6000", "#b03a7a", "#556b2f"];
const BASIC_COLOURS = ["#9e9e9e", "#d62728", "#6b8e23", "#9467bd", "#ffbf00", "#1f77b4", "#17becf", "#8c564b"];
const NO_LABEL_COLOUR = "#999";
const ABSENT_COLOUR = "#ccc"; // a heatmap cell of a window the expert gave no probabilities for
const HEATMAP_COLUMNS = 600; // canvas pixels across the whole video

let token = sessionStorage.getItem("cer-token");
let tokenWanted = null; // a promise, while the token form waits for the user
let resolveToken = null;
let shownJob = null; // id of the job the page follows
let shown = null; // {result, view, spans} of the job on screen; view: the whole video's or one person's
let objectUrls = []; // blob: URLs made for the shown job, released when another is shown

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const percent = (fraction) => `${(100 * fraction).toFixed(4)}%`;

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// --- the API; on 401 the page asks for the token and tries again ---------------------------

function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function askToken() {
  if (!tokenWanted) {
    tokenWanted = new Promise((resolve) => { resolveToken = resolve; });
    $("token-form").hidden = false;
    $("token-input").focus();
  }
  return tokenWanted;
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token-input").value.trim();
  sessionStorage.setItem("cer-token", token);
  $("token-form").hidden = true;
  tokenWanted = null;
  resolveToken();
});

async function api(path) {
  for (;;) {
    const response = await fetch(path, { headers: authHeaders() });
    if (response.status !== 401) return response;
    await askToken();
  }
}

function errorMessage(body, fallback) {
  return (body && body.error && body.error.message) || fallback;
}

// --- upload and job progress -------------------------------------------------------------

function sendVideo(file) {
  // XMLHttpRequest rather than fetch: only it reports upload progress
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/jobs");
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) $("upload-progress").value = event.loaded / event.total;
    };
    request.onload = () => resolve(request);
    request.onerror = () => reject(new Error("the upload failed: the server could not be reached"));
    request.send(form);
  });
}

async function submit(file) {
  setStatus(`uploading ${file.name} …`);
  const bar = $("upload-progress");
  bar.hidden = false;
  bar.value = 0;
  try {
    let request = await sendVideo(file);
    while (request.status === 401) {
      await askToken();
      request = await sendVideo(file);
    }
    if (request.status !== 202) {
      setStatus(errorMessage(request.response, `upload refused (${request.status})`), true);
      return;
    }
    openJob(request.response.id);
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    bar.hidden = true;
  }
}

function showProgress(job) {
  const bar = $("job-progress");
  const { windows_done: done, windows_total: total } = job.progress;
  bar.hidden = !["queued", "running"].includes(job.status);
  if (total) {
    bar.max = total;
    bar.value = done;
  } else {
    bar.removeAttribute("value"); // indeterminate until the first windows are done
  }
  setStatus(`${job.filename}: ${job.status}` + (total ? ` (${done} of ${total} windows)` : ""));
}

async function openJob(id) {
  shownJob = id;
  history.replaceState(null, "", `#job=${id}`);
  $("viewer").hidden = true;
  while (shownJob === id) {
    const response = await api(`/v1/jobs/${id}`);
    const job = await response.json();
    if (!response.ok) {
      setStatus(errorMessage(job, `job ${id}: ${response.status}`), true);
      return;
    }
    showProgress(job);
    if (job.status === "failed") setStatus(`failed: ${job.error}`, true); // the error names the upload
    if (job.status === "done") await showResult(job);
    if (job.status === "done" || job.status === "failed") {
      refreshRecent();
      return;
    }
    await sleep(POLL_MS);
  }
}

// --- the result: video, timeline, evidence, downloads --------------------------------------

async function fileUrl(url) {
  // A plain URL streams (and seeks) best; with a token the browser cannot add the header to a
  // <video> or a link, so the file is fetched with it and shown from memory instead.
  if (!token) return url;
  const blob = await (await api(url)).blob();
  const objectUrl = URL.createObjectURL(blob);
  objectUrls.push(objectUrl);
  return objectUrl;
}

// Windows overlap (4 s long, every 2 s): each is drawn from its start to the next one's start,
// so every window gets its own stretch of the timeline; the last runs to its end.
function windowSpans(windows) {
  return windows.map((w, i) => ({ start: w.start_s, end: i + 1 < windows.length ? windows[i + 1].start_s : w.end_s }));
}

// The result as one person's: their window where they were scored, elsewhere one that says
// they were not in view (cer.core.result.Person); the whole video's when personId is null.
function personView(result, personId) {
  const person = (result.persons || []).find((p) => p.id === personId);
  if (!person) return { ...result, person: null };
  const own = new Map(person.windows.map((w) => [w.index, w]));
  const notInView = (w) => ({
    ...w, experts: {}, fused: { probs: null, weights: {}, experts_present: [] }, decision: { kind: "none", label: null }, notInView: true,
  });
  return { ...result, windows: result.windows.map((w) => own.get(w.index) || notInView(w)), person };
}

function windowAt(t) {
  const index = shown.spans.findIndex((span) => t >= span.start && t < span.end);
  return index >= 0 ? index : shown.spans.length - 1;
}

// The decision of a window or of the video, as every view writes it (cer.core.result.Decision.text).
function decisionText(d) {
  if (d.kind === "basic") return `basic only: ${d.label}`;
  return d.label || "none";
}

// The window's decision with the strength behind it, and the forced compound when they differ.
function verdictText(w) {
  const c = w.compound;
  if (w.notInView) return "not in view";
  if (w.decision.kind === "none") return "no expert present";
  if (w.decision.kind === "basic") return `${decisionText(w.decision)} (${Math.max(...c.pair_probs).toFixed(2)}; forced compound ${c.label})`;
  return `${c.label} (${c.confidence.toFixed(2)})`;
}

// A band's colour: the compound's, the basic class's for "basic only", grey when no expert spoke.
function bandColour(result, d) {
  if (d.kind === "compound") return BAND_COLOURS[result.labels.compound.indexOf(d.label) % BAND_COLOURS.length];
  if (d.kind === "basic") return BASIC_COLOURS[result.labels.basic.indexOf(d.label) % BASIC_COLOURS.length];
  return NO_LABEL_COLOUR;
}

// The compound bands of `result`'s windows, in `track` (the video's timeline, or the live one).
function drawBands(result, spans, track = $("bands")) {
  const total = result.video.duration_s;
  const bands = result.windows.map((w, i) => {
    const band = document.createElement("div");
    band.className = "band";
    band.style.left = percent(spans[i].start / total);
    band.style.width = percent((spans[i].end - spans[i].start) / total);
    band.style.background = w.notInView ? "transparent" : bandColour(result, w.decision);
    band.textContent = w.notInView ? "" : decisionText(w.decision).replace("_", " ");
    band.title = `${w.start_s.toFixed(1)}–${w.end_s.toFixed(1)} s: ${verdictText(w)}`;
    return band;
  });
  track.replaceChildren(...bands);
}

function heatmapRow(result, spans, expert) {
  const basic = result.labels.basic;
  const total = result.video.duration_s;
  const canvas = document.createElement("canvas");
  canvas.className = "heatmap";
  canvas.width = HEATMAP_COLUMNS;
  canvas.height = basic.length; // one pixel row per basic emotion, stretched by CSS
  const context = canvas.getContext("2d");
  result.windows.forEach((w, i) => {
    const x0 = Math.round((spans[i].start / total) * HEATMAP_COLUMNS);
    const x1 = Math.max(x0 + 1, Math.round((spans[i].end / total) * HEATMAP_COLUMNS));
    const probs = w.experts[expert] && w.experts[expert].probs;
    basic.forEach((_, k) => {
      // square root: differences among small probabilities stay visible
      context.fillStyle = probs ? `rgba(25, 60, 160, ${Math.sqrt(probs[k])})` : ABSENT_COLOUR;
      context.fillRect(x0, k, x1 - x0, 1);
    });
  });
  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const w = result.windows[windowAt(((event.clientX - box.left) / box.width) * total)];
    const k = Math.min(basic.length - 1, Math.floor(((event.clientY - box.top) / box.height) * basic.length));
    const output = w.experts[expert];
    canvas.title = `${expert}, window ${w.index}: ${basic[k]} `
      + (output && output.probs ? output.probs[k].toFixed(2) : `(absent: ${(output && output.reason) || "no output"})`);
  });
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("span");
  label.className = "row-label";
  label.textContent = expert;
  const track = document.createElement("div");
  track.className = "track";
  track.append(canvas);
  row.append(label, track);
  return row;
}

// --- which experts ran, and why rows are grey ---------------------------------------------

function expertsRanText(result) {
  const names = Object.keys(result.experts);
  const ran = names.filter((name) => result.experts[name].status === "ok").length;
  return `${ran} of ${names.length} experts ran`;
}

// One line per expert whose row has grey in it: one that did not run (the reason result.json
// gives), or one that ran but said nothing in some windows (their reasons, e.g. no face seen).
function absenceLines(result) {
  const lines = [];
  for (const [name, expert] of Object.entries(result.experts)) {
    if (expert.status !== "ok") {
      lines.push(`${name} did not run: ${expert.reason || expert.status}`);
      continue;
    }
    const seen = result.windows.filter((w) => !w.notInView); // a person's windows out of view say nothing of the expert
    const absent = seen.map((w) => w.experts[name]).filter((output) => !(output && output.probs));
    if (!absent.length) continue;
    const reasons = [...new Set(absent.map((output) => output && output.reason).filter(Boolean))];
    lines.push(`${name} absent in ${absent.length} of ${seen.length} windows` + (reasons.length ? `: ${reasons.join("; ")}` : ""));
  }
  return lines;
}

function showAbsenceLegend(result) {
  const lines = absenceLines(result);
  const items = lines.map((line) => {
    const item = document.createElement("li");
    item.textContent = line;
    return item;
  });
  if (items.length) {
    const key = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = ABSENT_COLOUR;
    key.append(swatch, "grey: the expert gave no probabilities for that stretch of the video");
    items.unshift(key);
  }
  $("absent-legend").replaceChildren(...items);
  $("absent-legend").hidden = !items.length;
}

function showPlayerWarning(player) {
  $("player-warning").textContent = player.warning || "";
  $("player-warning").hidden = !player.warning;
}

function evidence(w, key) {
  // the same evidence may come from several experts; show each distinct value once
  const values = new Set();
  for (const output of Object.values(w.experts)) {
    const value = output.evidence && output.evidence[key];
    if (typeof value === "string" && value.trim()) values.add(value.trim());
  }
  return [...values].join("\n") || "—";
}

// The picked person's box on the frame the player shows (the last sampled frame at or before it).
function showPersonBox(t) {
  const box = $("person-box");
  const person = shown.view.person;
  const player = $("player");
  const frame = Math.floor(t * shown.result.video.fps);
  const seen = person && person.boxes.filter((b) => b.frame <= frame).pop();
  const fresh = seen && frame - seen.frame <= shown.result.video.fps / 2; // sampled 5 times a second
  box.hidden = !fresh || !player.videoWidth;
  if (box.hidden) return;
  // the picture is letterboxed inside the element: place the box on the picture, not the element
  const scale = Math.min(player.clientWidth / player.videoWidth, player.clientHeight / player.videoHeight);
  const left = (player.clientWidth - player.videoWidth * scale) / 2;
  const top = (player.clientHeight - player.videoHeight * scale) / 2;
  const [x0, y0, x1, y1] = seen.box;
  box.style.left = `${left + x0 * player.videoWidth * scale}px`;
  box.style.top = `${top + y0 * player.videoHeight * scale}px`;
  box.style.width = `${(x1 - x0) * player.videoWidth * scale}px`;
  box.style.height = `${(y1 - y0) * player.videoHeight * scale}px`;
  box.textContent = `person ${person.id}`;
}

function follow(t) {
  const result = shown.view;
  const index = windowAt(t);
  const w = result.windows[index];
  showPersonBox(t);
  $("timeline").style.setProperty("--t", Math.min(1, t / result.video.duration_s));
  document.querySelectorAll(".band").forEach((band, i) => band.classList.toggle("current", i === index));
  $("evidence-window").textContent = `${w.index}: ${w.start_s.toFixed(1)}–${w.end_s.toFixed(1)} s, ${verdictText(w)}`;
  $("evidence-transcript").textContent = evidence(w, "transcript");
  $("evidence-scene").textContent = evidence(w, "scene");
}

async function showDownloads(job) {
  const links = [];
  // every output file the job's urls list (the server's table of output files), then the video
  const downloads = [...Object.entries(job.urls.files), ["video", job.urls.video]];
  for (const [name, url] of downloads) {
    const link = document.createElement("a");
    link.textContent = name;
    link.href = await fileUrl(url);
    if (token) link.download = name === "video" ? job.filename : name; // a blob: URL has no name of its own
    else link.target = "_blank";
    links.push(link);
  }
  $("downloads").replaceChildren(...links);
}

async function showResult(job) {
  objectUrls.forEach((url) => URL.revokeObjectURL(url));
  objectUrls = [];
  const result = await (await api(job.urls.result)).json();
  const spans = windowSpans(result.windows);
  shown = { result, view: personView(result, null), spans };
  $("result-heading").textContent = `${job.filename}: ${decisionText(result.summary.decision)}; ${expertsRanText(result)}`;
  showPlayerWarning(job.player);
  $("player").src = await fileUrl(job.player.url); // a copy browsers can play, for codecs they cannot
  showPersonPicker(result);
  drawView();
  $("basic-names").textContent = result.labels.basic.join(", ");
  await showDownloads(job);
  $("viewer").hidden = false;
  follow(0);
}

// Several persons: a choice between the whole video and each person (a one-person video's person is the video).
function showPersonPicker(result) {
  const persons = result.persons || [];
  const whole = new Option("the whole video", "");
  const options = persons.map((p) => new Option(`person ${p.id}: ${decisionText(p.summary.decision)}`, String(p.id)));
  $("person-picker").replaceChildren(whole, ...options);
  $("person-choice").hidden = persons.length < 2;
}

function drawView() {
  const { view, spans } = shown;
  drawBands(view, spans);
  $("heatmaps").replaceChildren(...Object.keys(view.experts).map((expert) => heatmapRow(view, spans, expert)));
  showAbsenceLegend(view);
}

$("person-picker").addEventListener("change", () => {
  const id = $("person-picker").value;
  shown.view = personView(shown.result, id ? Number(id) : null);
  drawView();
  follow($("player").currentTime);
});

$("player").addEventListener("timeupdate", () => shown && follow($("player").currentTime));

$("timeline").addEventListener("click", (event) => {
  const track = event.target.closest(".track");
  if (!track || !shown) return;
  const box = track.getBoundingClientRect();
  const t = Math.max(0, Math.min(1, (event.clientX - box.left) / box.width)) * shown.result.video.duration_s;
  $("player").currentTime = t;
  follow(t);
});

// --- live: the camera and microphone streamed to /v1/live, the bands drawn as verdicts come ---

const LIVE_SLICE_MS = 1000; // MediaRecorder hands over what it recorded every second
const LIVE_NORMAL_CLOSE = 1000;
const LIVE_UNAUTHORIZED = 1008; // cer.serving.live_protocol: the server wants its token
let live = null; // {socket, recorder, stream, labels, windows} while a session runs

function setLiveStatus(text, isError = false) {
  $("live-status").textContent = text;
  $("live-status").classList.toggle("error", isError);
}

async function startLive() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    setLiveStatus(`the camera and microphone could not be used: ${error.message || error.name}`, true);
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/v1/live`);
  const recorder = new MediaRecorder(stream); // WebM in Chromium and Firefox, fragmented MP4 in Safari
  live = { socket, recorder, stream, labels: null, windows: [] };
  $("live-camera").srcObject = stream;
  $("live-bands").replaceChildren();
  $("live-latest").textContent = "";
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  setLiveStatus("connecting …");
  socket.addEventListener("open", () => {
    // a browser cannot set the Authorization header on a WebSocket: the token is the first message
    if (token) socket.send(JSON.stringify({ type: "token", token }));
    recorder.start(LIVE_SLICE_MS);
    setLiveStatus("streaming: the experts start, then each window's verdict follows about 4 s in …");
  });
  recorder.addEventListener("dataavailable", (event) => {
    if (event.data.size && socket.readyState === WebSocket.OPEN) socket.send(event.data);
  });
  // after the last data: the server decides the last windows, sends `end` and closes
  recorder.addEventListener("stop", () => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "end" }));
  });
  socket.addEventListener("message", (event) => showLiveMessage(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => liveClosed(event));
}

// The messages of cer.core.live_messages: start, window (result.json's window), end, error.
function showLiveMessage(message) {
  if (message.type === "start") {
    live.labels = message.labels;
    setLiveStatus(`streaming: ${message.experts.length} experts on the ${message.profile} profile; the first verdict comes about 4 s in …`);
  } else if (message.type === "window") {
    const w = message.window;
    live.windows.push(w);
    const result = { labels: live.labels, video: { duration_s: w.end_s }, windows: live.windows };
    drawBands(result, windowSpans(live.windows), $("live-bands"));
    const persons = message.persons.map((p) => `person ${p.person}: ${verdictText(p.window)}`);
    const latency = w.latency_s === null ? "" : `, ${w.latency_s.toFixed(2)} s after its end`;
    $("live-latest").textContent = `${w.start_s.toFixed(1)}–${w.end_s.toFixed(1)} s: ${[verdictText(w), ...persons].join("; ")}${latency}`;
  } else if (message.type === "end") {
    setLiveStatus(`the stream ended: ${message.summary ? decisionText(message.summary.decision) : "no window was decided"}`);
  }
  // an `error` is followed by the close, whose reason says the same
}

function stopLive() {
  if (!live) return;
  $("live-stop").disabled = true;
  if (live.recorder.state !== "inactive") live.recorder.stop(); // its last data, then the end message
  live.stream.getTracks().forEach((track) => track.stop());
  setLiveStatus("stopping: the last windows are being decided …");
}

function liveClosed(event) {
  if (!live) return;
  if (live.recorder.state !== "inactive") live.recorder.stop();
  live.stream.getTracks().forEach((track) => track.stop());
  $("live-camera").srcObject = null;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
  live = null;
  if (event.code === LIVE_NORMAL_CLOSE) return; // the end message said it
  // the reason is the server's own sentence (docs/service.md has the table of codes)
  const why = event.reason || "the server could not be reached, or refused the connection";
  setLiveStatus(`the live session closed (${event.code}): ${why}`, true);
  if (event.code === LIVE_UNAUTHORIZED) askToken();
}

$("live-start").addEventListener("click", startLive);
$("live-stop").addEventListener("click", stopLive);

function showTab(name) {
  for (const tab of ["video", "live"]) {
    $(`${tab}-tab`).hidden = tab !== name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
  }
}

$("tab-video").addEventListener("click", () => showTab("video"));
$("tab-live").addEventListener("click", () => showTab("live"));

// --- recent jobs, and choosing or dropping a file -----------------------------------------

async function refreshRecent() {
  const response = await api("/v1/jobs?limit=10");
  if (!response.ok) return;
  const items = (await response.json()).items.map((job) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.textContent = `${job.filename} (${job.status}, ${new Date(job.created_at).toLocaleString()})`;
    button.addEventListener("click", () => openJob(job.id));
    item.append(button);
    return item;
  });
  $("recent-list").replaceChildren(...items);
}

$("file-input").addEventListener("change", (event) => {
  if (event.target.files.length) submit(event.target.files[0]);
});

const dropZone = $("drop-zone");
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropZone.classList.add("over");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  if (event.dataTransfer.files.length) submit(event.dataTransfer.files[0]);
});

// A server started without its models (`cer serve --degraded`), or whose disk is full, says so
// here before anyone uploads: /readyz names the reason.
async function showReadiness() {
  const response = await fetch("/readyz");
  const readiness = await response.json();
  const reason = readiness.error || readiness.storage_error;
  if (reason) setStatus(`this server cannot take videos now: ${reason}`, true);
}

showReadiness();
refreshRecent(); // asks for the token first when the server wants one
const linked = location.hash.match(/^#job=([0-9a-f-]{36})$/);
if (linked) openJob(linked[1]);
