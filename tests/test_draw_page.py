"""The Draw a digit page (lesson 22) in headless Chromium: strokes drawn with pointer events, the page's 28x28 image
held to Python's `to_mnist` of the same canvas, its probabilities to the package's model, a blank canvas to "no ink".

The page is written by docs/build.py's `draw_page` (what `make docs` puts at _docs/draw/) into a temporary folder and
served by Python's http.server. Chromium is driven over the DevTools protocol with `websocket-client`: no driver to
keep in step with the browser. Needs Debian's chromium and onnxruntime-web unpacked by `make docs`; without them
these tests skip on a workstation and fail in CI. Screenshots go to artifacts/draw/ (git-ignored).
"""
import base64
import functools
import importlib.util
import io
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "draw"
IN_CI = os.environ.get("CI", "").lower() == "true"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--remote-debugging-port=0"]
# Strokes in the page's 280x280 canvas coordinates: (pen width, polylines). Several digits, one off-centre and small,
# one thin, one of two strokes; lesson 22 draws shapes like these with Pillow.
DIGITS = {
    "seven": (18, [[(75, 60), (205, 60), (115, 230)]]),
    "one-thin": (4, [[(150, 50), (135, 230)]]),
    "four-off-centre": (10, [[(62, 80), (62, 15), (28, 58), (76, 58)]]),
    "zero-thick": (36, [[(140 + 55 * np.sin(t), 140 - 85 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]]),
    "plus-two-strokes": (14, [[(140, 60), (140, 220)], [(60, 140), (220, 140)]]),
}


def require(ok, why: str):
    "Skip without `ok` on a workstation; in CI a missing tool is a failure."
    if ok: return
    if IN_CI: pytest.fail(f"{why} (CI=true: .ci/run must install it)")
    pytest.skip(why)


def docs_build():
    "docs/build.py as a module: its `draw_page` writes the page as `make docs` does."
    spec = importlib.util.spec_from_file_location("docs_build", ROOT / "docs" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Handler(SimpleHTTPRequestHandler):
    "A static server, quiet, with the types a browser insists on for ES modules and WebAssembly."
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm", ".onnx": "application/octet-stream"}
    def log_message(self, *args): pass


class Tab:
    "One Chromium page over the DevTools protocol: send a command, get its result."
    def __init__(self, url: str):
        import websocket
        self.ws, self.n = websocket.create_connection(url, timeout=120, suppress_origin=True, max_size=None), 0

    def send(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:  # events arrive in between; the answer carries our id
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expression: str):
        "The value of `expression` in the page, promises awaited."
        r = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r: raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, pressed: bool):
        self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", buttons=1 if pressed else 0,
                  clickCount=1 if kind != "mouseMoved" else 0)


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    "The page, written by draw_page and served on 127.0.0.1: its URL."
    build = docs_build()
    require(all((build.ORT_WEB / "dist" / f).is_file() for f in build.ORT_FILES),
            "onnxruntime-web is not unpacked in docs/vendor (run `make docs`)")
    site = tmp_path_factory.mktemp("site")
    build.draw_page(site / "draw")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/draw/index.html"
    server.shutdown()


@pytest.fixture(scope="module")
def tab(page_url, tmp_path_factory):
    "Headless Chromium on the page, the network loaded."
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    require(exe, "Chromium is not installed (Debian: apt-get install chromium)")
    profile = tmp_path_factory.mktemp("profile")
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file, t0 = profile / "DevToolsActivePort", time.time()
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.time() - t0 < 60 and proc.poll() is None, "Chromium did not open its DevTools port"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        t = Tab(next(x["webSocketDebuggerUrl"] for x in targets if x["type"] == "page"))
        t.send("Emulation.setDeviceMetricsOverride", width=1000, height=640, deviceScaleFactor=1, mobile=False)
        t.send("Page.navigate", url=page_url)
        t0 = time.time()
        while not t.js("document.readyState === 'complete' && !!window.drawDigit"):
            assert time.time() - t0 < 60, "the page did not load"
            time.sleep(0.1)
        t.js("drawDigit.idle()")  # the model loaded, the blank canvas classified
        assert t.js("drawDigit.state.error") is None, t.js("drawDigit.state.error")
        yield t
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def draw(tab: Tab, pen: int, strokes) -> dict:
    "Clear, set the pen, draw `strokes` (canvas coordinates) as mouse drags; the page's state once it has answered."
    tab.js("document.getElementById('clear').click(); drawDigit.idle()")
    tab.js(f"document.getElementById('pen').value = {pen}")
    box = tab.js("(r => [r.left, r.top, r.width / 280, r.height / 280])"
                 "(document.getElementById('pad').getBoundingClientRect())")
    at = lambda p: (box[0] + p[0] * box[2], box[1] + p[1] * box[3])
    for line in strokes:
        tab.mouse("mousePressed", *at(line[0]), True)
        for a, b in zip(line, line[1:]):  # a move every few pixels, as a hand makes them
            for s in np.linspace(0, 1, max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) / 4)))[1:]:
                tab.mouse("mouseMoved", *at((a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]))), True)
        tab.mouse("mouseReleased", *at(line[-1]), False)
    return page_state(tab)


