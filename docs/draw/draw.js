// The "Draw a digit" page: strokes on a canvas, lesson 13's conversion (mnist.js), the networks in onnxruntime-web.
// It shows the answer and its three likeliest digits, where the network looked (an occlusion map), what five networks
// of the same recipe read, the network's size and how long each step took. What the page computed is kept on
// window.drawDigit, for the browser test (tests/test_draw_page.py).
(function () {
  "use strict";
  const $ = id => document.getElementById(id);
  const config = JSON.parse($("draw-config").textContent);  // written by docs/build.py: the networks and their size
  const pad = $("pad"), pen = $("pen"), answer = $("answer"), bars = $("bars");
  const ctx = pad.getContext("2d", {willReadFrequently: true});
  // The occlusion map: 4x4 patches set to 0 (no ink), one every 2 pixels, so 13 x 13 copies cover all 28 x 28
  const PATCH = 4, STRIDE = 2;
  const state = {grey: null, image: null, probabilities: null, message: "no ink", error: null, top3: null, rest: null,
                 looked: null, members: null, average: null, agree: null, ms: null, bytes: null,
                 parameters: config.parameters, patch: PATCH, stride: STRIDE};
  let sessions = null, last = Promise.resolve();

  // onnxruntime-web's own files, copied into the site by docs/build.py: nothing comes from a CDN
  ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
  ort.env.wasm.numThreads = 1;      // threads need cross-origin isolation, which a plain static server lacks

  async function load(file) {       // the file's bytes, counted as they arrive, then the session made from them
    const r = await fetch(file);
    if (!r.ok) throw new Error(`${file}: HTTP ${r.status}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    return {bytes: bytes.length, session: await ort.InferenceSession.create(bytes)};
  }
  const ready = Promise.all(config.networks.map(n => load(n.file))).then(async loaded => {
    sessions = loaded.map(l => l.session);
    state.bytes = loaded[0].bytes;
    // a first run of each shape pays for setting the session up: run them once, so the times shown are the work's
    const blank = occluded(new Uint8Array(784));
    await probabilities(sessions[0], blank.copies, blank.at.length);
    for (const s of sessions) await probabilities(s, new Uint8Array(784), 1);
    $("size").textContent = `The network answering above is ${config.model}: ` +
      `${config.parameters.toLocaleString("en")} parameters, and its ONNX file is ` +
      `${(state.bytes / 1024).toFixed(0)} KB (${state.bytes.toLocaleString("en")} bytes, as this page fetched it).`;
  });

  for (let d = 0; d < 10; d++) {
    bars.insertAdjacentHTML("beforeend", `<div class="bar" id="bar${d}"><span class="digit">${d}</span>` +
      `<span class="track"><span class="fill"></span></span><span class="value"></span></div>`);
  }
  const percent = p => `${(100 * p).toFixed(1)}%`;
  const argmax = p => p.indexOf(Math.max(...p));

  // n images of 784 grey levels, one after another -> n rows of ten probabilities, from `session`
  async function probabilities(session, images, n) {
    const x = Float32Array.from(images, v => v / 255);           // pixels in [0, 1]: the model scales them itself
    const p = (await session.run({pixels: new ort.Tensor("float32", x, [n, 1, 28, 28])})).probabilities.data;
    return Array.from({length: n}, (_, i) => Array.from(p.subarray(10 * i, 10 * i + 10)));
  }

  async function timed(work) {
    const t0 = performance.now(), value = await work();
    return [value, performance.now() - t0];
  }

  // the image with each patch blanked in turn: the copies one after another, and each patch's corner
  function occluded(image) {
    const starts = [];
    for (let s = 0; s + PATCH <= 28; s += STRIDE) starts.push(s);
    const at = starts.flatMap(r => starts.map(c => [r, c])), copies = new Uint8Array(784 * at.length);
    at.forEach(([r, c], k) => {
      const copy = copies.subarray(784 * k, 784 * (k + 1));
      copy.set(image);
      for (let y = r; y < r + PATCH; y++) copy.fill(0, 28 * y + c, 28 * y + c + PATCH);
    });
    return {copies, at};
  }

  // per pixel: the answer's probability minus its probability with a patch blanked, averaged over the patches on it
  function lookedMap(p0, blanked, at) {
    const total = new Float64Array(784), count = new Float64Array(784);
    at.forEach(([r, c], k) => {
      for (let y = r; y < r + PATCH; y++) {
        for (let x = c; x < c + PATCH; x++) { total[28 * y + x] += p0 - blanked[k]; count[28 * y + x] += 1; }
      }
    });
    return Array.from(total, (t, i) => t / count[i]);
  }

  function clear() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    return classify();
  }

  // the canvas as grey levels: strokes are black on white, so R = G = B and the grey is the red channel
  function canvasGrey() {
    const rgba = ctx.getImageData(0, 0, pad.width, pad.height).data, grey = new Uint8Array(pad.width * pad.height);
    for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
    return grey;
  }

  // the 28x28 image in grey, with the map over it: red where blanking lowers the answer, blue where it raises it
  function paint(canvas, image, map) {
    const view = canvas.getContext("2d"), img = view.createImageData(28, 28);
    const top = map ? Math.max(...map.map(Math.abs), 1e-9) : 1;
    for (let i = 0; i < 784; i++) {
      const v = image ? image[i] : 0, a = map ? Math.min(1, Math.abs(map[i]) / top) : 0;
      const tint = map && map[i] < 0 ? [31, 119, 180] : [214, 39, 40];
      img.data.set([0, 1, 2].map(k => Math.round((1 - a) * v * (map ? 0.6 : 1) + a * tint[k])).concat(255), 4 * i);
    }
    view.putImageData(img, 0, 0);
  }

  function showAnswers(p) {
    const top = p ? argmax(p) : -1;
    for (let d = 0; d < 10; d++) {
      const bar = $(`bar${d}`), v = p ? p[d] : 0;
      bar.querySelector(".fill").style.width = `${(100 * v).toFixed(1)}%`;
      bar.querySelector(".value").textContent = p ? percent(v) : "";
      bar.classList.toggle("top", d === top);
    }
    $("top3").tBodies[0].innerHTML = p ? state.top3.map(([d, v]) => `<tr><td>${d}</td><td>${percent(v)}</td></tr>`)
      .join("") + `<tr class="rest"><td>the other seven</td><td>${percent(state.rest)}</td></tr>` : "";
  }

  function showMembers() {
    const body = $("members").tBodies[0];
    if (!state.members) { body.innerHTML = ""; $("agreement").textContent = ""; $("timing").textContent = ""; return; }
    const d = argmax(state.average), seen = state.members.map(p => p[d]);
    body.innerHTML = state.members.map((p, i) => `<tr${argmax(p) === d ? "" : ' class="odd-one"'}>` +
      `<td>seed ${config.networks[i].seed}</td><td>${argmax(p)}</td><td>${percent(Math.max(...p))}</td>` +
      `<td><span class="draw-track"><span class="fill" style="width: ${(100 * p[d]).toFixed(1)}%"></span></span>` +
      `</td></tr>`).join("");
    $("agreement").textContent = `Their average reads ${d} (${percent(state.average[d])}): ${state.agree} of ` +
      `${state.members.length} agree, and their probabilities of ${d} run from ${percent(Math.min(...seen))} to ` +
      `${percent(Math.max(...seen))}.`;
    const ms = state.ms;
    $("timing").textContent = `Times in this browser: ${ms.one.toFixed(1)} ms for the answer, ` +
      `${ms.looked.toFixed(1)} ms for the 169 blanked copies of the map, ${ms.five.toFixed(1)} ms for all five ` +
      "networks on the drawing.";
  }

  function show() {
    paint($("seen"), state.image, null);
    paint($("looked"), state.image, state.looked);
    showAnswers(state.probabilities);
    showMembers();
    answer.textContent = state.probabilities ? `It reads ${argmax(state.probabilities)}` : "no ink";
  }

  async function run() {
    const grey = canvasGrey(), res = mnist.toMnist(grey, pad.width, pad.height);
    Object.assign(state, {grey, image: res.image || null, probabilities: null, message: res.noInk || "", error: null,
                          top3: null, rest: null, looked: null, members: null, average: null, agree: null, ms: null});
    if (res.noInk) return show();
    await ready;
    const [[p], one] = await timed(() => probabilities(sessions[0], res.image, 1));
    const digit = argmax(p), order = [...p.keys()].sort((a, b) => p[b] - p[a]);
    const {copies, at} = occluded(res.image);
    const [blanked, looked] = await timed(() => probabilities(sessions[0], copies, at.length));
    const [others, more] = await timed(async () => {
      const rows = [];
      for (const s of sessions.slice(1)) rows.push((await probabilities(s, res.image, 1))[0]);
      return rows;
    });
    const members = [p, ...others], average = p.map((_, d) => members.reduce((s, m) => s + m[d], 0) / members.length);
    Object.assign(state, {probabilities: p, message: `${digit} (probability ${p[digit].toFixed(4)})`,
                          top3: order.slice(0, 3).map(d => [d, p[d]]),
                          rest: order.slice(3).reduce((s, d) => s + p[d], 0),
                          looked: lookedMap(p[digit], blanked.map(b => b[digit]), at), members, average,
                          agree: members.filter(m => argmax(m) === argmax(average)).length,
                          ms: {one, looked, five: one + more}});
    show();
  }

  function classify() {  // one at a time, in order: the last drawing's answer is the one shown
    last = last.then(run).catch(e => { state.error = String(e); answer.textContent = `error: ${e}`; });
    return last;
  }

  let drawing = false;
  function at(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  }
  pad.addEventListener("pointerdown", e => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    ctx.lineWidth = Number(pen.value);
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.strokeStyle = "#000";
    ctx.beginPath();
    ctx.moveTo(...at(e));
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  pad.addEventListener("pointermove", e => {
    if (!drawing) return;
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  const end = () => { if (drawing) { drawing = false; classify(); } };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", clear);

  clear();
  // for tests: the page's last result, and a promise that settles when the networks are loaded and all work is done
  window.drawDigit = {state, ready, idle: () => ready.then(() => last)};
})();
