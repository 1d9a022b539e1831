"""The Draw a digit page (lesson 22) in headless Chromium: strokes drawn with pointer events, the page's 28x28 image
held to Python's `to_mnist` of the same canvas, its probabilities to the package's model, its three likeliest digits,
its map of where the network looked to the same occlusion computed with torch, its five networks to torch, its size to
the files, and a blank canvas to "no ink".

The page is written by docs/build.py's `draw_page` and rendered by its `sphinx` (as `make docs` builds _docs/draw/,
with the site's theme) into a temporary folder, with a front page of its own, and served by Python's http.server.
Chromium is driven over the DevTools protocol with `websocket-client`: no driver to keep in step with the browser.
Needs Debian's chromium, the docs dependencies and onnxruntime-web, which `make docs` installs and unpacks; without
them these tests skip on a workstation and fail in CI. Screenshots go to artifacts/draw/ (git-ignored).
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
def site(tmp_path_factory) -> Path:
    "The page as docs/build.py builds it (a page of the book, in the site's theme), beside a front page: the site."
    build = docs_build()
    require(all((build.ORT_WEB / "dist" / f).is_file() for f in build.ORT_FILES),
            "onnxruntime-web is not unpacked in docs/vendor (run `make docs`)")
    require(all(importlib.util.find_spec(m) for m in ("sphinx", "myst_nb", "sphinx_book_theme")),
            "the docs dependencies are not installed (run `make docs` once)")
    proc = tmp_path_factory.mktemp("proc")
    build.draw_page(proc / "book", proc / "extra")
    (proc / "book" / "index.md").write_text("# mnist_course\n\n" + build.toctree("Try it", [build.DRAW_ENTRY]))
    return build.sphinx(proc / "book", proc / "extra", proc)


@pytest.fixture(scope="module")
def page_url(site):
    "The page served on 127.0.0.1: its URL."
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
        t.send("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        t.send("Page.navigate", url=page_url)
        t0 = time.time()
        while not t.js("document.readyState === 'complete' && !!window.drawDigit"):
            assert time.time() - t0 < 60, "the page did not load"
            time.sleep(0.1)
        t.js("drawDigit.idle()")  # the networks loaded, the blank canvas classified
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
    "What the page computed and shows, and its canvas as a PNG (Chromium's own encoding of the pixels)."
    tab.js("drawDigit.idle()")
    s = tab.js("(s => ({...s, grey: Array.from(s.grey), image: s.image && Array.from(s.image),"
               " p: s.probabilities, answer: document.getElementById('answer').textContent,"
               " shown: Object.fromEntries(['top3', 'members'].map(id => [id, Array.from("
               "   document.getElementById(id).tBodies[0].rows, r => Array.from(r.cells, c => c.textContent))])),"
               " text: Object.fromEntries(['agreement', 'timing', 'size'].map(id => [id,"
               "   document.getElementById(id).textContent]))}))(drawDigit.state)")
    s["png"] = base64.b64decode(tab.js("document.getElementById('pad').toDataURL('image/png')").split(",", 1)[1])
    return s


def screenshot(tab: Tab, path: Path) -> None:
    "The whole page as Chromium draws it, down to its last line, to `path`."
    size = tab.send("Page.getLayoutMetrics")["cssContentSize"]
    shot = tab.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                    clip=dict(x=0, y=0, width=size["width"], height=size["height"], scale=1))["data"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot))


@pytest.fixture(scope="module")
def drawings(tab) -> dict:
    "Each digit of DIGITS drawn on the page once: name -> the page's state; a screenshot of each in artifacts/draw/."
    res = {}
    for name, (pen, strokes) in DIGITS.items():
        res[name] = draw(tab, pen, strokes)
        screenshot(tab, ARTIFACTS / f"page-{name}.png")
    return res


@pytest.fixture(scope="module")
def networks() -> list:
    """The package's models of the page's runs (DRAW_RUNS, the answering one first), each fed as it trained:
    uint8 digits (B, 28, 28) -> probabilities (B, 10); and the first model itself."""
    from mnist_course.checkpoint import load_model
    from mnist_course.evaluate import run_transform
    def fed(run):
        model, state = load_model(ROOT / run)
        tfm = run_transform(state)
        return (lambda digits: model.predict_proba(tfm(digits)).detach()), model
    return [fed(run) for run in docs_build().DRAW_RUNS]


def occlusion_map(probs, digit: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """The page's map computed with torch: the answer's probability minus its probability with each patch x patch
    square (one every `stride` pixels) set to 0, averaged over the squares covering each pixel."""
    p0 = probs(torch.from_numpy(digit)[None])[0]
    top, starts = int(p0.argmax()), range(0, 28 - patch + 1, stride)
    corners = [(r, c) for r in starts for c in starts]
    copies = np.repeat(digit[None], len(corners), axis=0)
    for k, (r, c) in enumerate(corners): copies[k, r:r + patch, c:c + patch] = 0
    drop = (p0[top] - probs(torch.from_numpy(copies))[:, top]).double().numpy()
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    for k, (r, c) in enumerate(corners):
        total[r:r + patch, c:c + patch] += drop[k]
        count[r:r + patch, c:c + patch] += 1
    return total / count


def seen(s: dict) -> np.ndarray:
    "The page's 28x28 image as uint8."
    return np.array(s["image"], dtype=np.uint8).reshape(28, 28)


@pytest.mark.parametrize("name", DIGITS)
def test_the_page_sees_and_answers_as_python(drawings, networks, name):
    from PIL import Image
    from mnist_course.predict import predict_digits, to_mnist
    s = drawings[name]
    assert s["error"] is None, s["error"]
    grey = np.asarray(Image.open(io.BytesIO(s["png"])).convert("L"))
    assert grey.shape == (280, 280) and np.array_equal(grey.ravel(), s["grey"]), "the page's grey is not the canvas's"
    want = to_mnist(grey).numpy().astype(int)
    gap = np.abs(seen(s).astype(int) - want).max()
    assert gap <= 1, f"{name}: the page's 28x28 differs from to_mnist's by {gap} grey levels"
    digit = torch.from_numpy(seen(s))[None]
    probs, model = networks[0]
    want_p = probs(digit)[0].numpy()
    assert np.abs(np.array(s["p"]) - want_p).max() < 1e-4, f"{name}: {s['p']} against {want_p.tolist()}"
    d, p = predict_digits(model, digit)  # `mnist-course predict`'s answer for the same image
    assert s["message"] == f"{int(d)} (probability {float(p):.4f})", s["message"]


@pytest.mark.parametrize("name", DIGITS)
def test_the_top_three_are_ordered_and_sum_with_the_rest_to_one(drawings, networks, name):
    s = drawings[name]
    want = networks[0][0](torch.from_numpy(seen(s))[None])[0].numpy()
    digits, values = [d for d, _ in s["top3"]], [v for _, v in s["top3"]]
    assert digits == list(np.argsort(-want)[:3]) and values == sorted(values, reverse=True), s["top3"]
    assert np.abs(np.array(values) - want[digits]).max() < 1e-4
    assert sum(values) + s["rest"] == pytest.approx(1, abs=1e-5)  # the rest: the page's sum of the other seven
    assert s["shown"]["top3"] == [[str(d), f"{100 * v:.1f}%"] for d, v in s["top3"]] + \
        [["the other seven", f"{100 * s['rest']:.1f}%"]]


@pytest.mark.parametrize("name", DIGITS)
def test_where_it_looked_is_the_occlusion_map_of_torch(drawings, networks, name):
    s = drawings[name]
    want = occlusion_map(networks[0][0], seen(s), s["patch"], s["stride"])
    got = np.array(s["looked"]).reshape(28, 28)
    assert np.abs(got - want).max() < 1e-4, f"{name}: the map differs from torch's by {np.abs(got - want).max():.2e}"
    assert np.abs(want).max() > 1e-3, f"{name}: blanking the ink changed nothing"  # a map with something to show


@pytest.mark.parametrize("name", DIGITS)
def test_the_five_networks_are_torchs_and_their_disagreement_is_shown(drawings, networks, name):
    s = drawings[name]
    want = np.stack([probs(torch.from_numpy(seen(s))[None])[0].numpy() for probs, _ in networks])
    got = np.array(s["members"])
    assert got.shape == (5, 10) and np.abs(got - want).max() < 1e-4, f"{name}: {np.abs(got - want).max():.2e}"
    average = want.mean(0)
    assert np.abs(np.array(s["average"]) - average).max() < 1e-4
    agree = int((want.argmax(1) == average.argmax()).sum())
    assert s["agree"] == agree and f"{agree} of 5 agree" in s["text"]["agreement"], s["text"]["agreement"]
    assert [row[1] for row in s["shown"]["members"]] == [str(d) for d in want.argmax(1)]


def test_the_size_and_the_time_are_shown(drawings, networks, site):
    s = drawings["seven"]
    model = networks[0][1]
    assert s["parameters"] == sum(p.numel() for p in model.parameters())
    assert s["bytes"] == (site / "draw" / "networks" / "baseline-seed0.onnx").stat().st_size
    assert f"{s['parameters']:,} parameters" in s["text"]["size"] and f"{s['bytes']:,} bytes" in s["text"]["size"]
    for name, d in drawings.items():
        ms = d["ms"]
        assert all(np.isfinite(v) and v > 0 for v in ms.values()), f"{name}: {ms}"
        assert f"{ms['one']:.1f} ms for the answer" in d["text"]["timing"], d["text"]["timing"]


def test_a_blank_canvas_says_no_ink(tab, drawings):
    tab.js("document.getElementById('clear').click()")
    s = page_state(tab)
    assert s["image"] is None and s["p"] is None and s["answer"] == "no ink", s["answer"]
    assert s["members"] is None and s["shown"]["top3"] == [] and s["text"]["timing"] == ""
    grey = np.frombuffer(bytes(s["grey"]), dtype=np.uint8)
    from mnist_course.predict import to_mnist
    with pytest.raises(ValueError, match="no ink"): to_mnist(grey.reshape(280, 280))


def test_the_page_states_its_network_and_loads_nothing_from_outside(page_url):
    from html.parser import HTMLParser
    html = urllib.request.urlopen(page_url, timeout=10).read().decode()
    m = json.loads((ROOT / docs_build().DRAW_RUN / "metrics.json").read_text())
    assert f"{m['test_acc']:.2%}" in html and "{{" not in html
    loaded = []
    class Resources(HTMLParser):  # what the browser fetches: scripts, stylesheets, images
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("script", "img") and a.get("src"): loaded.append(a["src"])
            if tag == "link" and "stylesheet" in (a.get("rel") or ""): loaded.append(a.get("href", ""))
    Resources().feed(html)
    assert "draw.css" in loaded and "draw.js" in loaded, loaded
    assert not [u for u in loaded if "://" in u or u.startswith("//")], "the page loads files from outside the site"
    assert 'class="bd-header' in html and "bd-sidebar" in html, "the page lacks the site's header and navigation"