def page_state(tab: Tab) -> dict:
    "What the page computed, and its canvas as a PNG (Chromium's own encoding of the pixels)."
    tab.js("drawDigit.idle()")
    s = tab.js("(s => ({grey: Array.from(s.grey), image: s.image && Array.from(s.image), p: s.probabilities,"
               " message: s.message, error: s.error, answer: document.getElementById('answer').textContent}))"
               "(drawDigit.state)")
    s["png"] = base64.b64decode(tab.js("document.getElementById('pad').toDataURL('image/png')").split(",", 1)[1])
    return s


@pytest.fixture(scope="module")
def network():
    "The package's model of the page's run, fed as it trained: uint8 digits (B, 28, 28) -> probabilities (B, 10)."
    from mnist_course.checkpoint import load_model
    from mnist_course.evaluate import run_transform
    model, state = load_model(ROOT / docs_build().DRAW_RUN)
    tfm = run_transform(state)
    return lambda digits: model.predict_proba(tfm(digits)).detach(), model


@pytest.mark.parametrize("name", DIGITS)
def test_the_page_sees_and_answers_as_python(tab, network, name):
    from PIL import Image
    from mnist_course.predict import predict_digits, to_mnist
    s = draw(tab, *DIGITS[name])
    assert s["error"] is None, s["error"]
    grey = np.asarray(Image.open(io.BytesIO(s["png"])).convert("L"))
    assert grey.shape == (280, 280) and np.array_equal(grey.ravel(), s["grey"]), "the page's grey is not the canvas's"
    want = to_mnist(grey).numpy().astype(int)
    got = np.array(s["image"]).reshape(28, 28)
    gap = np.abs(got - want).max()
    assert gap <= 1, f"{name}: the page's 28x28 differs from to_mnist's by {gap} grey levels"
    digit = torch.from_numpy(got.astype(np.uint8))[None]
    probs, model = network
    want_p = probs(digit)[0].numpy()
    assert np.abs(np.array(s["p"]) - want_p).max() < 1e-4, f"{name}: {s['p']} against {want_p.tolist()}"
    d, p = predict_digits(model, digit)  # `mnist-course predict`'s answer for the same image
    assert s["message"] == f"{int(d)} (probability {float(p):.4f})", s["message"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = tab.send("Page.captureScreenshot", format="png")["data"]
    (ARTIFACTS / f"page-{name}.png").write_bytes(base64.b64decode(shot))


def test_a_blank_canvas_says_no_ink(tab):
    tab.js("document.getElementById('clear').click()")
    s = page_state(tab)
    assert s["image"] is None and s["p"] is None and s["answer"] == "no ink", s["answer"]
    grey = np.frombuffer(bytes(s["grey"]), dtype=np.uint8)
    from mnist_course.predict import to_mnist
    with pytest.raises(ValueError, match="no ink"): to_mnist(grey.reshape(280, 280))


def test_the_page_states_its_network(page_url):
    html = urllib.request.urlopen(page_url, timeout=10).read().decode()
    m = json.loads((ROOT / docs_build().DRAW_RUN / "metrics.json").read_text())
    assert f"{m['test_acc']:.2%}" in html and "{{" not in html
    assert "://" not in html.split("<body", 1)[1].replace("http://www.w3.org", ""), "the page links outside the site"
