// The "Draw a digit" page: strokes on a canvas, lesson 13's conversion (mnist.js), the network in onnxruntime-web.
// What the page computed is kept on window.drawDigit, for the browser test (tests/test_draw_page.py).
(function () {
  "use strict";
  const pad = document.getElementById("pad"), seen = document.getElementById("seen");
  const pen = document.getElementById("pen");
  const answer = document.getElementById("answer"), bars = document.getElementById("bars");
  const ctx = pad.getContext("2d", {willReadFrequently: true});
  const state = {grey: null, image: null, probabilities: null, message: "no ink", error: null};
  let session = null, last = Promise.resolve();

  // onnxruntime-web's own files, copied into the site by `make docs`: nothing comes from a CDN
  ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
  ort.env.wasm.numThreads = 1;      // threads need cross-origin isolation, which a plain static server lacks
  const ready = ort.InferenceSession.create("model.onnx").then(s => { session = s; });

  for (let d = 0; d < 10; d++) {
    bars.insertAdjacentHTML("beforeend", `<div class="bar" id="bar${d}"><span class="digit">${d}</span>` +
      `<span class="track"><span class="fill"></span></span><span class="value"></span></div>`);
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

  function show(image, probabilities, message) {
    const view = seen.getContext("2d"), img = view.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = image ? image[i] : 0;
      img.data.set([v, v, v, 255], 4 * i);
    }
    view.putImageData(img, 0, 0);
    const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    for (let d = 0; d < 10; d++) {
      const bar = document.getElementById(`bar${d}`), p = probabilities ? probabilities[d] : 0;
      bar.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      bar.querySelector(".value").textContent = probabilities ? `${(100 * p).toFixed(1)}%` : "";
      bar.classList.toggle("top", d === top);
    }
    answer.textContent = message;
  }

  async function run() {
    const grey = canvasGrey(), res = mnist.toMnist(grey, pad.width, pad.height);
    Object.assign(state, {grey, image: res.image || null, probabilities: null, message: res.noInk || "", error: null});
    if (res.noInk) return show(null, null, "no ink");
    await ready;
    const x = Float32Array.from(res.image, v => v / 255);       // pixels in [0, 1]: the model scales them itself
    const out = await session.run({pixels: new ort.Tensor("float32", x, [1, 1, 28, 28])});
    const p = Array.from(out.probabilities.data);
    const digit = p.indexOf(Math.max(...p));
    Object.assign(state, {probabilities: p, message: `${digit} (probability ${p[digit].toFixed(4)})`});
    show(res.image, p, `It reads ${digit}`);
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
  document.getElementById("clear").addEventListener("click", clear);

  clear();
  // for tests: the page's last result, and a promise that settles when the model is loaded and all work is done
  window.drawDigit = {state, ready, idle: () => ready.then(() => last)};
})();
