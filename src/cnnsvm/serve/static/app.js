// The drawing page: a canvas drawn with pointer events (mouse, pen, touch),
// debounced requests to /api/predict while drawing, and the model's answer.
"use strict";

(function () {
  const BACKGROUND = "#000000";
  const INK = "#ffffff";
  const MOVE_DELAY_MS = 250; // at most one request this often while a stroke goes on
  const UP_DELAY_MS = 40; // right after a stroke ends

  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const answer = $("answer");
  const topList = $("top");
  const errorBox = $("error");
  const seen = $("seen");
  const fileInput = $("file");

  let maxUploadBytes = 2000000;
  const strokes = []; // each stroke: list of [x, y] in canvas pixels
  let current = null;
  let timer = null;
  let inFlight = false;
  let pending = false;
  let generation = 0; // bumped when the drawing is cleared, so stale answers are dropped

  // ------------------------------------------------------------------ drawing
  function lineWidth() {
    return pad.width / 13;
  }

  function paintBackground() {
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, pad.width, pad.height);
  }

  function setPen() {
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = lineWidth();
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function dot(point) {
    setPen();
    ctx.beginPath();
    ctx.arc(point[0], point[1], lineWidth() / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function segment(from, to) {
    setPen();
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
  }

  function redraw() {
    paintBackground();
    for (const stroke of strokes) {
      dot(stroke[0]);
      for (let i = 1; i < stroke.length; i += 1) segment(stroke[i - 1], stroke[i]);
    }
    $("pad-hint").hidden = strokes.length > 0;
  }

  function canvasPoint(event) {
    const box = pad.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * pad.width) / box.width,
      ((event.clientY - box.top) * pad.height) / box.height,
    ];
  }

  pad.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    hideUpload();
    const point = canvasPoint(event);
    current = [point];
    strokes.push(current);
    $("pad-hint").hidden = true;
    dot(point);
  });

  pad.addEventListener("pointermove", (event) => {
    if (!current) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const point = canvasPoint(e);
      segment(current[current.length - 1], point);
      current.push(point);
    }
    if (timer === null) schedule(MOVE_DELAY_MS);
  });

  function endStroke() {
    if (!current) return;
    current = null;
    schedule(UP_DELAY_MS, true);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);

  function undo() {
    if (!strokes.length) return;
    strokes.pop();
    redraw();
    if (strokes.length) schedule(0, true);
    else resetAnswer();
  }

  function clearAll() {
    strokes.length = 0;
    current = null;
    fileInput.value = "";
    hideUpload();
    redraw();
    resetAnswer();
  }

  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearAll);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    } else if (event.key === "Escape") {
      clearAll();
    }
  });

  // ----------------------------------------------------------------- requests
  function schedule(delay, replace) {
    if (timer !== null) {
      if (!replace) return;
      clearTimeout(timer);
    }
    timer = setTimeout(() => {
      timer = null;
      sendDrawing();
    }, delay);
  }

  function sendDrawing() {
    if (!strokes.length) return;
    if (inFlight) {
      pending = true;
      return;
    }
    const body = JSON.stringify({ image: pad.toDataURL("image/png") });
    request({ method: "POST", headers: { "Content-Type": "application/json" }, body: body });
  }

  function sendFile(file) {
    if (file.size > maxUploadBytes) {
      showError(`The file is ${file.size.toLocaleString()} bytes; the limit is ${maxUploadBytes.toLocaleString()}.`);
      return;
    }
    strokes.length = 0;
    redraw();
    $("pad-hint").hidden = true;
    const preview = $("upload-preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    $("upload-caption").textContent = `Uploaded: ${file.name}`;
    $("upload-figure").hidden = false;
    generation += 1;
    const form = new FormData();
    form.append("file", file);
    request({ method: "POST", body: form });
  }

  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files[0]) sendFile(fileInput.files[0]);
  });

  async function request(options) {
    const myGeneration = generation;
    inFlight = true;
    answer.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/api/predict", options);
      let payload = null;
      try {
        payload = await response.json();
      } catch (e) {
        payload = { detail: `the server answered ${response.status} without JSON` };
      }
      if (myGeneration !== generation) return;
      if (!response.ok) showError(describeError(response.status, payload));
      else showAnswer(payload);
    } catch (e) {
      if (myGeneration === generation) showError(`Cannot reach the server (${e.message}).`);
    } finally {
      inFlight = false;
      answer.removeAttribute("aria-busy");
      if (pending) {
        pending = false;
        sendDrawing();
      }
    }
  }

  function describeError(status, payload) {
    const detail = payload && payload.detail;
    const text = typeof detail === "string" ? detail : JSON.stringify(detail);
    return `${text} (HTTP ${status})`;
  }

  // ------------------------------------------------------------------ answers
  function percent(p) {
    return p < 0.0005 ? "0 %" : `${(100 * p).toFixed(1)} %`;
  }

  function glyphOf(name) {
    // "क (ka)" shows क large; "7" shows 7.
    const cut = name.indexOf(" (");
    return cut > 0 ? name.slice(0, cut) : name;
  }

  function showAnswer(result) {
    errorBox.hidden = true;
    answer.dataset.state = result.rejected ? "unsure" : "answer";
    // A rejected answer has no class (label and class_name are null): show the best guess as such.
    const guess = result.rejected ? (result.top[0] || {}).class_name || "?" : result.class_name;
    $("glyph").textContent = glyphOf(guess);
    $("verdict").textContent = result.rejected ? `Not sure (maybe ${guess})` : result.class_name;
    $("confidence").textContent = `${percent(result.probability)} probability`;
    $("unsure").hidden = !result.rejected;
    topList.replaceChildren(
      ...result.top.map((entry, rank) => {
        const item = document.createElement("li");
        item.className = rank === 0 ? "best" : "";
        item.setAttribute("aria-label", `${entry.class_name}: ${percent(entry.probability)}`);
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = entry.class_name;
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.setAttribute("aria-hidden", "true");
        const fill = document.createElement("span");
        fill.className = "fill";
        fill.style.width = `${Math.max(0, Math.min(100, 100 * entry.probability)).toFixed(1)}%`;
        bar.appendChild(fill);
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = percent(entry.probability);
        item.append(name, bar, value);
        return item;
      })
    );
    drawModelInput(result.model_input);
  }

  function drawModelInput(rows) {
    const height = rows.length;
    const width = height ? rows[0].length : 0;
    if (!height || !width) return;
    seen.width = width;
    seen.height = height;
    const context = seen.getContext("2d");
    const image = context.createImageData(width, height);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const v = Math.round(255 * Math.max(0, Math.min(1, rows[y][x])));
        const i = 4 * (y * width + x);
        image.data[i] = v;
        image.data[i + 1] = v;
        image.data[i + 2] = v;
        image.data[i + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
    $("seen-size").textContent = ` to ${width}×${height}`;
  }

  function showError(message) {
    answer.dataset.state = "error";
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function resetAnswer() {
    generation += 1;
    pending = false;
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    answer.dataset.state = "idle";
    $("glyph").textContent = "?";
    $("verdict").textContent = "Nothing drawn yet";
    $("confidence").textContent = "Draw a character or upload an image.";
    $("unsure").hidden = true;
    errorBox.hidden = true;
    topList.replaceChildren();
    seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  }

  function hideUpload() {
    $("upload-figure").hidden = true;
  }

  // -------------------------------------------------------------- model facts
  function fact(list, term, value) {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    list.append(dt, dd);
  }

  async function loadModel() {
    try {
      const response = await fetch("/api/model");
      const model = await response.json();
      if (!response.ok) throw new Error(model.detail || response.status);
      maxUploadBytes = model.server.max_upload_bytes;
      const names = model.class_names || [];
      const shown = names.length > 12 ? `${names.slice(0, 12).join(", ")}, …` : names.join(", ");
      const size = model.input_size ? model.input_size.join("×") : "?";
      $("model-summary").textContent =
        `${model.method} model · ${model.n_classes} classes` + (model.dataset ? ` · ${model.dataset}` : "");
      const facts = $("model-facts");
      facts.replaceChildren();
      fact(facts, "Method", model.method);
      fact(facts, "Dataset", model.dataset);
      fact(facts, "Classes", `${model.n_classes}: ${shown}`);
      fact(facts, "Input", `${size} images, resized to ${model.model_size}×${model.model_size} for the network`);
      fact(facts, "Reject threshold", `${percent(model.server.reject_threshold)} (below it the answer is “not sure”)`);
      fact(facts, "Created", model.created);
      fact(facts, "File", `${model.file} · SHA-256 ${String(model.sha256 || "").slice(0, 12)}…`);
      const versions = $("model-versions");
      versions.replaceChildren();
      for (const [lib, version] of Object.entries(model.versions || {})) fact(versions, lib, version);
      setUpTeach(model.teach);
    } catch (e) {
      $("model-summary").textContent = `Could not load the model description (${e.message}).`;
    }
  }

  // -------------------------------------------------------------- teaching
  const examples = []; // data URLs of the drawings to teach
  let teachMin = 3;
  let teachMax = 20;
  let teachReady = false;

  function setUpTeach(teach) {
    if (!teach || !teach.enabled) return;
    $("teach").hidden = false;
    teachMin = teach.limits.min_examples;
    teachMax = teach.limits.max_examples;
    $("teach-min").textContent = String(teachMin);
    const taught = teach.taught || [];
    $("teach-export").hidden = taught.length === 0;
    $("teach-reset").hidden = taught.length === 0;
    if (teachReady) return;
    teachReady = true;
    $("teach-add").addEventListener("click", addExample);
    $("teach-send").addEventListener("click", sendTeach);
    $("teach-reset").addEventListener("click", resetTeach);
  }

  function showCount() {
    $("teach-count").textContent = examples.length
      ? `${examples.length} example${examples.length > 1 ? "s" : ""} ready (at least ${teachMin} for a new class, at most ${teachMax}).`
      : "No example yet.";
    $("teach-send").disabled = examples.length === 0;
  }

  function addExample() {
    if (!strokes.length) {
      $("teach-status").textContent = "Draw the symbol first.";
      return;
    }
    if (examples.length >= teachMax) {
      $("teach-status").textContent = `At most ${teachMax} examples per class.`;
      return;
    }
    examples.push(pad.toDataURL("image/png"));
    $("teach-status").textContent = "";
    showCount();
    clearAll();
  }

  async function sendTeach() {
    const name = $("teach-name").value.trim();
    if (!name) {
      $("teach-status").textContent = "Give the new class a name.";
      return;
    }
    $("teach-send").disabled = true;
    try {
      const response = await fetch("/api/teach", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name, images: examples }),
      });
      const payload = await response.json();
      if (!response.ok) {
        $("teach-status").textContent = describeError(response.status, payload);
        return;
      }
      examples.length = 0;
      $("teach-status").textContent =
        `Taught “${payload.name}” (${payload.n_examples} examples; SVM pairs fitted in ${payload.refit_ms} ms). Draw it to try.`;
      loadModel();
    } catch (e) {
      $("teach-status").textContent = `Cannot reach the server (${e.message}).`;
    } finally {
      showCount();
    }
  }

  async function resetTeach() {
    const response = await fetch("/api/teach/reset", { method: "POST" });
    $("teach-status").textContent = response.ok ? "The taught classes are forgotten." : `HTTP ${response.status}`;
    loadModel();
  }

  redraw();
  loadModel();
})();
