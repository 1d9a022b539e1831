// Lesson 13's `to_mnist` (mnist_course/predict.py) in JavaScript: a grey canvas as an MNIST digit, white on black,
// 28x28, the ink scaled into a 20x20 box and centred by its centre of mass. Each step is the Python's, including
// Pillow's Lanczos resampling (src/libImaging/Resample.c: two 8-bit passes, 22-bit fixed-point weights), so the
// page's 28x28 image equals Python's to within one grey level (tests/test_draw_page.py checks it in Chromium).
(function (root) {
  "use strict";

  // Python's round() and NumPy's np.round: halves go to the even neighbour (12.5 -> 12), unlike Math.round
  function roundHalfEven(x) {
    const r = Math.round(x);
    return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
  }

  function sinc(x) {
    if (x === 0) return 1;
    x *= Math.PI;
    return Math.sin(x) / x;
  }

  function lanczos(x) { return (-3 <= x && x < 3) ? sinc(x) * sinc(x / 3) : 0; }

  const PRECISION_BITS = 22;  // 32 - 8 - 2, as Pillow's 8-bit resampling

  // Pillow's precompute_coeffs and normalize_coeffs_8bpc: for each output pixel, its first input pixel, how many
  // it reads, and their weights in fixed point
  function coefficients(inSize, outSize) {
    const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = 3 * filterscale;
    const ss = 1 / filterscale, res = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      const w = [];
      let ww = 0;
      for (let x = 0; x < n; x++) {
        w.push(lanczos((x + xmin - center + 0.5) * ss));
        ww += w[x];
      }
      const k = w.map(v => {
        const f = ww !== 0 ? v / ww : v;
        return Math.trunc(f < 0 ? -0.5 + f * (1 << PRECISION_BITS) : 0.5 + f * (1 << PRECISION_BITS));
      });
      res.push({xmin, k});
    }
    return res;
  }

  function clip8(ss) { return Math.min(255, Math.max(0, ss >> PRECISION_BITS)); }

  // One pass along x (horizontal) or y: Pillow skips a pass whose size does not change
  function resamplePass(src, w, h, outW, outH, horizontal) {
    const coeffs = horizontal ? coefficients(w, outW) : coefficients(h, outH);
    const out = new Uint8Array(outW * outH);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const c = coeffs[horizontal ? x : y];
        let ss = 1 << (PRECISION_BITS - 1);
        for (let i = 0; i < c.k.length; i++) {
          ss += (horizontal ? src[y * w + c.xmin + i] : src[(c.xmin + i) * w + x]) * c.k[i];
        }
        out[y * outW + x] = clip8(ss);
      }
    }
    return out;
  }

  // Image.resize(size, Image.LANCZOS) of an 8-bit grey image. Pillow 13 (constraints.txt) runs the vertical pass
  // first when the height shrinks by more than twice as many pixels as the width, else the horizontal one
  function resizeLanczos(src, w, h, outW, outH) {
    let img = src;
    if (h - outH > 0 && h - outH > (w - outW) * 2) {
      if (outH !== h) img = resamplePass(img, w, h, w, outH, false);
      if (outW !== w) img = resamplePass(img, w, outH, outW, outH, true);
    } else {
      if (outW !== w) img = resamplePass(img, w, h, outW, h, true);
      if (outH !== h) img = resamplePass(img, outW, h, outW, outH, false);
    }
    return img;
  }

  // `grey`: the canvas as 8-bit grey levels, row by row. Returns {image: Uint8Array(784)} or {noInk: message}
  function toMnist(grey, width, height) {
    const n = width * height;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += grey[i];
    const invert = sum / n > 127;                                  // dark on light -> white on black
    const g = new Uint8Array(n);
    let lo = 255, hi = 0;
    for (let i = 0; i < n; i++) {
      g[i] = invert ? 255 - grey[i] : grey[i];
      lo = Math.min(lo, g[i]);
      hi = Math.max(hi, g[i]);
    }
    if (hi - lo <= 30) return {noInk: `no ink (the canvas is one shade, from ${lo} to ${hi}): draw a digit`};
    if (width === 28 && height === 28) return {image: g};
    let top = height, bottom = -1, left = width, right = -1;      // the ink's box: pixels above 30
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (g[y * width + x] > 30) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    const cw = right - left + 1, ch = bottom - top + 1;
    const crop = new Uint8Array(cw * ch);
    for (let y = 0; y < ch; y++) crop.set(g.subarray((top + y) * width + left, (top + y) * width + right + 1), y * cw);
    const scale = 20 / Math.max(cw, ch);
    const w = Math.max(1, roundHalfEven(cw * scale)), h = Math.max(1, roundHalfEven(ch * scale));
    const ink = resizeLanczos(crop, cw, ch, w, h);
    let mass = 0, my = 0, mx = 0;                                  // the centre of mass of the scaled ink
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = ink[y * w + x];
        mass += v; my += y * v; mx += x * v;
      }
    }
    const cy = my / Math.max(mass, 1), cx = mx / Math.max(mass, 1);
    const t = Math.min(Math.max(roundHalfEven(14 - cy), 0), 28 - h);
    const l = Math.min(Math.max(roundHalfEven(14 - cx), 0), 28 - w);
    const image = new Uint8Array(784);
    for (let y = 0; y < h; y++) image.set(ink.subarray(y * w, (y + 1) * w), (t + y) * 28 + l);
    return {image};
  }

  const api = {toMnist, resizeLanczos, roundHalfEven};
  if (typeof module !== "undefined" && module.exports) module.exports = api;  // node, for a quick check
  else root.mnist = api;
})(this);
